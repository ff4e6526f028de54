"""Mail after a run: compose one message, then send it or leave it as an Outlook draft.

Why the queue looks the way it does: the office PC runs at night with nobody watching,
so a message must survive a mail server that is down, and must never reach
부구청장실 twice.  With SMTP configured every message is first written to
`outbox/mail/unsent/` and recorded in the ledger (`mails`), then sent; only a send the
server accepted is marked sent (and the file moved to `outbox/mail/sent/`).  Whatever
is still unsent is retried by the next run and by `coop-batch mail`.  (Only a crash in the
instant between the server's "250" and the ledger commit could send one again; the message
keeps its Message-ID, so mail clients fold the two.)  Without SMTP the
message is written as `outbox/mail/<stamp>.eml` with `X-Unsent: 1`, which Outlook
opens as a draft to send from the user's own account.

Attachment names are Korean: the stdlib writes them as RFC 2231 `filename*=utf-8''…`
parameters, which Outlook, Gmail and Thunderbird decode.
"""

from __future__ import annotations

import binascii
import logging
import os
import secrets
import smtplib
import sqlite3
import ssl
import sys
from io import BytesIO
from dataclasses import dataclass, field
from datetime import date, datetime
from email import policy
from email.generator import NLCRE, BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .config import Mail, Workspace
from .seoul import seoul_time
from .mail_body import Attachment, render_html, render_text
from .mail_smtp import SendError, addr_spec, connect, describe_error, send_raw

if TYPE_CHECKING:
    from .ledger import Ledger
    from .run import RunReport

log = logging.getLogger("coop_batch")

MAIL_DIR = "mail"
UNSENT_DIR = "unsent"
SENT_DIR = "sent"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_MB = 1024 * 1024


def subject_for(as_of: date) -> str:
    return f"[기획예산과] 시·자치구 공동협력사업 통합현황 ({as_of.isoformat()})"


def mail_dir(workspace: Workspace) -> Path:
    return workspace.outbox / MAIL_DIR


# --- composing ---


@dataclass
class Composed:
    message: EmailMessage
    attached: list[Attachment]
    left_out: list[Attachment]  # over max_attachment_mb: the body says where they are


def _domain(mail: Mail) -> str:
    spec = addr_spec(mail.sender)
    domain = spec.rpartition("@")[2]
    return domain if domain and domain.isascii() else "coop-batch.local"


def _international(mail: Mail) -> bool:
    return not all(addr_spec(a).isascii() for a in [mail.sender, *mail.to, *mail.cc])


def _choose_attachments(paths: list[Path], limit_mb: float) -> tuple[list[Attachment], list[Attachment]]:
    """In order (master first) while the running total stays within the limit: servers limit the
    whole message, not each file."""
    attached: list[Attachment] = []
    left_out: list[Attachment] = []
    total = 0
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue  # an output that vanished: nothing to attach or to point at
        item = Attachment(path.name, size, path)
        if total + size <= limit_mb * _MB:
            attached.append(item)
            total += size
        else:
            left_out.append(item)
    return attached, left_out


def compose(report: RunReport, mail: Mail, *, now: datetime | None = None, draft: bool = False) -> Composed:
    """The run's message.  A draft (no SMTP) has no From: Outlook sends it from the user's account."""
    now = seoul_time(now)
    outputs = [Path(p) for p in report.outputs if Path(p).suffix.lower() == ".xlsx"]
    attached, left_out = _choose_attachments(outputs, mail.max_attachment_mb)
    # Raw UTF-8 headers only when an address needs them (RFC 6531/6532); otherwise 7-bit clean.
    msg = EmailMessage(policy=policy.SMTPUTF8 if _international(mail) else policy.SMTP)
    msg["Subject"] = subject_for(report.as_of)
    if not draft:
        msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(f"coop-batch.{now:%Y%m%d%H%M%S}.{report.run_id}", domain=_domain(mail))
    if draft:
        msg["X-Unsent"] = "1"
    msg["X-Mailer"] = "coop-batch"
    msg.set_content(render_text(report, attached, left_out, mail.max_attachment_mb), cte="base64")
    msg.add_alternative(render_html(report, attached, left_out, mail.max_attachment_mb), subtype="html", cte="base64")
    for item in attached:
        add_attachment(msg, item.path.read_bytes(), item.name)
    for part in msg.walk():  # chosen now, not by searching the whole text for a clash (see below)
        if part.is_multipart():
            part.set_boundary("=" * 15 + f"{secrets.randbelow(sys.maxsize):019d}" + "==")
    return Composed(msg, attached, left_out)


# A 1 MB master workbook is 20,000 lines of base64.  The email package encodes them 57 bytes per
# call, writes them one line at a time, and searches the whole message for each boundary it makes
# (~80 ms of a night).  The same message is made here with whole-body operations.  The boundaries
# need no search: every body is base64, whose lines never start with "--=".


