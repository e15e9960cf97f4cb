"""Every frame the gateway sends to a watch, built in one place.

Protocol 1 (the seed's, the default): one JSON reply per turn,
    {"text_response", "audio_base64", "audio_format": "mp3", "transcript", "turn_id", "timings"}
or {"error", "code", "turn_id"}; `hello` and `reset` answers for clients that use them.

Protocol 2 (opted into with hello's `"protocol": 2` or `/ws?protocol=2`), per turn:
    {"type": "turn", "turn_id"}                          the question was accepted
                                                         (+ "resumed": true after `resume`)
    {"type": "transcript", "turn_id", "text"}            for spoken questions
    {"type": "sentence", "turn_id", "seq", "text"}       then one binary frame: its MP3
    {"type": "done", "turn_id", "text_response", "timings"}
    {"type": "error", "turn_id", "error", "code"} | {"type": "cancelled", "turn_id"}
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.errors import MESSAGES, ErrorCode


def _dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False)


def error(
    code: ErrorCode | str,
    message: str | None = None,
    turn_id: str = "",
    protocol: int = 1,
    timings: dict[str, Any] | None = None,
) -> str:
    """An error; protocol 2 frames also carry `"type": "error"`."""
    code = ErrorCode(code)
    frame: dict[str, Any] = {"type": "error"} if protocol >= 2 else {}
    frame |= {"error": message or MESSAGES[code], "code": code.value}
    if turn_id:
        frame["turn_id"] = turn_id
    if timings is not None:
        frame["timings"] = timings
    return _dump(frame)


def refused(code: ErrorCode, protocol: int, retry_after: float | None = None) -> str:
    """A question or connection not taken (`rate_limited`, `overloaded`,
    `too_many_connections`); with `retry_after`, the seconds until asking again can
    succeed, in the field and in the sentence."""
    frame: dict[str, Any] = json.loads(error(code, protocol=protocol))
    if retry_after is not None:
        seconds = max(1, round(retry_after))
        frame["retry_after"] = seconds
        unit = "Sekunde" if seconds == 1 else "Sekunden"
        frame["error"] = f"{MESSAGES[code]} Bitte warte {seconds} {unit}."
    return _dump(frame)


def hello(session_id: str, language: str, timezone: str, protocol: int) -> str:
    frame: dict[str, Any] = {"type": "hello", "session_id": session_id}
    if language:
        frame["language"] = language
    if timezone:
        frame["timezone"] = timezone
    if protocol >= 2:
        frame["protocol"] = protocol
    return _dump(frame)


def reset(session_id: str) -> str:
    return _dump({"type": "reset", "session_id": session_id})


def reply(turn_id: str, text: str, audio: bytes, transcript: str, timings: dict[str, Any]) -> str:
    """Protocol 1: the whole answer in one frame, its MP3 as base64."""
    return _dump(
        {
            "text_response": text,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
            "audio_format": "mp3",
            "transcript": transcript,
            "turn_id": turn_id,
            "timings": timings,
        }
    )


def turn(turn_id: str, resumed: bool = False) -> str:
    """The question was accepted; `resumed`: a turn of an earlier connection follows."""
    frame: dict[str, Any] = {"type": "turn", "turn_id": turn_id}
    if resumed:
        frame["resumed"] = True
    return _dump(frame)


def transcript(turn_id: str, text: str) -> str:
    return _dump({"type": "transcript", "turn_id": turn_id, "text": text})


def sentence(turn_id: str, seq: int, text: str) -> str:
    """Announces the binary frame that follows it: this sentence's MP3."""
    return _dump({"type": "sentence", "turn_id": turn_id, "seq": seq, "text": text})


def done(turn_id: str, text: str, timings: dict[str, Any]) -> str:
    return _dump({"type": "done", "turn_id": turn_id, "text_response": text, "timings": timings})


def cancelled(turn_id: str) -> str:
    return _dump({"type": "cancelled", "turn_id": turn_id})
