"""What a speech recogniser must offer; `build` picks the configured one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared import google, language
from shared.contracts import AudioTurn
from shared.settings import SttSettings
from shared.worker import Backend


@dataclass(frozen=True)
class Heard:
    text: str
    """The words spoken ("" for silence)."""
    language: str
    """BCP-47 tag of the language they were heard in."""


class SpeechToText(Backend, Protocol):
    async def transcribe(self, turn: AudioTurn) -> Heard:
        """What was said in `turn.audio`, in `turn.language` when the session names one,
        else in STT_LANGUAGE, or in the language detected among STT_LANGUAGES when that
        is `auto`; `PipelineError` on failure."""
        ...


def candidates(settings: SttSettings, turn: AudioTurn) -> list[str]:
    """The languages to listen for, as tags, most likely first; one means "no detection"."""
    if turn.language:
        return [turn.language]
    if settings.stt_language.lower() != "auto":
        return [settings.stt_language]
    codes = language.languages(settings.stt_languages) or ["de"]
    return [language.to_tag(code) for code in codes]


def choose(settings: SttSettings) -> str:
    return google.choose_backend(settings.stt_backend, settings)


def build(settings: SttSettings) -> SpeechToText:
    """The backend chosen by STT_BACKEND. Call inside the running event loop."""
    if choose(settings) == "null":
        from stt_worker.null import NullSpeech

        return NullSpeech()
    if choose(settings) == "google":
        from stt_worker.google import GoogleSpeech

        return GoogleSpeech.from_settings(settings)
    from stt_worker.whisper import LocalWhisper

    return LocalWhisper.from_settings(settings)
