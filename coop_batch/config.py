"""The workspace: its folders and its settings file `coop_batch.toml`.

A workspace is one folder holding `inbox/`, `outbox/`, `archive/`, `quarantine/`,
`logs/`, the ledger and the settings.  In a clone of the repository the top level
is the default workspace (its `inbox/` and `outbox/` are committed empty).
Settings problems raise `ConfigError` with a Korean message (the CLI exits 2).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .seoul import SEOUL as SEOUL  # re-exported for older importers; new code imports .seoul
from .seoul import seoul_time

CONFIG_NAME = "coop_batch.toml"


class ConfigError(Exception):
    """The workspace settings are invalid; the message is Korean and says how to fix them."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paths(_Section):
    inbox: str = "inbox"
    outbox: str = "outbox"
    archive: str = "archive"
    quarantine: str = "quarantine"
    logs: str = "logs"
    ledger: str = "ledger.sqlite"


class Limits(_Section):
    file_timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_file_mb: int = Field(50, gt=0, le=1024)
    workers: int = Field(0, ge=0, le=8)  # 0: automatic (spawn.auto_workers)


class Logging(_Section):
    keep_days: int = Field(30, ge=1, le=3650)


class Mail(_Section):
    to: list[str] = ["부구청장실@example.go.kr"]
    cc: list[str] = []
    sender: str = "기획예산과@example.go.kr"
    smtp_host: str = ""  # empty: write .eml files to outbox/mail/ instead of sending
    smtp_port: int = Field(587, ge=1, le=65535)
    security: str = Field("starttls", pattern="^(starttls|ssl|none)$")
    user: str = ""
    password_env: str = "COOP_BATCH_SMTP_PASSWORD"
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_attachment_mb: float = Field(10.0, gt=0, le=100)


