"""The console script `coop-batch`.  For a plain `coop-batch run`, the night's helper processes are
started before anything else is loaded (click and the CLI's modules take ~40 ms, on one core while
the other waits): see spawn.start_early.  Everything else is the CLI's (cli.main)."""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Sequence

# The `run` command's options as click reads them (tests hold this to cli.run_cmd.params):
# those that take a value, the flags, and the help options (which end the command before it runs).
WORKSPACE_OPTIONS = frozenset({"-w", "--workspace"})
RUN_VALUE_OPTIONS = WORKSPACE_OPTIONS | {"--as-of"}
RUN_FLAGS = frozenset({"-q", "--quiet", "--no-mail"})
HELP_OPTIONS = frozenset({"-h", "--help"})
_ALL = RUN_VALUE_OPTIONS | RUN_FLAGS | HELP_OPTIONS


# pydantic looks for plugins (observability hooks) by scanning every installed package's entry
# points the first time a model is built: ~50 ms of each run's start (more with many packages or
# an antivirus reading each file), for plugins this tool never uses.  Its own switch turns the scan
# off for our commands only (not for a program that imports coop_batch as a library); a value the
# user set is kept.
PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"

# CPython's cycle collector runs after every 700 new containers (dicts, lists, objects), each time
# looking again at those that survived.  A night makes hundreds of thousands that live to its end
# (records, rows, ledger entries) and almost no cycles: measured, the run process spent 41-91 ms in
# 170-240 collections (20 new files over 5,000; a full rebuild of 2,000), each reader and the copy
# writer 10-12 ms more; with this threshold, which mypy uses for the same reason, 0-3 ms.  Cycles are
# still collected, every 200,000 new containers.  For our commands and their helper processes
# (spawn.TUNED), not for a program that imports coop_batch as a library.
GC_THRESHOLD = (200_000, 30, 30)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLD)


def main() -> None:
    tune_gc()
    os.environ.setdefault(PYDANTIC_PLUGINS, "__all__")
    args = sys.argv[1:]
    if os.name == "nt":  # click's main() expands ~, %VAR% and wildcards there before it parses
        args = expand_like_click(args)
    workspace = run_workspace(args)
    if workspace is not None:
        from .spawn import start_early

        start_early(workspace)
    from .cli import main as cli_main

    cli_main()


def run_workspace(argv: Sequence[str]) -> str | None:
    """The workspace folder of `run ...` as click will read it (`-w DIR`, `--workspace=DIR`, `-wDIR`,
    grouped short options such as `-qw DIR`, the last one given); None for anything else: help,
    another command, or a command line click would refuse.  A wrong guess costs only helpers the
    run does not take (run_cmd starts its own for the workspace it really has)."""
    if not argv or argv[0] != "run":
        return None
    workspace = "."
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return workspace if not rest else None  # run takes no arguments
        if not arg.startswith("-") or arg == "-":
            return None
        for option, value in _options(arg):
            if option in HELP_OPTIONS or option not in _ALL:
                return None
            if option in RUN_FLAGS:
                if value is not None:
                    return None  # click: "option does not take a value"
                continue
            if value is None:
                if not rest:
                    return None  # click: "option requires an argument"
                value = rest.pop(0)
            if option in WORKSPACE_OPTIONS:
                workspace = value
    return workspace


def _options(arg: str) -> list[tuple[str, str | None]]:
    """The options one argument names, with the value it carries, as click splits it: a long one
    (`--workspace=DIR`; click tries that first, so `-w=x` is the short `-w` with the value `=x`),
    or a group of short ones, where one taking a value takes the rest of the group (`-qwDIR`)."""
    name, eq, value = arg.partition("=")
    if len(name) > 2 and name in _ALL or arg.startswith("--"):
        return [(name, value if eq else None)]
    found: list[tuple[str, str | None]] = []
    for i, letter in enumerate(arg[1:], start=2):
        option = "-" + letter
        if option in RUN_VALUE_OPTIONS:
            return [*found, (option, arg[i:] or None)]
        found.append((option, None))
    return found


def expand_like_click(args: Sequence[str]) -> list[str]:
    """The arguments as click's `main()` sees them on Windows (`click.utils._expand_args`: ~, %VAR%
    and wildcards, an invalid pattern left as it is), without importing click this early."""
    from glob import glob

    out: list[str] = []
    for arg in args:
        arg = os.path.expandvars(os.path.expanduser(arg))
        try:
            matches = glob(arg, recursive=True)
        except re.error:
            matches = []
        out.extend(matches or [arg])
    return out
