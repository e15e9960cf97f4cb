"""Offline language model: llama.cpp (llama-cpp-python) running a GGUF on the CPU.

The chat template comes from the GGUF file itself, so any instruction-tuned GGUF
works (`LLM_LOCAL_MODEL`); history is applied as on the Gemini path: the system
instruction, then alternating user/assistant turns, then the question.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llama_cpp import Llama

from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import Exchange
from shared.logging import get_logger
from shared.model_files import QWEN_CODER_05B, cache_dir, ensure
from shared.retry import run_local
from shared.settings import LlmSettings

log = get_logger(__name__)


def build_messages(system: str, history: list[Exchange], question: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}]
    for past in history:
        messages.append({"role": "user", "content": past.user})
        messages.append({"role": "assistant", "content": past.model})
    messages.append({"role": "user", "content": question})
    return messages


class LocalLlama:
    name = "local"
    max_concurrency: int | None = 1

    def __init__(self, llama: Llama, settings: LlmSettings) -> None:
        self._llama = llama
        self._settings = settings
        self._busy = asyncio.Lock()  # llama.cpp contexts are not re-entrant

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> LocalLlama:
        path = (
            Path(settings.llm_local_model)
            if settings.llm_local_model
            else ensure(QWEN_CODER_05B, cache_dir(settings.model_dir)) / QWEN_CODER_05B.filename
        )
        llama = Llama(
            model_path=str(path),
            n_ctx=settings.llm_local_context,
            n_threads=settings.llm_threads,
            seed=0,  # same question, same history: same answer
            verbose=False,
        )
        backend = cls(llama, settings)
        backend.warm_up()
        return backend

    @property
    def model_name(self) -> str:
        return Path(self._llama.model_path).name

    def warm_up(self) -> None:
        """The first calls are seconds slower; pay that at start, not on a watch."""
        self._generate([{"role": "user", "content": "Hallo"}], max_tokens=4)

    def _generate(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        chat: Any = messages  # llama_cpp's TypedDict message types; these are plain dicts
        result: Any = self._llama.create_chat_completion(
            messages=chat,
            max_tokens=max_tokens,
            temperature=0.3,
            repeat_penalty=1.1,
        )
        return str(result["choices"][0]["message"]["content"] or "").strip()

    async def answer(self, history: list[Exchange], question: str, deadline: float) -> str:
        messages = build_messages(self._settings.system_instruction, history, question)
        text = await run_local(
            self._generate,
            messages,
            self._settings.llm_local_max_tokens,
            lock=self._busy,
            deadline=deadline,
            what="local model",
        )
        if not text:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "local model gave no text"
            )
        return text

    async def close(self) -> None:
        self._llama.close()
