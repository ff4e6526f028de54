"""특별휴가, 표창추천 and 근무평정 rosters (seed IV 격려기준, 특별휴가 선정기준, 표창추천, 인사상 우대).

Who is who comes from 담당자지정: the 총괄부서 row's 팀장 is the 총괄팀장 and its
담당 the 총괄담당자; each 협조부서 row's 담당 is that department's 총괄담당자.  The
role names are the keys of `[leave.days]` in the rules file; days come from there.

A person is (department, name) compared with `normalize.squash`.  One person on
several awarded projects gets leave for ONE project only — highest tier, then the
larger 수상금, then the lower 연번 (`policy.precedence`) — never summed, and the
row names the projects set aside.  "Awarded" = the grade is in the grade table;
미통보 and 경상보조금 do not matter here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from .errors import Problem
from .normalize import squash
from .policy import CONTACTS, RESULTS, STAFF, Project, basis, category_rule, precedence, problem, source, text
from .records import FILE_KEY, ROW_KEY
from .rules import LEAVE_ROLES, Rules

LEAD_OFFICER, LEAD_LEADER, COOP_OFFICER = LEAVE_ROLES  # the names `[leave.days]` gives days to
ROLES = (LEAD_OFFICER, LEAD_LEADER, COOP_OFFICER)  # also the tie-break for one person in two roles of a project
LEAD_ROLE, COOP_ROLE = "총괄부서", "협조부서"  # 담당자지정 구분
OFFICER_LEVEL, LEADER_LEVEL = "담당자", "팀장"  # 추천구분: the rows of the seed's 격려기준 table

Person = tuple[str, str]  # (squashed department, squashed name)


@dataclass(frozen=True)
class Entitlement:
    """One person's leave entitlement from one project in one role (days > 0)."""

    project: Project
    role: str
    department: str
    rank: str
    name: str
    days: int
    contact: Mapping[str, Any]
    name_field: str  # the 담당자지정 field the name came from (for the source cell)

    @property
    def person(self) -> Person:
        return (self.department, squash(self.name))


@dataclass
class Honours:
    leave: list[dict[str, Any]] = field(default_factory=list)
    commendations: list[dict[str, Any]] = field(default_factory=list)
    personnel: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def compute_honours(projects: list[Project], rules: Rules, deadline: date) -> Honours:
    out = Honours()
    entitlements: list[Entitlement] = []
    commendations: list[tuple[int, dict[str, Any]]] = []
    for project in projects:
        if not project.awarded:
            continue
        lead, coops, problems = contacts_of(project)
        out.problems += problems
        entitlements += _entitlements(project, lead, coops, rules)
        if lead is not None:
            commendations += [(project.seq, row) for row in commendation_rows(project, lead, rules, out.problems)]
    out.leave = leave_rows(entitlements, rules, deadline)
    out.personnel = personnel_rows(entitlements, rules)
    commendations.sort(key=lambda pair: (pair[0], pair[1]["부서명"], pair[1]["성명"]))
    out.commendations = [row for _, row in commendations]
    _note_repeated(out.commendations)
    return out


def _note_repeated(rows: list[dict[str, Any]]) -> None:
    """A person recommended for more than one project: each row says so.  The plan (IV) limits special
    leave to one project a person, not recommendations; how many commendations one person gets is the
    budget office's call, so it is put before them, not decided."""
    projects: dict[Person, int] = defaultdict(int)
    for row in rows:
        if row["성명"]:
            projects[(row["부서명"], squash(row["성명"]))] += 1
    for row in rows:
        count = projects.get((row["부서명"], squash(row["성명"])), 0) if row["성명"] else 0
        if count > 1:
            note = f"같은 직원을 {count}개 사업에서 추천: 표창 횟수 확인"
            row["비고"] = f"{row['비고']}; {note}" if row["비고"] else note



