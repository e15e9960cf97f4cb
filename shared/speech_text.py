"""Text made for speaking: the Markdown and emoji that language models write, turned
into plain sentences.

`for_speech` is applied to every answer before speech synthesis and to the text the
watch shows. It knows no language: it removes markup and decoration and keeps the
words.

- Headings, list items, table rows and the lines of code blocks each become a
  sentence, ending with a period unless they already end in punctuation (`.`, `!`,
  `?`, `:`, `;`, `…`). Paragraphs do too, except the last, which is left as written;
  inside a paragraph, a line without punctuation followed by one that starts with a
  capital ends a sentence ("Viele Grüße" / "Dein Assistent").
- Bold, italic, inline code, block quotes and HTML tags keep their text and lose their
  marks; links keep their text; images keep their alternative text; struck-out text,
  footnote references, horizontal rules and link definitions go.
- A bare URL is replaced by its host (`https://www.dwd.de/x?y` → `dwd.de`).
- A table row is said as `header: cell, header: cell.`.
- Every emoji goes, including skin tones, ZWJ sequences, flags and keycaps; a line that
  starts with one (or with an arrow or a check mark) is read as a list item. A few
  ASCII emoticons standing alone (`:)`, `;-)`, `:D`) go too.
- Arrows between words (`→`, `=>`) become a dash, a pause in speech.

What is not Markdown stays as it is: a `*` with spaces around it (`3 * 4`), `_`
inside words (`snake_case`), `#hashtags`, numbers such as `2,5` and `14:30`. A numbered
line counts as a list item only when it starts a list (`1.`) or continues one (the
number after the previous item's), so "27. November ist ein Freitag." at the start of
a line is left alone; nor is a numbered line followed by a month name a list item.

The result is one line: blocks are joined with single spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import emoji

from shared import language

# Private-use characters: a removed piece (GAP), a protected piece (PROTECT n PROTECT).
GAP = "\ue001"
PROTECT = "\ue000"
PAUSE = "\ue002"  # an arrow: a dash between words, nothing at either end

END_PUNCTUATION = ".!?:;…"
CLOSERS = "\"'”“\u2019\u2018»«)]"

MONTH_NAMES = (
    "|".join(dict.fromkeys(name.lower() for names in language.MONTHS.values() for name in names))
    + "|jänner"
)

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
HR = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
SETEXT = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
QUOTE = re.compile(r"^\s{0,3}>\s?")
BULLET = re.compile(r"^(\s*)[-*+•◦‣▪▫●○■□\u2013](?:\s+|$)(?:\[[ xX]\]\s+)?(.*)$")
ORDERED = re.compile(r"^(\s*)(\d{1,3})[.)](?:\s+|$)(.*)$")
TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
MONTH_START = re.compile(rf"^(?:{MONTH_NAMES})\b", re.IGNORECASE)

ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\s*\)")
LINK = re.compile(r"\[([^\]]+)\]\(\s*((?:[^()\s]|\([^()]*\))*)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
FOOTNOTE = re.compile(r"\[\^[^\]]+\]")
AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+|www\.[^>\s]+)>", re.IGNORECASE)
AUTOMAIL = re.compile(r"<(?:mailto:)?([^>\s@]+@[^>\s@]+)>", re.IGNORECASE)
HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s+[^<>]*)?/?>")
BARE_URL = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'\[\]{}]+", re.IGNORECASE)
STRONG_STAR = re.compile(r"(?<!\w)\*\*(?=\S)(.+?)(?<=\S)\*\*")
STRONG_UNDER = re.compile(r"(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])")
STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)")
EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
EMOTICON = re.compile(r"(?:(?<=\s)|^)[:;]-?[)(DPp](?=\s|$)")
ARROW = re.compile(r"\s*(?:[→⇒⟶⟹➔➜➝➞➙➛]|(?<!\S)(?:->|=>)(?!\S))\s*")
DECORATION = re.compile(r"[✓✔︎✗✘★☆✦✧◆◇▶►◀◄]")
# What the emoji package leaves of partial sequences.
EMOJI_RESIDUE = re.compile(
    "[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U0001f1e6-\U0001f1ff\U000e0020-\U000e007f]"
)
ZWJ_NEAR_GAP = re.compile(f"\u200d+(?={GAP})|(?<={GAP})\u200d+")
EMOJI_CHARS = frozenset(c for key in emoji.EMOJI_DATA for c in key if not c.isascii())
"""Any non-ASCII character of any emoji. Every emoji has one (keycaps too: U+20E3), so
a text without any holds no emoji, and the emoji library's tokenizer, a Python loop over
every character that was most of `for_speech`'s time, is skipped for it."""


