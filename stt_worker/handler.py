"""The stt stage: transcribe, then hand the words to the llm stage."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from shared import language as lang
from shared import tracing
from shared.contracts import AudioTurn, Envelope, Heard, TextTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.settings import SttSettings
from shared.worker import Handler
from stt_worker.backend import Heard as Recognised
from stt_worker.backend import SpeechToText, candidates

log = get_logger(__name__)


def language_of(
    turn: AudioTurn, heard: Recognised, settings: SttSettings, spoken: list[str]
) -> str:
    """The language the words were heard in; but where that was only the deployment's
    default (no session language, no detection) and the words are plainly another
    language the deployment speaks, that one. Whisper held to German writes an English
    question out in English ("How far away is the moon?"): it deserves an English
    answer in an English voice, not a German voice reading English."""
    if turn.language or len(candidates(settings, turn)) > 1:
        return heard.language
    guessed = lang.guess(heard.text, spoken, lang.base(heard.language))
    return lang.to_tag(guessed, heard.language)


def make_handler(backend: SpeechToText, settings: SttSettings) -> Handler[AudioTurn]:
    spoken = lang.languages(settings.stt_languages)

    async def handle(turn: AudioTurn) -> AsyncGenerator[Envelope, None]:
        heard = await backend.transcribe(turn)
        text = heard.text.strip()
        language = language_of(turn, heard, settings, spoken)
        tracing.annotate(audio_bytes=len(turn.audio), language=language, characters=len(text))
        if not text:
            # Silence or noise: tell the watch, and spend no LLM call on it.
            raise PipelineError(ErrorCode.NO_SPEECH, ErrorCategory.PERMANENT, "empty transcript")
        log.info("transcribed", chars=len(text), language=language, heard_in=heard.language)
        carried = turn.carried() | {"language": language}
        yield TextTurn(**carried, text=text, source="speech")
        if turn.transcript_ahead:
            # After the turn is on its way to the llm stage: the watch can show what
            # was heard while the answer is being made (a redelivery sends it again;
            # the gateway shows it once).
            yield Heard(**carried, text=text)

    return handle
