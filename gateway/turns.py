"""Turns in flight: which connection asked, when it gives up, which replies it has had.

Replies arrive on this gateway's reply queue in any order and, after a worker crash
or broker failover, possibly twice. Each is matched to its turn by `turn_id` (the
AMQP correlation id); a chunk already delivered, or a reply for a turn that is
finished, timed out or whose watch disconnected, is dropped here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.protocol import error_frame, reply_frame
from shared.contracts import Reply
from shared.errors import ErrorCode
from shared.logging import get_logger

log = get_logger(__name__)

Send = Callable[[str], Awaitable[None]]


@dataclass
class PendingTurn:
    turn_id: str
    session_id: str
    identity: str
    connection_id: str
    send: Send
    started: float = field(default_factory=time.perf_counter)
    delivered: set[int] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None


OnFailed = Callable[[PendingTurn], Awaitable[None]]


class PendingTurns:
    def __init__(self, on_failed: OnFailed | None = None) -> None:
        """`on_failed` runs for each turn that ends in an error or a timeout."""
        self._turns: dict[str, PendingTurn] = {}
        self._on_failed = on_failed
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def __len__(self) -> int:
        return len(self._turns)

    def count_for(self, connection_id: str) -> int:
        return sum(1 for t in self._turns.values() if t.connection_id == connection_id)

    def add(self, turn: PendingTurn, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        turn.timer = loop.call_later(timeout_s, self._expire, turn.turn_id)
        self._turns[turn.turn_id] = turn

    def _finish(self, turn_id: str) -> PendingTurn | None:
        turn = self._turns.pop(turn_id, None)
        if turn is not None and turn.timer is not None:
            turn.timer.cancel()
        return turn

    def _expire(self, turn_id: str) -> None:
        turn = self._finish(turn_id)
        if turn is None:
            return
        log.warning("turn timed out", turn_id=turn_id, session_id=turn.session_id)
        self._spawn(_send_quietly(turn.send, error_frame(ErrorCode.TIMEOUT, turn_id=turn_id)))
        if self._on_failed is not None:
            self._spawn(self._on_failed(turn))

    def fail(self, turn_id: str) -> None:
        """Forget a turn that could not be published (its error is sent by the caller)."""
        self._finish(turn_id)

    async def deliver(self, reply: Reply) -> bool:
        """Send a reply to the watch that asked; False if nobody waits for it any more."""
        turn = self._turns.get(reply.turn_id)
        if turn is None or reply.seq in turn.delivered:
            log.info("late or duplicate reply dropped", turn_id=reply.turn_id, seq=reply.seq)
            return False
        turn.delivered.add(reply.seq)
        if reply.final or reply.is_error:
            self._finish(reply.turn_id)
        if reply.is_error and self._on_failed is not None:
            self._spawn(self._on_failed(turn))
        total_ms = (time.perf_counter() - turn.started) * 1000
        await _send_quietly(turn.send, reply_frame(reply, total_ms))
        log.info(
            "reply delivered",
            turn_id=reply.turn_id,
            session_id=reply.session_id,
            error=reply.error_code or None,
            total_ms=round(total_ms, 1),
        )
        return True

    def drop_connection(self, connection_id: str) -> int:
        """Forget every turn of a closed connection; returns how many."""
        gone = [t.turn_id for t in self._turns.values() if t.connection_id == connection_id]
        for turn_id in gone:
            self._finish(turn_id)
        return len(gone)


async def _send_quietly(send: Send, frame: str) -> None:
    try:
        await send(frame)
    except (ConnectionError, RuntimeError) as exc:
        # The watch went away between its question and our answer: nothing to do.
        log.info("watch gone, reply not sent", error=str(exc))