class Task(_Section):
    """The nightly scheduled task (`coop-batch schedule windows|cron`)."""

    time: str = Field("02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    time_limit_minutes: int = Field(120, ge=5, le=1440)  # Task Scheduler stops a run that hangs
    name: str = Field("coop-batch 야간배치", min_length=1, max_length=200)


class Settings(_Section):
    policy_year: int = Field(2016, ge=2000, le=2100)
    evaluation_year: int | None = Field(None, ge=2000, le=2100)
    settle_seconds: float = Field(120.0, ge=0, le=86_400)
    paths: Paths = Paths()
    limits: Limits = Limits()
    logging: Logging = Logging()
    mail: Mail = Mail()
    task: Task = Task()

    @property
    def result_year(self) -> int:
        """The year whose evaluation results are paid (the leave deadline counts from it)."""
        return self.evaluation_year or self.policy_year


DEFAULT_CONFIG = """\
# coop-batch 작업 폴더 설정 (이 파일은 UTF-8로 저장하세요)
# 값을 바꾼 뒤 'coop-batch doctor'로 설정이 올바른지 확인할 수 있습니다.

# 적용할 격려방안 규칙 연도 (coop_batch/rules/<연도>.toml)
policy_year = {policy_year}

# 평가결과의 연도 (특별휴가 사용기한 계산 기준). 비우면 policy_year와 같습니다.
{evaluation_line}

# 받은 파일을 처리하기 전에 기다리는 시간(초): 공유 폴더로 복사 중인 파일을 건드리지 않기 위함
settle_seconds = 120

[paths]
# 작업 폴더 기준 상대 경로 또는 절대 경로
inbox = "inbox"            # 부서가 파일을 넣는 곳 (하위 폴더 포함)
outbox = "outbox"          # 통합현황·명단 파일이 만들어지는 곳
archive = "archive"        # 접수된 파일 보관 (연/월 폴더)
quarantine = "quarantine"  # 반려된 파일 보관 (사유 .txt 함께)
logs = "logs"
ledger = "ledger.sqlite"   # 접수 대장 (지우지 마세요)

[limits]
file_timeout_seconds = 30  # 파일 하나를 읽는 최대 시간
max_file_mb = 50           # 이보다 큰 파일은 반려
workers = 0                # 파일을 동시에 읽는 작업 프로세스 수 (0: 자동, 코어가 2개 이상이고 파일이 많으면 2)

[logging]
keep_days = 30             # 로그 보관 일수

[mail]
to = ["부구청장실@example.go.kr"]
cc = []
sender = "기획예산과@example.go.kr"
smtp_host = ""             # 비워 두면 메일을 보내지 않고 outbox/mail/ 에 .eml 파일로 저장
smtp_port = 587
security = "starttls"      # starttls, ssl, none
user = ""
password_env = "COOP_BATCH_SMTP_PASSWORD"  # 비밀번호는 이 이름의 환경 변수에 둡니다(파일에 적지 않음)
timeout_seconds = 30
max_attachment_mb = 10     # 첨부 합계가 이보다 크면 나머지는 첨부하지 않고 파일 위치를 본문에 적음

[task]
# 'coop-batch schedule windows' 또는 'coop-batch schedule cron'으로 예약 작업을 만들 때 쓰는 값
time = "02:00"             # 매일 실행할 시각 (24시간제 HH:MM)
time_limit_minutes = 120   # 이 시간이 지나도 끝나지 않으면 작업 스케줄러가 멈춤
name = "coop-batch 야간배치"  # 작업 스케줄러에 보이는 작업 이름
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: Settings

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.root / path

    @property
    def inbox(self) -> Path:
        return self._path(self.settings.paths.inbox)

    @property
    def outbox(self) -> Path:
        return self._path(self.settings.paths.outbox)

    @property
    def archive(self) -> Path:
        return self._path(self.settings.paths.archive)

    @property
    def quarantine(self) -> Path:
        return self._path(self.settings.paths.quarantine)

    @property
    def logs(self) -> Path:
        return self._path(self.settings.paths.logs)

    @property
    def ledger_path(self) -> Path:
        return self._path(self.settings.paths.ledger)

    @property
    def lock_path(self) -> Path:
        return self.root / "coop_batch.lock"

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def rules_dir(self) -> Path:
        """`rules/` of the workspace: a year's rules file here is used before the package's."""
        return self.root / "rules"

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.inbox, self.outbox, self.archive, self.quarantine, self.logs)


_TOML_PLACE = re.compile(r"^(?P<what>.*?)\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)\s*$")


_BOUNDS = {  # pydantic's error type → (its context key, how the limit reads)
    "greater_than_equal": ("ge", "{} 이상이어야"), "greater_than": ("gt", "{}보다 커야"),
    "less_than_equal": ("le", "{} 이하여야"), "less_than": ("lt", "{}보다 작아야"),
}
_LENGTHS = {  # a list's or a text's length out of bounds: (its context key, how the limit reads)
    "too_short": ("min_length", "항목이 {}개 이상이어야"), "too_long": ("max_length", "항목이 {}개 이하여야"),
    "string_too_short": ("min_length", "{}자 이상이어야"), "string_too_long": ("max_length", "{}자 이하여야"),
}
_WANTED = {  # pydantic's error type, by its prefix → the kind of value wanted
    "int_": "정수(따옴표 없이, 예: 30)", "float_": "숫자(따옴표 없이, 예: 2.5)", "bool_": "true 또는 false",
    "date_": "날짜(따옴표 없이, 예: 2016-12-31)", "string_": "따옴표로 감싼 글자", "list_": "목록(예: [\"가\", \"나\"])",
    "dict_": "표([이름] 아래의 항목들)",
}


def value_problem(err: Mapping[str, Any]) -> str:
    """A pydantic error on a settings or rules value, in Korean, saying what is allowed."""
    kind, ctx, given = str(err.get("type", "")), err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "값이 없습니다"
    if kind == "extra_forbidden":
        return "알 수 없는 항목입니다(오타인지 확인)"
    if kind in _BOUNDS:
        key, limit = _BOUNDS[kind]
        bound = ctx.get(key)
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound  # 0, not 0.0
        return f"값 {given!r}: {limit.format(bound)} 합니다"
    if kind in _LENGTHS:
        key, limit = _LENGTHS[kind]
        return f"값 {given!r}: {limit.format(ctx.get(key))} 합니다"
    if kind == "string_pattern_mismatch":
        choices = re.fullmatch(r"\^\(([\w|]+)\)\$", str(ctx.get("pattern", "")))
        if choices:
            return f"값 {given!r}: {' / '.join(choices[1].split('|'))} 중 하나여야 합니다"
        return f"값 {given!r}이(가) 정해진 형식에 맞지 않습니다(설정 파일의 설명과 예를 참고)"  # (not 'a quoted text')
    if kind == "literal_error" and ctx.get("expected"):
        return f"값 {given!r}: {ctx['expected']} 중 하나여야 합니다"
    for prefix, what in _WANTED.items():
        if kind.startswith(prefix):
            return f"값 {given!r}: {what}여야 합니다"
    return str(err.get("msg", "")).removeprefix("Value error, ") or f"값 {given!r}이(가) 올바르지 않습니다"


def value_problems(exc: ValidationError) -> str:
    """Every error of a settings or rules file, `key.key: what is wrong; ...` (a whole-file check, with no
    key, says its keys itself)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {value_problem(err)}" if err["loc"] else value_problem(err)
        for err in exc.errors()
    )


