"""The inbox: what is ready to process, what must wait, and filing files away without losing any.

Decisions (the why):
- Anything in the inbox (subfolders included) that is not a known temporary/system/owner file or a
  `.txt` note is a *candidate*, whatever its extension: an odd file (a .hwp, a .pdf) gets a clear
  rejection in the quarantine rather than sitting in the inbox forever unexplained.
- Ignored files (Excel `~$` owner files, LibreOffice `.~lock.*#`, `*.tmp`, Thumbs.db, desktop.ini,
  dot-files, hidden files, `.txt` notes) are never touched and never counted.  Hidden folders are
  not entered.
- A candidate waits (stays in the inbox for the next run) when it is *unsettled* — touched within
  `settle_seconds` — or *open elsewhere* — an Excel/LibreOffice owner file sits beside it (one over
  a day old is taken for a crashed Excel's leftover: the file is processed and the run says so).
  "Touched" is the latest of mtime and ctime: Windows keeps the source's mtime on a copy but the
  creation time (st_ctime there) is the copy's, and on POSIX ctime moves with every write.
- Files are moved only (never copied-and-kept, never deleted, never overwritten); a name collision
  gets the content hash's first 8 hex digits as a prefix.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import Problem
from .seoul import SEOUL

_WINDOWS = os.name == "nt"

_IGNORED_NAMES = {"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db"}
_IGNORED_SUFFIXES = (".tmp", ".txt")
_HIDDEN = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 2)
_SYSTEM = getattr(stat, "FILE_ATTRIBUTE_SYSTEM", 4)

NOTE_HEADER = (
    "이 파일은 아래 문제 때문에 접수되지 않았습니다(반려). 각 항목의 안내대로 고친 뒤 "
    "파일을 다시 제출 폴더(inbox)에 넣어 주세요."
)


def is_ignored(name: str, attributes: int = 0) -> bool:
    """Temporary, system, owner and note files that the run leaves alone and does not count."""
    lower = name.casefold()
    return (
        lower.startswith(("~$", "."))  # Excel owner files; dot-files incl. LibreOffice `.~lock.x#`
        or lower in _IGNORED_NAMES
        or lower.endswith(_IGNORED_SUFFIXES)  # also `~*.tmp` (Word/Excel autosave temporaries)
        or bool(attributes & (_HIDDEN | _SYSTEM))  # Windows hidden/system attribute
    )


def owner_file_names(name: str) -> tuple[str, ...]:
    """Owner files that say `name` is open: Excel writes `~$` + the name, or for long names `~$` +
    the name without its first two characters; LibreOffice writes `.~lock.` + name + `#`."""
    names = [f"~${name}", f".~lock.{name}#"]
    if len(name) > 2:
        names.append(f"~${name[2:]}")
    return tuple(names)


@dataclass
class Scan:
    """One look at the inbox.  Each candidate is in exactly one of ready / unsettled / open_elsewhere."""

    inbox: Path
    ready: list[Path] = field(default_factory=list)
    unsettled: list[Path] = field(default_factory=list)  # touched within settle_seconds: next run
    open_elsewhere: list[Path] = field(default_factory=list)  # owner file beside it: next run
    ignored: list[Path] = field(default_factory=list)  # left alone, not counted
    owners: dict[Path, Path] = field(default_factory=dict)  # open_elsewhere file -> its owner file
    # ready file -> an owner file beside it older than STALE_OWNER_SECONDS (left by an Excel that crashed)
    stale_owners: dict[Path, Path] = field(default_factory=dict)
    # file -> its path inside the inbox, for the files found by `scan` (two relative_to per file
    # otherwise: a tenth of the main process's time per file in a big night)
    inside: dict[Path, str] = field(default_factory=dict, repr=False)

    @property
    def waiting(self) -> list[Path]:
        return self._sorted(self.unsettled + self.open_elsewhere)

    @property
    def candidates(self) -> list[Path]:
        """Everything counted as received: ready and waiting."""
        return self._sorted(self.ready + self.unsettled + self.open_elsewhere)

    def relative(self, path: Path) -> str:
        """`부서/주간실적.xlsx`: the path inside the inbox, '/' separators (for the ledger)."""
        found = self.inside.get(path)
        return found if found is not None else path.relative_to(self.inbox).as_posix()

    def _sorted(self, paths: Iterable[Path]) -> list[Path]:
        """By path inside the inbox, case-insensitively (ties: case-sensitively)."""

        def key(path: Path) -> tuple[str, str]:
            rel = self.relative(path)
            return (rel.casefold(), rel)

        return sorted(paths, key=key)

    def waiting_problems(self) -> list[Problem]:
        """A warning per waiting file, saying why it waits and what to do."""
        problems = [Problem("file-still-copying", file=self.relative(p)) for p in self.unsettled]
        return problems + [self.open_problem(p) for p in self.open_elsewhere]

    def open_problem(self, path: Path) -> Problem:
        """Why an `open_elsewhere` file waits: its owner file, to delete if the program is closed."""
        return Problem("file-open-elsewhere", file=self.relative(path), params={"owner": self.owners[path].name})

    def stale_owner_notes(self) -> list[str]:
        """A note per file processed although an owner file over a day old sits beside it."""
        return [
            f"{self.relative(path)} 옆의 '{owner.name}'은(는) 하루 넘게 지난 엑셀 잠금 파일이라 엑셀이 비정상 "
            f"종료하며 남긴 것으로 보고 파일을 처리했습니다. 엑셀에서 열고 있지 않다면 '{owner.name}'을(를) 지워 주세요."
            for path, owner in self.stale_owners.items()
        ]



# An owner file (`~$x.xlsx`) this old is taken for one left behind by an Excel that crashed or a PC
# switched off: the file is processed (a file really open in Excel on Windows can still be read, and
# if it cannot be moved it waits in the inbox, recorded, for the next run's recovery).
STALE_OWNER_SECONDS = 24 * 3600


def owner_is_stale(owner: Path, now: float) -> bool:
    """By its mtime: Excel writes the owner file once, when it opens the workbook."""
    try:
        return now - owner.stat().st_mtime > STALE_OWNER_SECONDS
    except OSError:  # gone since the listing: the file is no longer open
        return True


def _touched(st: os.stat_result) -> float:
    return max(st.st_mtime, st.st_ctime, getattr(st, "st_birthtime", 0.0) or 0.0)


def scan(inbox: Path, settle_seconds: float, now: float | None = None) -> Scan:
    """Look at every file under `inbox` (a missing inbox is an empty one)."""
    inbox = Path(inbox)
    now = time.time() if now is None else now
    result = Scan(inbox)
    if not inbox.is_dir():
        return result
    for folder, prefix, filenames in walk(inbox):
        present = {name.casefold(): name for name in filenames}  # owner files may differ in case
        for name in filenames:
            path = folder / name
            result.inside[path] = prefix + name
            try:
                st = path.stat()
            except OSError:  # vanished between listing and looking: not ours to count
                continue
            if not stat.S_ISREG(st.st_mode) or is_ignored(name, getattr(st, "st_file_attributes", 0)):
                result.ignored.append(path)
                continue
            owner = next((present[o.casefold()] for o in owner_file_names(name) if o.casefold() in present), None)
            if settle_seconds > 0 and now - _touched(st) < settle_seconds:
                result.unsettled.append(path)
            elif owner is not None and not owner_is_stale(folder / owner, now):
                result.open_elsewhere.append(path)
                result.owners[path] = folder / owner
            else:
                result.ready.append(path)
                if owner is not None:
                    result.stale_owners[path] = folder / owner
    for bucket in (result.ready, result.unsettled, result.open_elsewhere, result.ignored):
        bucket[:] = result._sorted(bucket)
    return result


def walk(inbox: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """(folder, its path inside the inbox as `a/b/` or '', its file names) for each folder the run
    looks in: hidden folders (dot, `$`, the Windows hidden attribute) are not entered."""
    for dirpath, dirnames, filenames in os.walk(inbox):
        folder = Path(dirpath)
        inside = folder.relative_to(inbox).as_posix()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "$")) and not _hidden(folder / d))
        yield folder, ("" if inside == "." else inside + "/"), filenames


def _hidden(path: Path) -> bool:
    try:
        return bool(getattr(path.stat(), "st_file_attributes", 0) & _HIDDEN)
    except OSError:
        return True


def sha256_of(path: Path) -> str:
    """Streamed SHA-256 of the file's bytes (lowercase hex)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


