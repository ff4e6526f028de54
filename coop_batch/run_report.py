"""What a run reports: one `FileOutcome` per inbox file and the `RunReport` with its summary lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .errors import Problem
from .korean import josa
from .merge import Merged


@dataclass(frozen=True)
class FileOutcome:
    path: str  # relative to the inbox
    status: str  # accepted / rejected / duplicate / deferred
    kind: str = ""
    department: str = ""
    errors: int = 0
    warnings: int = 0
    filed: str = ""  # relative to the workspace
    reason: str = ""  # why deferred, or what it duplicates


@dataclass
class RunReport:
    workspace: Path
    as_of: date
    run_id: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    ignored: int = 0
    outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Korean notes for the summary and the log
    problems: list[Problem] = field(default_factory=list)  # merge and policy problems
    merged: Merged | None = None
    policy: Any = None  # policy.PolicyResult
    tracking: Any = None  # tracking.Tracking: weekly reports, self plans, the calendar, who owes what
    replaced: dict[str, int] = field(default_factory=dict)
    mail: Any = None  # deliver.MailResult (None when run with mail=False)
    feedback: Any = None  # feedback.FeedbackResult: annotated copies in outbox/반려 (None without outputs)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("rejected") else 0

    def summary_lines(self) -> list[str]:
        seen = len(self.outcomes)
        lines = [
            f"coop-batch 실행 결과 (기준일 {self.as_of.isoformat()})",
            f"  받은 파일 {seen}건: 접수 {self.count('accepted')}, 반려 {self.count('rejected')}, "
            f"중복 {self.count('duplicate')}, 대기 {self.count('deferred')}",
        ]
        errors = sum(o.errors for o in self.outcomes)
        warnings = sum(o.warnings for o in self.outcomes)
        if errors or warnings:
            lines.append(f"  문제: 오류 {errors}건, 경고 {warnings}건 (자세한 내용은 통합현황의 '오류' 시트)")
        for outcome in self.outcomes:
            if outcome.status == "rejected":
                lines.append(f"  반려: {outcome.path} (오류 {outcome.errors}건) → {outcome.filed}")
            elif outcome.status == "deferred":
                lines.append(f"  대기: {outcome.path} ({outcome.reason})")
            elif outcome.status == "duplicate":
                lines.append(f"  중복: {outcome.path} ({outcome.reason}) → {outcome.filed}")
        if self.feedback is not None:
            lines += self.feedback.summary_lines()  # problems per department, where the copies are
        if self.policy is not None:
            lines.append(
                f"  포상금 합계 {self.policy.total_reward_won:,}원, {self.policy.honours_text()}"
            )
        if self.tracking is not None:
            lines.append(self.tracking.headline())
        if self.problems:
            lines.append(f"  취합·포상 검토 사항 {len(self.problems)}건 (통합현황의 '오류' 시트)")
        lines += [f"  참고: {note}" for note in self.notes]
        lines += [f"  결과 파일: {path}" for path in self.outputs]
        return [josa(line) for line in lines]
