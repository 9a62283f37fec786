"""The asyncio API against a real `zerobus serve`: awaitables completed by the core."""

import asyncio
import threading
from typing import Any

import pytest

from conftest import TABLE, Server
from zerobus.sdk.aio import ZerobusSdk, ZerobusStream
from zerobus.sdk.shared import NonRetriableException, StreamConfigurationOptions, TableProperties, ZerobusException


async def open_stream(server: Server, **options: Any) -> ZerobusStream:
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    return await sdk.create_stream(
        server.client_id, server.client_secret, TableProperties(TABLE), StreamConfigurationOptions(**options)
    )


def test_ingest_flush_and_close_are_awaitables(server: Server) -> None:
    async def main() -> None:
        async with await open_stream(server) as stream:
            assert await stream.ingest_record_offset({"a": 1}) == 0
            assert await stream.ingest_records_offset([{"a": 2}, '{"a": 3}']) == 1
            assert await stream.ingest_records_offset([]) is None
            await stream.ingest_record_nowait({"a": 4})  # awaitable, and may be ignored:
            stream.ingest_records_nowait([{"a": 5}])
            await stream.wait_for_offset(1)
            await stream.flush()
            assert stream.metrics().last_acked_offset == 3
            assert await stream.get_unacked_records() == []
        assert stream.is_closed

    asyncio.run(main())


def test_no_thread_per_call(server: Server) -> None:
    async def main() -> int:
        stream = await open_stream(server)
        before = threading.active_count()
        await asyncio.gather(*(stream.ingest_record_offset({"i": i}) for i in range(2000)))
        await asyncio.gather(*(stream.flush() for _ in range(50)))
        await stream.close()
        return threading.active_count() - before

    assert asyncio.run(main()) == 0


def test_errors_arrive_as_exceptions(server: Server) -> None:
    async def main() -> None:
        sdk = ZerobusSdk(server.endpoint, server.workspace)
        with pytest.raises(NonRetriableException) as caught:
            await sdk.create_stream(server.client_id, "wrong", TableProperties(TABLE))
        assert caught.value.code == "UNAUTHENTICATED"
        stream = await open_stream(server)
        await stream.close()
        with pytest.raises(ZerobusException) as closed:
            await stream.ingest_record_offset({"a": 1})
        assert closed.value.code == "STREAM_CLOSED"

    asyncio.run(main())


def test_a_cancelled_ingest_gives_up_its_place_and_never_queues(silent_server: Server) -> None:
    async def main() -> None:
        stream = await open_stream(silent_server, max_inflight_records=2, flush_timeout_ms=300)
        await stream.ingest_record_offset({"i": 0})
        await stream.ingest_record_offset({"i": 1})
        waiting = asyncio.ensure_future(stream.ingest_record_offset({"i": "cancelled"}))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the stream is full: the third call waits for room"
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.2)
        assert stream.metrics().inflight_requests == 2
        assert [r for r in await stream.get_unacked_records()] == [b'{"i":0}', b'{"i":1}']
        # And the call after it is not held up behind a ghost: it waits for room like any call.
        later = asyncio.ensure_future(stream.ingest_record_offset({"i": 2}))
        await asyncio.sleep(0.1)
        assert not later.done()
        later.cancel()

    asyncio.run(main())


def test_calls_not_awaited_one_by_one_keep_their_order(silent_server: Server) -> None:
    async def main() -> None:
        stream = await open_stream(silent_server, max_inflight_records=100_000)
        offsets = await asyncio.gather(*(stream.ingest_record_offset({"i": i}) for i in range(500)))
        assert offsets == list(range(500))
        records = await stream.get_unacked_records()
        assert records == [b'{"i":%d}' % i for i in range(500)]

    asyncio.run(main())
