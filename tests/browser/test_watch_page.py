"""The watch page (`GET /`) in Debian's Chromium against the whole offline pipeline: a
question spoken into the page's (fake) microphone, a typed one, barge-in, memory, a
gateway restart, the token, errors, and the layout at watch size in every state."""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.audio import probe_webm_opus
from tests.browser.conftest import (
    CHROMIUM,
    MAX_AUDIO_SECONDS,
    MAX_TEXT_CHARS,
    Pipeline,
    Watch,
    check_layout,
    wait_healthy,
)
from tests.integration.stack import AUTH_TOKEN, REDIS_URL, ROOT, Service, free_port
from tests.speech import word_error_rate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.broker,
    pytest.mark.integration,
    pytest.mark.slow,
]

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is missing: make install", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is missing: make install")

OpenWatch = Callable[..., Watch]
Voice = Callable[..., Path]

QUESTION = "Wie viele Tage hat eine Woche?"
TURN_S = 120.0
"""A turn through the local models on two shared cores: generous."""


def ask(watch: Watch, text: str) -> None:
    watch.page.fill("#question", text)
    watch.page.press("#question", "Enter")


def finished_turns(watch: Watch, count: int) -> None:
    """Waits until `count` turns are done and every sentence of them played."""
    watch.wait(f"window.uhrwerk.turns >= {count}", TURN_S)
    assert watch.state() == "idle"


def last_turn(watch: Watch) -> str:
    return str(watch.received("turn")[-1]["turn_id"])


def assert_played_to_the_end(watch: Watch, turn_id: str) -> list[dict[str, Any]]:
    """Every sentence of the turn was scheduled on the Web Audio clock in order, back
    to back, and played to its end (its `ended` event, not stopped)."""
    sentences = [f for f in watch.received("sentence") if f["turn_id"] == turn_id]
    records = [r for r in watch.hooks()["sentences"] if r["turn"] == turn_id]
    assert sentences, "no sentence arrived"
    assert (
        [r["seq"] for r in records] == [f["seq"] for f in sentences] == list(range(len(sentences)))
    )
    for record in records:
        assert record["ended"] and not record["stopped"], record
        assert record["duration"] > 0.2, record
        assert record["endedAt"] >= record["end"] - 0.05, record  # not ended early
    for before, after in itertools.pairwise(records):
        # Back to back: where the next one was decoded in time, it starts exactly where
        # the one before ends; otherwise as soon as it is ready.
        assert after["start"] == pytest.approx(
            max(before["end"], after["ready"] + 0.05), abs=1e-6
        ), (before, after)
    done = next(f for f in watch.received("done") if f["turn_id"] == turn_id)
    assert watch.text("#answer") == done["text_response"].strip()
    return records


def test_a_spoken_question_is_heard_answered_and_played_to_the_end(
    open_watch: OpenWatch, voice: Voice
) -> None:
    watch = open_watch(voice(QUESTION))
    watch.wait_state("idle")
    # hello: protocol 2, the pairing token, the browser's language (BCP-47) and time
    # zone; the session kept.
    assert watch.sent("hello") == [
        {
            "type": "hello",
            "protocol": 2,
            "token": AUTH_TOKEN,
            "language": "de-DE",
            "timezone": "Europe/Berlin",
        }
    ]
    session = watch.received("hello")[0]["session_id"]
    assert watch.page.evaluate("localStorage.getItem('uhrwerk.session')") == session
    assert watch.text("#status") == "Tippen und fragen"
    watch.screenshot("idle")

    watch.page.click("#talk")
    watch.wait_state("listening", 5)
    watch.wait("window.uhrwerk.track !== null")
    watch.wait("document.getElementById('talk').style.getPropertyValue('--level') > 0.3")
    watch.screenshot("listening")
    # No second tap: the silence after the question ends the recording.
    watch.wait_state("thinking", 20)
    watch.screenshot("thinking")
    watch.wait_state("speaking", TURN_S)
    watch.wait("document.getElementById('answer').textContent.length > 0")
    watch.screenshot("speaking")
    finished_turns(watch, 1)
    watch.screenshot("answered")

    hooks = watch.hooks()
    assert hooks["mimeType"] == "audio/webm;codecs=opus"
    assert (hooks["track"]["sampleRate"], hooks["track"]["channelCount"]) == (48000, 1)
    assert hooks["track"]["echoCancellation"] is True
    # Off for the recogniser's sake (gateway/static/app.js, README "The watch page").
    assert hooks["track"]["noiseSuppression"] is False
    assert hooks["track"]["autoGainControl"] is False
    # Streamed upload: audio_start, MediaRecorder's chunks as binary frames, audio_end.
    sent = watch.sent()[1:]
    assert sent[0] == {"type": "audio_start", "format": "webm"}
    assert sent[-1] == {"type": "audio_end"}
    chunks = sent[1:-1]
    assert len(chunks) >= 4 and all(isinstance(c, bytes) for c in chunks)
    # The clip: 0.3 s of silence, the question (about 2 s), 6 s of silence. Silence
    # detection ended the recording about 2 s after the speech.
    assert 2.0 < recorded_seconds(watch) < 6.0

    turn_id = last_turn(watch)
    transcript = watch.text("#transcript")
    assert transcript == watch.received("transcript")[-1]["text"]
    assert word_error_rate(QUESTION, transcript) <= 0.25, transcript
    # (What the small local model answers is its business: asked for the capital of
    # France, it has said "Berlin".)
    assert watch.text("#answer")
    assert_played_to_the_end(watch, turn_id)
    assert hooks["played"] == hooks["scheduled"] and hooks["stopped"] == 0
    assert not watch.errors and not watch.console

    # The same page at the smallest watch size and on a phone.
    watch.page.set_viewport_size({"width": 360, "height": 360})
    watch.screenshot("answered-360")
    watch.page.set_viewport_size({"width": 390, "height": 844})
    check_layout(watch.page, round_screen=False)


