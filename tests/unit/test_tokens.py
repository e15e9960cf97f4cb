"""Pairing tokens without Redis: hashing, the constant-time match, names, the Origin
allow-list and the settings that configure them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from gateway.auth import Authenticator, origin_of
from gateway.protocol import HelloRequest, hello_token
from shared.redis_client import redis_client
from shared.settings import GatewaySettings
from shared.tokens import matching_name, new_token, token_hash, valid_name


def test_a_new_token_is_256_random_bits_and_only_its_hash_is_compared() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, URL-safe base64
    token = tokens.pop()
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in token_hash(token)


def test_matching_compares_every_stored_hash_whatever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = {f"watch-{i}": new_token() for i in range(5)}
    stored = [(name, token_hash(t)) for name, t in tokens.items()]
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    # The first one matches: the other four are still compared (no early exit), so a
    # match takes as long as a miss.
    assert matching_name(tokens["watch-0"], stored) == "watch-0"
    assert len(compared) == 5
    compared.clear()
    assert matching_name("not a token", stored) is None
    assert len(compared) == 5
    # Hashes are compared, never the token itself.
    assert all(tokens["watch-0"] not in pair for pair in compared)


def test_the_first_name_of_a_hash_wins() -> None:
    token = new_token()
    pairs = [("static", token_hash(token)), ("stored", token_hash(token))]
    assert matching_name(token, pairs) == "static"


@pytest.mark.parametrize("name", ["annas-watch", "w", "Watch_2.b", "x" * 64])
def test_names_that_make_identities(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize("name", ["", "-dash", "a:b", "a b", "ä", "x" * 65, "a/b", ".hidden"])
def test_names_that_would_break_keys_are_refused(name: str) -> None:
    assert not valid_name(name)


def test_hello_carries_a_token_that_is_never_shown() -> None:
    from gateway.protocol import Limits, parse

    request = parse('{"type": "hello", "token": "secret-token-0123456789"}', Limits())
    assert isinstance(request, HelloRequest) and request.token == "secret-token-0123456789"
    assert "secret-token" not in repr(request)
    # Read before authentication: only the token, whatever else the hello says.
    assert hello_token('{"type": "hello", "token": "t0k", "timezone": "Mars/X"}') == "t0k"
    for raw in ('{"type": "text", "token": "t"}', '{"type": "hello"}', "[1]", "{", '"x"'):
        assert hello_token(raw) is None
    assert hello_token('{"type": "hello", "token": 7}') is None


def authenticator(**settings: Any) -> Authenticator:
    from shared.tokens import TokenStore

    # The store is never reached by these checks.
    store = TokenStore(redis_client("redis://127.0.0.1:1/0"), "unit")
    return Authenticator(GatewaySettings(**settings), store)


def request(origin: str | None, host: str = "watch.local:8080") -> Any:
    headers = {"Host": host}
    if origin is not None:
        headers["Origin"] = origin
    return make_mocked_request("GET", "/ws", headers=headers)


def test_origins_default_to_the_gateways_own() -> None:
    auth = authenticator()
    assert auth.origin_allowed(request(None))  # not a browser
    assert auth.origin_allowed(request("http://watch.local:8080"))
    assert auth.origin_allowed(request("https://WATCH.local:8080"))  # TLS, same host:port
    assert not auth.origin_allowed(request("http://evil.example"))
    assert not auth.origin_allowed(request("http://watch.local:8081"))
    assert not auth.origin_allowed(request("null"))  # a sandboxed or file:// page


def test_allowed_origins_add_to_the_own_one() -> None:
    auth = authenticator(allowed_origins="https://watch.example, http://10.0.0.5:3000/")
    assert auth.origin_allowed(request("https://watch.example"))
    assert auth.origin_allowed(request("http://10.0.0.5:3000"))
    assert auth.origin_allowed(request("http://watch.local:8080"))
    assert not auth.origin_allowed(request("http://watch.example"))  # another scheme
    assert authenticator(allowed_origins="*").origin_allowed(request("http://evil.example"))
    assert origin_of(" HTTPS://Watch.Example:443/ ") == "https://watch.example:443"


def test_auth_settings() -> None:
    settings = GatewaySettings()
    assert settings.auth_mode == "token" and not settings.auth_token.get_secret_value()
    secret = "s" * 16
    configured = GatewaySettings(auth_token=secret, auth_token_name="compose")
    assert secret not in repr(configured) and secret not in str(configured.auth_token)
    with pytest.raises(ValidationError):
        GatewaySettings(auth_token="short")
    with pytest.raises(ValidationError):
        GatewaySettings(auth_token_name="with:colon")
    with pytest.raises(ValidationError):
        GatewaySettings(auth_mode="maybe")
