"""Offline language model: llama.cpp (llama-cpp-python) running a GGUF on the CPU.

`LLM_LOCAL_MODEL` names a packaged model by its short name (`shared.model_files.
LLM_MODELS`), or any chat GGUF by its path; empty runs the default packaged model.
The chat template comes from the GGUF file itself. The messages are
`llm_worker.prompt.chat_messages`: the constant instruction and the session's history
first, the clock last, so llama.cpp reuses the evaluated history from one turn to the
next (it keeps the longest common token prefix of the previous call by itself).

Two things keep that reuse real for a session that goes on (the watch keeps its
session): the model sees a window of the history that moves on in jumps
(`LLM_LOCAL_HISTORY_TURNS`, `HistoryWindow`), not one exchange a turn, and after each
answer the session's next prompt up to its question (the history with this exchange,
then the clock) is evaluated while the model is idle (`expect`), again when the
minute changes, for `LLM_PREWARM_S`. Measured with six follow-up questions, each a
minute after the last: first token 1.9-2.5 s without, 0.5-0.7 s with (70-90 tokens
evaluated ahead, 2-2.5 s of idle time each).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from llm_worker import clock
from llm_worker.prompt import Prompt, chat_messages, instruction
from shared.errors import ErrorCategory, ErrorCode, PipelineError
from shared.history import Exchange
from shared.logging import get_logger
from shared.model_files import DEFAULT_LLM_MODEL, LLM_MODELS, ModelUnavailable, cache_dir, ensure
from shared.settings import LlmSettings

log = get_logger(__name__)

TEMPERATURE = 0.0
"""Greedy: as accurate as 0.3 on bench.answer_quality (42/52 either way with the 1.5B)
without sampling accidents ("Die Hauptstadt von Frankreich ist Berlin." came from
0.3), and the same question with the same history gets the same answer."""
REPEAT_PENALTY = 1.1
PREPARE_CHUNK = 16
"""Tokens per llama.cpp call while evaluating ahead: a turn that arrives meanwhile waits
for at most one call (about 0.5 s here). Batches of 16 cost 31 ms a token on 2 cores,
of 8 (oddly) 58, of 4 43."""
PREPARE_WHEN_IDLE_S = 1.5
"""Evaluate ahead only once no turn has run for this long: a watch plays its answer
for longer, and a turn already on its way (another watch's question in recognition,
which needs the same cores) is not slowed by it. Measured: starting at once, new
sessions asked back to back got their first audio 1.2 s later (stt 0.56 → 0.85 s)."""
QUESTION_MARK = "\x00"
"""Stands in for the unknown question when the next prompt is rendered; the text
before it is what is evaluated ahead."""


class HistoryWindow:
    """Which of a session's exchanges the local model sees: all of them up to `turns`;
    beyond that the window keeps its first exchange until it would hold more than
    `turns`, then jumps on to the newest `turns // 2`. Moving one exchange a turn would
    change the start of the prompt every turn, and llama.cpp would evaluate the whole
    history again (about 2,000 tokens, a minute here, at the history's cap of 20)."""

    def __init__(self, turns: int) -> None:
        self._turns = turns
        self._first = ""  # turn id the window starts at, for the session seen last

    def __call__(self, history: list[Exchange]) -> list[Exchange]:
        if self._turns <= 0:
            return []
        ids = [e.turn_id for e in history]
        start = ids.index(self._first) if self._first in ids else 0
        if len(history) - start > self._turns:
            start = len(history) - max(1, self._turns // 2)
        self._first = ids[start] if start < len(ids) else ""
        return history[start:]


@dataclass
class Expected:
    """The session's next prompt as far as it is known (`LocalLlama.expect`)."""

    prompt: Prompt
    zone: tzinfo
    at: float
    """time.monotonic() of the turn that said so."""


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
        self._window = HistoryWindow(settings.llm_local_history_turns)
        self._turns = 0  # turns waiting or running
        self._idle_since = time.monotonic()  # when the last turn left the model
        self._wanted = threading.Event()  # set while there are: evaluating ahead stops
        self._expected: Expected | None = None
        self._expect_changed = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        # The chat template from the GGUF, as llama-cpp-python renders it: what `expect`
        # evaluates must be token for token what `stream` sends. Without one (llama.cpp
        # then falls back to a format of its own), nothing is evaluated ahead.
        self._template = llama.metadata.get("tokenizer.chat_template", "")
        self._formatter = Jinja2ChatFormatter(
            template=self._template,
            eos_token=_token_text(llama, llama.token_eos()),
            bos_token=_token_text(llama, llama.token_bos()),
        )

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
        messages = chat_messages(replace(prompt, history=self._window(prompt.history)))
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

        self._turns += 1
        self._wanted.set()  # evaluating ahead gives way within a chunk
        try:
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
        finally:
            self._turns -= 1
            if not self._turns:
                self._wanted.clear()
                self._idle_since = time.monotonic()
        if not got_text:
            raise PipelineError(
                ErrorCode.BACKEND_REJECTED, ErrorCategory.PERMANENT, "local model gave no text"
            )

    async def answer(self, prompt: Prompt, deadline: float) -> str:
        return "".join([piece async for piece in self.stream(prompt, deadline)]).strip()

    def expect(self, prompt: Prompt, zone: tzinfo) -> None:
        """Evaluate the session's next prompt up to its question while idle, and keep it
        evaluated (the clock re-evaluated when the minute changes) for LLM_PREWARM_S."""
        if self._settings.llm_prewarm_s <= 0 or not self._template:
            return
        self._expected = Expected(prompt, zone, time.monotonic())
        loop = asyncio.get_running_loop()
        if self._keeper is None or self._keeper.done() or self._keeper.get_loop() is not loop:
            self._expect_changed = asyncio.Event()  # of this loop (tests run several)
            self._keeper = loop.create_task(self._keep_prepared())
        else:
            self._expect_changed.set()

    async def _keep_prepared(self) -> None:
        """Evaluates the expected prompt when told of it and at every new minute (whose
        clock it then carries), while one is expected; never while a turn runs."""
        while self._expected is not None:
            expected = self._expected
            if time.monotonic() - expected.at > self._settings.llm_prewarm_s:
                self._expected = None
                break
            self._expect_changed.clear()
            idle = time.monotonic() - self._idle_since
            if not self._turns and idle >= PREPARE_WHEN_IDLE_S:
                try:
                    async with self._busy:
                        tokens = self._prefix(expected.prompt, datetime.now(expected.zone))
                        evaluated = await asyncio.to_thread(self._evaluate, tokens)
                except Exception as exc:  # an optimisation: turns go on without it
                    log.warning("evaluating ahead failed, stopped", error=repr(exc))
                    self._expected = None
                    break
                if evaluated:
                    log.debug("next prompt evaluated ahead", tokens=evaluated)
            pause = 60.2 - datetime.now(expected.zone).second  # to the next minute's clock
            if not self._turns and idle < PREPARE_WHEN_IDLE_S:
                pause = PREPARE_WHEN_IDLE_S - idle
            # A turn that ends says what comes next (`expect`) and wakes this early.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._expect_changed.wait()

    def _prefix(self, prompt: Prompt, now: datetime) -> list[int]:
        """The tokens of `prompt` as `stream` would send it at `now`, up to where its
        question begins."""
        ahead = replace(
            prompt,
            clock=clock.describe(now, prompt.language),
            history=self._window(prompt.history),
            question=QUESTION_MARK,
        )
        messages: Any = chat_messages(ahead)  # plain dicts, as in `generate`
        rendered = self._formatter(messages=messages).prompt
        text = rendered[: rendered.index(QUESTION_MARK)]
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _evaluate(self, tokens: list[int]) -> int:
        """Evaluate `tokens` after the longest prefix llama.cpp already holds, in chunks,
        until done or a turn wants the context; the number of tokens evaluated."""
        llama = self._llama
        with self._context:
            held = llama.input_ids[: llama.n_tokens].tolist()
            keep = 0
            for have, want in zip(held, tokens, strict=False):
                if have != want:
                    break
                keep += 1
            llama.n_tokens = keep  # the next eval drops the cache after it
            done = keep
            while done < len(tokens) and not self._wanted.is_set():
                llama.eval(tokens[done : done + PREPARE_CHUNK])
                done = min(len(tokens), done + PREPARE_CHUNK)
        return done - keep

    async def close(self) -> None:
        self._expected = None
        self._wanted.set()  # an evaluation ahead stops within a chunk, not at its end
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        with self._context:
            self._llama.close()


def _token_text(llama: Llama, token: int) -> str:
    """A special token's text ("<|im_end|>"), for rendering the chat template."""
    return llama._model.token_get_text(token) if token >= 0 else ""
