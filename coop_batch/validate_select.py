"""Which files `coop-batch validate` checks: the files named, and the .xlsx files in the folders named.

A folder is walked as the nightly run walks its inbox: sorted by name, subfolders included, Excel's
`~$` owner files, hidden files and hidden folders left out (`inbox.is_ignored`).  Each file is checked
once, however often it is named.  The CLI words what is found here (missing names, empty folders,
files that are not .xlsx) in Korean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .inbox import is_ignored


@dataclass
class Selection:
    files: dict[str, Path] = field(default_factory=dict)  # name as shown → path, in order, each file once
    missing: list[str] = field(default_factory=list)  # names that are neither a file nor a folder
    empty: list[str] = field(default_factory=list)  # folders without an .xlsx file
    skipped: list[str] = field(default_factory=list)  # files in the folders that are not .xlsx
    unreadable: list[str] = field(default_factory=list)  # folders that could not be listed


def select(names: tuple[str, ...] | list[str]) -> Selection:
    chosen = Selection()
    found: dict[str, Path] = {}
    for name in names:
        path = Path(name)
        if path.is_file():
            found.setdefault(name, path)
        elif path.is_dir():
            inside = _walk(path, chosen)
            if not inside:
                chosen.empty.append(name)
            for file in inside:
                found.setdefault(str(file), file)
        else:
            chosen.missing.append(name)
    unique: dict[Path, str] = {}
    for name, path in found.items():  # the same file named twice (a name and its folder): once
        unique.setdefault(path.resolve(), name)
    chosen.files = {name: found[name] for name in unique.values()}
    return chosen


def _walk(folder: Path, chosen: Selection) -> list[Path]:
    try:
        entries = sorted(folder.iterdir(), key=lambda p: (p.name.casefold(), p.name))
    except OSError:
        chosen.unreadable.append(str(folder))
        return []
    xlsx: list[Path] = []
    for path in entries:
        try:
            attributes = getattr(path.stat(), "st_file_attributes", 0)  # Windows: hidden, system
        except OSError:
            continue
        if is_ignored(path.name, attributes):
            continue
        if path.is_dir() and not path.is_symlink():
            xlsx += _walk(path, chosen)
        elif path.suffix.casefold() == ".xlsx":
            xlsx.append(path)
        elif path.is_file():
            chosen.skipped.append(str(path))
    return xlsx
