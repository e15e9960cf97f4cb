"""The offline backends with their real models (marked slow)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.contracts import AudioTurn
from shared.model_files import ModelUnavailable, PackagedModel, ensure
from shared.settings import SttSettings, TtsSettings
from tests.fakes.audio import mp3_duration, webm_opus
from tests.speech import spoken_webm, word_error_rate

QUESTIONS = {
    "de-DE": "Wie wird das Wetter morgen in Berlin?",
    "en-US": "What is the capital city of France?",
}


def turn(audio: bytes) -> AudioTurn:
    return AudioTurn(
        turn_id="t",
        session_id="s",
        reply_to="r",
        deadline_ms=int((time.time() + 60) * 1000),
        audio=audio,
    )


def test_word_error_rate() -> None:
    assert word_error_rate("Wie spät ist es", "wie spät ist es?") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5


def test_packaged_model_is_assembled_and_verified(tmp_path: Path) -> None:
    parts = (("shared", "errors.py"), ("shared", "contracts.py"))
    import shared

    root = Path(shared.__file__).parent
    digest = hashlib.sha256(
        (root / "errors.py").read_bytes() + (root / "contracts.py").read_bytes()
    )
    model = PackagedModel("m", "model.bin", parts, digest.hexdigest(), (("shared", "topology.py"),))
    folder = ensure(model, tmp_path)
    assert (folder / "model.bin").read_bytes().startswith((root / "errors.py").read_bytes())
    assert (folder / "topology.py").is_file()
    assert ensure(model, tmp_path) == folder  # reused, not rebuilt
    wrong = PackagedModel("w", "model.bin", parts, "0" * 64)
    with pytest.raises(ModelUnavailable, match="expected 0000"):
        ensure(wrong, tmp_path)
    missing = PackagedModel("x", "model.bin", (("no_such_model_package", "a"),), "0" * 64)
    with pytest.raises(ModelUnavailable, match="no-such-model-package is not installed"):
        ensure(missing, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "engine"), [("de-DE", "pico"), ("en-US", "piper"), ("sv-SE", "espeak")]
)
async def test_local_tts_speaks_an_mp3_of_plausible_length(language: str, engine: str) -> None:
    from tts_worker.local import LocalTextToSpeech

    tts = LocalTextToSpeech.from_settings(TtsSettings(tts_language=language))
    assert tts.engine.name == engine
    text = "Eins zwei drei vier fünf sechs sieben acht neun zehn."
    audio = await tts.synthesize(text, time.time() + 30)
    assert 2.0 < mp3_duration(audio) < 8.0


@pytest.mark.slow
async def test_local_tts_never_reads_text_as_options() -> None:
    from tts_worker.local import LocalTextToSpeech

    for language in ("de-DE", "sv-SE"):
        tts = LocalTextToSpeech.from_settings(TtsSettings(tts_language=language))
        audio = await tts.synthesize("--help -w /tmp/x.wav", time.time() + 30)
        assert mp3_duration(audio) > 0.5
    assert not Path("/tmp/x.wav").exists()


@pytest.fixture(scope="module")
def whisper_de() -> object:
    from stt_worker.whisper import LocalWhisper

    return LocalWhisper.from_settings(SttSettings(stt_language="de-DE"))


@pytest.mark.slow
@pytest.mark.parametrize("language", ["de-DE", "en-US"])
async def test_local_whisper_transcribes_mediarecorder_webm(language: str) -> None:
    from stt_worker.whisper import LocalWhisper

    stt = LocalWhisper.from_settings(SttSettings(stt_language=language))
    question = QUESTIONS[language]
    text = await stt.transcribe(turn(spoken_webm(question, language)))
    assert word_error_rate(question, text) <= 0.2, text


@pytest.mark.slow
async def test_local_whisper_hears_nothing_in_silence(whisper_de: object) -> None:
    text = await whisper_de.transcribe(turn(webm_opus(None, seconds=2.0, silent=True)))  # type: ignore[attr-defined]
    assert text == ""


@pytest.fixture(scope="module")
def llama() -> Iterator[object]:
    from llm_worker.llama import LocalLlama
    from shared.settings import LlmSettings

    model = LocalLlama.from_settings(LlmSettings(llm_local_max_tokens=64))
    yield model
    # Freed now, not by Llama.__del__ during interpreter shutdown, where llama.cpp's
    # teardown order is not guaranteed (a rare segfault after the last test was seen).
    asyncio.run(model.close())


@pytest.mark.slow
async def test_local_llama_answers_briefly(llama: object) -> None:
    answer = await llama.answer([], "Wie wird das Wetter morgen in Berlin?", time.time() + 60)  # type: ignore[attr-defined]
    assert answer and len(answer.split()) <= 64


@pytest.mark.slow
async def test_local_llama_is_given_the_history(llama: object) -> None:
    from shared.history import Exchange

    history = [Exchange("t1", "My name is Ada.", "Nice to meet you, Ada!", 0.0)]
    answer = await llama.answer(history, "What is my name?", time.time() + 60)  # type: ignore[attr-defined]
    assert "Ada" in answer
    without = await llama.answer([], "What is my name?", time.time() + 60)  # type: ignore[attr-defined]
    assert "Ada" not in without


@pytest.mark.slow
def test_local_llama_messages_follow_the_gemini_order() -> None:
    from llm_worker.llama import build_messages
    from shared.history import Exchange

    messages = build_messages("kurz", [Exchange("t", "F1", "A1", 0.0)], "F2")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "kurz"),
        ("user", "F1"),
        ("assistant", "A1"),
        ("user", "F2"),
    ]
