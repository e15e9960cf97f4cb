"""`until_set` when the task reading it is cancelled mid-wait: what happens to a
worker's consumer when RabbitMQ goes away during a streamed answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from llm_worker.handler import until_set


async def test_a_cancelled_reader_ends_cancelled_and_the_stream_is_closed() -> None:
    closed = asyncio.Event()
    first_sent = asyncio.Event()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "Erstes Stück. "
            first_sent.set()
            await asyncio.sleep(3600)  # a model that takes its time with the next piece
            yield "nie"
        finally:
            closed.set()

    pieces: list[str] = []

    async def read() -> None:
        async for piece in until_set(stream(), asyncio.Event()):
            pieces.append(piece)

    reader = asyncio.create_task(read())
    await asyncio.wait_for(first_sent.wait(), 5)
    await asyncio.sleep(0.01)  # the reader now waits for the second piece
    reader.cancel()
    # Cancelled, not "RuntimeError: aclose(): asynchronous generator is already
    # running", which the worker took for a crashed handler and answered `internal`.
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert pieces == ["Erstes Stück. "]
    assert closed.is_set()
