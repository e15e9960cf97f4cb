"""Pairing tokens: which watches may use the gateway, and under which identity.

`uhrwerk token create NAME` makes a random token, prints it once and keeps only its
SHA-256 in Redis (one hash, `<prefix>:tokens`, field NAME). The NAME is the identity a
paired watch's history and profiles are keyed by, so one watch never reads another's
sessions.

SHA-256 without salt or stretching is enough here: a token is 256 random bits, not a
password a person chose, so there is nothing to guess a dictionary for. A presented
token is hashed and compared with every stored hash by `hmac.compare_digest`, all of
them every time, so how long a check takes says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a token's name may look like: it becomes part of Redis keys (no ':')."""
MAX_TOKEN_CHARS = 256
"""Longer presented tokens are refused without hashing them."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TokenStoreUnavailable(Exception):
    """Redis could not be reached to read or change the tokens."""


def new_token() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def matching_name(token: str, hashes: Iterable[tuple[str, str]]) -> str | None:
    """The name whose hash is the token's, of (name, hash) pairs, comparing with every
    one in constant time."""
    presented = token_hash(token)
    found: str | None = None
    for name, stored in hashes:
        # No early exit: every stored hash is compared, match or not.
        if hmac.compare_digest(presented, stored) and found is None:
            found = name
    return found


@dataclass(frozen=True)
class PairedToken:
    """What is kept of one token: its name (the identity), hash and creation time."""

    name: str
    sha256: str
    created: float
    """Unix time of `token create`."""


class TokenStore:
    """The tokens in Redis, under one prefix (TOPOLOGY_PREFIX, so tests keep apart)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:tokens"

    async def create(self, name: str, *, replace: bool = False) -> str:
        """A new token for `name`; returns it (the only time it exists outside the
        watch). Raises ValueError for a malformed name, or one already paired unless
        `replace`."""
        if not valid_name(name):
            raise ValueError(
                f"invalid token name {name!r}: 1-64 characters of A-Z a-z 0-9 _ . -, "
                "starting with a letter or digit"
            )
        token = new_token()
        record = json.dumps({"sha256": token_hash(token), "created": time.time()})
        try:
            if replace:
                await self.redis.hset(self.key, name, record)
            elif not await self.redis.hsetnx(self.key, name, record):
                raise ValueError(f"a token named {name!r} exists; revoke it first")
        except RedisError as exc:
            raise TokenStoreUnavailable(str(exc)) from exc
        return token

    async def revoke(self, name: str) -> bool:
        """Forgets `name`'s token; False when there was none."""
        try:
            return bool(await self.redis.hdel(self.key, name))
        except RedisError as exc:
            raise TokenStoreUnavailable(str(exc)) from exc

    async def paired(self) -> list[PairedToken]:
        """Every stored token, by name."""
        try:
            raw = await self.redis.hgetall(self.key)
        except RedisError as exc:
            raise TokenStoreUnavailable(str(exc)) from exc
        tokens = []
        for name, value in raw.items():
            try:
                record = json.loads(value)
                tokens.append(
                    PairedToken(_text(name), str(record["sha256"]), float(record["created"]))
                )
            except (ValueError, KeyError, TypeError):
                continue  # not written by us: never matches
        return sorted(tokens, key=lambda t: t.name)

    async def hashes(self) -> list[tuple[str, str]]:
        """(name, hash) pairs, for `matching_name`."""
        return [(t.name, t.sha256) for t in await self.paired()]

    async def identify(self, token: str) -> str | None:
        """The name the token was created for, or None when it matches none."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        return matching_name(token, await self.hashes())