def add_attachment(msg: EmailMessage, data: bytes, name: str) -> None:
    """`msg.add_attachment(data, ...)` for a workbook: the same headers and body, the body encoded
    in one call and cut into the same 76-character lines."""
    msg.add_attachment(b"", maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=name)
    width = (msg.policy.max_line_length or 78) // 4 * 4  # as email.contentmanager: 57 bytes a line
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    msg.get_payload()[-1].set_payload("".join(encoded[i : i + width] + "\n" for i in range(0, len(encoded), width)))


def message_bytes(message: EmailMessage) -> bytes:
    """`message.as_bytes()`, the same bytes, with each body's line endings changed in one pass
    instead of one write per 76-character line."""
    out = BytesIO()
    _WholeBodies(out, mangle_from_=False, policy=message.policy).flatten(message)
    return out.getvalue()


class _WholeBodies(BytesGenerator):
    def _write_lines(self, lines: str) -> None:
        # The base class splits at each line break and writes line, `_NL`, line, ...: the same text.
        if lines:
            self.write(lines.replace("\n", self._NL) if "\r" not in lines else NLCRE.sub(self._NL, lines))


# --- files ---


def _unique(folder: Path, name: str) -> Path:
    stem, suffix = os.path.splitext(name)
    candidate, n = folder / name, 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}{suffix}"
    return candidate


