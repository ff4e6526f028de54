"""Helper processes started before the run's own imports (`spawn.start_early`), adopted or sent away."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from coop_batch import spawn
from coop_batch.cli import cli
from coop_batch.read import Limits, read_many
from coop_batch.rules import load_rules
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

SAFETY = "안전도시 만들기"


@pytest.fixture(autouse=True)
def _collector_kept():
    """entry.main tunes the cycle collector of the process it runs in: here, the tests' own."""
    import gc

    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def weekly_files(folder: Path, count: int) -> list[Path]:
    rules = load_rules(2016)
    rows = [{"report_date": date(2016, 3, 4), "project": SAFETY, "department": "안전치수과", "progress": "교육"}]
    return [write_template(KIND_BY_ID["weekly"], rules, folder / f"주간실적_{i}.xlsx", rows) for i in range(count)]


def test_nothing_starts_for_an_empty_or_missing_inbox(tmp_path: Path, started):
    spawn.start_early(tmp_path / "없는폴더")
    (tmp_path / "ws" / "inbox").mkdir(parents=True)
    spawn.start_early(tmp_path / "ws")
    assert started == [] and spawn.adopt(spawn.READER_BOOT) is None


def test_a_small_night_gets_one_early_reader_and_read_many_adopts_it(tmp_path: Path, started, monkeypatch):
    files = weekly_files(tmp_path / "ws" / "inbox", 3)
    spawn.start_early(tmp_path / "ws")
    assert len(started) == 1  # one reader; no copy writer for three files
    early = started[0]
    results = list(read_many(files, Limits(), workers=1))
    assert [data.rows[0][1][1] for _, data in results] == [SAFETY] * 3
    assert started == [early]  # adopted, not a second start
    assert early.wait(10) is not None  # and stopped with the others


def test_a_big_night_gets_two_readers_and_a_copy_writer_and_those_not_taken_are_sent_away(tmp_path: Path, started):
    inbox = tmp_path / "ws" / "inbox"
    inbox.mkdir(parents=True)
    for i in range(spawn.MANY_FILES):
        (inbox / f"{i}.xlsx").write_bytes(b"x")
    spawn.start_early(tmp_path / "ws")
    boots = [proc.args[-1] for proc in started]
    assert sorted(boots) == sorted([spawn.READER_BOOT] * 2 + [spawn.COPIER_BOOT])
    spawn.dismiss_early()
    assert spawn.adopt(spawn.READER_BOOT) is None
    assert all(proc.wait(15) is not None for proc in started)  # each ended at the end of its input


def test_one_core_starts_no_second_reader_nor_copy_writer(tmp_path: Path, started, monkeypatch):
    monkeypatch.setattr(spawn.os, "cpu_count", lambda: 1)
    inbox = tmp_path / "ws" / "inbox"
    inbox.mkdir(parents=True)
    for i in range(spawn.MANY_FILES):
        (inbox / f"{i}.xlsx").write_bytes(b"x")
    spawn.start_early(tmp_path / "ws")
    assert [proc.args[-1] for proc in started] == [spawn.READER_BOOT]


def test_an_early_process_that_died_is_not_adopted(tmp_path: Path, started):
    weekly_files(tmp_path / "ws" / "inbox", 1)
    spawn.start_early(tmp_path / "ws")
    started[0].kill()
    started[0].wait(10)
    assert spawn.adopt(spawn.READER_BOOT) is None


def test_the_run_command_uses_its_early_processes_and_leaves_none_running(tmp_path: Path, started):
    root = tmp_path / "작업폴더"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    config = root / "coop_batch.toml"
    config.write_text(config.read_text("utf-8").replace("settle_seconds = 120", "settle_seconds = 0"), "utf-8")
    weekly_files(root / "inbox" / "안전치수과", 2)
    (root / "inbox" / "망가진.xlsx").write_bytes(b"not a workbook")  # one bad file: a copy is due
    result = CliRunner().invoke(cli, ["run", "-w", str(root), "--as-of", "2016-03-25", "--no-mail"])
    assert result.exit_code == 1, result.output  # the bad file is rejected
    assert "받은 파일 3건" in result.output
    readers = [proc for proc in started if proc.args[-1] == spawn.READER_BOOT]
    assert len(readers) == 1 and started[0] is readers[0]  # started before the run's imports, then adopted
    assert spawn.adopt(spawn.READER_BOOT) is None and spawn.adopt(spawn.COPIER_BOOT) is None
    assert all(proc.wait(15) is not None for proc in started)