def test_a_typed_question_is_answered_and_played(open_watch: OpenWatch) -> None:
    watch = open_watch()
    watch.wait_state("idle")
    question = "Erzähl mir etwas über die Geschichte von Rom."
    ask(watch, question)
    watch.wait_state("speaking", TURN_S)
    finished_turns(watch, 1)
    watch.screenshot("answered-long")
    assert watch.sent("text") == [{"type": "text", "message": question}]
    assert watch.text("#transcript") == question
    assert watch.text("#answer")
    assert_played_to_the_end(watch, last_turn(watch))
    assert watch.page.input_value("#question") == ""
    assert not watch.errors


def test_a_tap_while_the_answer_plays_interrupts_it_and_listens(
    open_watch: OpenWatch, voice: Voice
) -> None:
    watch = open_watch(voice(QUESTION))
    watch.wait_state("idle")
    ask(watch, "Erzähl mir ausführlich von der Geschichte Roms, in mindestens zehn Sätzen.")
    watch.wait_state("speaking", TURN_S)
    first = last_turn(watch)
    watch.page.click("#talk")  # barge-in
    watch.wait_state("listening", 2)
    watch.screenshot("barge-in")
    cancel_at = next(i for i, (d, f) in enumerate(watch.frames) if f == {"type": "cancel"})
    assert watch.frames[cancel_at][0] == "sent"
    hooks = watch.hooks()
    cut = [r for r in hooks["sentences"] if r["turn"] == first]
    assert any(r["stopped"] for r in cut), cut  # cut off mid-sentence
    assert hooks["played"] + hooks["stopped"] == hooks["scheduled"]  # nothing plays on

    # The spoken question that follows is heard and answered.
    finished_turns(watch, 1)
    assert word_error_rate(QUESTION, watch.text("#transcript")) <= 0.25
    assert watch.text("#answer")
    second = last_turn(watch)
    assert second != first
    assert_played_to_the_end(watch, second)
    # The interrupted turn: cancelled by the gateway unless it had already finished,
    # and nothing of it reached the page after that.
    finished_before = any(
        isinstance(f, dict) and f.get("type") == "done" and f.get("turn_id") == first
        for _, f in watch.frames[:cancel_at]
    )
    of_first = [
        (i, f["type"])
        for i, (d, f) in enumerate(watch.frames)
        if d == "received" and isinstance(f, dict) and f.get("turn_id") == first
    ]
    if not finished_before:
        cancelled = [i for i, kind in of_first if kind == "cancelled"]
        assert len(cancelled) == 1, of_first
        assert of_first[-1][1] == "cancelled", of_first
    assert len([r for r in watch.hooks()["sentences"] if r["turn"] == first]) == len(cut)
    assert not watch.errors


