"""Performance (issue 7): the benchmark's `--quick` mode, and the behaviour the speed-ups must keep.

`test_quick_benchmark` runs `bench/run_bench.py --quick` as CI does: N = 200 realistic submissions,
floor / pandas peer / full rebuild / incremental night side by side; it fails when a ratio is far off
(see QUICK_LIMITS there) or a bomb is let in.  No timing is asserted here: timing lives in the
benchmark's ratios, measured within one run.

The other tests pin what the optimisations must not change: a night reads only its new files; files
are validated as the readers return them yet get exactly the verdict of "results and contact lists
first"; they are filed in arrival order; `mark_filed` leaves the ledger's fsync setting as it was;
rows are committed a chunk at a time, each chunk before its moves (the crash invariant of run.py);
one merge gives what changed since the last run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

import coop_batch.read as read_mod
import coop_batch.read_workers as read_workers
from coop_batch.config import Workspace, init_workspace
from coop_batch.ledger import FileEntry, FileStatus, Ledger, now_seoul
from coop_batch.read import read_sheet
from coop_batch.run import run_batch
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template
from coop_batch.validate import validate_sheet

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2016, 3, 25)
SAFETY, JOBS, WELFARE = "안전도시 만들기", "서울 희망일자리 만들기", "찾아가는 복지서울"
RESULTS = [
    {"seq": 1, "project": SAFETY, "category": "시·자치구 공동협력사업", "grade": "최우수", "prize_won": "90",
     "subsidy": "N", "departments": "안전치수과(총괄) 도로관리과"},
    {"seq": 2, "project": JOBS, "category": "시·자치구 공동협력사업", "grade": "우수", "prize_won": "30",
     "subsidy": "N", "departments": "일자리지원과"},
]
CONTACTS = [
    {"project": WELFARE, "role": "총괄부서", "department": "주민생활지원과", "leader_name": "장혜린",
     "officer_name": "문성준", "officer_phone": "02-901-6654"},
]


def weekly(dept: str, project: str, day: date = date(2016, 3, 4)) -> list[dict[str, Any]]:
    return [{"report_date": day, "project": project, "department": dept, "progress": "○ 추진실적: 점검 2회 실시"}]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws", policy_year=2016, evaluation_year=2015)


def put(ws: Workspace, rel: str, kind: str, rows: list[dict[str, Any]], rules, minute: int) -> Path:
    """A filled template that arrived at 09:`minute` on 2016-03-04 (arrival decides the order)."""
    path = write_template(KIND_BY_ID[kind], rules, ws.inbox / rel, rows)
    stamp = datetime(2016, 3, 4, 9, minute).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def night(ws: Workspace):
    return run_batch(ws, as_of=AS_OF, settle_seconds=0, mail=False)


def problems_by_file(ws: Workspace) -> dict[str, list[tuple[str, str, str]]]:
    with Ledger.open(ws.ledger_path) as ledger:
        return {r.original_path: [(p["code"], p["cell"], p["message"]) for p in r.problems] for r in ledger.history()}


# --- the benchmark itself ----------------------------------------------------------------------


def test_quick_benchmark():
    """The CI run of the benchmark: exit 0 means no ratio far off and every bomb refused."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_bench.py"), "--quick"],
        capture_output=True, text=True, encoding="utf-8", timeout=600, cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    text = out.stdout
    assert "| N | floor s | peer s | full s (CPU s) | incr s (+20) |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 200 |"))
    assert "n/a" not in row.split("|")[3]  # the pandas peer was measured too
    for case in ("zip bomb (400 MB sheet) | file-too-large", "zip bomb, lying header | file-unsafe",
                 "XML bomb (billion laughs) | file-unsafe"):
        assert case in text


LEAN_HELP = """
import atexit, sys
sys.argv = ["coop-batch", "--help"]
# main() leaves without the interpreter's teardown, but after what exit would run: this too
atexit.register(lambda: print("heavy:" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & {HEAVY}))))
from coop_batch.entry import main
main()
"""


def test_help_imports_nothing_heavy():
    """`coop-batch --help` pays for click only (`validate` is pinned in test_cli_validate)."""
    heavy = {"pandas", "numpy", "openpyxl", "xlsxwriter", "pydantic", "python_calamine", "sqlite3"}
    out = subprocess.run([sys.executable, "-c", LEAN_HELP.replace("{HEAVY}", repr(heavy))],
                         capture_output=True, text=True, check=True)
    assert "시·자치구" in out.stdout  # the help itself was printed
    assert out.stdout.splitlines()[-1] == "heavy:"


