"""Property-based fuzzing of the inbound protocol (`gateway.protocol`): whatever a watch
sends, `parse` returns a request or raises `PipelineError` with a known code and one of
Uhrwerk's own German sentences, never another exception; `recording` does the same
for any bytes; `valid_session_id` takes exactly the ids its rule describes.

Each property runs with a few examples here and with many under the `slow` marker
(`pytest -m slow tests/unit/test_fuzz_protocol.py`).
"""

from __future__ import annotations

import base64
import json
import string
import zoneinfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.protocol import (
    AudioEndRequest,
    AudioRequest,
    AudioStartRequest,
    CancelRequest,
    HelloRequest,
    Limits,
    Request,
    ResetRequest,
    ResumeRequest,
    TextRequest,
    parse,
    recording,
    valid_session_id,
)
from shared.errors import MESSAGES, ErrorCode, PipelineError
from shared.language import valid_tag
from tests import fuzz

LIMITS = Limits(max_text_chars=200, max_audio_seconds=2.0)
MAX_BYTES = 256 * 1024
"""Frame sizes tried go to twice this (the parser itself has no size limit)."""

FAST = 60
LONG = 1000
EXAMPLES = pytest.mark.parametrize(
    "examples", [FAST, pytest.param(LONG, marks=pytest.mark.slow, id="long")]
)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


CODES_BY_TYPE: dict[object, set[ErrorCode]] = {
    "text": {ErrorCode.INVALID_FIELD, ErrorCode.EMPTY_TEXT, ErrorCode.TEXT_TOO_LONG},
    "audio": {
        ErrorCode.MISSING_AUDIO,
        ErrorCode.INVALID_FIELD,
        ErrorCode.INVALID_BASE64,
        ErrorCode.UNSUPPORTED_AUDIO,
        ErrorCode.AUDIO_TOO_LONG,
    },
    "hello": {ErrorCode.INVALID_FIELD, ErrorCode.INVALID_SESSION},
    "audio_start": {ErrorCode.INVALID_FIELD, ErrorCode.UNSUPPORTED_AUDIO},
    "reset": set(),
    "cancel": set(),
    "audio_end": set(),
    "resume": {ErrorCode.INVALID_FIELD},
}
"""The errors each type of frame may end in; any other type is `unknown_type`."""
RECORDING_CODES = {ErrorCode.MISSING_AUDIO, ErrorCode.UNSUPPORTED_AUDIO, ErrorCode.AUDIO_TOO_LONG}


def outcome(raw: str) -> Request | PipelineError:
    """What `parse` makes of a frame; any exception but `PipelineError` fails the test."""
    try:
        return parse(raw, LIMITS)
    except PipelineError as exc:
        assert exc.code in ErrorCode
        assert fuzz.is_own_sentence(exc.message), exc.message
        return exc


def assert_refused(raw: str, code: ErrorCode) -> PipelineError:
    result = outcome(raw)
    assert isinstance(result, PipelineError), result
    assert result.code is code, result.detail
    return result


@EXAMPLES
def test_any_text_is_a_request_or_one_specific_error(examples: int) -> None:
    @fuzz_settings(examples)
    @given(fuzz.text_frames(LIMITS.max_text_chars, MAX_BYTES))
    @example("[" * 100_000)  # deeper than the recursion limit
    @example('{"type": "text", "message": ' + "9" * 5000 + "}")  # over int's digit limit
    @example('{"type": ' + "[" * 900 + "]" * 900 + "}")  # a deep type, in the error's detail
    @example('{"type": "text", "message": "\\ud800"}')  # issue 10: a lone surrogate
    @example('{"type": "text", "message": "\\u200b\\ufeff\\u0000"}')  # issue 10: invisible
    def check(raw: str) -> None:
        outcome(raw)

    check()