# --- the console script starts them before the command line is parsed ---


@pytest.mark.parametrize(("argv", "workspace"), [
    (["run"], "."),
    (["run", "-w", "작업"], "작업"),
    (["run", "--as-of", "2016-03-25", "--workspace", "a b"], "a b"),
    (["run", "--workspace=c:/x"], "c:/x"),
    (["run", "-wd", "-q"], "d"),
    (["run", "-qw", "B"], "B"),
    (["run", "-qwB"], "B"),
    (["run", "-w=z"], "=z"),
    (["run", "-w", "a", "-w", "b"], "b"),
    (["run", "-w", "--help"], "--help"),
    (["run", "-qh"], None),
    (["run", "-w"], None),
    (["run", "--help"], None),
    (["status", "-w", "x"], None),
    (["--version"], None),
    ([], None),
])
def test_the_run_workspace_is_read_as_click_reads_it(argv, workspace):
    from coop_batch.entry import run_workspace

    assert run_workspace(argv) == workspace


_TOKENS = ["-w", "-q", "-qw", "-wq", "-qwB", "-wB", "-w=z", "-q-w", "--workspace", "--workspace=a", "--as-of",
           "2016-03-25", "--as-of=2016-03-25", "--no-mail", "--no-mail=1", "--quiet", "A", "작업 폴더", "-", "--",
           "-h", "--help", "-qh", "-x", "--work", "-nq"]


def _click_workspace(argv: list[str]) -> str | None:
    """What click itself makes of `run ARGS`: the workspace, or None when it refuses or shows help."""
    import click

    from coop_batch.cli import run_cmd

    try:
        with run_cmd.make_context("run", list(argv), parent=click.Context(cli, **cli.context_settings)) as ctx:
            return ctx.params["workspace_dir"]
    except (click.exceptions.Exit, click.ClickException):
        return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=5))
def test_the_run_workspace_agrees_with_click_on_any_command_line(args: list[str]):
    from coop_batch.entry import run_workspace

    ours, clicks = run_workspace(["run", *args]), _click_workspace(args)
    if clicks is not None:
        assert ours == clicks
    if ours is None:  # never a guess left out where click runs (only help and errors are None)
        assert clicks is None


