"""Language tags, time zones and telling German from English in typed text."""

from __future__ import annotations

import pytest

from shared import language


@pytest.mark.parametrize(
    ("raw", "tag"),
    [("de-DE", "de-DE"), ("en-us", "en-US"), ("EN", "en"), ("zh-hant-tw", "zh-Hant-TW")],
)
def test_tags_are_normalised(raw: str, tag: str) -> None:
    assert language.valid_tag(raw) == tag


@pytest.mark.parametrize("bad", ["", "d", "de_DE", "de-DE-x-y-z-q", "deutsch!", None, 7])
def test_non_tags_are_refused(bad: object) -> None:
    assert language.valid_tag(bad) is None


def test_bare_codes_become_tags_keeping_the_configured_region() -> None:
    assert language.to_tag("en") == "en-US"
    assert language.to_tag("en", "en-GB") == "en-GB"
    assert language.to_tag("de", "en-GB") == "de-DE"
    assert language.languages(" de, en ,") == ["de", "en"]


def test_zones_are_iana_names_only() -> None:
    assert language.zone("Europe/Berlin") is not None
    for bad in ("", "Nowhere/City", "../etc/passwd", "/etc/localtime", "a" * 80):
        assert language.zone(bad) is None
    assert language.now_in("Nowhere/City", "Asia/Tokyo").tzinfo == language.zone("Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wie wird das Wetter morgen?", "de"),
        ("Wer hat den Faust geschrieben?", "de"),
        ("Erzähl mir einen Witz", "de"),
        ("What is the capital of France?", "en"),
        ("Tell me a joke about cats", "en"),
        ("How tall is the Eiffel Tower?", "en"),
        ("Berlin", "de"),  # neither: the default
        ("Paris?", "de"),
    ],
)
def test_typed_text_is_told_german_or_english(text: str, expected: str) -> None:
    assert language.guess(text, ["de", "en"], "de") == expected


def test_only_the_deployments_languages_are_guessed() -> None:
    assert language.guess("What is the capital of France?", ["de"], "de") == "de"


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [
        # Measured on pico2wave's German: Whisper base puts English ahead.
        ({"de": 0.217, "en": 0.47}, "de"),  # "Wie spät ist es?"
        ({"de": 0.392, "en": 0.532}, "de"),  # "Was ist zwei plus drei?"
        ({"de": 0.01, "en": 0.062}, "de"),  # "Danke."
        ({"de": 0.996, "en": 0.001}, "de"),
        # English is detected with confidence.
        ({"de": 0.002, "en": 0.663}, "en"),  # "Thanks."
        ({"de": 0.001, "en": 0.978}, "en"),
        ({}, "de"),  # nothing heard: the first language
    ],
)
def test_detection_prefers_the_deployments_first_language(
    probabilities: dict[str, float], expected: str
) -> None:
    from stt_worker.whisper import choose

    assert choose(["de", "en"], probabilities, margin=10.0) == expected
    # Plain argmax (margin 1) would have taken English for the hesitant German clips.
    if probabilities and expected == "de" and probabilities["en"] > probabilities["de"]:
        assert choose(["de", "en"], probabilities, margin=1.0) == "en"
