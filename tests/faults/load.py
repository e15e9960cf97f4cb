"""Watches under steady load: each asks question after question over its own WebSocket
and records what became of every one of them.

A question ends in exactly one of: answered (the whole answer), an error frame with its
code, or lost (nothing within `lost_after_s`). Anything a watch gets for a question that
has already ended is a duplicate. A connection that closes without the watch closing it
is a drop; the watch then reconnects to the next gateway in its list with its session,
and asks for the answer of the question it was waiting for with `resume`. Those
questions are counted apart: answered through resume, lost with the gateway, or
"unnumbered" when the watch never learnt the turn's id and has nothing to resume.

Watch i starts on gateway i mod 2. Most watches speak protocol 2 (every frame names its
turn); every fourth (i = 2, 6, …, so on the first gateway) speaks the seed's protocol 1,
whose replies are matched to questions by their text (the fake model repeats the
question) and which learns a turn's id only with its answer. The odd ones alternate
typed and spoken questions (a WebM/Opus clip that carries its words for the fake
Speech server).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fakes.audio import webm_opus

WsUrl = Callable[..., str]
"""`ws_url(port, **query)`: a gateway's WebSocket URL with the watch's token."""


@dataclass
class Question:
    """One question and what became of it."""

    watch: int
    protocol: int
    text: str
    spoken: bool
    asked: float
    """time.monotonic() when it was sent."""
    gateway: str
    turn_id: str = ""
    outcome: str = ""
    """"answered", "error", "lost", "resumed" (answered after a reconnect) or
    "lost_with_gateway" (the connection dropped and nothing brought the answer back)."""
    code: str = ""
    """The error's code, for outcome "error"."""
    ended: float | None = None
    sentences: set[int] = field(default_factory=set)
    ended_event: asyncio.Event = field(default_factory=asyncio.Event)

    def end(self, outcome: str, code: str = "") -> None:
        self.outcome, self.code, self.ended = outcome, code, time.monotonic()
        self.ended_event.set()


@dataclass
class Drop:
    watch: int
    at: float
    gateway: str
    close_code: int | None


@dataclass
class Record:
    """Everything the watches saw during one scenario."""

    questions: list[Question] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    """What arrived for a question that had already ended (a description each)."""
    wrong: list[str] = field(default_factory=list)
    """Answers that do not answer the question they came for."""
    drops: list[Drop] = field(default_factory=list)
    late: int = 0
    """Frames for a question already counted as lost."""
    unresumed: list[str] = field(default_factory=list)
    """Questions a dropped connection took with it that `resume` did not bring back."""
    in_flight: int = 0
    most_in_flight: int = 0

    def answered_after(
        self, at: float, counts: Callable[[Question], bool] = lambda q: True
    ) -> Question | None:
        """The first question asked at or after `at` (and that `counts`) to be answered."""
        answered = [
            q
            for q in self.questions
            if q.outcome in ("answered", "resumed")
            and q.asked >= at
            and q.ended is not None
            and counts(q)
        ]
        return min(answered, key=lambda q: q.ended or 0.0, default=None)


@dataclass(frozen=True)
class Gateway:
    name: str
    port: int


@dataclass
class LoadShape:
    """How the watches ask."""

    lost_after_s: float
    """A question with no answer and no error after this long is lost."""
    think_s: tuple[float, float] = (0.2, 0.6)
    """Pause between an answer and the next question (random in this range)."""
    reconnect_s: float = 0.3