_HASH_CHUNK = 1024 * 1024


def stat_and_sha256(path: Path) -> tuple[os.stat_result, str] | None:
    """The file's stat and SHA-256 from one open; None when it cannot be opened at all (locked, no
    permission, a folder): defer it.  Reading it may still fail (it vanished or got locked meanwhile):
    that OSError is the caller's."""
    try:
        handle = open(path, "rb", buffering=0)
    except OSError:
        return None
    with handle:
        st = os.fstat(handle.fileno())
        # A submission (~10 KB) in one read, not file_digest's 256 KB buffer per file (10 µs of a
        # night's 25 µs a file); a file grown since fstat is read on to its end all the same.
        digest, size = hashlib.sha256(), min(st.st_size + 1, _HASH_CHUNK)
        while chunk := handle.read(size):
            digest.update(chunk)
        return st, digest.hexdigest()


def arrival_time(path: Path, first_seen: datetime, st: os.stat_result | None = None) -> datetime:
    """When the file's content arrived in the shared folder (Asia/Seoul), never after `first_seen`.
    `st`: the file's stat when the caller has it already (no second stat per file)."""
    return arrival_from_stat(path.stat() if st is None else st, first_seen, windows=_WINDOWS)


def arrival_from_stat(st: os.stat_result, first_seen: datetime, windows: bool = False) -> datetime:
    """Creation time where the OS gives one (st_birthtime; st_ctime on Windows), else mtime.

    With a creation time the later of it and mtime is taken: a copy keeps the source's old
    mtime but gets a new creation time, and a file saved over in place keeps its creation time
    but gets a new mtime — either way the content arrived at the later one."""
    arrived = datetime.fromtimestamp(_arrival_stamp(st, windows), SEOUL)
    return min(arrived, first_seen.astimezone(SEOUL))


