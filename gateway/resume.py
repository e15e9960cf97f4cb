"""`{"type": "resume", "turn_id": …}`: the answer of a turn asked on an earlier
connection, whose gateway may have died (SIGKILL, a crash) or drained away.

The answer comes from Redis (`shared.results`, written by the last stage), so any
gateway can give it: the turn is registered as the asking connection's own and the
kept chunks go through the same reorder buffer as a live turn's, so the watch gets
exactly what it would have got (protocol 1: one reply with the joined MP3; protocol 2:
`turn` with `"resumed": true`, then the sentences from the first one, then `done`),
each sentence once. A turn still running is followed by polling Redis every
`POLL_S` until it is complete, fails, or reaches its deadline (`timeout`).

Only the identity that asked may resume a turn; for anyone else, as for a turn that
never existed or whose answer expired (`RESULT_TTL_S`), it is `unknown_turn`, so
nothing is learnt about other identities' turns.
"""

from __future__ import annotations

import asyncio
import time

from gateway import frames
from gateway.turns import Client, PendingTurn, PendingTurns
from shared.errors import ErrorCode
from shared.logging import get_logger
from shared.results import ResultStore, ResultsUnavailable, StoredTurn

log = get_logger(__name__)

POLL_S = 0.2
"""How often a resumed turn that is still running is looked up again."""


class Resumer:
    def __init__(
        self, pending: PendingTurns, results: ResultStore, turn_timeout_s: float, max_pending: int
    ) -> None:
        self.pending = pending
        self.results = results
        self.turn_timeout_s = turn_timeout_s
        self.max_pending = max_pending
        self._followers: set[asyncio.Task[None]] = set()

    async def resume(
        self,
        client: Client,
        *,
        turn_id: str,
        identity: str,
        session_id: str,
        connection_id: str,
        protocol: int,
    ) -> None:
        def error(code: ErrorCode) -> str:
            return frames.error(code, turn_id=turn_id, protocol=protocol)

        try:
            stored = await self.results.load(turn_id)
        except ResultsUnavailable as exc:
            log.warning("resume failed, results unavailable", turn_id=turn_id, error=str(exc))
            await client.send(error(ErrorCode.MEMORY_UNAVAILABLE))
            return
        if stored is None or stored.identity != identity:
            log.info("resume refused", turn_id=turn_id, kept=stored is not None)
            await client.send(error(ErrorCode.UNKNOWN_TURN))
            return
        running = self.pending.get(turn_id)
        if running is not None:
            if running.connection_id == connection_id:
                return  # its answer is on its way to this very connection
            self.pending.fail(turn_id)  # taken over: the newest connection gets it
        remaining_s = self._remaining_s(stored)
        if not stored.complete and remaining_s <= 0:
            await client.send(error(ErrorCode.TIMEOUT))
            return
        if self.pending.count_for(connection_id) >= self.max_pending:
            await client.send(error(ErrorCode.BUSY))
            return
        turn = PendingTurn(
            turn_id,
            stored.session_id or session_id,
            identity,
            connection_id,
            client,
            protocol=protocol,
            voice=stored.voice,
        )
        # A complete answer is sent now, whatever its deadline was (a sending that takes
        # long must not be cut by a timeout); a running one is waited for until its own.
        self.pending.add(turn, self.turn_timeout_s if stored.complete else remaining_s)
        if protocol >= 2:
            await client.send(frames.turn(turn_id, resumed=True))
        log.info(
            "turn resumed",
            turn_id=turn_id,
            complete=stored.complete,
            chunks=len(stored.chunks),
            taken_over=running is not None,
        )
        await self._deliver(turn, stored)
        if self.pending.get(turn_id) is turn:
            task = asyncio.create_task(self._follow(turn))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    def _remaining_s(self, stored: StoredTurn) -> float:
        if not stored.deadline_ms:
            return self.turn_timeout_s
        return stored.deadline_ms / 1000 - time.time()

    async def _deliver(self, turn: PendingTurn, stored: StoredTurn) -> None:
        for reply in stored.in_order():
            if reply.is_error or (reply.seq >= turn.next_seq and reply.seq not in turn.waiting):
                await self.pending.deliver(reply)

    async def _follow(self, turn: PendingTurn) -> None:
        """Until the turn ends (complete, failed, timed out, cancelled, its watch gone)."""
        while self.pending.get(turn.turn_id) is turn:
            await asyncio.sleep(POLL_S)
            try:
                stored = await self.results.load(turn.turn_id)
            except ResultsUnavailable:
                continue  # Redis may be back at the next poll; the deadline bounds it
            if stored is not None and self.pending.get(turn.turn_id) is turn:
                await self._deliver(turn, stored)
