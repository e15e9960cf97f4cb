"""Who may open `/ws`: the Origin allow-list, then a pairing token.

Before the upgrade: a browser page from a foreign origin gets HTTP 403; a wrong
`?token=` gets HTTP 401. A socket opened without `?token=` must send a `hello` carrying
its token as its first frame within AUTH_HELLO_TIMEOUT_S; anything else gets an
`unauthorized` error frame and close 1008 (policy violation).

A token is whatever `uhrwerk token create NAME` stored (`shared.tokens`) or AUTH_TOKEN;
its NAME becomes the connection's identity, which keys history and profiles. Tokens are
never logged: only the identity they resolve to is.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from gateway import frames
from gateway.protocol import hello_token
from shared.errors import ErrorCode
from shared.logging import get_logger
from shared.settings import GatewaySettings
from shared.tokens import MAX_TOKEN_CHARS, TokenStore, TokenStoreUnavailable, matching_name
from shared.tokens import token_hash as hash_of

log = get_logger(__name__)

ANONYMOUS = "anonymous"
"""The identity of every connection with AUTH_MODE=off."""
PRE_AUTH_FRAME_CHARS = 4096
"""A first frame longer than this is no hello: refused unread (no parsing for strangers)."""


def origin_of(value: str) -> str:
    """`scheme://host[:port]`, lower case, as browsers send Origin."""
    parts = urlsplit(value.strip().rstrip("/"))
    return f"{parts.scheme}://{parts.netloc}".lower()


class Authenticator:
    """The gateway's checks, configured by AUTH_MODE, AUTH_TOKEN(_NAME), ALLOWED_ORIGINS."""

    def __init__(self, settings: GatewaySettings, store: TokenStore) -> None:
        self.enabled = settings.auth_mode == "token"
        self.store = store
        self.hello_timeout_s = settings.auth_hello_timeout_s
        static = settings.auth_token.get_secret_value()
        self._static = [(settings.auth_token_name, hash_of(static))] if static else []
        listed = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()]
        self._any_origin = "*" in listed
        self._origins = {origin_of(o) for o in listed if o != "*"}
        self._last_read: list[tuple[str, str]] = []
        """The stored hashes as last read, for when Redis is away."""

    async def announce(self) -> None:
        """At start: say how watches get in, and warn where that is nobody or anybody."""
        if not self.enabled:
            log.warning(
                "authentication is off (AUTH_MODE=off): anyone who reaches this gateway "
                "can use it; keep it reachable from this machine only"
            )
            return
        try:
            paired = len(await self.store.hashes())
        except TokenStoreUnavailable as exc:
            log.warning("token store unavailable at start", error=str(exc))
            return
        log.info("authentication: pairing tokens", paired=paired, static=bool(self._static))
        if not paired and not self._static:
            log.warning("no watch is paired yet: `uhrwerk token create NAME` makes a token")

    async def identify(self, token: str) -> str | None:
        """The identity `token` was made for, or None. Every known hash is compared."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            self._last_read = await self.store.hashes()
        except TokenStoreUnavailable as exc:
            # Watches keep pairing through a Redis outage with the tokens last read
            # (a revocation needs Redis too, so none can have been missed since).
            log.warning("token store unavailable, using the tokens last read", error=str(exc))
        return matching_name(token, [*self._static, *self._last_read])

    def origin_allowed(self, request: web.Request) -> bool:
        """No Origin (not a browser): allowed. A browser's: the gateway's own (its
        host:port is the request's Host) or one of ALLOWED_ORIGINS (`*`: any)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if urlsplit(origin).netloc.lower() == request.host.lower():
            return True
        return self._any_origin or origin_of(origin) in self._origins

    async def on_upgrade(self, request: web.Request) -> str | None:
        """Checks before the upgrade: raises HTTP 403 for a foreign Origin and 401 for a
        wrong `?token=`. Returns the identity, or None when the socket must show its
        token in `hello` (`await_hello`)."""
        if not self.origin_allowed(request):
            log.warning(
                "websocket refused: foreign origin",
                origin=request.headers.get("Origin", "")[:200],
                remote=request.remote,
            )
            raise web.HTTPForbidden(
                text=frames.error(ErrorCode.FORBIDDEN_ORIGIN), content_type="application/json"
            )
        if not self.enabled:
            return ANONYMOUS
        token = request.query.get("token")
        if token is None:
            return None
        identity = await self.identify(token)
        if identity is None:
            log.warning("websocket refused: unknown token in the query", remote=request.remote)
            raise web.HTTPUnauthorized(
                text=frames.error(ErrorCode.UNAUTHORIZED), content_type="application/json"
            )
        return identity

    async def await_hello(self, ws: web.WebSocketResponse) -> tuple[str, WSMessage] | None:
        """A socket opened without `?token=`: its first frame must be a `hello` with a
        valid token. Returns the identity and that frame (to be handled as usual)."""
        try:
            msg = await ws.receive(timeout=self.hello_timeout_s)
        except TimeoutError:
            log.warning("websocket refused: no hello with a token in time")
            return None
        if msg.type is not WSMsgType.TEXT or len(msg.data) > PRE_AUTH_FRAME_CHARS:
            log.warning("websocket refused: first frame is no hello with a token")
            return None
        token = hello_token(msg.data)
        identity = None if token is None else await self.identify(token)
        if identity is None:
            log.warning("websocket refused: no valid token in hello")
            return None
        return identity, msg


async def refuse(ws: web.WebSocketResponse, protocol: int) -> None:
    """`unauthorized`, then close 1008."""
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError):  # the client is already gone
        await ws.send_str(frames.error(ErrorCode.UNAUTHORIZED, protocol=protocol))
    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"unauthorized")


async def first_then_rest(
    first: WSMessage | None, ws: web.WebSocketResponse
) -> AsyncIterator[WSMessage]:
    """The frames of a socket, `first` (the hello that authenticated it) included."""
    if first is not None:
        yield first
    async for msg in ws:
        yield msg