# Chromium gives 44.1 kHz stereo with its audio processing off; the page must cope.
STEREO_MICROPHONE = """
(() => {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = () => original({audio: {
    echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
})();
"""


def test_a_spoken_follow_up_remembers_the_first_question(
    open_watch: OpenWatch, voice: Voice
) -> None:
    watch = open_watch(voice("Wie heiße ich?"), init_script=STEREO_MICROPHONE)
    watch.wait_state("idle")
    ask(watch, "Ich heiße Anna.")
    finished_turns(watch, 1)
    watch.page.click("#talk")
    finished_turns(watch, 2)
    track = watch.hooks()["track"]
    assert (track["sampleRate"], track["channelCount"]) == (44100, 2), track
    assert "heiß" in watch.text("#transcript").lower()
    assert "Anna" in watch.text("#answer")
    assert_played_to_the_end(watch, last_turn(watch))


def test_the_page_reconnects_by_itself_after_a_gateway_restart_and_remembers(
    open_watch: OpenWatch, pipeline: Pipeline
) -> None:
    watch = open_watch()
    watch.wait_state("idle")
    ask(watch, "Ich heiße Jonas.")
    finished_turns(watch, 1)
    session = watch.hooks()["sessionId"]

    def while_it_is_down() -> None:
        watch.wait_state("connecting", 10)
        watch.wait("document.getElementById('note').textContent.includes('Neuer Versuch')", 10)
        watch.screenshot("connecting")

    pipeline.restart_gateway(while_it_is_down)
    watch.wait_state("idle", 60)  # no tap, no reload
    hooks = watch.hooks()
    assert hooks["connects"] == 2 and hooks["sessionId"] == session
    assert len(watch.sockets) >= 2
    assert f"session={session}" in watch.sockets[-1] and "protocol=2" in watch.sockets[-1]
    assert watch.sent("hello")[-1]["session_id"] == session
    assert watch.text("#note") == ""

    ask(watch, "Wie heiße ich?")
    finished_turns(watch, 2)
    assert "Jonas" in watch.text("#answer")
    assert not watch.errors


def test_a_question_in_flight_when_the_gateway_dies_is_answered_after_the_reconnect(
    open_watch: OpenWatch, pipeline: Pipeline
) -> None:
    watch = open_watch()
    watch.wait_state("idle")
    ask(watch, "Wie viele Beine hat eine Spinne?")
    deadline = time.monotonic() + 10
    while not watch.received("turn"):  # the gateway took it: its answer takes seconds
        assert time.monotonic() < deadline, "the question was never taken"
        watch.page.wait_for_timeout(10)  # lets Playwright hand over the frames
    turn_id = last_turn(watch)

    def while_it_is_down() -> None:
        watch.wait_state("connecting", 10)
        watch.wait("document.getElementById('note').textContent.includes('abgeholt')", 10)

    pipeline.restart_gateway(while_it_is_down, signal.SIGKILL)  # a crash, no drain
    finished_turns(watch, 1)  # no tap, no reload, no question asked again
    assert [f["turn_id"] for f in watch.sent("resume")] == [turn_id]
    assert watch.hooks()["resumes"] == 1
    assert watch.received("turn")[-1] == {"type": "turn", "turn_id": turn_id, "resumed": True}
    assert_played_to_the_end(watch, turn_id)
    assert not watch.errors


