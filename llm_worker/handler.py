"""The llm stage: answer with the session's memory, then hand the answer to tts.

Per session, one turn at a time: the lease is held while the history is read, the
model answers and the exchange is written back, so a double tap neither interleaves
nor loses an entry. Without Redis the turn is still answered, without memory, and the
reply says so (`memory="unavailable"`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from llm_worker.backend import LanguageModel
from shared.contracts import Envelope, SpeakRequest, TextTurn
from shared.history import Exchange, HistoryStore, HistoryUnavailable
from shared.logging import get_logger
from shared.session_lock import SessionLocks
from shared.worker import Handler

log = get_logger(__name__)


def make_handler(
    model: LanguageModel, history: HistoryStore, locks: SessionLocks
) -> Handler[TextTurn]:
    async def answer_remembering(turn: TextTurn) -> tuple[str, str]:
        """(answer, memory status), with the session's lease held."""
        past: list[Exchange] = []
        status = "ok"
        try:
            past = await history.load(turn.identity, turn.session_id)
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, answering without it", error=str(exc))
            status = "unavailable"
        answer = await model.answer(past, turn.text, turn.deadline)
        log.info("answered", history_turns=len(past), chars=len(answer))
        if status == "ok" and not turn.expired():
            try:
                await history.append(
                    turn.identity, turn.session_id, turn.turn_id, turn.text, answer
                )
            except HistoryUnavailable as exc:
                log.warning("memory unavailable, exchange not remembered", error=str(exc))
                status = "unavailable"
        return answer, status

    async def answer_with_memory(turn: TextTurn) -> tuple[str, str]:
        try:
            async with locks.hold(turn.identity, turn.session_id, turn.turn_id, turn.deadline):
                return await answer_remembering(turn)
        except HistoryUnavailable as exc:  # only taking the lease raises it out here
            log.warning("memory unavailable, answering without it", error=str(exc))
            return await model.answer([], turn.text, turn.deadline), "unavailable"

    async def handle(turn: TextTurn) -> AsyncIterator[Envelope]:
        answer, memory = await answer_with_memory(turn)
        yield SpeakRequest(
            **(turn.carried() | {"memory": memory}), text=answer, transcript=turn.text
        )

    return handle
