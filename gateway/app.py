"""The aiohttp application: `/ws` for watches, `/healthz` for operators, and the watch
page (`/`, `/static/…`) people open on the watch."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiohttp import WSCloseCode, WSMsgType, web

from gateway import auth, frames
from gateway.limits import IDLE_CLOSE_CODE, REFUSED_CLOSE_CODE, Admission, Refusal, Ticket
from gateway.protocol import (
    AudioEndRequest,
    AudioRequest,
    AudioStartRequest,
    CancelRequest,
    HelloRequest,
    Limits,
    ResetRequest,
    ResumeRequest,
    TurnRequest,
    parse,
    recording,
    too_large_recording,
    valid_session_id,
)
from gateway.resume import Resumer
from gateway.turns import PendingTurn, PendingTurns
from shared import observe, tracing
from shared.broker import Publisher, connect, open_channel
from shared.contracts import AudioTurn, Envelope, Heard, Reply, TextTurn, decode
from shared.errors import ContractError, ErrorCode, PipelineError
from shared.history import HistoryStore, HistoryUnavailable, history_limits
from shared.logging import get_logger
from shared.redis_client import redis_client
from shared.results import ResultStore
from shared.sessions import Profile, ProfileStore
from shared.settings import GatewaySettings
from shared.tokens import TokenStore
from shared.topology import Topology, declare, declare_reply_queue

log = get_logger(__name__)

PUBLISH_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0
"""How long a drain waits for the watches to answer its close frames."""
BEGIN_WAIT_S = 0.1
"""How long a turn waits for its record in Redis (`shared.results`) before it is published."""
DRAIN_MESSAGE = (
    "Uhrwerk wird gerade neu gestartet; die Antwort lässt sich nach dem Wiederverbinden abholen."
)
"""A turn still running when the drain ends: its answer is resumable on another gateway."""
PARSE_IN_THREAD_BYTES = 64 * 1024
"""Frames larger than this are parsed off the event loop (base64 and WebM probing)."""
STATIC_DIR = Path(__file__).with_name("static")
"""The watch page: plain HTML, CSS and JavaScript, served as they are."""
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "media-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class Connection:
    """One watch's WebSocket."""

    ws: web.WebSocketResponse
    session_id: str
    identity: str = auth.ANONYMOUS
    """Who is connected: the name of the token it presented (`gateway.auth`)."""
    profile: Profile = field(default_factory=Profile)
    """The session's language and time zone, from `hello` (now or on an earlier
    connection)."""
    protocol: int = 1
    """1: the seed's one reply per turn; 2: sentences as they are ready, cancel."""
    upload: bytearray | None = None
    """A recording being streamed (between `audio_start` and `audio_end`)."""
    upload_refused: bool = False
    """The streamed recording went over the limit and had its one `too_large`: its
    further chunks and its `audio_end` are dropped without a reply."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: str) -> None:
        if self.ws.closed:
            raise ConnectionError("websocket closed")
        async with self.lock:
            await self.ws.send_str(frame)

    async def send_with_audio(self, frame: str, audio: bytes) -> None:
        if self.ws.closed:
            raise ConnectionError("websocket closed")
        async with self.lock:
            await self.ws.send_str(frame)
            await self.ws.send_bytes(audio)

    async def error(self, code: ErrorCode, message: str | None = None, turn_id: str = "") -> None:
        await self.send(frames.error(code, message, turn_id, self.protocol))


def new_session_id() -> str:
    """128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.gateway_id = settings.gateway_id or uuid.uuid4().hex[:12]
        self.topology = Topology(settings.topology_prefix)
        self.pending = PendingTurns(on_failed=self._forget_failed_turn)
        redis = redis_client(settings.redis_url)
        self.history = HistoryStore(redis, settings.topology_prefix, history_limits(settings))
        self.profiles = ProfileStore(redis, settings.topology_prefix, settings.history_ttl_s)
        self.auth = auth.Authenticator(settings, TokenStore(redis, settings.topology_prefix))
        self.limits = Limits(
            settings.max_text_chars, settings.max_audio_seconds, settings.max_audio_bytes
        )
        self.admission = Admission(settings)
        """Connection and question limits, backpressure, idle connections (`gateway.limits`)."""
        self.results = ResultStore(redis, settings.topology_prefix, settings.result_ttl_s)
        self.resumer = Resumer(
            self.pending, self.results, settings.turn_timeout_s, settings.max_pending_turns
        )
        self.draining = False
        """Set by `drain` (SIGTERM): no new turns, /healthz says 503."""
        self._hurry = asyncio.Event()
        self._connections: dict[str, Connection] = {}
        """Open sockets by connection id, closed with 1001 at the end of a drain."""
        self._background: set[asyncio.Task[None]] = set()
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None
        self.reply_queue = self.topology.reply_queue(self.gateway_id)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/healthz", self.healthz)
        # On the gateway's own port: one port to publish, and nothing on it that a watch
        # could not already learn from /healthz (which shows the queue depths too).
        app.router.add_get("/readyz", observe.readyz(self.readiness))
        app.router.add_get("/metrics", self.metrics)
        self._add_page(app)
        app.on_startup.append(lambda _: self.start())
        app.on_cleanup.append(lambda _: self.stop())
        return app

    def _add_page(self, app: web.Application) -> None:
        """`GET /` is the watch page, with the recording limit filled in; `/static/<name>`
        its files (only those in the folder, looked up by name, never by path)."""
        page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        page = page.replace(
            'data-max-audio-seconds="60"',
            f'data-max-audio-seconds="{self.settings.max_audio_seconds:g}"',
        )
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}

        async def index(_: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

        async def static(request: web.Request) -> web.FileResponse:
            path = files.get(request.match_info["name"])
            if path is None:
                raise web.HTTPNotFound()
            return web.FileResponse(path, headers=PAGE_HEADERS)

        app.router.add_get("/", index)
        app.router.add_get("/static/{name}", static)

    async def start(self) -> None:
        await self.auth.announce()
        self._connection = await connect(self.settings.amqp_url, f"gateway-{self.gateway_id}")
        channel = await open_channel(self._connection, self.settings.prefetch)
        declared = await declare(channel, self.topology)
        self._publisher = Publisher(channel, declared.exchange)
        queue = await declare_reply_queue(
            channel, self.topology, self.gateway_id, self.settings.reply_queue_expires_s
        )
        await queue.consume(self._on_reply)
        self.admission.start(self._connection)
        log.info("gateway ready", reply_queue=queue.name, port=self.settings.gateway_port)

    async def stop(self) -> None:
        await self.admission.stop()
        if self._connection is not None:
            await self._connection.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def hurry(self) -> None:
        """A second SIGTERM: end the drain now."""
        self._hurry.set()

    async def drain(self) -> None:
        """SIGTERM: take no new turns (`shutting_down`; /healthz 503, new sockets 503),
        let the turns in flight finish for up to GATEWAY_DRAIN_S, fail the rest with
        `shutting_down` (their answers stay resumable elsewhere: the pipeline goes on),
        then close every socket with 1001 so the watches reconnect to another gateway."""
        self.draining = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        log.info(
            "gateway draining",
            pending_turns=len(self.pending),
            connections=len(self._connections),
            drain_s=self.settings.gateway_drain_s,
        )
        waits = [
            asyncio.create_task(self.pending.none_left()),
            asyncio.create_task(self._hurry.wait()),
        ]
        await asyncio.wait(
            waits, timeout=self.settings.gateway_drain_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in waits:
            task.cancel()
        unfinished = 0
        for turn_id in self.pending.ids():
            # A sentence being sent goes out whole; the turn goes on in the pipeline.
            turn = await self.pending.cancel(turn_id, outcome="handed_over")
            if turn is None:
                continue
            unfinished += 1
            frame = frames.error(
                ErrorCode.SHUTTING_DOWN, DRAIN_MESSAGE, turn_id=turn_id, protocol=turn.protocol
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await turn.client.send(frame)
        closing = [
            c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"gateway shutting down")
            for c in list(self._connections.values())
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):  # a watch that never answers the close
                await asyncio.gather(*closing, return_exceptions=True)
        log.info(
            "gateway drained",
            unfinished_turns=unfinished,
            closed=len(closing),
            ms=round((loop.time() - started) * 1000, 1),
        )

    def readiness(self) -> dict[str, bool]:
        """For /readyz: the broker connection is up and the gateway is not draining."""
        connection = self._connection
        broker = connection is not None and connection.connected.is_set()
        return {"broker": broker, "accepting": not self.draining}

    async def metrics(self, request: web.Request) -> web.Response:
        """/metrics, with the gauges read now: open sockets and the last queue depths."""
        observe.WATCHES.set(len(self._connections))
        observe.QUEUE_DEPTH.clear()  # unknown while the broker cannot be asked
        for stage, depth in self.admission.queues.depths.items():
            observe.QUEUE_DEPTH.labels(stage.value).set(depth)
        return await observe.metrics(request)

    async def healthz(self, _: web.Request) -> web.Response:
        broker_ok = self._connection is not None and not self._connection.is_closed
        # Draining (SIGTERM): not ready, so a load balancer sends no new watches here.
        ready = broker_ok and not self.draining
        body = {
            "status": "draining" if self.draining else "ok" if broker_ok else "degraded",
            "broker": "connected" if broker_ok else "disconnected",
            "gateway_id": self.gateway_id,
            "pending_turns": len(self.pending),
            **self.admission.report(),
        }
        return web.json_response(body, status=200 if ready else 503)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.draining:  # going away: the watch is to connect to another gateway
            raise web.HTTPServiceUnavailable(
                text=frames.error(ErrorCode.SHUTTING_DOWN), content_type="application/json"
            )
        # Origin and a query token are checked before anything else (403, 401).
        identity = await self.auth.on_upgrade(request)
        asked = request.query.get("session")
        if asked is not None:
            try:
                session_id = valid_session_id(asked)
            except PipelineError as exc:
                raise web.HTTPBadRequest(
                    text=frames.error(exc.code), content_type="application/json"
                ) from None
        else:
            session_id = new_session_id()
        protocol = request.query.get("protocol", "1")
        if protocol not in ("1", "2"):
            raise web.HTTPBadRequest(
                text=frames.error(
                    ErrorCode.INVALID_FIELD, "Der Parameter 'protocol' muss 1 oder 2 sein."
                ),
                content_type="application/json",
            )
        # Frames up to 4x the limit are read and answered with an error; larger ones
        # make aiohttp close the connection (1009), so memory stays bounded.
        ws = web.WebSocketResponse(max_msg_size=4 * self.settings.max_message_bytes, heartbeat=30)
        await ws.prepare(request)
        conn = Connection(ws=ws, session_id=session_id, protocol=int(protocol))
        ticket = await self._admit(conn, identity or "", request.remote or "")
        if ticket is None:
            return ws
        first = None
        if identity is None:  # no ?token=: the first frame must be a hello with one
            paired = await self.auth.await_hello(ws)
            if paired is None:
                self.admission.disconnect(ticket)
                await auth.refuse(ws, conn.protocol)
                return ws
            identity, first = paired
        conn.identity = identity
        refusal = self.admission.identify(ticket, identity)
        if refusal is not None:
            await self._refuse(conn, ticket, refusal)
            return ws
        if asked is not None:
            conn.profile = await self._load_profile(conn)
        with structlog.contextvars.bound_contextvars(connection_id=conn.id):
            log.info(
                "watch connected",
                remote=request.remote,
                session_id=conn.session_id,
                resumed=asked is not None,
                identity=conn.identity,
            )
            self._connections[conn.id] = conn
            try:
                async for msg in auth.first_then_rest(first, ws):
                    self.admission.frame(ticket)
                    try:
                        if msg.type is WSMsgType.TEXT:
                            await self._on_frame(conn, msg.data)
                        elif msg.type is WSMsgType.BINARY:
                            await self._on_binary(conn, msg.data)
                        elif msg.type is WSMsgType.ERROR:
                            log.warning("websocket error", error=str(ws.exception()))
                    except ConnectionError:
                        break  # the watch is gone; nothing to answer
                    except Exception:
                        # A bug must cost one frame an error, never the connection.
                        log.exception("frame handling failed")
                        await conn.error(ErrorCode.INTERNAL)
            finally:
                self.admission.disconnect(ticket)
                self._connections.pop(conn.id, None)
                conn.upload = None
                dropped = self.pending.drop_connection(conn.id)
                log.info("watch disconnected", abandoned_turns=dropped)
        return ws

    async def _admit(self, conn: Connection, identity: str, address: str) -> Ticket | None:
        """Count a new socket in (its identity empty until its `hello` names a token),
        or refuse it. Refused after the upgrade, with an error frame and close 1013, not
        with a 429/503 before it: a browser cannot read a refused upgrade's body, and
        the page is to show why and wait longer before its next attempt."""

        async def close_idle() -> None:
            await conn.ws.close(code=IDLE_CLOSE_CODE, message=b"idle timeout")

        admitted = self.admission.connect(
            identity,
            address,
            close=close_idle,
            busy=lambda: self.pending.count_for(conn.id) > 0,
            gone=lambda: conn.ws.closed,
        )
        if isinstance(admitted, Refusal):
            await self._refuse(conn, None, admitted)
            return None
        return admitted

    async def _refuse(self, conn: Connection, ticket: Ticket | None, refusal: Refusal) -> None:
        if ticket is not None:
            self.admission.disconnect(ticket)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send(frames.refused(refusal.code, conn.protocol, refusal.retry_after))
            await conn.ws.close(code=REFUSED_CLOSE_CODE, message=refusal.code.value.encode())

    async def _on_binary(self, conn: Connection, data: bytes) -> None:
        """A chunk of a streamed recording; outside `audio_start`…`audio_end`, an error."""
        if conn.upload is None:
            if not conn.upload_refused:
                await conn.error(ErrorCode.BINARY_FRAME)
            return
        if len(conn.upload) + len(data) > self.settings.max_audio_bytes:
            conn.upload, conn.upload_refused = None, True  # one error for the recording
            too_large = too_large_recording(self.settings.max_audio_bytes)
            await conn.error(too_large.code, too_large.message)
            return
        conn.upload += data

    async def _on_frame(self, conn: Connection, raw: str) -> None:
        if len(raw) > self.settings.max_message_bytes:
            await conn.error(ErrorCode.TOO_LARGE)
            return
        try:
            if len(raw) > PARSE_IN_THREAD_BYTES:
                request = await asyncio.to_thread(parse, raw, self.limits)
            else:
                request = parse(raw, self.limits)
            if isinstance(request, AudioEndRequest):
                if conn.upload_refused:  # its `too_large` was its answer
                    conn.upload_refused = False
                    return
                request = await self._end_upload(conn)
        except PipelineError as exc:
            log.info("rejected frame", code=exc.code.value, detail=exc.detail)
            await conn.error(exc.code, exc.message)
            return
        if isinstance(request, HelloRequest):
            await self._hello(conn, request)
        elif isinstance(request, ResetRequest):
            await self._reset(conn)
        elif isinstance(request, CancelRequest):
            await self._cancel_running(conn)
        elif isinstance(request, AudioStartRequest):
            conn.upload, conn.upload_refused = bytearray(), False
        elif isinstance(request, ResumeRequest):
            await self._resume(conn, request.turn_id)
        else:
            await self._ask(conn, request)

    async def _end_upload(self, conn: Connection) -> AudioRequest:
        if conn.upload is None:
            raise PipelineError(
                ErrorCode.MISSING_AUDIO,
                detail="audio_end without audio_start",
                message="Keine Audio-Daten empfangen: erst audio_start, dann die Aufnahme.",
            )
        audio, conn.upload = bytes(conn.upload), None
        if len(audio) > PARSE_IN_THREAD_BYTES:
            return await asyncio.to_thread(recording, audio, self.limits)
        return recording(audio, self.limits)

    async def _resume(self, conn: Connection, turn_id: str) -> None:
        if self.draining:
            await conn.error(ErrorCode.SHUTTING_DOWN, turn_id=turn_id)
            return
        await self.resumer.resume(
            conn,
            turn_id=turn_id,
            identity=conn.identity,
            session_id=conn.session_id,
            connection_id=conn.id,
            protocol=conn.protocol,
        )

    async def _ask(self, conn: Connection, request: TurnRequest) -> None:
        if self.draining:  # SIGTERM: this gateway takes no new turns
            await conn.error(ErrorCode.SHUTTING_DOWN)
            return
        # Before the barge-in: a question that is not taken leaves the running one be.
        refusal = self.admission.turn(conn.identity, spoken=isinstance(request, AudioRequest))
        if refusal is not None:
            await conn.send(frames.refused(refusal.code, conn.protocol, refusal.retry_after))
            return
        if conn.protocol >= 2:
            await self._cancel_running(conn)  # a new question is a barge-in
        if self.pending.count_for(conn.id) >= self.settings.max_pending_turns:
            await conn.error(ErrorCode.BUSY)
            return
        await self._start_turn(conn, request)

    async def _cancel_running(self, conn: Connection) -> None:
        """Barge-in: end this connection's running turns at once; every stage stops
        them, and their memory keeps only what the watch was sent."""
        for turn_id in self.pending.of_connection(conn.id):
            turn = await self.pending.cancel(turn_id)
            if turn is None:
                continue
            await conn.send(frames.cancelled(turn_id))
            log.info("turn cancelled", turn_id=turn_id, sentences_sent=len(turn.texts))
            try:
                await self.history.cancel_turn(
                    turn.identity, turn.session_id, turn_id, turn.spoken()
                )
            except HistoryUnavailable as exc:
                log.warning("cancel not recorded, memory unavailable", error=str(exc))

    async def _load_profile(self, conn: Connection) -> Profile:
        try:
            return await self.profiles.load(conn.identity, conn.session_id)
        except HistoryUnavailable as exc:
            log.warning("session profile unavailable", error=str(exc))
            return Profile()

    async def _hello(self, conn: Connection, request: HelloRequest) -> None:
        if (
            request.token is not None
            and self.auth.enabled
            and await self.auth.identify(request.token) != conn.identity
        ):
            # A connection keeps the identity it was opened with.
            await auth.refuse(conn.ws, conn.protocol)
            return
        if request.session_id is not None:
            conn.session_id = request.session_id
            conn.profile = await self._load_profile(conn)
        if request.protocol is not None:
            conn.protocol = request.protocol
        if request.language is not None or request.timezone is not None:
            conn.profile = Profile(
                request.language if request.language is not None else conn.profile.language,
                request.timezone if request.timezone is not None else conn.profile.timezone,
            )
            try:
                await self.profiles.save(conn.identity, conn.session_id, conn.profile)
            except HistoryUnavailable as exc:
                log.warning("session profile not saved", error=str(exc))
        log.info(
            "hello",
            session_id=conn.session_id,
            resumed=request.session_id is not None,
            language=conn.profile.language or None,
            timezone=conn.profile.timezone or None,
        )
        await conn.send(
            frames.hello(
                conn.session_id, conn.profile.language, conn.profile.timezone, conn.protocol
            )
        )

    async def _reset(self, conn: Connection) -> None:
        try:
            cleared = await self.history.clear(conn.identity, conn.session_id)
        except HistoryUnavailable as exc:
            log.warning("reset failed, memory unavailable", error=str(exc))
            await conn.error(ErrorCode.MEMORY_UNAVAILABLE)
            return
        log.info("session memory cleared", session_id=conn.session_id, had_memory=cleared)
        await conn.send(frames.reset(conn.session_id))

    async def _forget_failed_turn(self, turn: PendingTurn) -> None:
        """A failed or timed-out turn must leave nothing in the session's memory."""
        try:
            await self.history.forget_turn(turn.identity, turn.session_id, turn.turn_id)
        except HistoryUnavailable as exc:
            log.warning(
                "could not take back a failed turn's memory", turn_id=turn.turn_id, error=str(exc)
            )

    async def _start_turn(self, conn: Connection, request: TurnRequest) -> None:
        turn_id = uuid.uuid4().hex
        accepted = time.time()
        deadline_ms = int((accepted + self.settings.turn_timeout_s) * 1000)
        event: Envelope
        envelope: dict[str, Any] = {
            "turn_id": turn_id,
            "session_id": conn.session_id,
            "identity": conn.identity,
            "reply_to": self.reply_queue,
            "deadline_ms": deadline_ms,
            "accepted_ms": int(accepted * 1000),
            "language": conn.profile.language,
            "timezone": conn.profile.timezone,
        }
        if isinstance(request, AudioRequest):
            event = AudioTurn(
                **envelope,
                audio=request.audio,
                sample_rate=request.info.sample_rate,
                transcript_ahead=conn.protocol >= 2,
            )
        else:
            event = TextTurn(**envelope, text=request.text, source="text")
        voice = isinstance(request, AudioRequest)
        span = tracing.start_turn(
            turn_id, conn.session_id, conn.protocol, "audio" if voice else "text"
        )
        self.pending.add(
            PendingTurn(
                turn_id,
                conn.session_id,
                conn.identity,
                conn.id,
                conn,
                protocol=conn.protocol,
                voice=voice,
                span=span,
            ),
            self.settings.turn_timeout_s,
        )
        # Kept before the publish, so that a resume on another gateway (this one may die
        # at any moment) can tell this running turn from an unknown one. A slow Redis
        # holds the turn up for at most BEGIN_WAIT_S; the write goes on behind it.
        keeping = self._spawn(
            self.results.begin(
                turn_id,
                conn.identity,
                conn.session_id,
                deadline_ms,
                isinstance(request, AudioRequest),
            )
        )
        await asyncio.wait({keeping}, timeout=BEGIN_WAIT_S)
        if conn.protocol >= 2:
            # Before publishing: a clock answer can be back before the publish returns.
            await conn.send(frames.turn(turn_id))
        try:
            assert self._publisher is not None
            # The turn's span is the parent of the first stage's (in the headers).
            with tracing.current(span):
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    await self._publisher.publish(event)
        except (
            aio_pika.exceptions.AMQPError,
            # Raised (a RuntimeError, not an AMQPError) while the robust connection is
            # still reopening its channel after the broker came back.
            aio_pika.exceptions.ChannelInvalidStateError,
            TimeoutError,
            ConnectionError,
        ) as exc:
            log.error("could not publish turn", turn_id=turn_id, error=repr(exc))
            self.pending.fail(turn_id)
            await conn.error(ErrorCode.UNAVAILABLE, turn_id=turn_id)
            return
        log.info("turn accepted", turn_id=turn_id, session_id=conn.session_id, kind=event.KIND)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        try:
            if (message.headers or {}).get("kind") == Heard.KIND:
                await self.pending.heard(decode(message, Heard))
            else:
                await self.pending.deliver(decode(message, Reply))
        except ContractError as exc:
            log.error("malformed reply dropped", reason=exc.detail)
        await message.ack()
