"""The tts stage: speak each sentence of the answer and send it to the gateway that
asked. Sentences of one turn may be spoken by several replicas at once; the gateway
puts them back in order. A sentence of a cancelled turn is skipped."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from shared import tracing
from shared.cancel import CancelFlags
from shared.contracts import Envelope, Reply, SpeakRequest
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.worker import Handler
from tts_worker.backend import TextToSpeech

log = get_logger(__name__)


def make_handler(
    backend: TextToSpeech, default_language: str, cancels: CancelFlags
) -> Handler[SpeakRequest]:
    async def handle(request: SpeakRequest) -> AsyncGenerator[Envelope, None]:
        if await cancels.cancelled(request.turn_id, request.accepted_ms):
            log.info("sentence of a cancelled turn skipped", seq=request.seq)
            return
        language = request.language or default_language
        if not request.text:  # the end marker of a streamed answer: nothing to say
            yield Reply(**request.carried(), seq=request.seq, final=request.final)
            return
        audio = await backend.synthesize(request.text, language, request.deadline)
        if not audio:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "synthesizer returned no audio"
            )
        log.info("synthesized", bytes=len(audio), language=language)
        tracing.annotate(characters=len(request.text), audio_bytes=len(audio), backend=backend.name)
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
