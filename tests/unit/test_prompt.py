"""Where the clock goes in the messages each backend gets."""

from __future__ import annotations

from llm_worker.prompt import Prompt, chat_messages, system_with_clock
from shared.history import Exchange

PROMPT = Prompt(
    system="Antworte kurz.",
    clock="Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr.",
    history=[Exchange("t", "Ich heiße Ada.", "Hallo Ada!", 0.0)],
    question="Wie heiße ich?",
)


def test_the_local_model_gets_the_clock_late_so_the_history_stays_cached() -> None:
    assert chat_messages(PROMPT) == [
        {"role": "system", "content": "Antworte kurz."},
        {"role": "user", "content": "Ich heiße Ada."},
        {"role": "assistant", "content": "Hallo Ada!"},
        {"role": "system", "content": PROMPT.clock},
        {"role": "user", "content": "Wie heiße ich?"},
    ]


def test_other_servers_get_it_in_the_first_system_message() -> None:
    messages = chat_messages(PROMPT, clock_late=False)
    assert messages[0] == {"role": "system", "content": system_with_clock(PROMPT)}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert system_with_clock(PROMPT) == f"Antworte kurz. {PROMPT.clock}"
