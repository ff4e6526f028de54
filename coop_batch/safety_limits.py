"""The limits a submitted file is held to, and the refusal raised when it breaks one.

Split out of `safety.py` so that it and the XML part scanner (`safety_xml.py`) share
these without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB, MiB, GiB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 50 * MiB
    max_entries: int = 2000
    max_entry_bytes: int = 100 * MiB  # one zip entry, inflated
    max_total_bytes: int = 300 * MiB  # all entries, inflated
    min_inflate_ratio: float = 0.01  # compressed/uncompressed, as POI's ZipSecureFile
    max_rows: int = 200_000
    max_cols: int = 200
    timeout_seconds: float = 30.0  # per file, enforced by read_many's worker processes
    header_search_rows: int = 20
    # Additions beyond the brief, each with a default so callers never need them:
    max_cells: int = 4_000_000  # rows x columns of the dense grid calamine allocates (~32 B per cell, x2)
    grace_entry_bytes: int = 100 * KiB  # POI's GRACE_ENTRY_SIZE: small entries skip the ratio check
    worker_memory_bytes: int = 2 * GiB  # address-space cap of a read_many worker (POSIX only; 0 = none)


def run_limits(max_file_mb: int, timeout_seconds: float) -> Limits:
    """The limits of a nightly run under the workspace's `[limits]` settings."""
    return Limits(max_file_bytes=max_file_mb * MiB, timeout_seconds=timeout_seconds)


class _Refused(Exception):
    """One reason to refuse the file; becomes exactly one Problem."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code, self.detail = code, detail
