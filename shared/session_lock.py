"""One turn at a time per session, across every llm_worker process.

Two turns of one session (a double tap, or two replicas taking one each) must not
both read the history before either writes it. Each turn holds a Redis lease on its
session while it reads history, asks the model and writes the answer back.

Why not redis-py's `Lock`: the token here is the turn id, so a turn redelivered after
its worker was killed takes its own lease over at once instead of waiting for it to
expire. The lease is short and extended while held, so a killed holder of another
turn blocks the session for at most `LEASE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import HistoryUnavailable

LEASE_S = 8.0
POLL_S = 0.02

ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SessionLocks:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)

    def key(self, identity: str, session_id: str) -> str:
        return f"{self._prefix}:lock:{identity}:{session_id}"

    async def _take(self, key: str, turn_id: str, deadline: float) -> None:
        lease_ms = int(LEASE_S * 1000)
        try:
            while not await self._acquire(keys=[key], args=[turn_id, lease_ms]):
                if time.time() >= deadline:
                    raise PipelineError(
                        ErrorCode.TIMEOUT, ErrorCategory.TRANSIENT, "session busy until deadline"
                    )
                await asyncio.sleep(POLL_S)
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc

    @contextlib.asynccontextmanager
    async def _held(self, key: str, turn_id: str) -> AsyncIterator[None]:
        done = asyncio.Event()
        keeper = asyncio.create_task(self._keep(key, turn_id, int(LEASE_S * 1000), done))
        try:
            yield
        finally:
            # Ended between Redis calls, not cancelled in one: redis-py swallows a
            # cancellation there, and the keeper would extend the lease forever.
            done.set()
            await keeper
            with contextlib.suppress(RedisError):
                await self._release(keys=[key], args=[turn_id])

    @contextlib.asynccontextmanager
    async def hold(
        self, identity: str, session_id: str, turn_id: str, deadline: float
    ) -> AsyncIterator[None]:
        """Hold the session's lease for the block.

        Raises `HistoryUnavailable` if Redis cannot be reached and `PipelineError`
        (TIMEOUT) if the session stays busy until the turn's deadline.
        """
        key = self.key(identity, session_id)
        await self._take(key, turn_id, deadline)
        async with self._held(key, turn_id):
            yield

    @contextlib.asynccontextmanager
    async def hold_if_reachable(
        self, identity: str, session_id: str, turn_id: str, deadline: float
    ) -> AsyncIterator[bool]:
        """Like `hold`, but without Redis the block runs anyway, told False: a turn is
        still answered when memory is down, only without it."""
        key = self.key(identity, session_id)
        try:
            await self._take(key, turn_id, deadline)
        except HistoryUnavailable:
            yield False
            return
        async with self._held(key, turn_id):
            yield True

    async def _keep(self, key: str, turn_id: str, lease_ms: int, done: asyncio.Event) -> None:
        """Extend the lease while the block runs (a long model call outlives one lease)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), LEASE_S / 3)
            if done.is_set():
                return
            with contextlib.suppress(RedisError):
                await self._acquire(keys=[key], args=[turn_id, lease_ms])