RUN_MODULES = """
import atexit, sys
sys.argv = ["coop-batch", "run", "-w", {ws!r}, "--as-of", "2016-03-25", "--no-mail", "-q"]
atexit.register(lambda: print("loaded:" + ",".join(sorted({{m.split(".")[0] for m in sys.modules}} & {{HEAVY}}))))
from coop_batch.entry import main
main()
"""


def test_the_run_process_itself_never_loads_a_workbook_reader(ws, rules):
    """The readers parse the workbooks; the run only validates, files and writes: neither calamine
    nor openpyxl nor pandas is loaded in it (~10, 200 and 300 ms)."""
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules, 1)
    put(ws, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", SAFETY), rules, 2)
    config = ws.root / "coop_batch.toml"
    config.write_text(config.read_text("utf-8").replace("settle_seconds = 120", "settle_seconds = 0"), "utf-8")
    heavy = {"python_calamine", "openpyxl", "pandas", "numpy"}
    script = RUN_MODULES.format(ws=str(ws.root)).replace("{HEAVY}", repr(heavy))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[-1] == "loaded:", out.stdout + out.stderr
    assert len(list(ws.archive.rglob("*.xlsx"))) == 2  # and the night did run


# --- incremental nights --------------------------------------------------------------------------


def test_a_night_reads_only_its_new_files(ws, rules, monkeypatch):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules, 1)
    put(ws, "안전치수과/주간실적_0304.xlsx", "weekly", weekly("안전치수과", SAFETY), rules, 2)
    put(ws, "일자리지원과/주간실적_0304.xlsx", "weekly", weekly("일자리지원과", JOBS), rules, 3)
    assert {o.status for o in night(ws).outcomes} == {"accepted"}

    new = put(ws, "안전치수과/주간실적_0311.xlsx", "weekly", weekly("안전치수과", SAFETY, date(2016, 3, 11)), rules, 4)
    read: list[Path] = []
    real_many = read_workers.read_many  # what the run calls (read.read_many is the same, re-exported)

    def spy(paths, *args, **kwargs):
        read.extend(Path(p) for p in paths)
        return real_many(paths, *args, **kwargs)

    def no_archive(path, *args, **kwargs):  # `_refresh_stale` re-reads the archive: not with current records
        raise AssertionError(f"read {path} again")

    monkeypatch.setattr(read_workers, "read_many", spy)
    monkeypatch.setattr(read_mod, "read_sheet", no_archive)
    report = night(ws)
    assert read == [new]
    assert [(o.path, o.status) for o in report.outcomes] == [("안전치수과/주간실적_0311.xlsx", "accepted")]
    assert len(report.merged.data["weekly"]) == 3  # the master still holds every filed report


# --- streamed validation keeps the verdicts of "lists first" ----------------------------------------


def reference(paths: list[Path], rels: list[str], rules, known: set[str]) -> dict[str, list[tuple[str, str, str]]]:
    """The verdicts the run must give: results and contact lists validated first (in arrival order),
    each adding its project names, then every other file against all the names."""
    sheets = [read_sheet(p) for p in paths]
    lists_first = sorted(range(len(paths)), key=lambda i: sheets[i].kind.id not in ("results", "contacts"))
    out = {}
    for i in lists_first:
        sub = validate_sheet(sheets[i], rules, known, display_name=rels[i])
        if sub.accepted and sub.kind_id in ("results", "contacts"):
            known.update(r["project"] for r in sub.records if r.get("project"))
        out[rels[i]] = [(p.code, p.cell, p.message) for p in sub.problems]
    return out


