"""`uhrwerk dlq`: look into the dead-letter queues and replay what is in them.

Reading never consumes: the messages are fetched with `basic.get` without ack, in
queue order, and all that were not replayed go back when the channel closes.

A replay republishes the dead copy to its stage's work queue, waits for the broker's
confirm, and only then acks the dead copy; a replay that dies in between leaves the
dead copy where it was. A Redis mark, set between the confirm and the ack, tells the
next replay that this copy has been sent already, so it is then only removed, not sent
twice.

Two things would make a replayed turn vanish without being redone, so replay changes
them:

* The deadline. A worker acks a turn past its deadline without doing it, and by the
  time an operator replays, every dead-lettered turn is long past its own (the watch
  has had its error reply). Refusing expired turns would refuse nearly all of them, so
  a replay gives the turn a fresh deadline, `TURN_TIMEOUT_S` (or `--deadline-s`) from
  now. Its answer goes where every answer goes: the result store, and the gateway
  whose reply queue it names if that one still runs (it drops a reply for a turn it no
  longer waits for).
* The ledger. A worker that fails a turn marks it done before acking it (so a
  redelivery does not fail it again), and the ledger would ack the replay as a
  duplicate. A replay removes that stage's mark for the turn's chunk (`seq`) first;
  without Redis there is no replay.

A message that does not decode as its stage's event (the malformed ones) is not
replayed: the worker would dead-letter it again at once.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import redis.asyncio as redis
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from redis.exceptions import RedisError

from shared.broker import ROUTES
from shared.contracts import Envelope, Stage, decode, encode
from shared.errors import ContractError
from shared.ledger import TurnLedger
from shared.redis_client import redis_client
from shared.settings import CommonSettings
from shared.topology import DEAD_REASON_HEADER, Topology

DEAD_AT_HEADER = "x-uhrwerk-dead-at"
"""Unix time at which a worker dead-lettered the message (set by `dead_letter`)."""

REPLAYED_HEADER = "x-uhrwerk-replayed"
"""How often a message has been replayed from a dead-letter queue."""

DEAD_HEADERS = (DEAD_REASON_HEADER, DEAD_AT_HEADER, "x-death", "x-delivery-count")
"""What the dead-lettering added; a replayed message goes out without it."""

REPLAY_MARK_TTL_S = 7 * 24 * 3600
"""How long a sent replay is remembered (longer than anyone leaves a copy in the queue)."""

EVENT_TYPES: dict[Stage, type[Envelope]] = {stage: kind for kind, stage in ROUTES.items()}
"""The event each stage's queue carries."""


class DlqError(Exception):
    """An operator-facing failure: its text is printed as is."""


class BrokerUnreachable(DlqError):
    """RabbitMQ did not answer."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter queue, as the CLI shows it."""

    index: int
    """Position in the queue, from 0."""
    turn_id: str
    session_id: str
    seq: int
    reason_code: str
    """The error code (`internal`, `backend_error`, ...), `malformed`, or the broker's
    reason (`delivery_limit`, `rejected`) for messages it dead-lettered itself."""
    reason_detail: str
    dead_at: float | None
    """When it was dead-lettered (Unix time), if known."""
    size: int
    """Bytes in the body."""
    event: Envelope | None
    """The decoded event; None when the message is not a valid one for its stage."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def reason_of(headers: dict[str, Any]) -> tuple[str, str]:
    """(code, detail) of why a message is dead: the worker's header, else `x-death`."""
    reason = headers.get(DEAD_REASON_HEADER)
    if reason is not None:
        code, sep, detail = _text(reason).partition(": ")
        # The worker writes "code: detail" for a failed turn, the bare detail for a
        # message it could not decode.
        if sep and code.replace("_", "").isalnum() and code.islower():
            return code, detail
        return "malformed", _text(reason)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        death = deaths[0]
        return _text(death.get("reason", "unknown")), f"from {_text(death.get('queue', '?'))}"
    return "unknown", ""


def dead_at_of(headers: dict[str, Any]) -> float | None:
    value = headers.get(DEAD_AT_HEADER)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        when = deaths[0].get("time")
        if isinstance(when, datetime.datetime):
            return when.timestamp()
    return None


