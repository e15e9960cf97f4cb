"""What every language model is given: the system instruction (with the clock), the
session's history and the question; one shape for Gemini, llama.cpp and OpenAI servers.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.history import Exchange


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


def system_with_clock(prompt: Prompt) -> str:
    return f"{prompt.system} {prompt.clock}"


def chat_messages(prompt: Prompt) -> list[dict[str, str]]:
    """OpenAI-style messages (llama.cpp's chat API takes the same):
    system, then alternating user/assistant turns, then the question."""
    messages = [{"role": "system", "content": system_with_clock(prompt)}]
    for past in prompt.history:
        messages.append({"role": "user", "content": past.user})
        messages.append({"role": "assistant", "content": past.model})
    messages.append({"role": "user", "content": prompt.question})
    return messages
