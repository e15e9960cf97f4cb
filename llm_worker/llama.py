"""Offline language model: llama.cpp (llama-cpp-python) running a GGUF on the CPU.

`LLM_LOCAL_MODEL` names a packaged model by its short name (`shared.model_files.
LLM_MODELS`), or any chat GGUF by its path; empty runs the default packaged model.
The chat template comes from the GGUF file itself. The messages are
`llm_worker.prompt.chat_messages`: the constant instruction and the session's history
first, the clock last, so llama.cpp reuses the evaluated history from one turn to the
next (it keeps the longest common token prefix of the previous call by itself).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

from llama_cpp import Llama

from llm_worker.prompt import Prompt, chat_messages, instruction
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.logging import get_logger
from shared.model_files import DEFAULT_LLM_MODEL, LLM_MODELS, ModelUnavailable, cache_dir, ensure
from shared.settings import LlmSettings

log = get_logger(__name__)

TEMPERATURE = 0.0
"""Greedy: as accurate as 0.3 on bench.answer_quality (42/52 either way with the 1.5B)
without sampling accidents ("Die Hauptstadt von Frankreich ist Berlin." came from
0.3), and the same question with the same history gets the same answer."""
REPEAT_PENALTY = 1.1


def resolve_model(setting: str, model_dir: str) -> tuple[str, Path]:
    """(name, GGUF path) for LLM_LOCAL_MODEL: empty is the default packaged model, a
    short name from LLM_MODELS that packaged model (assembled on first use), anything
    else a path to a GGUF file. A name that is neither is an error naming the choices."""
    wanted = setting.strip() or DEFAULT_LLM_MODEL
    packaged = LLM_MODELS.get(wanted)
    if packaged is not None:
        return wanted, ensure(packaged, cache_dir(model_dir)) / packaged.filename
    path = Path(wanted).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"LLM_LOCAL_MODEL={setting!r} is neither a packaged model "
            f"({', '.join(sorted(LLM_MODELS))}) nor a GGUF file"
        )
    return path.name, path


class LocalLlama:
    name = "local"
    max_concurrency: int | None = 1
    grounded = False

    def __init__(self, llama: Llama, settings: LlmSettings, model: str = "") -> None:
        self._llama = llama
        self._settings = settings
        self._model = model or Path(llama.model_path).name
        self._busy = asyncio.Lock()  # queues turns; one runs at a time
        # llama.cpp contexts are not re-entrant; a thread cannot be cancelled, so the
        # thread in llama.cpp holds this one, even should its turn be abandoned.
        self._context = threading.Lock()

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> LocalLlama:
        model, path = resolve_model(settings.llm_local_model, settings.model_dir)
        llama = Llama(
            model_path=str(path),
            n_ctx=settings.llm_local_context,
            n_threads=settings.llm_threads,
            n_threads_batch=settings.llm_threads,  # llama-cpp-python's default: all cores
            seed=0,
            # Read, not mapped: measured here, a mapping kept the file's pages resident
            # beside llama.cpp's own (repacked) copy of the weights: peak RSS of the
            # 1.5B 1.9 GB mapped, 1.3 GB read (notes/models.md).
            use_mmap=False,
            verbose=False,
        )
        backend = cls(llama, settings, model)
        log.info("local model loaded", model=model, path=str(path))
        backend.warm_up()
        return backend

    @property
    def model_name(self) -> str:
        return self._model

    def warm_up(self) -> None:
        """The first calls are seconds slower; pay that at start, not on a watch. With
        the instruction every turn starts with, so its tokens are evaluated now and
        reused from then on (measured: the first question's first token 2.5 s without,
        0.4 s with)."""
        language = self._settings.assistant_language
        system = instruction(self._settings, self.grounded, language)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "Hallo"}]
        for _ in self.generate(messages, max_tokens=4):
            pass

    def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """The answer to `messages` piece by piece (about a token each) as llama.cpp
        samples them, until done, `deadline` (a time.time() value) or `stop`. Blocking:
        `stream` runs it in a thread; the bench calls it directly."""
        chat: Any = messages  # llama_cpp's TypedDict message types; these are plain dicts
        with self._context:
            chunks: Any = self._llama.create_chat_completion(
                messages=chat,
                max_tokens=max_tokens,
                temperature=TEMPERATURE,
                repeat_penalty=REPEAT_PENALTY,
                stream=True,
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield str(piece)
                    if (stop is not None and stop.is_set()) or (
                        deadline is not None and time.time() > deadline
                    ):
                        break
            finally:
                chunks.close()  # llama.cpp's generator ends here, under the lock

    async def stream(self, prompt: Prompt, deadline: float) -> AsyncGenerator[str, None]:
        """The answer to `prompt` piece by piece, generated in a thread; closing this
        iterator (barge-in, a capped answer) stops the generation within a token."""
        messages = chat_messages(prompt)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for piece in self.generate(
                    messages, self._settings.llm_local_max_tokens, deadline, stop
                ):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        async with self._busy:
            worker = asyncio.ensure_future(asyncio.to_thread(produce))
            got_text = False
            try:
                while True:
                    try:
                        async with asyncio.timeout(max(0.0, deadline - time.time())):
                            item = await queue.get()
                    except TimeoutError:
                        raise PipelineError(
                            ErrorCode.TIMEOUT,
                            ErrorCategory.TRANSIENT,
                            "local model ran past deadline",
                        ) from None
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    got_text = got_text or bool(item.strip())
                    yield item
            finally:
                stop.set()
                # The next turn waits until this one's thread has left llama.cpp.
                await asyncio.shield(worker)
        if not got_text:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "local model gave no text"
            )

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return "".join([piece async for piece in self.stream(prompt, deadline)]).strip()

    async def close(self) -> None:
        with self._context:
            self._llama.close()
