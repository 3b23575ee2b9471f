"""What the documentation shows, read from its Markdown: pages, fenced blocks, the commands and
Python snippets in them, inline code. Plain functions of text, so the tests can feed them
pages of their own."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHELL_LANGUAGES = ("bash", "sh", "shell")
TRANSCRIPT_LANGUAGES = ("console", "text", "")  # "$ command" lines, then what it printed
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>\w+)\1")
INCLUDE = "--8<--"


@dataclass(frozen=True)
class Block:
    """A fenced block of a page: its language, first line number (1-based) and text."""

    page: str
    line: int
    language: str
    text: str


@dataclass
class Step:
    """One thing a reader of a page does, in order: a shell command (``argv``) or a Python
    snippet (``code``); ``expected_error`` is the ``simclr X: error:`` line shown after it."""

    page: str
    line: int
    text: str
    argv: list[str] = field(default_factory=list)
    code: str | None = None
    expected_error: str | None = None
    shown: str = ""  # the whole line it came from (commands joined by &&), normalised

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def documentation_pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fenced_blocks(text: str, page: str = "") -> list[Block]:
    """Every fenced block of a Markdown text (``` or ~~~, any indent), in order."""
    blocks: list[Block] = []
    opened: re.Match | None = None
    start, body = 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None:
            if match:
                opened, start, body = match, number, []
            continue
        closes = match and match["fence"][0] == opened["fence"][0] and not match["info"].strip()
        if closes and len(match["fence"]) >= len(opened["fence"]):
            language = opened["info"].strip().split(" ")[0].lower()
            indent = len(opened["indent"])
            text_ = "\n".join(b[indent:] if b[:indent].isspace() else b for b in body)
            blocks.append(Block(page, start + 1, language, text_))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise ValueError(f"{page}:{start}: a fenced block is never closed")
    return blocks


def without_fences(text: str) -> str:
    """The text outside fenced blocks (for inline code)."""
    kept, opened = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if opened is None and match:
            opened = match["fence"][0]
        elif opened is not None and match and match["fence"][0] == opened:
            opened = None
        elif opened is None:
            kept.append(line)
    return "\n".join(kept)


def inline_code(text: str) -> list[str]:
    """Every inline code span outside fenced blocks, whitespace collapsed (spans may wrap)."""
    spans = re.findall(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", without_fences(text), re.S)
    return [" ".join(span.split()) for _, span in spans]


def _logical_lines(text: str, line: int) -> list[tuple[int, str, list[str]]]:
    """(line number, command line, heredoc body lines) of a shell block: continuations joined,
    blank and comment-only lines dropped."""
    out: list[tuple[int, str, list[str]]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, current = line + index, lines[index]
        while current.endswith("\\") and index + 1 < len(lines):
            index += 1
            current = current[:-1] + " " + lines[index].strip()
        index += 1
        body: list[str] = []
        heredoc = HEREDOC.search(current)
        if heredoc:
            while index < len(lines) and lines[index].strip() != heredoc["word"]:
                body.append(lines[index])
                index += 1
            index += 1  # the terminator
        if current.strip() and not current.strip().startswith("#"):
            out.append((number, current, body))
    return out


def normalised(line: str) -> str:
    """A shell line as words, comments dropped, joined by single spaces."""
    return " ".join(shlex.split(line, comments=True))


def split_command(line: str) -> list[list[str]]:
    """A shell line as its commands: words by shlex (comments dropped), split at ``&&``."""
    words = shlex.split(line, comments=True)
    commands, current = [], []
    for word in words:
        if word == "&&":
            commands.append(current)
            current = []
        else:
            current.append(word)
    return [c for c in [*commands, current] if c]


def steps_of_block(block: Block) -> list[Step]:
    """What a reader does with a block: its commands, Python snippets and expected errors."""
    if block.text.lstrip().startswith(INCLUDE):
        return []  # a file included when the site is built: checked where it is used
    if block.language == "python":
        return [Step(block.page, block.line, block.text, code=block.text)]
    steps: list[Step] = []
    if block.language in SHELL_LANGUAGES:
        for number, line, body in _logical_lines(block.text, block.line):
            heredoc = HEREDOC.search(line)
            if heredoc and body:
                steps.append(Step(block.page, number, line, code="\n".join(body)))
                continue
            shown = normalised(line)
            for argv in split_command(line):
                steps.append(Step(block.page, number, shlex.join(argv), argv=argv, shown=shown))
    elif block.language in TRANSCRIPT_LANGUAGES:
        lines = block.text.splitlines()
        for index, text in enumerate(lines):
            if not text.startswith("$ "):
                continue
            output = []
            for later in lines[index + 1 :]:
                if later.startswith("$ "):
                    break
                output.append(later)
            error = next((o for o in output if re.match(r"simclr \w+: error: ", o)), None)
            shown = normalised(text[2:])
            for argv in split_command(text[2:]):
                where = block.line + index
                steps.append(Step(block.page, where, shlex.join(argv), argv, None, error, shown))
    return steps


def page_steps(path: Path) -> list[Step]:
    """Every step a page shows, in the page's order."""
    name = page_name(path)
    return [s for b in fenced_blocks(path.read_text(), name) for s in steps_of_block(b)]


def nav_pages(config: Path = ROOT / "mkdocs.yml") -> list[str]:
    """The Markdown files that mkdocs.yml's nav names (a folder entry: its generated pages)."""

    def walk(item) -> list[str]:
        if isinstance(item, str):
            return [item]
        if isinstance(item, list):
            return [page for entry in item for page in walk(entry)]
        if isinstance(item, dict):
            return [page for value in item.values() for page in walk(value)]
        return []

    return walk(yaml.load(config.read_text(), Loader=_IgnoreTags)["nav"])


class _IgnoreTags(yaml.SafeLoader):
    """mkdocs.yml may hold !ENV and !!python/name tags: read them as plain values."""


_IgnoreTags.add_multi_constructor("", lambda loader, suffix, node: None)
_IgnoreTags.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, s, node: None)
