from __future__ import annotations

import base64
import json

import pytest

from gateway import frames
from gateway.app import new_session_id
from gateway.protocol import (
    AudioEndRequest,
    AudioRequest,
    AudioStartRequest,
    CancelRequest,
    HelloRequest,
    Limits,
    ResetRequest,
    TextRequest,
    parse,
    valid_session_id,
)
from shared.errors import MESSAGES, ErrorCode, PipelineError
from tests.fakes.audio import matroska_mp3, wav, webm_opus

LIMITS = Limits(max_text_chars=50, max_audio_seconds=5.0)


def audio_frame(data: bytes | str, **extra: object) -> str:
    encoded = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    return json.dumps({"type": "audio", "data": encoded, "format": "webm", **extra})


def error_of(raw: str) -> ErrorCode:
    with pytest.raises(PipelineError) as caught:
        parse(raw, LIMITS)
    return caught.value.code


def test_text_message_is_accepted_and_trimmed() -> None:
    assert parse('{"type":"text","message":"  Hallo Uhr  "}', LIMITS) == TextRequest("Hallo Uhr")


def test_mediarecorder_webm_opus_is_accepted_with_its_length() -> None:
    clip = webm_opus("Wie spät ist es", seconds=2.0)
    request = parse(audio_frame(clip), LIMITS)
    assert isinstance(request, AudioRequest)
    assert request.audio == clip
    assert request.info.sample_rate == 48000
    assert request.info.duration_s == pytest.approx(2.0, abs=0.05)


def test_data_url_prefix_is_tolerated() -> None:
    clip = webm_opus("x")
    url = "data:audio/webm;codecs=opus;base64," + base64.b64encode(clip).decode()
    request = parse(audio_frame(url, format="audio/webm; codecs=opus"), LIMITS)
    assert isinstance(request, AudioRequest) and request.audio == clip


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_JSON),
        ('{"type":"video"}', ErrorCode.UNKNOWN_TYPE),
        ('{"message":"no type"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":["text"]}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"text"}', ErrorCode.INVALID_FIELD),
        ('{"type":"text","message":42}', ErrorCode.INVALID_FIELD),
        ('{"type":"text","message":"   "}', ErrorCode.EMPTY_TEXT),
        ('{"type":"text","message":"' + "a" * 51 + '"}', ErrorCode.TEXT_TOO_LONG),
        ('{"type":"audio"}', ErrorCode.MISSING_AUDIO),
        ('{"type":"audio","data":""}', ErrorCode.MISSING_AUDIO),
        ('{"type":"audio","data":123}', ErrorCode.INVALID_FIELD),
        ('{"type":"audio","data":"AAAA","format":7}', ErrorCode.INVALID_FIELD),
        ('{"type":"audio","data":"AAAA","format":"mp3"}', ErrorCode.UNSUPPORTED_AUDIO),
        ('{"type":"audio","data":"not base64!!"}', ErrorCode.INVALID_BASE64),
        ("[" * 100000 + "]" * 100000, ErrorCode.INVALID_JSON),
    ],
)
def test_malformed_messages_get_their_own_error(raw: str, code: ErrorCode) -> None:
    assert error_of(raw) is code


@pytest.mark.parametrize("make", [wav, matroska_mp3, lambda: b"\x1a\x45\xdf\xa3webm" + b"\0" * 100])
def test_audio_that_is_not_webm_opus_is_rejected(make: object) -> None:
    assert error_of(audio_frame(make())) is ErrorCode.UNSUPPORTED_AUDIO  # type: ignore[operator]


def test_truncated_webm_is_rejected() -> None:
    clip = webm_opus("x")
    assert error_of(audio_frame(clip[:150])) is ErrorCode.UNSUPPORTED_AUDIO


def test_too_long_recording_is_rejected() -> None:
    assert error_of(audio_frame(webm_opus("x", seconds=6.0))) is ErrorCode.AUDIO_TOO_LONG


def test_error_text_never_leaks_exception_text() -> None:
    with pytest.raises(PipelineError) as caught:
        parse(audio_frame(b"\x1a\x45\xdf\xa3webm" + b"\0" * 100), LIMITS)
    assert "Errno" not in caught.value.message and "ffmpeg" not in caught.value.message.lower()


def test_reply_frame_has_the_seed_shape() -> None:
    timings = {"llm": 5.0, "total": 42.0}
    frame = json.loads(frames.reply("t", "Antwort", b"\xff\xfb", "Frage", timings))
    assert frame["text_response"] == "Antwort"
    assert base64.b64decode(frame["audio_base64"]) == b"\xff\xfb"
    assert frame["audio_format"] == "mp3"
    assert frame["transcript"] == "Frage"
    assert frame["turn_id"] == "t"
    assert frame["timings"] == {"llm": 5.0, "total": 42.0}
    assert "error" not in frame and "type" not in frame