def _arrival_stamp(st: os.stat_result, windows: bool) -> float:
    created = getattr(st, "st_birthtime", None)
    if created is None and windows:
        created = st.st_ctime  # creation time on Windows (Python < 3.12 has no st_birthtime there)
    return st.st_mtime if created is None else max(created, st.st_mtime)


def arrival_key(st: os.stat_result, inside: str) -> tuple[float, str, str]:
    """The order a run takes its files in: by arrival, then by path inside the inbox (as `scan`
    sorts); for reading ahead (spawn), before the run has looked at the inbox itself."""
    return _arrival_stamp(st, _WINDOWS), inside.casefold(), inside


def archive_dir(root: Path, when: date | datetime) -> Path:
    """`root/YYYY/MM` (for a datetime: its Seoul date)."""
    if isinstance(when, datetime):
        when = when.astimezone(SEOUL) if when.tzinfo else when
    return Path(root) / f"{when.year:04d}" / f"{when.month:02d}"


NAME_BYTES = 255  # a file name's limit: ext4 counts UTF-8 bytes (a Hangul syllable takes 3), NTFS 255 characters
NAME_ROOM = 48  # what the run adds to a name it files or copies: `1a2b3c4d_`, `(12)`, `_검토결과.txt`, `_오류.txt`


def fit_name(name: str, room: int = NAME_ROOM) -> str:
    """`name` as the run files and copies it: its stem cut (`~` marks the cut, the extension kept)
    when it and what the run adds to it would pass a file name's limit — a name of 80 Hangul
    syllables is legal, its `_검토결과.txt` is not."""
    limit = NAME_BYTES - room
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, suffix = os.path.splitext(name)
    if len(suffix) > 10:  # not an extension: cut the whole name
        stem, suffix = name, ""
    budget = limit - len(suffix.encode("utf-8")) - 1
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip() + "~" + suffix


def _names(name: str, sha256: str) -> Iterator[str]:
    """The names `file_into` tries, in order: the name, the hash-prefixed name, then numbered."""
    name = fit_name(name)
    yield name
    prefixed = f"{sha256[:8]}_{name}"
    yield prefixed
    stem, suffix = os.path.splitext(prefixed)
    number = 2
    while True:  # the same content filed twice under the same name
        yield f"{stem}({number}){suffix}"
        number += 1


def _reserve(dest_dir: Path, name: str, sha256: str) -> Path:
    """The first of `_names` free in `dest_dir`, reserved by creating it exclusively (a taken name:
    the next one; a missing folder: made once).  The same walk as `_rename_noreplace`'s."""
    # os.open, not open(): the same O_EXCL create at a fifth of the cost (no buffered file object)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    names, made = _names(name, sha256), False
    target = dest_dir / next(names)
    while True:
        try:
            os.close(os.open(target, flags))
            return target
        except FileExistsError:
            target = dest_dir / next(names)
        except FileNotFoundError:
            if made:
                raise
            dest_dir.mkdir(parents=True, exist_ok=True)
            made = True