def contacts_of(project: Project) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]], list[Problem]]:
    """(the 총괄부서 row, the 협조부서 rows, problems) of a project's 담당자지정."""
    if not project.contacts:
        return None, [], [
            problem(
                "contacts-missing", project.record, RESULTS, "project",
                project=project.name, seq=project.seq, grade=project.grade, department=project.lead_department,
            )
        ]
    leads = [c for c in project.contacts if squash(text(c.get("role"))) == LEAD_ROLE]
    coops = [c for c in project.contacts if squash(text(c.get("role"))) == COOP_ROLE]
    if not leads:
        return None, coops, [
            problem(
                "contacts-no-lead", project.contacts[0], CONTACTS, "role",
                project=project.name, department=project.lead_department,
            )
        ]
    # Two departments claiming the lead is reported by merge (lead-conflict); prefer the one 평가결과 names.
    lead = next((c for c in leads if squash(text(c.get("department"))) == project.lead_department), leads[0])
    return lead, coops, []


def _entitlements(
    project: Project, lead: Mapping[str, Any] | None, coops: list[Mapping[str, Any]], rules: Rules
) -> list[Entitlement]:
    slots: list[tuple[Mapping[str, Any], str, str, str]] = []  # (contact, role, rank field, name field)
    if lead is not None:
        slots += [
            (lead, LEAD_OFFICER, "officer_rank", "officer_name"),
            (lead, LEAD_LEADER, "leader_rank", "leader_name"),
        ]
    slots += [(coop, COOP_OFFICER, "officer_rank", "officer_name") for coop in coops]
    found = []
    for contact, role, rank_field, name_field in slots:
        name = text(contact.get(name_field))
        days = rules.leave.days.get(role, {}).get(project.tier or "", 0)
        if name and days > 0:
            found.append(
                Entitlement(
                    project, role, squash(text(contact.get("department"))), text(contact.get(rank_field)),
                    name, days, contact, name_field,
                )
            )
    return found


def _choose(entitlements: list[Entitlement], rules: Rules) -> list[tuple[Entitlement, list[Entitlement]]]:
    """Per person: the entitlement that counts and the others set aside (the one-project rule)."""
    by_person: dict[Person, list[Entitlement]] = defaultdict(list)
    for entitlement in entitlements:
        by_person[entitlement.person].append(entitlement)
    chosen = []
    for group in by_person.values():
        group.sort(key=lambda e: (*precedence(e.project, rules), -e.days, ROLES.index(e.role)))
        chosen.append((group[0], group[1:]))
    chosen.sort(key=lambda pair: (pair[0].project.seq, pair[0].department, pair[0].name))
    return chosen


def leave_rows(entitlements: list[Entitlement], rules: Rules, deadline: date) -> list[dict[str, Any]]:
    rows = []
    for best, others in _choose(entitlements, rules):
        project = best.project
        notes = []
        aside = [e.project for e in others if e.project is not project]
        if aside:
            labels = ", ".join(p.label() for p in dict.fromkeys(aside))
            notes.append(f"동일인 중복 수상: 상위등급 1개 사업만(합산 안 함) — 제외: {labels}")
        roles = [e.role for e in others if e.project is project and e.role != best.role]
        if roles:
            notes.append(f"같은 사업의 {', '.join(dict.fromkeys(roles))} 지정은 합산 안 함")
        rule = f"{best.role}·{project.tier} → 특별휴가 {best.days}일"
        if aside:
            rule += f"(상위등급 1개 사업: 연번 {project.seq})"
        rows.append(
            {
                "부서명": best.department,
                "직급": best.rank,
                "성명": best.name,
                "역할": best.role,
                "사업명": project.name,
                "평가결과": project.grade,
                "휴가일수": best.days,
                "사용기한": deadline,
                "비고": "; ".join(notes),
                "근거": basis(
                    rule,
                    source(best.contact, CONTACTS, best.name_field),
                    source(project.record, RESULTS, "grade"),
                ),
            }
        )
    return rows


def personnel_rows(entitlements: list[Entitlement], rules: Rules) -> list[dict[str, Any]]:
    """Everyone with leave from a project whose category gives 인사상 우대 (even if the leave went to another)."""
    eligible = [e for e in entitlements if (rule := category_rule(e.project, rules)) and rule.personnel_preference]
    rows = []
    for best, _ in _choose(eligible, rules):
        project = best.project
        rows.append(
            {
                "부서명": best.department,
                "직급": best.rank,
                "성명": best.name,
                "사업명": project.name,
                "평가결과": project.grade,
                "근거": basis(
                    f"{project.category} 수상({best.role}) → 근무평정 배려(IV 인사상 우대)",
                    source(best.contact, CONTACTS, best.name_field),
                    source(project.record, RESULTS, "grade"),
                ),
            }
        )
    return rows