def test_on_windows_the_arguments_are_expanded_as_click_expands_them(tmp_path: Path, monkeypatch):
    """click's main() expands ~, environment variables and wildcards on Windows before parsing."""
    from click.utils import _expand_args

    from coop_batch import entry

    for name in ("a1", "a2", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("COOP_TEST_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    args = ["run", "-w", "~/b", "-w", "$COOP_TEST_DIR/a*", "--as-of", "2016-03-25", "[", "a?", "**", "없음*"]
    assert entry.expand_like_click(args) == _expand_args(args)
    calls: list[list[str]] = []
    monkeypatch.setattr(entry.os, "name", "nt")
    monkeypatch.setattr(entry, "run_workspace", lambda argv: calls.append(list(argv)))
    monkeypatch.setattr("coop_batch.cli.main", lambda: None)
    monkeypatch.setattr(sys, "argv", ["coop-batch", "run", "-w", "~/b"])
    entry.main()
    assert calls == [["run", "-w", str(tmp_path / "b")]]


def test_the_console_scripts_table_of_run_options_is_the_commands():
    from coop_batch import entry
    from coop_batch.cli import run_cmd

    options = {opt: param for param in run_cmd.params for opt in param.opts}
    assert set(options) == {*entry.RUN_VALUE_OPTIONS, *entry.RUN_FLAGS}
    assert {opt for opt, param in options.items() if param.is_flag} == entry.RUN_FLAGS
    assert {opt for opt, param in options.items() if param.name == "workspace_dir"} == entry.WORKSPACE_OPTIONS
    assert set(cli.context_settings["help_option_names"]) == entry.HELP_OPTIONS


def test_the_console_script_starts_the_helpers_first_and_the_run_does_not_start_them_again(
    tmp_path: Path, monkeypatch
):
    from coop_batch import cli, entry

    calls: list[str] = []
    monkeypatch.setattr(spawn, "count_files", lambda folder, enough: calls.append(f"count {folder}") or 0)
    monkeypatch.setattr(cli, "main", lambda: calls.append("cli"))
    monkeypatch.setattr(sys, "argv", ["coop-batch", "run", "-w", str(tmp_path)])
    entry.main()
    assert calls == [f"count {tmp_path.resolve() / 'inbox'}", "cli"]
    spawn.start_early(tmp_path)  # what run_cmd does next: nothing, it is done
    assert len(calls) == 2
    spawn.dismiss_early()
    spawn.start_early(tmp_path)  # a later run in this process starts its own again
    assert len(calls) == 3
    spawn.dismiss_early()


def test_asked_again_for_another_workspace_the_early_helpers_are_replaced(tmp_path: Path, started):
    """The console script guessed the workspace from the command line; run_cmd asks for the one
    click read.  The same folder however written: nothing new; another: those primed for the wrong
    one are ended and the right one's started."""
    from coop_batch import read_ahead
    from coop_batch.read import Limits

    a, b = weekly_files(tmp_path / "a" / "inbox", 1), weekly_files(tmp_path / "b" / "inbox", 1)
    spawn.start_early(tmp_path / "a")
    spawn.start_early(str(tmp_path / "a" / ".." / "a"))
    assert len(started) == 1
    spawn.start_early(tmp_path / "b")
    assert len(started) == 2 and started[0].wait(15) is not None
    proc, share = read_ahead.adopt_reader(read_ahead.EarlySettings.of(tmp_path / "b").limits or Limits())
    assert proc is started[1] and share == {str(p.resolve()) for p in b} and not share & {str(p) for p in a}
    proc.kill()


def test_the_console_script_turns_off_pydantics_plugin_scan_unless_the_user_set_it(monkeypatch):
    """pydantic scans every installed package's entry points for plugins at its first model (~50 ms
    a run); our commands use none.  The library (tests, a program importing coop_batch) is left alone."""
    from coop_batch import cli, entry

    seen: list[str | None] = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(os.environ.get("PYDANTIC_DISABLE_PLUGINS")))
    monkeypatch.setattr(sys, "argv", ["coop-batch", "--help"])
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    entry.main()
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "my_plugin")
    entry.main()
    assert seen == ["__all__", "my_plugin"]


def test_the_console_script_tunes_the_cycle_collector_and_leaves_the_library_alone(monkeypatch):
    """A night keeps hundreds of thousands of containers alive and makes almost no cycles: our commands
    run the collector every 200,000 new containers, not every 700 (entry.tune_gc)."""
    import gc

    from coop_batch import cli, entry

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()))
    monkeypatch.setattr(sys, "argv", ["coop-batch", "--help"])
    gc.set_threshold(700, 10, 10)
    entry.main()
    assert seen == [entry.GC_THRESHOLD] and entry.GC_THRESHOLD[0] >= 100_000
    # Importing the package (a program using it as a library) changes nothing.
    def threshold(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    plain = threshold("import gc; print(gc.get_threshold())")
    assert threshold("import gc; import coop_batch.cli, coop_batch.run; print(gc.get_threshold())") == plain
    assert plain.strip() != str(entry.GC_THRESHOLD)


@pytest.mark.parametrize("boot", [spawn.READER_BOOT, spawn.COPIER_BOOT, spawn.AHEAD_BOOT])
def test_every_helper_process_tunes_its_cycle_collector_first(boot):
    from coop_batch.entry import GC_THRESHOLD

    assert boot.startswith(spawn.TUNED)
    # What the boot line runs before its child's own work, in a fresh interpreter as spawn() starts one.
    probe = spawn.TUNED + "import gc, sys; sys.stdout.write(repr(gc.get_threshold()))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out == repr(GC_THRESHOLD)
