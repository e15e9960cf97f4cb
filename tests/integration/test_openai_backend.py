"""LLM_BACKEND=openai against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) serving the packaged Qwen 0.5B, with an API key."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from llm_worker.openai_compat import OpenAICompatible, classify, redact_url
from llm_worker.prompt import Prompt
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import Exchange
from shared.model_files import QWEN_CODER_05B, cache_dir, ensure
from shared.settings import LlmSettings
from tests.fakes.audio import mp3_duration
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import SECONDS_PER_CHAR, FakeGoogleGrpc
from tests.integration.conftest import delete_topology
from tests.integration.stack import ROOT, Stack, free_port, ws_url
from tests.integration.test_pipeline import ask

pytestmark = [pytest.mark.slow]

API_KEY = "uhrwerk-test-key"
ALIAS = "qwen-test"
CLOCK = "Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr."


@dataclass
class ModelServer:
    base_url: str
    log_path: Path

    def log_lines(self, pattern: str) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if pattern in line]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    model = ensure(QWEN_CODER_05B, cache_dir("")) / QWEN_CODER_05B.filename
    port = free_port()
    log_path = tmp_path_factory.mktemp("model-server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--model_alias",
                ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--api_key",
                API_KEY,
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
                "--seed",
                "0",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(base_url, process, log_path)
        yield ModelServer(base_url, log_path)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    request = urllib.request.Request(
        f"{base_url}/models", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"model server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"model server never served /v1/models: {log.read_text()[-3000:]}")


def settings_for(base_url: str, **extra: object) -> LlmSettings:
    values: dict[str, object] = {
        "openai_base_url": base_url,
        "openai_api_key": API_KEY,
        "openai_model": ALIAS,
        "max_output_tokens": 96,
    }
    return LlmSettings(**(values | extra))  # type: ignore[arg-type]


@pytest.fixture
async def llm(server: ModelServer) -> AsyncIterator[OpenAICompatible]:
    backend = OpenAICompatible.from_settings(settings_for(server.base_url))
    yield backend
    await backend.close()


def prompt(question: str, history: list[Exchange] | None = None) -> Prompt:
    return Prompt(
        system=LlmSettings().system_instruction,
        clock=CLOCK,
        history=history or [],
        question=question,
    )


GERMAN = {"der", "die", "das", "ist", "und", "von", "ein", "eine", "es", "zu", "nicht", "mit"}
ENGLISH = {"the", "is", "and", "of", "a", "an", "it", "to", "not", "with", "one"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-zäöüß]+", text.lower())


async def test_a_german_question_is_answered_in_german(llm: OpenAICompatible) -> None:
    # The packaged 0.5B model knows little (it has called Germany the capital of
    # France), but it stays on topic and in German.
    question = "Erkläre in einem Satz, was ein Regenschirm ist."
    answer = await llm.answer(prompt(question), time.time() + 60)
    assert "Regenschirm" in answer
    said = words(answer)
    assert sum(w in GERMAN for w in said) > sum(w in ENGLISH for w in said), answer


async def test_history_reaches_the_model(llm: OpenAICompatible) -> None:
    history = [
        Exchange(
            turn_id="t1",
            user="Hallo, ich heiße Adalbert.",
            model="Hallo Adalbert, schön dich kennenzulernen!",
            at=time.time() - 60,
        )
    ]
    question = "Wie heiße ich?"
    remembered = await llm.answer(prompt(question, history), time.time() + 60)
    assert "Adalbert" in remembered
    without = await llm.answer(prompt(question), time.time() + 60)
    assert "Adalbert" not in without  # the name came from the history, nowhere else


async def test_the_first_listed_model_is_used_when_none_is_configured(
    server: ModelServer,
) -> None:
    backend = OpenAICompatible.from_settings(settings_for(server.base_url, openai_model=""))
    try:
        assert backend.model_name == "(first the server lists)"
        answer = await backend.answer(prompt("Sag bitte nur: Hallo."), time.time() + 60)
        assert answer
        assert backend.model_name == ALIAS
        listed = len(server.log_lines("GET /v1/models"))
        await backend.answer(prompt("Sag bitte nur: Danke."), time.time() + 60)
        assert len(server.log_lines("GET /v1/models")) == listed  # asked once, at first use
    finally:
        await backend.close()


async def test_no_server_is_unavailable_after_bounded_retries() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    backend = OpenAICompatible.from_settings(settings_for(base_url, openai_attempts=3))
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await backend.answer(prompt("Hallo?"), time.time() + 10)
    finally:
        await backend.close()
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert time.monotonic() - started < 3.0  # three refusals and two short back-offs
    assert API_KEY not in caught.value.detail


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: a hung model server."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = False

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop:
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop = True
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


async def test_a_hung_server_costs_the_attempt_timeouts_then_is_unavailable(
    silent_server: str,
) -> None:
    settings = settings_for(silent_server, openai_attempts=2, openai_call_timeout_s=0.5)
    backend = OpenAICompatible.from_settings(settings)
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await backend.answer(prompt("Hallo?"), time.time() + 10)
    finally:
        await backend.close()
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert 1.0 <= time.monotonic() - started < 2.5


async def test_a_hung_server_never_outlives_the_deadline(silent_server: str) -> None:
    settings = settings_for(silent_server, openai_attempts=5, openai_call_timeout_s=30)
    backend = OpenAICompatible.from_settings(settings)
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await backend.answer(prompt("Hallo?"), time.time() + 1.5)
    finally:
        await backend.close()
    assert caught.value.code is ErrorCode.TIMEOUT
    assert time.monotonic() - started < 2.5


async def test_a_wrong_api_key_is_rejected_at_once_without_retries(server: ModelServer) -> None:
    backend = OpenAICompatible.from_settings(
        settings_for(server.base_url, openai_api_key="wrong-key", openai_attempts=3)
    )
    refused_before = len(server.log_lines('POST /v1/chat/completions HTTP/1.1" 401'))
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await backend.answer(prompt("Hallo?"), time.time() + 30)
    finally:
        await backend.close()
    assert caught.value.code is ErrorCode.BACKEND_REJECTED
    assert caught.value.category is ErrorCategory.PERMANENT
    assert time.monotonic() - started < 1.0
    await asyncio.sleep(0.2)  # the access log line is written after the response
    refused = server.log_lines('POST /v1/chat/completions HTTP/1.1" 401')
    assert len(refused) == refused_before + 1  # one request: no retry
    assert "wrong-key" not in caught.value.detail


def test_classification_of_non_http_failures() -> None:
    assert classify(TimeoutError()) is ErrorCategory.TRANSIENT
    assert classify(ConnectionResetError()) is ErrorCategory.TRANSIENT
    assert classify(ValueError("malformed")) is ErrorCategory.PERMANENT
    assert redact_url("http://user:secret@host:11434/v1") == "http://host:11434/v1"
    assert redact_url("http://host:11434/v1") == "http://host:11434/v1"


@pytest.mark.broker
@pytest.mark.integration
async def test_a_typed_question_through_the_whole_pipeline(
    server: ModelServer,
    grpc_fake: FakeGoogleGrpc,
    gemini_fake: FakeGemini,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = f"oai{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, grpc_fake, gemini_fake, tmp_path_factory.mktemp("openai-stack"))
    stack.env["TURN_TIMEOUT_S"] = "60"
    try:
        for worker in ("stt_worker", "tts_worker"):
            stack.start_worker(worker)
        llm_worker = stack.start_worker(
            "llm_worker",
            LLM_BACKEND="openai",
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY=API_KEY,
            OPENAI_MODEL="",
        )
        _, port = stack.start_gateway("gateway", GATEWAY_ID="openai")
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(port)) as ws,
        ):
            question = "Was trinkt man morgens gern, Kaffee oder Tee?"
            reply = await ask(ws, {"type": "text", "message": question}, timeout=60)
        assert "error" not in reply, reply
        answer = reply["text_response"]
        assert "Kaffee" in answer or "Tee" in answer
        assert reply["transcript"] == question
        duration = mp3_duration(base64.b64decode(reply["audio_base64"]))
        assert duration == pytest.approx(len(answer) * SECONDS_PER_CHAR, abs=0.15)
        assert gemini_fake.requests == []  # the answer came from the model server
        events = llm_worker.log_events()
        chosen = next(e for e in events if e.get("event") == "language model")
        assert chosen["backend"] == "openai"
        assert any(
            e.get("event") == "openai model chosen" and e.get("model") == ALIAS for e in events
        )
        assert API_KEY not in llm_worker.log_path.read_text()
    finally:
        stack.stop_all()
        await delete_topology(prefix, [f"{prefix}.reply.openai"])
