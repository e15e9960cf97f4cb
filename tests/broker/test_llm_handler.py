"""The llm stage's handler against the real Redis: what it tells the model, when it
answers from the clock instead, and what it remembers and hands to tts.

The language model here is a recording stand-in (the handler's collaborator, not a
Google client): the backends themselves are tested against real servers elsewhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as redis

from llm_worker import clock
from llm_worker.handler import make_handler
from llm_worker.prompt import Prompt, collect
from shared.cancel import CancelFlags
from shared.contracts import SpeakRequest, Stage, TextTurn
from shared.history import HistoryStore
from shared.ledger import AlreadyDone, TurnLedger
from shared.redis_client import redis_client
from shared.session_lock import SessionLocks
from shared.settings import LlmSettings
from shared.worker import Handler
from tests.integration.stack import REDIS_URL

pytestmark = pytest.mark.broker


class RecordingModel:
    """Answers with a scripted text and keeps every prompt it was given."""

    name = "recording"
    max_concurrency: int | None = None

    def __init__(self, answer: str = "Eine Antwort.", grounded: bool = False) -> None:
        self.prompts: list[Prompt] = []
        self.text = answer
        self._grounded = grounded
        self.delay_s = 0.0
        self.produced = 0
        self.expected: list[tuple[Prompt, tzinfo]] = []

    @property
    def model_name(self) -> str:
        return "recording"

    @property
    def grounded(self) -> bool:
        return self._grounded

    async def stream(self, prompt: Prompt, deadline: float) -> AsyncIterator[str]:
        """The scripted answer in word-sized pieces, `delay_s` apart."""
        self.prompts.append(prompt)
        for i, word in enumerate(self.text.split(" ")):
            await asyncio.sleep(self.delay_s)
            self.produced += 1
            yield word if i == 0 else " " + word

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return await collect(self.stream(prompt, deadline))

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        self.expected.append((prompt, zone))

    async def close(self) -> None:
        return None


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[redis.Redis]:
    client = redis_client(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def turn(text: str, **fields: str) -> TextTurn:
    return TextTurn(
        turn_id=uuid.uuid4().hex,
        session_id="s-" + uuid.uuid4().hex,
        reply_to="r",
        deadline_ms=int((time.time() + 30) * 1000),
        text=text,
        **fields,  # type: ignore[arg-type]
    )


LISTENING: list[CancelFlags] = []
"""The cancel listeners handlers of a test started, stopped after it."""


@pytest.fixture(autouse=True)
async def stop_listening(client: redis.Redis) -> AsyncIterator[None]:
    yield
    while LISTENING:
        await LISTENING.pop().aclose()


def handler_for(
    client: redis.Redis, prefix: str, model: RecordingModel, **settings: object
) -> Handler[TextTurn]:
    config = LlmSettings(_env_file=None, **settings)  # type: ignore[arg-type]
    cancels = CancelFlags(client, prefix)
    LISTENING.append(cancels)
    return make_handler(
        model, HistoryStore(client, prefix), SessionLocks(client, prefix), config, cancels
    )


async def speak_all(
    client: redis.Redis, prefix: str, model: RecordingModel, question: TextTurn, **settings: object
) -> list[SpeakRequest]:
    produced = [e async for e in handler_for(client, prefix, model, **settings)(question)]
    assert all(isinstance(e, SpeakRequest) for e in produced)
    return produced  # type: ignore[return-value]


async def run(
    client: redis.Redis, prefix: str, model: RecordingModel, question: TextTurn, **settings: object
) -> SpeakRequest:
    """The answer of a one-sentence turn."""
    (produced,) = await speak_all(client, prefix, model, question, **settings)
    return produced


async def test_a_time_question_is_answered_from_the_clock_and_remembered(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel()
    question = turn("Wie spät ist es?", timezone="America/New_York")
    spoken = await run(client, prefix, model, question)
    now = datetime.now(ZoneInfo("America/New_York"))
    allowed = {f"Es ist {clock.time_of_day(now - timedelta(minutes=m), 'de')}." for m in (0, 1)}
    assert spoken.text in allowed
    assert spoken.language == "de-DE"
    assert model.prompts == []
    (remembered,) = await HistoryStore(client, prefix).load("anonymous", question.session_id)
    assert (remembered.user, remembered.model) == ("Wie spät ist es?", spoken.text)


async def test_local_intents_can_be_switched_off(client: redis.Redis, prefix: str) -> None:
    model = RecordingModel("Es ist Mittag.")
    spoken = await run(client, prefix, model, turn("Wie spät ist es?"), local_intents=False)
    assert spoken.text == "Es ist Mittag."
    (prompt,) = model.prompts
    assert prompt.question == "Wie spät ist es?"


async def test_the_model_gets_the_clock_of_the_watchs_zone_and_the_history(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel()
    first = turn("Ich heiße Ada.", timezone="Asia/Tokyo")
    await run(client, prefix, model, first)
    second = TextTurn(**(first.carried() | {"turn_id": uuid.uuid4().hex}), text="Wie heiße ich?")
    await run(client, prefix, model, second)
    prompt = model.prompts[-1]
    tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
    assert prompt.clock.startswith(f"Heute ist {clock.date(tokyo, 'de')}, es ist ")
    assert [(e.user, e.model) for e in prompt.history] == [("Ich heiße Ada.", "Eine Antwort.")]
    assert prompt.question == "Wie heiße ich?"


async def test_the_model_is_told_what_the_sessions_next_prompt_starts_with(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel()
    first = turn("Ich heiße Ada.", timezone="Asia/Tokyo")
    await run(client, prefix, model, first)
    ((expected, zone),) = model.expected
    # The history as the next turn will read it: this exchange, as it was spoken.
    assert [(e.user, e.model) for e in expected.history] == [("Ich heiße Ada.", "Eine Antwort.")]
    assert expected.question == "" and expected.system == model.prompts[0].system
    assert datetime.now(zone).utcoffset() == datetime.now(ZoneInfo("Asia/Tokyo")).utcoffset()
    second = TextTurn(**(first.carried() | {"turn_id": uuid.uuid4().hex}), text="Wie heiße ich?")
    await run(client, prefix, model, second)
    # What was evaluated ahead is what the next turn is given.
    asked = [(e.turn_id, e.user, e.model) for e in model.prompts[-1].history]
    assert asked == [(e.turn_id, e.user, e.model) for e in expected.history]
    # An answer from the clock is not a model prompt: nothing to evaluate ahead.
    await run(client, prefix, model, turn("Wie spät ist es?"))
    assert len(model.expected) == 2


async def test_a_model_without_live_data_is_told_to_say_so(
    client: redis.Redis, prefix: str
) -> None:
    offline, grounded = RecordingModel(grounded=False), RecordingModel(grounded=True)
    await run(client, prefix, offline, turn("Was gibt es Neues bei der Bahn?"))
    await run(client, prefix, grounded, turn("Was gibt es Neues bei der Bahn?"))
    settings = LlmSettings(_env_file=None)
    assert settings.offline_instruction in offline.prompts[0].system
    assert settings.offline_instruction not in grounded.prompts[0].system
    assert offline.prompts[0].system.startswith(settings.system_instruction)
    # The weather itself the offline one is not even asked: it is answered honestly.
    weather = await run(client, prefix, offline, turn("Wie wird das Wetter morgen in Hamburg?"))
    assert "keine Wetterdaten" in weather.text and len(offline.prompts) == 1
    await run(client, prefix, grounded, turn("Wie wird das Wetter morgen in Hamburg?"))
    assert len(grounded.prompts) == 2  # Gemini searches


async def test_markdown_from_the_model_is_made_speakable(client: redis.Redis, prefix: str) -> None:
    model = RecordingModel(
        "## Antwort\n\n**Rom** liegt in *Italien* 🇮🇹. Mehr: https://de.wikipedia.org/wiki/Rom"
    )
    spoken = await speak_all(client, prefix, model, turn("In welchem Land liegt Rom?"))
    text = " ".join(s.text for s in spoken)
    for dirt in ("#", "**", "*", "🇮🇹", "https://"):
        assert dirt not in text, text
    assert "Rom liegt in Italien" in text
    (remembered,) = await HistoryStore(client, prefix).load("anonymous", spoken[0].session_id)
    assert remembered.model == text  # remembered as it was spoken


@pytest.mark.parametrize(
    ("question", "language", "expected", "rule"),
    [
        ("What is the capital of France?", "", "en-US", "Answer in English."),
        ("Was ist die Hauptstadt von Frankreich?", "", "de-DE", "Antworte auf Deutsch."),
        # Spoken turns carry the language their recogniser heard.
        ("Paris", "en-GB", "en-GB", "Answer in English."),
    ],
)
async def test_the_answer_is_asked_for_and_spoken_in_the_questions_language(
    client: redis.Redis, prefix: str, question: str, language: str, expected: str, rule: str
) -> None:
    model = RecordingModel()
    spoken = await run(client, prefix, model, turn(question, language=language))
    assert spoken.language == expected
    assert model.prompts[0].language == expected
    assert model.prompts[0].system.endswith(rule)
    if expected.startswith("en"):
        assert model.prompts[0].clock.startswith("Today is ")


async def test_an_english_time_question_is_answered_in_english(
    client: redis.Redis, prefix: str
) -> None:
    spoken = await run(client, prefix, RecordingModel(), turn("What time is it?"))
    assert spoken.text.startswith("It's ")
    assert spoken.language == "en-US"


async def test_the_answer_goes_to_tts_sentence_by_sentence(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel(
        "Rom liegt in Italien. Es ist am 21. April 753 v. Chr. gegründet worden, "
        "sagt die Sage. Heute leben dort etwa 2,8 Millionen Menschen!"
    )
    question = turn("Erzähl mir etwas über Rom.")
    spoken = await speak_all(client, prefix, model, question)
    assert [s.text for s in spoken] == [
        "Rom liegt in Italien.",
        "Es ist am 21. April 753 v. Chr. gegründet worden, sagt die Sage.",
        "Heute leben dort etwa 2,8 Millionen Menschen!",
    ]
    assert [(s.seq, s.final) for s in spoken] == [(0, False), (1, False), (2, True)]
    assert {s.turn_id for s in spoken} == {question.turn_id}
    (remembered,) = await HistoryStore(client, prefix).load("anonymous", question.session_id)
    assert remembered.model == " ".join(s.text for s in spoken)


async def test_the_first_sentence_leaves_before_the_model_has_finished(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel("Erster Satz ist kurz. " + "Wort " * 40 + "Ende.")
    model.delay_s = 0.01
    handler = handler_for(client, prefix, model)
    stream = handler(turn("Sag etwas Langes."))
    first = await anext(stream)
    assert isinstance(first, SpeakRequest) and first.text == "Erster Satz ist kurz."
    assert model.produced < 10  # the rest is still being generated
    rest = [e async for e in stream]
    assert rest and rest[-1].final


async def test_answers_are_capped(client: redis.Redis, prefix: str) -> None:
    model = RecordingModel(" ".join(f"Satz Nummer {i} ist da." for i in range(30)))
    spoken = await speak_all(
        client, prefix, model, turn("Zähl bis dreißig."), max_answer_sentences=4
    )
    assert [s.text for s in spoken][:4] == [f"Satz Nummer {i} ist da." for i in range(4)]
    # Capped mid-stream: an empty end marker closes the answer.
    assert (spoken[-1].text, spoken[-1].seq, spoken[-1].final) == ("", 4, True)
    assert not any(s.final for s in spoken[:-1])


async def test_an_answer_whose_tail_is_unspeakable_still_ends(
    client: redis.Redis, prefix: str
) -> None:
    spoken = await speak_all(client, prefix, RecordingModel("Gern geschehen. 😀👍"), turn("Danke!"))
    assert [(s.text, s.seq, s.final) for s in spoken] == [
        ("Gern geschehen.", 0, False),
        ("", 1, True),
    ]


async def test_a_cancelled_turn_stops_generating_and_remembers_what_was_heard(
    client: redis.Redis, prefix: str
) -> None:
    model = RecordingModel("Erster Satz. Zweiter Satz. " + "Noch ein Satz. " * 50)
    model.delay_s = 0.02
    question = turn("Erzähl mir eine lange Geschichte.")
    history = HistoryStore(client, prefix)
    produced: list[SpeakRequest] = []
    handler = handler_for(client, prefix, model)
    started = 0.0
    async for event in handler(question):
        assert isinstance(event, SpeakRequest)
        produced.append(event)
        if event.seq == 1:  # the watch heard two sentences, then barged in
            await history.cancel_turn(
                "anonymous", question.session_id, question.turn_id, "Erster Satz. Zweiter Satz."
            )
            started = time.monotonic()
            words_at_cancel = model.produced
    stopped_after = time.monotonic() - started
    assert stopped_after < 0.3
    assert model.produced - words_at_cancel < 15  # stopped within a poll, not at the end
    assert model.produced < 100
    (remembered,) = await history.load("anonymous", question.session_id)
    assert remembered.model == "Erster Satz. Zweiter Satz."


async def test_a_chunk_the_ledger_has_is_not_answered_again(
    client: redis.Redis, prefix: str
) -> None:
    """The handler looks the ledger up in its opening script (`llm_worker.memory`) and
    raises `AlreadyDone`, which the worker acks; the model is not asked."""
    model = RecordingModel()
    question = turn("Erzähl mir etwas.")
    await TurnLedger(client, prefix).mark_done(Stage.LLM, question.turn_id)
    with pytest.raises(AlreadyDone):
        await speak_all(client, prefix, model, question)
    assert model.prompts == []
    assert not await client.exists(
        SessionLocks(client, prefix).key("anonymous", question.session_id)
    )


async def test_a_turn_cancelled_before_it_starts_says_nothing(
    client: redis.Redis, prefix: str
) -> None:
    question = turn("Erzähl mir etwas.")
    await HistoryStore(client, prefix).cancel_turn(
        "anonymous", question.session_id, question.turn_id, ""
    )
    model = RecordingModel()
    assert await speak_all(client, prefix, model, question) == []
    assert model.produced == 0


async def test_the_lease_is_released_with_the_history_write(
    client: redis.Redis, prefix: str
) -> None:
    """Released in the same script as the write, before the last sentence goes out:
    the session's next turn can start while this one's last sentence is published."""
    question = turn("Erzähl mir etwas.")
    lease = SessionLocks(client, prefix).key("anonymous", question.session_id)
    events = handler_for(client, prefix, RecordingModel("Eins. Zwei."))(question)
    first = await anext(events)
    assert isinstance(first, SpeakRequest)
    assert await client.get(lease) == question.turn_id.encode()
    last = await anext(events)
    assert isinstance(last, SpeakRequest) and last.final and last.memory == "ok"
    assert not await client.exists(lease)
    await events.aclose()
    (remembered,) = await HistoryStore(client, prefix).load("anonymous", question.session_id)
    assert remembered.model == "Eins. Zwei."


async def test_a_busy_session_is_waited_for_and_its_history_read_after(
    client: redis.Redis, prefix: str
) -> None:
    question = turn("Wie heiße ich?")
    history = HistoryStore(client, prefix)
    lease = SessionLocks(client, prefix).key("anonymous", question.session_id)
    await client.set(lease, "an-earlier-turn", px=8000)

    async def earlier_turn_ends() -> None:
        await asyncio.sleep(0.2)
        await history.append(
            "anonymous", question.session_id, "an-earlier-turn", "Ich heiße Ada.", "Hallo Ada."
        )
        await client.delete(lease)

    ending = asyncio.create_task(earlier_turn_ends())
    model = RecordingModel()
    spoken = await run(client, prefix, model, question)
    await ending
    assert spoken.memory == "ok"
    (prompt,) = model.prompts
    assert [e.user for e in prompt.history] == ["Ich heiße Ada."]
    assert not await client.exists(lease)


async def test_without_redis_the_turn_is_answered_without_memory(prefix: str) -> None:
    unreachable = redis_client("redis://127.0.0.1:1/0")
    cancels = CancelFlags(unreachable, prefix)
    handler = make_handler(
        RecordingModel("Eine Antwort."),
        HistoryStore(unreachable, prefix),
        SessionLocks(unreachable, prefix),
        LlmSettings(_env_file=None),
        cancels,
    )
    try:
        (spoken,) = [e async for e in handler(turn("Erzähl mir etwas."))]
    finally:
        await cancels.aclose()
        await unreachable.aclose()
    assert isinstance(spoken, SpeakRequest)
    assert (spoken.text, spoken.memory) == ("Eine Antwort.", "unavailable")
