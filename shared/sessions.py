"""What a watch told us about itself with `hello`, remembered with its session.

A watch names its language and time zone once (`hello`); a reconnect with the same
session id, even to another gateway, finds them again. Kept in one Redis hash per
session beside the history, expiring with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.history import HistoryUnavailable


@dataclass(frozen=True)
class Profile:
    language: str = ""
    """BCP-47 tag the watch asked for; empty: the deployment's default or detection."""
    timezone: str = ""
    """IANA zone of the watch; empty: ASSISTANT_TIMEZONE."""


class ProfileStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def key(self, identity: str, session_id: str) -> str:
        return f"{self._prefix}:profile:{identity}:{session_id}"

    async def load(self, identity: str, session_id: str) -> Profile:
        try:
            raw = await self._redis.hgetall(self.key(identity, session_id))
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc
        values = {_text(k): _text(v) for k, v in raw.items()}
        return Profile(values.get("language", ""), values.get("timezone", ""))

    async def save(self, identity: str, session_id: str, profile: Profile) -> None:
        key = self.key(identity, session_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"language": profile.language, "timezone": profile.timezone})
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except RedisError as exc:
            raise HistoryUnavailable(str(exc)) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