def _write_atomic(folder: Path, name: str, data: bytes, *, also: Path | None = None) -> Path:
    """Write under a name that is free in `folder` (and in `also`: a queued name must not clash
    with one already moved to sent/)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique(folder, name)
    while also is not None and (also / target.name).exists():
        target = _unique(folder, f"{target.stem}-1{target.suffix}")
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target


def _file_name(report: RunReport, now: datetime) -> str:
    # The run id keeps the name unique for the ledger (mails.path) even if the clock repeats itself.
    return f"{now:%Y%m%d_%H%M%S}_통합현황_{report.as_of:%Y%m%d}_{report.run_id}.eml"


def _ledger_path(workspace: Workspace, path: Path) -> str:
    try:
        return path.relative_to(workspace.root).as_posix()
    except ValueError:  # outbox outside the workspace: the queue folder and name still identify it
        return PurePosixPath(MAIL_DIR, path.parent.name, path.name).as_posix()


# --- the queue ---


@dataclass
class MailResult:
    """What mailing did, for the summary and the log (Korean lines)."""

    drafts: list[Path] = field(default_factory=list)
    sent: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    pending: list[Path] = field(default_factory=list)  # dry run: what would be sent
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def say(self, line: str, level: int = logging.INFO) -> None:
        self.lines.append(line)
        log.log(level, "메일: %s", line)


def _queued(workspace: Workspace, ledger: Ledger, *, adopt: bool) -> list[tuple[int | None, Path, str]]:
    """Unsent messages: the ledger's, plus files in unsent/ the ledger does not know (a run that died
    between writing and recording).  A file whose row says sent (died before the move) is moved now."""
    unsent = mail_dir(workspace) / UNSENT_DIR
    rows = ledger.unsent_mails()
    known = {PurePosixPath(r.path).name for r in rows}
    items: list[tuple[int | None, Path, str]] = [(r.id, unsent / PurePosixPath(r.path).name, r.subject) for r in rows]
    for path in sorted(unsent.glob("*.eml")) if unsent.is_dir() else []:
        if path.name in known:
            continue
        subject = str(BytesParser(policy=policy.default).parsebytes(path.read_bytes(), headersonly=True)["Subject"] or "")
        if not adopt:
            items.append((None, path, subject))
            continue
        try:
            mail_id = ledger.add_mail(None, _ledger_path(workspace, path), subject)
        except sqlite3.IntegrityError:  # recorded and already sent: only the move was missing
            _move_sent(workspace, path)
            continue
        items.append((mail_id, path, subject))
    return items


def _move_sent(workspace: Workspace, path: Path) -> Path:
    folder = mail_dir(workspace) / SENT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique(folder, path.name)
    os.replace(path, target)
    return target


def send_pending(
    workspace: Workspace,
    ledger: Ledger,
    *,
    dry_run: bool = False,
    tls_context: ssl.SSLContext | None = None,
    result: MailResult | None = None,
) -> MailResult:
    """Send every unsent message over one connection, oldest first; never one already sent."""
    mail = workspace.settings.mail
    result = result or MailResult()
    items = _queued(workspace, ledger, adopt=not dry_run)
    if not items:
        return result
    if dry_run:
        result.pending = [path for _, path, _ in items]
        for _, path, subject in items:
            result.say(f"보낼 메일: {path.name} ({subject})")
        if not mail.smtp_host:
            result.say("메일 서버(smtp_host)가 설정되지 않아 보낼 수 없습니다.")
        return result
    if not mail.smtp_host:
        result.failed = [path for _, path, _ in items]
        result.say(
            f"보내지 못한 메일 {len(items)}건이 {mail_dir(workspace) / UNSENT_DIR}에 있지만 메일 서버(smtp_host)가 "
            f"설정되지 않았습니다. 설정에 smtp_host를 적거나 .eml 파일을 Outlook에서 열어 보내 주세요.",
            logging.WARNING,
        )
        return result
    try:
        smtp = connect(mail, tls_context=tls_context)
    except (OSError, smtplib.SMTPException, SendError) as exc:
        reason = describe_error(exc, mail)
        for mail_id, path, _ in items:
            if mail_id is not None:
                ledger.mark_mail(mail_id, False, reason)
            result.failed.append(path)
        result.say(
            f"메일 {len(items)}건을 보내지 못했습니다: {reason} 메일은 {mail_dir(workspace) / UNSENT_DIR}에 "
            f"보관했고 다음 실행 때(또는 'coop-batch mail'로) 다시 보냅니다.",
            logging.WARNING,
        )
        return result
    try:
        for mail_id, path, subject in items:
            _send_one(workspace, ledger, smtp, mail, mail_id, path, subject, result)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return result


def _send_one(
    workspace: Workspace,
    ledger: Ledger,
    smtp: smtplib.SMTP,
    mail: Mail,
    mail_id: int | None,
    path: Path,
    subject: str,
    result: MailResult,
) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = f"보관된 메일 파일 {path}을(를) 읽을 수 없습니다({exc.strerror or exc})."
        if mail_id is not None:
            ledger.mark_mail(mail_id, False, reason)
        result.failed.append(path)
        result.say(reason, logging.WARNING)
        return
    try:
        refused = send_raw(smtp, raw)
    except (OSError, smtplib.SMTPException) as exc:
        reason = describe_error(exc, mail)
        if mail_id is not None:
            ledger.mark_mail(mail_id, False, reason)
        result.failed.append(path)
        result.say(f"{subject} 메일을 보내지 못했습니다: {reason} 다음 실행 때 다시 보냅니다.", logging.WARNING)
        return
    # Recorded the moment the server took it: from here on it is never sent again.
    if mail_id is not None:
        ledger.mark_mail(mail_id, True)
    result.sent.append(_move_sent(workspace, path))
    result.say(f"{subject} 메일을 보냈습니다(받는 사람 {', '.join(mail.to + mail.cc)}).")
    if refused:
        result.say(f"일부 받는 사람은 메일 서버가 거부했습니다: {', '.join(refused)}. 주소를 확인해 주세요.", logging.WARNING)


def deliver_run(
    workspace: Workspace,
    report: RunReport,
    ledger: Ledger,
    *,
    now: datetime | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> MailResult:
    """After a run: one message for this run, plus a retry of any earlier unsent ones."""
    mail = workspace.settings.mail
    now = seoul_time(now)
    result = MailResult()
    draft = not mail.smtp_host
    composed = compose(report, mail, now=now, draft=draft)
    for item in composed.left_out:
        result.say(f"{item.name}은(는) 첨부 크기 제한({mail.max_attachment_mb:g}MB)을 넘어 첨부하지 않고 위치만 적었습니다.")
    name = _file_name(report, now)
    if draft:
        path = _write_atomic(mail_dir(workspace), name, message_bytes(composed.message))
        result.drafts.append(path)
        result.say(f"메일 서버가 설정되지 않아 메일을 {path}에 저장했습니다. Outlook에서 열어 '보내기'를 눌러 주세요.")
        # Earlier unsent messages still go out (or are reported); an empty queue leaves `result` as it is.
        return send_pending(workspace, ledger, tls_context=tls_context, result=result)
    path = _write_atomic(mail_dir(workspace) / UNSENT_DIR, name, message_bytes(composed.message),
                         also=mail_dir(workspace) / SENT_DIR)
    ledger.add_mail(report.run_id or None, _ledger_path(workspace, path), subject_for(report.as_of), now)
    return send_pending(workspace, ledger, tls_context=tls_context, result=result)


def mail_pending(
    workspace: Workspace, *, dry_run: bool = False, tls_context: ssl.SSLContext | None = None
) -> MailResult:
    """`coop-batch mail`: send what is pending, holding the workspace lock so that a run (or a
    second `mail`) cannot send the same message at the same time.  Raises LockBusy / LedgerError."""
    from .ledger import Ledger
    from .lock import WorkspaceLock
    from .logs import setup_logging

    setup_logging(workspace.logs, workspace.settings.logging.keep_days)
    with WorkspaceLock(workspace.lock_path, "mail"), Ledger.open(workspace.ledger_path) as ledger:
        return send_pending(workspace, ledger, dry_run=dry_run, tls_context=tls_context)
