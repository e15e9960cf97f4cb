"""What a language model must offer; `build` picks the configured one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import tzinfo
from typing import Protocol

from llm_worker.prompt import Prompt
from shared.settings import LlmSettings
from shared.worker import Backend


class LanguageModel(Backend, Protocol):
    @property
    def model_name(self) -> str: ...

    @property
    def grounded(self) -> bool:
        """Whether it knows current facts (Gemini with Google Search); the others are
        told to say they cannot know the weather or the news."""
        ...

    def stream(self, prompt: Prompt, deadline: float) -> AsyncIterator[str]:
        """The reply to `prompt.question` after its history, piece by piece as it is
        generated; `PipelineError` on failure. Closing the iterator early (barge-in)
        stops the generation."""
        ...

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        """The whole reply (`stream` collected)."""
        ...

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        """The session's next turn will most likely start as `prompt` (its history and
        instruction; the question is not known yet) with the clock in `zone`: a backend
        that can evaluate a prompt ahead of time (the local model) does so while idle.
        The others ignore it."""
        ...


def choose(settings: LlmSettings) -> str:
    """ "google", "local", "openai" or "null": `auto` takes Gemini where an API key is
    configured."""
    if settings.llm_backend != "auto":
        return settings.llm_backend
    return "google" if settings.api_key else "local"


def build(settings: LlmSettings) -> LanguageModel:
    """The backend chosen by LLM_BACKEND."""
    if choose(settings) == "null":
        from llm_worker.null import NullModel

        return NullModel()
    if choose(settings) == "google":
        from llm_worker.gemini import Gemini

        return Gemini.from_settings(settings)
    if choose(settings) == "openai":
        from llm_worker.openai_compat import OpenAICompatible

        return OpenAICompatible.from_settings(settings)
    from llm_worker.llama import LocalLlama

    return LocalLlama.from_settings(settings)
