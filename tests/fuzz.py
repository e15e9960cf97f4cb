"""Hostile and broken input for the fuzz tests (`tests/unit/test_fuzz_protocol.py`,
`tests/integration/test_fuzz_gateway.py`): Hypothesis strategies for what a watch could
send, and the check that an error's text is one of Uhrwerk's own sentences.

What a watch could send: JSON of any shape, the protocol's fields with values of every
type and size, base64 that is right, cut short, URL-safe or dirty, WebM recordings that
are real, truncated, overwritten or garbage behind a WebM header, binary frames, and
streamed uploads (`audio_start`, chunks, `audio_end`) in any order.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.fakes.audio import webm_opus

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("gateway", "shared", "stt_worker", "llm_worker", "tts_worker")
"""Where every text the watch may be sent is written."""

ID_ALPHABET = string.ascii_letters + string.digits + "-_"
TYPES = ("text", "audio", "hello", "reset", "cancel", "audio_start", "audio_end", "resume")
QUESTIONS = ("Hallo Uhr", "Wie hoch ist die Zugspitze?", "Was ist 2 + 2?", "  Noch da?  ")
FORMATS = ("webm", "audio/webm", "audio/webm;codecs=opus", "Audio/WebM; codecs=opus", "mp3", "")
LANGUAGES = ("de-DE", "en-US", "en", "zh-Hant-TW", "english", "de_DE", "d", "")
ZONES = ("Europe/Berlin", "UTC", "Etc/GMT+5", "Mars/Olympus", "../etc/passwd", "Europe", "/etc")


# --- the texts the watch may see ---------------------------------------------------


@functools.cache
def _sentence_pattern() -> re.Pattern[str]:
    """Every German sentence written in the services' source, as one pattern: string
    literals (docstrings left out) and f-strings, whose placeholders (a limit, a field
    name) may stand for any short run of words."""
    alternatives: set[str] = set()
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                )
                and node.body
                and isinstance(node.body[0], ast.Expr)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if id(node) in docstrings:
                        continue
                    literal, pattern = node.value, re.escape(node.value)
                elif isinstance(node, ast.JoinedStr):
                    parts = [
                        (v.value, re.escape(v.value))
                        if isinstance(v, ast.Constant) and isinstance(v.value, str)
                        else ("X", r"[\w.,:'\- ]{1,40}")
                        for v in node.values
                    ]
                    literal = "".join(p[0] for p in parts)
                    pattern = "".join(p[1] for p in parts)
                else:
                    continue
                if _sentence_like(literal):
                    alternatives.add(pattern)
    return re.compile("|".join(sorted(alternatives)))


def _sentence_like(text: str) -> bool:
    return (
        len(text) >= 10
        and text[0].isupper()
        and text[-1] in ".!?)"
        and " " in text
        and "\n" not in text
    )


def is_own_sentence(text: object) -> bool:
    """True if `text` is one of the sentences the services' source spells out (German
    for the watch), and so not an exception's text or repr."""
    return isinstance(text, str) and _sentence_pattern().fullmatch(text) is not None


# --- recordings ----------------------------------------------------------------------


@functools.cache
def clip() -> bytes:
    """A real 1 s recording as MediaRecorder writes it, with words the fake Speech
    server reads back."""
    return webm_opus("Wie spät ist es", seconds=1.0)


@functools.cache
def long_clip() -> bytes:
    """3 s: over the fuzzing gateway's MAX_AUDIO_SECONDS."""
    return webm_opus("Ein langer Satz", seconds=3.0)


def _overwrite(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out)


def webm_bytes() -> st.SearchStrategy[bytes]:
    """Real WebM/Opus, whole, cut short anywhere, with bytes overwritten or inserted,
    a real header before garbage, or garbage."""
    whole = clip()
    return st.one_of(
        st.sampled_from([whole, long_clip()]),
        st.integers(0, len(whole)).map(lambda n: whole[:n]),
        st.lists(st.tuples(st.integers(0, len(whole) - 1), st.integers(0, 255)), min_size=1)
        .map(lambda edits: _overwrite(whole, edits)),
        st.tuples(st.integers(0, len(whole)), st.binary(min_size=1, max_size=64))
        .map(lambda cut: whole[: cut[0]] + cut[1] + whole[cut[0] :]),
        st.tuples(st.integers(4, 200), st.binary(max_size=512))
        .map(lambda cut: whole[: cut[0]] + cut[1]),
        st.binary(max_size=256),
    )  # fmt: skip


