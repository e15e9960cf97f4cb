"""The Google backends through the real client libraries against local fake servers."""

from __future__ import annotations

import dataclasses
import time

import grpc
import pytest
from google.cloud.speech_v1.types import cloud_speech
from google.cloud.texttospeech_v1.types import cloud_tts
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_worker.gemini import Gemini
from llm_worker.prompt import Prompt
from shared import tracing
from shared.contracts import AudioTurn
from shared.errors import ErrorCode, PipelineError
from shared.history import Exchange
from shared.settings import LlmSettings, SttSettings, TtsSettings
from stt_worker.google import GoogleSpeech
from tests.fakes.audio import mp3_duration, webm_opus
from tests.fakes.gemini import FakeGemini, usage_for
from tests.fakes.google_grpc import SECONDS_PER_CHAR, FakeGoogleGrpc
from tts_worker.google import GoogleTextToSpeech


def audio_turn(audio: bytes, deadline_s: float = 10.0) -> AudioTurn:
    return AudioTurn(
        turn_id="t1",
        session_id="s1",
        reply_to="r",
        deadline_ms=int((time.time() + deadline_s) * 1000),
        audio=audio,
        sample_rate=48000,
    )


def stt_settings(fake: FakeGoogleGrpc, **extra: object) -> SttSettings:
    return SttSettings(
        stt_google_endpoint=fake.endpoint,
        google_plaintext_endpoints=True,
        stt_language="en-GB",
        **extra,  # type: ignore[arg-type]
    )


async def test_speech_sends_webm_opus_as_is_and_returns_transcript(
    fake_grpc: FakeGoogleGrpc,
) -> None:
    clip = webm_opus("What time is it", seconds=1.5)
    stt = GoogleSpeech.from_settings(stt_settings(fake_grpc))
    try:
        heard = await stt.transcribe(audio_turn(clip))
    finally:
        await stt.close()
    assert heard.text == "What time is it"
    assert heard.language == "en-GB"
    (sent,) = fake_grpc.recognize_requests
    assert sent.config.encoding == cloud_speech.RecognitionConfig.AudioEncoding.WEBM_OPUS
    assert sent.config.language_code == "en-GB"
    assert list(sent.config.alternative_language_codes) == []  # one language: no detection
    assert sent.config.sample_rate_hertz == 48000
    assert sent.audio.content == clip


async def test_speech_silence_is_empty(fake_grpc: FakeGoogleGrpc) -> None:
    stt = GoogleSpeech.from_settings(stt_settings(fake_grpc))
    try:
        assert (await stt.transcribe(audio_turn(webm_opus(None, silent=True)))).text == ""
    finally:
        await stt.close()


