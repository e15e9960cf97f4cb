"""The stage worker's metrics and readiness against the real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable

import aio_pika
import pytest
from prometheus_client import REGISTRY

from shared.broker import Publisher
from shared.contracts import Envelope, SpeakRequest, Stage, TextTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.settings import CommonSettings
from shared.topology import Topology, declare, declare_reply_queue
from shared.worker import StageWorker
from tests.integration.conftest import delete_topology
from tests.integration.stack import AMQP_URL, REDIS_URL

pytestmark = pytest.mark.broker


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counts() -> dict[str, float]:
    return {
        outcome: sample("uhrwerk_turns_total", stage="llm", outcome=outcome)
        for outcome in ("ok", "failed", "expired", "malformed")
    } | {
        "redelivered": sample("uhrwerk_redeliveries_total", stage="llm"),
        "dead_rejected": sample(
            "uhrwerk_dead_lettered_total", stage="llm", reason="backend_rejected"
        ),
        "dead_malformed": sample("uhrwerk_dead_lettered_total", stage="llm", reason="malformed"),
        "timed": sample("uhrwerk_stage_seconds_count", stage="llm"),
    }


async def behave(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
    if turn.text == "verboten":
        raise PipelineError(ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "refused")
    yield SpeakRequest(**turn.carried(), text=f"echo {turn.text}", transcript=turn.text)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition never held")


async def test_outcomes_redeliveries_and_dead_letters_are_counted(prefix: str) -> None:
    topology = Topology(prefix)
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    declared = await declare(channel, topology)
    reply = await declare_reply_queue(channel, topology, "test", 60)
    publisher = Publisher(channel, declared.exchange)

    def turn(text: str, ttl_s: float = 10) -> TextTurn:
        return TextTurn(
            turn_id=uuid.uuid4().hex,
            session_id="s",
            reply_to=reply.name,
            deadline_ms=int((time.time() + ttl_s) * 1000),
            text=text,
        )

    before = counts()
    # A delivery taken and never acked (its consumer's channel closes) comes back
    # marked redelivered.
    await publisher.publish(turn("zweimal"))
    taker = await connection.channel()
    queue = await taker.get_queue(topology.queue(Stage.LLM))
    taken = None
    for _ in range(50):
        taken = await queue.get(fail=False)
        if taken is not None:
            break
        await asyncio.sleep(0.05)
    assert taken is not None
    await taker.close()

    settings = CommonSettings(amqp_url=AMQP_URL, redis_url=REDIS_URL, topology_prefix=prefix)
    worker = StageWorker(
        stage=Stage.LLM, event_type=TextTurn, handler=behave, settings=settings, service="test"
    )
    assert worker.readiness() == {"broker": False}
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: worker.readiness() == {"broker": True})
        await publisher.publish(turn("Hallo"))
        await publisher.publish(turn("verboten"))
        await publisher.publish(turn("zu spät", ttl_s=-1))
        exchange = await channel.get_exchange(topology.exchange)
        await exchange.publish(
            aio_pika.Message(b"junk", headers={"kind": "text_turn", "v": 1}), routing_key="llm"
        )
        expected = {
            "ok": 2,  # "zweimal" (redelivered) and "Hallo"
            "failed": 1,
            "expired": 1,
            "malformed": 1,
            "redelivered": 1,
            "dead_rejected": 1,
            "dead_malformed": 1,
            "timed": 3,  # every handled turn: two answered, one failed
        }

        def moved() -> dict[str, float]:
            after = counts()
            return {k: after[k] - before[k] for k in after}

        await until(lambda: moved() == expected)
        await asyncio.sleep(0.2)  # and nothing more comes
        assert moved() == expected
        assert sample("uhrwerk_turns_in_flight", stage="llm") == 0
    finally:
        stop.set()
        await running
        await connection.close()
        await delete_topology(prefix, [reply.name])
    assert worker.readiness() == {"broker": False}
