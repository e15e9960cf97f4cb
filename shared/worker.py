"""The runtime every stage worker shares: consume, handle, publish downstream, ack.

A stage is a handler — an async generator from one input event to the events it
produces — plugged into `StageWorker`, which owns everything about the broker:

* ack only after every produced event is confirmed by the broker, so a crash at any
  point means redelivery, never loss;
* turns past their deadline are dropped (the gateway has told the watch already);
* a chunk already finished (redelivered duplicate) is acked without redoing it; only
  a redelivery or an event marked `repeat` is looked up in the ledger, and what a
  redelivered input produces is marked `repeat` for the next stage;
* a failure becomes an error reply to the watch, and the input goes to the stage's
  dead-letter queue with the reason: never requeued in a loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import AsyncGenerator, Callable
from typing import Generic, Protocol, TypeVar

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from shared import observe, tracing
from shared.broker import Publisher, connect, dead_letter, open_channel
from shared.contracts import Envelope, Reply, Stage, decode
from shared.errors import ContractError, ErrorCategory, ErrorCode, PipelineError
from shared.ledger import AlreadyDone, TurnLedger
from shared.logging import get_logger
from shared.redis_client import redis_client
from shared.results import ResultStore
from shared.settings import CommonSettings
from shared.topology import Topology, declare

log = get_logger(__name__)

In = TypeVar("In", bound=Envelope)
Handler = Callable[[In], AsyncGenerator[Envelope, None]]

SHUTDOWN_GRACE_S = 10.0
"""How long a stopping worker lets in-flight turns finish before it closes."""


def error_reply(event: Envelope, error: PipelineError, timings: dict[str, float]) -> Reply:
    return Reply(
        **(event.carried() | {"timings": timings}),
        error_code=error.code.value,
        error_message=error.message,
    )


class StageWorker(Generic[In]):
    def __init__(
        self,
        *,
        stage: Stage,
        event_type: type[In],
        handler: Handler[In],
        settings: CommonSettings,
        service: str,
        prefetch: int | None = None,
        checks_ledger: bool = False,
    ) -> None:
        """`checks_ledger`: the handler looks its chunk up in the ledger itself (with
        its other Redis reads, in one round trip) and raises `AlreadyDone`."""
        self.stage = stage
        self.checks_ledger = checks_ledger
        self.prefetch = prefetch or settings.prefetch
        self.event_type = event_type
        self.handler = handler
        self.settings = settings
        self.service = service
        self.topology = Topology(settings.topology_prefix)
        self._publisher: Publisher | None = None
        self._dlx: AbstractExchange | None = None
        redis = redis_client(settings.redis_url)
        self._ledger = TurnLedger(redis, settings.topology_prefix)
        self._results = ResultStore(redis, settings.topology_prefix, settings.result_ttl_s)
        """Every reply is kept for a while, so a watch whose gateway died can resume it."""
        self._in_flight: set[asyncio.Task[None]] = set()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._consuming = False

    def readiness(self) -> dict[str, bool]:
        """For /readyz: the broker connection is up (not reconnecting) and consuming."""
        connection = self._connection
        connected = connection is not None and connection.connected.is_set()
        return {"broker": connected and self._consuming}

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set (or SIGTERM/SIGINT), then drain and close."""
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        connection = await connect(self.settings.amqp_url, self.service)
        self._connection = connection
        async with connection:
            channel = await open_channel(connection, self.prefetch)
            declared = await declare(channel, self.topology)
            self._publisher = Publisher(channel, declared.exchange)
            self._dlx = declared.dead_letter_exchange
            queue = declared.queues[self.stage]
            tag = await queue.consume(self._on_message)
            self._consuming = True
            log.info("worker ready", queue=queue.name, prefetch=self.prefetch)
            await stop.wait()
            log.info("worker stopping")
            self._consuming = False
            await queue.cancel(tag)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE_S)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            with tracing.consumed(self.stage.value, message.headers, message.correlation_id):
                await self.process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def process(self, message: AbstractIncomingMessage) -> None:
        """Handle one delivery from start to ack."""
        assert self._publisher is not None
        stage = self.stage.value
        if message.redelivered:
            observe.REDELIVERIES.labels(stage).inc()
        try:
            event = decode(message, self.event_type)
        except ContractError as exc:
            log.error("malformed message dead-lettered", reason=exc.detail)
            await self._dead_letter(message, exc.detail, "malformed")
            await message.ack()
            observe.TURNS.labels(stage, "malformed").inc()
            tracing.failed("malformed", exc.detail, outcome="malformed")
            return
        with structlog.contextvars.bound_contextvars(
            turn_id=event.turn_id, session_id=event.session_id, stage=self.stage.value
        ):
            if event.expired():
                log.warning("turn past its deadline dropped", late_s=round(-event.remaining(), 3))
                await message.ack()
                observe.TURNS.labels(stage, "expired").inc()
                tracing.annotate(outcome="expired")
                return
            # Only a redelivery, or an event its sender marked as a possible repeat,
            # can be a chunk this stage has finished: a first delivery of anything
            # else skips the look-up (one Redis round trip per chunk and stage).
            repeat = message.redelivered or event.repeat
            if (
                repeat
                and not self.checks_ledger
                and await self._ledger.is_done(self.stage, event.turn_id, event.seq)
            ):
                await self._ack_duplicate(message, event)
                return
            started = time.perf_counter()
            observe.IN_FLIGHT.labels(stage).inc()
            produce = self.handler(event)
            try:
                async for produced in produce:
                    elapsed = (time.perf_counter() - started) * 1000
                    timed = dataclasses.replace(
                        produced,
                        timings=event.with_timing(self.stage.value, elapsed) | produced.timings,
                        # This try may repeat an earlier one's output: the next stage
                        # must look it up.
                        repeat=repeat or produced.repeat,
                    )
                    await self._publish(timed)
            except AlreadyDone:
                await self._ack_duplicate(message, event)
                return
            except PipelineError as exc:
                await self._fail(message, event, exc, started)
            except (
                aio_pika.exceptions.AMQPError,
                # A publish on a channel the robust connection is still reopening: a
                # RuntimeError, not an AMQPError (seen when RabbitMQ was restarted).
                aio_pika.exceptions.ChannelInvalidStateError,
            ):
                raise  # broker trouble: no ack, the message comes back after reconnect
            except Exception as exc:
                log.exception("handler crashed")
                error = PipelineError(
                    ErrorCode.INTERNAL, ErrorCategory.PERMANENT, f"{type(exc).__name__}: {exc}"
                )
                await self._fail(message, event, error, started)
            else:
                log.info("turn stage done", ms=round((time.perf_counter() - started) * 1000, 1))
                observe.TURNS.labels(stage, "ok").inc()
                tracing.annotate(outcome="ok")
            finally:
                observe.IN_FLIGHT.labels(stage).dec()
                observe.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)
                # A handler left mid-answer (a failed publish) releases what it holds
                # (a session lease, a model) now, in this task, not at garbage collection.
                await produce.aclose()
            await self._ledger.mark_done(self.stage, event.turn_id, event.seq)
            await message.ack()

    async def _ack_duplicate(self, message: AbstractIncomingMessage, event: Envelope) -> None:
        log.info("duplicate delivery of a finished chunk acked", seq=event.seq)
        await message.ack()
        observe.TURNS.labels(self.stage.value, "duplicate").inc()
        tracing.annotate(outcome="duplicate")

    async def _fail(
        self,
        message: AbstractIncomingMessage,
        event: Envelope,
        error: PipelineError,
        started: float,
    ) -> None:
        """Tell the watch; keep the input in the dead-letter queue unless it was fine."""
        assert self._publisher is not None
        elapsed = (time.perf_counter() - started) * 1000
        if error.code is ErrorCode.NO_SPEECH:
            log.info("nothing understood", detail=error.detail)
            observe.TURNS.labels(self.stage.value, "no_speech").inc()
            tracing.annotate(outcome="no_speech")
        else:
            log.warning(
                "turn failed",
                code=error.code.value,
                category=error.category.value,
                detail=error.detail,
            )
            await self._dead_letter(
                message, f"{error.code.value}: {error.detail}", error.code.value
            )
            observe.TURNS.labels(self.stage.value, "failed").inc()
            tracing.failed(error.code.value, error.detail)
        await self._publish(error_reply(event, error, event.with_timing(self.stage.value, elapsed)))

    async def _publish(self, event: Envelope) -> None:
        """Publish downstream; a reply to the watch is kept first (`shared.results`), so
        whatever a gateway can have sent is there for a resume elsewhere."""
        assert self._publisher is not None
        if isinstance(event, Reply):
            await self._results.add(event)
        await self._publisher.publish(event)

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str, code: str) -> None:
        assert self._dlx is not None
        await dead_letter(self._dlx, message, self.stage, reason)
        observe.DEAD_LETTERED.labels(self.stage.value, code).inc()


