"""Korean particles after a value only known at run time: `'3월 넷째 주'을(를)` → `'3월 넷째 주'를`.

Messages are written with both forms (`은(는)`, `이(가)`, `을(를)`, `과(와)`, `(으)로`) because the
word before them is a user's value; `josa` picks the one the word's last syllable takes (a final
consonant or not; `(으)로` also after ㄹ), reading past closing quotes and brackets.  Digits and Latin
letters are read as Koreans say them (`45` 사십오 → `가`, `xlsx` …엑스 → `와`, `url` …엘 → `로`); anything
else keeps both forms, as written.
"""

from __future__ import annotations

import re

_MARK = re.compile(r"은\(는\)|이\(가\)|을\(를\)|과\(와\)|\(으\)로")
_FORMS = {"은(는)": ("은", "는"), "이(가)": ("이", "가"), "을(를)": ("을", "를"), "과(와)": ("과", "와")}
_SKIP = "'\"’”)]」』>》〉"
_RIEUL = 8  # the index of ㄹ among the final consonants
# the final consonant of a digit or a Latin letter as read aloud (0: none)
_READ = {**dict(zip("0123456789", (21, 8, 0, 16, 0, 0, 1, 8, 8, 0))),
         **{c: 0 for c in "abcdefghijkopqstuvwxyz"}, "l": _RIEUL, "r": _RIEUL, "m": 16, "n": 4}


def _final(ch: str) -> int | None:
    """The final consonant's index of the syllable `ch` ends on (0: none), None when unknown."""
    if "가" <= ch <= "힣":
        return (ord(ch) - 0xAC00) % 28
    return _READ.get(ch.lower())


def josa(text: str) -> str:
    """`text` with each two-form particle settled by the word before it (left as is when unknown)."""
    if "(" not in text:
        return text

    def settle(match: re.Match[str]) -> str:
        i = match.start() - 1
        while i >= 0 and text[i] in _SKIP:
            i -= 1
        final = _final(text[i]) if i >= 0 else None
        mark = match.group()
        if final is None:
            return mark
        if mark == "(으)로":
            return "로" if final in (0, _RIEUL) else "으로"
        with_final, without = _FORMS[mark]
        return with_final if final else without

    return _MARK.sub(settle, text)
