"""The llm stage's Redis work for one turn, in as few round trips as its guarantees allow.

Three per turn (there were seven, and a poll every 50 ms while generating):

1. `TurnMemory.open`, one script: is this chunk done already (the ledger,
   `shared.ledger`: a redelivered turn is acked, not answered twice)? Is the turn
   cancelled already? Take the session's lease (`shared.session_lock`: one turn per
   session at a time) and read the session's history (`shared.history`).
2. `TurnMemory.remember`: write the exchange and release the lease in one script
   (`HistoryStore.append(release=…)`), before the last sentence goes out, so that its
   `memory` says whether the exchange was kept. The next turn of the session may read
   from then on: what it reads holds this exchange.
3. The ledger mark, by the worker once the last sentence is confirmed (`shared.worker`).

A cancel while generating arrives on the cancel channel (`shared.cancel`). Only the
unusual paths cost more: a session busy with another turn (its lease is polled for,
then the history read), a turn that writes nothing (the lease released on its own),
a turn longer than a third of the lease (extended). Without Redis the turn is
answered without memory (`memory="unavailable"`), without lease or de-duplication.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from shared.cancel import CancelFlags, cancel_key
from shared.contracts import Stage, TextTurn
from shared.history import Exchange, HistoryStore, HistoryUnavailable, exchanges
from shared.ledger import AlreadyDone, TurnLedger
from shared.logging import get_logger
from shared.observe import HISTORY_OPERATIONS
from shared.session_lock import LEASE_S, Lease, SessionLocks

log = get_logger(__name__)

# KEYS: ledger mark, session lease, history list, cancel mark. ARGV: turn id, lease ms,
# history ttl. Returns {1} for a finished chunk; else {0, leased, cancelled, history}:
# the lease is taken as `SessionLocks.take` does (or kept, if this turn holds it: a
# redelivery), the history read (and its TTL refreshed, as `HistoryStore.load`) only
# with the lease.
OPEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
local cancelled = redis.call('EXISTS', KEYS[4])
local leased = 0
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  leased = 1
elseif redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  leased = 1
end
if leased == 0 then return {0, 0, cancelled, {}} end
local items = redis.call('LRANGE', KEYS[3], 0, -1)
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {0, 1, cancelled, items}
"""


@dataclass
class Opened:
    """What a turn starts with."""

    past: list[Exchange]
    """The session's exchanges, oldest first; none without memory."""
    memory: str
    """"ok", or "unavailable" when Redis could not be reached."""
    cancelled: asyncio.Event
    """Set once the watch cancels the turn (before it began, too)."""
    lease: Lease | None
    """The session's lease this turn holds; None without memory."""


class TurnMemory:
    def __init__(
        self,
        history: HistoryStore,
        locks: SessionLocks,
        cancels: CancelFlags,
        ledger: TurnLedger,
    ) -> None:
        self._history = history
        self._locks = locks
        self._cancels = cancels
        self._ledger = ledger
        self._open = history.redis.register_script(OPEN)

    @contextlib.asynccontextmanager
    async def open(self, turn: TextTurn) -> AsyncIterator[Opened]:
        """The turn's memory, lease and cancel event for the block; the lease is
        released at its end unless `remember` did.

        Raises `AlreadyDone` for a chunk finished before (the worker acks it) and
        `PipelineError` (TIMEOUT) if the session stays busy until the deadline.
        """
        with self._cancels.watching(turn.turn_id) as cancelled:
            opened = await self._begin(turn, cancelled)
            if opened.lease is None:
                yield opened
                return
            async with self._locks.kept(opened.lease):
                yield opened

    async def remember(self, turn: TextTurn, opened: Opened, text: str) -> str:
        """Write the exchange (cut to what was heard if cancelled) and release the
        lease, in one round trip; the memory status for the last sentence."""
        if opened.memory != "ok" or turn.expired() or opened.lease is None:
            return opened.memory
        try:
            await self._history.append(
                turn.identity,
                turn.session_id,
                turn.turn_id,
                turn.text,
                text,
                release=opened.lease.key,
            )
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, exchange not remembered", error=str(exc))
            return "unavailable"
        opened.lease.released = True
        return opened.memory

    async def _begin(self, turn: TextTurn, cancelled: asyncio.Event) -> Opened:
        key = self._locks.key(turn.identity, turn.session_id)
        keys = [
            self._ledger.key(Stage.LLM, turn.turn_id, turn.seq),
            key,
            self._history.key(turn.identity, turn.session_id),
            cancel_key(self._history.prefix, turn.turn_id),
        ]
        args: list[str | int] = [turn.turn_id, int(LEASE_S * 1000), self._history.limits.ttl_s]
        try:
            try:
                done, *rest = await self._open(keys=keys, args=args)
            except RedisConnectionError:
                # A pooled connection from before a Redis restart fails its first
                # command, and the client retries nothing (`shared.redis_client`);
                # this is the turn's first Redis call, so it tries once more.
                done, *rest = await self._open(keys=keys, args=args)
        except RedisError as exc:
            HISTORY_OPERATIONS.labels("load", "error").inc()
            log.warning("memory unavailable, answering without it", error=str(exc))
            return Opened([], "unavailable", cancelled, None)
        if done:
            raise AlreadyDone
        leased, marked, items = rest
        if marked:
            cancelled.set()
        if leased:
            HISTORY_OPERATIONS.labels("load", "ok").inc()
            return Opened(exchanges(items), "ok", cancelled, Lease(key, turn.turn_id))
        # Another turn of the session is running: wait for it, then read.
        try:
            lease = await self._locks.take(key, turn.turn_id, turn.deadline)
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, answering without it", error=str(exc))
            return Opened([], "unavailable", cancelled, None)
        try:
            past = await self._history.load(turn.identity, turn.session_id)
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, answering without it", error=str(exc))
            return Opened([], "unavailable", cancelled, lease)
        return Opened(past, "ok", cancelled, lease)
