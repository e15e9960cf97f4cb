"""The watch page in a real browser: Debian's Chromium driven by Playwright, with a fake
microphone playing a WAV file, against the whole offline pipeline (real processes,
RabbitMQ, Redis, the local models)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.model_files import default_cache_dir
from tests.integration.conftest import delete_topology
from tests.integration.stack import AUTH_TOKEN, WORKERS, Service, Stack, free_port

CHROMIUM = Path("/usr/bin/chromium")
MAX_TEXT_CHARS = 300
"""Lower than the default, so a test can make the gateway refuse a question."""
MAX_AUDIO_SECONDS = 8
"""Lower than the default, so a test can reach it: the page stops recording before."""
SCREENSHOTS = os.environ.get("UHRWERK_SCREENSHOTS", "")
"""A folder to copy every screenshot to (they always go to the test's temp folder)."""


@dataclass
class Pipeline:
    stack: Stack
    port: int
    gateway: Service
    restarts: int = 0

    @property
    def url(self) -> str:
        # 127.0.0.1: a secure context, so the page may use the microphone.
        return f"http://127.0.0.1:{self.port}/"

    def restart_gateway(
        self, between: Callable[[], None] = lambda: None, sig: int = signal.SIGTERM
    ) -> None:
        """Stops the gateway (with `sig`), calls `between`, starts it again on the same port."""
        self.gateway.stop(sig)
        between()
        self.restarts += 1
        name = f"gateway-{self.restarts}"
        self.gateway = self.stack.start(
            "gateway", name, GATEWAY_PORT=str(self.port), GATEWAY_ID="browser"
        )
        wait_healthy(self.gateway, self.port)


def wait_healthy(service: Service, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            if service.process.poll() is not None:
                raise RuntimeError(service.log_path.read_text()) from None
            time.sleep(0.1)
    raise TimeoutError(service.log_path.read_text())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The offline pipeline in German, as `make run` starts it, once per module."""
    prefix = f"web{uuid.uuid4().hex[:10]}"
    stack = Stack(prefix, None, None, tmp_path_factory.mktemp("browser-logs"))
    stack.env |= {
        "STT_LANGUAGE": "de-DE",
        "TTS_LANGUAGE": "de-DE",
        "HOME": str(tmp_path_factory.mktemp("home")),  # no gcloud credentials there
        "MODEL_DIR": str(default_cache_dir()),  # the models assembled by make install
        "TURN_TIMEOUT_S": "90",
        "MAX_TEXT_CHARS": str(MAX_TEXT_CHARS),
        "MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS),
    }
    port = free_port()
    try:
        for worker in WORKERS:
            stack.start_worker(worker, timeout=180)
        gateway = stack.start("gateway", GATEWAY_PORT=str(port), GATEWAY_ID="browser")
        wait_healthy(gateway, port)
        yield Pipeline(stack, port, gateway)
    finally:
        stack.stop_all()
        asyncio.run(delete_topology(prefix, [f"{prefix}.reply.browser"]))


@pytest.fixture(scope="module")
def playwright(pipeline: Pipeline) -> Iterator[Any]:
    """Playwright's driver; after the pipeline is up, stopped before it is torn down
    (its teardown runs asyncio, which must not meet Playwright's loop)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A WAV for the fake microphone: `text` spoken by the local German voice, then
    `silence_ms` of silence (Chromium loops the file; the page's silence detection ends
    the recording; without silence, the speech never stops)."""
    from pydub import AudioSegment

    from shared.settings import TtsSettings
    from tts_worker.local import pick_engine

    folder = tmp_path_factory.mktemp("voice")
    engine = pick_engine(TtsSettings(tts_language="de-DE"))
    made: dict[tuple[str, int], Path] = {}

    def make(text: str, silence_ms: int = 6000) -> Path:
        if (text, silence_ms) not in made:
            speech = engine.speak(text).set_channels(1).set_sample_width(2).set_frame_rate(48000)
            clip = speech + AudioSegment.silent(silence_ms, 48000)
            if silence_ms:
                clip = AudioSegment.silent(300, 48000) + clip
            path = folder / f"{len(made)}.wav"
            clip.export(path, format="wav")
            made[text, silence_ms] = path
        return made[text, silence_ms]

    return make


@dataclass
class Watch:
    """One page in its own browser, and the WebSocket frames it sent and received."""

    page: Any
    shots: Path
    sockets: list[str] = field(default_factory=list)
    frames: list[tuple[str, Any]] = field(default_factory=list)
    """("sent" | "received", dict for JSON, bytes for binary), in order."""
    errors: list[str] = field(default_factory=list)
    """Uncaught exceptions in the page."""
    console: list[str] = field(default_factory=list)
    """The browser console's errors (a refused WebSocket connection logs one)."""

    def hooks(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate("JSON.parse(JSON.stringify(window.uhrwerk))")
        return result

    def state(self) -> str:
        return str(self.page.evaluate("document.body.dataset.state"))

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).text_content() or "").strip()

    def wait(self, expression: str, timeout: float = 30.0) -> Any:
        """Polls `expression` in the page until it is truthy. (Playwright's own
        wait_for_function evaluates strings, which the page's CSP forbids.)"""
        deadline = time.monotonic() + timeout
        while True:
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {expression!r}: state={self.state()}, "
                    f"note={self.text('#note')!r}, hooks={self.hooks()}"
                )
            time.sleep(0.05)

    def wait_state(self, state: str, timeout: float = 30.0) -> None:
        self.wait(f"document.body.dataset.state === {json.dumps(state)}", timeout)

    def sent(self, kind: str | None = None) -> list[Any]:
        return [
            f
            for d, f in self.frames
            if d == "sent" and (kind is None or (isinstance(f, dict) and f.get("type") == kind))
        ]

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [
            f
            for d, f in self.frames
            if d == "received" and isinstance(f, dict) and f.get("type") == kind
        ]

    def screenshot(self, name: str) -> Path:
        """A screenshot, after checking the layout."""
        check_layout(self.page)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=path)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(SCREENSHOTS) / path.name)
        return path


