"""The `null` backends of bench.pipeline: chosen by the backend settings, doing no work,
and giving what the next stage and the watch accept."""

from __future__ import annotations

import asyncio
import time

from llm_worker import backend as llm_backend
from llm_worker.null import NullModel
from llm_worker.prompt import Prompt
from shared import mp3
from shared.contracts import AudioTurn
from shared.sentences import SentenceSplitter
from shared.settings import LlmSettings, SttSettings, TtsSettings
from stt_worker import backend as stt_backend
from stt_worker.null import TRANSCRIPT, NullSpeech
from tests.fakes.audio import mp3_duration, webm_opus
from tts_worker import backend as tts_backend
from tts_worker.null import NullTextToSpeech


def test_null_is_chosen_by_each_backend_setting() -> None:
    assert isinstance(stt_backend.build(SttSettings(stt_backend="null")), NullSpeech)
    assert isinstance(llm_backend.build(LlmSettings(llm_backend="null")), NullModel)
    assert isinstance(tts_backend.build(TtsSettings(tts_backend="null")), NullTextToSpeech)


def test_null_speech_hears_the_fixed_transcript_in_the_turns_language() -> None:
    turn = AudioTurn(
        turn_id="t1",
        session_id="s1",
        reply_to="r",
        deadline_ms=int((time.time() + 10) * 1000),
        audio=webm_opus(None, seconds=0.5),
        language="en-GB",
    )
    heard = asyncio.run(NullSpeech().transcribe(turn))
    assert (heard.text, heard.language) == (TRANSCRIPT, "en-GB")


def test_null_model_streams_one_whole_sentence() -> None:
    prompt = Prompt(system="s", clock="c", history=[], question="Erzähl mir etwas.")

    async def pieces() -> list[str]:
        return [piece async for piece in NullModel().stream(prompt, time.time() + 10)]

    streamed = asyncio.run(pieces())
    assert len(streamed) > 1
    splitter = SentenceSplitter()
    sentences = [s for piece in streamed for s in splitter.feed(piece)] + list(splitter.flush())
    assert sentences == ["".join(streamed).strip()]
    assert asyncio.run(NullModel().answer(prompt, time.time() + 10)) == "".join(streamed)


def test_null_speech_synthesis_is_a_decodable_mp3_that_joins() -> None:
    audio = asyncio.run(NullTextToSpeech().synthesize("Hallo.", "de-DE", time.time() + 10))
    assert 0.05 < mp3_duration(audio) < 0.5
    joined = mp3.join([audio, audio])
    assert mp3_duration(joined) > mp3_duration(audio)
