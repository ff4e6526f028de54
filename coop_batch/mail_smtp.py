"""SMTP for the run's mail: connect (STARTTLS / SSL / plain), log in, send stored bytes, and say
in Korean what went wrong.  Shared by `deliver` (sending) and `doctor` (is the server there?).

The password is read from the environment variable the settings name, never from the file.
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from .config import Mail


def addr_spec(text: str) -> str:
    return parseaddr(text)[1]


class SendError(Exception):
    """A send attempt failed; `str(exc)` is the Korean reason (what happened and what to check)."""


def password_for(mail: Mail) -> str | None:
    return os.environ.get(mail.password_env) if mail.password_env else None


def describe_error(exc: BaseException, mail: Mail) -> str:
    """Korean reason for an SMTP failure, with what to check."""
    where = f"{mail.smtp_host}:{mail.smtp_port}"
    if isinstance(exc, SendError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, OSError):
        exc = exc.__context__  # smtplib reports a read timeout as a disconnection
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"메일 서버 로그인 실패({exc.smtp_code}). 설정의 user와 환경 변수 {mail.password_env}의 "
                f"비밀번호를 확인해 주세요.")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(exc.recipients)
        return f"메일 서버가 받는 사람을 모두 거부했습니다({refused}). 설정의 to/cc 주소를 확인해 주세요."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"메일 서버가 보내는 사람 {exc.sender}을(를) 거부했습니다({exc.smtp_code}). 설정의 sender를 확인해 주세요."
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (f"메일 서버 {where}이(가) 필요한 기능을 지원하지 않습니다({exc}). security 설정(starttls/ssl/none)이나 "
                f"한글 주소(영문 주소로 바꾸기)를 확인해 주세요.")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"메일 서버 {where}이(가) 연결을 끊었습니다({exc}). 포트와 security 설정을 확인해 주세요."
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"메일 서버 {where}이(가) 오류 {exc.smtp_code}({text})로 거부했습니다. 메일 서버 관리자에게 문의해 주세요."
    if isinstance(exc, ConnectionRefusedError):
        return f"메일 서버 {where}이(가) 연결을 거부했습니다. 서버가 켜져 있는지, smtp_host와 smtp_port가 맞는지 확인해 주세요."
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return (f"메일 서버 {where}이(가) {mail.timeout_seconds:g}초 안에 응답하지 않았습니다. 네트워크와 방화벽, "
                f"smtp_host/smtp_port를 확인해 주세요.")
    if isinstance(exc, socket.gaierror):
        return f"메일 서버 이름 {mail.smtp_host}을(를) 찾을 수 없습니다. smtp_host의 철자와 네트워크 연결을 확인해 주세요."
    if isinstance(exc, ssl.SSLError):
        return (f"메일 서버 {where}과(와) 보안 연결(TLS)을 맺지 못했습니다({exc.reason or exc}). security 설정과 "
                f"포트(starttls는 보통 587, ssl은 465), 서버 인증서를 확인해 주세요.")
    if isinstance(exc, OSError):
        return f"메일 서버 {where}에 연결하지 못했습니다({exc.strerror or exc}). 네트워크와 서버 주소를 확인해 주세요."
    return f"메일을 보내지 못했습니다({type(exc).__name__}: {exc})."


def connect(mail: Mail, *, tls_context: ssl.SSLContext | None = None, timeout: float | None = None) -> smtplib.SMTP:
    """An open, secured and logged-in SMTP session.  Raises SendError / OSError / SMTPException."""
    timeout = mail.timeout_seconds if timeout is None else timeout
    password = None
    if mail.user:
        password = password_for(mail)
        if not password:
            raise SendError(
                f"메일 서버 비밀번호가 환경 변수 {mail.password_env}에 없습니다. 예약 작업을 실행하는 계정에 "
                f"이 환경 변수를 설정해 주세요(설정 파일에는 비밀번호를 적지 않습니다)."
            )
    if mail.security != "none" and tls_context is None:
        tls_context = ssl.create_default_context()
    if mail.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(mail.smtp_host, mail.smtp_port, timeout=timeout, context=tls_context)
    else:
        smtp = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=timeout)
    try:
        smtp.ehlo()
        if mail.security == "starttls":
            smtp.starttls(context=tls_context)
            smtp.ehlo()
        if mail.user:
            _login(smtp, mail.user, password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; a Korean password goes as UTF-8 over AUTH LOGIN."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth") or "LOGIN" not in smtp.esmtp_features["auth"].upper().split():
        raise SendError("메일 서버가 한글 등 영문이 아닌 문자가 든 계정·비밀번호로 로그인하는 방식(AUTH LOGIN)을 지원하지 않습니다. "
                        "비밀번호를 영문·숫자·기호로 바꿔 주세요.")
    encode = lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii")  # noqa: E731
    code, response = smtp.docmd("AUTH", "LOGIN " + encode(user))
    if code == 334:
        code, response = smtp.docmd(encode(password))
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def _envelope(raw: bytes) -> tuple[str, list[str], list[str]]:
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    sender = addr_spec(str(headers.get("From", "")))
    fields = [str(v) for name in ("To", "Cc") for v in headers.get_all(name, [])]
    recipients = [spec for _, spec in getaddresses(fields) if spec]
    options = ["SMTPUTF8"] if not all(a.isascii() for a in [sender, *recipients]) else []
    return sender, recipients, options


def send_raw(smtp: smtplib.SMTP, raw: bytes) -> dict[str, Any]:
    """Send the stored bytes as they are (no re-serialising); returns the refused recipients."""
    sender, recipients, options = _envelope(raw)
    return smtp.sendmail(sender, recipients, raw, mail_options=options)
