"""Fuzzing the whole gateway over a real socket: a hostile watch (Hypothesis,
`tests/fuzz.py`) sends random JSON of any shape, type and size, base64 and WebM that is
right, cut short or garbage, binary frames and streamed uploads in any order, in
protocol 1 and 2, to a gateway process with the standard stack behind it (real
RabbitMQ and Redis, the workers, the Google fakes), so the right questions among it
start real turns and are answered.

After every frame the test sends a `hello` and reads up to its answer, so it knows
exactly what that frame was answered with (one test sends all of an example's frames
back to back first: a socket's frames are read in order, so are their answers). What
the protocol says each frame gets is worked out beside it with `gateway.protocol`
itself (its own tests check it):
- a bad frame: exactly one `error` frame, its `code` the parser's, its `error` one of
  Uhrwerk's German sentences (never an exception's text), in the connection's protocol;
- `hello`/`reset`: their answer; `resume` of a turn nobody asked: its `unknown_turn`;
  `audio_start`, a chunk of an upload, `cancel`: nothing;
  a chunk that makes an upload too large: one `too_large`, then nothing for the rest of
  that recording (its later chunks and its `audio_end`);
- a question: one turn (protocol 2: its `turn` frame at once), which ends exactly once
  (`done`, the protocol 1 reply, `cancelled` or an error) with nothing of it after;
  or, for timing reasons, at once `busy`.
Then the connection still answers a `hello`, and the gateway's memory stays bounded.

Also: any `?session=`/`?protocol=`, and a text frame that is not UTF-8. The long
variants are marked `slow`: `pytest -m slow tests/integration/test_fuzz_gateway.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.protocol import (
    AudioEndRequest,
    AudioStartRequest,
    CancelRequest,
    HelloRequest,
    Limits,
    ResetRequest,
    ResumeRequest,
    parse,
    recording,
    valid_session_id,
)
from shared.errors import ErrorCode, PipelineError
from tests import fuzz
from tests.integration.stack import Service, Stack, ws_url

pytestmark = [pytest.mark.broker, pytest.mark.integration]

MAX_MESSAGE_BYTES = 128 * 1024
"""Over `PARSE_IN_THREAD_BYTES` (64 KiB), so large frames are parsed off the loop too."""
LIMITS = Limits(max_text_chars=300, max_audio_seconds=2.0, max_audio_bytes=96 * 1024)
TURN_TIMEOUT_S = 10.0
SETTINGS = {
    "MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "MAX_TEXT_CHARS": str(LIMITS.max_text_chars),
    "MAX_AUDIO_SECONDS": str(LIMITS.max_audio_seconds),
    "MAX_AUDIO_BYTES": str(LIMITS.max_audio_bytes),
    "TURN_TIMEOUT_S": str(TURN_TIMEOUT_S),
    # Rate limits and backpressure have their own tests; here they would only refuse
    # the questions whose answers are to be counted.
    "QUESTIONS_PER_MINUTE": "0",
    "OVERLOAD_QUEUE_DEPTH": "0",
    "MAX_CONNECTIONS_PER_IDENTITY": "0",
}
REFUSALS = {"busy", "rate_limited", "overloaded"}
"""What a question may get at once instead of a turn: how many are in flight is timing."""
SENTINEL = '{"type": "hello"}'
READ_S = 15.0
RSS_BOUND_MB = 16.0
"""How much the gateway's resident memory may grow over the memory test's frames."""

Example = Callable[[], None]


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> tuple[Service, int]:
    return stack.start_gateway("g1", GATEWAY_ID="g1", **SETTINGS)


def rss_mb(service: Service) -> float:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def fuzz_settings(examples: int) -> Callable[[Example], Example]:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass(frozen=True)
class Expected:
    """What one frame is to be answered with, before the sentinel's `hello` answer."""

    kind: str
    """"error", "hello", "reset", "turn", "resume" or "nothing"."""
    code: ErrorCode | None = None
    message: str | None = None
    """The exact sentence where the parser names it; None: any of Uhrwerk's sentences."""
    turn_id: str = ""


