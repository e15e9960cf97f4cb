"""The fault suite's world and its scenarios.

A `FaultStack` is a RabbitMQ node and a redis-server of its own (`servers`), the Google
fakes with a little latency so that turns overlap, the three workers and two gateways
as real processes. A scenario puts watches under steady load (`load`), does one thing
to the stack while they ask, keeps the load on until the first question asked after
it is answered and a while longer, then lets every watch wait for its last answer.

Recovery is counted from the moment the fault is over for the stack: the kill of a
process (which is started again after `restart_after_s`, as compose's
`restart: unless-stopped` would) or the return of RabbitMQ or Redis. It ends at the
answer of the first question asked after that moment that needed what was hit: a
spoken one for the stt stage, one from a watch that lost its gateway for the gateway.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.faults.load import Figures, Gateway, LoadShape, Question, Record, run_load
from tests.faults.servers import OwnRabbit, OwnRedis
from tests.integration.stack import WORKERS, Service, Stack, free_port, ws_url


@dataclass(frozen=True)
class Timing:
    """How long each part of a scenario lasts."""

    watches: int = 8
    warmup_s: float = 2.0
    """Load before the fault."""
    steady_s: float = 1.5
    """Load kept on after the first answer that shows recovery."""
    outage_s: float = 5.0
    """How long RabbitMQ or Redis stays down."""
    restart_after_s: float = 0.5
    """A killed process is started again after this."""
    turn_timeout_s: float = 30.0
    """The services' TURN_TIMEOUT_S (the deployed default); a question is lost 5 s after
    it. A restarted worker takes up to 13 s to start here (2 shared cores): a shorter
    deadline would turn the questions waiting for it into timeouts."""
    recovery_bound_s: float = 40.0
    """The load stops this long after the fault even without recovery."""


SHORT = Timing()
"""`make test`: a few seconds of load around each fault."""
LONG = Timing(watches=16, warmup_s=8.0, steady_s=15.0)
"""`make faults` and the `slow` tests: more watches, longer load."""

Counts = Callable[[Question], bool]


@dataclass
class Fault:
    """One thing done to the stack under load."""

    name: str
    act: Callable[[FaultStack], Awaitable[float]]
    """Does it; returns the moment recovery is counted from (time.monotonic())."""
    needs: Callable[[Question, Record, float], bool] = lambda q, r, at: True
    """Which answered questions show that the stack recovered."""


def _spoken(question: Question, record: Record, at: float) -> bool:
    return question.spoken


def _moved(question: Question, record: Record, at: float) -> bool:
    return any(d.watch == question.watch and d.at >= at for d in record.drops)


class FaultStack:
    def __init__(self, workdir: Path, timing: Timing) -> None:
        self.workdir = workdir
        self.timing = timing
        (workdir / "rabbitmq").mkdir(exist_ok=True)
        (workdir / "redis").mkdir(exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)
        self.rabbit = OwnRabbit(workdir / "rabbitmq")
        self.redis = OwnRedis(workdir / "redis")
        self.grpc = FakeGoogleGrpc()
        self.gemini = FakeGemini()
        self.stack: Stack | None = None
        self.gateways: list[Gateway] = []
        self.during: tuple[str, float] | None = None
        """What a question asked during the last outage got, and after how long."""

    def start(self) -> None:
        self.rabbit.start()
        self.redis.start()
        self.grpc.start_in_background()
        self.gemini.start_in_background()
        # Latency like a model and a voice, small enough for many turns a second.
        self.gemini.first_token_s = 0.1
        self.gemini.token_interval_s = 0.01
        self.grpc.delay_s = 0.05
        self.grpc.synthesize_s = (0.0, 0.1)
        self.stack = Stack(
            f"faults{uuid.uuid4().hex[:8]}", self.grpc, self.gemini, self.workdir / "logs"
        )
        self.stack.env |= {
            "AMQP_URL": self.rabbit.url,
            "REDIS_URL": self.redis.url,
            "TURN_TIMEOUT_S": str(self.timing.turn_timeout_s),
            # All watches present the one test token: one identity asking far more than
            # a person would. Backpressure (OVERLOAD_QUEUE_DEPTH) stays as deployed.
            "QUESTIONS_PER_MINUTE": "0",
            "MAX_CONNECTIONS_PER_IDENTITY": "0",
        }
        # All at once, then waited for: starting them one by one costs 15 s here.
        workers = [self.stack.start(worker) for worker in WORKERS]
        self.gateways = [Gateway(name, free_port()) for name in ("ga", "gb")]
        gateways = [self._spawn_gateway(gateway) for gateway in self.gateways]
        for worker in workers:
            worker.wait_for_log("worker ready")
        for gateway, service in zip(self.gateways, gateways, strict=True):
            self._wait_healthy(gateway, service)

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop_all()
        self.grpc.stop_background()
        self.gemini.stop_background()
        self.redis.stop()
        self.rabbit.stop()

    def services(self) -> dict[str, Service]:
        assert self.stack is not None
        return self.stack.services

    def dead_services(self) -> list[str]:
        """Services that exited by themselves (the suite restarts only what it killed)."""
        return [n for n, s in self.services().items() if s.process.poll() is not None]

    # The faults. Each returns the moment recovery is counted from.

    async def kill_worker(self, module: str) -> float:
        assert self.stack is not None
        killed = self.services()[module]
        killed.process.kill()
        at = time.monotonic()
        await asyncio.to_thread(killed.stop)  # reaps it, closes its log
        await asyncio.sleep(self.timing.restart_after_s)
        await asyncio.to_thread(self.stack.start_worker, module)
        return at

    async def kill_gateway(self) -> float:
        """SIGKILL gateway "ga" with its watches connected; they move to "gb". It is
        started again on its port, under its id, after `restart_after_s`."""
        gateway = self.gateways[0]
        killed = self.services()[gateway.name]
        killed.process.kill()
        at = time.monotonic()
        await asyncio.to_thread(killed.stop)
        await asyncio.sleep(self.timing.restart_after_s)
        await asyncio.to_thread(self._start_gateway_on, gateway)
        return at

    def _start_gateway_on(self, gateway: Gateway) -> None:
        self._wait_healthy(gateway, self._spawn_gateway(gateway))

    def _spawn_gateway(self, gateway: Gateway) -> Service:
        """A gateway on its port, under its id (so it takes its reply queue over)."""
        assert self.stack is not None
        return self.stack.start(
            "gateway", gateway.name, GATEWAY_PORT=str(gateway.port), GATEWAY_ID=gateway.name
        )

    def _wait_healthy(self, gateway: Gateway, service: Service) -> None:
        deadline = time.monotonic() + 30
        url = f"http://127.0.0.1:{gateway.port}/healthz"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                if service.process.poll() is not None:
                    raise RuntimeError(service.log_path.read_text()[-3000:]) from None
            time.sleep(0.1)
        raise TimeoutError(f"gateway {gateway.name} did not come back")

    async def broker_outage(self) -> float:
        await asyncio.to_thread(self.rabbit.stop)
        await self._outage()
        await asyncio.to_thread(self.rabbit.start)
        return time.monotonic()

    async def redis_outage(self) -> float:
        self.redis.kill()
        await self._outage()
        await asyncio.to_thread(self.redis.start)
        return time.monotonic()

    async def _outage(self) -> None:
        """While a dependency is down, a watch that connects now asks one question (the
        load's watches may all be waiting for answers the outage holds up)."""
        probe = asyncio.create_task(self.ask_once(self.gateways[-1], "Frage in der Störung"))
        await asyncio.sleep(self.timing.outage_s)
        self.during = await probe

    async def ask_once(self, gateway: Gateway, text: str) -> tuple[str, float]:
        """One question on a new connection: "answered" or the error's code (or what
        went wrong with the connection), and the seconds it took."""
        started = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(ws_url(gateway.port)) as ws,
            ):
                await ws.send_str(json.dumps({"type": "text", "message": text}))
                message = await ws.receive(timeout=self.timing.turn_timeout_s + 5)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return type(exc).__name__, time.monotonic() - started
        if message.type is not aiohttp.WSMsgType.TEXT:
            return message.type.name, time.monotonic() - started
        frame = json.loads(message.data)
        outcome = "answered" if "text_response" in frame else str(frame.get("code"))
        return outcome, time.monotonic() - started

    async def run(self, fault: Fault) -> Figures:
        """The load around one fault, and its figures."""
        t = self.timing
        record = Record()
        self.during = None
        stop = asyncio.Event()
        shape = LoadShape(lost_after_s=t.turn_timeout_s + 5.0)
        started = time.monotonic()
        load = asyncio.create_task(run_load(self.gateways, ws_url, t.watches, shape, record, stop))
        try:
            await asyncio.sleep(t.warmup_s)
            at = await fault.act(self)

            def recovered() -> Question | None:
                return record.answered_after(at, lambda q: fault.needs(q, record, at))

            bound = at + t.recovery_bound_s
            while recovered() is None and time.monotonic() < bound and not load.done():
                await asyncio.sleep(0.1)
            await asyncio.sleep(t.steady_s)
        finally:
            stop.set()
            await asyncio.wait_for(load, shape.lost_after_s + 10.0)
        first = recovered()
        return Figures.of(
            fault.name,
            t.watches,
            record,
            recovery_s=None if first is None or first.ended is None else first.ended - at,
            seconds=time.monotonic() - started,
            during=self.during,
        )