class Backend(Protocol):
    name: str
    max_concurrency: int | None
    """Calls it can usefully run at once; None for a remote service (PREFETCH decides)."""

    async def close(self) -> None: ...


def prefetch_for(backend: Backend, settings: CommonSettings) -> int:
    """A CPU-bound local backend takes one turn beyond what it runs, so that a queue
    served by several replicas spreads turns instead of one replica hoarding them."""
    if backend.max_concurrency is None:
        return settings.prefetch
    return min(settings.prefetch, backend.max_concurrency + 1)


async def serve(
    *,
    stage: Stage,
    event_type: type[In],
    handler: Handler[In],
    backend: Backend,
    settings: CommonSettings,
    service: str,
    checks_ledger: bool = False,
) -> None:
    """Run a stage worker until SIGTERM/SIGINT, then close its backend."""
    worker = StageWorker(
        stage=stage,
        event_type=event_type,
        handler=handler,
        settings=settings,
        service=service,
        prefetch=prefetch_for(backend, settings),
        checks_ledger=checks_ledger,
    )
    # Started once the backend is built (`backend` loaded) and before the broker is
    # reached: an unreachable broker shows as /healthz 200 and /readyz 503.
    server = await observe.start_server(
        settings.metrics_host,
        settings.metrics_port,
        lambda: worker.readiness() | {"backend": True},
    )
    try:
        await worker.run()
    finally:
        await backend.close()
        if server is not None:
            await server.cleanup()
