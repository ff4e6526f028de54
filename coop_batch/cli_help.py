"""`--help` in Korean: click's frame words ("Usage:", "Options", "[default: .]", "Show this message
and exit.") put in Korean through click's public hooks (the context's formatter class, the help option,
the usage metavars).  The commands' own help texts are written in Korean in `cli.py`.

Click measures text in characters; a Hangul syllable takes two columns of a console, so its lines of
Korean ran past the console's edge and its columns did not line up.  The formatter here measures and
wraps in console columns (`width`).

Only click is imported: `coop-batch --help` loads this module.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

HELP_OPTION_HELP = "이 도움말을 보여 주고 끝냅니다."
VERSION_OPTION_HELP = "버전을 보여 주고 끝냅니다."
VERSION_MESSAGE = "%(prog)s 버전 %(version)s"
OPTIONS_METAVAR = "[옵션]"
SUBCOMMAND_METAVAR = "명령 [인자]..."

_SECTIONS = {"Options": "옵션", "Commands": "명령", "Positional arguments": "인자", "Arguments": "인자"}
# The words click puts in brackets after an option's help: "[default: .]", "[required]", "[env var: X]".
_EXTRAS = (("default: ", "기본값: "), ("env var: ", "환경 변수: "), ("required", "필수"))
_EXTRA_AT_END = re.compile(r"\[([^\[\]]*)\]$")


def width(text: str) -> int:
    """Console columns `text` takes: two for a wide (Hangul, CJK) character."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """`text` in lines of at most `columns` console columns, broken at spaces (Korean is written
    with spaces between words), a word longer than a line broken where it must be."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if width(joined) <= columns:
            line = joined
            continue
        if line:
            lines.append(line)
        line = word
        while width(line) > columns:
            cut = _fit(line, columns)
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def _fit(text: str, columns: int) -> int:
    """How many leading characters of `text` fit in `columns` (at least one)."""
    used = 0
    for i, ch in enumerate(text):
        used += width(ch)
        if used > columns:
            return max(i, 1)
    return len(text)


def shorten(text: str, columns: int) -> str:
    if width(text) <= columns:
        return text
    return text[:_fit(text, max(columns - 3, 1))].rstrip() + "..."


class HelpFormatter(click.HelpFormatter):
    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for number, paragraph in enumerate(re.split(r"\n\s*\n", text.strip())):
            if number:
                self.write("\n")
            for line in wrap(paragraph, max(self.width - self.current_indent, 20)):
                self.write(f"{indent}{line}\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = [(term, _korean_extras(text)) for term, text in rows]
        first_col = min(max((width(term) for term, _ in rows), default=0), col_max) + col_spacing
        indent = " " * self.current_indent
        for term, text in rows:
            self.write(f"{indent}{term}")
            if not text:
                self.write("\n")
                continue
            if width(term) <= first_col - col_spacing:
                self.write(" " * (first_col - width(term)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = _wrap_with_extras(text, max(self.width - first_col - self.current_indent, 10))
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{indent}{' ' * first_col}{line}\n")

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "사용법: " if prefix is None else prefix)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        with super().section(_SECTIONS.get(name, name)):
            yield


def _wrap_with_extras(text: str, columns: int) -> list[str]:
    """An option's help in lines, its "[기본값: .]" kept whole (on the last line if it fits)."""
    match = _EXTRA_AT_END.search(text)
    extra = match.group(0) if match else ""
    lines = wrap(text[:match.start()] if match else text, columns) or [""]
    if extra:
        if lines[-1] and width(f"{lines[-1]}  {extra}") <= columns:
            lines[-1] = f"{lines[-1]}  {extra}"
        elif lines[-1]:
            lines.append(extra)
        else:
            lines[-1] = extra
    return lines


def _korean_extras(text: str) -> str:
    match = _EXTRA_AT_END.search(text)
    if match is None:
        return text
    items = []
    for item in match.group(1).split("; "):
        for english, korean in _EXTRAS:
            if item.startswith(english):
                item = korean + item[len(english):]
                break
        items.append(item)
    return f"{text[:match.start()]}[{'; '.join(items)}]"


class Context(click.Context):
    formatter_class = HelpFormatter


class KoreanHelp:
    """Mixed into the CLI's command and group classes (before click's)."""

    context_class = Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", OPTIONS_METAVAR)
        if isinstance(self, click.Group):
            kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)

    def get_short_help_str(self, limit: int = 45) -> str:
        # click cuts the first sentence at `limit` characters: cut it at `limit` console columns
        return shorten(super().get_short_help_str(limit=1000), limit)  # type: ignore[misc]

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = HELP_OPTION_HELP
        return option
