"""The llm stage: answer with the session's memory, then hand the answer to tts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from llm_worker.backend import LanguageModel
from shared.contracts import Envelope, SpeakRequest, TextTurn
from shared.history import HistoryStore, HistoryUnavailable
from shared.logging import get_logger
from shared.settings import LlmSettings
from shared.worker import Handler

log = get_logger(__name__)


def make_handler(
    model: LanguageModel, history: HistoryStore, settings: LlmSettings
) -> Handler[TextTurn]:
    async def handle(turn: TextTurn) -> AsyncIterator[Envelope]:
        remembered = True
        try:
            past = await history.load(turn.session_id)
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, answering without it", error=str(exc))
            past, remembered = [], False
        answer = await model.answer(past, turn.text, turn.deadline)
        log.info("answered", history_turns=len(past), chars=len(answer))
        if remembered:
            try:
                await history.append(
                    turn.session_id,
                    turn.turn_id,
                    turn.text,
                    answer,
                    settings.history_max_turns,
                    settings.history_ttl_s,
                )
            except HistoryUnavailable as exc:
                log.warning("memory unavailable, exchange not remembered", error=str(exc))
        yield SpeakRequest(**turn.carried(), text=answer, transcript=turn.text)

    return handle
