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