@EXAMPLES
def test_each_type_ends_in_its_own_request_or_errors(examples: int) -> None:
    @fuzz_settings(examples)
    @given(fuzz.frame_objects(LIMITS.max_text_chars), st.booleans())
    def check(frame: dict[str, object], ascii_only: bool) -> None:
        result = outcome(fuzz.dump(frame, ascii_only))
        kind = frame.get("type")
        known = kind if isinstance(kind, str) and kind in CODES_BY_TYPE else None
        if isinstance(result, PipelineError):
            allowed = CODES_BY_TYPE[known] if known else {ErrorCode.UNKNOWN_TYPE}
            assert result.code in allowed, (kind, result.code, result.detail)
            return
        expected: dict[object, type] = {
            "text": TextRequest,
            "audio": AudioRequest,
            "hello": HelloRequest,
            "reset": ResetRequest,
            "cancel": CancelRequest,
            "audio_start": AudioStartRequest,
            "audio_end": AudioEndRequest,
            "resume": ResumeRequest,
        }
        assert known is not None and isinstance(result, expected[known])

    check()


@EXAMPLES
def test_visible_text_is_taken_stripped(examples: int) -> None:
    visible = st.characters(categories=["L", "M", "N", "P", "S"])

    @fuzz_settings(examples)
    @given(st.text(min_size=0, max_size=5), visible, st.text(max_size=150))
    def check(before: str, first: str, after: str) -> None:
        message = before + first + after
        stripped = message.strip()
        result = outcome(fuzz.dump({"type": "text", "message": message}, False))
        if len(stripped) > LIMITS.max_text_chars:
            assert isinstance(result, PipelineError)
            assert result.code is ErrorCode.TEXT_TOO_LONG
        else:
            assert result == TextRequest(stripped)

    check()


@EXAMPLES
def test_a_lone_surrogate_is_invalid_field_with_its_own_sentence(examples: int) -> None:
    @fuzz_settings(examples)
    @given(st.text(max_size=30), st.characters(categories=["Cs"]), st.text(max_size=30))
    def check(before: str, surrogate: str, after: str) -> None:
        raw = json.dumps({"type": "text", "message": before + surrogate + after})
        error = assert_refused(raw, ErrorCode.INVALID_FIELD)
        assert error.message != MESSAGES[ErrorCode.INVALID_FIELD]  # it says which

    check()


@EXAMPLES
def test_only_control_format_or_space_characters_are_empty_text(examples: int) -> None:
    invisible = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])

    @fuzz_settings(examples)
    @given(st.text(invisible, max_size=40))
    def check(message: str) -> None:
        assert_refused(fuzz.dump({"type": "text", "message": message}, False), ErrorCode.EMPTY_TEXT)

    check()


def rule_says_valid(value: object) -> bool:
    """The session id rule, spelled out independently of the regex."""
    allowed = set(string.ascii_letters + string.digits + "-_")
    return isinstance(value, str) and 16 <= len(value) <= 128 and set(value) <= allowed


@EXAMPLES
def test_session_ids_are_taken_exactly_when_the_rule_says(examples: int) -> None:
    @fuzz_settings(examples)
    @given(fuzz.session_ids() | st.text(max_size=140) | fuzz.JSON)
    @example("a" * 16 + "\n")  # `$` would let a trailing newline through
    @example("a" * 15 + "\u0661")  # a non-ASCII digit
    def check(value: object) -> None:
        try:
            taken = valid_session_id(value)
        except PipelineError as exc:
            assert exc.code is ErrorCode.INVALID_SESSION
            assert not rule_says_valid(value)
        else:
            assert rule_says_valid(value)
            assert taken == value

    check()


ZONES = sorted(zoneinfo.available_timezones())


@EXAMPLES
def test_a_right_hello_keeps_every_field(examples: int) -> None:
    @fuzz_settings(examples)
    @given(
        st.none() | st.from_regex(r"[A-Za-z0-9_-]{16,128}", fullmatch=True),
        st.none() | st.from_regex(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}", fullmatch=True),
        st.none() | st.sampled_from(ZONES or ["UTC"]),
        st.none() | st.sampled_from([1, 2]),
    )
    def check(
        session_id: str | None, language: str | None, timezone: str | None, protocol: int | None
    ) -> None:
        frame: dict[str, object] = {"type": "hello", "session_id": session_id}
        frame |= {"language": language, "timezone": timezone, "protocol": protocol}
        result = outcome(json.dumps({k: v for k, v in frame.items() if v is not None}))
        assert result == HelloRequest(
            session_id, None if language is None else valid_tag(language), timezone, protocol
        )

    check()


