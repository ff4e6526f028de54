"""The 요약 dashboard of the master workbook: what a deputy mayor reads in ten seconds.

Key figures first (files received and rejected, the reward total, people on the rosters,
weekly reports missing this week), then small tables, each feeding a native Excel chart
drawn to the right: awards by year (the rules file's `[[history]]` plus this year's
merged results), 포상금 by 사업구분, weekly-report compliance by week.

Every figure is a value computed here, not a formula: some viewers (and mail previews)
never recalculate.  The tables are what the charts draw, so a reader can check a bar
against its number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .master_history import STATUS_KO
from .schema import KINDS
from .tracking import UPCOMING_DAYS
from .write import ChartSpec, ColumnSpec, Figure, SummarySpec, SummaryTable

if TYPE_CHECKING:  # pragma: no cover
    from .feedback import Plan
    from .ledger import FileRow
    from .rules import Rules
    from .run import RunReport


HISTORY_TABLE = "연도별 수상 현황"
CATEGORY_TABLE = "사업구분별 포상금"
WEEKS_SHOWN = 10  # the dashboard's weekly chart: recent weeks (the whole year is on 주간보고현황)
WEEKLY_TABLE = f"주별 주간보고 제출(최근 {WEEKS_SHOWN}주)"
DEPARTMENT_TABLE = "부서별 검토 사항(검토본: outbox/반려/부서명)"
CHANGES_TABLE = "지난 실행 이후 변경"


@dataclass(frozen=True)
class WeekCount:
    """One report week on the compliance chart."""

    day: Any  # date of the report day (Friday)
    submitted: int  # on time
    late: int
    missing: int

    @property
    def due(self) -> int:
        return self.submitted + self.late + self.missing

    @property
    def rate(self) -> Decimal | None:
        """Share submitted on time, exact (a Decimal, so the cell holds no float noise)."""
        if not self.due:
            return None
        return (Decimal(self.submitted) / Decimal(self.due)).quantize(Decimal("0.0001"))


def summary_sheet(
    report: RunReport, history: Sequence[FileRow], rules: Rules, plan: Plan | None = None
) -> SummarySpec:
    """`plan`: the night's copy plan (`feedback.plan_copies`), for the counts per department."""
    policy = report.policy
    tracking = getattr(report, "tracking", None)
    weeks = week_counts(tracking)
    figures = key_figures(report, history, weeks)
    tables: list[SummaryTable] = []
    charts: list[ChartSpec] = []

    awards = award_history(rules, report.merged.data.get("results", []) if report.merged else [], policy.year)
    if awards:
        tables.append(history_table(awards))
        # Rank rides in the year's label: on an axis, rank 1 would be the lowest point.
        charts.append(
            ChartSpec(
                HISTORY_TABLE, "연도(순위)", ["수상금(원)"], secondary=["수상 사업 수"],
                title="연도별 수상금(원)·수상 사업 수", y2_title="수상 사업 수(개)",
            )
        )
    categories = category_table(policy.rewards, rules)
    if categories.rows:
        tables.append(categories)
        charts.append(ChartSpec(CATEGORY_TABLE, "사업구분", ["포상금(원)"], title="사업구분별 포상금(원)"))
    if weeks:
        tables.append(weekly_table(weeks[-WEEKS_SHOWN:]))
        # Counts, not the rate: a rate axis would start wherever the viewer likes (76%) and shout.
        charts.append(ChartSpec(WEEKLY_TABLE, "보고일", ["제출", "지연", "미제출"], title="주별 주간보고 제출 현황"))
    departments = department_table(history, plan)
    if departments.rows:
        tables.append(departments)
    upcoming = upcoming_table(tracking)
    if upcoming is not None and upcoming.rows:
        tables.append(upcoming)
    tables.append(changes_table(report))
    return SummarySpec(
        figures=figures,
        tables=tables,
        charts=charts,
        title=f"{rules.year}년 시·자치구 공동협력사업 통합현황",
        subtitle=f"기준일 {report.as_of.isoformat()} · 평가결과 {policy.year}년 · 규칙 {rules.version}",
        note="※ 숫자는 값으로 적었습니다(다시 계산하지 않아도 맞습니다). 자세한 내용은 각 시트를 보세요.",
    )


# --- figures ---


