"""STT_WINDOW_S: the local recogniser's encoder sees a shorter window than Whisper's
30 s when the clip fits in it, and long clips are still heard whole (the real model's
tests are marked slow)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shared.settings import SttSettings
from stt_worker.whisper import SAMPLE_RATE, WHISPER_WINDOW_S, LocalWhisper, window_for
from tests.speech import spoken_webm, word_error_rate


def test_a_clip_that_fits_gets_the_window_a_longer_one_whispers_own() -> None:
    assert window_for(3.3, 16) == 16
    assert window_for(16.0, 16) == 16
    assert window_for(16.01, 16) == WHISPER_WINDOW_S == 30
    assert window_for(45.0, 16) == 30
    assert window_for(3.3, 30) == 30


def test_the_window_setting_is_bounded_by_whispers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STT_WINDOW_S", "12")
    assert SttSettings().stt_window_s == 12
    for wrong in ("0", "31"):
        monkeypatch.setenv("STT_WINDOW_S", wrong)
        with pytest.raises(ValueError):
            SttSettings()


class FakeModel:
    """Stands in for faster-whisper's model: records the window of every call."""

    def __init__(self) -> None:
        self.windows: list[int | None] = []

    def transcribe(self, samples: np.ndarray, **options: Any) -> tuple[list[Any], Any]:
        self.windows.append(options.get("chunk_length"))
        return [], None


@pytest.mark.parametrize(("seconds", "window"), [(3.0, 12), (12.0, 12), (20.0, 30)])
def test_every_recognition_names_its_window(seconds: float, window: int) -> None:
    model = FakeModel()
    whisper = LocalWhisper(model, SttSettings(stt_window_s=12))
    whisper._recognize(np.zeros(int(seconds * SAMPLE_RATE), np.float32), ["de-DE"])
    assert model.windows == [window]


class Recorder:
    """Wraps the CTranslate2 model and records how many frames each encode got."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.frames: list[int] = []

    def encode(self, features: Any, **options: Any) -> Any:
        self.frames.append(features.shape[-1])
        return self._model.encode(features, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@pytest.fixture(scope="module")
def whisper() -> LocalWhisper:
    return LocalWhisper.from_settings(SttSettings(stt_language="de-DE", stt_window_s=30))


@pytest.fixture
def recorder(whisper: LocalWhisper) -> Any:
    model: Any = whisper._model
    original = model.model
    model.model = recorder = Recorder(original)
    yield recorder
    model.model = original


def samples(text: str, language: str = "de-DE") -> np.ndarray:
    from stt_worker.whisper import decode

    return decode(spoken_webm(text, language))


QUESTION = "Wie wird das Wetter morgen in Berlin und in München?"


@pytest.mark.slow
@pytest.mark.parametrize("window", [30, 16, 12])
def test_the_encoder_sees_the_window_and_hears_the_question(
    whisper: LocalWhisper, recorder: Recorder, window: int
) -> None:
    heard = LocalWhisper(whisper._model, SttSettings(stt_window_s=window))._recognize(
        samples(QUESTION), ["de-DE"]
    )
    assert word_error_rate(QUESTION, heard.text) == 0, heard.text
    assert recorder.frames and set(recorder.frames) == {window * 100}


# About 25 s of German: longer than any window but Whisper's own.
LONG = (
    "Guten Morgen. Ich möchte heute nach der Arbeit mit meiner Schwester ins Kino gehen. "
    "Danach wollen wir in der Altstadt etwas essen, vielleicht eine Pizza oder Nudeln. "
    "Am Wochenende fahren wir dann mit dem Zug an die Ostsee zu unseren Großeltern. "
    "Mein Großvater wird nächste Woche achtzig Jahre alt, und wir feiern mit der ganzen "
    "Familie im Garten. Kannst du mir sagen, wie das Wetter dort am Samstag wird?"
)


@pytest.mark.slow
def test_a_clip_longer_than_the_window_is_heard_whole(
    whisper: LocalWhisper, recorder: Recorder
) -> None:
    clip = samples(LONG)
    assert len(clip) / SAMPLE_RATE > 20
    reference = whisper._recognize(clip, ["de-DE"]).text
    windowed = LocalWhisper(whisper._model, SttSettings(stt_window_s=12))
    heard = windowed._recognize(clip, ["de-DE"]).text
    assert heard == reference  # the 30 s window, as without STT_WINDOW_S
    assert word_error_rate(LONG, heard) <= 0.2, heard
    assert "samstag" in heard.lower()  # the end of the question too
    assert set(recorder.frames) == {3000}
    # and the next short question is back in the short window
    recorder.frames.clear()
    windowed._recognize(samples(QUESTION), ["de-DE"])
    assert set(recorder.frames) == {1200}


@pytest.mark.slow
def test_a_call_naming_no_window_gets_whispers_own(
    whisper: LocalWhisper, recorder: Recorder
) -> None:
    """faster-whisper keeps the last chunk_length; other callers of the model (benches,
    tests) must not inherit the short window of the recognition before."""
    clip = samples(QUESTION)
    LocalWhisper(whisper._model, SttSettings(stt_window_s=12))._recognize(clip, ["de-DE"])
    recorder.frames.clear()
    segments, _ = whisper._model.transcribe(clip, language="de", vad_filter=True)
    list(segments)
    assert set(recorder.frames) == {3000}
