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


def result(seq, project, prize="10", row=2):
    return {"seq": seq, "project": project, "grade": "우수", "prize_won": prize, "departments": "공원녹지과", "_row": row}


def test_a_corrected_results_list_replaces_the_older_list_whole():
    """The budget office fixes a project's name in its 평가결과 and sends the list again: the old list
    goes, the renamed row is not paid twice, and the name change is said."""
    old = Source("평가결과.xlsx", "results", [result(1, "공원녹지 확충"), result(2, "청렴도 평가", row=3)])
    new = Source("평가결과_수정.xlsx", "results", [result(1, "공원녹지 확충사업"), result(2, "청렴도 평가", "12", row=3)])
    merged = merge([old, new])
    assert [(r["seq"], r["project"], r["prize_won"], r["_file"]) for r in merged.data["results"]] == [
        (1, "공원녹지 확충사업", "10", "평가결과_수정.xlsx"), (2, "청렴도 평가", "12", "평가결과_수정.xlsx")]
    assert merged.replaced == {"results": 2}
    [problem] = merged.problems
    assert (problem.code, problem.file, problem.sheet) == ("result-replaced", "평가결과_수정.xlsx", "평가결과")
    assert "연번 1" in problem.message and "'공원녹지 확충'" in problem.message and "'공원녹지 확충사업'" in problem.message
    assert "평가결과.xlsx" in problem.message


def test_a_results_row_resent_under_the_same_name_is_replaced_without_a_word():
    old = Source("평가결과.xlsx", "results", [result(1, "공원녹지 확충", "10")])
    new = Source("평가결과.xlsx", "results", [result(1, "공원녹지  확충", "12"), result(3, "새 사업", row=3)])
    merged = merge([old, new])
    assert [(r["seq"], r["prize_won"]) for r in merged.data["results"]] == [(1, "12"), (3, "10")]
    assert merged.problems == []


def test_a_renumbered_list_pays_each_project_once():
    """A row deleted and the rest renumbered: 다사업 (연번 3, now 2) is in the new list only once."""
    old = Source("평가결과.xlsx", "results", [result(1, "가사업"), result(2, "나사업", row=3), result(3, "다사업", row=4)])
    new = Source("평가결과_수정.xlsx", "results", [result(1, "가사업"), result(2, "다사업", row=3)])
    merged = merge([old, new])
    assert [(r["seq"], r["project"]) for r in merged.data["results"]] == [(1, "가사업"), (2, "다사업")]
    [problem] = merged.problems  # 나사업 left: its 연번 now names 다사업
    assert problem.code == "result-replaced" and "'나사업'" in problem.message and "'다사업'" in problem.message


def test_a_project_left_out_of_a_corrected_list_is_withdrawn_and_said():
    old = Source("평가결과.xlsx", "results", [result(1, "가사업"), result(2, "나사업", row=3), result(3, "다사업", row=4)])
    new = Source("평가결과_수정.xlsx", "results", [result(1, "가사업"), result(3, "다사업", row=4)])
    merged = merge([old, new])
    assert [r["project"] for r in merged.data["results"]] == ["가사업", "다사업"]
    [problem] = merged.problems
    assert (problem.code, problem.file, problem.is_error) == ("row-withdrawn", "평가결과_수정.xlsx", False)
    assert "'평가결과.xlsx'에 있던 연번 2 '나사업' 행이" in problem.message


def test_a_list_that_shares_nothing_with_the_older_one_is_added():
    """The year's results sent in parts (연번 not overlapping): each part stays."""
    first = Source("평가결과_공동협력.xlsx", "results", [result(1, "가사업"), result(2, "나사업", row=3)])
    later = Source("평가결과_대외기관.xlsx", "results", [result(3, "청렴도 평가")])
    merged = merge([first, later])
    assert [r["project"] for r in merged.data["results"]] == ["가사업", "나사업", "청렴도 평가"]
    assert merged.replaced == {} and merged.problems == []
    whole = Source("평가결과_전체.xlsx", "results", [result(1, "가사업"), result(2, "나사업"), result(3, "청렴도 평가")])
    merged = merge([first, later, whole])  # the whole list again replaces both parts
    assert {r["_file"] for r in merged.data["results"]} == {"평가결과_전체.xlsx"} and merged.problems == []


def split(dept, amount, project="가사업", row=2):
    return {"project": project, "department": dept, "amount_won": amount, "_row": row}


def test_a_corrected_split_that_leaves_a_department_out_leaves_it_out():
    old = Source("가과/포상금배분.xlsx", "split",
                 [split("가과", 1_000_000), split("나과", 134_567, row=3), split("다과", 100_000, row=4),
                  split("가과", 500_000, project="라사업", row=5)], department="가과")
    new = Source("가과/포상금배분_수정.xlsx", "split", [split("가과", 1_100_000), split("나과", 134_567, row=3)],
                 department="가과")
    merged = merge([old, new])
    assert [(r["project"], r["department"], r["amount_won"]) for r in merged.data["split"]] == [
        ("가사업", "가과", 1_100_000), ("라사업", "가과", 500_000), ("가사업", "나과", 134_567)]  # 라사업 not touched
    [problem] = merged.problems
    assert problem.code == "row-withdrawn" and "'가과/포상금배분.xlsx'에 있던 '가사업' 다과 행이" in problem.message


def contact(dept, role, project="가사업", row=2):
    return {"project": project, "role": role, "department": dept, "_row": row}