async def test_speech_retries_unavailable_then_succeeds(fake_grpc: FakeGoogleGrpc) -> None:
    fake_grpc.recognize_failures.extend(
        [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
    )
    stt = GoogleSpeech.from_settings(stt_settings(fake_grpc, google_attempts=3))
    try:
        heard = await stt.transcribe(audio_turn(webm_opus("Noch einmal")))
        assert heard.text == "Noch einmal"
    finally:
        await stt.close()
    assert len(fake_grpc.recognize_requests) == 3


@pytest.mark.parametrize(
    ("spoken", "session", "asked", "alternatives", "heard"),
    [
        # STT_LANGUAGE=auto: German first, English offered; Google names what it heard.
        ("en-US|What time is it", "", "de-DE", ["en-US"], "en-US"),
        ("de-DE|Wie spät ist es", "", "de-DE", ["en-US"], "de-DE"),
        # A session that named its language is heard in that one only.
        ("en-US|What time is it", "en-GB", "en-GB", [], "en-GB"),
    ],
)
async def test_speech_detects_the_language_among_the_deployments(
    fake_grpc: FakeGoogleGrpc,
    spoken: str,
    session: str,
    asked: str,
    alternatives: list[str],
    heard: str,
) -> None:
    settings = stt_settings(fake_grpc)
    settings.stt_language = "auto"
    stt = GoogleSpeech.from_settings(settings)
    turn = audio_turn(webm_opus(spoken))
    try:
        result = await stt.transcribe(dataclasses.replace(turn, language=session))
    finally:
        await stt.close()
    (sent,) = fake_grpc.recognize_requests
    assert sent.config.language_code == asked
    assert list(sent.config.alternative_language_codes) == alternatives
    assert result.language == heard
    assert result.text == spoken.split("|")[1]


async def test_speech_invalid_argument_is_permanent(fake_grpc: FakeGoogleGrpc) -> None:
    fake_grpc.recognize_failures.append(grpc.StatusCode.INVALID_ARGUMENT)
    stt = GoogleSpeech.from_settings(stt_settings(fake_grpc))
    try:
        with pytest.raises(PipelineError) as caught:
            await stt.transcribe(audio_turn(webm_opus("x")))
    finally:
        await stt.close()
    assert caught.value.code is ErrorCode.BACKEND_REJECTED
    assert len(fake_grpc.recognize_requests) == 1


async def test_speech_stall_is_bounded_by_attempt_timeout(fake_grpc: FakeGoogleGrpc) -> None:
    fake_grpc.delay_s = 5.0
    stt = GoogleSpeech.from_settings(
        stt_settings(fake_grpc, google_attempts=2, google_call_timeout_s=0.3)
    )
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await stt.transcribe(audio_turn(webm_opus("x")))
    finally:
        await stt.close()
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert time.monotonic() - started < 3.0
    assert len(fake_grpc.recognize_requests) == 2


async def test_tts_asks_for_mp3_in_configured_voice(fake_grpc: FakeGoogleGrpc) -> None:
    settings = TtsSettings(
        tts_google_endpoint=fake_grpc.endpoint,
        google_plaintext_endpoints=True,
        tts_voice="de-DE-Wavenet-F",
        tts_language="de-DE",
    )
    tts = GoogleTextToSpeech.from_settings(settings)
    text = "Es ist zwölf Uhr mittags."
    try:
        audio = await tts.synthesize(text, "de-DE", time.time() + 10)
        await tts.synthesize("It is noon.", "en-US", time.time() + 10)
        await tts.synthesize("Il est midi.", "fr-FR", time.time() + 10)
    finally:
        await tts.close()
    sent, english, french = fake_grpc.synthesize_requests
    assert sent.input.text == text
    assert sent.voice.name == "de-DE-Wavenet-F"
    assert sent.voice.language_code == "de-DE"
    # A voice of the answer's language; Google's default voice where none is configured.
    assert (english.voice.language_code, english.voice.name) == ("en-US", "en-US-Wavenet-F")
    assert (french.voice.language_code, french.voice.name) == ("fr-FR", "")
    assert sent.audio_config.audio_encoding == cloud_tts.AudioEncoding.MP3
    assert mp3_duration(audio) == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.15)


async def test_tts_permission_denied_is_permanent(fake_grpc: FakeGoogleGrpc) -> None:
    fake_grpc.synthesize_failures.append(grpc.StatusCode.PERMISSION_DENIED)
    settings = TtsSettings(tts_google_endpoint=fake_grpc.endpoint, google_plaintext_endpoints=True)
    tts = GoogleTextToSpeech.from_settings(settings)
    try:
        with pytest.raises(PipelineError) as caught:
            await tts.synthesize("Hallo", "de-DE", time.time() + 10)
    finally:
        await tts.close()
    assert caught.value.code is ErrorCode.BACKEND_REJECTED


def prompt(question: str, history: list[Exchange] | None = None) -> Prompt:
    return Prompt(
        system="Antworte kurz.",
        clock="Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr.",
        history=history or [],
        question=question,
    )


def gemini_settings(
    fake: FakeGemini, monkeypatch: pytest.MonkeyPatch, **extra: object
) -> LlmSettings:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)
    return LlmSettings(gemini_api_key="test-key", gemini_model="gemini-test", **extra)  # type: ignore[arg-type]


