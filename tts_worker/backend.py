"""What a speech synthesiser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared import google
from shared.settings import TtsSettings
from shared.worker import Backend


class TextToSpeech(Backend, Protocol):
    async def synthesize(self, text: str, language: str, deadline: float) -> bytes:
        """MP3 bytes speaking `text` in a voice of `language` (a BCP-47 tag);
        `PipelineError` on failure."""
        ...


def choose(settings: TtsSettings) -> str:
    return google.choose_backend(settings.tts_backend, settings)


def build(settings: TtsSettings) -> TextToSpeech:
    """The backend chosen by TTS_BACKEND. Call inside the running event loop."""
    if choose(settings) == "null":
        from tts_worker.null import NullTextToSpeech

        return NullTextToSpeech()
    if choose(settings) == "google":
        from tts_worker.google import GoogleTextToSpeech

        return GoogleTextToSpeech.from_settings(settings)
    from tts_worker.local import LocalTextToSpeech

    return LocalTextToSpeech.from_settings(settings)