@dataclass
class Block:
    kind: str  # "paragraph", "item", "heading", "code", "row"
    text: str
    open: bool = True  # an item that a following indented line continues


def for_speech(text: str) -> str:
    """`text` without Markdown and emoji, as sentences for a speech synthesiser."""
    sentences: list[str] = []
    text = re.sub(f"[{PROTECT}{GAP}{PAUSE}]", "", text)  # our own markers
    for block in _blocks(text):
        spoken = block.text if block.kind == "code" else _inline(block.text)
        spoken = _tidy(spoken)
        if spoken:
            sentences.append(spoken if block.kind == "paragraph" else _end_sentence(spoken))
    # Every paragraph but the last ends a sentence before the next block starts.
    for i in range(len(sentences) - 1):
        sentences[i] = _end_sentence(sentences[i])
    return " ".join(sentences)


def _blocks(text: str) -> list[Block]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[Block] = []
    paragraph: list[str] = []
    last_number: int | None = None

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", _join_lines(paragraph)))
            paragraph.clear()

    def close_items() -> None:
        if blocks:
            blocks[-1].open = False

    i = 0
    while i < len(lines):
        line = lines[i]
        while QUOTE.match(line):
            line = QUOTE.sub("", line, count=1)
        stripped = line.strip()
        i += 1

        fence = FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            code: list[str] = []
            while i < len(lines):
                inner = QUOTE.sub("", lines[i])
                i += 1
                if inner.strip().startswith(marker) and not inner.strip().strip(marker[0]):
                    break
                if inner.strip():
                    code.append(inner.strip())
            blocks.append(Block("code", " ".join(_end_sentence(c) for c in code), open=False))
            continue

        if not stripped:
            flush()
            close_items()
            continue

        if "|" in stripped and i < len(lines) and TABLE_SEPARATOR.match(lines[i]):
            flush()
            header = _cells(stripped)
            i += 1
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                row = _cells(lines[i])
                i += 1
                blocks.append(Block("row", _row_sentence(header, row), open=False))
            continue

        if paragraph and SETEXT.match(line):
            blocks.append(Block("heading", " ".join(paragraph), open=False))
            paragraph.clear()
            continue

        if HR.match(line) or LINK_DEFINITION.match(line):
            flush()
            close_items()
            continue

        heading = HEADING.match(line)
        if heading:
            flush()
            blocks.append(Block("heading", heading.group(1) or "", open=False))
            continue

        bullet = BULLET.match(line)
        if bullet:
            flush()
            blocks.append(Block("item", bullet.group(2)))
            continue

        ordered = ORDERED.match(line)
        if ordered:
            number = int(ordered.group(2))
            in_sequence = number == 1 or (last_number is not None and number == last_number + 1)
            if in_sequence and not MONTH_START.match(ordered.group(3)):
                flush()
                last_number = number
                blocks.append(Block("item", ordered.group(3)))
                continue

        if _starts_with_decoration(stripped):
            flush()
            blocks.append(Block("item", stripped))
            continue

        if not paragraph and blocks and blocks[-1].open and line[:1].isspace():
            blocks[-1].text += " " + stripped  # an indented continuation of a list item
            continue

        close_items()
        paragraph.append(stripped.removesuffix("\\"))
    flush()
    return blocks


def _join_lines(lines: list[str]) -> str:
    """A line break after a line without punctuation, before a capital, ends a sentence
    ("Viele Grüße" / "Dein Assistent"); other lines run on."""
    text = lines[0]
    for line in lines[1:]:
        ends_bare = text.rstrip(CLOSERS)[-1:].isalnum()
        text += (". " if ends_bare and line[:1].isupper() else " ") + line
    return text


