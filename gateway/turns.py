"""Turns in flight: which connection asked, when it gives up, which chunks it has had.

An answer arrives as one reply per sentence (`seq` 0, 1, …, the last `final`), from
several tts replicas in any order and, after a worker crash or broker failover,
possibly twice. Each is matched to its turn by `turn_id` (the AMQP correlation id),
held in a reorder buffer until the sentences before it are out, and sent exactly
once; a turn is complete only when every `seq` up to the final one has arrived.
Chunks of a turn that is finished, cancelled, timed out or whose watch disconnected
are dropped here.

What the watch gets depends on its protocol: protocol 2 hears each sentence as soon as
it is its turn (`sentence` + MP3, then `done`); protocol 1 (the seed's) gets one reply
with the whole text and the sentences' MP3s joined into one file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import INVALID_SPAN, Span

from gateway import frames
from shared import mp3, observe, tracing
from shared.contracts import Heard, Reply
from shared.errors import MESSAGES, ErrorCode
from shared.logging import get_logger

log = get_logger(__name__)


class Client(Protocol):
    """The watch's side of a connection."""

    async def send(self, frame: str) -> None: ...

    async def send_with_audio(self, frame: str, audio: bytes) -> None:
        """`frame`, then `audio` as one binary frame, with nothing in between."""
        ...


@dataclass
class PendingTurn:
    turn_id: str
    session_id: str
    identity: str
    connection_id: str
    client: Client
    protocol: int = 1
    voice: bool = False
    """A spoken question: protocol 2 gets its transcript before the answer."""
    started: float = field(default_factory=time.perf_counter)
    timer: asyncio.TimerHandle | None = None
    next_seq: int = 0
    """The sentence the watch gets next."""
    final_seq: int | None = None
    """The last sentence's number, once its chunk has arrived."""
    waiting: dict[int, Reply] = field(default_factory=dict)
    """Chunks that arrived before an earlier one."""
    texts: list[str] = field(default_factory=list)
    """The sentences sent so far, in order."""
    audio: list[bytes] = field(default_factory=list)
    """Protocol 1: the sentences' MP3s, joined when the last is in."""
    transcript: str = ""
    transcript_sent: bool = False
    """Protocol 2: the `transcript` frame went out (from `Heard`, or with the first
    sentence if that came first)."""
    timings: dict[str, float] = field(default_factory=dict)
    memory: str = ""
    first_audio_ms: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    span: Span = INVALID_SPAN
    """The turn's trace span (`shared.tracing`), ended with the turn; invalid when off."""

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def spoken(self) -> str:
        """The answer as far as the watch has it."""
        return " ".join(self.texts)

    def report(self) -> dict[str, Any]:
        """Timings for the watch: per stage, first audio and total, memory status."""
        timings: dict[str, Any] = {k: round(v, 1) for k, v in self.timings.items()}
        if self.first_audio_ms is not None:
            timings["first_audio"] = self.first_audio_ms
        timings["total"] = self.elapsed_ms()
        if self.memory:
            timings["memory"] = self.memory
        return timings


OnFailed = Callable[[PendingTurn], Awaitable[None]]


