"""The tts stage: speak the answer and send it to the gateway that asked."""

from __future__ import annotations

from collections.abc import AsyncIterator

from shared.contracts import Envelope, Reply, SpeakRequest
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.worker import Handler
from tts_worker.backend import TextToSpeech

log = get_logger(__name__)


def make_handler(backend: TextToSpeech, default_language: str) -> Handler[SpeakRequest]:
    async def handle(request: SpeakRequest) -> AsyncIterator[Envelope]:
        language = request.language or default_language
        audio = await backend.synthesize(request.text, language, request.deadline)
        if not audio:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "synthesizer returned no audio"
            )
        log.info("synthesized", bytes=len(audio), language=language)
        yield Reply(
            **request.carried(),
            seq=request.seq,
            final=request.final,
            audio=audio,
            audio_format="mp3",
            text=request.text,
            transcript=request.transcript,
        )

    return handle
