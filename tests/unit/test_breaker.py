"""The circuit breaker (`shared/breaker.py`) on an injected clock, through the retry
loops, and wired into the real Google clients against the fakes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from llm_worker.gemini import Gemini
from llm_worker.openai_compat import OpenAICompatible
from llm_worker.prompt import Prompt
from shared.breaker import CircuitBreaker, State
from shared.contracts import AudioTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.retry import call_with_retry, stream_with_retry
from shared.settings import LlmSettings, SttSettings, TtsSettings
from stt_worker.google import GoogleSpeech
from tests.fakes.audio import webm_opus
from tests.fakes.background import BackgroundServer
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc
from tests.integration.stack import ROOT
from tts_worker.google import GoogleTextToSpeech


class Clock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(failures: int = 3, cooldown_s: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("fake backend", failures, cooldown_s, clock), clock


def state_of(b: CircuitBreaker) -> State:
    """Read afresh each time (mypy would narrow `b.state` across the calls that change it)."""
    return b.state


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        b.admit().failed("503")


def refused(b: CircuitBreaker) -> PipelineError:
    with pytest.raises(PipelineError) as caught:
        b.admit()
    return caught.value


def test_it_opens_after_n_transient_failures_in_a_row_and_not_before() -> None:
    b, _ = breaker(failures=3)
    fail(b, 2)
    b.admit().succeeded()  # an answer in between starts the count again
    fail(b, 2)
    assert state_of(b) is State.CLOSED
    fail(b, 1)
    assert state_of(b) is State.OPEN


def test_an_open_circuit_fails_at_once_with_backend_unavailable() -> None:
    b, clock = breaker(failures=2, cooldown_s=10)
    fail(b, 2)
    clock.now += 9.9
    error = refused(b)
    assert error.code is ErrorCode.BACKEND_UNAVAILABLE
    assert error.category is ErrorCategory.TRANSIENT
    assert "circuit open" in error.detail
    assert "fake backend" in error.detail
    assert error.message == "Der Sprachdienst ist gerade nicht erreichbar."  # the watch's text


def test_after_the_cooldown_one_probe_goes_through_and_others_still_fail_fast() -> None:
    b, clock = breaker(failures=2, cooldown_s=10)
    fail(b, 2)
    clock.now += 10
    probe = b.admit()
    assert probe.probe and state_of(b) is State.HALF_OPEN
    for _ in range(3):
        assert "probe in flight" in refused(b).detail
    probe.succeeded()
    assert state_of(b) is State.CLOSED
    assert not b.admit().probe  # closed: calls go through again


def test_a_failed_probe_opens_it_for_another_whole_cooldown() -> None:
    b, clock = breaker(failures=2, cooldown_s=10)
    fail(b, 2)
    clock.now += 10
    b.admit().failed("still 503")
    assert state_of(b) is State.OPEN
    clock.now += 9.9
    refused(b)
    clock.now += 0.1
    assert b.admit().probe


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    b, clock = breaker(failures=1, cooldown_s=5)
    fail(b, 1)
    clock.now += 5
    b.admit().abandoned()  # cancelled (barge-in): no verdict about the backend
    assert b.admit().probe


def test_a_probe_that_never_reports_back_is_given_up_after_a_cooldown() -> None:
    b, clock = breaker(failures=1, cooldown_s=5)
    fail(b, 1)
    clock.now += 5
    b.admit()  # leaked: no verdict ever
    clock.now += 4.9
    refused(b)
    clock.now += 0.1
    assert b.admit().probe


def test_a_leaked_probe_coming_back_late_does_not_reopen_it() -> None:
    b, clock = breaker(failures=2, cooldown_s=5)
    fail(b, 2)
    clock.now += 5
    leaked = b.admit()
    clock.now += 5
    b.admit().succeeded()  # the second probe closes it
    leaked.failed("late")  # one failure, not a reopening
    assert state_of(b) is State.CLOSED
    fail(b, 1)
    assert state_of(b) is State.OPEN  # ... and it counted


def test_zero_failures_never_opens() -> None:
    b, _ = breaker(failures=0)
    fail(b, 100)
    assert state_of(b) is State.CLOSED


def test_an_attempts_first_verdict_counts() -> None:
    b, _ = breaker(failures=1)
    attempt = b.admit()
    attempt.succeeded()
    attempt.failed("later")  # e.g. a stream cut after its first piece
    attempt.abandoned()
    assert state_of(b) is State.CLOSED


def test_state_changes_are_logged_with_the_backends_name() -> None:
    b, clock = breaker(failures=2, cooldown_s=1)
    with capture_logs() as logs:
        fail(b, 2)
        clock.now += 1
        b.admit().succeeded()
    events = [(e["event"], e.get("backend")) for e in logs if e["event"].startswith("circuit")]
    assert events == [
        ("circuit opened", "fake backend"),
        ("circuit half-open, probing", "fake backend"),
        ("circuit closed", "fake backend"),
    ]


# Through the retry loops.


class Backend:
    """A scripted remote call: fails with `error` while `down`, counts calls."""

    def __init__(self, error: BaseException | None = None, stall_s: float = 0.0) -> None:
        self.error = error or ConnectionError("503 Service Unavailable")
        self.down = True
        self.calls = 0
        self.stall_s = stall_s

    async def __call__(self, _: float) -> str:
        self.calls += 1
        await asyncio.sleep(self.stall_s)
        if self.down:
            raise self.error
        return "ok"


def transient(_: BaseException) -> ErrorCategory:
    return ErrorCategory.TRANSIENT


def permanent(_: BaseException) -> ErrorCategory:
    return ErrorCategory.PERMANENT


async def turn(
    call: Callable[[float], Awaitable[str]],
    b: CircuitBreaker,
    classify: Callable[[BaseException], ErrorCategory] = transient,
    attempts: int = 3,
    attempt_timeout_s: float = 1.0,
    deadline_s: float = 5.0,
) -> str | PipelineError:
    try:
        return await call_with_retry(
            call,
            classify=classify,
            attempts=attempts,
            attempt_timeout_s=attempt_timeout_s,
            deadline=time.time() + deadline_s,
            what="test",
            breaker=b,
        )
    except PipelineError as exc:
        return exc


async def test_retries_open_the_circuit_and_later_turns_never_reach_the_backend() -> None:
    b, clock = breaker(failures=5, cooldown_s=10)
    backend = Backend()
    first = await turn(backend, b)  # 3 attempts, 3 failures
    assert isinstance(first, PipelineError) and state_of(b) is State.CLOSED
    second = await turn(backend, b)  # 2 more: open, and no back-off before giving up
    assert isinstance(second, PipelineError)
    assert second.code is ErrorCode.BACKEND_UNAVAILABLE
    assert state_of(b) is State.OPEN and backend.calls == 5
    started = time.perf_counter()
    third = await turn(backend, b)
    assert isinstance(third, PipelineError) and "circuit open" in third.detail
    assert time.perf_counter() - started < 0.01
    assert backend.calls == 5  # failed fast: the backend was not called
    backend.down = False
    clock.now += 10
    assert await turn(backend, b) == "ok"  # the probe
    assert state_of(b) is State.CLOSED and backend.calls == 6


async def test_permanent_errors_do_not_open_it() -> None:
    b, _ = breaker(failures=2)
    backend = Backend(error=ValueError("400 Bad Request"))
    for _ in range(5):
        result = await turn(backend, b, classify=permanent)
        assert isinstance(result, PipelineError) and result.code is ErrorCode.BACKEND_REJECTED
    assert state_of(b) is State.CLOSED and backend.calls == 5


async def test_a_permanent_answer_to_the_probe_closes_it() -> None:
    b, clock = breaker(failures=1, cooldown_s=1)
    backend = Backend()
    await turn(backend, b, attempts=1)
    clock.now += 1
    await turn(Backend(error=ValueError("401")), b, classify=permanent)
    assert state_of(b) is State.CLOSED


async def test_whole_attempt_timeouts_count_but_a_deadline_cut_does_not() -> None:
    b, _ = breaker(failures=2)
    hanging = Backend(stall_s=5.0)
    # Each attempt cut short by a turn that has 0.2 s left: nothing learnt about the backend.
    for _ in range(3):
        result = await turn(hanging, b, attempt_timeout_s=1.0, deadline_s=0.2)
        assert isinstance(result, PipelineError) and result.code is ErrorCode.TIMEOUT
    assert state_of(b) is State.CLOSED
    # Attempts that had their whole timeout: the backend hangs.
    result = await turn(hanging, b, attempts=2, attempt_timeout_s=0.1, deadline_s=5.0)
    assert isinstance(result, PipelineError) and result.code is ErrorCode.BACKEND_UNAVAILABLE
    assert state_of(b) is State.OPEN


async def test_a_cancelled_probe_is_no_verdict() -> None:
    b, clock = breaker(failures=1, cooldown_s=1)
    await turn(Backend(), b, attempts=1)
    clock.now += 1
    task = asyncio.create_task(turn(Backend(stall_s=5.0), b))
    await asyncio.sleep(0.05)
    assert state_of(b) is State.HALF_OPEN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b.admit().probe  # the next call probes


def pieces_of(backend: Backend) -> Callable[[float], AsyncIterator[str]]:
    async def stream(timeout_s: float) -> AsyncIterator[str]:
        yield await backend(timeout_s)
        yield " und mehr"

    return stream


async def test_a_stream_opens_the_circuit_and_its_first_piece_closes_it() -> None:
    b, clock = breaker(failures=3, cooldown_s=10)
    backend = Backend()

    async def streamed() -> list[str] | PipelineError:
        try:
            return [
                p
                async for p in stream_with_retry(
                    pieces_of(backend),
                    classify=transient,
                    attempts=3,
                    attempt_timeout_s=1.0,
                    deadline=time.time() + 5,
                    what="test",
                    breaker=b,
                )
            ]
        except PipelineError as exc:
            return exc

    assert isinstance(await streamed(), PipelineError)
    assert state_of(b) is State.OPEN and backend.calls == 3
    open_error = await streamed()
    assert isinstance(open_error, PipelineError) and "circuit open" in open_error.detail
    assert backend.calls == 3
    backend.down = False
    clock.now += 10
    assert await streamed() == ["ok", " und mehr"]
    assert state_of(b) is State.CLOSED


# Wired into a real client: Google TTS through grpcio against the fake server.


async def test_google_tts_fails_fast_while_down_and_probes_again(
    fake_grpc: FakeGoogleGrpc,
) -> None:
    fake_grpc.synthesize_failures.extend([grpc.StatusCode.UNAVAILABLE] * 100)
    settings = TtsSettings(
        tts_google_endpoint=fake_grpc.endpoint,
        google_plaintext_endpoints=True,
        google_attempts=2,
        breaker_failures=4,
        breaker_cooldown_s=0.5,
    )
    tts = GoogleTextToSpeech.from_settings(settings)
    try:
        with capture_logs() as logs:
            for _ in range(2):  # 2 turns of 2 attempts: open
                with pytest.raises(PipelineError):
                    await tts.synthesize("Hallo", "de-DE", time.time() + 5)
            assert len(fake_grpc.synthesize_requests) == 4
            started = time.perf_counter()
            with pytest.raises(PipelineError) as caught:
                await tts.synthesize("Hallo", "de-DE", time.time() + 5)
            fast_s = time.perf_counter() - started
            assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
            assert "google tts: circuit open" in caught.value.detail
            assert fast_s < 0.01
            assert len(fake_grpc.synthesize_requests) == 4
            fake_grpc.synthesize_failures.clear()
            await asyncio.sleep(0.5)
            audio = await tts.synthesize("Hallo", "de-DE", time.time() + 5)
    finally:
        await tts.close()
    assert audio
    assert len(fake_grpc.synthesize_requests) == 5
    opened = [e for e in logs if e["event"] == "circuit opened"]
    closed = [e for e in logs if e["event"] == "circuit closed"]
    assert [e["backend"] for e in opened + closed] == ["google tts", "google tts"]


def test_classifying_a_failure_imports_nothing_heavy() -> None:
    # It once imported google-genai (2-3 s here), blocking the stt and tts workers' loop
    # on their first backend failure: every turn in flight waited.
    code = (
        "import sys, grpc\n"
        "from google.api_core import exceptions\n"
        "from shared.google import classify\n"
        "assert classify(exceptions.ServiceUnavailable('down')).value == 'transient'\n"
        "assert classify(ValueError('bad')).value == 'permanent'\n"
        "assert 'google.genai' not in sys.modules, 'classify imported google-genai'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# Every remote backend has its breaker: the real clients against failing fakes.


class FakeOpenAI(BackgroundServer):
    """An OpenAI-compatible chat-completions server: 503 while `down`, else a stream."""

    def __init__(self) -> None:
        self.down = False
        self.requests = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.down:
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hallo."}, "finish_reason": "stop"}],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    async def start(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


BREAKER = {"breaker_failures": 2, "breaker_cooldown_s": 0.3}


def prompt() -> Prompt:
    return Prompt(system="Kurz.", clock="Es ist 9:41 Uhr.", history=[], question="Hallo?")


@pytest.mark.parametrize("backend", ["gemini", "openai", "google speech", "google tts"])
async def test_every_remote_backend_fails_fast_while_down_and_probes_again(
    backend: str,
    fake_grpc: FakeGoogleGrpc,
    fake_gemini: FakeGemini,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call: Callable[[], Awaitable[object]]
    closers: list[Callable[[], Awaitable[None]]] = []
    openai_fake = None
    if backend == "gemini":
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_gemini.base_url)
        gemini = Gemini.from_settings(
            LlmSettings(gemini_api_key="k", gemini_attempts=1, **BREAKER)  # type: ignore[arg-type]
        )
        closers.append(gemini.close)

        def requests() -> int:
            return len(fake_gemini.requests)

        def down(on: bool) -> None:
            if on:
                fake_gemini.failures.extend([503] * 100)
            else:
                fake_gemini.failures.clear()

        def call() -> Awaitable[object]:
            return gemini.answer(prompt(), time.time() + 5)

    elif backend == "openai":
        openai_fake = FakeOpenAI().start_in_background()
        openai = OpenAICompatible.from_settings(
            LlmSettings(
                openai_base_url=f"http://127.0.0.1:{openai_fake.port}/v1",
                openai_model="m",
                openai_attempts=1,
                **BREAKER,  # type: ignore[arg-type]
            )
        )
        closers.append(openai.close)

        def requests() -> int:
            assert openai_fake is not None
            return openai_fake.requests

        def down(on: bool) -> None:
            assert openai_fake is not None
            openai_fake.down = on

        def call() -> Awaitable[object]:
            return openai.answer(prompt(), time.time() + 5)

    elif backend == "google speech":
        stt = GoogleSpeech.from_settings(
            SttSettings(
                stt_google_endpoint=fake_grpc.endpoint,
                google_plaintext_endpoints=True,
                google_attempts=1,
                **BREAKER,  # type: ignore[arg-type]
            )
        )
        closers.append(stt.close)
        clip = webm_opus("Hallo")

        def requests() -> int:
            return len(fake_grpc.recognize_requests)

        def down(on: bool) -> None:
            if on:
                fake_grpc.recognize_failures.extend([grpc.StatusCode.RESOURCE_EXHAUSTED] * 100)
            else:
                fake_grpc.recognize_failures.clear()

        def call() -> Awaitable[object]:
            return stt.transcribe(
                AudioTurn(
                    turn_id="t",
                    session_id="s",
                    reply_to="r",
                    deadline_ms=int((time.time() + 5) * 1000),
                    audio=clip,
                    sample_rate=48000,
                )
            )

    else:
        tts = GoogleTextToSpeech.from_settings(
            TtsSettings(
                tts_google_endpoint=fake_grpc.endpoint,
                google_plaintext_endpoints=True,
                google_attempts=1,
                **BREAKER,  # type: ignore[arg-type]
            )
        )
        closers.append(tts.close)

        def requests() -> int:
            return len(fake_grpc.synthesize_requests)

        def down(on: bool) -> None:
            if on:
                fake_grpc.synthesize_failures.extend([grpc.StatusCode.INTERNAL] * 100)
            else:
                fake_grpc.synthesize_failures.clear()

        def call() -> Awaitable[object]:
            return tts.synthesize("Hallo", "de-DE", time.time() + 5)

    try:
        assert await call()  # up: answered
        down(True)
        for _ in range(2):
            with pytest.raises(PipelineError) as caught:
                await call()
            assert "circuit open" not in caught.value.detail  # tried, and failed
        before = requests()
        with pytest.raises(PipelineError) as caught:
            await call()
        assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
        assert f"{backend}: circuit open" in caught.value.detail
        assert requests() == before  # not called
        down(False)
        await asyncio.sleep(0.3)
        assert await call()  # the probe finds it back
        assert await call()
        assert requests() == before + 2
    finally:
        for close in closers:
            await close()
        if openai_fake is not None:
            openai_fake.stop_background()
