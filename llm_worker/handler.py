"""The llm stage: answer with the session's memory, sentence by sentence, to tts.

An answer comes from the clock when the question asks for the time or the date
(`intents`), from the language model otherwise. The model's stream is cut into
sentences as it arrives (`SentenceSplitter`); each sentence, cleaned for speaking
(`for_speech`), goes to tts as its own event with its `seq`, so the watch hears the
first while the rest is still being generated. The last carries `final`: a sentence
is held back until the next one starts or the stream ends, so that it can.

Per session, one turn at a time: the lease is held while the history is read, the
answer is made and the exchange is written back, so a double tap neither interleaves
nor loses an entry. Without Redis the turn is still answered, without memory, and the
reply says so (`memory="unavailable"`). A cancelled turn (barge-in) stops generating
as soon as the cancel is announced; its memory keeps only what the watch heard. The
Redis side of all this, in three round trips a turn, is `llm_worker.memory`; it checks
the ledger too, so this stage's worker runs with `checks_ledger=True`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime

from llm_worker import clock, intents
from llm_worker.backend import LanguageModel
from llm_worker.memory import TurnMemory
from llm_worker.prompt import Prompt, instruction
from shared import language as lang
from shared import tracing
from shared.cancel import CancelFlags
from shared.contracts import Envelope, SpeakRequest, TextTurn
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import Exchange, HistoryStore
from shared.ledger import TurnLedger
from shared.logging import get_logger
from shared.sentences import SentenceSplitter
from shared.session_lock import SessionLocks
from shared.settings import LlmSettings
from shared.speech_text import for_speech
from shared.worker import Handler

log = get_logger(__name__)


@dataclass
class Answer:
    language: str
    source: str
    """ "model" or the local intent that answered ("time", "date")."""
    sentences: AsyncIterator[tuple[str, bool]]
    """Each sentence, and whether more surely follows it."""
    prompt: Prompt | None = None
    """What the model was asked (None for a local answer)."""


async def until_set(stream: AsyncIterator[str], stop: asyncio.Event) -> AsyncGenerator[str, None]:
    """The pieces of `stream` until `stop` is set, even while the stream is waiting;
    the stream is closed either way (which stops a local model's generation)."""
    stopping = asyncio.ensure_future(stop.wait())
    piece: asyncio.Future[str] | None = None
    try:
        while not stop.is_set():
            piece = asyncio.ensure_future(anext(stream))
            await asyncio.wait({piece, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not piece.done():
                piece.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await piece
                return
            try:
                yield piece.result()
            except StopAsyncIteration:
                return
    finally:
        stopping.cancel()
        if piece is not None and not piece.done():
            # This task was cancelled mid-wait (the broker connection closed under its
            # consumer): the stream is still running in `piece`, and closing it now
            # would raise "aclose(): asynchronous generator is already running" over
            # the cancellation, which the worker would take for a crashed handler.
            piece.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await piece
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def make_handler(
    model: LanguageModel,
    history: HistoryStore,
    locks: SessionLocks,
    settings: LlmSettings,
    cancels: CancelFlags,
) -> Handler[TextTurn]:
    """The handler; it raises `AlreadyDone` for a chunk the ledger has (see the module)."""
    memory = TurnMemory(history, locks, cancels, TurnLedger(history.redis, history.prefix))
    default_language = lang.valid_tag(settings.assistant_language) or "de-DE"
    spoken_languages = lang.languages(settings.stt_languages)

    def turn_language(turn: TextTurn) -> str:
        """Spoken turns carry what stt heard; typed ones are told apart by their words."""
        if turn.language:
            return turn.language
        guessed = lang.guess(turn.text, spoken_languages, lang.base(default_language))
        return lang.to_tag(guessed, default_language)

    async def model_sentences(
        turn: TextTurn, prompt: Prompt, stop: asyncio.Event
    ) -> AsyncIterator[tuple[str, bool]]:
        """(sentence, whether more text surely follows). The splitter cuts only once it
        has seen what comes after a sentence, so whatever it gives while the stream
        runs has a successor; what is left at the end may be the last."""
        splitter = SentenceSplitter()
        count = chars = 0
        pieces = until_set(tracing.counted(model.stream(prompt, turn.deadline), "tokens"), stop)
        try:
            async for piece in pieces:
                for sentence in splitter.feed(piece):
                    text = for_speech(sentence)
                    if text:
                        count, chars = count + 1, chars + len(text)
                        yield text, True
                    if count >= settings.max_answer_sentences or chars >= settings.max_answer_chars:
                        log.info("answer capped", sentences=count, chars=chars)
                        return
            if not stop.is_set():
                for sentence in splitter.flush():
                    text = for_speech(sentence)
                    if text:
                        yield text, False
        finally:
            await pieces.aclose()

    async def one(text: str) -> AsyncIterator[tuple[str, bool]]:
        yield text, False

    def answer(turn: TextTurn, past: list[Exchange], now: datetime, stop: asyncio.Event) -> Answer:
        language = turn_language(turn)
        if settings.local_intents:
            local = intents.answer(turn.text, now, language, live_data=model.grounded)
            if local is not None:
                log.info("answered without the model", intent=local.intent.value)
                return Answer(local.language, local.intent.value, one(local.text))
        prompt = Prompt(
            system=instruction(settings, model.grounded, language),
            clock=clock.describe(now, language),
            history=past,
            question=turn.text,
            language=language,
        )
        return Answer(language, "model", model_sentences(turn, prompt, stop), prompt)

    async def handle(turn: TextTurn) -> AsyncGenerator[Envelope, None]:
        now = lang.now_in(turn.timezone, settings.assistant_timezone)
        async with memory.open(turn) as opened:
            cancelled = opened.cancelled
            made = answer(turn, opened.past, now, cancelled)
            sentences: list[str] = []
            status = opened.memory

            def speak(text: str, final: bool) -> SpeakRequest:
                fields = turn.carried() | {"memory": status, "language": made.language}
                return SpeakRequest(
                    **fields, seq=len(sentences) - 1, final=final, text=text, transcript=turn.text
                )

            # A sentence that may be the last is held until the next one shows (then
            # it was not) or the stream ends (then it goes out marked `final`).
            held_back: str | None = None
            async for sentence, more in made.sentences:
                if held_back is not None:
                    yield speak(held_back, final=False)
                    held_back = None
                sentences.append(sentence)
                if more:
                    yield speak(sentence, final=False)
                else:
                    held_back = sentence
            if cancelled.is_set():
                log.info("turn cancelled, generation stopped", sentences=len(sentences))
            if not sentences:
                if cancelled.is_set():
                    return  # nothing said; the watch has its `cancelled` already
                raise PipelineError(
                    ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "nothing speakable"
                )
            spoken = " ".join(sentences)
            status = await memory.remember(turn, opened, spoken)
            if made.prompt is not None and status == "ok" and now.tzinfo is not None:
                # The session's next prompt starts with this exchange remembered.
                said = Exchange(
                    turn.turn_id, turn.text, spoken, now.timestamp(), len(turn.text) + len(spoken)
                )
                history = [*made.prompt.history, said]
                model.expect(replace(made.prompt, history=history, question=""), now.tzinfo)
            tracing.annotate(
                source=made.source, sentences=len(sentences), characters=sum(map(len, sentences))
            )
            log.info(
                "answered",
                history_turns=len(opened.past),
                sentences=len(sentences),
                chars=sum(map(len, sentences)),
                source=made.source,
            )
            if held_back is not None:
                yield speak(held_back, final=True)
            else:
                # The last sentence went out unmarked (what followed it was not
                # speakable, or the answer was capped): an empty end marker closes it.
                sentences.append("")
                yield speak("", final=True)

    return handle
