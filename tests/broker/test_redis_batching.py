"""`shared.redis_client.BatchingRedis` against the real Redis: commands issued at the
same moment share one round trip, and each caller still gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shared.redis_client import BatchingRedis, redis_client
from tests.integration.stack import REDIS_URL

pytestmark = pytest.mark.broker

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[redis.Redis]:
    client = redis_client(REDIS_URL)
    assert isinstance(client, BatchingRedis)
    yield client
    keys = await client.keys(f"{prefix}:*")
    if keys:
        await client.delete(*keys)
    await client.aclose()


def connections_made(client: redis.Redis) -> int:
    pool = client.connection_pool
    return len(pool._available_connections) + len(pool._in_use_connections)


async def test_concurrent_commands_share_one_connection_and_get_their_own_results(
    client: redis.Redis, prefix: str
) -> None:
    await client.set(f"{prefix}:warm", b"1")  # the pool's first connection
    results = await asyncio.gather(
        *(client.set(f"{prefix}:k{i}", str(i).encode(), ex=60) for i in range(20)),
        *(client.incr(f"{prefix}:counter") for _ in range(5)),
    )
    assert results[:20] == [True] * 20
    assert sorted(int(r) for r in results[20:]) == [1, 2, 3, 4, 5]  # type: ignore[arg-type]
    # Sent one by one, 25 commands at once would have taken 25 connections.
    assert connections_made(client) == 1
    values = await asyncio.gather(*(client.get(f"{prefix}:k{i}") for i in range(20)))
    assert values == [str(i).encode() for i in range(20)]


async def test_an_error_goes_to_its_own_caller_only(client: redis.Redis, prefix: str) -> None:
    await client.set(f"{prefix}:text", b"x")
    good, bad, other = await asyncio.gather(
        client.set(f"{prefix}:a", b"1"),
        client.hset(f"{prefix}:text", "field", "value"),  # WRONGTYPE
        client.exists(f"{prefix}:a", f"{prefix}:missing"),
        return_exceptions=True,
    )
    assert good is True
    assert isinstance(bad, ResponseError) and "WRONGTYPE" in str(bad)
    assert other == 1


async def test_a_script_unknown_to_the_server_is_loaded_and_run_in_a_batch(
    client: redis.Redis, prefix: str
) -> None:
    script = client.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    await client.script_flush()  # as after a Redis restart: NOSCRIPT for the first call
    results = await asyncio.gather(
        script(keys=[f"{prefix}:s1"], args=["one"]),
        script(keys=[f"{prefix}:s2"], args=["two"]),
        client.set(f"{prefix}:plain", b"p"),
    )
    assert list(results) == [b"OK", b"OK", True]
    assert await client.mget(f"{prefix}:s1", f"{prefix}:s2") == [b"one", b"two"]


@pytest.mark.parametrize("turns", [1, 2], ids=["while-collecting", "while-waiting"])
async def test_a_cancelled_caller_does_not_take_the_batch_with_it(
    client: redis.Redis, prefix: str, turns: int
) -> None:
    """The caller that collects the batch is cancelled while the others are joining
    (its own command is not sent), or once the batch is on its way (it is)."""
    first = asyncio.ensure_future(client.set(f"{prefix}:first", b"1"))
    others = [asyncio.ensure_future(client.set(f"{prefix}:o{i}", b"1")) for i in range(3)]
    for _ in range(turns):
        await asyncio.sleep(0)
    first.cancel()
    assert await asyncio.wait_for(asyncio.gather(*others), 5) == [True, True, True]
    assert await client.exists(*(f"{prefix}:o{i}" for i in range(3))) == 3
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await client.exists(f"{prefix}:first") == (turns - 1)


async def test_an_unreachable_redis_fails_every_command_of_the_batch() -> None:
    client = redis_client(UNREACHABLE)
    try:
        results = await asyncio.gather(
            client.set("x", b"1"), client.get("y"), client.exists("z"), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert all(isinstance(r, RedisConnectionError) for r in results), results
