"""The offline backends with their real models (marked slow)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.contracts import AudioTurn
from shared.model_files import ModelUnavailable, PackagedModel, ensure
from shared.settings import SttSettings, TtsSettings
from tests.fakes.audio import mp3_duration, webm_opus
from tests.speech import spoken_webm, word_error_rate

if TYPE_CHECKING:
    from llm_worker.llama import LocalLlama
    from llm_worker.prompt import Prompt
    from shared.history import Exchange

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
    assert tts.engine(language).name == engine
    text = "Eins zwei drei vier fünf sechs sieben acht neun zehn."
    audio = await tts.synthesize(text, language, time.time() + 30)
    assert 2.0 < mp3_duration(audio) < 8.0


@pytest.mark.slow
async def test_local_tts_picks_the_voice_of_each_answers_language() -> None:
    from tts_worker.local import LocalTextToSpeech

    tts = LocalTextToSpeech.from_settings(TtsSettings(tts_language="de-DE"))
    assert tts.engine("de-DE").name == "pico"
    assert tts.engine("en-US").name == "piper"
    assert tts.engine("en-GB").name == "piper"
    assert tts.engine("fr-FR").name == "pico"
    assert tts.engine("sv-SE").name == "espeak"
    english = await tts.synthesize("It is a quarter past nine.", "en-US", time.time() + 30)
    assert mp3_duration(english) > 1.0


@pytest.mark.slow
async def test_local_tts_never_reads_text_as_options() -> None:
    from tts_worker.local import LocalTextToSpeech

    for language in ("de-DE", "sv-SE"):
        tts = LocalTextToSpeech.from_settings(TtsSettings(tts_language=language))
        audio = await tts.synthesize("--help -w /tmp/x.wav", language, time.time() + 30)
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
    heard = await stt.transcribe(turn(spoken_webm(question, language)))
    assert word_error_rate(question, heard.text) <= 0.2, heard.text
    assert heard.language == language


DETECTION_CLIPS = [
    ("de-DE", "Wie spät ist es?"),
    ("de-DE", "Wie wird das Wetter morgen in Berlin?"),
    ("de-DE", "Wie heißt die Hauptstadt von Spanien?"),
    ("de-DE", "Wer hat den Faust geschrieben?"),
    ("de-DE", "In welchem Land liegt Rom?"),
    ("en-US", "What time is it?"),
    ("en-US", "What is the capital city of France?"),
    ("en-US", "How tall is the Eiffel Tower?"),
    ("en-US", "Who wrote Romeo and Juliet?"),
    ("en-US", "Tell me a joke about cats."),
]


@pytest.fixture(scope="module")
def whisper_auto() -> object:
    from stt_worker.whisper import LocalWhisper

    return LocalWhisper.from_settings(SttSettings(stt_language="auto", stt_languages="de,en"))


@pytest.mark.slow
@pytest.mark.parametrize(("language", "question"), DETECTION_CLIPS)
async def test_local_whisper_detects_the_language_among_the_deployments(
    whisper_auto: object, language: str, question: str
) -> None:
    heard = await whisper_auto.transcribe(turn(spoken_webm(question, language)))  # type: ignore[attr-defined]
    assert heard.language == language, heard
    # Heard in that language, not just labelled (the clips are steady: tests.speech).
    assert word_error_rate(question, heard.text) <= 0.25, heard.text


@pytest.mark.slow
async def test_a_sessions_language_overrides_detection(whisper_auto: object) -> None:
    clip = spoken_webm("What time is it?", "en-US")
    german = dataclasses.replace(turn(clip), language="de-DE")
    heard = await whisper_auto.transcribe(german)  # type: ignore[attr-defined]
    assert heard.language == "de-DE"


@pytest.mark.slow
async def test_local_whisper_hears_nothing_in_silence(whisper_de: object) -> None:
    heard = await whisper_de.transcribe(turn(webm_opus(None, seconds=2.0, silent=True)))  # type: ignore[attr-defined]
    assert heard.text == ""


def test_llm_local_model_names_a_packaged_model_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared
    from llm_worker import llama

    root = Path(shared.__file__).parent
    digest = hashlib.sha256((root / "errors.py").read_bytes()).hexdigest()
    tiny = PackagedModel("tiny-chat", "model.gguf", (("shared", "errors.py"),), digest)
    other = PackagedModel("other-chat", "model.gguf", (("shared", "errors.py"),), digest)
    monkeypatch.setattr(llama, "LLM_MODELS", {"tiny": tiny, "other": other})
    monkeypatch.setattr(llama, "DEFAULT_LLM_MODEL", "tiny")
    models = tmp_path / "models"

    name, path = llama.resolve_model("other", str(models))
    assert (name, path) == ("other", models / "other-chat" / "model.gguf")
    assert path.read_bytes() == (root / "errors.py").read_bytes()  # assembled, verified
    assert llama.resolve_model("", str(models))[0] == "tiny"
    assert llama.resolve_model("  ", str(models))[0] == "tiny"

    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert llama.resolve_model(str(own), str(models)) == ("mine.gguf", own)

    for wrong in ("qwen-9000", str(tmp_path / "missing.gguf")):
        with pytest.raises(ModelUnavailable, match=r"neither a packaged model \(other, tiny\)"):
            llama.resolve_model(wrong, str(models))


def test_the_default_local_model_is_a_packaged_one() -> None:
    from shared.model_files import DEFAULT_LLM_MODEL, LLM_MODELS

    assert DEFAULT_LLM_MODEL in LLM_MODELS
    names = [model.name for model in LLM_MODELS.values()]
    assert len(set(names)) == len(names)  # each assembles into its own folder


def test_chat_messages_put_the_clock_after_the_history() -> None:
    from llm_worker.prompt import Prompt, chat_messages
    from shared.history import Exchange

    def prompt(clock: str) -> Prompt:
        return Prompt("kurz", clock, [Exchange("t", "F1", "A1", 0.0)], "F2")

    messages = chat_messages(prompt("9:41"))
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "kurz"),
        ("user", "F1"),
        ("assistant", "A1"),
        ("system", "9:41"),
        ("user", "F2"),
    ]
    # A minute later only what follows the history differs: llama.cpp reuses the rest.
    assert chat_messages(prompt("9:42"))[:3] == messages[:3]


@pytest.fixture(scope="module")
def llama() -> Iterator[LocalLlama]:
    from llm_worker.llama import LocalLlama
    from shared.settings import LlmSettings

    model = LocalLlama.from_settings(LlmSettings(llm_local_max_tokens=64))
    yield model
    # Freed now, not by Llama.__del__ during interpreter shutdown, where llama.cpp's
    # teardown order is not guaranteed (a rare segfault after the last test was seen).
    asyncio.run(model.close())


def ask(question: str, history: list[Exchange] | None = None, language: str = "de-DE") -> Prompt:
    """The question with the deployment's instruction, as llm_worker's handler asks it."""
    from llm_worker.prompt import Prompt
    from shared.settings import LlmSettings

    settings = LlmSettings()
    system = f"{settings.system_instruction} {settings.offline_instruction}"
    if language.startswith("en"):
        clock = "Today is Friday, November 27, 2026, and the time is 9:41."
        return Prompt(f"{system} Answer in English.", clock, history or [], question, language)
    clock = "Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr."
    return Prompt(f"{system} Antworte auf Deutsch.", clock, history or [], question, language)


@pytest.mark.slow
def test_local_llama_runs_the_default_packaged_model(llama: LocalLlama) -> None:
    from shared.model_files import DEFAULT_LLM_MODEL

    assert llama.model_name == DEFAULT_LLM_MODEL


@pytest.mark.slow
async def test_local_llama_answers_briefly(llama: LocalLlama) -> None:
    answer = await llama.answer(ask("Was ist die Hauptstadt von Frankreich?"), time.time() + 60)
    assert "Paris" in answer and len(answer.split()) <= 64


@pytest.mark.slow
async def test_local_llama_is_given_the_history(llama: LocalLlama) -> None:
    from shared.history import Exchange

    history = [Exchange("t1", "My name is Ada.", "Nice to meet you, Ada!", 0.0)]
    answer = await llama.answer(ask("What is my name?", history, "en-US"), time.time() + 60)
    assert "Ada" in answer
    without = await llama.answer(ask("What is my name?", language="en-US"), time.time() + 60)
    assert "Ada" not in without


@pytest.mark.slow
async def test_local_llama_streams_and_stops_when_closed(llama: LocalLlama) -> None:
    story = ask("Erzähl mir eine lange Geschichte über einen Drachen.")
    stream = llama.stream(story, time.time() + 60)
    assert await anext(stream)
    started = time.monotonic()
    await stream.aclose()  # barge-in: the generation stops, the model is free again
    assert time.monotonic() - started < 2
    answer = await llama.answer(ask("Wie viele Stunden hat ein Tag?"), time.time() + 60)
    assert "24" in answer or "vierundzwanzig" in answer.lower()


@pytest.mark.slow
def test_local_llama_generation_stops_at_the_deadline(llama: LocalLlama) -> None:
    messages = [{"role": "user", "content": "Zähle langsam von eins bis hundert."}]
    assert len(list(llama.generate(messages, 64, deadline=time.time() - 1))) <= 1


@pytest.mark.slow
async def test_local_llama_evaluates_the_next_prompt_ahead(llama: LocalLlama) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from llm_worker import clock
    from shared.history import Exchange

    berlin = ZoneInfo("Europe/Berlin")
    said = Exchange("t1", "Was ist die Hauptstadt von Frankreich?", "Paris.", 0.0)
    follow_up = ask("Wie viele Einwohner hat sie?", [said])
    llama.expect(dataclasses.replace(follow_up, question=""), berlin)
    held = llama._llama  # what llama.cpp holds evaluated
    # About 190 tokens: 6 s on two idle cores, a minute and more when CI shares them.
    deadline = time.monotonic() + 300
    while True:
        now = datetime.now(berlin)
        ahead = llama._prefix(follow_up, now)
        if list(held.input_ids[: held.n_tokens]) == ahead:
            break  # the history and this minute's clock, up to the question
        assert time.monotonic() < deadline, "the next prompt was not evaluated ahead"
        await asyncio.sleep(0.1)
    assert len(ahead) > 100  # instruction, the exchange, the clock
    # The follow-up as the handler sends it starts with exactly those tokens, so
    # llama.cpp evaluates only the question's own.
    asked = dataclasses.replace(follow_up, clock=clock.describe(now, "de-DE"))
    answer = await llama.answer(asked, time.time() + 60)
    assert answer
    assert list(held.input_ids[: len(ahead)]) == ahead
