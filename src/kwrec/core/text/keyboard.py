"""한/영 layout mistakes on the standard 두벌식 keyboard (KS X 5002).

A user who forgot to switch the input language types "dkdlvhs" for 아이폰, or "ㅑㅔㅙㅜㄷ" for iphone.
The map needs the ORIGINAL case, so these functions must run before any lower-casing: Shift+r is ㄲ.
"""

from __future__ import annotations

import re
from typing import Final

from kwrec.core.text.hangul import CONJOINING_TO_COMPAT, compose, keystrokes

__all__ = ["KEY_TO_JAMO", "hangul_from_latin", "jamo_to_latin", "latin_to_jamo"]

#: Unshifted keys, then the seven keys whose Shift layer has a different jamo.
KEY_TO_JAMO: Final[dict[str, str]] = {
    "q": "ㅂ", "w": "ㅈ", "e": "ㄷ", "r": "ㄱ", "t": "ㅅ",
    "y": "ㅛ", "u": "ㅕ", "i": "ㅑ", "o": "ㅐ", "p": "ㅔ",
    "a": "ㅁ", "s": "ㄴ", "d": "ㅇ", "f": "ㄹ", "g": "ㅎ", "h": "ㅗ", "j": "ㅓ", "k": "ㅏ", "l": "ㅣ",
    "z": "ㅋ", "x": "ㅌ", "c": "ㅊ", "v": "ㅍ", "b": "ㅠ", "n": "ㅜ", "m": "ㅡ",
    "Q": "ㅃ", "W": "ㅉ", "E": "ㄸ", "R": "ㄲ", "T": "ㅆ", "O": "ㅒ", "P": "ㅖ",
}  # fmt: skip


def _build_latin_table() -> dict[int, str]:
    table = {ord(k): v for k, v in KEY_TO_JAMO.items()}
    for key in "abcdefghijklmnopqrstuvwxyz":
        # Shift on a key without a shifted jamo types the same jamo (Shift+k is still ㅏ).
        table.setdefault(ord(key.upper()), KEY_TO_JAMO[key])
    return table


_LATIN_TO_JAMO: Final = _build_latin_table()
# A shifted jamo is typed with Shift, so its key is written upper-case; the unshifted key wins otherwise.
_JAMO_TO_LATIN: Final = {ord(v): k for k, v in KEY_TO_JAMO.items()}

_ASCII_LETTER: Final = re.compile("[A-Za-z]")
# Syllables, compatibility jamo, conjoining jamo (incl. Extended-A/B) and half-width jamo.
_HANGUL: Final = re.compile(
    "[\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff\uffa0-\uffdc]"
)


def latin_to_jamo(s: str) -> str | None:
    """Keystroke jamo for Latin input meant as Hangul: ``"dkdlvhs" -> "ㅇㅏㅇㅣㅍㅗㄴ"`` (not composed).

    Case matters (Shift+r is ㄲ). Characters other than ASCII letters are kept. None when ``s`` has no
    ASCII letter or already contains Hangul (then it was not a layout mistake).
    """
    if _ASCII_LETTER.search(s) is None or _HANGUL.search(s) is not None:
        return None
    return s.translate(_LATIN_TO_JAMO)


def hangul_from_latin(s: str) -> str | None:
    """Composed Hangul for Latin input meant as Hangul, for display: ``"dkdlvhs" -> "아이폰"``."""
    keys = latin_to_jamo(s)
    return None if keys is None else compose(keys)


def jamo_to_latin(s: str) -> str | None:
    """Keys for Hangul input meant as Latin: ``"ㅑㅔㅙㅜㄷ" -> "iphone"``; a shifted jamo gives an
    upper-case letter (ㄲ -> "R"). Other characters are kept. None when ``s`` has no Hangul."""
    if _HANGUL.search(s) is None:
        return None
    return keystrokes(s.translate(CONJOINING_TO_COMPAT)).translate(_JAMO_TO_LATIN)