def toml_mistake(exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's English error as a Korean place and hint: `47번째 줄 22번째 칸 근처` (its own words kept,
    in brackets, for whoever helps)."""
    found = _TOML_PLACE.match(str(exc))
    if found is None:
        return f"TOML 문법 오류({exc})"
    return (f"{found['line']}번째 줄 {found['column']}번째 칸 근처의 문법이 잘못되었습니다"
            f"(따옴표·대괄호가 닫혔는지, = 앞뒤와 쉼표를 확인; 원문: {found['what']})")


def load_settings(root: Path) -> Settings:
    path = root / CONFIG_NAME
    if not path.is_file():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"설정 파일 {path}이(가) UTF-8이 아닙니다. 메모장에서 'UTF-8'로 다시 저장해 주세요.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"설정 파일 {path}: {toml_mistake(exc)}. 메모장에서 고친 뒤 다시 실행해 주세요.") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"설정 파일 {path}에 잘못된 값이 있습니다: {value_problems(exc)}. 고친 뒤 다시 실행해 주세요.") from None


def is_workspace(root: Path) -> bool:
    """Whether `root` was made a workspace (its settings file, or at least a ledger at the default place):
    `run` refuses any other folder, so that a task started in the wrong one does not mail an empty report."""
    return (root / CONFIG_NAME).is_file() or (root / Paths().ledger).is_file()


def open_workspace(root: Path | str) -> Workspace:
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"작업 폴더 {root}이(가) 없습니다. 'coop-batch init {root}'로 먼저 만들어 주세요.")
    return Workspace(root, load_settings(root))


def init_workspace(root: Path | str, *, policy_year: int = 2016, evaluation_year: int | None = None) -> Workspace:
    """Create the folders and a commented settings file; keeps an existing settings file."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_NAME
    if not config.exists():
        evaluation_line = (
            f"evaluation_year = {evaluation_year}" if evaluation_year else f"# evaluation_year = {policy_year}"
        )
        config.write_text(
            DEFAULT_CONFIG.format(policy_year=policy_year, evaluation_line=evaluation_line), encoding="utf-8"
        )
    workspace = open_workspace(root)
    for folder in workspace.folders:
        folder.mkdir(parents=True, exist_ok=True)
    return workspace


def today_seoul(now: datetime | None = None) -> date:
    return seoul_time(now).date()