class Watch:
    def __init__(
        self,
        index: int,
        gateways: Sequence[Gateway],
        ws_url: WsUrl,
        record: Record,
        shape: LoadShape,
        http: aiohttp.ClientSession,
    ) -> None:
        self.index = index
        self.gateways = gateways
        self.ws_url = ws_url
        self.record = record
        self.shape = shape
        self.http = http
        self.protocol = 1 if index % 4 == 2 else 2
        self.speaks = self.protocol == 2 and index % 2 == 1
        self.session_id = f"faults-watch-{index:03d}-{random.getrandbits(64):016x}"
        self.clip_words = f"Gerät {index} spricht"
        self.clip = webm_opus(self.clip_words, seconds=0.6) if self.speaks else b""
        self.count = 0
        self.current: Question | None = None
        self.by_turn: dict[str, Question] = {}
        self.unresumed: Question | None = None
        """The question a dropped connection took with it, asked for again on the next."""

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            gateway = self.gateways[(self.index + attempt) % len(self.gateways)]
            query = {"session": self.session_id}
            if self.protocol == 2:
                query["protocol"] = "2"
            try:
                ws = await self.http.ws_connect(self.ws_url(gateway.port, **query), heartbeat=None)
            except (aiohttp.ClientError, OSError):
                attempt += 1
                await asyncio.sleep(self.shape.reconnect_s)
                continue
            closed_by_us = await self._converse(ws, gateway, stop)
            if closed_by_us:
                return
            self.record.drops.append(
                Drop(self.index, time.monotonic(), gateway.name, ws.close_code)
            )
            if self.current is not None and self.current.outcome == "":
                self.unresumed = self.current
            attempt += 1
            await asyncio.sleep(self.shape.reconnect_s)
        if self.unresumed is not None and self.unresumed.outcome == "":
            self.unresumed.end("lost_with_gateway")

    async def _converse(
        self, ws: aiohttp.ClientWebSocketResponse, gateway: Gateway, stop: asyncio.Event
    ) -> bool:
        """Ask until `stop`; True if we closed the socket, False if it was dropped."""
        reader = asyncio.create_task(self._read(ws))
        try:
            if self.unresumed is not None:
                question, self.unresumed = self.unresumed, None
                await self._resume(ws, question, reader)
            while not stop.is_set() and not reader.done():
                question = self._next_question(gateway)
                await self._ask(ws, question, reader)
                if reader.done():
                    break
                await asyncio.sleep(random.uniform(*self.shape.think_s))
            if reader.done():
                return False
            await asyncio.sleep(0.5)  # late duplicates still count
            return not reader.done()
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            return False
        finally:
            dropped = reader.done()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if not dropped:
                await ws.close()

    def _next_question(self, gateway: Gateway) -> Question:
        self.count += 1
        spoken = self.speaks and self.count % 2 == 0
        text = self.clip_words if spoken else f"Gerät {self.index} Frage {self.count}"
        return Question(self.index, self.protocol, text, spoken, time.monotonic(), gateway.name)

    async def _ask(
        self, ws: aiohttp.ClientWebSocketResponse, question: Question, reader: asyncio.Task[None]
    ) -> None:
        if question.spoken:
            data = base64.b64encode(self.clip).decode()
            frame = {"type": "audio", "data": data, "format": "webm"}
        else:
            frame = {"type": "text", "message": question.text}
        self.record.questions.append(question)
        self.current = question
        self._enter()
        try:
            await ws.send_str(json.dumps(frame))
            await self._wait(question, reader)
        finally:
            self._leave()

    async def _resume(
        self, ws: aiohttp.ClientWebSocketResponse, question: Question, reader: asyncio.Task[None]
    ) -> None:
        """Ask the new gateway for the answer the dropped connection took with it."""
        if not question.turn_id:
            # Dropped before the gateway numbered it: the watch cannot know whether it was
            # taken, and has nothing to resume (a person asks again).
            question.end("unnumbered")
            return
        self.current = question
        question.gateway += "+resume"
        question.sentences.clear()  # a resumed answer comes again from its first sentence
        await ws.send_str(json.dumps({"type": "resume", "turn_id": question.turn_id}))
        await self._wait(question, reader, at_least_s=3.0)
        if question.outcome == "answered":
            question.outcome = "resumed"
        elif question.outcome == "error" and question.code in ("unknown_type", "unknown_turn"):
            question.outcome = "lost_with_gateway"
        if question.outcome != "resumed":
            self.record.unresumed.append(
                f"watch {self.index}: resume of {question.turn_id}: {question.outcome} "
                f"{question.code}"
            )

    async def _wait(
        self, question: Question, reader: asyncio.Task[None], at_least_s: float = 0.0
    ) -> None:
        remaining = max(question.asked + self.shape.lost_after_s - time.monotonic(), at_least_s)
        waiter = asyncio.ensure_future(question.ended_event.wait())
        await asyncio.wait(
            {waiter, reader}, timeout=max(remaining, 0.0), return_when="FIRST_COMPLETED"
        )
        waiter.cancel()
        if question.outcome == "" and not reader.done():
            question.end("lost")

    def _enter(self) -> None:
        self.record.in_flight += 1
        self.record.most_in_flight = max(self.record.most_in_flight, self.record.in_flight)

    def _leave(self) -> None:
        self.record.in_flight -= 1

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Until the socket closes: every frame to the question it belongs to."""
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                try:
                    self._on_frame(json.loads(message.data))
                except (ValueError, KeyError, TypeError) as exc:
                    self.record.wrong.append(f"watch {self.index}: {exc!r} on {message.data!r}")
            elif message.type is not aiohttp.WSMsgType.BINARY:
                return

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        turn_id = str(frame.get("turn_id", ""))
        if kind in ("hello", "transcript", "reset"):
            return
        if kind == "turn":
            if self.current is not None and not self.current.turn_id:
                self.current.turn_id = turn_id
                self.by_turn[turn_id] = self.current
            return
        question = self._question_for(frame, turn_id)
        if question is None:
            self.record.wrong.append(f"watch {self.index}: frame for no question: {frame}")
            return
        if kind == "sentence":
            seq = int(frame["seq"])
            if seq in question.sentences or question.outcome not in ("", "lost"):
                self._duplicate(question, f"sentence {seq}")
            elif question.outcome == "lost":
                self.record.late += 1
            question.sentences.add(seq)
            return
        if question.outcome == "lost":
            self.record.late += 1  # came after all, too late to count
            return
        if question.outcome:
            self._duplicate(question, str(kind or frame.get("code") or "reply"))
            return
        if "error" in frame:
            question.end("error", str(frame.get("code", "")))
        elif kind == "cancelled":
            question.end("error", "cancelled")
        elif "text_response" in frame:
            if f"Du sagtest: {question.text}." not in str(frame["text_response"]):
                self.record.wrong.append(
                    f"watch {self.index}: {question.text!r} answered {frame['text_response']!r}"
                )
            question.end("answered")
        else:
            self.record.wrong.append(f"watch {self.index}: unexpected frame {frame}")

    def _question_for(self, frame: dict[str, Any], turn_id: str) -> Question | None:
        """Protocol 2 names the turn in every frame; protocol 1's reply names it too, but
        the watch learns it only then: a reply is matched by its text instead."""
        if turn_id in self.by_turn:
            return self.by_turn[turn_id]
        if self.protocol == 1 and "text_response" in frame:
            answer = str(frame["text_response"])
            for question in reversed(self.record.questions):
                if question.watch == self.index and f"Du sagtest: {question.text}." in answer:
                    question.turn_id = question.turn_id or turn_id
                    self.by_turn[turn_id] = question
                    return question
        if self.current is not None and (not turn_id or not self.current.turn_id):
            # An error before the turn was numbered (publish failed, frame refused).
            if turn_id:
                self.current.turn_id = turn_id
                self.by_turn[turn_id] = self.current
            return self.current
        return None

    def _duplicate(self, question: Question, what: str) -> None:
        self.record.duplicates.append(
            f"watch {self.index} turn {question.turn_id}: {what} after {question.outcome}"
        )


@dataclass
class Figures:
    """One scenario's numbers, as the README's table shows them."""

    scenario: str
    watches: int
    turns: int
    answered: int
    errors: Counter[str]
    lost: int
    lost_with_gateway: int
    """Dropped with a killed gateway and not brought back by `resume`."""
    unnumbered: int
    """Dropped with a killed gateway before it had a turn id: nothing to resume."""
    unnumbered_protocol_1: int
    """Of those, asked in protocol 1, which learns a turn's id only with its answer."""
    resumed: int
    duplicates: int
    wrong: int
    late: int
    drops: int
    most_in_flight: int
    recovery_s: float | None
    seconds: float
    during: tuple[str, float] | None = None
    """What a question asked on a new connection during an outage got (answered or the
    error's code), and the seconds it took."""
    notes: list[str] = field(default_factory=list)
    """What the duplicates, wrong answers and drops were (for a failing test's message)."""

    @staticmethod
    def of(
        scenario: str,
        watches: int,
        record: Record,
        recovery_s: float | None,
        seconds: float,
        during: tuple[str, float] | None = None,
    ) -> Figures:
        outcomes = Counter(q.outcome for q in record.questions)
        return Figures(
            scenario=scenario,
            watches=watches,
            turns=len(record.questions),
            answered=outcomes["answered"] + outcomes["resumed"],
            errors=Counter(q.code for q in record.questions if q.outcome == "error"),
            lost=outcomes["lost"],
            lost_with_gateway=outcomes["lost_with_gateway"],
            unnumbered=outcomes["unnumbered"],
            unnumbered_protocol_1=sum(
                1 for q in record.questions if q.outcome == "unnumbered" and q.protocol == 1
            ),
            resumed=outcomes["resumed"],
            duplicates=len(record.duplicates),
            wrong=len(record.wrong),
            late=record.late,
            drops=len(record.drops),
            most_in_flight=record.most_in_flight,
            recovery_s=recovery_s,
            seconds=seconds,
            during=during,
            notes=[
                *record.duplicates,
                *record.wrong,
                *record.unresumed,
                *(f"watch {d.watch} dropped by {d.gateway} ({d.close_code})" for d in record.drops),
            ],
        )

    def unanswered(self) -> int:
        """Questions without any outcome: must be none."""
        return (
            self.turns
            - self.answered
            - sum(self.errors.values())
            - self.lost
            - self.lost_with_gateway
            - self.unnumbered
        )

    def errors_text(self) -> str:
        return ", ".join(f"{code} {n}" for code, n in sorted(self.errors.items())) or "—"


async def run_load(
    gateways: Sequence[Gateway],
    ws_url: WsUrl,
    watches: int,
    shape: LoadShape,
    record: Record,
    stop: asyncio.Event,
) -> None:
    """Watches asking until `stop` is set; returns when each has its last answer."""
    async with aiohttp.ClientSession() as http:
        crowd = [Watch(i, gateways, ws_url, record, shape, http) for i in range(watches)]
        await asyncio.gather(*(watch.run(stop) for watch in crowd))
