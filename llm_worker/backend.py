"""What a language model must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared.history import Exchange
from shared.settings import LlmSettings


class LanguageModel(Protocol):
    name: str

    async def answer(self, history: list[Exchange], question: str, deadline: float) -> str:
        """The reply to `question` after `history` (oldest first); `PipelineError` on failure."""
        ...

    async def close(self) -> None: ...


def build(settings: LlmSettings) -> LanguageModel:
    """The backend chosen by LLM_BACKEND."""
    from llm_worker.gemini import Gemini

    return Gemini.from_settings(settings)
