"""Shared fixtures. Each test module builds its own workbooks; only truly shared pieces live here."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from coop_batch.rules import Rules, load_rules


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules(2016)


@pytest.fixture
def started(monkeypatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every helper process started through `spawn.spawn`, early or not (two cores, as if); none
    left behind by a test."""
    from coop_batch import spawn

    procs: list[subprocess.Popen[bytes]] = []
    real = spawn.spawn

    def record(boot: str) -> subprocess.Popen[bytes]:
        procs.append(real(boot))
        return procs[-1]

    monkeypatch.setattr(spawn, "spawn", record)
    monkeypatch.setattr(spawn.os, "cpu_count", lambda: 2)
    yield procs
    spawn.dismiss_early()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture(autouse=True)
def _no_early_helpers_carried_over() -> Iterator[None]:
    """What one test started early (spawn.start_early) or primed (read_ahead) is not the next one's."""
    yield
    spawn, read_ahead = sys.modules.get("coop_batch.spawn"), sys.modules.get("coop_batch.read_ahead")
    if spawn is not None:
        for procs in spawn._early.values():
            for proc in procs:
                proc.kill()
                proc.wait(10)
        spawn._early.clear()
        spawn._started = None
    if read_ahead is not None:
        read_ahead._primings.clear()
