from datetime import date

from coop_batch.merge import Source, merge


def weekly(dept, project, day, text, row=2):
    return {"report_date": day, "project": project, "department": dept, "progress": text, "_row": row}


def test_latest_wins_per_key_and_older_rows_are_replaced_whole():
    old = Source("계획_v1.xlsx", "plans", [
        {"project": "안전도시 만들기", "department": "안전치수과", "item": "A", "_row": 2},
        {"project": "안전도시 만들기", "department": "안전치수과", "item": "B", "_row": 3},
    ])
    new = Source("계획_v2.xlsx", "plans", [
        {"project": "안전도시  만들기", "department": "안 전 치 수 과", "item": "C", "_row": 2},
    ])
    merged = merge([old, new])
    assert [r["item"] for r in merged.data["plans"]] == ["C"]
    assert merged.data["plans"][0]["_file"] == "계획_v2.xlsx"
    assert merged.replaced == {"plans": 2}


def test_weekly_key_includes_report_date():
    a = Source("a.xlsx", "weekly", [weekly("세무과", "체납", date(2016, 3, 4), "1주")])
    b = Source("b.xlsx", "weekly", [weekly("세무과", "체납", date(2016, 3, 11), "2주")])
    c = Source("c.xlsx", "weekly", [weekly("세무과", "체납", date(2016, 3, 4), "1주 수정")])
    merged = merge([a, b, c])
    assert [(r["report_date"].day, r["progress"]) for r in merged.data["weekly"]] == [(4, "1주 수정"), (11, "2주")]


def test_other_departments_are_not_replaced():
    a = Source("a.xlsx", "staff", [{"project": "P", "department": "환경과", "name": "김", "_row": 2}])
    b = Source("b.xlsx", "staff", [{"project": "P", "department": "지역경제과", "name": "이", "_row": 2}])
    merged = merge([a, b])
    assert {r["name"] for r in merged.data["staff"]} == {"김", "이"}
    assert merged.replaced == {}


def test_lead_conflict_is_reported_not_resolved():
    a = Source("환경과.xlsx", "contacts", [{"project": "에너지", "role": "총괄부서", "department": "환경과", "_row": 2}])
    b = Source("경제과.xlsx", "contacts", [{"project": "에너지", "role": "총괄부서", "department": "지역경제과", "_row": 2}])
    merged = merge([a, b])
    assert len(merged.data["contacts"]) == 2
    [problem] = merged.problems
    assert problem.code == "lead-conflict"
    assert "지역경제과" in problem.message and "환경과" in problem.message
