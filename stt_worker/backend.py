"""What a speech recogniser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared.contracts import AudioTurn
from shared.settings import SttSettings


class SpeechToText(Protocol):
    name: str

    async def transcribe(self, turn: AudioTurn) -> str:
        """The words spoken in `turn.audio` ("" for silence); `PipelineError` on failure."""
        ...

    async def close(self) -> None: ...


def build(settings: SttSettings) -> SpeechToText:
    """The backend chosen by STT_BACKEND. Call inside the running event loop."""
    from stt_worker.google import GoogleSpeech

    return GoogleSpeech.from_settings(settings)
