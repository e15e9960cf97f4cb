"""The stt stage: transcribe, then hand the words to the llm stage."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from shared import tracing
from shared.contracts import AudioTurn, Envelope, Heard, TextTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.worker import Handler
from stt_worker.backend import SpeechToText

log = get_logger(__name__)


def make_handler(backend: SpeechToText) -> Handler[AudioTurn]:
    async def handle(turn: AudioTurn) -> AsyncGenerator[Envelope, None]:
        heard = await backend.transcribe(turn)
        text = heard.text.strip()
        tracing.annotate(audio_bytes=len(turn.audio), language=heard.language, characters=len(text))
        if not text:
            # Silence or noise: tell the watch, and spend no LLM call on it.
            raise PipelineError(ErrorCode.NO_SPEECH, ErrorCategory.PERMANENT, "empty transcript")
        log.info("transcribed", chars=len(text), language=heard.language)
        carried = turn.carried() | {"language": heard.language}
        yield TextTurn(**carried, text=text, source="speech")
        if turn.transcript_ahead:
            # After the turn is on its way to the llm stage: the watch can show what
            # was heard while the answer is being made (a redelivery sends it again;
            # the gateway shows it once).
            yield Heard(**carried, text=text)

    return handle