def base64_text() -> st.SearchStrategy[str]:
    """`data` as a client might send it: right, as a data URL, cut short, without
    padding, URL-safe, with a stray character, or not base64 at all."""
    plain = webm_bytes().map(lambda b: base64.b64encode(b).decode())
    return st.one_of(
        plain,
        plain.map(lambda s: "data:audio/webm;codecs=opus;base64," + s),
        st.tuples(plain, st.integers(0, 4096)).map(lambda cut: cut[0][: cut[1]]),
        plain.map(lambda s: s.rstrip("=")),
        webm_bytes().map(lambda b: base64.urlsafe_b64encode(b).decode()),
        st.tuples(plain, st.integers(0, 4096), st.sampled_from(" \n!*é\x00=")).map(
            lambda cut: cut[0][: cut[1]] + cut[2] + cut[0][cut[1] :]
        ),
        st.text(max_size=64),
    )


# --- JSON -----------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and ±Infinity too: Python's json writes and reads them
    st.text(max_size=40),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
"""Any JSON value."""


def messages(max_text_chars: int) -> st.SearchStrategy[str]:
    """`message` texts: questions, any text, lone surrogates, text of only control,
    format or space characters, and lengths around the limit."""
    invisible = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])
    return st.one_of(
        st.sampled_from(QUESTIONS),
        st.text(max_size=60),
        st.tuples(st.text(max_size=20), st.characters(categories=["Cs"]), st.text(max_size=20))
        .map("".join),
        st.text(invisible, max_size=20),
        st.tuples(st.integers(max_text_chars - 2, max_text_chars + 2), st.sampled_from("aé €"))
        .map(lambda n: n[1] * n[0]),
    )  # fmt: skip


def session_ids() -> st.SearchStrategy[str]:
    """Around the rule (16-128 of A-Z a-z 0-9 - _): right, too short, too long, or with
    one character outside it."""
    right = st.text(ID_ALPHABET, min_size=16, max_size=128)
    return st.one_of(
        right,
        st.text(ID_ALPHABET, max_size=15),
        st.text(ID_ALPHABET, min_size=129, max_size=140),
        st.tuples(right, st.characters(exclude_characters=ID_ALPHABET)).map("".join),
    )


def frame_objects(max_text_chars: int) -> st.SearchStrategy[dict[str, Any]]:
    """Frames shaped like the protocol's: a type (known or not), some of the fields
    with right or wrong values of any type, and stray fields."""
    fields = {
        "type": st.sampled_from(TYPES) | st.sampled_from(("Text", "", "video")) | JSON,
        "message": messages(max_text_chars) | JSON,
        "data": base64_text() | JSON,
        "format": st.sampled_from(FORMATS) | JSON,
        "session_id": session_ids() | JSON,
        "language": st.sampled_from(LANGUAGES) | JSON,
        "timezone": st.sampled_from(ZONES) | JSON,
        "protocol": st.sampled_from((1, 2, 0, 3, "2", True, 2.0)) | JSON,
        "turn_id": st.text(ID_ALPHABET, max_size=130) | JSON,
    }
    return st.builds(
        lambda extra, known: {**extra, **known},
        # Not "token": a hello with another watch's token is refused and closed, rightly.
        st.dictionaries(st.text(max_size=12).filter(lambda k: k != "token"), JSON, max_size=3),
        st.fixed_dictionaries({}, optional=fields),
    )


