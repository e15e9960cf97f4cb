"""Cancel marks and the cancel channel (`shared.cancel`) against a redis-server of this
test's own, whose connections it may kill."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from shared.cancel import CLOCK_SKEW_S, CancelFlags, cancel_channel, cancel_key
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


async def confirmed(cancels: CancelFlags, after: float = 0.0) -> float:
    """Until the listener has read its subscription's confirmation (a later one than
    `after`); its time."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        since = cancels.subscribed_at
        if since is not None and since > after:
            return since
        await asyncio.sleep(0.01)
    raise TimeoutError("the subscription was never confirmed")


async def test_a_turn_accepted_after_the_subscription_is_answered_from_the_channel(
    client: redis.Redis,
) -> None:
    """The tts stage's question before each sentence, without a round trip."""
    cancels = CancelFlags(client, PREFIX)
    try:
        assert not await cancels.cancelled("t0")  # starts the listener; looked up
        since = await confirmed(cancels)
        accepted_ms = int((since + CLOCK_SKEW_S + 1) * 1000)
        # Marked without the announcement: the channel's answer does not consult the
        # mark (that it says "not cancelled" shows no round trip was made), while a
        # turn of unknown age is looked up.
        await client.set(cancel_key(PREFIX, "t1"), "")
        assert not await cancels.cancelled("t1", accepted_ms)
        assert await cancels.cancelled("t1")
        await HistoryStore(client, PREFIX).cancel_turn("anonymous", "s", "t2", "")
        deadline = time.monotonic() + 1
        while not await cancels.cancelled("t2", accepted_ms):
            assert time.monotonic() < deadline, "the announced cancel was not heard"
            await asyncio.sleep(0.01)
    finally:
        await cancels.aclose()


async def test_after_the_subscription_was_lost_older_turns_are_looked_up(
    client: redis.Redis,
) -> None:
    cancels = CancelFlags(client, PREFIX)
    try:
        await cancels.cancelled("t0")
        first = await confirmed(cancels)
        accepted_ms = int((first + CLOCK_SKEW_S + 0.5) * 1000)
        await asyncio.sleep(CLOCK_SKEW_S + 0.6)  # the turn is accepted now
        # Its cancel is marked while the listener is cut off (announcement missed).
        await client.client_kill_filter(_type="pubsub")
        await client.set(cancel_key(PREFIX, "t1"), "")
        again = await confirmed(cancels, after=first)
        assert again > accepted_ms / 1000 - CLOCK_SKEW_S
        assert await cancels.cancelled("t1", accepted_ms)  # looked up, found
    finally:
        await cancels.aclose()
