"""Conversation memory in Redis: one list per session, newest last, bounded and expiring."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError


@dataclass(frozen=True)
class Exchange:
    """One remembered question and answer."""

    turn_id: str
    """The turn that produced it (makes writes idempotent)."""
    user: str
    """The user's words: typed text or the transcript of the recording."""
    model: str
    """The answer as it was spoken."""
    at: float
    """Unix time the answer was given."""


class HistoryUnavailable(Exception):
    """Redis could not be reached; the turn goes on without memory."""


class HistoryStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def key(self, session_id: str) -> str:
        return f"{self._prefix}:history:{session_id}"

    async def load(self, session_id: str) -> list[Exchange]:
        try:
            raw = await self._redis.lrange(self.key(session_id), 0, -1)
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc
        return [Exchange(**json.loads(item)) for item in raw]

    async def append(
        self, session_id: str, turn_id: str, user: str, model: str, max_turns: int, ttl_s: int
    ) -> None:
        """Remember one exchange, dropping the oldest beyond `max_turns`; refresh the TTL."""
        if max_turns <= 0:
            return
        entry = json.dumps(asdict(Exchange(turn_id, user, model, time.time())), ensure_ascii=False)
        key = self.key(session_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, entry)
                pipe.ltrim(key, -max_turns, -1)
                pipe.expire(key, ttl_s)
                await pipe.execute()
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc

    async def clear(self, session_id: str) -> None:
        try:
            await self._redis.delete(self.key(session_id))
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc
