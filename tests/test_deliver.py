"""Mail after a run: composition (Korean subject, body, RFC 2231 attachment names), the Outlook
draft when no SMTP is configured, and real sends to an aiosmtpd server on 127.0.0.1 with
STARTTLS and AUTH LOGIN — plus a server that is down, a retry by the next run, and no double send.

The server's certificate comes from a throwaway trustme CA; the client trusts it through
SSL_CERT_FILE, so the production code path (`ssl.create_default_context()`) is the one tested.
"""

from __future__ import annotations

import socket
import sqlite3
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from coop_batch import deliver
from coop_batch.calendar import Event
from coop_batch.cli import cli
from coop_batch.config import SEOUL, Workspace, open_workspace
from coop_batch.demo import DEFAULT_AS_OF as DEMO_AS_OF
from coop_batch.demo import build_demo_inbox
from coop_batch.deliver import compose, mail_pending, subject_for
from coop_batch.ledger import Ledger
from coop_batch.policy import PolicyResult
from coop_batch.run import FileOutcome, RunReport, run_batch
from coop_batch.tracking import Reminder

AS_OF = date(2016, 3, 4)
NOW = datetime(2016, 3, 5, 2, 0, tzinfo=SEOUL)
SUBJECT = "[기획예산과] 시·자치구 공동협력사업 통합현황 (2016-03-04)"
USER, PASSWORD, PASSWORD_ENV = "budget", "Bud-get!2016", "COOP_TEST_SMTP_PASSWORD"
TO, CC = ["vice-mayor@gu.example.kr"], ["planning@gu.example.kr"]


# --- a real SMTP server: STARTTLS required, AUTH LOGIN only ---


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.content)


@dataclass
class Handler:
    password: str = PASSWORD
    received: list[Received] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content,
                     session.ssl is not None, login)
        )
        return "250 Message accepted"

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = auth_data.login == USER.encode() and auth_data.password == self.password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)  # 535 on failure


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture()
def trust(ca, tmp_path, monkeypatch) -> None:
    """The client side trusts the test CA the way an office PC trusts its own: via the default context."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, ca: trustme.CA, port: int, password: str = PASSWORD) -> None:
        self.handler = Handler(password)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
            authenticator=self.handler.authenticator, auth_require_tls=True, auth_exclude_mechanism=["PLAIN"],
        )
        self.port = port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture()
def server(ca, trust):
    with Server(ca, free_port()) as running:
        yield running


# --- workspaces ---


def workspace(root: Path, *, port: int | None = None, **mail: Any) -> Workspace:
    """A workspace whose settings file has the given [mail] values (SMTP when `port` is given)."""
    values: dict[str, Any] = {"to": TO, "cc": CC, "sender": "기획예산과 <budget@gu.example.kr>"}
    if port is not None:
        values.update(smtp_host="127.0.0.1", smtp_port=port, security="starttls", user=USER,
                      password_env=PASSWORD_ENV, timeout_seconds=5)
    values.update(mail)
    lines = ["policy_year = 2016", "settle_seconds = 0", "", "[mail]"]
    for key, value in values.items():
        lines.append(f"{key} = {_toml(value)}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "coop_batch.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws = open_workspace(root)
    for folder in ws.folders:
        folder.mkdir(parents=True, exist_ok=True)
    return ws


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def nightly(ws: Workspace, **kwargs: Any) -> RunReport:
    return run_batch(ws, as_of=AS_OF, now=NOW, **kwargs)


def mails(ws: Workspace) -> list[Any]:
    with sqlite3.connect(ws.ledger_path) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute("SELECT * FROM mails ORDER BY id"))


def emls(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


# --- composing ---


def made_report(tmp_path: Path, sizes: dict[str, int]) -> RunReport:
    outputs = []
    for name, size in sizes.items():
        path = tmp_path / "outbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        outputs.append(path)
    report = RunReport(tmp_path, AS_OF, run_id=7, outputs=outputs)
    report.outcomes = [
        FileOutcome("세무과/주간실적.xlsx", "accepted", "weekly", "세무과"),
        FileOutcome("안전치수과/주간실적_<오류>&.xlsx", "rejected", "weekly", "안전치수과", errors=2),
        FileOutcome("교통행정과/계획.xlsx", "deferred", reason="엑셀에서 열려 있어 다음 실행에서 처리"),
    ]
    commended = [{"부서명": "세무과", "성명": "김민정"}, {"부서명": "세무과", "성명": "김 민정"},  # one person, twice
                 {"부서명": "환경과", "성명": "송하영"}, {"부서명": "감사담당관", "성명": ""}]  # nobody to recommend
    report.policy = PolicyResult(rewards=[], department_rewards=[], leave=[{}] * 3, commendations=commended,
                                 personnel=[], total_reward_won=76_970_000, problems=[], year=2015,
                                 leave_deadline=date(2016, 12, 31))
    report.notes = ["통합현황_20160304.xlsx이(가) 엑셀에서 열려 있어 통합현황_20160304_020000.xlsx(으)로 저장했습니다."]
    return report


def test_compose_korean_subject_body_and_rfc2231_attachment_names(tmp_path):
    sizes = {"통합현황_20160304.xlsx": 5000, "특별휴가_표창대상자_20160304.xlsx": 700}
    report = made_report(tmp_path, sizes)
    mail = workspace(tmp_path / "ws").settings.mail
    composed = compose(report, mail, now=NOW)
    raw = composed.message.as_bytes()

    assert raw.isascii()  # ASCII addresses: 7-bit clean, whatever server relays it
    # RFC 2231 parameters as the stdlib writes them: utf-8'' and percent-encoded bytes
    expected = "utf-8''" + "".join(f"%{b:02X}" for b in "특별휴가".encode())
    assert expected.encode() in raw.replace(b"\r\n ", b"")
    assert b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in raw

    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == SUBJECT == subject_for(AS_OF)
    assert parsed["To"] == TO[0] and parsed["Cc"] == CC[0]
    assert parsed["From"].addresses[0].display_name == "기획예산과"
    assert parsed["Date"].datetime == NOW and "X-Unsent" not in parsed
    files = attachments(parsed)
    assert files == {name: (tmp_path / "outbox" / name).read_bytes() for name in sizes}

    text = parsed.get_body(("plain",)).get_content()
    assert "받은 파일 3건: 접수 1, 반려 1, 중복 0, 대기 1" in text
    assert "반려: 안전치수과/주간실적_<오류>&.xlsx (오류 2건, 안전치수과)" in text
    assert "포상금 합계 76,970,000원" in text and "특별휴가 3명, 표창추천 2명(추천 3건)" in text
    assert "통합현황_20160304_020000.xlsx(으)로 저장했습니다" in text  # the run's notes travel too
    html = parsed.get_body(("html",)).get_content()
    assert "주간실적_&lt;오류&gt;&amp;.xlsx" in html and "<오류>" not in html  # user text is escaped
    assert "76,970,000원" in html


@given(texts=st.lists(st.text(alphabet="가a \r\n.<>&=", max_size=60), min_size=1, max_size=4),
       international=st.booleans())
@settings(max_examples=60, deadline=None)
def test_message_bytes_are_as_bytes(texts, international):
    """The quick serialiser writes what `as_bytes` writes, whatever the line breaks in the bodies."""
    msg = EmailMessage(policy=policy.SMTPUTF8 if international else policy.SMTP)
    msg["Subject"] = "통합현황 " + texts[0].replace("\r", "").replace("\n", "")
    msg["To"] = "부구청장실@example.go.kr" if international else "deputy@example.go.kr"
    msg.set_content(texts[0], cte="base64")
    msg.add_alternative("\n".join(texts), subtype="html", cte="base64")
    if len(texts) > 1:
        msg.add_alternative(texts[1] + "\n", subtype="plain", cte="8bit" if international else "quoted-printable")
    msg.add_attachment("\r\n".join(texts).encode() * 50, maintype="application", subtype="octet-stream",
                       filename="통합현황.xlsx")
    assert deliver.message_bytes(msg) == msg.as_bytes()


@given(data=st.binary(max_size=2000), name=st.sampled_from(["통합현황_20160304.xlsx", "a.xlsx"]),
       international=st.booleans())
@settings(max_examples=60, deadline=None)
def test_add_attachment_is_the_email_packages(data, name, international):
    made = []
    for add in (lambda m: m.add_attachment(data, maintype=deliver.XLSX_TYPE[0], subtype=deliver.XLSX_TYPE[1],
                                           filename=name),
                lambda m: deliver.add_attachment(m, data, name)):
        msg = EmailMessage(policy=policy.SMTPUTF8 if international else policy.SMTP)
        msg.set_content("본문", cte="base64")
        add(msg)
        msg.set_boundary("BOUNDARY")
        made.append(msg.as_bytes())
    assert made[0] == made[1]


def test_the_run_message_is_written_as_as_bytes_would(tmp_path):
    report = made_report(tmp_path, {"통합현황_20160304.xlsx": 300_000, "특별휴가_표창대상자_20160304.xlsx": 700})
    composed = compose(report, workspace(tmp_path / "ws").settings.mail, now=NOW)
    assert deliver.message_bytes(composed.message) == composed.message.as_bytes()


def test_attachments_over_the_limit_are_left_out_and_the_body_says_where(tmp_path):
    sizes = {"통합현황_20160304.xlsx": 600_000, "포상금지급내역_20160304.xlsx": 300_000,
             "특별휴가_표창대상자_20160304.xlsx": 100_000}
    report = made_report(tmp_path, sizes)
    mail = workspace(tmp_path / "ws", max_attachment_mb=0.7).settings.mail
    composed = compose(report, mail, now=NOW)
    # master first; the running total decides: 600 KB in, +300 KB would pass 0.7 MB, +100 KB fits
    assert [a.name for a in composed.attached] == ["통합현황_20160304.xlsx", "특별휴가_표창대상자_20160304.xlsx"]
    assert [a.name for a in composed.left_out] == ["포상금지급내역_20160304.xlsx"]
    parsed = BytesParser(policy=policy.default).parsebytes(composed.message.as_bytes())
    assert set(attachments(parsed)) == {"통합현황_20160304.xlsx", "특별휴가_표창대상자_20160304.xlsx"}
    text = parsed.get_body(("plain",)).get_content()
    where = tmp_path / "outbox" / "포상금지급내역_20160304.xlsx"
    assert f"첨부 크기 제한(0.7MB)을 넘어 첨부하지 않았습니다. 위치: {where}" in text


def test_tracking_when_present_lists_who_owes_and_what_is_coming(tmp_path):
    report = made_report(tmp_path, {"통합현황_20160304.xlsx": 300})
    owed = {
        "세무과": [Reminder("세무과", "안전도시 만들기", "주간보고 3/4(금)", date(2016, 3, 4), "미제출", ""),
                 Reminder("세무과", "안전도시 만들기", "자체추진계획서", date(2016, 3, 2), "지연", "")],
        "일자리지원과": [Reminder("일자리지원과", "서울 희망일자리", "주간보고 3/4(금)", date(2016, 3, 4), "미제출", "")],
    }
    events = [Event(date(2016, 3, 11), date(2016, 3, 11), "주간 보고", "전 부서"),
              Event(date(2016, 3, 7), date(2016, 3, 18), "국별 보고회")]
    report.tracking = SimpleNamespace(
        owing=lambda: owed, upcoming=lambda days=14: events if days == 14 else [],
        current_week=date(2016, 3, 4), week_totals=lambda: [(date(2016, 3, 4), 12, 2, 3)],
    )
    text = compose(report, workspace(tmp_path / "ws").settings.mail, now=NOW).message.get_body(("plain",)).get_content()
    assert "■ 아직 낼 것이 있는 부서" in text
    assert "3/4(금) 주간보고: 제출 12, 지연 2, 미제출 3" in text
    assert ("세무과: [미제출] 주간보고 3/4(금) - 안전도시 만들기; [지연] 자체추진계획서 (기한 3/2(수)) - 안전도시 만들기"
            in text)
    assert "일자리지원과: [미제출] 주간보고 3/4(금) - 서울 희망일자리" in text
    assert "■ 다가오는 일정 (14일)" in text
    assert "3/11(금) 주간 보고 - 전 부서" in text and "3/7(월)~3/18(금) 국별 보고회" in text
    without = made_report(tmp_path / "b", {"통합현황_20160304.xlsx": 300})  # no tracking: no invented sections
    plain = compose(without, workspace(tmp_path / "ws").settings.mail, now=NOW).message.get_body(("plain",))
    assert "아직 낼 것이" not in plain.get_content() and "다가오는 일정" not in plain.get_content()


def test_demo_run_mail_carries_the_tracking_of_the_run(tmp_path, rules):
    ws = workspace(tmp_path / "ws")
    build_demo_inbox(ws.inbox, rules, as_of=DEMO_AS_OF)
    report = run_batch(ws, as_of=DEMO_AS_OF)
    [draft] = report.mail.drafts
    text = BytesParser(policy=policy.default).parsebytes(draft.read_bytes()).get_body(("plain",)).get_content()
    owing = report.tracking.owing()
    assert owing  # the demo has late and missing reports
    for department in list(owing)[:3]:
        assert f"  - {department}: " in text
    # a department's missing weekly reports are one item (the demo's 부동산정보과 missed 3/11 and 3/25)
    assert "부동산정보과: [미제출] 주간 추진실적 보고(3/11(금), 3/25(금))" in text
    for event in report.tracking.upcoming(14)[:3]:
        assert event.name in text
    assert f"포상금 합계 {report.policy.total_reward_won:,}원" in text
    assert f"받은 파일 {len(report.outcomes)}건" in text


# --- no SMTP: an Outlook draft ---


def test_without_smtp_the_run_writes_an_outlook_draft(tmp_path):
    ws = workspace(tmp_path / "ws")
    result = CliRunner().invoke(cli, ["run", "--workspace", str(ws.root), "--as-of", "2016-03-04"])
    assert result.exit_code == 0, result.output
    drafts = emls(ws.outbox / "mail")
    assert len(drafts) == 1 and drafts[0].name.endswith("_통합현황_20160304_1.eml")
    assert str(drafts[0]) in result.output and "Outlook" in result.output
    draft = BytesParser(policy=policy.default).parsebytes(drafts[0].read_bytes())
    assert draft["X-Unsent"] == "1" and draft["From"] is None  # Outlook sends it from the user's account
    assert draft["Subject"] == SUBJECT and draft["To"] == TO[0]
    outputs = sorted(p for p in ws.outbox.glob("*.xlsx"))
    assert attachments(draft) == {p.name: p.read_bytes() for p in outputs} and len(outputs) == 3
    assert mails(ws) == []  # nothing for us to send, so nothing to retry

    no_mail = CliRunner().invoke(cli, ["run", "--workspace", str(ws.root), "--as-of", "2016-03-04", "--no-mail"])
    assert no_mail.exit_code == 0 and len(emls(ws.outbox / "mail")) == 1


# --- SMTP: STARTTLS + AUTH LOGIN on 127.0.0.1 ---


def test_run_sends_over_starttls_with_login_and_the_server_gets_the_same_message(tmp_path, server):
    ws = workspace(tmp_path / "ws", port=server.port)
    report = nightly(ws)
    assert report.exit_code == 0 and report.mail.ok
    assert len(server.received) == 1
    got = server.received[0]
    assert got.tls and got.login == USER and server.handler.mechanisms == ["LOGIN"]
    assert got.mail_from == "budget@gu.example.kr" and got.rcpt_tos == TO + CC

    message = got.message
    assert message["Subject"] == SUBJECT
    assert attachments(message) == {p.name: p.read_bytes() for p in report.outputs}
    assert set(attachments(message)) == {"통합현황_20160304.xlsx", "포상금지급내역_20160304.xlsx",
                                         "특별휴가_표창대상자_20160304.xlsx"}
    # what was sent is what was kept: same bytes as the copy in outbox/mail/sent/
    sent = emls(ws.outbox / "mail" / "sent")
    assert len(sent) == 1 and emls(ws.outbox / "mail" / "unsent") == []
    assert got.content.replace(b"\r\n", b"\n") == sent[0].read_bytes().replace(b"\r\n", b"\n")
    kept = BytesParser(policy=policy.default).parsebytes(sent[0].read_bytes())
    assert message.get_body(("plain",)).get_content() == kept.get_body(("plain",)).get_content()
    assert "포상금 합계 0원" in message.get_body(("plain",)).get_content()
    assert [(m["status"], m["attempts"], m["run_id"]) for m in mails(ws)] == [("sent", 1, report.run_id)]
    assert any("메일을 보냈습니다" in line for line in report.summary_lines())
    assert "메일을 보냈습니다" in (ws.logs / "coop-batch.log").read_text(encoding="utf-8")


def test_korean_addresses_go_out_with_smtputf8(tmp_path, server):
    ws = workspace(tmp_path / "ws", port=server.port, to=["부구청장실@gu.example.kr"], cc=[])
    report = nightly(ws)
    assert report.mail.ok, report.mail.lines
    assert server.received[0].rcpt_tos == ["부구청장실@gu.example.kr"]
    assert server.received[0].message["To"] == "부구청장실@gu.example.kr"


def test_server_down_keeps_the_message_and_the_next_run_sends_each_once(tmp_path, ca, trust):
    port = free_port()  # nothing listens there: connection refused
    ws = workspace(tmp_path / "ws", port=port)
    first = nightly(ws)
    assert first.exit_code == 0  # the run itself went through
    assert not first.mail.ok and len(first.mail.failed) == 1
    assert any("연결을 거부" in line and "다음 실행 때" in line for line in first.summary_lines())
    unsent = emls(ws.outbox / "mail" / "unsent")
    assert len(unsent) == 1
    [row] = mails(ws)
    assert row["status"] == "failed" and row["attempts"] == 1 and "연결을 거부" in row["last_error"]
    assert "연결을 거부" in (ws.logs / "coop-batch.log").read_text(encoding="utf-8")

    with Server(ca, port) as server:
        second = nightly(ws)  # retries the first night's message, then sends its own
        assert second.mail.ok and len(server.received) == 2
        assert len({r.message["Message-ID"] for r in server.received}) == 2  # two messages, not one twice
        assert [m["status"] for m in mails(ws)] == ["sent", "sent"]
        assert [m["attempts"] for m in mails(ws)] == [2, 1]
        assert emls(ws.outbox / "mail" / "unsent") == [] and len(emls(ws.outbox / "mail" / "sent")) == 2

        third = nightly(ws)  # nothing old is sent again
        assert len(server.received) == 3 and len(third.mail.sent) == 1
        assert CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root)]).output.strip() == "보낼 메일이 없습니다."
        assert len(server.received) == 3


def test_mail_command_dry_run_then_send(tmp_path, ca, trust):
    port = free_port()
    ws = workspace(tmp_path / "ws", port=port)
    nightly(ws)
    [before] = mails(ws)
    dry = CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root), "--dry-run"])
    assert dry.exit_code == 0 and "보낼 메일" in dry.output and SUBJECT in dry.output
    assert dict(mails(ws)[0]) == dict(before)  # a dry run records nothing

    down = CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root)])
    assert down.exit_code == 1 and "연결을 거부" in down.output and "이(가)" not in down.output  # particles settled
    with Server(ca, port) as server:
        sent = CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root)])
        assert sent.exit_code == 0, sent.output
        assert "메일을 보냈습니다" in sent.output and len(server.received) == 1
        again = CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root)])
        assert again.output.strip() == "보낼 메일이 없습니다." and len(server.received) == 1
    assert [(m["status"], m["attempts"]) for m in mails(ws)] == [("sent", 3)]


def test_wrong_password_and_missing_password_fail_the_send_not_the_run(tmp_path, server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "틀린비밀번호")
    ws = workspace(tmp_path / "ws", port=server.port)
    report = nightly(ws)
    assert report.exit_code == 0 and not report.mail.ok and server.received == []
    assert "로그인 실패" in mails(ws)[0]["last_error"] and PASSWORD_ENV in mails(ws)[0]["last_error"]

    monkeypatch.delenv(PASSWORD_ENV)
    report = nightly(ws)
    assert not report.mail.ok and server.received == []
    assert all(f"환경 변수 {PASSWORD_ENV}에 없습니다" in m["last_error"] for m in mails(ws))
    assert PASSWORD not in (ws.root / "coop_batch.toml").read_text(encoding="utf-8")


def test_a_korean_password_logs_in_as_utf8(tmp_path, ca, trust, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "예산-s3cret")
    with Server(ca, free_port(), password="예산-s3cret") as server:
        ws = workspace(tmp_path / "ws", port=server.port)
        report = nightly(ws)
        assert report.mail.ok, report.mail.lines
        assert server.received[0].login == USER and server.handler.mechanisms == ["LOGIN"]


def test_a_server_that_never_answers_times_out(tmp_path, trust):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the TCP connection, never says hello
        ws = workspace(tmp_path / "ws", port=silent.getsockname()[1], timeout_seconds=0.5)
        report = nightly(ws)
    assert report.exit_code == 0 and not report.mail.ok
    assert "0.5초 안에 응답하지 않았습니다" in mails(ws)[0]["last_error"]


def test_a_bug_in_mailing_never_fails_the_run(tmp_path, monkeypatch):
    ws = workspace(tmp_path / "ws")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("고장")

    monkeypatch.setattr(deliver, "deliver_run", broken)
    report = nightly(ws)
    assert report.exit_code == 0 and len(report.outputs) == 3
    assert any("메일을 만들거나 보내지 못했습니다(고장)" in note for note in report.notes)
    with Ledger.open(ws.ledger_path) as ledger:
        assert ledger.last_run().exit_code == 0  # the run was recorded as finished


def test_leftovers_of_a_crash_are_adopted_or_moved_never_sent_twice(tmp_path, server):
    ws = workspace(tmp_path / "ws", port=server.port)
    nightly(ws)
    assert len(server.received) == 1
    unsent, sent_dir = ws.outbox / "mail" / "unsent", ws.outbox / "mail" / "sent"
    # died after the server took it and the ledger said so, before the move: only the move is redone
    [sent] = emls(sent_dir)
    sent.rename(unsent / sent.name)
    # died after writing a message, before recording it: the file is adopted and sent
    orphan = unsent / "20160306_020000_통합현황_20160305.eml"
    orphan.write_bytes(emls(unsent)[0].read_bytes().replace(b"2016-03-04", b"2016-03-05"))

    with Ledger.open(ws.ledger_path) as ledger:
        result = deliver.send_pending(ws, ledger)
    assert [p.name for p in result.sent] == [orphan.name] and len(server.received) == 2
    assert server.received[1].message["Subject"] == subject_for(date(2016, 3, 5))
    assert emls(unsent) == [] and sorted(p.name for p in emls(sent_dir)) == sorted([sent.name, orphan.name])
    assert [m["status"] for m in mails(ws)] == ["sent", "sent"]
    assert mails(ws)[1]["path"] == f"outbox/mail/unsent/{orphan.name}"


def test_mail_refuses_while_a_run_holds_the_lock(tmp_path):
    from coop_batch.lock import LockBusy, WorkspaceLock

    ws = workspace(tmp_path / "ws")
    Ledger.open(ws.ledger_path).close()
    holder = WorkspaceLock(ws.lock_path, "run")
    holder.acquire()
    try:
        # the lock is per open file: a second WorkspaceLock in this process is refused like another process
        with pytest.raises(LockBusy):
            mail_pending(ws)
        result = CliRunner().invoke(cli, ["mail", "--workspace", str(ws.root)])
        assert result.exit_code == 3
    finally:
        holder.release()
