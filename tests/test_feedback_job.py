"""Annotated copies written by a child process beside the master (`feedback_job`): the same copies,
links and log lines as when written in the run's own process, and a child that fails costs nothing else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from coop_batch import feedback_job
from coop_batch.config import Workspace, init_workspace
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

from test_feedback import AS_OF, BAD_WEEKLY, load, review_rows, run

DEPARTMENTS = ("안전치수과", "세무과", "건설관리과", "민원여권과", "교통행정과")


def workspace_with_bad_files(root: Path, rules, count: int = len(DEPARTMENTS)) -> Workspace:
    ws = init_workspace(root, policy_year=2016, evaluation_year=2015)
    for department in DEPARTMENTS[:count]:
        rows = [dict(row, department=department) for row in BAD_WEEKLY]
        write_template(KIND_BY_ID["weekly"], rules, ws.inbox / department / "주간실적.xlsx", rows)
    return ws


@pytest.fixture
def jobs(monkeypatch) -> list[feedback_job.FeedbackJob]:
    """The jobs the runs started (to see whether a child wrote the copies).  A child from the first copy
    on, as on two cores (with one, the run writes them itself)."""
    monkeypatch.setattr(feedback_job, "PARALLEL_MIN", 1)
    started: list[feedback_job.FeedbackJob] = []
    real = feedback_job.start_feedback

    def spy(*args: Any, **kwargs: Any) -> feedback_job.FeedbackJob:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(feedback_job, "start_feedback", spy)
    return started


def problem_sheet(ws: Workspace) -> list[list[Any]]:
    master = next(ws.outbox.glob("통합현황_*.xlsx"))
    with CalamineWorkbook.from_path(str(master)) as wb:
        return wb.get_sheet_by_name("오류").to_python()


def copies(ws: Workspace, report) -> list[tuple[str, str, int, int, list]]:
    return [(c.path.relative_to(ws.root).as_posix(), c.department, c.errors, c.warnings,
             review_rows(load(c.path)) if c.path.suffix == ".xlsx" else c.path.read_text("utf-8-sig"))
            for c in report.feedback.copies]


def test_a_child_writes_the_same_copies_and_links_as_the_run_itself(tmp_path, rules, jobs, monkeypatch):
    child_ws = workspace_with_bad_files(tmp_path / "child", rules)
    by_child = run(child_ws)
    monkeypatch.setattr(feedback_job, "PARALLEL_MIN", 10**6)
    here_ws = workspace_with_bad_files(tmp_path / "here", rules)
    here = run(here_ws)

    assert [job.parallel for job in jobs] == [True, False]
    assert len(by_child.feedback.copies) == len(DEPARTMENTS) == by_child.count("rejected")
    assert copies(child_ws, by_child) == copies(here_ws, here)
    assert problem_sheet(child_ws) == problem_sheet(here_ws)
    assert any("outbox/반려/세무과/주간실적.xlsx" in row for row in problem_sheet(child_ws))
    assert by_child.notes == here.notes and by_child.exit_code == here.exit_code
    # the child's log lines are in the run's own log
    log_text = "".join(p.read_text("utf-8") for p in child_ws.logs.glob("*.log"))
    assert all(f"검토본 {d}/주간실적.xlsx → outbox/반려/{d}/주간실적.xlsx" in log_text for d in DEPARTMENTS)


def test_fewer_copies_than_the_threshold_are_written_here(tmp_path, rules, jobs, monkeypatch):
    monkeypatch.setattr(feedback_job, "PARALLEL_MIN", 3)  # e.g. one core: 10**9
    ws = workspace_with_bad_files(tmp_path / "ws", rules, count=2)
    report = run(ws)
    assert [job.parallel for job in jobs] == [False]
    assert len(report.feedback.copies) == 2


def test_one_copy_is_written_beside_the_master(tmp_path, rules, jobs):
    ws = workspace_with_bad_files(tmp_path / "ws", rules, count=1)
    report = run(ws)
    assert [job.parallel for job in jobs] == [True]
    assert [c.path.name for c in report.feedback.copies] == ["주간실적.xlsx"]


def test_a_child_that_dies_costs_only_its_copies(tmp_path, rules, jobs, monkeypatch):
    monkeypatch.setattr(feedback_job, "_BOOT", "import os; os._exit(3)")
    ws = workspace_with_bad_files(tmp_path / "ws", rules)
    report = run(ws)
    assert jobs[0].parallel and report.feedback.copies == []
    assert any("검토본 일부를 만들지 못했습니다" in note for note in report.notes)
    assert report.count("rejected") == len(DEPARTMENTS) and report.outputs[0].is_file()
    assert not any(row[-1] for row in problem_sheet(ws)[1:] if len(row) > 1 and row[0])  # no link to a missing copy


def predict_a_wrong_path(monkeypatch) -> None:
    """The master links to the predicted paths; make each prediction differ from where the copy goes."""
    real = feedback_job.expected_copy

    def wrong(result, inbox, row, rel) -> None:
        real(result, inbox, row, rel)
        last = result.copies[-1]
        result.copies[-1] = type(last)(**{**last.__dict__, "path": last.path.with_name("예상과_다른_이름.xlsx")})

    monkeypatch.setattr(feedback_job, "expected_copy", wrong)


def test_a_copy_that_went_elsewhere_is_linked_where_it_is(tmp_path, rules, jobs, monkeypatch):
    predict_a_wrong_path(monkeypatch)
    ws = workspace_with_bad_files(tmp_path / "ws", rules)
    report = run(ws)
    assert jobs[0].parallel
    text = repr(problem_sheet(ws))
    assert "예상과_다른_이름" not in text
    assert all(c.path.relative_to(ws.root).as_posix() in text for c in report.feedback.copies)


def test_a_master_written_again_beside_an_open_one_leaves_no_copy_with_wrong_links(tmp_path, rules, jobs, monkeypatch):
    """A copy went elsewhere and the master is open in Excel: only the master is written again (beside it),
    and its first version, with the predicted links, is not left in outbox/."""
    predict_a_wrong_path(monkeypatch)
    ws = workspace_with_bad_files(tmp_path / "ws", rules)
    real_replace = os.replace
    written: list[str] = []

    def replace(src, dst, *args, **kwargs):
        name = Path(dst).name
        if name.startswith("통합현황_") and "_" not in name[len("통합현황_"):].removesuffix(".xlsx"):
            raise PermissionError(13, "Permission denied", str(dst))  # the master is open in Excel
        written.append(name)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    report = run(ws)
    monkeypatch.undo()
    masters = sorted(p.name for p in ws.outbox.glob("통합현황_*.xlsx"))
    assert len(masters) == 1 and report.outputs[0].name == masters[0]
    assert sum(name.startswith("통합현황_") for name in written) == 2  # written twice, the first one removed
    # The rosters once each (here, or by the copy writer: write_beside), not again with the master.
    assert sum(name.startswith(("포상금지급내역_", "특별휴가_")) for name in written) in (0, 2)
    rosters = sorted(p.name for p in ws.outbox.glob("*.xlsx") if p.name.startswith(("포상금지급내역_", "특별휴가_")))
    assert len(rosters) == 2 and sorted(p.name for p in report.outputs[1:]) == rosters
    text = repr(problem_sheet(ws))
    assert "예상과_다른_이름" not in text
    assert all(c.path.relative_to(ws.root).as_posix() in text for c in report.feedback.copies)


def test_the_child_started_while_filing_is_the_one_that_writes(tmp_path, rules, jobs, monkeypatch):
    started: list[feedback_job._Child] = []
    real = feedback_job._Child.__init__

    def spy(self) -> None:
        real(self)
        started.append(self)

    monkeypatch.setattr(feedback_job._Child, "__init__", spy)
    monkeypatch.setattr("coop_batch.run._CHUNK", 1)  # file one by one: the prewarm sees them come
    ws = workspace_with_bad_files(tmp_path / "ws", rules)
    report = run(ws)
    assert len(started) == 1 and jobs[0].parallel and jobs[0]._child is started[0]
    assert len(report.feedback.copies) == len(DEPARTMENTS)


def test_a_child_not_needed_after_all_is_dismissed(tmp_path, rules):
    ws = init_workspace(tmp_path / "ws", policy_year=2016)
    prewarm = feedback_job.Prewarm()
    prewarm.child = child = feedback_job._Child()
    job = feedback_job.start_feedback(ws, [], run_id=1, as_of=AS_OF, prewarm=prewarm)
    assert not job.parallel and job.finish().copies == []
    assert child.proc.wait(30) == 0 and child.answer(5) == (False, None) and not child.late
