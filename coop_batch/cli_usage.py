"""Click's usage errors, told in Korean: what was typed wrong, how to write it, where the help is.

Click words its own errors in English ("Error: Invalid value for '--as-of': ...", "Missing argument
'FILES...'", "Usage: ...", "Try ... for help").  `Group` (the CLI's root) catches every
`click.UsageError` where a command line is parsed and a command invoked, and raises
`KoreanUsageError` in its place: one or two Korean lines, exit code 2 as click's own.  The parameter
types here (`Date`, `Year`, `Choice`, `Path`) are click's, with a Korean message naming the option,
the value and the way to write it when a value is refused, and a Korean name in the help's usage line
(`YYYY-MM-DD`, `연도`, `폴더`, `파일`); `cli_help` puts the help's frame words in Korean.

Only click is imported: `coop-batch --help` loads this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as _FsPath
from typing import Any

import click

from .cli_help import KoreanHelp
from .korean import josa

PROG = "coop-batch"

# Errors click shows in its own way, left alone: `coop-batch schedule` with nothing after it shows the help.
_PASS_THROUGH: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if cls is not None
)

# A required argument left out: what to write, by (command, argument).
_MISSING = {
    ("validate", "files"): "검증할 파일(또는 폴더)을 하나 이상 적어 주세요. 예: coop-batch validate 주간실적.xlsx",
}

# How an option's value is written, for "the option needs a value" (types here know their own example).
_EXAMPLES = {"--time": "02:00", "--user": "budget", "--workspace": r"D:\coop", "-w": r"D:\coop"}


class KoreanUsageError(click.UsageError):
    """A usage error whose message is already the Korean text to show, without click's "Usage:" lines."""

    def show(self, file: Any = None) -> None:
        click.echo(josa(self.message), file=file, err=file is None)


class Command(KoreanHelp, click.Command):
    """A command whose command-line errors know the command they are about (click's parser raises
    "Option '--as-of' requires an argument." without it)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _about(ctx):
            return super().parse_args(ctx, args)


class Group(KoreanHelp, click.Group):
    """The root command group: its usage errors, and those of every command under it, in Korean."""

    command_class = Command
    group_class = type  # `schedule` is a Group like this one

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _about(ctx):
            return super().parse_args(ctx, args)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        with _in_korean():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _in_korean():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:  # click would say "Aborted!" and exit 1, the code of rejected files
                raise Interrupted() from None


class Interrupted(click.ClickException):
    """Ctrl+C: said in Korean, exit 130 (what a shell gives a command ended by Ctrl+C)."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("중단했습니다(Ctrl+C). 파일은 지우지 않았습니다. 야간 실행(run)이었다면 다 처리하지 못한 "
                         "파일은 제출 폴더(inbox)에 남아 있고 다음 실행에서 이어서 처리합니다.")

    def show(self, file: Any = None) -> None:
        click.echo(josa(self.message), file=file, err=file is None)


@contextmanager
def _about(ctx: click.Context) -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        if exc.ctx is None:
            exc.ctx = ctx
        raise


@contextmanager
def _in_korean() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        if isinstance(exc, (KoreanUsageError, *_PASS_THROUGH)):
            raise
        raise KoreanUsageError(explain(exc), exc.ctx) from exc


def explain(exc: click.UsageError) -> str:
    """The Korean message for one of click's usage errors, ending with where the help is."""
    ctx = exc.ctx
    command = _command_path(ctx)
    help_line = f"적는 법은 '{command} --help'로 볼 수 있습니다."
    is_group = ctx is not None and isinstance(ctx.command, click.Group)
    if isinstance(exc, click.MissingParameter):
        key = (ctx.info_name if ctx else "", exc.param.name if exc.param else "")
        what = exc.param.human_readable_name if exc.param else ""
        text = _MISSING.get(key) or f"'{command}' 명령에 꼭 필요한 값 {what}이(가) 빠졌습니다."
    elif isinstance(exc, click.BadParameter):
        if exc.param is not None and isinstance(exc.param.type, _Korean):
            text = exc.message  # written by the type, which knows the value
        else:
            text = f"{_named(exc.param)}값이 올바르지 않습니다({exc.message})."
    elif isinstance(exc, click.NoSuchOption):
        text = f"'{exc.option_name}'은(는) '{command}'에 없는 옵션입니다."
        if exc.possibilities:
            text += f" 혹시 {_or(exc.possibilities)}을(를) 적으려던 것인가요?"
        if is_group:
            text += " 옵션은 명령 이름 뒤에 적어 주세요(예: coop-batch run --as-of 2016-03-25)."
    elif isinstance(exc, click.BadOptionUsage):
        text = _option_usage(exc.option_name, ctx)
    elif getattr(exc, "command_name", None) is not None:  # click.NoSuchCommand (click 8.4+)
        text = f"'{exc.command_name}'은(는) '{command}'에 없는 명령입니다."
        possibilities = getattr(exc, "possibilities", None)
        if possibilities:
            text += f" 혹시 {_or(possibilities)}을(를) 적으려던 것인가요?"
        text += _commands(ctx)
    elif is_group:  # "Missing command." (or, before click 8.4, "No such command 'x'.")
        text = f"'{command}' 뒤에 실행할 명령을 적어 주세요." + _commands(ctx)
    else:
        extra = re.search(r"\((.*)\)\s*$", exc.message)  # "Got unexpected extra argument(s) (a b)"
        if extra and extra.group(1):
            text = (
                f"'{extra.group(1)}'은(는) '{command}'이(가) 받지 않는 값입니다. 빈칸이 든 폴더·파일 이름은 "
                '"D:\\공동 협력"처럼 큰따옴표로 감싸 주세요.'
            )
        else:
            text = f"명령을 잘못 적었습니다({exc.message})."
    return f"{text}\n{help_line}"


