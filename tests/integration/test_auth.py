"""Only paired watches get in, each sees only its own sessions, and no token is ever
written to a log: the gateway as a process against the real broker and Redis."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from shared.errors import MESSAGES, ErrorCode
from shared.history import HistoryStore
from shared.redis_client import redis_client
from shared.tokens import TokenStore
from tests.fakes.gemini import FakeGemini
from tests.integration.stack import AUTH_IDENTITY, AUTH_TOKEN, REDIS_URL, Stack, ws_url
from tests.integration.test_memory import texts
from tests.integration.test_pipeline import ask, receive, run_cli

pytestmark = [pytest.mark.broker, pytest.mark.integration]

HELLO_TIMEOUT_S = 1.0
WRONG = "wrong-token-0123456789abcdef"
SESSION = "shared-session-id-0123456789"
PRESENTED: list[str] = [AUTH_TOKEN, WRONG]
"""Every token this module presents: none may show up in a log."""


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[int]:
    # DEBUG: a token must not appear in any log line, debug ones included.
    _, port = stack.start_gateway(
        "auth", GATEWAY_ID="auth", AUTH_HELLO_TIMEOUT_S=str(HELLO_TIMEOUT_S), LOG_LEVEL="DEBUG"
    )
    yield port


class Tokens(TokenStore):
    """The gateway's token store, as `uhrwerk token` fills it; remembers what it made."""

    async def create(self, name: str, *, replace: bool = False) -> str:
        token = await super().create(name, replace=replace)
        PRESENTED.append(token)
        return token


@pytest.fixture
async def tokens(stack: Stack) -> AsyncIterator[TokenStore]:
    client = redis_client(REDIS_URL)
    yield Tokens(client, stack.prefix)
    await client.delete(f"{stack.prefix}:tokens")
    await client.aclose()


def plain_url(port: int, **query: str) -> str:
    return f"ws://127.0.0.1:{port}/ws" + (f"?{urllib.parse.urlencode(query)}" if query else "")


async def refused_before_upgrade(url: str, **headers: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a refused upgrade."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            async with http.ws_connect(url, headers=headers):
                pass
        # The same request as plain HTTP, to read the body.
        async with http.get(url.replace("ws:", "http:", 1), headers=headers) as response:
            assert response.status == caught.value.status
            return caught.value.status, await response.json()


async def refused_after_upgrade(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0
) -> dict[str, Any]:
    """The `unauthorized` frame, then close 1008."""
    error = await receive(ws, timeout)
    closing = await ws.receive(timeout=timeout)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert ws.close_code == 1008  # policy violation
    return error


async def test_a_wrong_token_in_the_query_gets_401_before_the_upgrade(gateway: int) -> None:
    for token in (WRONG, "", AUTH_TOKEN[:-1], "x" * 5000):
        status, body = await refused_before_upgrade(plain_url(gateway, token=token))
        assert status == 401
        assert body == {"error": MESSAGES[ErrorCode.UNAUTHORIZED], "code": "unauthorized"}


async def test_the_token_in_hello_opens_the_socket(gateway: int, gemini_fake: FakeGemini) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(plain_url(gateway)) as ws:
        hello = await ask(ws, {"type": "hello", "token": AUTH_TOKEN})
        assert hello["type"] == "hello" and "token" not in hello  # never echoed
        assert AUTH_TOKEN not in json.dumps(hello)
        reply = await ask(ws, {"type": "text", "message": "Gekoppelt?"})
        assert reply["text_response"].startswith("Du sagtest: Gekoppelt?")
        assert texts(gemini_fake.requests[-1]) == ["Gekoppelt?"]
        # A hello's other fields still get their own error, the socket stays open.
        wrong_zone = await ask(ws, {"type": "hello", "token": AUTH_TOKEN, "timezone": "Mars/X"})
        assert wrong_zone["code"] == "invalid_field"


async def test_a_bad_hello_field_does_not_stop_the_token_from_pairing(gateway: int) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(plain_url(gateway)) as ws:
        first = await ask(ws, {"type": "hello", "token": AUTH_TOKEN, "language": "?!"})
        assert first["code"] == "invalid_field"
        assert (await ask(ws, {"type": "hello", "token": AUTH_TOKEN}))["type"] == "hello"


@pytest.mark.parametrize(
    "first",
    [
        None,  # nothing at all within AUTH_HELLO_TIMEOUT_S
        {"type": "text", "message": "Hallo"},
        {"type": "hello"},
        {"type": "hello", "token": WRONG},
        {"type": "hello", "token": 12345},
        b"\x1a\x45\xdf\xa3",
        "{not json",
        json.dumps({"type": "hello", "token": AUTH_TOKEN, "pad": "x" * 5000}),  # too big
    ],
)
async def test_without_a_valid_hello_the_socket_gets_unauthorized_and_1008(
    gateway: int, first: Any
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(plain_url(gateway)) as ws:
        if isinstance(first, bytes):
            await ws.send_bytes(first)
        elif first is not None:
            await ws.send_str(first if isinstance(first, str) else json.dumps(first))
        error = await refused_after_upgrade(ws, HELLO_TIMEOUT_S + 5)
    assert error["code"] == "unauthorized"


async def test_protocol_2_gets_its_error_shape(gateway: int) -> None:
    url = plain_url(gateway, protocol="2")
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"type": "hello", "protocol": 2}))
        error = await refused_after_upgrade(ws)
    assert error["type"] == "error" and error["code"] == "unauthorized"


