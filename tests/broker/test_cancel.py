"""Cancel marks and the cancel channel (`shared.cancel`) against a redis-server of this
test's own, whose connections it may kill."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from shared.cancel import CancelFlags, cancel_channel, cancel_key
from shared.history import HistoryStore
from shared.redis_client import redis_client
from tests.faults.servers import OwnRedis

pytestmark = pytest.mark.broker

PREFIX = "canceltest"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[redis.Redis]:
    server = OwnRedis(tmp_path)
    server.start()
    client = redis_client(server.url)
    try:
        yield client
    finally:
        await client.aclose()
        server.stop()


async def subscribed(client: redis.Redis) -> None:
    """Until the listener's subscription is confirmed by the server."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ((_, count),) = await client.pubsub_numsub(cancel_channel(PREFIX))
        if count:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("never subscribed")


async def test_a_cancel_is_heard_on_the_channel_at_once(client: redis.Redis) -> None:
    cancels = CancelFlags(client, PREFIX)
    try:
        async with cancels.watch("t1") as cancelled:
            assert not cancelled.is_set()
            await subscribed(client)
            started = time.monotonic()
            await HistoryStore(client, PREFIX).cancel_turn("anonymous", "s", "t1", "")
            await asyncio.wait_for(cancelled.wait(), 1)
            assert time.monotonic() - started < 0.2
    finally:
        await cancels.aclose()


async def test_a_cancel_from_before_the_watch_is_found(client: redis.Redis) -> None:
    await HistoryStore(client, PREFIX).cancel_turn("anonymous", "s", "t1", "")
    cancels = CancelFlags(client, PREFIX)
    try:
        async with cancels.watch("t1") as cancelled:
            assert cancelled.is_set()
    finally:
        await cancels.aclose()


async def test_a_cancel_missed_while_the_channel_was_down_is_found_when_it_is_back(
    client: redis.Redis,
) -> None:
    cancels = CancelFlags(client, PREFIX)
    try:
        with cancels.watching("t1") as cancelled, cancels.watching("t2") as other:
            await subscribed(client)
            # Marked without the announcement (as if it was published while the
            # listener was reconnecting), then the listener's connection is cut.
            await client.set(cancel_key(PREFIX, "t1"), "")
            await client.client_kill_filter(_type="pubsub")
            await asyncio.wait_for(cancelled.wait(), 2)
            assert not other.is_set()
    finally:
        await cancels.aclose()
