"""The token store against the real Redis, and `uhrwerk token` as an operator runs it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from gateway.auth import Authenticator
from shared.redis_client import redis_client
from shared.settings import GatewaySettings
from shared.tokens import TokenStore, TokenStoreUnavailable, token_hash
from tests.integration.stack import REDIS_URL, ROOT

pytestmark = pytest.mark.broker

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[redis.Redis]:
    client = redis_client(REDIS_URL)
    yield client
    await client.delete(f"{prefix}:tokens")
    await client.aclose()


async def everything_stored(client: redis.Redis, prefix: str) -> str:
    """Every key and value under the prefix (all hashes), as one text to search."""
    blob = ""
    async for key in client.scan_iter(f"{prefix}:*"):
        blob += repr(key) + repr(await client.hgetall(key))
    return blob


async def test_only_the_hash_is_stored_and_the_name_is_the_identity(
    client: redis.Redis, prefix: str
) -> None:
    store = TokenStore(client, prefix)
    token = await store.create("annas-watch")
    stored = await everything_stored(client, prefix)
    assert token not in stored
    assert token_hash(token) in stored
    assert await store.identify(token) == "annas-watch"
    assert await store.identify(token[:-1]) is None
    assert await store.identify("") is None
    assert await store.identify("x" * 10_000) is None
    (paired,) = await store.paired()
    assert paired.name == "annas-watch" and paired.sha256 == token_hash(token)


async def test_a_name_is_paired_once_unless_replaced_and_revoke_forgets_it(
    client: redis.Redis, prefix: str
) -> None:
    store = TokenStore(client, prefix)
    first = await store.create("watch")
    with pytest.raises(ValueError, match="exists"):
        await store.create("watch")
    with pytest.raises(ValueError, match="invalid token name"):
        await store.create("a:b")
    second = await store.create("watch", replace=True)
    assert await store.identify(first) is None
    assert await store.identify(second) == "watch"
    assert await store.revoke("watch")
    assert not await store.revoke("watch")
    assert await store.identify(second) is None
    assert await store.paired() == []


async def test_a_redis_outage_keeps_the_tokens_last_read(client: redis.Redis, prefix: str) -> None:
    token = await TokenStore(client, prefix).create("watch")
    store = TokenStore(client, prefix)
    auth = Authenticator(GatewaySettings(auth_token="static-token-0123456789"), store)
    assert await auth.identify(token) == "watch"
    down = redis_client(UNREACHABLE)
    store.redis = down
    try:
        with pytest.raises(TokenStoreUnavailable):
            await store.paired()
        assert await auth.identify(token) == "watch"  # as last read
        assert await auth.identify("static-token-0123456789") == "default"  # needs no Redis
        assert await auth.identify("another-token-0123456789") is None
    finally:
        await down.aclose()


def cli(prefix: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "token", *args],
        env={
            "REDIS_URL": REDIS_URL,
            "TOPOLOGY_PREFIX": prefix,
            "PATH": "/usr/bin:/bin",
            "GATEWAY_PORT": "8123",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_token_commands_round_trip(prefix: str) -> None:
    try:
        created = cli(prefix, "create", "kitchen", "--host", "uhr.local")
        assert created.returncode == 0, created.stderr
        token = re.search(r"^\s+([A-Za-z0-9_-]{43})$", created.stdout, re.M)
        assert token is not None, created.stdout
        assert f"http://uhr.local:8123/?token={token[1]}" in created.stdout
        assert "shown this once" in created.stdout

        stored = asyncio.run(stored_under(prefix))
        assert token[1] not in stored and token_hash(token[1]) in stored

        again = cli(prefix, "create", "kitchen")
        assert again.returncode == 1 and "exists" in again.stderr
        assert cli(prefix, "create", "bad name").returncode == 1
        listed = cli(prefix, "list")
        assert listed.returncode == 0 and listed.stdout.startswith("kitchen\tcreated ")
        assert token[1] not in listed.stdout

        assert cli(prefix, "revoke", "kitchen").returncode == 0
        assert cli(prefix, "revoke", "kitchen").returncode == 1
        assert cli(prefix, "list").stdout == ""
        assert cli(prefix, "list", REDIS_URL=UNREACHABLE).returncode == 2
    finally:
        asyncio.run(forget(prefix))


def test_first_run_makes_one_token_only_when_nothing_pairs(prefix: str) -> None:
    try:
        off = cli(prefix, "first-run", AUTH_MODE="off")
        assert off.returncode == 0 and "AUTH_MODE=off" in off.stdout
        static = cli(prefix, "first-run", AUTH_TOKEN="static-token-0123456789")
        assert static.returncode == 0 and "static-token" not in static.stdout
        assert asyncio.run(stored_under(prefix)) == ""  # neither made a token

        first = cli(prefix, "first-run")
        assert first.returncode == 0, first.stderr
        urls = re.findall(r"http://\S+:8123/\?token=([A-Za-z0-9_-]{43})$", first.stdout, re.M)
        assert "http://127.0.0.1:8123/?token=" in first.stdout
        assert len(set(urls)) == 1  # one token, on this machine and on the network

        second = cli(prefix, "first-run")
        assert second.returncode == 0 and "paired: watch" in second.stdout
        assert "token=" not in second.stdout
        # Without Redis it says so and lets `make run` go on.
        down = cli(prefix, "first-run", REDIS_URL=UNREACHABLE)
        assert down.returncode == 0 and "Redis unavailable" in down.stderr
    finally:
        asyncio.run(forget(prefix))


async def stored_under(prefix: str) -> str:
    client = redis_client(REDIS_URL)
    try:
        return await everything_stored(client, prefix)
    finally:
        await client.aclose()


async def forget(prefix: str) -> None:
    client = redis_client(REDIS_URL)
    await client.delete(f"{prefix}:tokens")
    await client.aclose()
