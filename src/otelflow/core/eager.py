"""Start a coroutine as a task whose first step runs at once, in the caller's turn of the event loop
(Python 3.12's eager tasks, for 3.11).

Why: a request whose whole path completes without waiting (receiver -> pipeline -> an exporter's
queue) would otherwise wait for the next turn of the loop to begin, and at a moderate request rate
that turn is a visible share of the request's CPU (bench/request_cost.py). Unlike driving the
coroutine by hand, the first step runs inside its task: ``asyncio.current_task()`` is that task,
so ``asyncio.timeout`` and aiohttp's timeouts work, and the task goes on where the step stopped.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from asyncio import futures, tasks
from collections.abc import Coroutine


if sys.version_info >= (3, 12):
    def _eager_task(loop: asyncio.AbstractEventLoop, coro: Coroutine,
                    context: contextvars.Context) -> asyncio.Task:
        return asyncio.eager_task_factory(loop, coro, context=context)
else:
    class _EagerTask(tasks._PyTask):  # type: ignore[name-defined,misc]
        """asyncio's pure-Python Task, set up as its constructor does except that the first step is
        not scheduled: ``_eager_task`` runs it at once (as 3.12's ``eager_start``)."""

        def __init__(self, coro: Coroutine, loop: asyncio.AbstractEventLoop, context: contextvars.Context):
            futures._PyFuture.__init__(self, loop=loop)
            self._name = "eager-task"
            self._num_cancels_requested = 0
            self._must_cancel = False
            self._fut_waiter = None
            self._coro = coro
            self._context = context
            tasks._register_task(self)

    def _eager_task(loop: asyncio.AbstractEventLoop, coro: Coroutine,
                    context: contextvars.Context) -> asyncio.Task:
        task = _EagerTask(coro, loop, context)
        outer = tasks.current_task(loop)  # started from inside a task: it steps aside meanwhile
        if outer is not None:
            tasks._leave_task(loop, outer)
        try:
            context.run(task._Task__step)  # what Task.__init__ would have scheduled
        finally:
            if outer is not None:
                tasks._enter_task(loop, outer)
        return task


def start_eager(loop: asyncio.AbstractEventLoop, coro: Coroutine) -> asyncio.Task | None:
    """Run ``coro`` as a task up to its first wait, in a context of its own (as a task would); None
    if it finished there, else the task running the rest. An exception that ends it in that first
    step goes to the loop's exception handler, as an unawaited task's would."""
    task = _eager_task(loop, coro, contextvars.copy_context())
    if not task.done():
        return task
    if not task.cancelled() and (exc := task.exception()) is not None:
        loop.call_exception_handler({"message": "eagerly started task failed", "exception": exc, "task": task})
    return None
