"""Google Cloud Speech-to-Text (v1 Recognize) through the official async client."""

from __future__ import annotations

from google.api_core.client_options import ClientOptions
from google.cloud import speech_v1 as speech
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcAsyncIOTransport

from shared import google
from shared.breaker import CircuitBreaker
from shared.contracts import AudioTurn
from shared.language import valid_tag
from shared.retry import call_with_retry
from shared.settings import SttSettings
from stt_worker.backend import Heard, candidates


class GoogleSpeech:
    name = "google"
    max_concurrency: int | None = None

    def __init__(self, client: speech.SpeechAsyncClient, settings: SttSettings) -> None:
        self._client = client
        self._settings = settings
        self._breaker = CircuitBreaker.from_settings("google speech", settings)

    @classmethod
    def from_settings(cls, settings: SttSettings) -> GoogleSpeech:
        if settings.google_plaintext_endpoints:
            transport = SpeechGrpcAsyncIOTransport(
                channel=google.plaintext_channel(settings.stt_google_endpoint)
            )
            return cls(speech.SpeechAsyncClient(transport=transport), settings)
        google.require_application_credentials("stt_worker")
        options = ClientOptions(api_endpoint=settings.stt_google_endpoint)
        return cls(speech.SpeechAsyncClient(client_options=options), settings)

    async def transcribe(self, turn: AudioTurn) -> Heard:
        tags = candidates(self._settings, turn)
        config = speech.RecognitionConfig(
            # The watch's MediaRecorder output goes to Google as it is: no transcoding.
            encoding=speech.RecognitionConfig.AudioEncoding.WEBM_OPUS,
            sample_rate_hertz=turn.sample_rate,
            language_code=tags[0],
            # Google picks among these itself and names the one it heard per result.
            alternative_language_codes=tags[1:4],
            enable_automatic_punctuation=True,
        )
        audio = speech.RecognitionAudio(content=turn.audio)

        async def recognize(timeout_s: float) -> speech.RecognizeResponse:
            # retry=None: the client's default retry runs for up to 5000 s; ours is bounded.
            return await self._client.recognize(
                config=config, audio=audio, retry=None, timeout=timeout_s
            )

        response = await call_with_retry(
            recognize,
            classify=google.classify,
            attempts=self._settings.google_attempts,
            attempt_timeout_s=self._settings.google_call_timeout_s,
            deadline=turn.deadline,
            what="google speech",
            breaker=self._breaker,
        )
        results = [r for r in response.results if r.alternatives]
        parts = [r.alternatives[0].transcript.strip() for r in results]
        heard = next((valid_tag(r.language_code) for r in results if r.language_code), None)
        # Google answers in lower case ("en-us"); keep the configured spelling of a tag.
        tag = next((t for t in tags if heard and t.lower() == heard.lower()), heard or tags[0])
        return Heard(" ".join(p for p in parts if p), tag)

    async def close(self) -> None:
        await self._client.transport.close()  # type: ignore[no-untyped-call]
