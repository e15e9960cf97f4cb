"""What a speech synthesiser must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared.settings import TtsSettings


class TextToSpeech(Protocol):
    name: str

    async def synthesize(self, text: str, deadline: float) -> bytes:
        """MP3 bytes speaking `text`; `PipelineError` on failure."""
        ...

    async def close(self) -> None: ...


def build(settings: TtsSettings) -> TextToSpeech:
    """The backend chosen by TTS_BACKEND. Call inside the running event loop."""
    from tts_worker.google import GoogleTextToSpeech

    return GoogleTextToSpeech.from_settings(settings)
