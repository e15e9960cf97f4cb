"""What every language model is given: the system instruction (with the clock), the
session's history and the question; one shape for Gemini, llama.cpp and OpenAI servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared import language as lang
from shared.history import Exchange
from shared.settings import LlmSettings

ANSWER_IN = {"de": "Antworte auf Deutsch.", "en": "Answer in English."}


@dataclass(frozen=True)
class Prompt:
    system: str
    """The standing instruction (who Uhrwerk is, how to answer, in which language)."""
    clock: str
    """The current date, weekday and time in the watch's zone, phrased for the model:
    "Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr." It changes every
    minute, so backends that cache an evaluated prefix place it where it costs least."""
    history: list[Exchange]
    """The session's earlier exchanges, oldest first."""
    question: str
    """The user's words this turn."""
    language: str = "de-DE"
    """BCP-47 language the answer must be in."""


def instruction(settings: LlmSettings, grounded: bool, language: str) -> str:
    """The standing instruction: who Uhrwerk is and how it answers, for a model without
    live data that it must not invent the weather or the news, and the language."""
    parts = [settings.system_instruction]
    if not grounded:
        parts.append(settings.offline_instruction)
    parts.append(ANSWER_IN.get(lang.base(language), ""))
    return " ".join(p for p in parts if p)


def system_with_clock(prompt: Prompt) -> str:
    """One system text (Gemini's `system_instruction`): the instruction, then the clock."""
    return f"{prompt.system} {prompt.clock}"


def chat_messages(prompt: Prompt, clock_late: bool = True) -> list[dict[str, str]]:
    """OpenAI-style messages (llama.cpp's chat API takes the same): the instruction as
    the system message, the alternating user/assistant turns, then the clock as a
    second system message right before the question.

    The clock goes late because it changes every minute and everything after it must
    be evaluated again: llama.cpp reuses the longest common token prefix of its
    previous call, so with the clock first a turn with 10 remembered turns
    re-evaluated all of them (about 350 tokens, 4.9 s to the first token with the
    1.5B model here) and with it late only the last exchange and the question (about
    80 tokens, 1.1-1.3 s). Of the late placements, a system message was as accurate as
    the clock in the first one and more so than a line before the question (which the
    models also started to read out): `python -m bench.answer_quality --placements`,
    notes/models.md. Chat templates that allow a system message only first (Gemma's,
    some Mistral ones) reject this; Qwen's and Llama 3's render it in place, and
    `clock_late=False` puts it into the first system message for the others."""
    first = prompt.system if clock_late else system_with_clock(prompt)
    messages = [{"role": "system", "content": first}]
    for past in prompt.history:
        messages.append({"role": "user", "content": past.user})
        messages.append({"role": "assistant", "content": past.model})
    if clock_late:
        messages.append({"role": "system", "content": prompt.clock})
    messages.append({"role": "user", "content": prompt.question})
    return messages


async def collect(pieces: AsyncIterator[str]) -> str:
    """A streamed answer as one text (benchmarks, tests, and callers that need it whole)."""
    return "".join([piece async for piece in pieces]).strip()
