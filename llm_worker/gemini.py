"""Gemini through google-genai's async client (`client.aio`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import tzinfo

from google import genai
from google.genai import types

from llm_worker.prompt import Prompt, collect, system_with_clock
from shared import google, tracing
from shared.breaker import CircuitBreaker
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.retry import stream_with_retry
from shared.settings import LlmSettings


class MissingApiKey(SystemExit):
    pass


def build_contents(prompt: Prompt) -> list[types.Content]:
    """History as alternating user/model turns, oldest first, then the new question."""
    contents: list[types.Content] = []
    for past in prompt.history:
        contents.append(types.Content(role="user", parts=[types.Part(text=past.user)]))
        contents.append(types.Content(role="model", parts=[types.Part(text=past.model)]))
    contents.append(types.Content(role="user", parts=[types.Part(text=prompt.question)]))
    return contents


class Gemini:
    name = "google"
    max_concurrency: int | None = None

    def __init__(self, client: genai.Client, settings: LlmSettings) -> None:
        self._client = client
        self._settings = settings
        self._breaker = CircuitBreaker.from_settings("gemini", settings)

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> Gemini:
        if not settings.api_key:
            raise MissingApiKey("llm_worker: no Gemini API key: set GEMINI_API_KEY")
        # attempts=1: the SDK would otherwise retry on its own (even refused
        # connections on its aiohttp path); retries are ours and bounded by the deadline.
        http = types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))
        return cls(genai.Client(api_key=settings.api_key, http_options=http), settings)

    @property
    def grounded(self) -> bool:
        return self._settings.gemini_search

    @property
    def model_name(self) -> str:
        return self._settings.gemini_model

    async def stream(self, prompt: Prompt, deadline: float) -> AsyncIterator[str]:
        contents = build_contents(prompt)
        # Grounding with Google Search gives current answers (weather, news, hours).
        tools = (
            [types.Tool(google_search=types.GoogleSearch())]
            if self._settings.gemini_search
            else None
        )

        async def pieces(_: float) -> AsyncIterator[str]:
            config = types.GenerateContentConfig(
                system_instruction=system_with_clock(prompt),
                tools=tools,
                max_output_tokens=self._settings.max_output_tokens,
                http_options=types.HttpOptions(
                    # The whole stream must fit the turn; stalls are bounded per piece.
                    timeout=max(1, int((deadline - time.time()) * 1000)),
                    retry_options=types.HttpRetryOptions(attempts=1),
                ),
            )
            stream = await self._client.aio.models.generate_content_stream(
                model=self._settings.gemini_model, contents=contents, config=config
            )
            reason = None
            got_text = False
            usage = None
            async for chunk in stream:
                usage = chunk.usage_metadata or usage
                if chunk.candidates:
                    reason = chunk.candidates[0].finish_reason or reason
                if chunk.text:
                    got_text = True
                    yield chunk.text
            if usage is not None:
                # On the llm stage's span: a piece Gemini streams is several tokens.
                tracing.annotate(
                    prompt_tokens=usage.prompt_token_count or 0,
                    output_tokens=usage.candidates_token_count or 0,
                )
            if not got_text:
                raise PipelineError(
                    ErrorCode.BACKEND_REJECTED,
                    ErrorCategory.PERMANENT,
                    f"gemini returned no text (finish_reason={reason})",
                )

        async for piece in stream_with_retry(
            pieces,
            classify=google.classify,
            attempts=self._settings.gemini_attempts,
            attempt_timeout_s=self._settings.gemini_call_timeout_s,
            deadline=deadline,
            what="gemini",
            breaker=self._breaker,
        ):
            yield piece

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return await collect(self.stream(prompt, deadline))

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        return None  # nothing to evaluate ahead of time

    async def close(self) -> None:
        await self._client.aio.aclose()