def pair(pipeline: Pipeline, name: str) -> str:
    """`uhrwerk token create NAME`, as an operator runs it: the pairing URL it prints."""
    created = subprocess.run(
        [sys.executable, "-m", "shared.cli", "token", "create", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
        env={**pipeline.stack.env, "GATEWAY_PORT": str(pipeline.port)},
    )
    return next(
        line.strip()
        for line in created.stdout.splitlines()
        if line.strip().startswith(f"http://127.0.0.1:{pipeline.port}/?token=")
    )


def test_pairing_server_errors_and_a_new_conversation(
    open_watch: OpenWatch, pipeline: Pipeline
) -> None:
    url = pair(pipeline, "page-watch")
    token = url.split("?token=", 1)[1]
    watch = open_watch(query=url.split("/", 3)[3], token=None)  # the printed URL, opened
    watch.wait_state("idle")
    # The token is taken from the address once, kept, and sent in hello, not in a URL.
    assert "token" not in watch.page.url
    assert watch.page.evaluate("localStorage.getItem('uhrwerk.token')") == token
    assert "token" not in watch.sockets[0]
    assert watch.sent("hello")[0]["token"] == token

    # The server's German sentence is what the page shows.
    ask(watch, "x" * (MAX_TEXT_CHARS + 1))
    watch.wait_state("error", 10)
    assert watch.text("#note") == f"Der Text ist zu lang (höchstens {MAX_TEXT_CHARS} Zeichen)."
    watch.screenshot("error")

    ask(watch, "Wie spät ist es?")  # the clock answers; remembered like any turn
    finished_turns(watch, 1)
    assert watch.text("#answer").startswith("Es ist")
    session = watch.hooks()["sessionId"]
    key = f"{pipeline.stack.prefix}:history:page-watch:{session}"  # the token's name
    store = redis.Redis.from_url(REDIS_URL)
    assert store.exists(key)

    watch.page.click("#new")
    watch.wait("document.getElementById('note').textContent === 'Neues Gespräch begonnen.'")
    assert watch.sent("reset") == [{"type": "reset"}]
    assert watch.received("reset")[0]["session_id"] == session
    assert not store.exists(key)
    assert watch.text("#answer") == watch.text("#transcript") == ""
    watch.screenshot("new-conversation")

    # A reload keeps the token and the session.
    watch.page.reload()
    watch.wait_state("idle")
    assert watch.sent("hello")[-1]["token"] == token
    assert f"session={session}" in watch.sockets[-1]
    assert not watch.errors


@pytest.mark.parametrize("token", [None, "not-a-paired-token-0123456789"])
def test_an_unpaired_watch_is_told_so_and_stops_trying(
    open_watch: OpenWatch, token: str | None
) -> None:
    watch = open_watch(token=token)
    watch.wait_state("error", 15)
    assert watch.text("#note").startswith("Diese Uhr ist nicht gekoppelt.")
    assert [f["code"] for f in watch.received("error")] == ["unauthorized"]
    assert watch.hooks()["unpaired"] and watch.hooks()["connects"] == 0
    watch.screenshot("unpaired")
    time.sleep(2)  # the first reconnect would come after 0.5 s: none comes
    assert len(watch.sockets) == 1 and watch.state() == "error"


def recorded_seconds(watch: Watch) -> float:
    """The length of the last recording the page streamed, as the gateway measures it."""
    frames = [f for d, f in watch.frames if d == "sent"]
    start = max(i for i, f in enumerate(frames) if f == {"type": "audio_start", "format": "webm"})
    chunks = [f for f in frames[start:] if isinstance(f, bytes)]
    return probe_webm_opus(b"".join(chunks), 3600).duration_s


def test_a_recording_stops_at_the_gateways_limit(open_watch: OpenWatch, voice: Voice) -> None:
    speech = (
        "Ich möchte gern wissen, wie das Wetter morgen wird, und ob ich einen Schirm "
        "brauche, wenn ich am Nachmittag mit dem Fahrrad in die Stadt fahre."
    )
    watch = open_watch(voice(speech, silence_ms=0))  # talks without a pause, looped
    watch.wait_state("idle")
    assert watch.page.evaluate("document.body.dataset.maxAudioSeconds") == str(MAX_AUDIO_SECONDS)
    watch.page.click("#talk")
    watch.wait_state("thinking", MAX_AUDIO_SECONDS + 5)
    assert MAX_AUDIO_SECONDS - 1.5 < recorded_seconds(watch) <= MAX_AUDIO_SECONDS
    finished_turns(watch, 1)  # accepted: not `audio_too_long`
    assert not watch.received("error")
    assert "wetter" in watch.text("#transcript").lower()


def test_the_page_can_be_added_to_the_home_screen(open_watch: OpenWatch) -> None:
    watch = open_watch()
    watch.wait_state("idle")
    href = watch.page.get_attribute("link[rel=manifest]", "href")
    manifest = watch.page.request.get(watch.page.url.rstrip("/") + href).json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        response = watch.page.request.get(watch.page.url.rstrip("/") + icon["src"])
        assert response.ok and response.headers["content-type"] == icon["type"], icon
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes


def test_a_denied_microphone_is_explained(open_watch: OpenWatch) -> None:
    watch = open_watch(deny_microphone=True)
    watch.wait_state("idle")
    watch.page.click("#talk")
    watch.wait_state("error", 10)
    assert watch.text("#note").startswith("Kein Zugriff auf das Mikrofon.")
    watch.screenshot("error-microphone")
    assert not watch.sent("audio_start")


def network_address() -> str | None:
    """This machine's address on its network (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_plain_http_on_the_network_says_the_microphone_needs_https(
    open_watch: OpenWatch,
) -> None:
    address = network_address()
    if address is None:
        pytest.skip("no network address to open the page on")
    watch = open_watch(host=address)  # not a secure context: no microphone
    watch.wait_state("idle")
    watch.page.click("#talk")
    watch.wait_state("error", 10)
    assert watch.text("#note").startswith("Das Mikrofon geht nur über HTTPS")
    watch.screenshot("error-https")
    ask(watch, "Wie spät ist es?")  # typing still works
    finished_turns(watch, 1)


def test_an_english_browser_gets_english_texts(open_watch: OpenWatch) -> None:
    watch = open_watch(locale="en-US")
    watch.wait_state("idle")
    assert watch.page.evaluate("document.documentElement.lang") == "en"
    assert watch.text("#status") == "Tap and ask"
    assert watch.text("#new") == "New conversation"
    assert watch.sent("hello")[0]["language"] == "en-US"
    watch.screenshot("idle-english")


def start_gateway(pipeline: Pipeline, name: str, **env: str) -> tuple[Service, str]:
    """A second gateway on the pipeline, with its own limits: its service and page URL."""
    port = free_port()
    service = pipeline.stack.start(
        "gateway", name, GATEWAY_PORT=str(port), GATEWAY_ID=name, REPLY_QUEUE_EXPIRES_S="10", **env
    )
    wait_healthy(service, port)
    return service, f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"token": AUTH_TOKEN})


def test_an_idle_page_is_closed_and_connects_again_when_it_is_used(
    open_watch: OpenWatch, pipeline: Pipeline
) -> None:
    gateway, url = start_gateway(pipeline, "idle", IDLE_TIMEOUT_S="3")
    try:
        watch = open_watch()
        watch.page.goto(url)
        watch.wait("window.uhrwerk.connects === 1")
        opened = len(watch.sockets)
        asleep = "document.getElementById('note').textContent.startsWith('Verbindung nach')"
        watch.wait(asleep, 10)
        assert watch.state() == "connecting"
        assert watch.text("#note") == (
            "Verbindung nach längerer Ruhe getrennt. Tippen verbindet wieder."
        )
        watch.screenshot("asleep")
        time.sleep(3)  # after any other close the first attempt would come within 0.6 s
        assert len(watch.sockets) == opened
        ask(watch, "Wie spät ist es?")  # typed while asleep: connects, then sends it
        watch.wait("window.uhrwerk.turns >= 1", TURN_S)
        assert len(watch.sockets) == opened + 1 and watch.hooks()["connects"] == 2
        assert watch.sent("text") == [{"type": "text", "message": "Wie spät ist es?"}]
        assert watch.page.input_value("#question") == ""
        assert_played_to_the_end(watch, last_turn(watch))  # never cut off by the close
        watch.wait(asleep, 15)  # and, unused again, closed again
        assert watch.state() == "connecting"
        assert not watch.errors
    finally:
        gateway.stop()


def test_a_page_over_the_connection_limit_shows_why_and_gets_in_later(
    open_watch: OpenWatch, pipeline: Pipeline
) -> None:
    gateway, url = start_gateway(pipeline, "full", MAX_CONNECTIONS_PER_IDENTITY="1")
    try:
        first = open_watch()
        first.page.goto(url)
        first.wait("window.uhrwerk.connects === 1")
        second = open_watch()
        second.page.goto(url)
        second.wait("document.getElementById('note').textContent.includes('Neuer Versuch')", 10)
        note = second.text("#note")
        assert note.startswith(
            "Zu viele offene Verbindungen. Bitte schließe andere Fenster mit Uhrwerk. "
            "Keine Verbindung. Neuer Versuch in "
        )
        assert int(note.rsplit(" in ", 1)[1].split("\u00a0")[0]) >= 3  # waits longer
        assert [f["code"] for f in second.received("error")] == ["too_many_connections"]
        second.screenshot("refused")
        first.page.close()  # the other window closed: the next attempt gets in
        second.wait("window.uhrwerk.connects === 1", 45)
        assert second.state() == "idle" and second.text("#note") == ""
    finally:
        gateway.stop()
