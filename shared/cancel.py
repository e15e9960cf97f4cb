"""Barge-in: a cancelled turn is marked in Redis, where every replica of every stage
looks.

The gateway sets the mark (`<prefix>:cancel:<turn id>`, holding the answer text the
watch was sent before the cancel) when the watch cancels or asks anew. The llm stage
watches it while generating and stops within one poll; the tts stage checks it before
each sentence and skips what is not yet spoken; the history keeps only the text in the
mark (see `HistoryStore.append`). Redis rather than a fanout exchange: the mark must
also be there for a replica that takes the turn's next sentence later, and for the
history write, and one GET per sentence or per poll costs a fraction of a millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.logging import get_logger

log = get_logger(__name__)

CANCEL_TTL_S = 3600
POLL_S = 0.05
"""How often a generating llm stage looks for the mark: the bound on its reaction."""


def cancel_key(prefix: str, turn_id: str) -> str:
    return f"{prefix}:cancel:{turn_id}"


class CancelFlags:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    async def cancelled(self, turn_id: str) -> bool:
        """True once the turn is cancelled; False too when Redis cannot tell (the turn
        then runs to its end, which costs work but loses nothing)."""
        try:
            return bool(await self._redis.exists(cancel_key(self._prefix, turn_id)))
        except RedisError as exc:
            log.warning("cancel marks unavailable", error=str(exc))
            return False

    @contextlib.asynccontextmanager
    async def watch(self, turn_id: str) -> AsyncIterator[asyncio.Event]:
        """An event that is set within `POLL_S` of the turn being cancelled."""
        event = asyncio.Event()
        done = asyncio.Event()

        async def poll() -> None:
            # Never cancelled in the middle of a Redis call: redis-py swallows the
            # cancellation there and the loop would go on. `done` ends it between calls.
            while not event.is_set() and not done.is_set():
                if await self.cancelled(turn_id):
                    event.set()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), POLL_S)

        task = asyncio.create_task(poll())
        try:
            yield event
        finally:
            done.set()
            await task