def dump(value: object, ascii_only: bool) -> str:
    """JSON text; escaped where it holds text a WebSocket cannot carry (surrogates)."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def broken(text: str) -> st.SearchStrategy[str]:
    """JSON text cut short, or with a character dropped in."""
    return st.one_of(
        st.integers(0, max(len(text) - 1, 0)).map(lambda n: text[:n]),
        st.tuples(st.integers(0, len(text)), st.sampled_from('{}[]",:\\x\x00')).map(
            lambda cut: text[: cut[0]] + cut[1] + text[cut[0] :]
        ),
    )


def text_frames(max_text_chars: int, max_bytes: int) -> st.SearchStrategy[str]:
    """Any text frame: protocol-shaped objects, any JSON, broken JSON, not JSON,
    nesting deeper than the parser's recursion, huge numbers, and frames around and
    over `max_bytes` (up to twice it, under the 4x at which the socket is closed)."""
    objects = st.builds(dump, frame_objects(max_text_chars), st.booleans())
    return st.one_of(
        objects,
        objects,
        st.builds(dump, JSON, st.booleans()),
        objects.flatmap(broken),
        st.text(max_size=100),
        st.tuples(st.integers(1, 5000), st.sampled_from("[{")).map(
            lambda n: n[1] * n[0] if n[1] == "[" else '{"a":' * n[0]
        ),
        st.integers(1, 6000).map(lambda n: '{"type": "text", "message": ' + "9" * n + "}"),
        st.integers(max_bytes - 64, 2 * max_bytes).map(
            lambda n: json.dumps({"type": "text", "message": "x" * n})
        ),
    )


# --- actions of a watch over a socket ------------------------------------------------


@dataclass(frozen=True)
class Text:
    raw: str


@dataclass(frozen=True)
class Binary:
    data: bytes


START = Text('{"type": "audio_start", "format": "webm"}')
END = Text('{"type": "audio_end"}')
CANCEL = Text('{"type": "cancel"}')
Action = Text | Binary


def _chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        if at >= len(data):
            break
        out.append(data[at : at + size])
        at += size
    if at < len(data):
        out.append(data[at:])
    return out


def questions() -> st.SearchStrategy[list[Action]]:
    """A question that is answered: typed, or a real recording whole or streamed."""
    typed = st.sampled_from(QUESTIONS).map(
        lambda q: [Text(json.dumps({"type": "text", "message": q}))]
    )
    whole = st.just(
        [Text(json.dumps({"type": "audio", "data": base64.b64encode(clip()).decode()}))]
    )
    streamed = st.lists(st.integers(1, 3000), min_size=1, max_size=6).map(
        lambda sizes: [START, *map(Binary, _chunks(clip(), sizes)), END]
    )
    return st.one_of(typed, whole, streamed)


def controls() -> st.SearchStrategy[list[Action]]:
    """Frames the protocol takes that are no question: `hello` (switching protocol,
    naming a session, a language, a zone), `reset`, `resume` of a turn nobody asked."""
    hello = st.fixed_dictionaries(
        {"type": st.just("hello")},
        optional={
            "protocol": st.sampled_from([1, 2]),
            "session_id": st.text(ID_ALPHABET, min_size=16, max_size=40),
            "language": st.sampled_from(["de-DE", "en-US"]),
            "timezone": st.sampled_from(["Europe/Berlin", "Asia/Tokyo"]),
        },
    )
    resume = st.text(ID_ALPHABET, min_size=1, max_size=40).map(
        lambda turn_id: {"type": "resume", "turn_id": turn_id}
    )
    return st.one_of(hello, st.just({"type": "reset"}), resume).map(
        lambda frame: [Text(json.dumps(frame))]
    )


def uploads(max_bytes: int) -> st.SearchStrategy[list[Action]]:
    """A streamed recording, any of `webm_bytes` or one over `max_bytes`, in chunks of
    random sizes; sometimes without its start or its end."""
    oversized = st.integers(max_bytes // 2, max_bytes).map(lambda n: clip() + bytes(n))
    return st.builds(
        lambda data, sizes, start, end: [
            *([START] if start else []),
            *map(Binary, _chunks(data, sizes)),
            *([END] if end else []),
        ],
        webm_bytes() | oversized,
        st.lists(st.integers(1, max_bytes // 2), min_size=1, max_size=5),
        st.booleans() | st.just(True),
        st.booleans() | st.just(True),
    )


def actions(max_text_chars: int, max_bytes: int) -> st.SearchStrategy[list[Action]]:
    """One step of a hostile watch: a text frame, a binary frame (garbage, a piece of a
    recording, or large), a streamed upload, a lone start/end/cancel, or a question."""
    binary = st.one_of(
        webm_bytes(),
        st.integers(1, 2 * max_bytes).map(bytes),
    )
    return st.one_of(
        text_frames(max_text_chars, max_bytes).map(lambda raw: [Text(raw)]),
        binary.map(lambda data: [Binary(data)]),
        uploads(max_bytes),
        st.sampled_from([[START], [END], [CANCEL]]),
        controls(),
        questions(),
    )
