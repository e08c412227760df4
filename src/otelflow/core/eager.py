"""Start a coroutine at once and make it a task only if it has to wait (Python 3.12's eager tasks,
for 3.11).

Why: a request whose whole path completes without waiting (receiver -> pipeline -> an exporter's
queue) would otherwise cost a Task object and an extra turn of the event loop, which at a moderate
request rate is a visible share of the request's CPU (bench/request_cost.py).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any


class _Resume:
    """Awaitable that goes on driving a coroutine already started by hand: the first value it yields
    is the future the coroutine stopped on, so the Task that awaits this waits on that future."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # noqa: BLE001 - cancellation and throws go to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(resume: _Resume) -> Any:
    return await resume


def start_eager(loop: asyncio.AbstractEventLoop, coro: Coroutine) -> asyncio.Task | None:
    """Run ``coro`` up to its first wait, in a context of its own (as a task would); None if it
    finished there, else the Task that runs the rest in that same context. An exception from the
    first step is reported to the loop's exception handler, as an unawaited task's would be."""
    context = contextvars.copy_context()
    try:
        first = context.run(coro.send, None)
    except StopIteration:
        return None
    except Exception as exc:  # noqa: BLE001 - nobody awaits this coroutine
        loop.call_exception_handler({"message": "eagerly started coroutine failed", "exception": exc})
        return None
    if getattr(first, "_asyncio_future_blocking", None) is not True:
        # a bare ``yield`` (asyncio.sleep(0)): let a task take over on the next turn
        first = None
    return loop.create_task(_finish(_Resume(coro, first)), context=context)