async def test_a_connection_keeps_the_identity_it_opened_with(
    gateway: int, tokens: TokenStore
) -> None:
    other = await tokens.create("other-watch")
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gateway)) as ws:
        assert (await ask(ws, {"type": "hello", "token": AUTH_TOKEN}))["type"] == "hello"
        await ws.send_str(json.dumps({"type": "hello", "token": other}))
        assert (await refused_after_upgrade(ws))["code"] == "unauthorized"


async def test_a_revoked_token_opens_no_new_connection(gateway: int, tokens: TokenStore) -> None:
    token = await tokens.create("lost-watch")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(plain_url(gateway, token=token)) as ws:
            assert (await ask(ws, {"type": "hello"}))["type"] == "hello"
        assert await tokens.revoke("lost-watch")
        status, _ = await refused_before_upgrade(plain_url(gateway, token=token))
        assert status == 401
        async with http.ws_connect(plain_url(gateway)) as ws:
            await ws.send_str(json.dumps({"type": "hello", "token": token}))
            assert (await refused_after_upgrade(ws))["code"] == "unauthorized"


async def test_one_watch_never_sees_anothers_session(
    stack: Stack, gateway: int, tokens: TokenStore, gemini_fake: FakeGemini
) -> None:
    alice, bob = await tokens.create("alice"), await tokens.create("bob")

    async def say(token: str, *frames: dict[str, Any]) -> list[dict[str, Any]]:
        url = plain_url(gateway, token=token, session=SESSION)
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            return [await ask(ws, frame) for frame in frames]

    await say(
        alice, {"type": "hello", "language": "en-US"}, {"type": "text", "message": "I'm Ada."}
    )
    # Bob names the very same session id: he gets a session of his own, empty.
    (hello, _) = await say(bob, {"type": "hello"}, {"type": "text", "message": "Who am I?"})
    assert hello == {"type": "hello", "session_id": SESSION}  # no language of Alice's
    assert texts(gemini_fake.requests[-1]) == ["Who am I?"]
    await say(bob, {"type": "reset"})  # forgets Bob's, not Alice's
    await say(alice, {"type": "text", "message": "Who am I?"})
    assert texts(gemini_fake.requests[-1])[0] == "I'm Ada."

    client = redis_client(REDIS_URL)
    try:
        history = HistoryStore(client, stack.prefix)
        assert [e.user for e in await history.load("alice", SESSION)] == [
            "I'm Ada.",
            "Who am I?",
        ]
        assert await history.load("bob", SESSION) == []
        assert await history.load(AUTH_IDENTITY, SESSION) == []
        assert await history.load("anonymous", SESSION) == []
    finally:
        for name in ("alice", "bob"):
            keys = [k async for k in client.scan_iter(f"{stack.prefix}:*:{name}:*")]
            if keys:
                await client.delete(*keys)
        await client.aclose()