NOTHING = Expected("nothing")


@dataclass
class Watch:
    """A hostile watch's socket, and what the protocol says it has to hear."""

    ws: aiohttp.ClientWebSocketResponse
    protocol: int
    upload: bytearray | None = None
    upload_refused: bool = False
    announced: set[str] = field(default_factory=set)
    """Protocol 2 turns, by their `turn` frame."""
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every turn that ended, with its last frame."""
    unannounced: int = 0
    """Protocol 1 turns started (their id only comes with their answer)."""
    audio_due: str | None = None
    """A `sentence` frame was read: its MP3 is the next frame."""
    resuming: set[str] = field(default_factory=set)
    """Turns named in `resume` frames not yet answered."""
    frames: int = 0
    """Frames sent (the sentinels not counted)."""
    seen: dict[str, int] = field(default_factory=dict)
    """Answers by kind (an error by its code), for the report."""

    # --- what the protocol says -------------------------------------------------

    def expect(self, action: fuzz.Action) -> Expected:
        """What `action` is to be answered with; updates the upload and protocol."""
        if isinstance(action, fuzz.Binary):
            if self.upload is None:
                return NOTHING if self.upload_refused else Expected("error", ErrorCode.BINARY_FRAME)
            if len(self.upload) + len(action.data) > LIMITS.max_audio_bytes:
                self.upload, self.upload_refused = None, True
                return Expected("error", ErrorCode.TOO_LARGE)
            self.upload += action.data
            return NOTHING
        if len(action.raw) > MAX_MESSAGE_BYTES:
            return Expected("error", ErrorCode.TOO_LARGE)
        try:
            request = parse(action.raw, LIMITS)
            if isinstance(request, AudioEndRequest):
                if self.upload_refused:
                    self.upload_refused = False
                    return NOTHING
                if self.upload is None:
                    return Expected("error", ErrorCode.MISSING_AUDIO)
                audio, self.upload = bytes(self.upload), None
                recording(audio, LIMITS)
                return Expected("turn")
        except PipelineError as exc:
            return Expected("error", exc.code, exc.message)
        if isinstance(request, HelloRequest):
            self.protocol = request.protocol or self.protocol
            return Expected("hello")
        if isinstance(request, ResetRequest):
            return Expected("reset")
        if isinstance(request, CancelRequest):
            return NOTHING
        if isinstance(request, AudioStartRequest):
            self.upload, self.upload_refused = bytearray(), False
            return NOTHING
        if isinstance(request, ResumeRequest):
            return Expected("resume", turn_id=request.turn_id)
        return Expected("turn")

    # --- reading -----------------------------------------------------------------

    async def next_answer(self, timeout: float = READ_S) -> dict[str, Any]:
        """The next frame that answers a frame (not part of a turn); a turn's frames
        are checked and counted on the way."""
        while True:
            frame = await self.receive(timeout)
            if frame is not None:
                return frame

    async def receive(self, timeout: float) -> dict[str, Any] | None:
        """One frame: returned if it answers a frame, None if it was part of a turn."""
        try:
            message = await self.ws.receive(timeout=timeout)
        except TimeoutError:
            pytest.fail(f"no answer within {timeout:.1f} s")
        if message.type is aiohttp.WSMsgType.BINARY:
            assert self.audio_due, "an MP3 frame without its sentence"
            self.audio_due = None
            return None
        assert message.type is aiohttp.WSMsgType.TEXT, (
            f"the socket ended: {message.type.name} {message.data!r} "
            f"(close code {self.ws.close_code})"
        )
        assert self.audio_due is None, "a sentence frame without its MP3"
        frame = json.loads(message.data)
        assert isinstance(frame, dict), frame
        turn_id = frame.get("turn_id")
        if turn_id is None or (turn_id in self.resuming and "error" in frame):
            return frame
        self.on_turn_frame(turn_id, frame)
        return None

    def on_turn_frame(self, turn_id: str, frame: dict[str, Any]) -> None:
        assert turn_id not in self.ended, f"a frame after its turn ended: {frame}"
        kind = frame.get("type")
        if kind == "turn":
            assert turn_id not in self.announced, frame
            self.announced.add(turn_id)
        elif kind in ("transcript", "sentence"):
            assert turn_id in self.announced, frame
            if kind == "sentence":
                self.audio_due = turn_id
        elif kind in ("done", "cancelled") or "text_response" in frame or "error" in frame:
            if "error" in frame:
                check_error(frame, 2 if turn_id in self.announced else 1)
            elif kind != "cancelled":
                assert isinstance(frame["text_response"], str) and frame["text_response"]
            self.ended[turn_id] = frame
            self.count(frame)
        else:
            pytest.fail(f"a frame the protocol does not have: {frame}")

    def count(self, frame: dict[str, Any]) -> None:
        kind = frame.get("code") or frame.get("type") or "reply"
        self.seen[kind] = self.seen.get(kind, 0) + 1

    def turns_open(self) -> int:
        """Turns started and not ended; negative if more ended than were started."""
        ended_p1 = sum(1 for turn_id in self.ended if turn_id not in self.announced)
        ended_p2 = len(self.ended) - ended_p1
        return (self.unannounced - ended_p1) + (len(self.announced) - ended_p2)

    # --- playing -------------------------------------------------------------------

    async def play(self, actions: list[fuzz.Action]) -> None:
        """Send frames back to back, then a `hello`, and check what each frame was
        answered with: the gateway reads a socket's frames one after the other, so their
        answers come in their order (a turn's frames may come in between)."""
        plan = []
        for action in actions:
            protocol = self.protocol
            plan.append((action, protocol, self.expect(action), self.protocol))
            if isinstance(action, fuzz.Binary):
                await self.ws.send_bytes(action.data)
            else:
                await self.ws.send_str(action.raw)
        self.frames += len(actions)
        announced = len(self.announced)
        self.resuming = {expected.turn_id for _, _, expected, _ in plan if expected.turn_id}
        hellos = sum(1 for _, _, expected, _ in plan if expected.kind == "hello")
        answers = deque(await self.round_trip(hellos))
        self.resuming = set()
        should_start = 0
        for action, protocol, expected, after in plan:
            context = f"{action!r:.300} was answered {list(answers)!r:.600}"
            head = answers[0] if answers else {}
            if expected.kind == "turn":
                if head.get("code") in REFUSALS:  # refused at once (no parse error is one)
                    check_error(answers.popleft(), protocol)
                elif protocol >= 2:
                    should_start += 1
                else:
                    self.unannounced += 1
                continue
            if expected.kind == "nothing":
                continue
            assert answers, context
            answer = answers.popleft()
            self.count(answer)
            if expected.kind == "error":
                check_error(answer, protocol)
                assert answer["code"] == expected.code, context
                if expected.message is not None:
                    assert answer["error"] == expected.message, context
            elif expected.kind == "resume":
                assert answer.get("turn_id") == expected.turn_id, context
                check_error(answer, protocol)
            elif expected.kind == "reset":
                if answer.get("type") != "reset":
                    assert answer.get("code") == "memory_unavailable", context
            else:
                assert answer.get("type") == "hello", context
                assert answer.get("protocol", 1) == after, context
        assert not answers, f"answers to no frame: {list(answers)!r:.600}"
        assert len(self.announced) - announced == should_start, plan

    async def round_trip(self, hellos_before: int = 0) -> list[dict[str, Any]]:
        """Send a `hello`; the frames that answered earlier frames, up to its answer
        (the `hello` answer after `hellos_before` others)."""
        await self.ws.send_str(SENTINEL)
        answers: list[dict[str, Any]] = []
        while True:
            frame = await self.next_answer()
            if frame.get("type") == "hello":
                if hellos_before == 0:
                    assert frame.get("protocol", 1) == self.protocol, frame
                    return answers
                hellos_before -= 1
            answers.append(frame)

    async def settle(self) -> None:
        """Wait for every turn to end, then check the socket still answers and nothing
        more comes."""
        deadline = time.monotonic() + TURN_TIMEOUT_S + 10
        while self.turns_open() > 0:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.turns_open()} turns never ended"
            frame = await self.receive(remaining)
            assert frame is None, f"an answer to no frame: {frame}"
        assert self.turns_open() == 0, f"{-self.turns_open()} more turns ended than started"
        assert await self.round_trip() == []
        assert self.turns_open() == 0


