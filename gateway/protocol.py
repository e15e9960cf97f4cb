"""The watch protocol, inbound: what a watch may send, validated. (What the gateway
sends back is built in `gateway.frames`.)

In (the original watch client's shapes):
    {"type": "text",  "message": "Wie spät ist es?"}
    {"type": "audio", "data": "<base64 WebM/Opus>", "format": "webm"}
and, for clients that keep a conversation across connections:
    {"type": "hello", "session_id": "<id to continue, optional>",
     "language": "<BCP-47, optional>", "timezone": "<IANA zone, optional>",
     "token": "<pairing token, when not given as /ws?token=>"}
        answered {"type": "hello", "session_id": "<the id to reuse>"} (with the
        session's language and timezone, where it has them)
    {"type": "reset"}   answered {"type": "reset", "session_id": "..."}
and, for protocol 2 clients (hello's `"protocol": 2`):
    {"type": "audio_start", "format": "webm"}, binary frames (MediaRecorder's chunks
        as they are recorded), {"type": "audio_end"}: a streamed recording
    {"type": "cancel"}: barge-in, stop the answer being generated or sent
and, after a reconnect (any protocol):
    {"type": "resume", "turn_id": "<a turn this identity asked>"}: its answer again,
        as that turn would have been answered on this connection
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from gateway.audio import AudioInfo, probe_webm_opus
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.language import valid_tag, zone

ACCEPTED_FORMATS = frozenset({"webm", "audio/webm", "audio/webm;codecs=opus"})


@dataclass(frozen=True)
class TextRequest:
    text: str


@dataclass(frozen=True)
class AudioRequest:
    audio: bytes
    info: AudioInfo


@dataclass(frozen=True)
class HelloRequest:
    session_id: str | None
    """The session to continue; None asks the server for a fresh one."""
    language: str | None = None
    """BCP-47 tag the watch speaks ("en-US"); None keeps what the session had."""
    timezone: str | None = None
    """IANA zone of the watch ("Europe/Berlin"); None keeps what the session had."""
    protocol: int | None = None
    """1 (the seed's) or 2 (streamed sentences, cancel); None keeps the connection's."""
    token: str | None = field(default=None, repr=False)
    """The watch's pairing token (`gateway.auth` checks it); never echoed or logged."""


@dataclass(frozen=True)
class ResetRequest:
    pass


@dataclass(frozen=True)
class CancelRequest:
    pass


@dataclass(frozen=True)
class AudioStartRequest:
    """A recording follows as binary frames, closed by `audio_end`."""


@dataclass(frozen=True)
class AudioEndRequest:
    pass


@dataclass(frozen=True)
class ResumeRequest:
    """The answer of a turn asked on an earlier connection (its gateway may be gone)."""

    turn_id: str


Request = (
    TextRequest
    | AudioRequest
    | HelloRequest
    | ResetRequest
    | CancelRequest
    | AudioStartRequest
    | AudioEndRequest
    | ResumeRequest
)
TurnRequest = TextRequest | AudioRequest

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
TURN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What a turn id named in `resume` may look like (the gateway's are 32 hex digits)."""
"""What a client-chosen session id may look like: long enough not to be guessed."""


def valid_session_id(value: object) -> str:
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        raise protocol_error(ErrorCode.INVALID_SESSION)
    return value


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 2000
    max_audio_seconds: float = 60.0
    max_audio_bytes: int = 4 * 1024 * 1024


def protocol_error(code: ErrorCode, detail: str = "", message: str | None = None) -> PipelineError:
    return PipelineError(code, ErrorCategory.PERMANENT, detail or code.value, message)


def parse(raw: str, limits: Limits) -> Request:
    """Validate one frame from the watch. Raises `PipelineError` naming what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise protocol_error(ErrorCode.INVALID_JSON) from None
    if not isinstance(data, dict):
        raise protocol_error(
            ErrorCode.INVALID_JSON, "not an object", "Die Nachricht muss ein JSON-Objekt sein."
        )
    kind = data.get("type")
    if kind == "text":
        return _parse_text(data, limits)
    if kind == "audio":
        return _parse_audio(data, limits)
    if kind == "hello":
        return _parse_hello(data)
    if kind == "reset":
        return ResetRequest()
    if kind == "cancel":
        return CancelRequest()
    if kind == "audio_start":
        _check_format(data)
        return AudioStartRequest()
    if kind == "audio_end":
        return AudioEndRequest()
    if kind == "resume":
        turn_id = data.get("turn_id")
        if not isinstance(turn_id, str) or not TURN_ID.fullmatch(turn_id):
            raise protocol_error(
                ErrorCode.INVALID_FIELD,
                "turn_id",
                "Das Feld 'turn_id' muss die Kennung einer Anfrage sein.",
            )
        return ResumeRequest(turn_id)
    raise protocol_error(ErrorCode.UNKNOWN_TYPE, f"type={kind!r:.40}")


def _parse_hello(data: dict[str, Any]) -> HelloRequest:
    session = data.get("session_id")
    language = data.get("language")
    if language is not None:
        language = valid_tag(language)
        if language is None:
            raise protocol_error(
                ErrorCode.INVALID_FIELD,
                "language",
                "Das Feld 'language' muss ein Sprachcode wie 'de-DE' oder 'en-US' sein.",
            )
    timezone = data.get("timezone")
    if timezone is not None and (not isinstance(timezone, str) or zone(timezone) is None):
        raise protocol_error(
            ErrorCode.INVALID_FIELD,
            "timezone",
            "Das Feld 'timezone' muss eine IANA-Zeitzone wie 'Europe/Berlin' sein.",
        )
    protocol = data.get("protocol")
    if protocol is not None and (type(protocol) is not int or protocol not in (1, 2)):
        raise protocol_error(
            ErrorCode.INVALID_FIELD, "protocol", "Das Feld 'protocol' muss 1 oder 2 sein."
        )
    token = data.get("token")
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= 256):
        raise protocol_error(
            ErrorCode.INVALID_FIELD,
            "token",
            "Das Feld 'token' muss ein Text von höchstens 256 Zeichen sein.",
        )
    session_id = None if session is None else valid_session_id(session)
    return HelloRequest(session_id, language, timezone, protocol, token)


def hello_token(raw: str) -> str | None:
    """The token of a `hello` frame, looked at before the connection is authenticated:
    only the token, so a hello whose other fields are wrong still authenticates (and
    gets its own error afterwards). None for anything else."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("type") != "hello":
        return None
    token = data.get("token")
    return token if isinstance(token, str) and token else None


def _parse_text(data: dict[str, Any], limits: Limits) -> TextRequest:
    message = data.get("message")
    if not isinstance(message, str):
        raise protocol_error(
            ErrorCode.INVALID_FIELD, "message", "Das Feld 'message' muss ein Text sein."
        )
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON, not text
        raise protocol_error(
            ErrorCode.INVALID_FIELD,
            "message: not encodable",
            "Der Text enthält ungültige Zeichen (einzelne UTF-16-Ersatzzeichen).",
        ) from None
    text = message.strip()
    if not any(unicodedata.category(c)[0] not in "CZ" for c in text):
        # Nothing but spaces, control or format characters: nothing to answer.
        raise protocol_error(ErrorCode.EMPTY_TEXT)
    if len(text) > limits.max_text_chars:
        raise protocol_error(
            ErrorCode.TEXT_TOO_LONG,
            message=f"Der Text ist zu lang (höchstens {limits.max_text_chars} Zeichen).",
        )
    return TextRequest(text)


def _parse_audio(data: dict[str, Any], limits: Limits) -> AudioRequest:
    encoded = data.get("data")
    if encoded is None or encoded == "":
        raise protocol_error(ErrorCode.MISSING_AUDIO)
    if not isinstance(encoded, str):
        raise protocol_error(
            ErrorCode.INVALID_FIELD, "data", "Das Feld 'data' muss Base64-Text sein."
        )
    _check_format(data)
    # A client that sends FileReader's data URL instead of bare base64 is forgiven.
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise protocol_error(ErrorCode.INVALID_BASE64) from None
    return recording(audio, limits)


def recording(audio: bytes, limits: Limits) -> AudioRequest:
    """A whole recording (from one frame, or streamed): checked and measured."""
    if not audio:
        raise protocol_error(ErrorCode.MISSING_AUDIO)
    if len(audio) > limits.max_audio_bytes:
        raise too_large_recording(limits.max_audio_bytes)
    return AudioRequest(audio, probe_webm_opus(audio, limits.max_audio_seconds))


def too_large_recording(max_bytes: int) -> PipelineError:
    if max_bytes >= 1_000_000:
        size = f"{max_bytes / 1_000_000:.1f} MB".replace(".", ",")
    else:
        size = f"{max_bytes // 1000} kB"
    return protocol_error(
        ErrorCode.TOO_LARGE, "recording too large", f"Die Aufnahme ist zu groß (höchstens {size})."
    )


def _check_format(data: dict[str, Any]) -> None:
    fmt = data.get("format", "webm")
    if not isinstance(fmt, str):
        raise protocol_error(
            ErrorCode.INVALID_FIELD, "format", "Das Feld 'format' muss ein Text sein."
        )
    if fmt.lower().replace(" ", "") not in ACCEPTED_FORMATS:
        raise protocol_error(ErrorCode.UNSUPPORTED_AUDIO, f"format={fmt!r:.40}")
