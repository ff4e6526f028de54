"""Helper processes (reader workers, the annotated-copy writer), and starting them early.

A child costs ~0.1 s of start-up (an interpreter and its imports) before it is any use.  A run
spends its first ~0.2 s importing its own modules on one core while the other waits, so
`start_early` starts the children a night will likely need at that moment, and `adopt` hands one
over when the run asks for it.  A child started early only waits on its stdin until then; one
never adopted is sent away (end of input) by `dismiss_early`, and at the latest at exit.

Imports nothing heavy: it runs before the rest of the package is loaded.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from pathlib import Path

READER_BOOT = "from coop_batch.read_workers import _worker_main; _worker_main()"
COPIER_BOOT = "from coop_batch.feedback_job import _child_main; _child_main()"
MANY_FILES = 100  # a second reader pays its start back only over this many files (see run._auto_workers)

_early: dict[str, list[subprocess.Popen[bytes]]] = {}
atexit.register(lambda: dismiss_early())  # at the latest: those a run never took


def spawn(boot: str) -> subprocess.Popen[bytes]:
    """A child Python running `boot`, talking over its stdin/stdout pipes, that imports this very
    package (not another copy on the path), with no console window of its own on Windows."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )


def adopt(boot: str) -> subprocess.Popen[bytes] | None:
    """A live child started early for `boot`, now the caller's; None when there is none."""
    waiting = _early.get(boot, [])
    while waiting:
        proc = waiting.pop(0)
        if proc.poll() is None:
            return proc
        send_away(proc)  # it died waiting (killed, out of memory): start a new one instead
    return None


def auto_workers(files: int) -> int:
    """Readers for a night of `files` files with `workers = 0` (자동): two on two or more cores for a
    big night, else one."""
    return 2 if files >= MANY_FILES and (os.cpu_count() or 1) >= 2 else 1


def start_early(workspace_dir: str | os.PathLike[str]) -> None:
    """Start the children a run over this workspace will likely use, judged by a quick count of the
    files in its `inbox/` (the default place; a workspace that moved its inbox only loses the
    head start).  None for an empty inbox; the copy writer only for a big night on two cores,
    where some file almost surely gets an annotated copy.  Never raises: the run starts its own."""
    try:
        files = count_files(Path(workspace_dir) / "inbox", MANY_FILES)
        readers = auto_workers(files) if files else 0
        plan = [READER_BOOT] * readers + ([COPIER_BOOT] if readers == 2 else [])  # a big night, two cores
        for boot in plan:
            _early.setdefault(boot, []).append(spawn(boot))
    except OSError:
        pass


def dismiss_early(boot: str | None = None) -> None:
    """End the children started early and not adopted (those for `boot`, or all)."""
    for key in [boot] if boot else list(_early):
        for proc in _early.pop(key, []):
            send_away(proc)


def send_away(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """End of input: a child at the end of its work, or waiting for its first message, exits (once its
    imports are done).  Reaped by a thread (killed after `seconds`), not waited for here."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    threading.Thread(target=reap, args=(proc, seconds), daemon=True).start()


def reap(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """Wait for a child told to end (killing it after `seconds`), then close its pipes: its stdout
    only now, when whoever reads it has met the end."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def count_files(folder: Path, enough: int) -> int:
    """How many files `folder` holds (any kind, hidden too), counting no further than `enough`."""
    seen = 0
    for _, _, names in os.walk(folder):
        seen += len(names)
        if seen >= enough:
            return enough
    return seen
