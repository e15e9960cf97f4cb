from __future__ import annotations

import time
from typing import Any

import aio_pika
import pamqp.decode
import pamqp.encode
import pytest

from shared.broker import ROUTES
from shared.contracts import (
    AudioTurn,
    Reply,
    SpeakRequest,
    Stage,
    TextTurn,
    decode,
    encode,
)
from shared.errors import ContractError


def envelope() -> dict[str, object]:
    return {
        "turn_id": "turn-1",
        "session_id": "sess-1",
        "reply_to": "q.reply.g1",
        "deadline_ms": int(time.time() * 1000) + 30_000,
        "timings": {"stt": 12.5},
    }


def roundtrip(event: object, cls: type) -> object:
    """Encode, pass the headers through AMQP's own wire encoding, decode."""
    message = encode(event)  # type: ignore[arg-type]
    _, headers = pamqp.decode.field_table(pamqp.encode.field_table(dict(message.headers or {})))
    return decode(aio_pika.Message(message.body, headers=headers), cls)


def test_audio_travels_as_raw_bytes_in_the_body() -> None:
    audio = bytes(range(256)) * 4
    event = AudioTurn(**envelope(), audio=audio, sample_rate=16000)  # type: ignore[arg-type]
    message = encode(event)
    assert message.body == audio
    assert "audio" not in (message.headers or {})
    assert message.correlation_id == "turn-1"
    assert message.reply_to == "q.reply.g1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert roundtrip(event, AudioTurn) == event


@pytest.mark.parametrize(
    "event",
    [
        TextTurn(**envelope(), text="Grüß Gott ☀", source="speech"),  # type: ignore[arg-type]
        SpeakRequest(**envelope(), text="Antwort", transcript="Frage", seq=2, final=False),  # type: ignore[arg-type]
        Reply(**envelope(), audio=b"ID3...", text="Antwort", transcript="Frage"),  # type: ignore[arg-type]
        Reply(**envelope(), error_code="timeout", error_message="zu spät"),  # type: ignore[arg-type]
    ],
)
def test_every_event_roundtrips(event: object) -> None:
    assert roundtrip(event, type(event)) == event


def test_wrong_kind_is_a_contract_error() -> None:
    message = encode(TextTurn(**envelope(), text="x"))  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="expected a 'audio_turn'"):
        decode(message, AudioTurn)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"turn_id": None}, "lacks header 'turn_id'"),
        ({"deadline_ms": "soon"}, "deadline_ms must be int"),
        ({"seq": True}, "seq must be an integer"),
        ({"source": "telepathy"}, "source='telepathy' is not one of"),
        ({"timings": {"stt": "fast"}}, "timings must be a table of numbers"),
        ({"v": 99}, "unsupported contract version"),
    ],
)
def test_malformed_headers_are_contract_errors(change: dict[str, Any], error: str) -> None:
    message = encode(TextTurn(**envelope(), text="x"))  # type: ignore[arg-type]
    headers = dict(message.headers or {})
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    with pytest.raises(ContractError, match=error):
        decode(aio_pika.Message(message.body, headers=headers), TextTurn)


def test_text_body_must_be_utf8() -> None:
    message = encode(TextTurn(**envelope(), text="x"))  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="not UTF-8"):
        decode(aio_pika.Message(b"\xff\xfe", headers=message.headers), TextTurn)


def test_routes_cover_every_stage_once() -> None:
    assert sorted(ROUTES.values()) == sorted(Stage)


def test_deadline_survives_the_broker_to_the_millisecond() -> None:
    deadline_ms = int(time.time() * 1000) + 1234
    event = TextTurn(**{**envelope(), "deadline_ms": deadline_ms}, text="x")  # type: ignore[arg-type]
    decoded = roundtrip(event, TextTurn)
    assert decoded.deadline_ms == deadline_ms  # type: ignore[attr-defined]


def test_deadline_helpers() -> None:
    event = TextTurn(**{**envelope(), "deadline_ms": 100_000}, text="x")  # type: ignore[arg-type]
    assert event.expired(now=100.0)
    assert not event.expired(now=99.0)
    assert event.remaining(now=90.0) == 10.0
    assert event.with_timing("llm", 3.14159) == {"stt": 12.5, "llm": 3.1}