def file_into(src: Path, dest_dir: Path, sha256: str) -> Path:
    """Move `src` into `dest_dir`, keeping its name (hash-prefixed on a collision); returns the new path.

    Never overwrites: on Linux one `renameat2(RENAME_NOREPLACE)` per name tried; elsewhere the
    target name is reserved by creating it exclusively, then replaced by the file.  Across devices
    the file is copied then removed; if the removal fails the copy is withdrawn, so the file is
    never in two places.  A symbolic link is filed as the file it points to (a copy), the link
    removed.  On any error `src` is left where it was."""
    src = src if isinstance(src, Path) else Path(src)  # Path(a Path) parses it again
    dest_dir = dest_dir if isinstance(dest_dir, Path) else Path(dest_dir)
    link = src.is_symlink()  # filed as the file it points to: a moved link would lose it with its target
    moved = None if link else _rename_noreplace(src, dest_dir, sha256)
    if moved is not None:
        return moved
    target = _reserve(dest_dir, src.name, sha256)
    if not link:
        try:
            _patiently(os.replace, src, target)
            return target
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                _discard(target)
                raise
    try:  # across devices, or a link: copy (what it points to), then remove the original (the link)
        shutil.copy2(src, target)
        _patiently(os.unlink, src)
    except BaseException:
        _discard(target)
        raise
    return target


# Windows: a file another process holds open without FILE_SHARE_DELETE (an antivirus scan, the
# search indexer, a reader closing it) cannot be renamed or deleted for a moment: a sharing or lock
# violation, or "access denied" when the target placeholder (just created by `_reserve`) is the one
# being scanned.  Tried again after these pauses (1.55 s in all) before the move is left for the
# next run.
_HELD_OPEN = frozenset({5, 32, 33})  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
_MOVE_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8)


def _patiently(action: Any, *paths: Path) -> None:
    """`action(*paths)` (os.replace, os.unlink), tried again while Windows says another process holds the file."""
    for pause in (*_MOVE_PAUSES, None):
        try:
            action(*paths)
            return
        except OSError as exc:
            if pause is None or getattr(exc, "winerror", None) not in _HELD_OPEN:
                raise
        time.sleep(pause)


_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


@functools.lru_cache(maxsize=None)
def _renameat2() -> Any:
    """libc's `renameat2` (Linux, glibc 2.28+), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _rename_noreplace(src: Path, dest_dir: Path, sha256: str) -> Path | None:
    """Linux: one atomic `renameat2(RENAME_NOREPLACE)`, which never overwrites — a tenth of the cost
    of creating a placeholder and replacing it.  None when unavailable, unsupported by the filesystem,
    across devices or on any other error: the caller then moves the portable way (and reports errors).

    The names of `_names` are tried in order by the rename itself (EEXIST: the next one), as
    `_reserve` does: not looked at first, since a month's folder holds many same-named weekly reports."""
    rename = _renameat2()
    if rename is None:
        return None
    import ctypes  # loaded by `_renameat2` already

    source, folder = os.fsencode(src), os.fsencode(dest_dir) + b"/"
    names, made = _names(src.name, sha256), False
    name = next(names)
    while True:
        if rename(_AT_FDCWD, source, _AT_FDCWD, folder + os.fsencode(name), _RENAME_NOREPLACE) == 0:
            return dest_dir / name
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            name = next(names)
        elif err == errno.ENOENT and not made:  # the month's folder is new (or src is gone: fall back)
            dest_dir.mkdir(parents=True, exist_ok=True)
            made = True
        else:
            return None


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:  # pragma: no cover - best effort; the original is intact either way
        pass


def find_filed(dest_dir: Path, name: str, sha256: str) -> Path | None:
    """Where `file_into` put a file with this name and content, if it did (crash recovery)."""
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        return None
    candidates = []
    for given in dict.fromkeys((fit_name(name), name)):  # a long name was filed cut (and before that, whole)
        stem, suffix = os.path.splitext(f"{sha256[:8]}_{given}")
        candidates += [dest_dir / given, dest_dir / f"{sha256[:8]}_{given}"]
        candidates += sorted(dest_dir.glob(f"{_glob_escape(stem)}(*){_glob_escape(suffix)}"))
    for path in candidates:
        try:
            if path.is_file() and sha256_of(path) == sha256:
                return path
        except OSError:  # a name too long for the filesystem is not there either
            continue
    return None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def note_path(filed: Path) -> Path:
    """`반려파일.xlsx` → `반려파일.xlsx_오류.txt`, beside it (unique because the filed name is)."""
    return filed.with_name(f"{filed.name}_오류.txt")


def write_note(path_txt: Path, file_name: str, problems: list[Problem], header: str = NOTE_HEADER) -> None:
    """The Korean note beside a quarantined file: UTF-8 with BOM and CRLF, for Windows Notepad."""
    lines = [header, "", f"파일: {file_name}", f"문제: {len(problems)}건", ""]
    lines += [f"{number}. {problem.line()}" for number, problem in enumerate(problems, 1)]
    text = "\n".join(lines).replace("\r\n", "\n").replace("\r", "\n") + "\n"
    Path(path_txt).parent.mkdir(parents=True, exist_ok=True)
    with open(path_txt, "w", encoding="utf-8-sig", newline="\r\n") as handle:
        handle.write(text)