def describe(index: int, message: AbstractIncomingMessage, stage: Stage) -> DeadLetter:
    headers = dict(message.headers or {})
    code, detail = reason_of(headers)
    try:
        event: Envelope | None = decode(message, EVENT_TYPES[stage])
    except ContractError:
        event = None
    turn_id = (
        event.turn_id if event else _text(message.correlation_id or headers.get("turn_id", ""))
    )
    return DeadLetter(
        index=index,
        turn_id=turn_id,
        session_id=event.session_id if event else _text(headers.get("session_id", "")),
        seq=event.seq if event else 0,
        reason_code=code,
        reason_detail=detail,
        dead_at=dead_at_of(headers),
        size=len(message.body),
        event=event,
    )


def jsonable(value: Any) -> Any:
    """Header values as JSON: bytes as text when they are, else summarised."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return summarise(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def summarise(data: bytes) -> dict[str, Any]:
    """Audio (or any binary body) as its size, hash and first bytes, never the bytes."""
    return {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "head_hex": data[:8].hex(),
    }


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "?"
    at = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def age(timestamp: float | None, now: float | None = None) -> str:
    if timestamp is None:
        return "?"
    seconds = int((time.time() if now is None else now) - timestamp)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def detail_json(dead: DeadLetter, message: AbstractIncomingMessage) -> dict[str, Any]:
    """`dlq show`: the message's properties, headers and envelope; audio summarised."""
    envelope: dict[str, Any] | None = None
    if dead.event is not None:
        envelope = {"kind": dead.event.KIND}
        for f in dataclasses.fields(dead.event):
            value = getattr(dead.event, f.name)
            envelope[f.name] = summarise(value) if isinstance(value, bytes) else value
    body: Any
    if dead.event is None:
        try:
            body = bytes(message.body).decode("utf-8")
        except UnicodeDecodeError:
            body = summarise(bytes(message.body))
    else:
        body = envelope[dead.event.BODY] if envelope else None
    return {
        "index": dead.index,
        "turn_id": dead.turn_id,
        "session_id": dead.session_id,
        "seq": dead.seq,
        "reason": {"code": dead.reason_code, "detail": dead.reason_detail},
        "dead_at": when(dead.dead_at),
        "age": age(dead.dead_at),
        "size": dead.size,
        "properties": {
            "message_id": message.message_id,
            "correlation_id": message.correlation_id,
            "reply_to": message.reply_to,
            "content_type": message.content_type,
        },
        "headers": jsonable(dict(message.headers or {})),
        "envelope": envelope,
        "body": body if envelope is None else None,
    }


@dataclass
class Dlq:
    """The dead-letter queue of one stage, on an open channel."""

    channel: AbstractChannel
    topology: Topology
    stage: Stage
    queue: AbstractQueue

    async def fetch(self) -> list[AbstractIncomingMessage]:
        """Every message now in the queue, in order, held unacked (none consumed)."""
        count = self.queue.declaration_result.message_count or 0
        messages: list[AbstractIncomingMessage] = []
        for _ in range(count):
            message = await self.queue.get(no_ack=False, fail=False)
            if message is None:
                break
            messages.append(message)
        return messages


@asynccontextmanager
async def open_dlq(settings: CommonSettings, stage: Stage) -> AsyncIterator[Dlq]:
    """The stage's dead-letter queue; unacked messages return to it on leaving."""
    topology = Topology(settings.topology_prefix)
    try:
        connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
        raise BrokerUnreachable(f"RabbitMQ unreachable: {exc or type(exc).__name__}") from exc
    async with connection:
        # Confirms and mandatory routing: a replay returns only when the work queue has it.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            queue = await channel.declare_queue(topology.dead_queue(stage), passive=True)
        except aio_pika.exceptions.ChannelClosed as exc:
            raise DlqError(
                f"no queue {topology.dead_queue(stage)!r} (is TOPOLOGY_PREFIX right?)"
            ) from exc
        yield Dlq(channel, topology, stage, queue)


async def counts(settings: CommonSettings) -> dict[Stage, int | None]:
    """Messages per stage's dead-letter queue; None where the queue does not exist."""
    result: dict[Stage, int | None] = {}
    for stage in Stage:
        try:
            async with open_dlq(settings, stage) as dlq:
                result[stage] = dlq.queue.declaration_result.message_count or 0
        except BrokerUnreachable:
            raise
        except DlqError:
            result[stage] = None
    return result


