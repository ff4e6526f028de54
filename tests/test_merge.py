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


def test_a_corrected_results_list_replaces_the_row_of_the_same_seq():
    """The budget office fixes a project's name in its 평가결과: the row is replaced, not paid twice."""
    old = Source("평가결과.xlsx", "results", [result(1, "공원녹지 확충"), result(2, "청렴도 평가", row=3)])
    new = Source("평가결과_수정.xlsx", "results", [result(1, "공원녹지 확충사업")])
    merged = merge([old, new])
    assert [(r["seq"], r["project"], r["_file"]) for r in merged.data["results"]] == [
        (1, "공원녹지 확충사업", "평가결과_수정.xlsx"), (2, "청렴도 평가", "평가결과.xlsx")]
    assert merged.replaced == {"results": 1}
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


def test_two_rows_of_one_seq_in_one_file_are_both_kept():
    """Within one file a repeated 연번 is the file's own matter (validation), not a replacement."""
    merged = merge([Source("평가결과.xlsx", "results", [result(1, "가"), result(1, "나", row=3)])])
    assert [r["project"] for r in merged.data["results"]] == ["가", "나"]
    assert merged.problems == []


# --- the one-pass merge against the merge as it was (keys and display order computed per use) ---

from collections import defaultdict  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from coop_batch.merge import _display_order, lead_conflicts, record_key, renamed_results  # noqa: E402
from coop_batch.records import FILE_KEY, ROW_KEY, SHEET_KEY  # noqa: E402
from coop_batch.schema import KIND_BY_ID, KINDS  # noqa: E402


def reference_merge(sources, fresh=()):
    winner, replaced, earlier, replaced_before = {}, defaultdict(int), {}, defaultdict(int)
    for index, source in enumerate(sources):
        sheet = KIND_BY_ID[source.kind].sheet
        old = bool(fresh) and index not in fresh
        for record in source.records:
            key = record_key(source.kind, record)
            held = winner.get(key)
            if held is None or held[0] != index:
                if held is not None:
                    replaced[source.kind] += len(held[1])
                held = (index, [])
                winner[key] = held
            held[1].append({**record, FILE_KEY: source.name, SHEET_KEY: sheet})
            if old:
                mark = earlier.get(key)
                if mark is None or mark[0] != index:
                    if mark is not None:
                        replaced_before[source.kind] += mark[1]
                    mark = earlier[key] = [index, 0]
                mark[1] += 1
    data = {kind.id: [] for kind in KINDS}
    for key, (_, records) in sorted(winner.items(), key=lambda item: (item[1][0], item[1][1][0].get(ROW_KEY, 0))):
        data[key[0]].extend(records)
    for kind_id in data:
        data[kind_id].sort(key=_display_order(kind_id))
    newly = {k: n - replaced_before.get(k, 0) for k, n in replaced.items() if fresh and n > replaced_before.get(k, 0)}
    return data, dict(replaced), newly, lead_conflicts(data.get("contacts", [])) + renamed_results(sources)


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
              st.sampled_from(["weekly", "plans", "results", "contacts", "staff"]),
              st.lists(merge_records, max_size=4)),
    max_size=8,
)


@settings(max_examples=300)
@given(merge_sources, st.sets(st.integers(0, 7)))
def test_one_pass_merge_is_the_merge_as_it_was(sources, fresh):
    merged = merge(sources, fresh)
    data, replaced, newly, problems = reference_merge(sources, fresh)
    assert merged.data == data
    assert [[r[FILE_KEY] for r in rows] for rows in merged.data.values()] == [[r[FILE_KEY] for r in rows] for rows in data.values()]
    assert (merged.replaced, merged.newly_replaced, merged.problems) == (replaced, newly, problems)