def check_error(frame: dict[str, Any], protocol: int) -> None:
    """An error frame: a known code, one of Uhrwerk's German sentences, the protocol's
    shape, nothing else."""
    assert frame.get("code") in {code.value for code in ErrorCode}, frame
    assert fuzz.is_own_sentence(frame.get("error")), frame
    assert set(frame) <= {"type", "error", "code", "turn_id", "timings", "retry_after"}, frame
    if protocol >= 2:
        assert frame.get("type") == "error", frame
    else:
        assert "type" not in frame, frame


async def hostile_watch(
    port: int, protocol: int, steps: list[list[fuzz.Action]], back_to_back: bool
) -> Watch:
    """One socket: each frame followed by a `hello`, or all of them back to back."""
    actions = [action for step in steps for action in step]
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol=str(protocol)), max_msg_size=0) as ws,
    ):
        watch = Watch(ws, protocol)
        for group in [actions] if back_to_back else [[action] for action in actions]:
            await watch.play(group)
        await watch.settle()
        return watch


def steps(max_steps: int) -> st.SearchStrategy[list[list[fuzz.Action]]]:
    return st.lists(
        fuzz.actions(LIMITS.max_text_chars, MAX_MESSAGE_BYTES), min_size=1, max_size=max_steps
    )


def fuzz_gateway(
    port: int, examples: int, max_steps: int, seen: dict[str, int], back_to_back: bool = False
) -> None:
    @fuzz_settings(examples)
    @given(st.sampled_from([1, 2]), steps(max_steps))
    def check(protocol: int, steps: list[list[fuzz.Action]]) -> None:
        watch = asyncio.run(hostile_watch(port, protocol, steps, back_to_back))
        for kind, n in [*watch.seen.items(), ("frames", watch.frames)]:
            seen[kind] = seen.get(kind, 0) + n

    check()