async def list_stage(settings: CommonSettings, stage: Stage) -> list[DeadLetter]:
    async with open_dlq(settings, stage) as dlq:
        return [describe(i, m, stage) for i, m in enumerate(await dlq.fetch())]


async def show(
    settings: CommonSettings, stage: Stage, turn_id: str | None, index: int | None
) -> list[dict[str, Any]]:
    """The messages of `turn_id` (all its chunks), or the one at `index`."""
    async with open_dlq(settings, stage) as dlq:
        found = []
        for i, message in enumerate(await dlq.fetch()):
            dead = describe(i, message, stage)
            if (index is not None and i == index) or (
                turn_id is not None and dead.turn_id == turn_id
            ):
                found.append(detail_json(dead, message))
        return found


@dataclass(frozen=True)
class ReplayOutcome:
    """What replay did with one dead-lettered message."""

    dead: DeadLetter
    action: str
    """`replayed`, `would replay` (dry run), `removed` (sent by an earlier replay that
    died before its ack), or `refused`."""
    why: str = ""


def replay_mark(stage: Stage, message: AbstractIncomingMessage, prefix: str) -> str:
    """Names one dead copy: the same message dead-lettered again is a new copy."""
    dead_at = dead_at_of(dict(message.headers or {}))
    identity = f"{message.message_id}|{dead_at}|{len(message.body)}"
    digest = hashlib.sha256(identity.encode() + bytes(message.body)).digest()
    return f"{prefix}:dlq-replayed:{stage.value}:{base64.b32encode(digest[:15]).decode()}"


def replay_message(
    message: AbstractIncomingMessage, event: Envelope, deadline_ms: int
) -> aio_pika.Message:
    """The work message again, with a fresh deadline and without the dead-letter headers."""
    # `repeat`: the stage may have published part of its output before it failed (a
    # streamed answer's first sentences); the next stage looks each chunk up.
    fresh = dataclasses.replace(event, deadline_ms=deadline_ms, repeat=True)
    out = encode(fresh)
    headers = dict(message.headers or {})
    extra = {
        k: v
        for k, v in headers.items()
        if k not in DEAD_HEADERS
        and not k.startswith(("x-first-death-", "x-last-death-"))
        and k not in (out.headers or {})
        and k != REPLAYED_HEADER
    }
    replayed = headers.get(REPLAYED_HEADER)
    count = replayed + 1 if isinstance(replayed, int) and not isinstance(replayed, bool) else 1
    out.headers = {**(out.headers or {}), **extra, REPLAYED_HEADER: count}
    return out


async def replay(
    settings: CommonSettings,
    stage: Stage,
    turn_id: str | None,
    *,
    dry_run: bool,
    deadline_s: float | None = None,
) -> list[ReplayOutcome]:
    """Replay the messages of `turn_id` (None: all), in queue order."""
    client = redis_client(settings.redis_url)
    outcomes: list[ReplayOutcome] = []
    try:
        async with open_dlq(settings, stage) as dlq:
            replayer = Replayer(
                redis=client,
                ledger=TurnLedger(client, settings.topology_prefix),
                exchange=await dlq.channel.get_exchange(dlq.topology.exchange, ensure=False),
                stage=stage,
                prefix=settings.topology_prefix,
                budget_s=deadline_s if deadline_s is not None else settings.turn_timeout_s,
                dry_run=dry_run,
            )
            for i, message in enumerate(await dlq.fetch()):
                dead = describe(i, message, stage)
                if turn_id is None or dead.turn_id == turn_id:
                    outcomes.append(await replayer.one(message, dead))
    finally:
        await client.aclose()
    return outcomes


