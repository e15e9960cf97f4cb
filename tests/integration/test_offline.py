"""The offline default: no Google anything configured, real models, real speech, the
whole running pipeline (real RabbitMQ and Redis)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from shared.model_files import default_cache_dir
from tests.fakes.audio import mp3_duration
from tests.integration.conftest import delete_topology
from tests.integration.stack import WORKERS, Stack
from tests.integration.test_pipeline import ask
from tests.speech import spoken_webm, word_error_rate

pytestmark = [pytest.mark.broker, pytest.mark.integration, pytest.mark.slow]

QUESTIONS = {
    "de-DE": ["Wie wird das Wetter morgen in Berlin?", "Erzähl mir einen kurzen Witz über Katzen."],
    "en-US": ["What is the capital city of France?", "Which planet is closest to the sun?"],
}


@pytest.fixture(scope="module", params=["de-DE", "en-US"])
def offline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, int, str]]:
    language: str = request.param
    prefix = f"off{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("home")  # no gcloud credentials to be found there
    stack = Stack(prefix, None, None, tmp_path_factory.mktemp(f"offline-{language}"))
    stack.env |= {
        "STT_LANGUAGE": language,
        "TTS_LANGUAGE": language,
        "HOME": str(home),
        "MODEL_DIR": str(default_cache_dir()),  # the models assembled by make install
        "TURN_TIMEOUT_S": "60",
    }
    try:
        for worker in WORKERS:
            stack.start_worker(worker, timeout=180)
        _, port = stack.start_gateway("gateway", GATEWAY_ID="offline")
        yield stack, port, language
    finally:
        stack.stop_all()
        asyncio.run(delete_topology(prefix, [f"{prefix}.reply.offline"]))


def test_auto_chooses_the_offline_backends_and_says_so(offline: tuple[Stack, int, str]) -> None:
    stack, _, _ = offline
    chosen = {
        name: next(e["backend"] for e in stack.services[name].log_events() if "backend" in e)
        for name in WORKERS
    }
    assert chosen == {"stt_worker": "local", "llm_worker": "local", "tts_worker": "local"}


async def test_a_spoken_question_is_understood_answered_and_spoken(
    offline: tuple[Stack, int, str],
) -> None:
    _, port, language = offline
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
    ):
        for question in QUESTIONS[language]:
            clip = spoken_webm(question, language)
            reply = await ask(
                ws,
                {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"},
                timeout=90,
            )
            assert "error" not in reply, reply
            assert word_error_rate(question, reply["transcript"]) <= 0.25, reply["transcript"]
            answer = reply["text_response"].strip()
            assert answer
            if "France" in question:
                assert "Paris" in answer  # the transcript, not just any text, reached the model
            seconds = mp3_duration(base64.b64decode(reply["audio_base64"]))
            # Speech runs at roughly 8 to 25 characters per second.
            assert len(answer) / 30 < seconds < len(answer) / 5 + 2, (answer, seconds)
            assert {"stt", "llm", "tts", "total"} <= set(reply["timings"])