def _starts_with_decoration(line: str) -> bool:
    found = emoji.emoji_list(line) if not EMOJI_CHARS.isdisjoint(line) else []
    if found and found[0]["match_start"] == 0:
        return True
    return bool(DECORATION.match(line) or ARROW.match(line))


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _row_sentence(header: list[str], row: list[str]) -> str:
    parts: list[str] = []
    for n, cell in enumerate(row):
        if not cell:
            continue
        name = header[n] if n < len(header) else ""
        parts.append(f"{name}: {cell}" if name and name != cell else cell)
    return ", ".join(parts)


def _inline(text: str) -> str:
    protected: list[str] = []

    def protect(content: str) -> str:
        protected.append(content)
        return f"{PROTECT}{len(protected) - 1}{PROTECT}"

    text = ESCAPE.sub(lambda m: protect(m.group(1)), text)
    text = CODE_SPAN.sub(lambda m: protect(m.group(2).strip()), text)
    text = IMAGE.sub(lambda m: m.group(1) or GAP, text)
    text = LINK.sub(_link_text, text)
    text = REFERENCE_LINK.sub(r"\1", text)
    text = FOOTNOTE.sub(GAP, text)
    text = AUTOLINK.sub(lambda m: protect(_host(m.group(1))), text)
    text = AUTOMAIL.sub(lambda m: protect(m.group(1)), text)
    text = HTML_TAG.sub(lambda m: " " if m.group(0).lower().startswith("<br") else GAP, text)
    text = BARE_URL.sub(_url_host, text)
    previous = None
    while previous != text:
        previous = text
        text = STRIKE.sub(GAP, text)  # crossed out: not meant any more
        for pattern in (STRONG_STAR, STRONG_UNDER, EM_STAR, EM_UNDER):
            text = pattern.sub(r"\1", text)
    text = _without_emoji(text)
    return re.sub(f"{PROTECT}(\\d+){PROTECT}", lambda m: protected[int(m.group(1))], text)


def _link_text(match: re.Match[str]) -> str:
    label = match.group(1).strip()
    if BARE_URL.fullmatch(label):
        return _host(label)
    return label or GAP


def _url_host(match: re.Match[str]) -> str:
    url = match.group(0)
    trailing = ""
    while url and url[-1] in ".,;:!?)":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        trailing = url[-1] + trailing
        url = url[:-1]
    return _host(url) + trailing


def _host(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or GAP


def _without_emoji(text: str) -> str:
    if not EMOJI_CHARS.isdisjoint(text):
        text = emoji.replace_emoji(text, replace=GAP)
    text = EMOJI_RESIDUE.sub(GAP, text)
    text = ZWJ_NEAR_GAP.sub("", text)
    text = DECORATION.sub(GAP, text)
    text = EMOTICON.sub(GAP, text)
    return ARROW.sub(PAUSE, text)


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    gaps = f"(?:{GAP}\\s*)+"
    text = re.sub(rf"\(\s*{gaps}\)", GAP, text)  # "( 🎉 )"
    text = re.sub(rf"\s*{gaps}(?=[.,!?;:…)\]]|$)", "", text)  # before punctuation, at the end
    text = re.sub(rf"(^|(?<=[(\[„“\"«»]))\s*{gaps}", "", text)  # at the start, after an opener
    text = re.sub(rf"\s*{gaps}", " ", text)
    text = re.sub(rf"^\s*(?:{PAUSE}\s*)+|(?:\s*{PAUSE})+\s*$", "", text)  # arrows at the ends
    text = re.sub(rf"\s*{PAUSE}\s*", " \u2013 ", text)
    return text.strip()


def _end_sentence(text: str) -> str:
    core = text.rstrip(CLOSERS)
    if core and core[-1] in END_PUNCTUATION:
        return text
    if core and core[-1] == ",":
        return core[:-1] + "." + text[len(core) :]
    return text + "."
