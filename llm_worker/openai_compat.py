"""Any OpenAI-compatible chat-completions server: Ollama, llama.cpp's server, vLLM,
LM Studio, or OpenAI itself (`LLM_BACKEND=openai`).

The answer is streamed piece by piece; each piece must come within the per-attempt
timeout of the last, and the whole stream within the turn's deadline. The
SDK's own retries are off; ours classify its errors like Google's: connection
failures, timeouts, 408/409/429 and 5xx are retried, other statuses end the turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import tzinfo
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

import openai
from openai import AsyncOpenAI

from llm_worker.prompt import Prompt, chat_messages, collect
from shared.breaker import CircuitBreaker
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.retry import stream_with_retry
from shared.settings import LlmSettings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

log = get_logger(__name__)

TRANSIENT_HTTP = frozenset({408, 409, 429})
TEMPERATURE = 0.3  # as the local model: short factual answers, little wandering


def classify(exc: BaseException) -> ErrorCategory:
    """Transient (retry) or permanent (give up) for an OpenAI client failure."""
    if isinstance(exc, PipelineError):
        return exc.category
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return ErrorCategory.TRANSIENT
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        transient = status in TRANSIENT_HTTP or status >= 500
        return ErrorCategory.TRANSIENT if transient else ErrorCategory.PERMANENT
    if isinstance(exc, TimeoutError | ConnectionError) or is_transport_error(exc):
        return ErrorCategory.TRANSIENT  # e.g. the server went away in mid-stream
    return ErrorCategory.PERMANENT  # an error event in the stream, a malformed response


def is_transport_error(exc: BaseException) -> bool:
    """A connection-level failure of the SDK's HTTP client (httpx, or httpx2 in openai
    3.x), which reaches us unwrapped when it happens while the stream is read."""
    return any(
        cls.__name__ == "TransportError" and cls.__module__.startswith("httpx")
        for cls in type(exc).__mro__
    )


def redact_url(url: str) -> str:
    """The URL without any user:password part, for logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class OpenAICompatible:
    name = "openai"
    max_concurrency: int | None = None  # the server queues or batches; PREFETCH decides
    grounded = False  # no search: told it cannot know the weather or the news

    def __init__(self, client: AsyncOpenAI, settings: LlmSettings) -> None:
        self._client = client
        self._settings = settings
        self._model = settings.openai_model
        self._choosing = asyncio.Lock()
        self._breaker = CircuitBreaker.from_settings("openai", settings)

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> OpenAICompatible:
        client = AsyncOpenAI(
            base_url=settings.openai_base_url,
            # The SDK refuses an empty key; local servers ignore it.
            api_key=settings.openai_api_key or "none",
            max_retries=0,  # retries are ours, bounded by the turn's deadline
            timeout=settings.openai_call_timeout_s,
        )
        log.info(
            "openai-compatible server",
            base_url=redact_url(settings.openai_base_url),
            model=settings.openai_model or "(first listed)",
        )
        return cls(client, settings)

    @property
    def model_name(self) -> str:
        return self._model or "(first the server lists)"

    async def _chosen_model(self, timeout_s: float) -> str:
        """OPENAI_MODEL, or the first model the server lists, asked once."""
        if self._model:
            return self._model
        async with self._choosing:
            if not self._model:
                page = await self._client.models.list(timeout=timeout_s)
                if not page.data:
                    raise PipelineError(
                        ErrorCode.BACKEND_REJECTED,
                        ErrorCategory.PERMANENT,
                        "openai: the server lists no model; set OPENAI_MODEL",
                    )
                self._model = page.data[0].id
                log.info("openai model chosen", model=self._model, listed=len(page.data))
        return self._model

    async def stream(self, prompt: Prompt, deadline: float) -> AsyncIterator[str]:
        # The clock in the first system message: a server's chat template may accept a
        # system message only there (Gemma's, some Mistral ones), and a server with a
        # GPU re-reads a short history quickly.
        messages = cast("list[ChatCompletionMessageParam]", chat_messages(prompt, clock_late=False))

        async def pieces(timeout_s: float) -> AsyncIterator[str]:
            model = await self._chosen_model(timeout_s)
            stream = await self._client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=self._settings.max_output_tokens,
                temperature=TEMPERATURE,
                stream=True,
                timeout=max(0.1, deadline - time.time()),
            )
            finish: str | None = None
            got_text = False
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            got_text = True
                            yield choice.delta.content
                        finish = choice.finish_reason or finish
            if not got_text:
                raise PipelineError(
                    ErrorCode.BACKEND_REJECTED,
                    ErrorCategory.PERMANENT,
                    f"openai: {model} returned no text (finish_reason={finish})",
                )

        async for piece in stream_with_retry(
            pieces,
            classify=classify,
            attempts=self._settings.openai_attempts,
            attempt_timeout_s=self._settings.openai_call_timeout_s,
            deadline=deadline,
            what="openai",
            breaker=self._breaker,
        ):
            yield piece

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return await collect(self.stream(prompt, deadline))

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        return None  # nothing to evaluate ahead of time

    async def close(self) -> None:
        await self._client.close()