def test_first_night_weekly_reports_before_the_lists_get_the_lists_first_verdict(ws, rules):
    files = [  # arrival order: reports before the lists that name their projects
        ("안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", SAFETY)),
        ("주민생활지원과/주간실적.xlsx", "weekly", weekly("주민생활지원과", WELFARE)),
        ("도로관리과/주간실적.xlsx", "weekly", weekly("도로관리과", "안전도시만들기 사업")),  # no such project
        ("기획예산과/평가결과.xlsx", "results", RESULTS),
        ("일자리지원과/주간실적.xlsx", "weekly", weekly("일자리지원과", JOBS)),
        ("주민생활지원과/담당자지정.xlsx", "contacts", CONTACTS),
    ]
    paths = [put(ws, rel, kind, rows, rules, minute) for minute, (rel, kind, rows) in enumerate(files, 1)]
    expected = reference(paths, [rel for rel, _, _ in files], rules, set())

    report = night(ws)

    assert problems_by_file(ws) == expected
    warned = {rel for rel, found in expected.items() if any(code == "unknown-project" for code, _, _ in found)}
    # The check ran against every name of the night: the typo is warned, the reports naming what the
    # later lists bring are not; the contact list itself names a project the results do not have.
    assert warned == {"도로관리과/주간실적.xlsx", "주민생활지원과/담당자지정.xlsx"}
    assert [o.path for o in report.outcomes] == [rel for rel, _, _ in files]  # filed in arrival order
    with Ledger.open(ws.ledger_path) as ledger:
        assert [r.original_path for r in ledger.history()] == [rel for rel, _, _ in files]


def test_later_night_a_list_arriving_after_a_report_still_counts_for_it(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules, 1)
    night(ws)
    files = [
        ("주민생활지원과/주간실적.xlsx", "weekly", weekly("주민생활지원과", WELFARE)),  # named by the list below
        ("안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", SAFETY)),
        ("주민생활지원과/담당자지정.xlsx", "contacts", CONTACTS),
        ("도로관리과/주간실적.xlsx", "weekly", weekly("도로관리과", "복지서울 찾아가기")),
    ]
    paths = [put(ws, rel, kind, rows, rules, minute) for minute, (rel, kind, rows) in enumerate(files, 2)]
    expected = reference(paths, [rel for rel, _, _ in files], rules, {r["project"] for r in RESULTS})

    report = night(ws)

    found = problems_by_file(ws)
    assert {rel: found[rel] for rel, _, _ in files} == expected
    assert not any(code == "unknown-project" for code, _, _ in expected["주민생활지원과/주간실적.xlsx"])
    assert any(code == "unknown-project" for code, _, _ in expected["도로관리과/주간실적.xlsx"])
    assert [o.path for o in report.outcomes] == [rel for rel, _, _ in files]


# --- the ledger ------------------------------------------------------------------------------------


def test_mark_filed_restores_full_sync(tmp_path: Path):
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        run_id = ledger.start_run(AS_OF)
        stamp = now_seoul()
        file_id = ledger.record_file(FileEntry(run_id, "a" * 64, "부서/주간실적.xlsx", 10, stamp, stamp, stamp,
                                               FileStatus.REJECTED))
        ledger.mark_filed(file_id, "quarantine/주간실적.xlsx")
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again for the next row
        assert ledger.file(file_id).filed_path == "quarantine/주간실적.xlsx"
    with Ledger.open(tmp_path / "ledger.sqlite") as other:  # committed: another connection sees it
        assert other.file(file_id).filed_path == "quarantine/주간실적.xlsx"


def test_mark_filed_many_is_one_unsynced_transaction(tmp_path: Path):
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        run_id, stamp = ledger.start_run(AS_OF), now_seoul()
        ids = [ledger.record_file(FileEntry(run_id, c * 64, f"부서/{c}.xlsx", 10, stamp, stamp, stamp,
                                            FileStatus.REJECTED)) for c in "ab"]
        with pytest.raises(KeyError):  # all or nothing: one unknown id, none recorded
            ledger.mark_filed_many([(ids[0], "quarantine/a.xlsx"), (999, "quarantine/x.xlsx")])
        assert ledger.file(ids[0]).filed_path is None
        ledger.mark_filed_many([(ids[0], "quarantine/a.xlsx"), (ids[1], Path("quarantine") / "b.xlsx")])
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with Ledger.open(tmp_path / "ledger.sqlite") as other:
        assert [other.file(i).filed_path for i in ids] == ["quarantine/a.xlsx", "quarantine/b.xlsx"]


# --- filing in chunks: one commit per chunk, the crash invariant kept ----------------------------


class Killed(BaseException):
    """The process dying (not an Exception: nothing on the way may swallow it)."""