@dataclass(frozen=True)
class Replayer:
    """Sends dead copies of one stage back to its work queue, one at a time."""

    redis: redis.Redis
    ledger: TurnLedger
    exchange: AbstractExchange
    stage: Stage
    prefix: str
    budget_s: float
    """The replayed turn's deadline, in seconds from the moment it is sent."""
    dry_run: bool

    async def one(self, message: AbstractIncomingMessage, dead: DeadLetter) -> ReplayOutcome:
        if dead.event is None:
            why = f"not a valid {self.stage.value} message: {dead.reason_detail}"
            return ReplayOutcome(dead, "refused", why)
        mark = replay_mark(self.stage, message, self.prefix)
        try:
            sent_before = bool(await self.redis.exists(mark))
        except RedisError as exc:
            raise DlqError(f"Redis unavailable, no replay (the ledger needs it): {exc}") from exc
        if sent_before:
            if self.dry_run:
                return ReplayOutcome(dead, "would remove", "replayed before")
            await message.ack()
            return ReplayOutcome(dead, "removed", "replayed before")
        if self.dry_run:
            return ReplayOutcome(dead, "would replay")
        try:
            # Otherwise the worker acks the replay as a duplicate of the turn it failed.
            await self.ledger.forget(self.stage, dead.event.turn_id, dead.event.seq)
        except RedisError as exc:
            raise DlqError(f"Redis unavailable, no replay (the ledger needs it): {exc}") from exc
        deadline_ms = int((time.time() + self.budget_s) * 1000)
        await self.exchange.publish(
            replay_message(message, dead.event, deadline_ms),
            routing_key=self.stage.value,
            mandatory=True,
        )
        # Confirmed: the work queue has it. Remember that before the ack, so a replay
        # that dies now leaves a copy the next replay removes instead of sending again.
        # Without Redis now, the ack follows at once: only a crash in this instant doubles it.
        with contextlib.suppress(RedisError):
            await self.redis.set(mark, b"1", ex=REPLAY_MARK_TTL_S)
        await message.ack()
        return ReplayOutcome(dead, "replayed")


def to_json(dead: DeadLetter) -> dict[str, Any]:
    """One `dlq list --json` line."""
    return {
        "index": dead.index,
        "turn_id": dead.turn_id,
        "session_id": dead.session_id,
        "seq": dead.seq,
        "reason_code": dead.reason_code,
        "reason_detail": dead.reason_detail,
        "dead_at": dead.dead_at,
        "size": dead.size,
    }


def print_list(deads: list[DeadLetter], as_json: bool) -> None:
    if as_json:
        for dead in deads:
            print(json.dumps(to_json(dead), ensure_ascii=False))
        return
    for dead in deads:
        print(
            f"{dead.index:>4}  {dead.turn_id}  seq {dead.seq}  {when(dead.dead_at)}"
            f" ({age(dead.dead_at)} ago)  {dead.size} B  {dead.reason_code}: {dead.reason_detail}"
        )


async def dlq_command(args: Any, settings: CommonSettings) -> int:
    """Run `uhrwerk dlq ACTION`; the arguments come from `shared.cli`."""
    try:
        if args.action == "list" and args.stage is None:
            per_stage = await counts(settings)
            for stage, count in per_stage.items():
                shown = "no queue" if count is None else str(count)
                print(f"{stage.value}\t{shown}")
            if all(count is None for count in per_stage.values()):
                print(
                    f"uhrwerk dlq: no queues under {settings.topology_prefix!r}"
                    " (is TOPOLOGY_PREFIX right?)",
                    file=sys.stderr,
                )
                return 1
            return 0
        stage = Stage(args.stage)
        if args.action == "list":
            print_list(await list_stage(settings, stage), args.json)
            return 0
        if args.action == "show":
            if (args.turn_id is None) == (args.index is None):
                print("uhrwerk dlq show: give a TURN_ID or --index N", file=sys.stderr)
                return 2
            found = await show(settings, stage, args.turn_id, args.index)
            if not found:
                print("uhrwerk dlq show: no such message", file=sys.stderr)
                return 1
            for item in found:
                print(json.dumps(item, ensure_ascii=False, indent=2))
            return 0
        if (args.turn_id is None) == (not args.all):
            print("uhrwerk dlq replay: give a TURN_ID or --all", file=sys.stderr)
            return 2
        outcomes = await replay(
            settings, stage, args.turn_id, dry_run=args.dry_run, deadline_s=args.deadline_s
        )
    except DlqError as exc:
        print(f"uhrwerk dlq: {exc}", file=sys.stderr)
        return 2
    if not outcomes:
        print("uhrwerk dlq replay: no such message", file=sys.stderr)
        return 1
    for outcome in outcomes:
        why = f" ({outcome.why})" if outcome.why else ""
        print(f"{outcome.action}\t{outcome.dead.turn_id}\tseq {outcome.dead.seq}{why}")
    return 1 if any(o.action == "refused" for o in outcomes) else 0