def test_error_frames_of_both_protocols() -> None:
    seed = json.loads(frames.error("no_speech", "Nichts verstanden.", turn_id="t"))
    assert seed == {"error": "Nichts verstanden.", "code": "no_speech", "turn_id": "t"}
    streamed = json.loads(frames.error(ErrorCode.TIMEOUT, turn_id="t", protocol=2))
    assert streamed["type"] == "error"
    assert streamed["code"] == "timeout" and streamed["error"] == MESSAGES[ErrorCode.TIMEOUT]


def test_protocol_2_frames() -> None:
    assert json.loads(frames.turn("t")) == {"type": "turn", "turn_id": "t"}
    assert json.loads(frames.sentence("t", 3, "Hallo.")) == {
        "type": "sentence",
        "turn_id": "t",
        "seq": 3,
        "text": "Hallo.",
    }
    done = json.loads(frames.done("t", "Hallo. Welt.", {"first_audio": 1.0, "total": 2.0}))
    assert done["type"] == "done" and done["text_response"] == "Hallo. Welt."
    assert json.loads(frames.cancelled("t")) == {"type": "cancelled", "turn_id": "t"}
    hello = json.loads(frames.hello("s" * 16, "", "", 2))
    assert hello == {"type": "hello", "session_id": "s" * 16, "protocol": 2}


def test_hello_may_ask_for_protocol_2() -> None:
    assert parse('{"type":"hello","protocol":2}', LIMITS) == HelloRequest(None, protocol=2)
    for bad in ("2", 3, 0, True, 2.0):
        with pytest.raises(PipelineError) as caught:
            parse(json.dumps({"type": "hello", "protocol": bad}), LIMITS)
        assert caught.value.code is ErrorCode.INVALID_FIELD


def test_streamed_upload_and_cancel_messages() -> None:
    assert parse('{"type":"audio_start","format":"webm"}', LIMITS) == AudioStartRequest()
    assert parse('{"type":"audio_end"}', LIMITS) == AudioEndRequest()
    assert parse('{"type":"cancel"}', LIMITS) == CancelRequest()
    with pytest.raises(PipelineError) as caught:
        parse('{"type":"audio_start","format":"wav"}', LIMITS)
    assert caught.value.code is ErrorCode.UNSUPPORTED_AUDIO


def test_hello_with_and_without_a_session_id() -> None:
    assert parse('{"type":"hello"}', LIMITS) == HelloRequest(None)
    sid = "Abc_def-0123456789xyz"
    assert parse(json.dumps({"type": "hello", "session_id": sid}), LIMITS) == HelloRequest(sid)
    assert parse('{"type":"reset"}', LIMITS) == ResetRequest()


@pytest.mark.parametrize(
    "bad", ["short", "a" * 129, "has space in it 12345", 12345678901234567, ""]
)
def test_session_ids_must_be_long_and_plain(bad: object) -> None:
    with pytest.raises(PipelineError) as caught:
        parse(json.dumps({"type": "hello", "session_id": bad}), LIMITS)
    assert caught.value.code is ErrorCode.INVALID_SESSION
    with pytest.raises(PipelineError):
        valid_session_id(bad)


def test_server_issued_session_ids_have_128_random_bits() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 and valid_session_id(i) == i for i in ids)  # 16 bytes, base64url


def test_hello_may_name_the_watchs_language_and_time_zone() -> None:
    frame = {"type": "hello", "language": "en-us", "timezone": "America/New_York"}
    assert parse(json.dumps(frame), LIMITS) == HelloRequest(None, "en-US", "America/New_York")
    assert parse('{"type":"hello","language":"de"}', LIMITS) == HelloRequest(None, "de", None)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "../../etc/passwd"),
        ("timezone", "/usr/share/zoneinfo/UTC"),
        ("timezone", 3600),
        ("timezone", ""),
        ("language", "deutsch!"),
        ("language", "x"),
        ("language", ["de"]),
    ],
)
def test_an_unknown_language_or_zone_is_an_invalid_field(field: str, bad: object) -> None:
    with pytest.raises(PipelineError) as caught:
        parse(json.dumps({"type": "hello", field: bad}), LIMITS)
    assert caught.value.code is ErrorCode.INVALID_FIELD
    assert f"'{field}'" in caught.value.message


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("\ud800", ErrorCode.INVALID_FIELD),
        ("Hallo \udfff Welt", ErrorCode.INVALID_FIELD),
        ("\u200b\u200d\ufeff", ErrorCode.EMPTY_TEXT),
        ("\x00\x07\t\n", ErrorCode.EMPTY_TEXT),
        ("\u00a0\u3000", ErrorCode.EMPTY_TEXT),
    ],
)
def test_text_that_is_not_text_gets_its_own_error(message: str, code: ErrorCode) -> None:
    with pytest.raises(PipelineError) as caught:
        parse(json.dumps({"type": "text", "message": message}), LIMITS)
    assert caught.value.code is code


def test_emoji_and_umlauts_are_text() -> None:
    assert parse(json.dumps({"type": "text", "message": "Grüß dich 👋"}), LIMITS) == (
        TextRequest("Grüß dich 👋")
    )
