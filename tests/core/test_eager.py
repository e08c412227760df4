"""core/eager: a coroutine that never waits runs to its end at once; one that waits becomes a task
that resumes where it stopped, in the same context, and can be cancelled there."""

import asyncio
import contextvars

import pytest

from otelflow.core.eager import start_eager

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")


def test_a_coroutine_that_never_waits_finishes_before_start_eager_returns():
    async def main():
        ran = []

        async def work():
            ran.append(var.get())
            token = var.set("inside")
            var.reset(token)

        assert start_eager(asyncio.get_running_loop(), work()) is None
        assert ran == ["outside"]

    asyncio.run(main())


def test_a_coroutine_that_waits_resumes_in_a_task_with_its_own_context():
    async def main():
        loop = asyncio.get_running_loop()
        gate = loop.create_future()
        steps = []

        async def work():
            token = var.set("inside")
            steps.append("before")
            got = await gate
            steps.append((got, var.get()))
            var.reset(token)  # the token belongs to the context the first step ran in
            await asyncio.sleep(0)
            return "done"

        task = start_eager(loop, work())
        assert asyncio.isfuture(task) and task in asyncio.all_tasks()
        assert steps == ["before"] and var.get() == "outside"
        gate.set_result(42)
        assert await task == "done"
        assert steps == ["before", (42, "inside")]

    asyncio.run(main())


def test_the_first_step_runs_inside_its_task_so_timeouts_work_there():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []

        async def work():
            seen.append(asyncio.current_task())
            async with asyncio.timeout(0.05):  # needs a current task, from the first step on
                await asyncio.sleep(10)

        task = start_eager(loop, work())
        assert seen == [task]
        with pytest.raises(TimeoutError):
            await task

        async def quick():
            async with asyncio.timeout(5):
                seen.append(asyncio.current_task())

        assert start_eager(loop, quick()) is None and seen[-1] is not None

    asyncio.run(main())


def test_a_bare_yield_is_one_turn_of_the_loop():
    async def main():
        order = []

        async def work():
            order.append("first")
            await asyncio.sleep(0)
            order.append("second")

        task = start_eager(asyncio.get_running_loop(), work())
        order.append("caller")
        await task
        assert order == ["first", "caller", "second"]

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_coroutine_where_it_waits():
    async def main():
        loop = asyncio.get_running_loop()
        gate = loop.create_future()
        seen = []

        async def work():
            try:
                await gate
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        task = start_eager(loop, work())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["cancelled"] and gate.cancelled()

    asyncio.run(main())


def test_errors_reach_the_loop_handler_before_a_wait_and_the_task_after_it():
    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx["exception"]))

        async def fails_at_once():
            raise ValueError("first step")

        assert start_eager(loop, fails_at_once()) is None
        assert [str(e) for e in reported] == ["first step"]

        async def fails_later():
            await asyncio.sleep(0)
            raise KeyError("later")

        task = start_eager(loop, fails_later())
        with pytest.raises(KeyError):
            await task

    asyncio.run(main())
