"""One turn at a time per session, across every llm_worker process.

Two turns of one session (a double tap, or two replicas taking one each) must not
both read the history before either writes it. Each turn holds a Redis lease on its
session while it reads history, asks the model and writes the answer back.

Why not redis-py's `Lock`: the token here is the turn id, so a turn redelivered after
its worker was killed takes its own lease over at once instead of waiting for it to
expire. The lease is short and extended while held, so a killed holder of another
turn blocks the session for at most `LEASE_S`. The llm stage takes it together with
the history read and releases it together with the history write
(`llm_worker.memory`); `hold` takes and releases it on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

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

EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Lease:
    """A session's lease, held by one turn."""

    key: str
    turn_id: str
    released: bool = False
    """Set when it was released along with another write (`HistoryStore.append`)."""


class SessionLocks:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._acquire = client.register_script(ACQUIRE)
        self._extend = client.register_script(EXTEND)
        self._release = client.register_script(RELEASE)

    def key(self, identity: str, session_id: str) -> str:
        return f"{self._prefix}:lock:{identity}:{session_id}"

    async def take(self, key: str, turn_id: str, deadline: float) -> Lease:
        """Wait for the lease and take it (the llm stage first tries in its opening
        script, `llm_worker.memory`, and comes here only when the session is busy).

        Raises `HistoryUnavailable` if Redis cannot be reached and `PipelineError`
        (TIMEOUT) if the session stays busy until `deadline`.
        """
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
        return Lease(key, turn_id)

    @contextlib.asynccontextmanager
    async def kept(self, lease: Lease) -> AsyncIterator[None]:
        """Keep `lease` for the block, then release it unless that was done already.

        A block longer than a third of the lease (a long model call) has it extended
        by a task started only then: most turns end well before and cost no task."""
        done = asyncio.Event()
        keeper: asyncio.Task[None] | None = None

        def start_keeping() -> None:
            nonlocal keeper
            keeper = asyncio.create_task(self._keep(lease, done))

        timer = asyncio.get_running_loop().call_later(LEASE_S / 3, start_keeping)
        try:
            yield
        finally:
            # Ended between Redis calls, not cancelled in one: redis-py swallows a
            # cancellation there, and the keeper would extend the lease forever.
            timer.cancel()
            done.set()
            if keeper is not None:
                await keeper
            if not lease.released:
                with contextlib.suppress(RedisError):
                    await self._release(keys=[lease.key], args=[lease.turn_id])
                lease.released = True

    @contextlib.asynccontextmanager
    async def hold(
        self, identity: str, session_id: str, turn_id: str, deadline: float
    ) -> AsyncIterator[None]:
        """Hold the session's lease for the block.

        Raises `HistoryUnavailable` if Redis cannot be reached and `PipelineError`
        (TIMEOUT) if the session stays busy until the turn's deadline.
        """
        lease = await self.take(self.key(identity, session_id), turn_id, deadline)
        async with self.kept(lease):
            yield

    async def _keep(self, lease: Lease, done: asyncio.Event) -> None:
        """Extend the lease every third of it until the block ends. Only while this
        turn still holds it: once released with the history write, it stays free."""
        lease_ms = int(LEASE_S * 1000)
        while not done.is_set() and not lease.released:
            with contextlib.suppress(RedisError):
                await self._extend(keys=[lease.key], args=[lease.turn_id, lease_ms])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), LEASE_S / 3)