def _worker(module: str) -> Callable[[FaultStack], Awaitable[float]]:
    return lambda stack: stack.kill_worker(module)


FAULTS = {
    "stt_worker": Fault("SIGKILL stt_worker", _worker("stt_worker"), _spoken),
    "llm_worker": Fault("SIGKILL llm_worker", _worker("llm_worker")),
    "tts_worker": Fault("SIGKILL tts_worker", _worker("tts_worker")),
    "gateway": Fault("SIGKILL a gateway", FaultStack.kill_gateway, _moved),
    "rabbitmq": Fault("RabbitMQ stopped, started", FaultStack.broker_outage),
    "redis": Fault("Redis stopped, started", FaultStack.redis_outage),
}
"""Every scenario of the suite, in the order the report lists them."""

ALLOWED_ERRORS = frozenset({"unavailable", "timeout", "overloaded", "shutting_down"})
"""The specific errors a fault may cost a question; anything else (`internal` above
all) is a bug."""


async def run_all(workdir: Path, timing: Timing, names: list[str] | None = None) -> list[Figures]:
    """Every scenario (or those named) one after another on one stack."""
    stack = FaultStack(workdir, timing)
    try:
        await asyncio.to_thread(stack.start)
        return [await stack.run(FAULTS[name]) for name in names or list(FAULTS)]
    finally:
        await asyncio.to_thread(stack.close)


def table(figures: list[Figures]) -> str:
    """The README's table."""
    lines = [
        "| fault | watches | turns | answered | errors by code | lost | lost with the gateway "
        "| duplicates | connections dropped | recovery s | a new question during the outage |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        recovery = "—" if f.recovery_s is None else f"{f.recovery_s:.1f}"
        answered = f"{f.answered}" + (f" ({f.resumed} by resume)" if f.resumed else "")
        with_gateway = f"{f.lost_with_gateway + f.unnumbered}"
        if f.unnumbered:
            with_gateway += (
                f" ({f.unnumbered} not yet numbered, {f.unnumbered_protocol_1} on protocol 1)"
            )
        lines.append(
            f"| {f.scenario} | {f.watches} | {f.turns} | {answered} | {f.errors_text()} "
            f"| {f.lost} | {with_gateway} | {f.duplicates} | {f.drops} | {recovery} "
            f"| {'—' if f.during is None else f'{f.during[0]} after {f.during[1]:.1f} s'} |"
        )
    return "\n".join(lines)