def test_the_lead_resending_its_contacts_without_a_department_drops_that_department():
    lead = Source("가과.xlsx", "contacts", [contact("가과", "총괄부서"), contact("나과", "협조부서", row=3),
                                           contact("다과", "협조부서", row=4)], department="가과")
    own = Source("라과.xlsx", "contacts", [contact("라과", "협조부서")], department="라과")  # 라과's own file
    again = Source("가과_수정.xlsx", "contacts", [contact("가과", "총괄부서"), contact("나과", "협조부서", row=3)],
                   department="가과")
    merged = merge([lead, own, again])
    assert [(r["department"], r["_file"]) for r in merged.data["contacts"]] == [
        ("가과", "가과_수정.xlsx"), ("나과", "가과_수정.xlsx"), ("라과", "라과.xlsx")]
    assert [p.code for p in merged.problems] == ["row-withdrawn"] and "다과" in merged.problems[0].message
    fixed_by_itself = Source("나과.xlsx", "contacts", [contact("나과", "협조부서")], department="나과")
    merged = merge([lead, fixed_by_itself])  # a department fixing its own row leaves the lead's other rows
    assert [(r["department"], r["_file"]) for r in merged.data["contacts"]] == [
        ("가과", "가과.xlsx"), ("나과", "나과.xlsx"), ("다과", "가과.xlsx")]
    assert merged.problems == []


def test_two_rows_of_one_seq_in_one_file_are_both_kept():
    """Within one file a repeated 연번 is the file's own matter (validation), not a replacement."""
    merged = merge([Source("평가결과.xlsx", "results", [result(1, "가"), result(1, "나", row=3)])])
    assert [r["project"] for r in merged.data["results"]] == ["가", "나"]
    assert merged.problems == []


# --- the merge against its specification, written the slow and obvious way ---

from collections import Counter  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from coop_batch.merge import _display_order, claims  # noqa: E402
from coop_batch.records import FILE_KEY, SHEET_KEY  # noqa: E402
from coop_batch.schema import KIND_BY_ID, KINDS  # noqa: E402


def specified_merge(sources, order):
    """Each source in `order` removes every older live record that shares one of its claims — for a
    평가결과 list, every record of each older list it shares a claim with."""
    live, replaced = {}, Counter()
    for i in order:
        source = sources[i]
        mine = {c for r in source.records for c in claims(source.kind, r, source.department)}
        hit = {(oi, oj) for (oi, oj) in live if oi != i and mine & set(
            claims(sources[oi].kind, sources[oi].records[oj], sources[oi].department))}
        if source.kind == "results":
            hit = {(oi, oj) for (oi, oj) in live if oi in {h[0] for h in hit}}
        for key in hit:
            del live[key]
            replaced[sources[key[0]].kind] += 1
        for j in range(len(source.records)):
            live[(i, j)] = True
    data = {kind.id: [] for kind in KINDS}
    for i, j in sorted(live):
        source = sources[i]
        data[source.kind].append({**source.records[j], FILE_KEY: source.name, SHEET_KEY: KIND_BY_ID[source.kind].sheet})
    return {k: sorted(v, key=_display_order(k)) for k, v in data.items()}, dict(replaced)


departments = st.sampled_from(["세무과", "세 무 과", "환경과", "", None, " 환경과 "])
projects = st.sampled_from(["에너지", "에너지 ", "ＥＮＥＲＧＹ", "energy", "", None, "안전도시(1)"])
merge_records = st.fixed_dictionaries(
    {},
    optional={
        "_row": st.integers(0, 3),
        "department": departments,
        "lead_department": departments,
        "project": projects,
        "report_date": st.sampled_from([date(2016, 3, 4), date(2016, 3, 11), None]),
        "seq": st.sampled_from([1, 2, None]),
        "role": st.sampled_from(["총괄부서", "협조부서"]),
        "_file": st.just("stale name"),  # the merge's own keys in a record are overwritten
    },
)
merge_sources = st.lists(
    st.builds(Source, st.sampled_from(["a.xlsx", "b/a.xlsx", "c.xlsx"]),
              st.sampled_from(["weekly", "plans", "results", "contacts", "staff", "split"]),
              st.lists(merge_records, max_size=4), st.sampled_from(["", "세무과", "환경과"])),
    max_size=8,
)


@settings(max_examples=300)
@given(merge_sources, st.sets(st.integers(0, 7)))
def test_the_merge_is_its_specification(sources, fresh):
    merged = merge(sources, fresh)
    data, replaced = specified_merge(sources, range(len(sources)))
    assert merged.data == data
    assert merged.replaced == replaced
    if fresh:
        _, before = specified_merge(sources, [i for i in range(len(sources)) if i not in fresh])
        assert merged.newly_replaced == {k: n - before.get(k, 0) for k, n in replaced.items() if n > before.get(k, 0)}
    # every record removed is counted once, and said at most once
    assert sum(replaced.values()) == sum(len(s.records) for s in sources) - sum(map(len, data.values()))
    said = [p for p in merged.problems if p.code in ("row-withdrawn", "result-replaced")]
    assert len(said) <= sum(replaced.values())
    assert all(p.file in {sources[i].name for i in fresh if i < len(sources)} for p in said) or not fresh


def test_a_removal_is_said_on_the_night_of_the_file_that_made_it():
    old = Source("평가결과.xlsx", "results", [result(1, "가사업"), result(2, "나사업", row=3)])
    new = Source("평가결과_수정.xlsx", "results", [result(1, "가사업")])
    weekly_file = Source("세무과.xlsx", "weekly", [weekly("세무과", "체납", date(2016, 3, 4), "1주")])
    assert [p.code for p in merge([old, new], fresh={1}).problems] == ["row-withdrawn"]
    assert merge([old, new, weekly_file], fresh={2}).problems == []  # a later night: said before, not again
    assert merge([old, new, weekly_file], fresh={2}).replaced == {"results": 2}