@EXAMPLES
def test_any_recording_is_measured_or_refused(examples: int) -> None:
    whole = recording(fuzz.clip(), LIMITS).info.duration_s

    @fuzz_settings(examples)
    @given(fuzz.webm_bytes())
    def check(data: bytes) -> None:
        try:
            request = recording(data, LIMITS)
        except PipelineError as exc:
            assert exc.code in RECORDING_CODES, exc.detail
            assert fuzz.is_own_sentence(exc.message)
            return
        assert request.audio == data
        assert 0 < request.info.duration_s <= LIMITS.max_audio_seconds
        assert request.info.sample_rate > 0
        if data == fuzz.clip()[: len(data)]:  # a cut recording is no longer than the whole
            assert request.info.duration_s <= whole + 0.001

    check()


def test_a_recording_whose_title_is_not_utf8_is_measured() -> None:
    """Found by fuzzing: PyAV decoded the tags strictly when opening the file, and the
    UnicodeDecodeError cost the frame an `internal` error instead of a measurement."""
    clip = fuzz.clip()
    assert b"Wie sp" in clip
    request = recording(clip.replace(b"Wie sp", b"\x80ie sp"), LIMITS)
    assert request.info.duration_s == pytest.approx(1.0, abs=0.05)


def test_a_recording_with_an_unknown_codec_id_is_unsupported_audio() -> None:
    """Found by fuzzing: a stream whose codec libav does not know has no codec context,
    and the AttributeError cost the frame an `internal` error."""
    error = assert_refused(
        fuzz.dump(
            {
                "type": "audio",
                "data": base64.b64encode(fuzz.clip().replace(b"A_OPUS", b"A_OPUX")).decode(),
            },
            True,
        ),
        ErrorCode.UNSUPPORTED_AUDIO,
    )
    assert error.message == MESSAGES[ErrorCode.UNSUPPORTED_AUDIO]


@EXAMPLES
def test_base64_of_any_kind_is_decoded_exactly_or_refused(examples: int) -> None:
    @fuzz_settings(examples)
    @given(fuzz.base64_text())
    def check(encoded: str) -> None:
        result = outcome(json.dumps({"type": "audio", "data": encoded, "format": "webm"}))
        if isinstance(result, AudioRequest):
            bare = encoded.split(",", 1)[1] if encoded.startswith("data:") else encoded
            assert result.audio == base64.b64decode(bare, validate=True)
        else:
            assert isinstance(result, PipelineError)
            assert result.code in RECORDING_CODES | {ErrorCode.INVALID_BASE64}

    check()


def test_a_real_recording_in_base64_is_taken_byte_for_byte() -> None:
    clip = fuzz.clip()
    for encoded in (
        base64.b64encode(clip).decode(),
        "data:audio/webm;codecs=opus;base64," + base64.b64encode(clip).decode(),
    ):
        result = outcome(json.dumps({"type": "audio", "data": encoded}))
        assert isinstance(result, AudioRequest) and result.audio == clip


def test_sentences_are_told_from_exception_texts() -> None:
    """The check the properties rely on: Uhrwerk's sentences pass, other texts do not."""
    assert all(fuzz.is_own_sentence(m) for m in MESSAGES.values())
    assert fuzz.is_own_sentence("Der Text ist zu lang (höchstens 200 Zeichen).")
    for text in (
        "",
        "'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed",
        "UnicodeEncodeError('utf-8', '\\ud800', 0, 1, 'surrogates not allowed')",
        "Expecting value: line 1 column 1 (char 0)",
        "maximum recursion depth exceeded while decoding a JSON array from a unicode string",
        "[Errno 1094995529] Invalid data found when processing input",
        "Die Nachricht ist zu groß. Traceback (most recent call last):",
    ):
        assert not fuzz.is_own_sentence(text), text
