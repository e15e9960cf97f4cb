"""Which packaged model answers best, and fast enough: accuracy and latency per model.

    python -m bench.answer_quality [--models a,b] [--limit N] [--placements] [--sessions]

Runs a German evaluation set (facts, arithmetic, everyday knowledge, units, the
date, two-turn memory, and a few English questions) against every packaged chat
model (`shared.model_files.LLM_MODELS`; `--models` takes short names or GGUF paths),
through the real `LocalLlama` backend and the real prompt (`chat_messages`, the
system instruction built as llm_worker's handler builds it, a fixed clock sentence).
Each model runs in its own process, so its peak memory is its own. The baseline in
the same run is the 0.5B model, the default before this measurement.

Per model: accuracy (an answer is right when it contains the words of each group of
alternatives), answers in another language than the question's, time to the first
token and to the first sentence (p50, what the voice waits for), tokens/s, the time
to the whole answer, and the peak RSS. Always also: the first-token latency of the
11th turn of a conversation with 10 remembered turns, the previous turn evaluated
just before with the clock one minute earlier, for each placement of the clock.

`--placements` also runs the whole set with each placement (accuracy per placement);
`--sessions` measures three interleaved conversations with and without llama.cpp's
LlamaRAMCache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from llm_worker import clock
from llm_worker.prompt import Prompt, chat_messages, instruction
from shared import language as lang
from shared.history import Exchange
from shared.model_files import LLM_MODELS
from shared.settings import LlmSettings

BASELINE = "qwen2.5-coder-0.5b"
NOW = datetime(2026, 11, 27, 9, 41)
"""The fixed clock: "Heute ist Freitag, der 27. November 2026, es ist 9:41 Uhr."."""
CACHE_BYTES = 3 << 30
"""LlamaRAMCache's capacity in the `--sessions` study: room for the three sessions'
states (each holds llama.cpp's whole state and a copy of the logits buffer)."""


@dataclass(frozen=True)
class Case:
    question: str
    expect: tuple[tuple[str, ...], ...]
    """Every group must occur in the answer, any one of its alternatives (whole words,
    case-insensitive; "1.000" counts as "1000"; "afrika*" a word's start), and the answer
    must be in the question's language."""
    kind: str
    language: str = "de-DE"
    history: tuple[tuple[str, str], ...] = ()
    """(user, assistant) exchanges before the question."""


def de(
    question: str, kind: str, *alternatives: str, history: tuple[tuple[str, str], ...] = ()
) -> Case:
    return Case(question, (alternatives,), kind, "de-DE", history)


def en(question: str, *alternatives: str) -> Case:
    return Case(question, (alternatives,), "english", "en-US")


CASES = [
    # facts
    de("Was ist die Hauptstadt von Frankreich?", "fact", "paris"),
    de("Wie heißt die Hauptstadt von Spanien?", "fact", "madrid"),
    de("Was ist die Hauptstadt von Italien?", "fact", "rom"),
    de("Auf welchem Kontinent liegt Ägypten?", "fact", "afrika*"),
    de("Wer hat die Relativitätstheorie entwickelt?", "fact", "einstein"),
    de("Wer hat den Faust geschrieben?", "fact", "goethe"),
    de("Wie viele Bundesländer hat Deutschland?", "fact", "16", "sechzehn"),
    de("Welcher Planet ist der Sonne am nächsten?", "fact", "merkur"),
    de("Wie heißt der größte Planet unseres Sonnensystems?", "fact", "jupiter"),
    de("In welchem Jahr fiel die Berliner Mauer?", "fact", "1989"),
    de("Welches Gas brauchen Menschen zum Atmen?", "fact", "sauerstoff", "o2"),
    de("Was ist das chemische Symbol für Gold?", "fact", "au"),
    de("In welchem Land steht der Eiffelturm?", "fact", "frankreich", "paris"),
    de("Welche Sprache spricht man in Österreich?", "fact", "deutsch"),
    de("Wer hat die Mona Lisa gemalt?", "fact", "leonardo", "vinci"),
    de("Welcher Fluss fließt durch Köln?", "fact", "rhein"),
    # arithmetic
    de("Was ist sieben mal acht?", "arithmetic", "56", "sechsundfünfzig"),
    de("Wie viel ist 15 plus 27?", "arithmetic", "42", "zweiundvierzig"),
    de("Was ist 100 geteilt durch 4?", "arithmetic", "25", "fünfundzwanzig"),
    de("Wie viel ist 12 minus 5?", "arithmetic", "7", "sieben"),
    de("Was ist die Hälfte von 50?", "arithmetic", "25", "fünfundzwanzig"),
    de("Was ist neun mal neun?", "arithmetic", "81", "einundachtzig"),
    de("Wie viel sind 20 Prozent von 200?", "arithmetic", "40", "vierzig"),
    # units
    de("Wie viele Meter hat ein Kilometer?", "units", "1000", "tausend", "eintausend"),
    de("Wie viele Minuten hat eine Stunde?", "units", "60", "sechzig"),
    de("Wie viele Gramm sind ein Kilogramm?", "units", "1000", "tausend", "eintausend"),
    de("Wie viele Zentimeter hat ein Meter?", "units", "100", "hundert", "einhundert"),
    de("Wie viele Stunden hat ein Tag?", "units", "24", "vierundzwanzig"),
    de("Bei wie viel Grad Celsius kocht Wasser?", "units", "100", "hundert", "einhundert"),
    de("Bei wie viel Grad Celsius gefriert Wasser?", "units", "0", "null"),
    de("Wie viele Monate hat ein Jahr?", "units", "12", "zwölf"),
    # everyday knowledge
    de("Wie viele Beine hat eine Spinne?", "everyday", "8", "acht"),
    de("Welches Tier nennt man den König der Tiere?", "everyday", "löwe*"),
    de("Was ist das Gegenteil von heiß?", "everyday", "kalt*"),
    de("Welche Farbe hat eine reife Banane?", "everyday", "gelb*"),
    de("Wie viele Tage hat ein Schaltjahr?", "everyday", "366"),
    de("Welcher Wochentag kommt nach Montag?", "everyday", "dienstag"),
    de("Welches Organ pumpt das Blut durch den Körper?", "everyday", "herz*"),
    de("Welche Farbe entsteht, wenn man Blau und Gelb mischt?", "everyday", "grün*"),
    # the date (from the clock sentence)
    de("Welche Jahreszeit haben wir gerade?", "clock", "herbst"),
    de("Ich bin 1990 geboren. Wie alt werde ich dieses Jahr?", "clock", "36", "sechsunddreißig"),
    de("Welcher Monat ist gerade?", "clock", "november"),
    # two-turn memory
    de(
        "Wie heiße ich?",
        "memory",
        "jonas",
        history=(("Ich heiße Jonas.", "Hallo Jonas, schön dich kennenzulernen!"),),
    ),
    de(
        "Was ist mein Lieblingsessen?",
        "memory",
        "lasagne",
        history=(("Mein Lieblingsessen ist Lasagne.", "Lasagne ist wirklich lecker!"),),
    ),
    de(
        "In welcher Stadt wohne ich?",
        "memory",
        "hamburg",
        history=(("Ich wohne in Hamburg.", "Hamburg ist eine schöne Stadt am Wasser."),),
    ),
    de(
        "Wie heißt meine Katze?",
        "memory",
        "minka",
        history=(("Meine Katze heißt Minka.", "Was für ein schöner Name für eine Katze!"),),
    ),
    de(
        "Wie viele Kinder habe ich?",
        "memory",
        "3",
        "drei",
        history=(("Ich habe drei Kinder.", "Drei Kinder halten einen sicher auf Trab!"),),
    ),
    # English questions: answered in English?
    en("What is the capital of Germany?", "berlin"),
    en("How many days are there in a week?", "7", "seven"),
    en("Who wrote Romeo and Juliet?", "shakespeare"),
    en("What color is the sky on a clear day?", "blue"),
    en("What is five plus three?", "8", "eight"),
]

CONVERSATION = [
    ("Ich plane einen Ausflug an die Ostsee.", "Schöne Idee! Die Ostsee ist im Herbst ruhig."),
    ("Was sollte ich einpacken?", "Warme Jacke, feste Schuhe und eine Thermoskanne Tee."),
    ("Wie lange fährt man von Berlin nach Rostock?", "Mit dem Auto etwa zweieinhalb Stunden."),
    ("Und mit dem Zug?", "Mit dem Regionalexpress ungefähr zweieinhalb bis drei Stunden."),
    ("Gibt es dort einen Strand?", "Ja, in Warnemünde gibt es einen breiten Sandstrand."),
    ("Kann man im November baden?", "Das Wasser hat dann nur etwa acht Grad, eher nicht."),
    ("Was kann man stattdessen machen?", "Am Strand spazieren, den Leuchtturm besuchen."),
    ("Ist der Leuchtturm offen?", "Das weiß ich nicht sicher, frag am besten vor Ort."),
    ("Wo kann man gut Fisch essen?", "Am Alten Strom gibt es viele Fischbuden."),
    ("Was ist ein Fischbrötchen?", "Ein Brötchen mit Hering, Matjes oder Bismarckhering."),
    ("Welcher Fisch ist typisch?", "Hering ist an der Ostsee der klassische Fisch."),
    ("Wie spricht man Warnemünde aus?", "Warne-münde, mit Betonung auf dem ü."),
    ("Wie alt ist Rostock?", "Rostock ist über achthundert Jahre alt."),
    ("Hat Rostock eine Universität?", "Ja, eine der ältesten in Nordeuropa, von 1419."),
    ("Was kostet ein Fischbrötchen ungefähr?", "Meist zwischen drei und fünf Euro."),
    ("Danke, das hilft mir.", "Gern, viel Spaß an der Ostsee!"),
    ("Wie wird das Wetter dort am Wochenende?", "Das kann ich ohne Internet nicht wissen."),
    ("Welche Jacke empfiehlst du?", "Eine winddichte, wasserfeste Jacke mit Kapuze."),
]
"""A session's memory: sliding windows of 10 of these, then the next as the question."""


# -- scoring ------------------------------------------------------------------------

THOUSANDS = re.compile(r"(?<=\d)[.\s'\u2019](?=\d{3}(?!\d))")
SENTENCE_END = re.compile(r"(?<!\d)[.!?](\s)")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def normalised(text: str) -> str:
    return THOUSANDS.sub("", text.lower())


def contains_word(text: str, word: str) -> bool:
    """`word` as a whole word; "afrika*" also as the start of one ("afrikanischen")."""
    tail = "" if word.endswith("*") else r"(?!\w)"
    return re.search(rf"(?<!\w){re.escape(word.rstrip('*'))}{tail}", text) is not None


def is_right(answer: str, case: Case) -> bool:
    text = normalised(answer)
    return all(any(contains_word(text, alt) for alt in group) for group in case.expect)


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


OTHER_LANGUAGES = {
    "es": words("el la los las es un una de del que y en por para con capital"),
    "fr": words("le la les est un une de du des et en pour avec c'est"),
    "it": words("il lo la gli le è un una di del che e per con"),
}


def answer_language(answer: str) -> str:
    """ "de", "en", "es", "fr", "it", "zh" (any CJK script) or "" (cannot tell), by
    counting function words; German and English as llm_worker tells typed text apart."""
    if CJK.search(answer):
        return "zh"
    words = re.findall(r"[a-zäöüßàâçéèêëîïôûùáíóúñ']+", answer.lower())
    scores = {code: sum(w in hints for w in words) for code, hints in OTHER_LANGUAGES.items()}
    scores["de"] = sum(w in lang.GERMAN_HINTS for w in words) + 2 * sum(
        c in "äöüß" for c in answer.lower()
    )
    scores["en"] = sum(w in lang.ENGLISH_HINTS for w in words)
    best = max(scores, key=lambda code: scores[code])
    runner_up = max(v for code, v in scores.items() if code != best)
    return best if scores[best] > runner_up else ""


def wrong_language(answer: str, language: str) -> bool:
    """In another language than the question's (Qwen slips into Spanish or Chinese)."""
    found = answer_language(answer)
    return found not in ("", lang.base(language))


def mentions_clock(answer: str) -> bool:
    return "9:41" in answer or "9.41" in answer or "neun uhr" in answer.lower()


# -- prompts ------------------------------------------------------------------------


def exchanges(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[Exchange]:
    return [Exchange(f"t{i}", user, model, 0.0) for i, (user, model) in enumerate(pairs)]


def prompt_for(case: Case, settings: LlmSettings, now: datetime = NOW) -> Prompt:
    return Prompt(
        system=instruction(settings, False, case.language),
        clock=clock.describe(now, case.language),
        history=exchanges(case.history),
        question=case.question,
        language=case.language,
    )


def clock_first(prompt: Prompt) -> list[dict[str, str]]:
    """The clock in the first system message (the placement before this bench)."""
    messages = [{"role": "system", "content": f"{prompt.system} {prompt.clock}"}]
    for past in prompt.history:
        messages += [
            {"role": "user", "content": past.user},
            {"role": "assistant", "content": past.model},
        ]
    return [*messages, {"role": "user", "content": prompt.question}]


def clock_late_system(prompt: Prompt) -> list[dict[str, str]]:
    """The clock as a second system message, right before the question."""
    messages = clock_first(prompt)
    messages[0] = {"role": "system", "content": prompt.system}
    return [*messages[:-1], {"role": "system", "content": prompt.clock}, messages[-1]]


def clock_in_question(prompt: Prompt) -> list[dict[str, str]]:
    """The clock as a bracketed line before the question, in the last user message."""
    messages = clock_first(prompt)
    messages[0] = {"role": "system", "content": prompt.system}
    messages[-1] = {"role": "user", "content": f"({prompt.clock})\n{prompt.question}"}
    return messages


PLACEMENTS: dict[str, Callable[[Prompt], list[dict[str, str]]]] = {
    "clock-first": clock_first,
    "clock-late-system": clock_late_system,
    "clock-in-question": clock_in_question,
}


def production_placement() -> str:
    """Which of PLACEMENTS llm_worker.prompt.chat_messages is."""
    sample = prompt_for(CASES[-8], LlmSettings())
    for name, build in PLACEMENTS.items():
        if build(sample) == chat_messages(sample):
            return name
    return "other"


# -- one model, in its own process ---------------------------------------------------


@dataclass
class Timed:
    text: str = ""
    first_token: float = 0.0
    first_sentence: float = 0.0
    first_sentence_cpu: float = 0.0
    """CPU seconds of this process until then: on an idle machine with N cores for
    N threads the wall time is about this / N, whatever else runs here."""
    total: float = 0.0
    tokens: int = 0
    last_token: float = 0.0


async def timed(pieces: AsyncIterator[str]) -> Timed:
    result = Timed()
    started, cpu = time.perf_counter(), time.process_time()
    async for piece in pieces:
        now = time.perf_counter() - started
        if not result.tokens:
            result.first_token = now
        result.tokens += 1
        result.last_token = now
        result.text += piece
        if not result.first_sentence and SENTENCE_END.search(result.text):
            result.first_sentence = now
            result.first_sentence_cpu = time.process_time() - cpu
    result.total = time.perf_counter() - started
    if not result.first_sentence:
        result.first_sentence = result.total
        result.first_sentence_cpu = time.process_time() - cpu
    return result


async def answer_pieces(
    backend: Any, settings: LlmSettings, placement: str, prompt: Prompt
) -> AsyncIterator[str]:
    """The production placement through `LocalLlama.stream`, exactly as llm_worker
    runs it; the other placements through the same generation with their messages."""
    if PLACEMENTS[placement](prompt) == chat_messages(prompt):
        async for piece in backend.stream(prompt, time.time() + 600):
            yield piece
    else:
        for piece in backend.generate(PLACEMENTS[placement](prompt), settings.llm_local_max_tokens):
            yield piece


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class WorkerReport:
    model: str
    placement: str
    answers: list[dict[str, Any]] = field(default_factory=list)
    conversation: dict[str, list[float]] = field(default_factory=dict)
    sessions: dict[str, list[float]] = field(default_factory=dict)
    load_s: float = 0.0
    peak_rss_mb: float = 0.0
    uncached_peak_rss_mb: float = 0.0
    cpu_share: float = 0.0


async def run_cases(
    backend: Any, settings: LlmSettings, cases: list[Case], placement: str
) -> list[dict[str, Any]]:
    rows = []
    # Untimed: the instruction evaluated once, as after a worker's first turn.
    await timed(answer_pieces(backend, settings, placement, prompt_for(CASES[0], settings)))
    for case in cases:
        prompt = prompt_for(case, settings)
        result = await timed(answer_pieces(backend, settings, placement, prompt))
        answer = result.text.strip()
        rows.append(
            {
                "question": case.question,
                "kind": case.kind,
                "answer": answer,
                "right": is_right(answer, case) and not wrong_language(answer, case.language),
                "wrong_language": wrong_language(answer, case.language),
                "mentions_clock": mentions_clock(answer),
                "first_token": result.first_token,
                "first_sentence": result.first_sentence,
                "first_sentence_cpu": result.first_sentence_cpu / settings.llm_threads,
                "total": result.total,
                "tokens_per_s": (result.tokens - 1) / (result.last_token - result.first_token)
                if result.tokens > 2 and result.last_token > result.first_token
                else float("nan"),
            }
        )
    return rows


def conversation_prompt(
    settings: LlmSettings, start: int, stored_answer: str | None, minute: int
) -> Prompt:
    """Turn 11 of a conversation (window CONVERSATION[start:start+10]), or with
    `stored_answer` None turn 10, the one before it."""
    window = CONVERSATION[start : start + 10]
    if stored_answer is None:
        history, question = window[:9], window[9][0]
    else:
        history = [*window[:9], (window[9][0], stored_answer)]
        question = CONVERSATION[start + 10][0]
    return Prompt(
        system=instruction(settings, False, "de-DE"),
        clock=clock.describe(NOW + timedelta(minutes=minute), "de-DE"),
        history=exchanges(history),
        question=question,
        language="de-DE",
    )


async def run_conversation(backend: Any, settings: LlmSettings, placement: str) -> list[float]:
    """First-token latency of turn 11 right after turn 10, the clock a minute later."""
    latencies = []
    for start in range(len(CONVERSATION) - 10):
        before = conversation_prompt(settings, start, None, 2 * start)
        answered = (await timed(answer_pieces(backend, settings, placement, before))).text
        after = conversation_prompt(settings, start, answered.strip(), 2 * start + 1)
        latencies.append(
            (await timed(answer_pieces(backend, settings, placement, after))).first_token
        )
    return latencies


async def run_sessions(backend: Any, settings: LlmSettings, placement: str) -> list[float]:
    """Three conversations of 10 remembered turns taking turns, the clock a minute
    later each round: first-token latency of each turn after the first round."""
    histories = {start: list(CONVERSATION[start : start + 10]) for start in (0, 2, 5)}
    latencies = []
    for round_ in range(3):
        for start, history in histories.items():
            question = CONVERSATION[start + 10 + round_][0]
            prompt = Prompt(
                system=instruction(settings, False, "de-DE"),
                clock=clock.describe(NOW + timedelta(minutes=round_), "de-DE"),
                history=exchanges(history),
                question=question,
                language="de-DE",
            )
            result = await timed(answer_pieces(backend, settings, placement, prompt))
            history.append((question, result.text.strip()))
            if round_:
                latencies.append(result.first_token)
    return latencies


async def worker(args: argparse.Namespace) -> None:
    from llm_worker import llama
    from llm_worker.llama import LocalLlama

    if args.temperature is not None:  # experiments: sampling other than llm_worker's
        llama.TEMPERATURE = args.temperature
    if args.repeat_penalty is not None:
        llama.REPEAT_PENALTY = args.repeat_penalty

    settings = LlmSettings(llm_local_model=args.worker)
    report = WorkerReport(model=args.worker, placement=args.placement)
    started = time.perf_counter()
    backend = LocalLlama.from_settings(settings)
    report.load_s = time.perf_counter() - started
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    cases = CASES[: args.limit] if args.limit else CASES
    if not args.no_cases:
        report.answers = await run_cases(backend, settings, cases, args.placement)
    if args.conversation:
        for placement in PLACEMENTS:
            report.conversation[placement] = await run_conversation(backend, settings, placement)
    if args.sessions:
        from llama_cpp.llama_cache import LlamaRAMCache

        model = backend._llama  # the bench's business only: llm_worker sets no cache
        report.sessions["no cache"] = await run_sessions(backend, settings, args.placement)
        report.uncached_peak_rss_mb = peak_rss_mb()
        model.set_cache(LlamaRAMCache(capacity_bytes=CACHE_BYTES))
        report.sessions["LlamaRAMCache"] = await run_sessions(backend, settings, args.placement)
        model.set_cache(None)
    wall = time.perf_counter() - wall_before
    report.cpu_share = (time.process_time() - cpu_before) / max(wall, 1e-9) / settings.llm_threads
    report.peak_rss_mb = peak_rss_mb()
    print(json.dumps(report.__dict__))


def run_worker(
    model: str,
    placement: str,
    args: argparse.Namespace,
    *,
    conversation: bool,
    no_cases: bool = False,
    sessions: bool = False,
) -> WorkerReport:
    command = [
        sys.executable,
        "-m",
        "bench.answer_quality",
        "--worker",
        model,
        "--placement",
        placement,
    ]
    if args.limit:
        command += ["--limit", str(args.limit)]
    if args.temperature is not None:
        command += ["--temperature", str(args.temperature)]
    if args.repeat_penalty is not None:
        command += ["--repeat-penalty", str(args.repeat_penalty)]
    if conversation:
        command.append("--conversation")
    if no_cases:
        command.append("--no-cases")
    if sessions:
        command.append("--sessions")
    done = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    return WorkerReport(**json.loads(done.stdout.strip().splitlines()[-1]))


# -- the tables ---------------------------------------------------------------------


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", default=",".join(LLM_MODELS), help="short names or GGUF paths, comma-separated"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--placements", action="store_true", help="accuracy per clock placement")
    parser.add_argument(
        "--sessions",
        action="store_true",
        help="interleaved sessions, with and without LlamaRAMCache",
    )
    parser.add_argument("--answers", action="store_true", help="print every answer")
    parser.add_argument("--temperature", type=float, help="sampling experiment")
    parser.add_argument("--repeat-penalty", type=float, help="sampling experiment")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--placement", default="", help=argparse.SUPPRESS)
    parser.add_argument("--conversation", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-cases", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    production = production_placement()
    if args.worker:
        args.placement = args.placement or production
        asyncio.run(worker(args))
        return

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if BASELINE in LLM_MODELS and BASELINE not in models:
        models.insert(0, BASELINE)
    models.sort(key=lambda m: m != BASELINE)
    load = os.getloadavg()[0]
    cases = CASES[: args.limit] if args.limit else CASES
    print(
        f"{len(cases)} questions ({sum(c.language != 'de-DE' for c in cases)} English), "
        f"clock {clock.describe(NOW, 'de-DE')!r}, placement {production} (chat_messages), "
        f"{LlmSettings().llm_threads} threads, load average at start {load:.2f}"
    )
    reports = [run_worker(m, production, args, conversation=True) for m in models]
    print()
    print(
        f"{'model':<30} {'right':>6} {'wrong lang':>10} {'1st token':>10} {'1st sent.':>10} "
        f"{'(cpu/thr)':>10} {'answer':>8} {'tok/s':>6} {'10-turn 1st tok':>16} "
        f"{'peak RSS':>9} {'cpu':>5}"
    )
    for r in reports:
        answers = r.answers
        right = sum(a["right"] for a in answers)
        label = r.model + (" (baseline)" if r.model == BASELINE else "")
        print(
            f"{label:<30} {right}/{len(answers)} {right / len(answers):>4.0%} "
            f"{sum(a['wrong_language'] for a in answers):>10} "
            f"{p50([a['first_token'] for a in answers]) * 1000:>8.0f}ms "
            f"{p50([a['first_sentence'] for a in answers]) * 1000:>8.0f}ms "
            f"{p50([a['first_sentence_cpu'] for a in answers]) * 1000:>8.0f}ms "
            f"{p50([a['total'] for a in answers]):>7.1f}s "
            f"{p50([a['tokens_per_s'] for a in answers]):>6.1f} "
            f"{p50(r.conversation[production]) * 1000:>14.0f}ms "
            f"{r.peak_rss_mb:>7.0f}MB {r.cpu_share:>5.0%}"
        )
    print(
        "right: the words of the answer and its language; 1st sent.: time to the first "
        "sentence, what the voice waits for;\n(cpu/thr): the CPU time until then over the "
        "threads, what an idle machine would take; cpu: the share of the threads' time the "
        "worker got"
    )
    print()
    print("by kind (right/total):")
    for r in reports:
        kinds: dict[str, list[bool]] = {}
        for a in r.answers:
            kinds.setdefault(a["kind"], []).append(a["right"])
        print(f"  {r.model:<24} " + "  ".join(f"{k} {sum(v)}/{len(v)}" for k, v in kinds.items()))
    print()
    print("first token of turn 11 after turn 10 (10 remembered turns, clock a minute later), p50:")
    for r in reports:
        print(
            f"  {r.model:<24} "
            + "  ".join(f"{name} {p50(v) * 1000:.0f}ms" for name, v in r.conversation.items())
        )
    if args.placements:
        print()
        print("accuracy per placement (whole set):")
        for m, measured in zip(models, reports, strict=True):
            row = []
            for name in PLACEMENTS:
                r = (
                    measured
                    if name == production
                    else run_worker(m, name, args, conversation=False)
                )
                right = sum(a["right"] for a in r.answers)
                dated = [a["right"] for a in r.answers if a["kind"] == "clock"]
                unasked = sum(a["mentions_clock"] for a in r.answers if a["kind"] != "clock")
                row.append(
                    f"{name} {right}/{len(r.answers)} "
                    f"(date {sum(dated)}/{len(dated)}, time said unasked {unasked})"
                )
            print(f"  {m:<24} " + "  ".join(row))
    if args.sessions:
        print()
        print("three interleaved sessions, 10 remembered turns each, first token p50:")
        for m in models:
            r = run_worker(m, production, args, conversation=False, no_cases=True, sessions=True)
            print(
                f"  {m:<24} "
                + "  ".join(f"{name} {p50(v) * 1000:.0f}ms" for name, v in r.sessions.items())
                + f"  peak RSS {r.uncached_peak_rss_mb:.0f}MB without, "
                f"{r.peak_rss_mb:.0f}MB with the cache"
            )
    if args.answers:
        for r in reports:
            print(f"\n{r.model}:")
            for a in r.answers:
                flags = ("" if a["right"] else " WRONG") + (
                    " LANGUAGE" if a["wrong_language"] else ""
                )
                print(f"  {a['question']} -> {a['answer']!r}{flags}")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
