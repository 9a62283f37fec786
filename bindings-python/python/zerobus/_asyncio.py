"""How ``zerobus.sdk.aio`` waits for the core: an ``asyncio`` future on the running loop, completed
by the core through ``loop.call_soon_threadsafe`` (no thread per call)."""

import asyncio
from typing import Any, Callable, Generator, Optional, TypeVar

from zerobus import _core

T = TypeVar("T")


def _settle(future: "asyncio.Future[Any]", exception: Optional[BaseException], value: Any) -> None:
    """Called on the loop by the core with a call's outcome."""
    if future.done():  # cancelled meanwhile: nobody waits for the outcome
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(value)


async def run(start: Callable[[asyncio.AbstractEventLoop, "asyncio.Future[Any]"], _core.Task]) -> Any:
    """Starts a core call with ``start(loop, future)`` and waits for it. Cancelling the waiting
    task cancels the core call: an ingest still waiting for room gives up its place in line."""
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[Any]" = loop.create_future()
    task = start(loop, future)
    try:
        return await future
    except asyncio.CancelledError:
        task.cancel()
        raise


async def run_to_end(start: Callable[[asyncio.AbstractEventLoop, "asyncio.Future[Any]"], _core.Task]) -> Any:
    """As ``run``, but a cancelled wait leaves the core call running to its end (``close``: a
    half-done close would leave the stream neither open nor closed)."""
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[Any]" = loop.create_future()
    start(loop, future)
    return await asyncio.shield(future)


def in_line(pending: _core.Pending, offset: bool) -> "asyncio.Future[Any]":
    """A future for a call that holds its place in line and waits for room in the core."""
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[Any]" = loop.create_future()
    task = pending._wait_async(loop, future, offset)
    future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
    return future


class Done:
    """The awaitable a ``nowait`` call returns when its record was queued at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return None
        yield  # makes this a generator


DONE = Done()