@pytest.mark.parametrize("examples", [25, pytest.param(400, marks=pytest.mark.slow, id="long")])
def test_every_frame_gets_its_one_answer_and_the_socket_stays_usable(
    gateway: tuple[Service, int], examples: int
) -> None:
    service, port = gateway
    seen: dict[str, int] = {}
    fuzz_gateway(port, examples, 8, seen)
    print("answers by kind:", dict(sorted(seen.items())))
    assert service.process.poll() is None, "the gateway died"
    # Bad frames and answered questions both happened (the fuzzing reached both).
    assert sum(n for kind, n in seen.items() if kind in {c.value for c in ErrorCode}) > 0
    assert seen.get("reply", 0) + seen.get("done", 0) > 0, seen


@pytest.mark.parametrize("examples", [15, pytest.param(200, marks=pytest.mark.slow, id="long")])
def test_frames_sent_back_to_back_are_answered_each_in_order(
    gateway: tuple[Service, int], examples: int
) -> None:
    """As a hurried client sends them: the next frame arrives while the last is still
    being parsed (large ones off the event loop) or its turn is being answered."""
    service, port = gateway
    seen: dict[str, int] = {}
    fuzz_gateway(port, examples, 12, seen, back_to_back=True)
    print("answers by kind:", dict(sorted(seen.items())))
    assert service.process.poll() is None, "the gateway died"
    assert seen["frames"] > examples


@pytest.mark.parametrize(
    ("frames", "bound_mb"),
    [(1000, RSS_BOUND_MB), pytest.param(10000, RSS_BOUND_MB, marks=pytest.mark.slow, id="long")],
)
def test_memory_stays_bounded_over_thousands_of_hostile_frames(
    gateway: tuple[Service, int], frames: int, bound_mb: float
) -> None:
    service, port = gateway
    seen: dict[str, int] = {}
    # Warm up first: caches, the thread pool, the allocator's arenas.
    fuzz_gateway(port, 5, 40, seen, back_to_back=True)
    before = rss_mb(service)
    seen.clear()
    while seen.get("frames", 0) < frames:
        fuzz_gateway(port, 20, 40, seen, back_to_back=True)
    after = rss_mb(service)
    print(f"gateway RSS {before:.1f} MB -> {after:.1f} MB over {seen['frames']} frames")
    print("answers by kind:", dict(sorted(seen.items())))
    assert after - before < bound_mb


