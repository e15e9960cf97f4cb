"""What a speech synthesiser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared import google
from shared.settings import TtsSettings


class TextToSpeech(Protocol):
    name: str
    max_concurrency: int | None
    """Calls it can usefully run at once; None for a remote service."""

    async def synthesize(self, text: str, deadline: float) -> bytes:
        """MP3 bytes speaking `text`; `PipelineError` on failure."""
        ...

    async def close(self) -> None: ...


def choose(settings: TtsSettings) -> str:
    """ "google" or "local": `auto` takes Google where it can authenticate."""
    if settings.tts_backend != "auto":
        return settings.tts_backend
    usable = settings.google_plaintext_endpoints or google.has_application_credentials()
    return "google" if usable else "local"


def build(settings: TtsSettings) -> TextToSpeech:
    """The backend chosen by TTS_BACKEND. Call inside the running event loop."""
    if choose(settings) == "google":
        from tts_worker.google import GoogleTextToSpeech

        return GoogleTextToSpeech.from_settings(settings)
    from tts_worker.local import LocalTextToSpeech

    return LocalTextToSpeech.from_settings(settings)
