"""Exact JSON for record values and the ledger's timestamps (the design notes are in ledger.py).

Record values round-trip through a tagged JSON encoding (`encode_json`); timestamps are ISO 8601
in Asia/Seoul with the offset and whole seconds (`to_iso`), and naive datetimes raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


# --- time ---


def now_seoul() -> datetime:
    return datetime.now(SEOUL).replace(microsecond=0)


def to_iso(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime (Asia/Seoul)")
    return value.astimezone(SEOUL).isoformat(timespec="seconds")


# --- exact JSON for record values ---


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, int)):  # bool is an int
        return value
    if isinstance(value, float):
        raise TypeError(f"float {value!r} in a record: use int 원 or Decimal")
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):  # before date: datetime is a date
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v) for k, v in value.items()}
        # keys that JSON would change (non-str) or that look like tags: keep them as pairs
        return {"$map": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in the ledger")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$dec": Decimal,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$tuple": tuple,
    "$map": lambda pairs: {k: v for k, v in pairs},
}


def _decode_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        decoder = _DECODERS.get(key)
        if decoder is not None:
            return decoder(value)
    return obj


def encode_json(value: Any) -> str:
    return json.dumps(_encode(value), ensure_ascii=False, separators=(",", ":"))


def decode_json(text: str) -> Any:
    return json.loads(text, object_hook=_decode_object)
