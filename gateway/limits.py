"""Admission control: who may connect, who may ask now, and whether the pipeline can
take another turn at all.

Everything here is per gateway process and in memory: with several gateways behind a
balancer each enforces its own limits (a client spread over k gateways gets k times
the rate). That keeps Redis off the hot path and the limits working while Redis is
down; a balancer normally keeps a watch on one gateway anyway.

- `RateLimiter`: a token bucket per identity for questions (`QUESTIONS_PER_MINUTE`,
  `QUESTION_BURST`). A refused question says when the next one is allowed.
- `ConnectionCounter`: open WebSockets per gateway, per identity and per address.
- `QueueDepthWatcher`: reads the work queues' depths from the broker every half second,
  so that a turn meets `overloaded` at once when a stage is far behind instead of
  waiting into its timeout (backpressure).
- `IdleSweeper`: closes connections from which nothing came for `IDLE_TIMEOUT_S`.
- `Admission`: the four together, what `gateway.app` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.contracts import Stage
from shared.errors import ErrorCode
from shared.logging import get_logger
from shared.settings import GatewaySettings
from shared.topology import Topology

log = get_logger(__name__)

Clock = Callable[[], float]

IDLE_CLOSE_CODE = 4408
"""WebSocket close code of an idle connection (4000-4999 are the application's; 408 as
in HTTP's Request Timeout). The watch page does not reconnect by itself after it, only
when it is used again."""
REFUSED_CLOSE_CODE = 1013
"""RFC 6455 "Try Again Later": a connection refused by a connection limit, after its
error frame."""


@dataclass(frozen=True)
class Refusal:
    """Why a connection or a question is not taken."""

    code: ErrorCode
    retry_after: float | None = None
    """Seconds until a retry can succeed, where that is known (rate limits)."""


# ---- questions per identity ---------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: `burst` questions at once, refilled at `per_minute`.

    Chosen over a sliding window for its constant memory per identity (two floats) and
    because it lets a watch ask a few questions in quick succession (a follow-up, a
    barge-in) while holding it to the rate over a minute.
    """

    def __init__(self, per_minute: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        """Tokens per second; 0 turns the limiter off."""
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._pruned = clock()

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, otherwise the seconds until a
        token is there again (nothing is taken then)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._prune(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (as good as new), at most once
        per refill period, so memory follows the identities active lately."""
        full_after = self.burst / self.rate
        if now - self._pruned < full_after:
            return
        self._pruned = now
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


# ---- open connections ----------------------------------------------------------------


@dataclass(eq=False)
class Ticket:
    """One admitted connection, counted until `ConnectionCounter.release`."""

    identity: str
    """Empty while unknown (a token still to come in `hello`): counted then only
    against the gateway's and the address's limits."""
    address: str
    last_frame: float
    """When the watch last sent a frame (the idle timeout counts from here)."""
    close: Callable[[], Awaitable[None]]
    """Closes the connection (used when it has been idle too long)."""
    busy: Callable[[], bool] = lambda: False
    """True while the connection waits for an answer: it is not idle then."""
    waited: bool = False
    """The sweeper saw it waiting: once the answer is in, its idle time starts anew."""
    gone: Callable[[], bool] = lambda: False
    """True once the socket is closed: a ticket its handler failed to release (an
    exception on an early path) is released by the sweeper, so no count leaks."""
    released: bool = False


class ConnectionCounter:
    """Open connections per gateway, per identity and per address; 0 means no limit for
    the latter two."""

    def __init__(self, total: int, per_identity: int, per_address: int) -> None:
        self.max_total = total
        self.max_per_identity = per_identity
        self.max_per_address = per_address
        self.tickets: set[Ticket] = set()
        self._identities: dict[str, int] = {}
        self._addresses: dict[str, int] = {}

    def admit(self, ticket: Ticket) -> Refusal | None:
        """Count `ticket` in, or say why not (nothing is counted then)."""
        if len(self.tickets) >= self.max_total:
            return Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
        if self._over(self._identities, ticket.identity, self.max_per_identity):
            return Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
        if self._over(self._addresses, ticket.address, self.max_per_address):
            return Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
        self.tickets.add(ticket)
        _add(self._identities, ticket.identity, 1)
        _add(self._addresses, ticket.address, 1)
        return None

    def identify(self, ticket: Ticket, identity: str) -> Refusal | None:
        """The connection turned out to be `identity` (a token in `hello`): counted
        there from now on, unless that identity already has its maximum."""
        if identity == ticket.identity or ticket.released:
            return None
        if self._over(self._identities, identity, self.max_per_identity):
            return Refusal(ErrorCode.TOO_MANY_CONNECTIONS)
        _add(self._identities, ticket.identity, -1)
        _add(self._identities, identity, 1)
        ticket.identity = identity
        return None

    def release(self, ticket: Ticket) -> None:
        """Count a closed connection out; safe to call twice."""
        if ticket.released or ticket not in self.tickets:
            return
        ticket.released = True
        self.tickets.discard(ticket)
        _add(self._identities, ticket.identity, -1)
        _add(self._addresses, ticket.address, -1)

    def of_identity(self, identity: str) -> int:
        return self._identities.get(identity, 0)

    def of_address(self, address: str) -> int:
        return self._addresses.get(address, 0)

    @staticmethod
    def _over(counts: dict[str, int], key: str, limit: int) -> bool:
        return bool(key) and limit > 0 and counts.get(key, 0) >= limit


def _add(counts: dict[str, int], key: str, delta: int) -> None:
    if not key:
        return  # an identity not known yet
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)  # no empty keys left behind by addresses seen once


# ---- idle connections -----------------------------------------------------------------


class IdleSweeper:
    """Closes connections that sent nothing and had no answer for `timeout_s` (0:
    never), and releases tickets whose socket is gone. Waiting for an answer is not
    idleness; the idle time of one that waited starts when its answer is in (to
    within a round).

    One task looks at every connection a few times per timeout (O(connections) each
    round, a few microseconds per connection) instead of a timer per connection that
    every frame would have to reset. The heartbeat's pongs do not count as frames: a
    page left open is idle even though its browser answers pings.
    """

    def __init__(
        self, counter: ConnectionCounter, timeout_s: float, clock: Clock = time.monotonic
    ) -> None:
        self.counter = counter
        self.timeout_s = timeout_s
        self.interval_s = min(max(timeout_s / 4, 0.05), 5.0) if timeout_s > 0 else 5.0
        self._clock = clock
        self._closing: set[asyncio.Task[None]] = set()

    def idle(self) -> list[Ticket]:
        """The connections idle for too long now; each is reported once."""
        now = self._clock()
        found = []
        for ticket in list(self.counter.tickets):
            if ticket.gone():
                self.counter.release(ticket)
            elif self.timeout_s <= 0 or now - ticket.last_frame < self.timeout_s:
                continue
            elif ticket.busy():  # asked only of the few old enough: it costs more
                ticket.waited = True  # waiting for an answer is not idleness
            elif ticket.waited:
                # Its answer came since the last round: idle from now, so a page is not
                # closed while it still plays a long answer.
                ticket.waited = False
                ticket.last_frame = now
            else:
                ticket.last_frame = math.inf  # closing: not reported again
                found.append(ticket)
        return found

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            for ticket in self.idle():
                log.info("idle connection closed", identity=ticket.identity)
                task = asyncio.ensure_future(ticket.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)


# ---- backpressure ---------------------------------------------------------------------

STAGES_OF_TEXT = (Stage.LLM, Stage.TTS)
STAGES_OF_AUDIO = (Stage.STT, Stage.LLM, Stage.TTS)


class QueueDepthWatcher:
    """Knows how many turns wait in each work queue, read every `interval_s` with
    passive declares on a channel of its own (a failed declare closes only that one).

    It counts *ready* messages, RabbitMQ's `message_count`, which leaves out the
    unacknowledged ones. That is deliberate: a worker holds at most its prefetch
    unacknowledged, and it works on all of them at once (a remote backend runs
    PREFETCH calls in parallel; a local model runs one and holds one more), so the
    unacknowledged messages are the stage's capacity in use, not a queue. Messages are
    left ready only once every consumer's window is full: the ready count is exactly
    the backlog beyond what the stage can work on, and adding consumers x prefetch
    would only shift the threshold by the stage's size. A stage with no consumer at all
    (its workers restarting) fills its ready count and is refused once past the
    threshold, like a slow one.

    When the broker cannot be asked, the depths are unknown and nothing is refused for
    them: publishing fails on its own then (`unavailable`).
    """

    def __init__(
        self,
        topology: Topology,
        threshold: int,
        interval_s: float = 0.5,
        clock: Clock = time.monotonic,
    ) -> None:
        self.topology = topology
        self.threshold = threshold
        """Ready messages in one work queue at which new turns are refused; 0: never."""
        self.interval_s = interval_s
        self.depths: dict[Stage, int] = {}
        """Ready messages per stage as last read; empty while unknown."""
        self.read_at: float | None = None
        self._clock = clock
        self._channel: AbstractChannel | None = None

    def overloaded(self, stages: Iterable[Stage]) -> Stage | None:
        """The first of `stages` whose queue is at the threshold, or None."""
        if self.threshold <= 0:
            return None
        for stage in stages:
            if self.depths.get(stage, 0) >= self.threshold:
                return stage
        return None

    async def read(self, connection: AbstractRobustConnection) -> None:
        """Read every work queue's depth once; on failure the depths become unknown."""
        try:
            async with asyncio.timeout(max(self.interval_s * 4, 2.0)):
                depths = await self._read(connection)
        except (
            aio_pika.exceptions.AMQPError,
            RuntimeError,  # ChannelInvalidStateError while the connection reopens
            ConnectionError,
            OSError,
            TimeoutError,
        ) as exc:
            if self.depths:
                log.warning("work queue depths unknown", error=repr(exc))
            self.depths = {}
            if self._channel is not None:  # a failed declare closed it; do not reopen it
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await self._channel.close()
            self._channel = None
            return
        was = self.overloaded(Stage)
        self.depths = depths
        self.read_at = self._clock()
        now = self.overloaded(Stage)
        if now != was:
            log.warning(
                "pipeline overloaded" if now else "pipeline keeping up",
                stage=now.value if now else None,
                depths={s.value: d for s, d in depths.items()},
                threshold=self.threshold,
            )

    async def _read(self, connection: AbstractRobustConnection) -> dict[Stage, int]:
        if self._channel is None or self._channel.is_closed:
            self._channel = await connection.channel(publisher_confirms=False)
        # The AMQP channel underneath: aio-pika's robust channel answers a passive
        # declare of a queue it knows from its cache, with the count of back then.
        channel = await self._channel.get_underlay_channel()
        depths = {}
        for stage in Stage:
            ok = await channel.queue_declare(self.topology.queue(stage), passive=True)
            depths[stage] = ok.message_count or 0
        return depths

    async def run(self, connection: AbstractRobustConnection) -> None:
        while True:
            await self.read(connection)
            await asyncio.sleep(self.interval_s)


# ---- all together ---------------------------------------------------------------------


@dataclass
class Admission:
    """The gateway's limits; `gateway.app` asks it before it takes a connection or a
    turn and tells it about frames and closed connections."""

    settings: GatewaySettings
    clock: Clock = time.monotonic
    rate: RateLimiter = field(init=False)
    connections: ConnectionCounter = field(init=False)
    idle: IdleSweeper = field(init=False)
    queues: QueueDepthWatcher = field(init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.rate = RateLimiter(s.questions_per_minute, s.question_burst, self.clock)
        self.connections = ConnectionCounter(
            s.max_connections, s.max_connections_per_identity, s.max_connections_per_address
        )
        self.idle = IdleSweeper(self.connections, s.idle_timeout_s, self.clock)
        self.queues = QueueDepthWatcher(
            Topology(s.topology_prefix), s.overload_queue_depth, s.overload_check_s, self.clock
        )

    def start(self, connection: AbstractRobustConnection) -> None:
        """Start the background tasks: the queue depth reader and the idle sweeper."""
        if self.settings.overload_queue_depth > 0:
            self._spawn(self.queues.run(connection))
        self._spawn(self.idle.run())

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def connect(
        self,
        identity: str,
        address: str,
        close: Callable[[], Awaitable[None]],
        busy: Callable[[], bool],
        gone: Callable[[], bool],
    ) -> Ticket | Refusal:
        """Count a new connection in (`identity` empty while unknown), or the refusal
        to send before closing it."""
        ticket = Ticket(identity, address, self.clock(), close, busy=busy, gone=gone)
        refusal = self.connections.admit(ticket)
        if refusal is not None:
            log.warning(
                "connection refused",
                identity=identity,
                remote=address,
                open_total=len(self.connections.tickets),
                open_identity=self.connections.of_identity(identity),
                open_address=self.connections.of_address(address),
            )
            return refusal
        return ticket

    def identify(self, ticket: Ticket, identity: str) -> Refusal | None:
        refusal = self.connections.identify(ticket, identity)
        if refusal is not None:
            log.warning("connection refused", identity=identity, remote=ticket.address)
        return refusal

    def disconnect(self, ticket: Ticket) -> None:
        self.connections.release(ticket)

    def frame(self, ticket: Ticket) -> None:
        """A frame came from the watch: it is not idle."""
        ticket.last_frame = self.clock()

    def turn(self, identity: str, spoken: bool) -> Refusal | None:
        """May `identity` start a turn now? Overload is checked first, so a question
        refused for it costs no token of the identity's rate."""
        stage = self.queues.overloaded(STAGES_OF_AUDIO if spoken else STAGES_OF_TEXT)
        if stage is not None:
            log.warning("turn refused, pipeline overloaded", stage=stage.value)
            return Refusal(ErrorCode.OVERLOADED)
        wait = self.rate.take(identity)
        if wait > 0:
            retry_after = math.ceil(wait)
            log.info("turn refused, rate limited", identity=identity, retry_after=retry_after)
            return Refusal(ErrorCode.RATE_LIMITED, retry_after)
        return None

    def report(self) -> dict[str, object]:
        """For /healthz."""
        return {
            "connections": len(self.connections.tickets),
            "queue_depths": {s.value: d for s, d in self.queues.depths.items()},
            "overloaded": self.queues.overloaded(Stage) is not None,
        }