LAYOUT = """() => {
  const box = (el) => {
    const b = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return {
      left: b.left, top: b.top, right: b.right, bottom: b.bottom,
      shown: !el.hidden && style.display !== "none" && style.visibility !== "hidden",
      text: el.textContent.trim(),
      scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
      scrollHeight: el.scrollHeight, clientHeight: el.clientHeight,
      scrollTop: el.scrollTop, classes: [...el.classList],
    };
  };
  const out = {width: innerWidth, height: innerHeight,
               docWidth: document.documentElement.scrollWidth,
               docHeight: document.documentElement.scrollHeight, boxes: {}};
  for (const id of ["status", "talk", "texts", "note", "transcript", "answer", "ask",
                    "question", "send", "new"]) {
    out.boxes[id] = box(document.getElementById(id));
  }
  return out;
}"""

CONTROLS = ("status", "talk", "texts", "ask", "new")


def check_layout(page: Any, round_screen: bool | None = None) -> None:
    """The controls are inside the viewport (and, on a square screen, inside the circle a
    round watch shows), none overlaps another, no line is cut off or ellipsised, and the
    page does not scroll."""
    layout = page.evaluate(LAYOUT)
    width, height = layout["width"], layout["height"]
    boxes = layout["boxes"]
    problems: list[str] = []
    if layout["docWidth"] > width or layout["docHeight"] > height:
        problems.append(f"the page scrolls: {layout['docWidth']}x{layout['docHeight']}")
    if round_screen is None:
        round_screen = abs(width - height) < 2
    radius, cx, cy = min(width, height) / 2, width / 2, height / 2
    for name in CONTROLS:
        b = boxes[name]
        if not b["shown"]:
            problems.append(f"#{name} is hidden")
            continue
        if b["left"] < 0 or b["top"] < 0 or b["right"] > width or b["bottom"] > height:
            problems.append(f"#{name} leaves the viewport: {b}")
        if round_screen:
            for x in (b["left"], b["right"]):
                for y in (b["top"], b["bottom"]):
                    if ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 > radius + 0.5:
                        problems.append(f"#{name} leaves the round screen at ({x:.0f}, {y:.0f})")
    for i, a in enumerate(CONTROLS):
        for b_name in CONTROLS[i + 1 :]:
            p, q = boxes[a], boxes[b_name]
            if (
                p["left"] < q["right"]
                and q["left"] < p["right"]
                and p["top"] < q["bottom"]
                and q["top"] < p["bottom"]
            ):
                problems.append(f"#{a} overlaps #{b_name}")
    # One-line texts must fit; the text area wraps and never scrolls sideways.
    for name in ("status", "new", "texts"):
        b = boxes[name]
        if b["scrollWidth"] > b["clientWidth"] + 1:
            problems.append(f"#{name} is cut off: {b['text']!r}")
    if boxes["talk"]["right"] - boxes["talk"]["left"] < 0.3 * min(width, height):
        problems.append("the talk button is not big")
    # Text scrolled out of the text area (a long answer) is marked by a faded edge.
    texts = boxes["texts"]
    if texts["scrollTop"] > 1 and "more-above" not in texts["classes"]:
        problems.append("text scrolled away above, unmarked")
    if (
        texts["scrollTop"] + texts["clientHeight"] < texts["scrollHeight"] - 1
        and "more-below" not in texts["classes"]
    ):
        problems.append("text cut off below, unmarked")
    # A note (connection, error) is what the person must read: fully in view.
    note = boxes["note"]
    if (
        note["shown"]
        and note["text"]
        and (note["top"] < texts["top"] - 0.5 or note["bottom"] > texts["bottom"] + 0.5)
    ):
        problems.append(f"the note is cut off: {note['text']!r}")
    assert not problems, problems


