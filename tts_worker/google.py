"""Google Cloud Text-to-Speech through the official async client."""

from __future__ import annotations

from google.api_core.client_options import ClientOptions
from google.cloud import texttospeech_v1 as tts
from google.cloud.texttospeech_v1.services.text_to_speech.transports import (
    TextToSpeechGrpcAsyncIOTransport,
)

from shared import google
from shared.breaker import CircuitBreaker
from shared.retry import call_with_retry
from shared.settings import TtsSettings


class GoogleTextToSpeech:
    name = "google"
    max_concurrency: int | None = None

    def __init__(self, client: tts.TextToSpeechAsyncClient, settings: TtsSettings) -> None:
        self._client = client
        self._voices = settings.google_voices()
        self._audio_config = tts.AudioConfig(audio_encoding=tts.AudioEncoding.MP3)
        self._settings = settings
        self._breaker = CircuitBreaker.from_settings("google tts", settings)

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> GoogleTextToSpeech:
        if settings.google_plaintext_endpoints:
            transport = TextToSpeechGrpcAsyncIOTransport(
                channel=google.plaintext_channel(settings.tts_google_endpoint)
            )
            return cls(tts.TextToSpeechAsyncClient(transport=transport), settings)
        google.require_application_credentials("tts_worker")
        options = ClientOptions(api_endpoint=settings.tts_google_endpoint)
        return cls(tts.TextToSpeechAsyncClient(client_options=options), settings)

    async def synthesize(self, text: str, language: str, deadline: float) -> bytes:
        # Plain text: Google reads times, dates, units and numbers correctly itself.
        voice = tts.VoiceSelectionParams(
            language_code=language, name=self._voices.get(language.lower(), "")
        )
        request = tts.SynthesizeSpeechRequest(
            input=tts.SynthesisInput(text=text), voice=voice, audio_config=self._audio_config
        )

        async def call(timeout_s: float) -> tts.SynthesizeSpeechResponse:
            return await self._client.synthesize_speech(
                request=request, retry=None, timeout=timeout_s
            )

        response = await call_with_retry(
            call,
            classify=google.classify,
            attempts=self._settings.google_attempts,
            attempt_timeout_s=self._settings.google_call_timeout_s,
            deadline=deadline,
            what="google tts",
            breaker=self._breaker,
        )
        return bytes(response.audio_content)

    async def close(self) -> None:
        await self._client.transport.close()  # type: ignore[no-untyped-call]