async def test_a_streamed_recording_over_the_limit_gets_one_too_large_then_silence(
    gateway: tuple[Service, int],
) -> None:
    """Its later chunks and its `audio_end` get nothing (they used to get a
    `binary_frame` error each, and the `audio_end` a `missing_audio`); the next
    recording is heard again."""
    _, port = gateway
    half = bytes(LIMITS.max_audio_bytes // 2 + 1)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(port, protocol="2")) as ws,
    ):
        watch = Watch(ws, 2)
        await ws.send_str(fuzz.START.raw)
        for _ in range(5):
            await ws.send_bytes(half)
        await ws.send_str(fuzz.END.raw)
        answers = await watch.round_trip()
        assert [a["code"] for a in answers] == ["too_large"]
        check_error(answers[0], 2)
        assert answers[0]["error"].startswith("Die Aufnahme ist zu groß")
        clip = fuzz.clip()
        await watch.play([fuzz.START, fuzz.Binary(clip[:500]), fuzz.Binary(clip[500:]), fuzz.END])
        await watch.settle()
        (last,) = watch.ended.values()
        assert last["type"] == "done" and last["text_response"]


async def test_a_text_frame_that_is_not_utf8_ends_the_socket_with_1007(
    gateway: tuple[Service, int],
) -> None:
    """Below the protocol: RFC 6455 has the server fail such a socket with 1007 (aiohttp
    does it before the gateway sees a frame), which the watch sees as its close code.
    The gateway takes the next socket as ever."""
    _, port = gateway
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(port)) as ws:
            await ws.send_frame(b'{"type": "text", "message": "\xff"}', aiohttp.WSMsgType.TEXT)
            closing = await ws.receive(timeout=READ_S)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1007
        async with http.ws_connect(ws_url(port)) as ws:
            assert await Watch(ws, 1).round_trip() == []


@pytest.mark.parametrize("examples", [30, pytest.param(300, marks=pytest.mark.slow, id="long")])
def test_any_query_is_taken_or_refused_with_400_and_a_sentence(
    gateway: tuple[Service, int], examples: int
) -> None:
    """`?session=` and `?protocol=` of any kind: a socket as asked for, or HTTP 400
    before the upgrade whose body is the error frame."""
    _, port = gateway

    async def connect(session: str | None, protocol: str | None) -> None:
        query = {k: v for k, v in (("session", session), ("protocol", protocol)) if v is not None}
        valid = protocol in (None, "1", "2") and (session is None or is_session_id(session))
        async with aiohttp.ClientSession() as http:
            if not valid:
                async with http.get(ws_url(port, **query).replace("ws://", "http://")) as reply:
                    assert reply.status == 400, query
                    check_error(await reply.json(), 1)
                return
            async with http.ws_connect(ws_url(port, **query)) as ws:
                watch = Watch(ws, int(protocol or "1"))
                await ws.send_str(SENTINEL)
                hello = await watch.next_answer()
                assert hello.get("session_id") == session or session is None, hello
                assert hello.get("protocol", 1) == watch.protocol, hello

    @fuzz_settings(examples)
    @given(
        st.none() | fuzz.session_ids() | st.text(max_size=40),
        st.none() | st.sampled_from(["1", "2"]) | st.text(max_size=5),
    )
    @example(session=None, protocol="")  # its sentence began "'protocol' muss …"
    def check(session: str | None, protocol: str | None) -> None:
        asyncio.run(connect(session, protocol))

    check()


def is_session_id(value: str) -> bool:
    try:
        valid_session_id(value)
    except PipelineError:
        return False
    return True
