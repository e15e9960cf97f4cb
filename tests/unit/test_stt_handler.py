"""The stt stage's handler: which language a transcript goes on in."""

from __future__ import annotations

import time

import pytest

from shared.contracts import AudioTurn, Heard, TextTurn
from shared.settings import SttSettings
from stt_worker.backend import Heard as Recognised
from stt_worker.handler import make_handler


class Recogniser:
    """Hears `text` in `language`, whatever the recording (a stand-in for Whisper)."""

    name = "fixed"
    max_concurrency: int | None = None

    def __init__(self, text: str, language: str) -> None:
        self.heard = Recognised(text, language)

    async def transcribe(self, turn: AudioTurn) -> Recognised:
        return self.heard

    async def close(self) -> None:
        return None


def turn(language: str = "", transcript_ahead: bool = True) -> AudioTurn:
    return AudioTurn(
        turn_id="t" * 32,
        session_id="session-0123456789",
        reply_to="uhrwerk.reply.g1",
        deadline_ms=int((time.time() + 30) * 1000),
        audio=b"webm",
        language=language,
        transcript_ahead=transcript_ahead,
    )


async def languages(
    text: str, heard_in: str, session: str = "", stt_language: str = "de-DE", spoken: str = "de,en"
) -> set[str]:
    settings = SttSettings(stt_language=stt_language, stt_languages=spoken)
    handle = make_handler(Recogniser(text, heard_in), settings)
    events = [event async for event in handle(turn(session))]
    assert [type(e) for e in events] == [TextTurn, Heard]
    return {e.language for e in events}


@pytest.mark.parametrize(
    "text",
    ["How far away is the moon?", "What is the capital of Australia?", "Who wrote Faust?"],
)
async def test_english_words_heard_under_the_default_german_go_on_in_english(text: str) -> None:
    assert await languages(text, "de-DE") == {"en-US"}


@pytest.mark.parametrize(
    "text",
    ["Wie hoch ist die Zugspitze?", "Was ist ein Laptop?", "Wer hat den Faust geschrieben?"],
)
async def test_german_words_stay_german(text: str) -> None:
    assert await languages(text, "de-DE") == {"de-DE"}


async def test_the_sessions_language_is_kept() -> None:
    """The watch asked for German (hello): it gets German, whatever the words."""
    assert await languages("How far away is the moon?", "de-DE", session="de-DE") == {"de-DE"}


async def test_a_detected_language_is_kept() -> None:
    """With STT_LANGUAGE=auto the recogniser chose among the languages itself."""
    assert await languages("Okay Google", "de-DE", stt_language="auto") == {"de-DE"}


async def test_only_a_language_the_deployment_speaks() -> None:
    assert await languages("How far away is the moon?", "de-DE", spoken="de") == {"de-DE"}


@pytest.mark.parametrize(("ahead", "sent"), [(True, [TextTurn, Heard]), (False, [TextTurn])])
async def test_the_transcript_goes_ahead_only_when_the_gateway_wants_it(
    ahead: bool, sent: list[type]
) -> None:
    """A protocol 1 turn (`transcript_ahead=False`) gets no `Heard`: nobody reads it."""
    handle = make_handler(Recogniser("Wie spät ist es?", "de-DE"), SttSettings())
    events = [event async for event in handle(turn(transcript_ahead=ahead))]
    assert [type(e) for e in events] == sent
    assert isinstance(events[0], TextTurn)
    assert events[0].text == "Wie spät ist es?"
