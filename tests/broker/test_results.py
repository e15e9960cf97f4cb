"""Answers kept for `resume` (`shared.results`) against the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from shared.contracts import Reply
from shared.redis_client import redis_client
from shared.results import ResultStore, ResultsUnavailable, result_key
from tests.integration.stack import REDIS_URL

pytestmark = pytest.mark.broker


@pytest.fixture
async def client() -> AsyncIterator[redis.Redis]:
    client = redis_client(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def results(client: redis.Redis, prefix: str) -> AsyncIterator[ResultStore]:
    yield ResultStore(client, prefix, ttl_s=60)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


def chunk(
    turn_id: str, seq: int, final: bool = False, error_code: str = "", error_message: str = ""
) -> Reply:
    return Reply(
        turn_id=turn_id,
        session_id="session-0123456789",
        identity="anna",
        reply_to="uhrwerk.reply.g1",
        deadline_ms=1_900_000_000_000,
        seq=seq,
        final=final,
        timings={"llm": 812.5, "tts": 97.0},
        memory="ok",
        audio=bytes([seq]) * 1000 + b"\x00\xff",
        text=f"Satz {seq} äöü.",
        transcript="Wie heiße ich?",
        error_code=error_code,
        error_message=error_message,
    )


async def test_chunks_come_back_byte_for_byte_in_order_and_complete_only_with_all(
    results: ResultStore, client: redis.Redis, prefix: str
) -> None:
    turn_id = uuid.uuid4().hex
    await results.begin(turn_id, "anna", "session-0123456789", 1_900_000_000_000, voice=True)
    stored = await results.load(turn_id)
    assert stored is not None
    assert (stored.identity, stored.session_id, stored.voice) == (
        "anna",
        "session-0123456789",
        True,
    )
    assert not stored.complete and stored.chunks == {}
    # The final sentence before the one ahead of it (replicas race): not complete yet.
    await results.add(chunk(turn_id, 2, final=True))
    await results.add(chunk(turn_id, 0))
    stored = await results.load(turn_id)
    assert stored is not None and not stored.complete
    await results.add(chunk(turn_id, 1))
    await results.add(chunk(turn_id, 1))  # a redelivery overwrites with the same
    stored = await results.load(turn_id)
    assert stored is not None and stored.complete
    assert [kept.seq for kept in stored.in_order()] == [0, 1, 2]
    for seq, kept in enumerate(stored.in_order()):
        sent = chunk(turn_id, seq, final=seq == 2)
        assert kept.audio == sent.audio
        assert (kept.text, kept.transcript, kept.final) == (sent.text, sent.transcript, sent.final)
        assert (kept.timings, kept.memory, kept.deadline_ms) == (
            sent.timings,
            "ok",
            sent.deadline_ms,
        )
    assert 0 < await client.ttl(result_key(prefix, turn_id)) <= 60


async def test_an_error_completes_a_turn_and_workers_alone_make_a_record(
    results: ResultStore,
) -> None:
    turn_id = uuid.uuid4().hex
    await results.add(
        chunk(turn_id, 0, final=True, error_code="backend_unavailable", error_message="Weg.")
    )
    stored = await results.load(turn_id)
    assert stored is not None and stored.complete
    assert stored.identity == "anna"  # from the reply's envelope
    assert stored.deadline_ms == 1_900_000_000_000
    (error,) = stored.in_order()
    assert (error.error_code, error.error_message) == ("backend_unavailable", "Weg.")


async def test_unknown_turns_and_ttl_zero_keep_nothing(
    results: ResultStore, client: redis.Redis
) -> None:
    assert await results.load(uuid.uuid4().hex) is None
    off = ResultStore(client, f"off{uuid.uuid4().hex[:8]}", ttl_s=0)
    turn_id = uuid.uuid4().hex
    await off.begin(turn_id, "anna", "s", 0, voice=False)
    await off.add(chunk(turn_id, 0, final=True))
    assert await off.load(turn_id) is None


async def test_redis_down_loses_only_the_resume() -> None:
    gone = redis_client("redis://127.0.0.1:1/0")  # nothing listens there
    store = ResultStore(gone, "res", ttl_s=60)
    await store.add(chunk(uuid.uuid4().hex, 0))  # logged, not raised: the turn goes on
    with pytest.raises(ResultsUnavailable):
        await store.load(uuid.uuid4().hex)
    await gone.aclose()