class PendingTurns:
    def __init__(self, on_failed: OnFailed | None = None) -> None:
        """`on_failed` runs for each turn that ends in an error or a timeout."""
        self._turns: dict[str, PendingTurn] = {}
        self._on_failed = on_failed
        self._background: set[asyncio.Task[None]] = set()
        self._none_left = asyncio.Event()
        self._none_left.set()

    async def none_left(self) -> None:
        """Returns once no turn is in flight (a draining gateway waits for this)."""
        await self._none_left.wait()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def __len__(self) -> int:
        return len(self._turns)

    def count_for(self, connection_id: str) -> int:
        return sum(1 for t in self._turns.values() if t.connection_id == connection_id)

    def get(self, turn_id: str) -> PendingTurn | None:
        return self._turns.get(turn_id)

    def ids(self) -> list[str]:
        return list(self._turns)

    def of_connection(self, connection_id: str) -> list[str]:
        return [t.turn_id for t in self._turns.values() if t.connection_id == connection_id]

    def add(self, turn: PendingTurn, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        turn.timer = loop.call_later(timeout_s, self._expire, turn.turn_id)
        self._turns[turn.turn_id] = turn
        self._none_left.clear()

    def _finish(self, turn_id: str) -> PendingTurn | None:
        turn = self._turns.pop(turn_id, None)
        if turn is not None and turn.timer is not None:
            turn.timer.cancel()
        if not self._turns:
            self._none_left.set()
        return turn

    def _expire(self, turn_id: str) -> None:
        turn = self._finish(turn_id)
        if turn is None:
            return
        log.warning("turn timed out", turn_id=turn_id, session_id=turn.session_id)
        observe.GATEWAY_TURNS.labels("timeout").inc()
        tracing.end_turn(turn.span, "timeout", ErrorCode.TIMEOUT.value)
        frame = frames.error(ErrorCode.TIMEOUT, turn_id=turn_id, protocol=turn.protocol)
        self._spawn(_quietly(turn.client.send(frame)))
        if self._on_failed is not None:
            self._spawn(self._on_failed(turn))

    def fail(self, turn_id: str) -> None:
        """Forget a turn that could not be published (its error is sent by the caller)."""
        turn = self._finish(turn_id)
        if turn is not None:
            observe.GATEWAY_TURNS.labels("unpublished").inc()
            tracing.end_turn(turn.span, "unpublished", ErrorCode.UNAVAILABLE.value)

    async def cancel(self, turn_id: str, outcome: str = "cancelled") -> PendingTurn | None:
        """Barge-in: end the turn now; nothing of it is sent after this returns. The
        turn, with what the watch was sent of it, or None if it had already ended.
        `outcome` is its trace span's: "handed_over" when a draining gateway lets go
        of a turn that goes on in the pipeline, to be resumed elsewhere."""
        turn = self._turns.get(turn_id)
        if turn is None:
            return None
        async with turn.lock:  # a sentence being sent is sent whole, then no more
            ended = self._finish(turn_id)
        if ended is not None:
            tracing.end_turn(ended.span, outcome)
        return ended

    async def deliver(self, reply: Reply) -> bool:
        """Pass a chunk on to the watch that asked, in order; False if it was dropped."""
        turn = self._turns.get(reply.turn_id)
        if turn is None:
            log.info("late reply dropped", turn_id=reply.turn_id, seq=reply.seq)
            return False
        async with turn.lock:
            if self._turns.get(reply.turn_id) is not turn:
                log.info("late reply dropped", turn_id=reply.turn_id, seq=reply.seq)
                return False
            if reply.is_error:
                await self._fail(turn, reply)
                return True
            if reply.seq < turn.next_seq or reply.seq in turn.waiting:
                log.info("duplicate chunk dropped", turn_id=reply.turn_id, seq=reply.seq)
                return False
            turn.waiting[reply.seq] = reply
            if reply.final:
                turn.final_seq = reply.seq
            while turn.next_seq in turn.waiting:
                await self._send_chunk(turn, turn.waiting.pop(turn.next_seq))
                turn.next_seq += 1
            if turn.final_seq is not None and turn.next_seq > turn.final_seq:
                self._finish(turn.turn_id)
                await self._send_done(turn)
        return True

    async def heard(self, event: Heard) -> None:
        """The stt stage's transcript, ahead of the answer: protocol 2 shows it now."""
        turn = self._turns.get(event.turn_id)
        if turn is None:
            return
        async with turn.lock:
            if self._turns.get(event.turn_id) is turn:
                await self._send_transcript(turn, event.text)

    async def _send_transcript(self, turn: PendingTurn, text: str) -> None:
        turn.transcript = turn.transcript or text
        if turn.protocol >= 2 and turn.voice and not turn.transcript_sent:
            turn.transcript_sent = True
            await _quietly(turn.client.send(frames.transcript(turn.turn_id, turn.transcript)))

    async def _fail(self, turn: PendingTurn, reply: Reply) -> None:
        self._finish(turn.turn_id)
        observe.GATEWAY_TURNS.labels("failed").inc()
        turn.timings |= reply.timings
        turn.memory = reply.memory or turn.memory
        frame = frames.error(
            reply.error_code or ErrorCode.INTERNAL,
            reply.error_message or MESSAGES[ErrorCode.INTERNAL],
            turn_id=turn.turn_id,
            protocol=turn.protocol,
            timings=turn.report(),
        )
        if self._on_failed is not None:
            self._spawn(self._on_failed(turn))
        await _quietly(turn.client.send(frame))
        tracing.end_turn(turn.span, "failed", reply.error_code or ErrorCode.INTERNAL.value)
        log.info("turn failed", turn_id=turn.turn_id, error=reply.error_code)

    async def _send_chunk(self, turn: PendingTurn, reply: Reply) -> None:
        turn.timings |= reply.timings
        turn.memory = reply.memory or turn.memory
        if reply.transcript:
            await self._send_transcript(turn, reply.transcript)
        if not reply.text:
            return  # the end marker of an answer: it only says the answer is complete
        turn.texts.append(reply.text)
        if turn.protocol < 2:
            turn.audio.append(reply.audio)
            return
        if turn.first_audio_ms is None:
            turn.first_audio_ms = turn.elapsed_ms()
            observe.FIRST_AUDIO_SECONDS.observe(turn.first_audio_ms / 1000)
        frame = frames.sentence(turn.turn_id, reply.seq, reply.text)
        await _quietly(turn.client.send_with_audio(frame, reply.audio))

    async def _send_done(self, turn: PendingTurn) -> None:
        observe.GATEWAY_TURNS.labels("delivered").inc()
        if turn.protocol < 2:
            audio = turn.audio[0] if len(turn.audio) == 1 else mp3.join(turn.audio)
            frame = frames.reply(turn.turn_id, turn.spoken(), audio, turn.transcript, turn.report())
        else:
            frame = frames.done(turn.turn_id, turn.spoken(), turn.report())
        await _quietly(turn.client.send(frame))
        tracing.end_turn(turn.span, "delivered", sentences=len(turn.texts))
        log.info(
            "turn delivered",
            turn_id=turn.turn_id,
            session_id=turn.session_id,
            sentences=len(turn.texts),
            first_audio_ms=turn.first_audio_ms,
            total_ms=turn.elapsed_ms(),
        )

    def drop_connection(self, connection_id: str) -> int:
        """Forget every turn of a closed connection; returns how many."""
        gone = self.of_connection(connection_id)
        for turn_id in gone:
            turn = self._finish(turn_id)
            if turn is not None:
                tracing.end_turn(turn.span, "abandoned")
        return len(gone)


async def _quietly(sending: Awaitable[None]) -> None:
    try:
        await sending
    except (ConnectionError, RuntimeError) as exc:
        # The watch went away between its question and our answer: nothing to do.
        log.info("watch gone, frame not sent", error=str(exc))
