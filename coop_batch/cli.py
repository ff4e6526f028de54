"""Command line: a thin layer over the library API (each command calls one function).

Exit codes: 0 all went through, 1 some files rejected / had errors, 2 usage or
configuration error, 3 another run holds the workspace lock.
"""

from __future__ import annotations

import sys

import click

from . import __version__


def _survive_console() -> None:
    """A cp949 Windows console cannot print every character: replace, never crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # pragma: no cover - detached or closed stream
                pass


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coop-batch")
def cli() -> None:
    """시·자치구 공동협력사업 실적 취합·검증·포상 배분 배치 (기획예산과)."""


# --- commands (each a thin call into the library) ---


def main() -> None:
    _survive_console()
    cli(prog_name="coop-batch")
