"""A stage's span and the trace context in the AMQP headers, with the SDK's in-memory
exporter in this process, against the real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import tracing
from shared.contracts import Envelope, Reply, SpeakRequest, Stage, TextTurn, decode, encode
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.settings import CommonSettings
from shared.topology import Topology, declare, declare_reply_queue
from shared.worker import StageWorker
from tests.integration.conftest import delete_topology
from tests.integration.stack import AMQP_URL, REDIS_URL

pytestmark = pytest.mark.broker

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

Behaviour = Callable[[TextTurn], AsyncGenerator[Envelope, None]]


class Rig:
    """An llm-stage worker with a handler of the test's, its queues and a way in."""

    def __init__(self, channel: AbstractChannel, exchange: AbstractExchange, prefix: str) -> None:
        self.channel = channel
        self.exchange = exchange
        self.topology = Topology(prefix)
        self.reply_to = ""

    async def send(self, text: str, headers: dict[str, str] | None = None) -> str:
        """Publish a TextTurn to the llm queue with extra headers; its turn id."""
        turn = TextTurn(
            turn_id=uuid.uuid4().hex,
            session_id="session-1",
            reply_to=self.reply_to,
            deadline_ms=int((time.time() + 10) * 1000),
            text=text,
        )
        message = encode(turn)
        assert message.headers is not None
        message.headers.update(headers or {})
        await self.exchange.publish(message, routing_key=Stage.LLM.value, mandatory=True)
        return turn.turn_id

    async def get(self, queue_name: str, timeout: float = 5.0) -> AbstractIncomingMessage:
        queue = await self.channel.get_queue(queue_name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is not None:
                await message.ack()
                return message
            await asyncio.sleep(0.05)
        raise TimeoutError(f"nothing arrived on {queue_name}")


@pytest.fixture
async def rig(prefix: str) -> AsyncIterator[Callable[[Behaviour], Rig]]:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    declared = await declare(channel, Topology(prefix))
    reply = await declare_reply_queue(channel, Topology(prefix), "test", 60)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(behaviour: Behaviour) -> Rig:
        r = Rig(channel, declared.exchange, prefix)
        r.reply_to = reply.name
        settings = CommonSettings(amqp_url=AMQP_URL, redis_url=REDIS_URL, topology_prefix=prefix)
        worker = StageWorker(
            stage=Stage.LLM,
            event_type=TextTurn,
            handler=behaviour,
            settings=settings,
            service="test",
        )
        tasks.append(asyncio.create_task(worker.run(stop)))
        return r

    yield start
    stop.set()
    await asyncio.gather(*tasks)
    await connection.close()
    await delete_topology(prefix, [reply.name])


async def speak(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
    tracing.annotate(source="test", sentences=2)
    for seq, text in enumerate(("Eins.", "Zwei.")):
        yield SpeakRequest(**turn.carried(), seq=seq, final=seq == 1, text=text)


async def refuse(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
    raise PipelineError(ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "no")
    yield  # pragma: no cover


def parsed(header: object) -> tuple[str, str, str, str]:
    """A `traceparent` header's version, trace id, parent span id and flags."""
    text = header.decode() if isinstance(header, bytes) else str(header)
    version, trace_id, span_id, flags = text.split("-")
    return version, trace_id, span_id, flags


def only_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    spans = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in exporter.get_finished_spans()]
    return spans[0]


async def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The span ends after the ack, a moment after the output was published."""
    deadline = time.monotonic() + 5
    while not any(s.name == name for s in exporter.get_finished_spans()):
        assert time.monotonic() < deadline, "the stage's span never ended"
        await asyncio.sleep(0.02)
    return only_span(exporter, name)


async def test_the_stage_span_continues_the_trace_and_parents_what_it_publishes(
    rig: Callable[[Behaviour], Rig], exporter: InMemorySpanExporter
) -> None:
    r = rig(speak)
    turn_id = await r.send("Hallo", {"traceparent": TRACEPARENT, "tracestate": "uhrwerk=1"})
    outputs = [await r.get(r.topology.queue(Stage.TTS)) for _ in range(2)]
    span = await finished(exporter, "llm")

    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert span.kind is SpanKind.CONSUMER
    assert span.attributes is not None
    assert span.attributes["uhrwerk.turn_id"] == turn_id
    assert span.attributes["uhrwerk.session"] == tracing.session_hash("session-1")
    assert span.attributes["uhrwerk.outcome"] == "ok"
    assert span.attributes["uhrwerk.source"] == "test"
    assert span.status.status_code is StatusCode.UNSET
    stage_span_id = format(span.context.span_id, "016x")
    for message in outputs:
        headers = message.headers or {}
        version, trace_id, parent_id, flags = parsed(headers["traceparent"])
        assert (version, trace_id, parent_id, flags) == ("00", TRACE_ID, stage_span_id, "01")
        assert headers["tracestate"] in ("uhrwerk=1", b"uhrwerk=1")
        # The contract's reader ignores the trace headers.
        assert decode(message, SpeakRequest).turn_id == turn_id


async def test_a_turn_without_a_traceparent_starts_its_own_trace(
    rig: Callable[[Behaviour], Rig], exporter: InMemorySpanExporter
) -> None:
    r = rig(speak)
    await r.send("Hallo")
    out = await r.get(r.topology.queue(Stage.TTS))
    span = await finished(exporter, "llm")
    assert span.parent is None
    assert span.context is not None
    _, trace_id, parent_id, _ = parsed((out.headers or {})["traceparent"])
    assert trace_id == format(span.context.trace_id, "032x")
    assert parent_id == format(span.context.span_id, "016x")


async def test_a_failed_stage_has_an_error_span_and_its_error_reply_the_context(
    rig: Callable[[Behaviour], Rig], exporter: InMemorySpanExporter
) -> None:
    r = rig(refuse)
    await r.send("Hallo", {"traceparent": TRACEPARENT})
    reply = await r.get(r.reply_to)
    assert decode(reply, Reply).error_code == "backend_rejected"
    span = await finished(exporter, "llm")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.startswith("backend_rejected")
    assert span.attributes is not None
    assert span.attributes["uhrwerk.outcome"] == "failed"
    assert span.attributes["uhrwerk.error_code"] == "backend_rejected"
    assert span.context is not None
    _, trace_id, parent_id, _ = parsed((reply.headers or {})["traceparent"])
    assert (trace_id, parent_id) == (TRACE_ID, format(span.context.span_id, "016x"))


async def test_off_no_span_no_header_and_a_traceparent_is_passed_on_unchanged(
    rig: Callable[[Behaviour], Rig],
) -> None:
    tracing.install(None)
    r = rig(speak)
    await r.send("Ohne")
    for text in ("Eins.", "Zwei."):
        out = await r.get(r.topology.queue(Stage.TTS))
        assert "traceparent" not in (out.headers or {})
        assert decode(out, SpeakRequest).text == text
    # A gateway with tracing on in front of this worker: its trace goes on past it.
    await r.send("Mit", {"traceparent": TRACEPARENT})
    for _ in range(2):
        passed = await r.get(r.topology.queue(Stage.TTS))
        assert parsed((passed.headers or {})["traceparent"])[1:3] == (TRACE_ID, PARENT_ID)
