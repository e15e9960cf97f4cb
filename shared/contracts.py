"""The message shapes that travel through the broker: the one place they are defined.

Each event is a frozen dataclass. On the wire one field is the AMQP body (raw audio
bytes or UTF-8 text: no base64 inside the broker) and every other field is an AMQP
header; `turn_id` also travels as `correlation_id` and `reply_to` as the AMQP
`reply_to` property, so broker tooling shows them.

Streaming is built in: a stage may emit several events for one turn, numbered by
`seq` and closed by one with `final=True`. The llm stage emits one `SpeakRequest` per
sentence of the answer, and tts one `Reply` for each; the gateway puts them in order.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar, get_type_hints

import aio_pika

from shared.errors import ContractError

CONTRACT_VERSION = 1
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"


class Stage(StrEnum):
    """A worker stage; its value is the routing key and the queue's suffix."""

    STT = "stt"
    LLM = "llm"
    TTS = "tts"


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """What every event of a turn carries, whatever its stage."""

    turn_id: str
    """Unique id of one question-and-answer exchange; the de-duplication key."""
    session_id: str
    """The conversation this turn belongs to; history is kept per session."""
    identity: str = "anonymous"
    """Who is talking (an authenticated user later); part of every history key, so
    no session can be read through another identity."""
    reply_to: str
    """Name of the reply queue of the gateway instance holding the watch's connection."""
    deadline_ms: int
    """Unix time in milliseconds after which nobody waits for this turn any more.
    (An integer: AMQP headers carry Python floats as 32-bit, too coarse for a clock.)"""
    seq: int = 0
    """Position of this chunk within the turn's output of one stage, from 0."""
    final: bool = True
    """True on the last chunk of a stage's output for this turn."""
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds spent per stage so far, e.g. {"stt": 412.0, "llm": 903.5}."""
    memory: str = ""
    """Set by the llm stage: "ok", or "unavailable" when the answer had to be given
    without the conversation's history (Redis unreachable)."""
    language: str = ""
    """BCP-47 language of the turn ("de-DE", "en-US"): the session's from `hello`, or
    what the stt stage detected; the answer is written and spoken in it. Empty: the
    deployment's default (STT_LANGUAGE / TTS_LANGUAGE)."""
    timezone: str = ""
    """IANA time zone of the watch ("Europe/Berlin"); empty: ASSISTANT_TIMEZONE."""
    accepted_ms: int = 0
    """Unix time in milliseconds when the gateway accepted the turn (0: not known).
    A tts worker whose cancel subscription was up since before then has heard every
    cancel of the turn, and asks Redis nothing (`shared.cancel`)."""
    repeat: bool = False
    """Set on an event that may repeat one sent before: made from a redelivered input
    (whose first try may have published it already), from an input that was itself
    marked so, or replayed from a dead-letter queue. Only such an event is looked up
    in the next stage's ledger (`shared.worker`); a first delivery of an unmarked one
    cannot have been done there before."""

    KIND: ClassVar[str] = ""
    BODY: ClassVar[str] = ""

    @property
    def deadline(self) -> float:
        """The deadline as Unix time in seconds."""
        return self.deadline_ms / 1000

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.deadline

    def remaining(self, now: float | None = None) -> float:
        """Seconds left until the deadline (negative once expired)."""
        return self.deadline - (time.time() if now is None else now)

    def carried(self) -> dict[str, Any]:
        """The envelope fields the next stage's event inherits (seq and final start anew)."""
        return {
            "turn_id": self.turn_id,
            "session_id": self.session_id,
            "identity": self.identity,
            "reply_to": self.reply_to,
            "deadline_ms": self.deadline_ms,
            "timings": self.timings,
            "memory": self.memory,
            "language": self.language,
            "timezone": self.timezone,
            "accepted_ms": self.accepted_ms,
            "repeat": self.repeat,
        }

    def with_timing(self, stage: str, ms: float) -> dict[str, float]:
        """The timings so far plus this stage's."""
        return {**self.timings, stage: round(ms, 1)}


@dataclass(frozen=True, kw_only=True)
class AudioTurn(Envelope):
    """Gateway → stt_worker: a spoken question."""

    KIND: ClassVar[str] = "audio_turn"
    BODY: ClassVar[str] = "audio"

    audio: bytes
    """The recording exactly as the watch sent it (WebM container, Opus codec)."""
    sample_rate: int = 48000
    """Sample rate of the Opus stream, from the container."""
    transcript_ahead: bool = True
    """Whether the gateway wants the transcript as a `Heard` of its own, ahead of the
    answer: a protocol 2 watch shows it; a protocol 1 watch gets it with the answer
    only, so its turns skip that message (one publish and one delivery fewer)."""