# --- 표창추천 ---


def commendation_rows(
    project: Project, lead: Mapping[str, Any], rules: Rules, problems: list[Problem] | None = None
) -> list[dict[str, Any]]:
    """The 담당자-level recommendation (총괄담당자, else the lead department's best non-commended staff)
    and, at the leader tiers, the 총괄팀장 — nobody already commended (기표창) for this project."""
    department = squash(text(lead.get("department")))
    commended: dict[Person, Mapping[str, Any]] = {
        (squash(text(s.get("department"))), squash(text(s.get("name")))): s for s in project.staff if s.get("commended")
    }
    grade_ref = source(project.record, RESULTS, "grade")
    rows: list[dict[str, Any]] = []
    taken: set[Person] = set()

    def row(rank: str, name: str, role: str, level: str, note: str, rule: str, *refs: str) -> dict[str, Any]:
        return {
            "사업명": project.name,
            "부서명": department,
            "직급": rank,
            "성명": name,
            "역할": role,
            "추천구분": level,
            "비고": note,
            "근거": basis(f"{project.tier}·{rule}", *refs, grade_ref),
        }

    leader = text(lead.get("leader_name"))
    if project.tier in rules.commendation.leader_tiers and leader and (department, squash(leader)) not in commended:
        taken.add((department, squash(leader)))
        rows.append(
            row(
                text(lead.get("leader_rank")), leader, LEAD_LEADER, LEADER_LEVEL, "",
                "총괄팀장 → 팀장 표창추천", source(lead, CONTACTS, "leader_name"),
            )
        )
    if project.tier not in rules.commendation.officer_tiers:
        return rows
    officer = text(lead.get("officer_name"))
    officer_ref = source(lead, CONTACTS, "officer_name")
    if officer and (department, squash(officer)) not in commended:
        rows.append(
            row(
                text(lead.get("officer_rank")), officer, LEAD_OFFICER, OFFICER_LEVEL, "",
                "총괄담당자 1순위 → 담당자 표창추천", officer_ref,
            )
        )
        return rows
    why = f"총괄담당자 {officer} 기표창" if officer else "총괄담당자 미지정"
    excluded = taken | {(department, squash(officer))}
    if officer:
        officer_ref = source(commended[(department, squash(officer))], STAFF, "commended")
    candidates = sorted(
        (
            s
            for s in project.staff
            if squash(text(s.get("department"))) == department
            and not s.get("commended")
            and (department, squash(text(s.get("name")))) not in excluded
            and text(s.get("name"))
        ),
        key=lambda s: (s.get("contribution_rank") or 0, str(s.get(FILE_KEY) or ""), s.get(ROW_KEY) or 0),
    )
    if not candidates:
        rows.append(
            row(
                "", "", LEAD_OFFICER, OFFICER_LEVEL,
                f"추천 대상 없음: {why}, 총괄부서 유공직원 중 기표창이 아닌 직원 없음",
                f"{why} → 총괄부서 유공직원 중 추천 대상 없음", officer_ref,
            )
        )
        return rows
    best = candidates[0]
    place = best.get("contribution_rank")
    tied = [s for s in candidates if s.get("contribution_rank") == place]
    if len(tied) > 1 and problems is not None:  # the order the rows were written in decided: say so
        problems.append(problem("rank-tie", best, STAFF, "contribution_rank", project=project.name,
                                department=department, place=place, chosen=text(best.get("name")),
                                names=", ".join(text(s.get("name")) for s in tied)))
    rows.append(
        row(
            text(best.get("rank")), text(best.get("name")), f"총괄부서 유공직원(기여도 {place}위)", OFFICER_LEVEL,
            f"{why} → 총괄부서 기여도 최상위 직원 대체 추천",
            f"{why} → 총괄부서 기여도순위 {place}위 직원 추천", officer_ref, source(best, STAFF, "contribution_rank"),
        )
    )
    return rows
