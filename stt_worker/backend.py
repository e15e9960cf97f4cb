"""What a speech recogniser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared import google
from shared.contracts import AudioTurn
from shared.settings import SttSettings
from shared.worker import Backend


class SpeechToText(Backend, Protocol):
    async def transcribe(self, turn: AudioTurn) -> str:
        """The words spoken in `turn.audio` ("" for silence); `PipelineError` on failure."""
        ...


def choose(settings: SttSettings) -> str:
    return google.choose_backend(settings.stt_backend, settings)


def build(settings: SttSettings) -> SpeechToText:
    """The backend chosen by STT_BACKEND. Call inside the running event loop."""
    if choose(settings) == "google":
        from stt_worker.google import GoogleSpeech

        return GoogleSpeech.from_settings(settings)
    from stt_worker.whisper import LocalWhisper

    return LocalWhisper.from_settings(settings)
