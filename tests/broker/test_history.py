"""Conversation memory and the per-session lease against the real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from shared.errors import PipelineError
from shared.history import HistoryStore, HistoryUnavailable, Limits
from shared.redis_client import redis_client
from shared.session_lock import SessionLocks
from tests.integration.stack import REDIS_URL, ROOT

pytestmark = pytest.mark.broker


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[redis.Redis]:
    client = redis_client(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def store(client: redis.Redis, prefix: str, **limits: int) -> HistoryStore:
    return HistoryStore(client, prefix, Limits(**limits))


def session() -> str:
    return uuid.uuid4().hex


async def test_oldest_turns_go_first_beyond_the_turn_cap(client: redis.Redis, prefix: str) -> None:
    history, s = store(client, prefix, max_turns=3), session()
    for i in range(5):
        assert await history.append("anonymous", s, f"t{i}", f"Frage {i}", f"Antwort {i}")
    assert [e.user for e in await history.load("anonymous", s)] == ["Frage 2", "Frage 3", "Frage 4"]


async def test_oldest_turns_go_first_beyond_the_character_cap(
    client: redis.Redis, prefix: str
) -> None:
    history, s = store(client, prefix, max_turns=100, max_chars=50), session()
    for i in range(4):
        await history.append("anonymous", s, f"t{i}", "q" * 10, "a" * 10)  # 20 chars each
    remembered = await history.load("anonymous", s)
    assert [e.turn_id for e in remembered] == ["t2", "t3"]
    assert sum(e.chars for e in remembered) <= 50


async def test_ttl_is_set_and_refreshed_on_use(client: redis.Redis, prefix: str) -> None:
    history, s = store(client, prefix, ttl_s=120), session()
    await history.append("anonymous", s, "t0", "Hallo", "Hi")
    key = history.key("anonymous", s)
    await client.expire(key, 5)
    await history.load("anonymous", s)
    assert 115 <= await client.ttl(key) <= 120


async def test_a_turn_is_remembered_once(client: redis.Redis, prefix: str) -> None:
    history, s = store(client, prefix), session()
    assert await history.append("anonymous", s, "t0", "Hallo", "Hi")
    assert not await history.append("anonymous", s, "t0", "Hallo", "Hi")  # redelivered
    assert len(await history.load("anonymous", s)) == 1


async def test_a_forgotten_turn_is_removed_and_cannot_come_back(
    client: redis.Redis, prefix: str
) -> None:
    history, s = store(client, prefix), session()
    await history.append("anonymous", s, "ok", "Eins", "1")
    await history.append("anonymous", s, "failed", "Zwei", "2")
    assert await history.forget_turn("anonymous", s, "failed") == 1
    assert await history.forget_turn("anonymous", s, "late") == 0  # gateway gave up first
    assert not await history.append("anonymous", s, "late", "Drei", "3")  # llm finished after
    assert [e.turn_id for e in await history.load("anonymous", s)] == ["ok"]


async def test_sessions_are_keyed_by_identity(client: redis.Redis, prefix: str) -> None:
    history, s = store(client, prefix), session()
    await history.append("alice", s, "t0", "Geheimnis", "Ok")
    assert await history.load("mallory", s) == []
    assert history.key("alice", s) != history.key("mallory", s)


async def test_unreachable_redis_is_history_unavailable(prefix: str) -> None:
    client = redis_client("redis://127.0.0.1:1/0")
    history = store(client, prefix)
    with pytest.raises(HistoryUnavailable):
        await history.load("anonymous", session())
    with pytest.raises(HistoryUnavailable):
        async with SessionLocks(client, prefix).hold("anonymous", "s", "t", time.time() + 1):
            pass
    await client.aclose()


async def test_the_session_lease_serializes_turns(client: redis.Redis, prefix: str) -> None:
    locks, s = SessionLocks(client, prefix), session()
    order: list[str] = []

    async def turn(name: str) -> None:
        async with locks.hold("anonymous", s, name, time.time() + 5):
            order.append(f"{name} in")
            await asyncio.sleep(0.2)
            order.append(f"{name} out")

    await asyncio.gather(turn("a"), turn("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_a_redelivered_turn_takes_over_its_own_lease(
    client: redis.Redis, prefix: str
) -> None:
    locks, s = SessionLocks(client, prefix), session()
    # A worker killed while holding the lease leaves it behind.
    await client.set(locks.key("anonymous", s), "turn-1", px=8000)
    started = time.monotonic()
    async with locks.hold("anonymous", s, "turn-1", time.time() + 5):
        assert time.monotonic() - started < 0.5
    with pytest.raises(PipelineError, match="session busy"):
        await client.set(locks.key("anonymous", s), "turn-1", px=8000)
        async with locks.hold("anonymous", s, "turn-2", time.time() + 0.3):
            pass


def test_cli_shows_and_clears_a_session(prefix: str) -> None:
    s = session()

    async def seed() -> None:
        client = redis_client(REDIS_URL)
        await store(client, prefix).append("anonymous", s, "t0", "Wie heiße ich?", "Ada.")
        await client.aclose()

    asyncio.run(seed())
    env = {"REDIS_URL": REDIS_URL, "TOPOLOGY_PREFIX": prefix, "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", "history", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    shown = cli("show", s)
    assert shown.returncode == 0, shown.stderr
    assert "Wie heiße ich?" in shown.stdout and "Ada." in shown.stdout
    assert cli("clear", s).stdout.strip() == "cleared"
    assert cli("show", s).returncode == 1


async def test_a_cancel_keeps_only_what_was_heard_whichever_comes_first(
    client: redis.Redis, prefix: str
) -> None:
    history = store(client, prefix)
    # The answer is written first, then the watch's cancel cuts it.
    s1 = session()
    await history.append("anonymous", s1, "t1", "Erzähl", "Eins. Zwei. Drei. Vier.")
    assert await history.cancel_turn("anonymous", s1, "t1", "Eins. Zwei.")
    (entry,) = await history.load("anonymous", s1)
    assert entry.model == "Eins. Zwei."
    # The cancel comes first; the llm stage's later write keeps only what was heard.
    s2 = session()
    assert not await history.cancel_turn("anonymous", s2, "t2", "Eins.")
    assert await history.append("anonymous", s2, "t2", "Erzähl", "Eins. Zwei. Drei.")
    (entry,) = await history.load("anonymous", s2)
    assert entry.model == "Eins."
    # Nothing heard: nothing of the exchange is remembered, before or after.
    s3 = session()
    await history.append("anonymous", s3, "t3", "Erzähl", "Eins.")
    await history.cancel_turn("anonymous", s3, "t3", "")
    await history.cancel_turn("anonymous", s3, "t4", "")
    assert not await history.append("anonymous", s3, "t4", "Noch was", "Zwei.")
    assert await history.load("anonymous", s3) == []
