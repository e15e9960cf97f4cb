"""The stage worker runtime against the real RabbitMQ and Redis, with in-process handlers."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.broker import Publisher
from shared.contracts import Envelope, Reply, SpeakRequest, Stage, TextTurn, decode
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.settings import CommonSettings
from shared.topology import DEAD_REASON_HEADER, Topology, declare, declare_reply_queue
from shared.worker import StageWorker
from tests.integration.conftest import delete_topology
from tests.integration.stack import AMQP_URL, REDIS_URL

pytestmark = pytest.mark.broker


class Harness:
    def __init__(
        self, channel: AbstractChannel, prefix: str, reply: AbstractQueue, publisher: Publisher
    ) -> None:
        self.channel = channel
        self.publish = publisher.publish
        self.topology = Topology(prefix)
        self.reply = reply
        self.calls: list[TextTurn] = []

    def turn(self, text: str = "Hallo", turn_id: str | None = None, ttl_s: float = 10) -> TextTurn:
        return TextTurn(
            turn_id=turn_id or uuid.uuid4().hex,
            session_id="s",
            reply_to=self.reply.name,
            deadline_ms=int((time.time() + ttl_s) * 1000),
            text=text,
        )

    async def get(
        self, queue_name: str, timeout: float = 5.0
    ) -> aio_pika.abc.AbstractIncomingMessage:
        queue = await self.channel.get_queue(queue_name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is not None:
                await message.ack()
                return message
            await asyncio.sleep(0.05)
        raise TimeoutError(f"nothing arrived on {queue_name}")

    async def empty(self, queue_name: str) -> bool:
        queue = await self.channel.declare_queue(queue_name, passive=True)
        return queue.declaration_result.message_count == 0


Behaviour = Callable[[TextTurn], AsyncGenerator[Envelope, None]]


@pytest.fixture
async def harness(prefix: str) -> AsyncIterator[Callable[[Behaviour], Harness]]:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    declared = await declare(channel, Topology(prefix))
    reply = await declare_reply_queue(channel, Topology(prefix), "test", 60)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    publisher = Publisher(channel, declared.exchange)

    def start(behaviour: Behaviour) -> Harness:
        h = Harness(channel, prefix, reply, publisher)

        async def handler(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
            h.calls.append(turn)
            async for out in behaviour(turn):
                yield out

        settings = CommonSettings(amqp_url=AMQP_URL, redis_url=REDIS_URL, topology_prefix=prefix)
        worker = StageWorker(
            stage=Stage.LLM, event_type=TextTurn, handler=handler, settings=settings, service="test"
        )
        tasks.append(asyncio.create_task(worker.run(stop)))
        return h

    yield start
    stop.set()
    await asyncio.gather(*tasks)
    await connection.close()
    await delete_topology(prefix, [reply.name])


async def echo(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
    yield SpeakRequest(**turn.carried(), text=f"echo {turn.text}", transcript=turn.text)


async def publish(h: Harness, event: Envelope) -> None:
    await h.publish(event)


async def wait_ready(h: Harness) -> None:
    """Let the worker task connect and start consuming."""
    await asyncio.sleep(0.3)


async def test_output_goes_to_the_next_stage_with_timings(
    harness: Callable[[Behaviour], Harness],
) -> None:
    h = harness(echo)
    await wait_ready(h)
    turn = h.turn("Hallo")
    await publish(h, turn)
    out = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert (out.turn_id, out.text, out.transcript) == (turn.turn_id, "echo Hallo", "Hallo")
    assert out.timings["llm"] >= 0


async def test_malformed_message_is_dead_lettered_with_reason_and_worker_goes_on(
    harness: Callable[[Behaviour], Harness],
) -> None:
    h = harness(echo)
    await wait_ready(h)
    exchange = await h.channel.get_exchange(h.topology.exchange)
    await exchange.publish(
        aio_pika.Message(b"junk", headers={"kind": "text_turn", "v": 1}), routing_key="llm"
    )
    dead = await h.get(h.topology.dead_queue(Stage.LLM))
    assert dead.body == b"junk"
    assert "lacks header" in str(dead.headers[DEAD_REASON_HEADER])
    await publish(h, h.turn("danach"))
    out = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert out.text == "echo danach"
    assert h.calls and h.calls[-1].text == "danach" and len(h.calls) == 1


async def test_expired_turn_is_dropped_without_calling_the_handler(
    harness: Callable[[Behaviour], Harness],
) -> None:
    h = harness(echo)
    await wait_ready(h)
    await publish(h, h.turn("zu spät", ttl_s=-1))
    await publish(h, h.turn("rechtzeitig"))
    out = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert out.text == "echo rechtzeitig"
    assert [c.text for c in h.calls] == ["rechtzeitig"]


async def test_a_finished_turn_delivered_again_is_not_redone(
    harness: Callable[[Behaviour], Harness],
) -> None:
    h = harness(echo)
    await wait_ready(h)
    turn = h.turn("einmal")
    await publish(h, turn)
    first = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert not first.repeat  # a first try's output: the next stage need not look it up
    # An upstream worker crashed before its ack and did its redelivered input again:
    # what it sends then is marked as a possible repeat.
    await publish(h, dataclasses.replace(turn, repeat=True))
    await asyncio.sleep(0.5)
    assert len(h.calls) == 1
    assert await h.empty(h.topology.queue(Stage.TTS))
    assert await h.empty(h.topology.queue(Stage.LLM))


async def test_a_possible_repeat_not_done_before_is_done_and_its_output_marked(
    harness: Callable[[Behaviour], Harness],
) -> None:
    h = harness(echo)
    await wait_ready(h)
    turn = dataclasses.replace(h.turn("vielleicht doppelt"), repeat=True)
    await publish(h, turn)
    out = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert (out.text, out.repeat) == ("echo vielleicht doppelt", True)
    assert len(h.calls) == 1


async def test_an_unmarked_first_delivery_is_not_looked_up(
    harness: Callable[[Behaviour], Harness],
) -> None:
    """What the look-up is skipped for: no sender sends one chunk twice unmarked (a
    stage repeats only a redelivered or marked input, and marks what that makes)."""
    h = harness(echo)
    await wait_ready(h)
    turn = h.turn("zweimal gesendet")
    await publish(h, turn)
    await h.get(h.topology.queue(Stage.TTS))
    await publish(h, turn)
    again = decode(await h.get(h.topology.queue(Stage.TTS)), SpeakRequest)
    assert again.turn_id == turn.turn_id
    assert len(h.calls) == 2


async def test_failure_is_an_error_reply_plus_dead_letter(
    harness: Callable[[Behaviour], Harness],
) -> None:
    async def broken(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
        raise ZeroDivisionError("secret internals")
        yield  # pragma: no cover

    h = harness(broken)
    await wait_ready(h)
    turn = h.turn("kaputt")
    await publish(h, turn)
    reply = decode(await h.get(h.reply.name), Reply)
    assert reply.turn_id == turn.turn_id
    assert reply.error_code == ErrorCode.INTERNAL.value
    assert "secret" not in reply.error_message
    dead = await h.get(h.topology.dead_queue(Stage.LLM))
    assert "ZeroDivisionError" in str(dead.headers[DEAD_REASON_HEADER])
    assert await h.empty(h.topology.queue(Stage.LLM))  # not requeued in a loop


async def test_transient_failure_after_retries_tells_the_watch_the_service_is_down(
    harness: Callable[[Behaviour], Harness],
) -> None:
    async def unavailable(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
        raise PipelineError(ErrorCode.BACKEND_UNAVAILABLE, ErrorCategory.TRANSIENT, "503 x3")
        yield  # pragma: no cover

    h = harness(unavailable)
    await wait_ready(h)
    await publish(h, h.turn())
    reply = decode(await h.get(h.reply.name), Reply)
    assert reply.error_code == "backend_unavailable"
    assert reply.final


async def test_reply_to_a_vanished_gateway_is_dropped_not_looped(
    harness: Callable[[Behaviour], Harness],
) -> None:
    async def answer(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
        yield Reply(**turn.carried(), text="niemand hört zu")

    h = harness(answer)
    await wait_ready(h)
    turn = h.turn()
    ghost = TextTurn(**{**turn.carried(), "reply_to": "no-such-queue"}, text="x")
    await publish(h, ghost)
    await asyncio.sleep(0.5)
    assert len(h.calls) == 1
    assert await h.empty(h.topology.queue(Stage.LLM))
    assert await h.empty(h.topology.dead_queue(Stage.LLM))