def _command_path(ctx: click.Context | None) -> str:
    """`coop-batch schedule windows`: the command as the user types it (the root is always `coop-batch`)."""
    names: list[str] = []
    while ctx is not None:
        names.append((ctx.info_name or "") if ctx.parent is not None else PROG)
        ctx = ctx.parent
    return " ".join(reversed(names)) or PROG


def _commands(ctx: click.Context | None) -> str:
    if ctx is None or not isinstance(ctx.command, click.Group):
        return ""
    names = ctx.command.list_commands(ctx)
    return f" 쓸 수 있는 명령: {', '.join(names)}." if names else ""


def _or(names: list[str]) -> str:
    return " 또는 ".join(f"'{n}'" for n in names)


def _option_usage(name: str, ctx: click.Context | None) -> str:
    """`--as-of` with no value after it, or `--no-mail=yes`: the option named as typed."""
    option = _find_option(name, ctx)
    if option is not None and option.is_flag:
        return f"'{name}'은(는) 값을 받지 않는 옵션입니다. '=' 뒤의 값을 지우고 '{name}'만 적어 주세요."
    example = getattr(option.type, "example", "") if option is not None else ""
    example = example or _EXAMPLES.get(name, "")
    how = f" 예: {name} {example}" if example else ""
    return f"'{name}' 뒤에 값을 적어 주세요.{how}"


def _find_option(name: str, ctx: click.Context | None) -> click.Option | None:
    if ctx is None:
        return None
    for param in ctx.command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _named(param: click.Parameter | None) -> str:
    """`'--as-of' 값 ` for an option (its long name), nothing for an argument (its value says it)."""
    if isinstance(param, click.Option) and param.opts:
        return f"'{max(param.opts, key=len)}' 값 "
    return ""


# --- parameter types: click's checks, Korean messages -----------------------------------------


class _Korean:
    """A click type whose refusal is the Korean sentence `explain` writes."""

    example = ""
    strip = False  # a date or a number pasted with a space (` 2016-03-25`) is read without it; a path is not

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.strip and isinstance(value, str):
            value = value.strip()
        try:
            return super().convert(value, param, ctx)  # type: ignore[misc]
        except click.BadParameter:
            self.fail(self.explain(f"{_named(param)}'{value}'", value), param, ctx)  # type: ignore[attr-defined]

    def explain(self, given: str, value: Any) -> str:  # pragma: no cover - every type below has its own
        return f"{given}은(는) 쓸 수 없는 값입니다."


class Date(_Korean, click.DateTime):
    example = "2016-03-25"
    strip = True

    def __init__(self) -> None:
        super().__init__(["%Y-%m-%d"])

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "YYYY-MM-DD"

    def explain(self, given: str, value: Any) -> str:
        return f"{given}은(는) 날짜가 아닙니다. 2016-03-25처럼 YYYY-MM-DD로 적어 주세요."


class Year(_Korean, click.types.IntParamType):
    example = "2016"
    strip = True

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "연도"

    def explain(self, given: str, value: Any) -> str:
        return f"{given}은(는) 연도가 아닙니다. 2016처럼 숫자로 적어 주세요."


class Choice(_Korean, click.Choice):
    strip = True

    @property
    def example(self) -> str:  # type: ignore[override]
        return str(self.choices[-1])

    def explain(self, given: str, value: Any) -> str:
        return f"{given}은(는) 고를 수 없는 값입니다. {', '.join(map(str, self.choices))} 중 하나를 적어 주세요."


class Path(_Korean, click.Path):
    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "폴더" if not self.file_okay else "파일"

    def explain(self, given: str, value: Any) -> str:
        path = _FsPath(os.fsdecode(value))
        if not self.file_okay and path.is_file():
            return f"{given}은(는) 폴더가 아니라 파일입니다. 폴더 이름을 적어 주세요."
        if not self.dir_okay and path.is_dir():
            return f"{given}은(는) 파일이 아니라 폴더입니다. 파일 이름을 적어 주세요."
        return f"{given}을(를) 읽을 수 없습니다. 이름이 맞는지, 읽기 권한이 있는지 확인해 주세요."