def test_rows_are_committed_a_chunk_at_a_time_before_the_chunk_moves(ws, rules, monkeypatch):
    import coop_batch.inbox as inbox_mod
    import coop_batch.run as run_mod

    names = [f"주간실적_{i}.xlsx" for i in range(5)]
    for minute, name in enumerate(names, 1):
        put(ws, f"안전치수과/{name}", "weekly", weekly("안전치수과", SAFETY, date(2016, 3, 4 + minute)), rules, minute)
    monkeypatch.setattr(run_mod, "_CHUNK", 2)
    monkeypatch.setattr(run_mod, "_IDLE_CHUNK", 2)
    real, commits = inbox_mod.file_into, []

    def file_into(src, dest_dir, sha256):
        with Ledger.open(ws.ledger_path) as other:  # what is committed when a file is moved
            commits.append([(r.name, r.filed_path is not None) for r in other.history()])
        if Path(src).name == names[3]:
            raise Killed
        return real(src, dest_dir, sha256)

    monkeypatch.setattr(inbox_mod, "file_into", file_into)
    with pytest.raises(Killed):
        night(ws)
    monkeypatch.undo()
    # each file moved only after its row (and its chunk-mate's) was committed; the first chunk's
    # moves were recorded before the second chunk's rows were
    assert commits[0] == [(names[0], False), (names[1], False)]
    assert commits[2] == [(names[0], True), (names[1], True), (names[2], False), (names[3], False)]
    with Ledger.open(ws.ledger_path) as ledger:
        rows = ledger.history()
    assert [(r.name, bool(r.filed_path)) for r in rows] == [(n, i < 2) for i, n in enumerate(names[:4])]
    inbox = sorted(p.name for p in ws.inbox.rglob("*.xlsx"))
    archived = sorted(p.name for p in ws.archive.rglob("*.xlsx"))
    assert sorted(inbox + archived) == sorted(names)  # each file in exactly one place
    assert set(archived) <= {r.name for r in rows}  # none moved without its committed row

    report = night(ws)  # recovery files the committed ones; only the unrecorded one is new
    assert [o.path for o in report.outcomes] == [f"안전치수과/{names[4]}"]
    with Ledger.open(ws.ledger_path) as ledger:
        rows = ledger.history()
    assert [r.name for r in rows] == names and all(r.filed_path for r in rows)
    assert sorted(p.name for p in ws.archive.rglob("*.xlsx")) == sorted(names)
    assert len(report.merged.data["weekly"]) == 5


def test_auto_workers(monkeypatch):
    import coop_batch.run as run_mod

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert (run_mod._auto_workers(20), run_mod._auto_workers(run_mod._MANY_FILES)) == (1, 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert run_mod._auto_workers(5000) == 1


def test_portable_move_never_overwrites_either(tmp_path: Path, monkeypatch):
    """`file_into` without Linux's renameat2 (as on Windows): the reserved name, never a replace."""
    import coop_batch.inbox as inbox_mod

    monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)
    dest = tmp_path / "archive"
    dest.mkdir()
    (dest / "a.xlsx").write_bytes(b"old")
    src = tmp_path / "inbox" / "a.xlsx"
    src.parent.mkdir()
    src.write_bytes(b"new")
    target = inbox_mod.file_into(src, dest, "f" * 64)
    assert target.name == "ffffffff_a.xlsx" and target.read_bytes() == b"new"
    assert (dest / "a.xlsx").read_bytes() == b"old" and not src.exists()


# --- one merge gives what changed since the last run -----------------------------------------------


def test_newly_replaced_is_what_merging_without_the_new_files_gives():
    import random

    from coop_batch.merge import Source, merge

    rng = random.Random(7)
    for _ in range(50):
        sources = [
            Source(f"f{i}.xlsx", "weekly", [
                {"department": rng.choice("가나다"), "project": rng.choice("AB"),
                 "report_date": date(2016, 3, rng.choice((4, 11))), "_row": r}
                for r in range(rng.randint(1, 3))
            ])
            for i in range(rng.randint(0, 8))
        ]
        fresh = {i for i in range(len(sources)) if rng.random() < 0.4}
        merged = merge(sources, fresh)
        before = merge([s for i, s in enumerate(sources) if i not in fresh]).replaced
        expected = {k: n - before.get(k, 0) for k, n in merged.replaced.items() if n > before.get(k, 0)}
        assert merged.newly_replaced == expected
        assert merged.data == merge(sources).data
