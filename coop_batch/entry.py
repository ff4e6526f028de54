"""The console script `coop-batch`.  For a plain `coop-batch run`, the night's helper processes are
started before anything else is loaded (click and the CLI's modules take ~40 ms, on one core while
the other waits): see spawn.start_early.  Everything else is the CLI's (cli.main)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main() -> None:
    workspace = run_workspace(sys.argv[1:])
    if workspace is not None:
        from .spawn import start_early

        start_early(workspace)
    from .cli import main as cli_main

    cli_main()


def run_workspace(argv: Sequence[str]) -> str | None:
    """The workspace folder of `run [-w DIR | --workspace DIR | --workspace=DIR | -wDIR] ...` as click
    will read it; None for anything else (help, another command, an option this does not know with
    a value that could look like -w).  A wrong guess only starts helpers the run does not take."""
    if not argv or argv[0] != "run":
        return None
    workspace = "."
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-w", "--workspace"):
            value = next(args, None)
            if value is None:
                return None
            workspace = value
        elif arg.startswith("--workspace="):
            workspace = arg.partition("=")[2]
        elif arg.startswith("-w"):
            workspace = arg[2:]
        elif arg in ("-h", "--help", "--"):
            return None
    return workspace
