"""The text of the run's mail: plain text and a simple HTML twin with the same content.

Readers are 부구청장실 and department heads reading on Outlook or a phone: short
sections, numbers first, where the files are.  Weekly tracking (`report.tracking`) is
used when the run has it; without it those sections are left out, not faked.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .tracking import UPCOMING_DAYS

if TYPE_CHECKING:
    from .run import RunReport

WEEKDAYS = "월화수목금토일"
MAX_LISTED = 20  # longer lists are cut: the workbook has them all


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int
    path: Path


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))}KB"


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.month}/{value.day}({WEEKDAYS[value.weekday()]})"
    return str(value or "")




def _tracking(report: RunReport) -> Any:
    """`report.tracking` (tracking.Tracking) when this run computed it, else None."""
    tracking = getattr(report, "tracking", None)
    return tracking if callable(getattr(tracking, "owing", None)) else None


def owing(report: RunReport) -> list[tuple[str, list[str]]] | None:
    """Departments that still owe something, each with what (item, project, due, status)."""
    tracking = _tracking(report)
    if tracking is None:
        return None
    from .tracking_report import owed_items

    out = []
    for department, reminders in tracking.owing().items():
        items = []
        for r in owed_items(reminders):
            due = _day(r.due) if r.due else ""
            when = f" (기한 {due})" if due and due not in r.item else ""
            items.append(f"[{r.status}] {r.item}{when}" + (f" - {r.project}" if r.project else ""))
        out.append((department, items))
    return out


def this_week(report: RunReport) -> str | None:
    """`3/4(금) 주간보고: 제출 12, 지연 2, 미제출 3` for the latest report day that has come due."""
    tracking = _tracking(report)
    week = getattr(tracking, "current_week", None) if tracking is not None else None
    if week is None:
        return None
    for day, on_time, late, missing in tracking.week_totals():
        if day == week:
            return f"{_day(day)} 주간보고: 제출 {on_time}, 지연 {late}, 미제출 {missing}"
    return None


def upcoming(report: RunReport) -> list[tuple[str, str]] | None:
    """(when, what) of the coming two weeks' deadlines and schedule."""
    tracking = _tracking(report)
    if tracking is None:
        return None
    out = []
    for event in tracking.upcoming(UPCOMING_DAYS):
        when = _day(event.start) + (f"~{_day(event.end)}" if event.end != event.start else "")
        out.append((when, event.name + (f" - {event.owner}" if event.owner else "")))
    return out


def _sections(report: RunReport, attached: list[Attachment], left_out: list[Attachment], limit_mb: float) -> list[tuple[str, list[str]]]:
    """(heading, lines) shared by the text and the HTML versions."""
    count = report.count
    files = [
        f"받은 파일 {len(report.outcomes)}건: 접수 {count('accepted')}, 반려 {count('rejected')}, "
        f"중복 {count('duplicate')}, 대기 {count('deferred')}"
    ]
    rejected = [o for o in report.outcomes if o.status == "rejected"]
    files += [f"반려: {o.path} (오류 {o.errors}건{', ' + o.department if o.department else ''})" for o in rejected[:MAX_LISTED]]
    if len(rejected) > MAX_LISTED:
        files.append(f"… 외 {len(rejected) - MAX_LISTED}건 (통합현황의 '제출이력' 시트)")
    sections = [("접수 현황", files)]

    owed = owing(report)
    if owed is not None:
        lines = [week] if (week := this_week(report)) else []
        lines += [f"{dept}: {'; '.join(items[:5])}{' 외' if len(items) > 5 else ''}" for dept, items in owed[:MAX_LISTED]]
        if len(owed) > MAX_LISTED:
            lines.append(f"… 외 {len(owed) - MAX_LISTED}곳 (통합현황의 '미제출목록' 시트)")
        if not owed:
            lines.append("없음 (모든 부서가 제출했습니다)")
        sections.append(("아직 낼 것이 있는 부서", lines))

    if report.policy is not None:
        policy = report.policy
        sections.append(("포상", [
            f"포상금 합계 {policy.total_reward_won:,}원",
            policy.honours_text(),
        ]))

    coming = upcoming(report)
    if coming is not None:
        sections.append((f"다가오는 일정 ({UPCOMING_DAYS}일)", [f"{when} {what}" for when, what in coming[:MAX_LISTED]] or ["없음"]))

    files_lines = [f"{a.name} ({_size(a.size)}) — 첨부" for a in attached]
    files_lines += [
        f"{a.name} ({_size(a.size)}) — 첨부 크기 제한({limit_mb:g}MB)을 넘어 첨부하지 않았습니다. 위치: {a.path}"
        for a in left_out
    ]
    sections.append(("결과 파일", files_lines or ["없음"]))
    if report.notes:
        sections.append(("참고", list(report.notes)))
    return sections


def _title(report: RunReport) -> str:
    return f"시·자치구 공동협력사업 통합현황 (기준일 {report.as_of.isoformat()})"


FOOTER = "이 메일은 coop-batch 야간 배치가 자동으로 작성했습니다. 문의는 기획예산과로 해 주세요."


def render_text(report: RunReport, attached: list[Attachment], left_out: list[Attachment], limit_mb: float) -> str:
    out = [_title(report), ""]
    for heading, lines in _sections(report, attached, left_out, limit_mb):
        out.append(f"■ {heading}")
        out += [f"  - {line}" for line in lines]
        out.append("")
    out += ["-- ", FOOTER]
    return "\n".join(out) + "\n"


def _ul(lines: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def render_html(report: RunReport, attached: list[Attachment], left_out: list[Attachment], limit_mb: float) -> str:
    parts = [
        '<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"></head>',
        '<body style="font-family: \'맑은 고딕\', \'Malgun Gothic\', sans-serif; font-size: 10pt">',
        f"<h2>{html.escape(_title(report))}</h2>",
    ]
    for heading, lines in _sections(report, attached, left_out, limit_mb):
        parts.append(f"<h3>{html.escape(heading)}</h3>{_ul(lines)}")
    parts.append(f'<p style="color:#666">{html.escape(FOOTER)}</p></body></html>')
    return "\n".join(parts) + "\n"