async def test_gemini_sends_model_system_instruction_and_history_in_order(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = gemini_settings(fake_gemini, monkeypatch)
    llm = Gemini.from_settings(settings)
    history = [
        Exchange("a", "Ich heiße Ada.", "Hallo Ada!", 1.0),
        Exchange("b", "Wie heiße ich?", "Du heißt Ada.", 2.0),
    ]
    try:
        answer = await llm.answer(prompt("Und wie spät ist es?", history), time.time() + 10)
    finally:
        await llm.close()
    assert answer == "Du sagtest: Und wie spät ist es?. Wir sprechen seit 3 Runden."
    (sent,) = fake_gemini.requests
    assert sent["model"] == "gemini-test"
    assert sent["method"] == "streamGenerateContent"  # streamed, sentence by sentence
    assert sent["api_key"] == "test-key"
    body = sent["body"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user", "model", "user"]
    assert [c["parts"][0]["text"] for c in body["contents"]] == [
        "Ich heiße Ada.",
        "Hallo Ada!",
        "Wie heiße ich?",
        "Du heißt Ada.",
        "Und wie spät ist es?",
    ]
    assert body["systemInstruction"]["parts"][0]["text"] == (
        "Antworte kurz. Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr."
    )
    assert body["generationConfig"]["maxOutputTokens"] == settings.max_output_tokens
    assert body["tools"] == [{"googleSearch": {}}]  # grounding is on by default
    assert llm.grounded


async def test_gemini_reports_its_token_usage_on_the_llm_span(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter
) -> None:
    """A streamed piece is several of Gemini's tokens: its own count is what the span
    gets, from the last chunk's usage metadata."""
    llm = Gemini.from_settings(gemini_settings(fake_gemini, monkeypatch))
    try:
        with tracing.consumed("llm", {}):
            answer = await llm.answer(prompt("Wie heiße ich?"), time.time() + 10)
    finally:
        await llm.close()
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    usage = usage_for(fake_gemini.requests[0]["body"], answer)
    assert usage["promptTokenCount"] > 0
    assert span.attributes["uhrwerk.prompt_tokens"] == usage["promptTokenCount"]
    assert span.attributes["uhrwerk.output_tokens"] == usage["candidatesTokenCount"]


async def test_gemini_search_can_be_switched_off(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = Gemini.from_settings(gemini_settings(fake_gemini, monkeypatch, gemini_search=False))
    try:
        await llm.answer(prompt("Wie wird das Wetter?"), time.time() + 10)
    finally:
        await llm.close()
    (sent,) = fake_gemini.requests
    assert "tools" not in sent["body"]
    assert not llm.grounded


async def test_gemini_retries_429_then_succeeds(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gemini.failures.extend([429, 503])
    llm = Gemini.from_settings(gemini_settings(fake_gemini, monkeypatch, gemini_attempts=3))
    try:
        answer = await llm.answer(prompt("Hallo"), time.time() + 10)
    finally:
        await llm.close()
    assert answer.startswith("Du sagtest: Hallo.")
    assert len(fake_gemini.requests) == 3


async def test_gemini_400_is_permanent_and_not_retried(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gemini.failures.append(400)
    llm = Gemini.from_settings(gemini_settings(fake_gemini, monkeypatch))
    try:
        with pytest.raises(PipelineError) as caught:
            await llm.answer(prompt("Hallo"), time.time() + 10)
    finally:
        await llm.close()
    assert caught.value.code is ErrorCode.BACKEND_REJECTED
    assert len(fake_gemini.requests) == 1


async def test_gemini_timeout_then_deadline(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gemini.delay_s = 3.0
    llm = Gemini.from_settings(
        gemini_settings(fake_gemini, monkeypatch, gemini_attempts=5, gemini_call_timeout_s=0.4)
    )
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await llm.answer(prompt("Hallo"), time.time() + 1.0)
    finally:
        await llm.close()
    assert caught.value.code in (ErrorCode.TIMEOUT, ErrorCode.BACKEND_UNAVAILABLE)
    assert time.monotonic() - started < 2.0


async def test_gemini_refused_connection_is_not_retried_by_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    llm = Gemini.from_settings(
        LlmSettings(gemini_api_key="k", gemini_attempts=2, gemini_call_timeout_s=2.0)
    )
    started = time.monotonic()
    try:
        with pytest.raises(PipelineError) as caught:
            await llm.answer(prompt("Hallo"), time.time() + 10)
    finally:
        await llm.close()
    assert caught.value.code is ErrorCode.BACKEND_UNAVAILABLE
    assert time.monotonic() - started < 3.0


def test_missing_gemini_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit, match="set GEMINI_API_KEY"):
        Gemini.from_settings(LlmSettings(_env_file=None))


def test_missing_google_credentials_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(SystemExit, match="set GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleSpeech.from_settings(SttSettings(google_plaintext_endpoints=False))