def key_figures(report: RunReport, history: Sequence[FileRow], weeks: Sequence[WeekCount]) -> list[Figure]:
    policy = report.policy
    counts = {status: report.count(status) for status in STATUS_KO}
    seen = Counter(row.status.value for row in history)  # one pass over a 5,000-row history, not four
    totals = {status: seen[status] for status in STATUS_KO}
    received = " · ".join(f"{STATUS_KO[s]} {counts[s]}" for s in STATUS_KO)
    rejected_note = "부서별 검토본: outbox/반려/부서명 · '오류' 시트" if counts["rejected"] else ""
    awarded = sum(1 for row in policy.rewards if row.get("포상금(원)"))
    figures = [
        Figure("기준일", report.as_of),
        Figure("이번 실행: 받은 파일", len(report.outcomes), note=received),
        Figure("이번 실행: 반려", counts["rejected"], note=rejected_note),
        Figure("포상금 합계", policy.total_reward_won, "money", note=f"지급 사업 {awarded}개 · '포상금지급' 시트"),
        Figure("특별휴가 대상", len(policy.leave), note="명 · '특별휴가' 시트"),
        Figure("표창추천 대상", policy.recommended, note=_recommendations(policy)),
        Figure("근무평정 배려 대상", len(policy.personnel), note="명 · '근무평정' 시트"),
    ]
    if weeks:
        last = weeks[-1]  # the latest week whose deadline has come (tracking's current week)
        missing = getattr(report.tracking, "missing_this_week", lambda: [])()
        names = list(dict.fromkeys(r.project.department for r in missing))
        departments = ", ".join(names[:5]) + (f" 외 {len(names) - 5}곳" if len(names) > 5 else "")
        if departments:  # the figure counts projects: a department may owe two reports
            departments = f"사업 {last.missing}건, 부서 {len(names)}곳: {departments}"
        figures.append(
            Figure(f"이번 주({last.day.month}/{last.day.day}) 주간보고 미제출", last.missing,
                   note=departments or f"제출 {last.submitted} · 지연 {last.late} · '주간보고현황' 시트")
        )
    figures += [
        Figure("취합·포상 검토 사항", len(report.problems), note="'오류' 시트"),
        Figure("누적 접수 파일", totals["accepted"], note="'제출이력' 시트"),
        Figure("누적 반려 파일", totals["rejected"], note="'제출이력' 시트"),
    ]
    return figures


# --- awards by year ---


@dataclass(frozen=True)
class AwardYear:
    year: int
    rank: int | None
    amount_won: int | None
    awards: int | None
    note: str


def award_history(rules: Rules, results: Sequence[Mapping[str, Any]], year: int) -> list[AwardYear]:
    """The rules' `[[history]]` plus the evaluation year's merged results, oldest first.

    The history counts one 사업구분 (seed I: 인센티브사업 only), so this year's figure counts
    the same one, like for like.  When the year is already in the history (the results of a
    past year being paid now) its rank stays and its amount is the merged one."""
    if not rules.history:
        return []
    categories = {e.category for e in rules.history}
    category = categories.pop() if len(categories) == 1 else None
    mine = [
        r for r in results
        if r.get("tier") and (category is None or rules.category_of(str(r.get("category") or "")) == category)
    ]
    amount = sum(int(r.get("prize_won") or 0) for r in mine)
    rows = [AwardYear(e.year, e.rank, e.amount_won, e.awards, "추진계획(I 개요)") for e in rules.history]
    known = next((row for row in rows if row.year == year), None)
    if not results:
        current = AwardYear(year, known.rank if known else None, None, None, "평가결과 미접수")
    else:
        note = "이번 취합(평가결과)"
        if known is not None and known.amount_won != amount:
            note += f", 계획서상 {known.amount_won:,}원"
        current = AwardYear(year, known.rank if known else None, amount, len(mine), note)
    if known is not None and current.amount_won is None:
        return rows  # nothing merged yet: the recorded figure stands
    return sorted([row for row in rows if row.year != year] + [current], key=lambda row: row.year)


def history_table(rows: Sequence[AwardYear]) -> SummaryTable:
    return SummaryTable(
        HISTORY_TABLE,
        [ColumnSpec("연도(순위)"), ColumnSpec("수상금(원)", "money"), ColumnSpec("수상 사업 수", "int"),
         ColumnSpec("비고")],
        [[f"{r.year}년 ({r.rank}위)" if r.rank else f"{r.year}년", r.amount_won, r.awards, r.note] for r in rows],
    )


