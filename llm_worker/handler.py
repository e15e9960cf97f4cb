"""The llm stage: answer with the session's memory, then hand the answer to tts.

An answer comes from the clock when the question asks for the time or the date
(`intents`), from the language model otherwise; either way it is cleaned for speaking
(`for_speech`) and remembered like any other exchange.

Per session, one turn at a time: the lease is held while the history is read, the
answer is made and the exchange is written back, so a double tap neither interleaves
nor loses an entry. Without Redis the turn is still answered, without memory, and the
reply says so (`memory="unavailable"`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from llm_worker import clock, intents
from llm_worker.backend import LanguageModel
from llm_worker.prompt import Prompt
from shared import language as lang
from shared.contracts import Envelope, SpeakRequest, TextTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import Exchange, HistoryStore, HistoryUnavailable
from shared.logging import get_logger
from shared.session_lock import SessionLocks
from shared.settings import LlmSettings
from shared.speech_text import for_speech
from shared.worker import Handler

log = get_logger(__name__)

ANSWER_IN = {"de": "Antworte auf Deutsch.", "en": "Answer in English."}


@dataclass(frozen=True)
class Answer:
    text: str
    language: str
    source: str
    """ "model" or the local intent that answered ("time", "date")."""


def make_handler(
    model: LanguageModel,
    history: HistoryStore,
    locks: SessionLocks,
    settings: LlmSettings,
) -> Handler[TextTurn]:
    default_language = lang.valid_tag(settings.assistant_language) or "de-DE"
    spoken = lang.languages(settings.stt_languages)

    def turn_language(turn: TextTurn) -> str:
        """Spoken turns carry what stt heard; typed ones are told apart by their words."""
        if turn.language:
            return turn.language
        guessed = lang.guess(turn.text, spoken, lang.base(default_language))
        return lang.to_tag(guessed, default_language)

    def instruction(language: str) -> str:
        parts = [settings.system_instruction]
        if not model.grounded:
            parts.append(settings.offline_instruction)
        parts.append(ANSWER_IN.get(lang.base(language), ""))
        return " ".join(p for p in parts if p)

    async def respond(turn: TextTurn, past: list[Exchange]) -> Answer:
        language = turn_language(turn)
        now = lang.now_in(turn.timezone, settings.assistant_timezone)
        if settings.local_intents:
            local = intents.answer(turn.text, now, language)
            if local is not None:
                log.info("answered from the clock", intent=local.intent.value)
                return Answer(local.text, local.language, local.intent.value)
        prompt = Prompt(
            system=instruction(language),
            clock=clock.describe(now, language),
            history=past,
            question=turn.text,
            language=language,
        )
        text = for_speech(await model.answer(prompt, turn.deadline))
        if not text:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "nothing speakable"
            )
        return Answer(text, language, "model")

    async def answer_remembering(turn: TextTurn) -> tuple[Answer, str]:
        """(answer, memory status), with the session's lease held."""
        past: list[Exchange] = []
        status = "ok"
        try:
            past = await history.load(turn.identity, turn.session_id)
        except HistoryUnavailable as exc:
            log.warning("memory unavailable, answering without it", error=str(exc))
            status = "unavailable"
        answer = await respond(turn, past)
        log.info("answered", history_turns=len(past), chars=len(answer.text), source=answer.source)
        if status == "ok" and not turn.expired():
            try:
                await history.append(
                    turn.identity, turn.session_id, turn.turn_id, turn.text, answer.text
                )
            except HistoryUnavailable as exc:
                log.warning("memory unavailable, exchange not remembered", error=str(exc))
                status = "unavailable"
        return answer, status

    async def answer_with_memory(turn: TextTurn) -> tuple[Answer, str]:
        try:
            async with locks.hold(turn.identity, turn.session_id, turn.turn_id, turn.deadline):
                return await answer_remembering(turn)
        except HistoryUnavailable as exc:  # only taking the lease raises it out here
            log.warning("memory unavailable, answering without it", error=str(exc))
            return await respond(turn, []), "unavailable"

    async def handle(turn: TextTurn) -> AsyncIterator[Envelope]:
        answer, memory = await answer_with_memory(turn)
        yield SpeakRequest(
            **(turn.carried() | {"memory": memory, "language": answer.language}),
            text=answer.text,
            transcript=turn.text,
        )

    return handle