@pytest.fixture
def open_watch(
    playwright: Any, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Watch]]:
    """Opens the page at watch size in a fresh browser (its own fake microphone),
    paired with the stack's token unless `token` says otherwise (None: unpaired)."""
    browsers: list[Any] = []
    shots = tmp_path_factory.mktemp("screenshots")

    def open_(
        wav: Path | None = None,
        query: str = "",
        deny_microphone: bool = False,
        init_script: str = "",
        size: tuple[int, int] = (454, 454),
        locale: str = "de-DE",
        host: str = "127.0.0.1",
        token: str | None = AUTH_TOKEN,
    ) -> Watch:
        args = ["--autoplay-policy=no-user-gesture-required", "--use-fake-device-for-media-stream"]
        if deny_microphone:
            args.append("--deny-permission-prompts")
        else:
            args.append("--use-fake-ui-for-media-stream")
        if wav is not None:
            args.append(f"--use-file-for-fake-audio-capture={wav}")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        browsers.append(browser)
        context = browser.new_context(
            viewport={"width": size[0], "height": size[1]},
            locale=locale,
            reduced_motion="reduce",  # no colour transitions half-way in a screenshot
            timezone_id="Europe/Berlin",
        )
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        watch = Watch(page, shots)

        def on_socket(socket: Any) -> None:
            watch.sockets.append(socket.url)

            def record(direction: str) -> Callable[[Any], None]:
                def on_frame(payload: str | bytes) -> None:
                    frame = json.loads(payload) if isinstance(payload, str) else payload
                    watch.frames.append((direction, frame))

                return on_frame

            socket.on("framesent", record("sent"))
            socket.on("framereceived", record("received"))

        page.on("websocket", on_socket)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.on(
            "console",
            lambda message: watch.console.append(message.text) if message.type == "error" else None,
        )
        if token is not None and "token=" not in query:
            # Paired as a person pairs a watch: the page opened once with ?token=.
            query += ("&" if query else "?") + urllib.parse.urlencode({"token": token})
        page.goto(pipeline.url.replace("127.0.0.1", host) + query)
        return watch

    yield open_
    for browser in browsers:
        browser.close()