# --- 포상금 by 사업구분 ---


def category_table(rewards: Sequence[Mapping[str, Any]], rules: Rules) -> SummaryTable:
    order = {name: i for i, name in enumerate(rules.categories)}
    table: dict[str, list[int]] = {}
    for row in rewards:
        label = str(row.get("사업구분") or "미분류")
        entry = table.setdefault(rules.category_of(label) or label, [0, 0, 0])
        entry[0] += 1
        entry[1] += int(row.get("수상금(원)") or 0)
        entry[2] += int(row.get("포상금(원)") or 0)
    names = sorted(table, key=lambda name: (order.get(name, len(order)), name))
    return SummaryTable(
        CATEGORY_TABLE,
        [ColumnSpec("사업구분"), ColumnSpec("사업 수", "int"), ColumnSpec("수상금(원)", "money"),
         ColumnSpec("포상금(원)", "money")],
        [[name, *table[name]] for name in names],
    )


# --- weekly compliance (from tracking, when the run computed it) ---


def week_counts(tracking: Any) -> list[WeekCount]:
    """Per report week whose deadline has come: on time / late / missing (empty without tracking)."""
    if tracking is None or not hasattr(tracking, "week_totals"):
        return []
    deadlines = getattr(tracking, "deadlines", {})
    as_of = getattr(tracking, "as_of", None)
    out = []
    for day, submitted, late, missing in tracking.week_totals():
        if as_of is not None and day in deadlines and deadlines[day] > as_of:
            continue  # still open: 0 of 0 would read as a bad week
        out.append(WeekCount(day, submitted, late, missing))
    return out


def weekly_table(weeks: Sequence[WeekCount]) -> SummaryTable:
    return SummaryTable(
        WEEKLY_TABLE,
        [ColumnSpec("보고일"), ColumnSpec("제출", "int"), ColumnSpec("지연", "int"), ColumnSpec("미제출", "int"),
         ColumnSpec("기한 내 제출률", "percent")],
        [[f"{w.day.month}/{w.day.day}", w.submitted, w.late, w.missing, w.rate] for w in weeks],
    )


def upcoming_table(tracking: Any, days: int = UPCOMING_DAYS) -> SummaryTable | None:
    """The coming two weeks of the calendar (the 일정 sheet has the whole year)."""
    if tracking is None or not hasattr(tracking, "upcoming"):
        return None
    rows = [[e.when, e.name, e.owner, e.state(tracking.as_of)] for e in tracking.upcoming(days)]
    return SummaryTable(
        f"앞으로 {days}일 일정",
        [ColumnSpec("날짜"), ColumnSpec("일정"), ColumnSpec("담당"), ColumnSpec("상태", "status")],
        rows,
    )


# --- problems per department, what changed ---


def department_table(history: Sequence[FileRow], plan: Plan | None = None) -> SummaryTable:
    """Files with problems per department, over the copies now in outbox/반려 (the same on a rerun)."""
    from .feedback import current_counts

    counts = current_counts(history, plan)
    return SummaryTable(
        DEPARTMENT_TABLE,
        [ColumnSpec("부서"), ColumnSpec("파일", "int"), ColumnSpec("반려", "int"), ColumnSpec("오류", "int"),
         ColumnSpec("경고", "int")],
        [[c.department, c.files, c.rejected, c.errors, c.warnings] for c in counts],
    )


def changes_table(report: RunReport) -> SummaryTable:
    merged = report.merged
    rows = [
        [kind.sheet, len(merged.data.get(kind.id, [])) if merged else 0,
         sum(o.status == "accepted" and o.kind == kind.id for o in report.outcomes),
         report.replaced.get(kind.id, 0)]
        for kind in KINDS
    ]
    return SummaryTable(
        CHANGES_TABLE,
        [ColumnSpec("서식"), ColumnSpec("통합 행 수", "int"), ColumnSpec("새로 접수한 파일", "int"),
         ColumnSpec("새 파일로 바뀐 행", "int")],
        rows,
    )


def _recommendations(policy: Any) -> str:
    rows = sum(1 for row in policy.commendations if row["성명"])
    return "명 · '표창추천' 시트" + (f" (추천 {rows}건: 여러 사업에서 추천된 직원 있음)" if rows != policy.recommended else "")
