"""What a speech recogniser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared import google
from shared.contracts import AudioTurn
from shared.settings import SttSettings


class SpeechToText(Protocol):
    name: str
    max_concurrency: int | None
    """Calls it can usefully run at once; None for a remote service."""

    async def transcribe(self, turn: AudioTurn) -> str:
        """The words spoken in `turn.audio` ("" for silence); `PipelineError` on failure."""
        ...

    async def close(self) -> None: ...


def choose(settings: SttSettings) -> str:
    """ "google" or "local": `auto` takes Google where it can authenticate."""
    if settings.stt_backend != "auto":
        return settings.stt_backend
    usable = settings.google_plaintext_endpoints or google.has_application_credentials()
    return "google" if usable else "local"


def build(settings: SttSettings) -> SpeechToText:
    """The backend chosen by STT_BACKEND. Call inside the running event loop."""
    if choose(settings) == "google":
        from stt_worker.google import GoogleSpeech

        return GoogleSpeech.from_settings(settings)
    from stt_worker.whisper import LocalWhisper

    return LocalWhisper.from_settings(settings)