async def test_a_foreign_origin_gets_403_and_the_own_one_gets_in(
    stack: Stack, gateway: int
) -> None:
    url = ws_url(gateway)
    status, body = await refused_before_upgrade(url, Origin="http://evil.example")
    assert status == 403 and body["code"] == "forbidden_origin"
    async with aiohttp.ClientSession() as http:
        for origin in (f"http://127.0.0.1:{gateway}", None):
            headers = {"Origin": origin} if origin else {}
            async with http.ws_connect(url, headers=headers) as ws:
                assert (await ask(ws, {"type": "hello"}))["type"] == "hello"
    # The Origin is checked first: a foreign page learns nothing of tokens.
    status, _ = await refused_before_upgrade(plain_url(gateway, token=WRONG), Origin="null")
    assert status == 403

    _, port = stack.start_gateway(
        "origins", GATEWAY_ID="origins", ALLOWED_ORIGINS="https://watch.example"
    )
    async with aiohttp.ClientSession() as http:
        for origin in ("https://watch.example", f"http://127.0.0.1:{port}"):
            async with http.ws_connect(ws_url(port), headers={"Origin": origin}) as ws:
                assert (await ask(ws, {"type": "hello"}))["type"] == "hello"
    status, _ = await refused_before_upgrade(ws_url(port), Origin="https://other.example")
    assert status == 403


async def test_auth_off_warns_at_start_and_lets_anyone_in(stack: Stack) -> None:
    service, port = stack.start_gateway("open", GATEWAY_ID="open", AUTH_MODE="off")
    service.wait_for_log("gateway ready")
    (warning,) = [e for e in service.log_events() if "AUTH_MODE=off" in str(e.get("event"))]
    assert warning["level"] == "warning"
    async with aiohttp.ClientSession() as http, http.ws_connect(plain_url(port)) as ws:
        assert (await ask(ws, {"type": "hello"}))["type"] == "hello"
        reply = await ask(ws, {"type": "text", "message": "Offen"})
        assert reply["text_response"]
    # Foreign pages are still refused: off is for this machine, not for every website.
    status, _ = await refused_before_upgrade(plain_url(port), Origin="http://evil.example")
    assert status == 403


def test_uhrwerk_ask_presents_its_token_and_explains_a_refusal(gateway: int, tmp_path: Any) -> None:
    url = plain_url(gateway)
    asked = run_cli("ask", "Wie spät ist es?", "--url", url, "--token", AUTH_TOKEN, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    refused = run_cli("ask", "Hallo", "--url", url, "--token", WRONG, cwd=tmp_path)
    assert refused.returncode == 2
    assert "needs a valid token" in refused.stderr and WRONG not in refused.stderr


async def test_no_token_is_ever_written_to_a_log(
    stack: Stack, gateway: int, tokens: TokenStore
) -> None:
    """Last in this module: every token presented here, right or wrong, in the query or
    in hello, by any test of the module, is in no service's log (the gateway's at DEBUG)."""
    paired = await tokens.create("log-watch")
    async with aiohttp.ClientSession() as http:
        for url in (plain_url(gateway, token=paired), plain_url(gateway)):
            async with http.ws_connect(url) as ws:
                assert (await ask(ws, {"type": "hello", "token": paired}))["type"] == "hello"
                assert (await ask(ws, {"type": "text", "message": "Log?"}))["text_response"]
        for token in (WRONG, paired[:-1]):
            PRESENTED.append(token)
            await refused_before_upgrade(plain_url(gateway, token=token))
            async with http.ws_connect(plain_url(gateway)) as ws:
                await ws.send_str(json.dumps({"type": "hello", "token": token}))
                await refused_after_upgrade(ws)
    logs = "".join(p.read_text(errors="replace") for p in stack.logs.iterdir())
    assert "websocket refused" in logs and "watch connected" in logs  # logged, but:
    leaked = [token for token in PRESENTED if token in logs]
    assert not leaked
    assert "?token" not in logs
