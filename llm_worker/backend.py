"""What a language model must offer; `build` picks the configured one."""

from __future__ import annotations

from typing import Protocol

from shared.history import Exchange
from shared.settings import LlmSettings
from shared.worker import Backend


class LanguageModel(Backend, Protocol):
    @property
    def model_name(self) -> str: ...

    async def answer(self, history: list[Exchange], question: str, deadline: float) -> str:
        """The reply to `question` after `history` (oldest first); `PipelineError` on failure."""
        ...


def choose(settings: LlmSettings) -> str:
    """ "google" or "local": `auto` takes Gemini where an API key is configured."""
    if settings.llm_backend != "auto":
        return settings.llm_backend
    return "google" if settings.api_key else "local"


def build(settings: LlmSettings) -> LanguageModel:
    """The backend chosen by LLM_BACKEND."""
    if choose(settings) == "google":
        from llm_worker.gemini import Gemini

        return Gemini.from_settings(settings)
    from llm_worker.llama import LocalLlama

    return LocalLlama.from_settings(settings)
