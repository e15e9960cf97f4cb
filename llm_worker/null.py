"""A language model that does no work (LLM_BACKEND=null): one short sentence, streamed
in two pieces. Only for `bench.pipeline`, which measures what the pipeline itself costs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import tzinfo

from llm_worker.prompt import Prompt

PIECES = ("Das ist eine ", "kurze Antwort.")


class NullModel:
    name = "null"
    max_concurrency: int | None = None
    model_name = "null"
    grounded = False

    async def stream(self, prompt: Prompt, deadline: float) -> AsyncIterator[str]:
        for piece in PIECES:
            yield piece

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return "".join(PIECES)

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        return None  # nothing to evaluate ahead of time

    async def close(self) -> None:
        return None