@dataclass(frozen=True, kw_only=True)
class TextTurn(Envelope):
    """Gateway or stt_worker → llm_worker: the user's words as text."""

    KIND: ClassVar[str] = "text_turn"
    BODY: ClassVar[str] = "text"

    text: str
    """What the user said (the transcript) or typed."""
    source: Literal["text", "speech"] = "text"
    """Whether the words were typed or transcribed."""


@dataclass(frozen=True, kw_only=True)
class SpeakRequest(Envelope):
    """llm_worker → tts_worker: answer text to be spoken."""

    KIND: ClassVar[str] = "speak_request"
    BODY: ClassVar[str] = "text"

    text: str
    """The answer (or, when streaming, one sentence of it)."""
    transcript: str = ""
    """The user's words this answers, passed through to the reply."""


@dataclass(frozen=True, kw_only=True)
class Reply(Envelope):
    """Any stage → the gateway's reply queue: an answer chunk or the turn's error."""

    KIND: ClassVar[str] = "reply"
    BODY: ClassVar[str] = "audio"

    audio: bytes = b""
    """Spoken answer (MP3); empty on errors."""
    audio_format: str = "mp3"
    text: str = ""
    """The answer text that `audio` speaks."""
    transcript: str = ""
    """The user's words (the transcript for spoken questions)."""
    error_code: str = ""
    """Set on errors: an `ErrorCode` value. An error reply is always final."""
    error_message: str = ""
    """Human sentence for the watch, set on errors."""

    @property
    def is_error(self) -> bool:
        return bool(self.error_code)


@dataclass(frozen=True, kw_only=True)
class Heard(Envelope):
    """stt_worker → the gateway's reply queue: the transcript as soon as it exists, so
    a protocol 2 watch shows what was heard while the answer is still being made
    (the answer's replies carry it too, for protocol 1 and for a resume)."""

    KIND: ClassVar[str] = "heard"
    BODY: ClassVar[str] = "text"

    text: str
    """What the user said, as recognised."""


TO_GATEWAY: tuple[type[Envelope], ...] = (Reply, Heard)
"""Events that go to the asking gateway's reply queue (`reply_to`), not to a stage."""


E = TypeVar("E", bound=Envelope)


def encode(event: Envelope) -> aio_pika.Message:
    """Turn an event into a persistent AMQP message."""
    headers: dict[str, Any] = {"kind": event.KIND, "v": CONTRACT_VERSION}
    body: bytes = b""
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == event.BODY:
            body = value.encode() if isinstance(value, str) else value
        else:
            headers[f.name] = value
    return aio_pika.Message(
        body,
        headers=headers,
        content_type=TEXT_TYPE if event.BODY == "text" else BINARY_TYPE,
        correlation_id=event.turn_id,
        reply_to=event.reply_to,
        message_id=f"{event.turn_id}:{event.KIND}:{event.seq}",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=time.time(),
    )


def decode(message: aio_pika.abc.AbstractMessage, expect: type[E]) -> E:
    """Parse an AMQP message as event type `expect`; `ContractError` when it is not one."""
    headers = dict(message.headers or {})
    kind = headers.pop("kind", None)
    if kind != expect.KIND:
        raise ContractError(f"expected a {expect.KIND!r} message, got kind={kind!r}")
    version = headers.pop("v", None)
    if version != CONTRACT_VERSION:
        raise ContractError(f"unsupported contract version {version!r}")
    hints = _hints(expect)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(expect):
        if f.name == expect.BODY:
            raw = bytes(message.body)
            if hints[f.name] is str:
                try:
                    values[f.name] = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ContractError(f"body of {expect.KIND} is not UTF-8") from exc
            else:
                values[f.name] = raw
        elif f.name in headers:
            values[f.name] = _coerce(expect.KIND, f.name, hints[f.name], headers[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ContractError(f"{expect.KIND} lacks header {f.name!r}")
    return expect(**values)


def _hints(cls: type[Envelope]) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = _HINTS[cls] = get_type_hints(cls)
    return cached


_HINTS: dict[type[Envelope], dict[str, Any]] = {}


def _coerce(kind: str, name: str, hint: Any, value: Any) -> Any:
    """Check a header value against the field's type; AMQP strings may arrive as bytes."""
    if isinstance(value, bytes) and hint is not bytes:
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(f"{kind}.{name} is not UTF-8") from exc
    origin = getattr(hint, "__origin__", None)
    if origin is Literal:
        if value not in hint.__args__:
            raise ContractError(f"{kind}.{name}={value!r} is not one of {hint.__args__}")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
        ):
            raise ContractError(f"{kind}.{name} must be a table of numbers")
        return {str(k): float(v) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ContractError(f"{kind}.{name} must be an integer")
    if not isinstance(value, hint):
        raise ContractError(f"{kind}.{name} must be {hint.__name__}, got {type(value).__name__}")
    return value
