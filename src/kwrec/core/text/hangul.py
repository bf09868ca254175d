"""Hangul jamo tables: 두벌식 keystroke decomposition, 초성 extraction and IME-style composition.

Everything on the hot path is a ``str.translate`` over a table built once at import, because these
functions run on every autocomplete request and on every distinct keyword at training time.
The tables are written out by hand (the Unicode Hangul syllable algorithm, KS X 1001 jamo order) and
checked against the ``jamo`` and ``hgtk`` libraries in the tests.
"""

from __future__ import annotations

import contextlib
import unicodedata
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "CHOSEONG",
    "CONJOINING_TO_COMPAT",
    "JONGSEONG",
    "JUNGSEONG",
    "choseong",
    "choseong_expr",
    "compose",
    "conjoining_to_compat",
    "is_choseong_only",
    "keystrokes",
    "keystrokes_expr",
]

SYLLABLE_FIRST: Final = 0xAC00
SYLLABLE_LAST: Final = 0xD7A3
_N_JUNG: Final = 21
_N_JONG: Final = 28

#: Initial consonants in syllable-index order, as compatibility jamo.
CHOSEONG: Final = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
#: Vowels in syllable-index order, as compatibility jamo.
JUNGSEONG: Final = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
#: Finals in syllable-index order ("" = no final), as compatibility jamo.
JONGSEONG: Final[tuple[str, ...]] = (
    "", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ",
    "ㄿ", "ㅀ", "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ",
)  # fmt: skip

# A 두벌식 keyboard has no key for a compound vowel or a compound final: they are typed as two keys.
# Double consonants (ㄲ ㄸ ㅃ ㅆ ㅉ) and ㅐ ㅒ ㅔ ㅖ are one (possibly shifted) key and stay whole.
_COMPOUND_VOWEL: Final[dict[str, str]] = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
}  # fmt: skip
_COMPOUND_FINAL: Final[dict[str, str]] = {
    "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ",
    "ㄽ": "ㄹㅅ", "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}  # fmt: skip
_SPLIT: Final[dict[str, str]] = {**_COMPOUND_VOWEL, **_COMPOUND_FINAL}

# Compatibility consonants ㄱ (U+3131) .. ㅎ (U+314E), doubles and compound finals included.
_COMPAT_CONSONANTS: Final = "".join(chr(c) for c in range(0x3131, 0x314F))


def _build_keystroke_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cho_i, cho in enumerate(CHOSEONG):
        for jung_i, jung in enumerate(JUNGSEONG):
            head = cho + _SPLIT.get(jung, jung)
            base = SYLLABLE_FIRST + (cho_i * _N_JUNG + jung_i) * _N_JONG
            for jong_i, jong in enumerate(JONGSEONG):
                table[base + jong_i] = head + _SPLIT.get(jong, jong)
    for compound, keys in _SPLIT.items():
        table[ord(compound)] = keys
    return table


def _build_choseong_table() -> dict[int, str]:
    per_cho = _N_JUNG * _N_JONG
    return {SYLLABLE_FIRST + i: CHOSEONG[i // per_cho] for i in range(SYLLABLE_LAST - SYLLABLE_FIRST + 1)}


def _build_conjoining_table() -> dict[int, str]:
    # The conjoining and compatibility blocks name the same letter the same way
    # ("HANGUL CHOSEONG SSANGKIYEOK" / "HANGUL JONGSEONG KIYEOK-SIOS" <-> "HANGUL LETTER ..."), which also
    # covers archaic jamo; the fillers have no letter and are left to the caller (normalize treats them
    # as invisible). Ranges: Hangul Jamo, Extended-A, Extended-B.
    table: dict[int, str] = {}
    for block in (range(0x1100, 0x1200), range(0xA960, 0xA980), range(0xD7B0, 0xD800)):
        for code in block:
            name = unicodedata.name(chr(code), "")
            for role in ("CHOSEONG ", "JUNGSEONG ", "JONGSEONG "):
                if name.startswith("HANGUL " + role):
                    letter = name.removeprefix("HANGUL " + role)
                    # An archaic cluster with no compatibility letter is kept as it is.
                    with contextlib.suppress(KeyError):
                        table[code] = unicodedata.lookup("HANGUL LETTER " + letter)
    # NFKC's own compatibility mapping is the authority where names differ (ㆎ ARAEAE = ARAEA-I) and for
    # the filler: whatever NFKC turns a typed compatibility jamo into must map back to that jamo.
    for code in range(0x3131, 0x318F):
        nfkc = unicodedata.normalize("NFKC", chr(code))
        if len(nfkc) == 1 and nfkc != chr(code):
            table[ord(nfkc)] = chr(code)
    return table


# Identity entries for ASCII and the compatibility jamo keep the common characters out of the
# translate-table miss path (a KeyError per character, several times slower than a hit).
_IDENTITY: Final[dict[int, str]] = {c: chr(c) for c in (*range(0x80), *range(0x3131, 0x318F))}
_KEYSTROKES: Final = {**_IDENTITY, **_build_keystroke_table()}
_CHOSEONG: Final = {**_IDENTITY, **_build_choseong_table()}
#: ``str.translate`` table: conjoining jamo (U+1100.., U+A960.., U+D7B0..) -> compatibility jamo.
#: Needed because NFKC maps typed compatibility jamo to conjoining jamo.
CONJOINING_TO_COMPAT: Final[dict[int, str]] = _build_conjoining_table()


def keystrokes(s: str) -> str:
    """Decompose Hangul syllables and compatibility jamo into 두벌식 keystrokes (compatibility jamo).

    ``keystrokes("아잎") == keystrokes("아이ㅍ") == "ㅇㅏㅇㅣㅍ"``, a prefix of ``keystrokes("아이폰")``.
    Any other character is returned unchanged.
    """
    return s.translate(_KEYSTROKES)


def keystrokes_per_char(c: str) -> int:
    """``len(keystrokes(c))`` for one character, without building the string."""
    return len(_KEYSTROKES.get(ord(c), c))


def conjoining_to_compat(s: str) -> str:
    """Map conjoining jamo (as left by NFKC or NFD input) to compatibility jamo."""
    return s.translate(CONJOINING_TO_COMPAT)


def choseong(s: str) -> str:
    """Replace every Hangul syllable by its initial consonant: ``"아이폰 케이스" -> "ㅇㅇㅍ ㅋㅇㅅ"``."""
    return s.translate(_CHOSEONG)


def is_choseong_only(s: str) -> bool:
    """True when ``s`` has at least one character other than ' ' and all of those are compatibility
    consonants (ㄱ..ㅎ, doubles and compound finals included), i.e. a 초성 query like "ㅇㅇㅍ"."""
    # strip() with a character set removes everything exactly when every character is in the set.
    return bool(s.strip(" ")) and not s.strip(_COMPAT_CONSONANTS + " ")


# --- composition (IME automaton) -------------------------------------------------------------------

_CHO_INDEX: Final = {c: i for i, c in enumerate(CHOSEONG)}
_JUNG_INDEX: Final = {c: i for i, c in enumerate(JUNGSEONG)}
_JONG_INDEX: Final = {c: i for i, c in enumerate(JONGSEONG) if c}
_JOIN_VOWEL: Final = {keys: compound for compound, keys in _COMPOUND_VOWEL.items()}
_JOIN_FINAL: Final = {keys: compound for compound, keys in _COMPOUND_FINAL.items()}


class _Composer:
    """두벌식 IME state: one syllable in progress (initial, vowel, final; any may be missing)."""

    __slots__ = ("cho", "jong", "jung", "out")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.cho = ""
        self.jung = ""
        self.jong = ""

    def flush(self) -> None:
        if self.cho and self.jung:
            code = (_CHO_INDEX[self.cho] * _N_JUNG + _JUNG_INDEX[self.jung]) * _N_JONG
            code += _JONG_INDEX[self.jong] if self.jong else 0
            self.out.append(chr(SYLLABLE_FIRST + code))
        else:
            self.out.append(self.cho + self.jung)
        self.cho = self.jung = self.jong = ""

    def consonant(self, c: str) -> None:
        if self.cho and self.jung:
            if not self.jong:
                if c in _JONG_INDEX:  # ㄸ ㅃ ㅉ cannot end a syllable
                    self.jong = c
                    return
            elif (joined := _JOIN_FINAL.get(self.jong + c)) is not None:
                self.jong = joined
                return
        # A lone consonant never joins another one: "ㄱㅅ" is a 초성 query, not ㄳ.
        self.flush()
        self.cho = c

    def vowel(self, v: str) -> None:
        if self.jong:
            # The last final consonant key moves on to start the next syllable (닭 + ㅣ -> 달기).
            keys = _COMPOUND_FINAL.get(self.jong, self.jong)
            self.jong = keys[:-1]
            moved = keys[-1]
            self.flush()
            self.cho, self.jung = moved, v
        elif self.jung:
            joined = _JOIN_VOWEL.get(self.jung + v)
            if joined is not None:
                self.jung = joined
            else:
                self.flush()
                self.jung = v
        else:
            self.jung = v  # after an initial, or a lone vowel

    def result(self) -> str:
        self.flush()
        return "".join(self.out)


def compose(keys: str) -> str:
    """Compose keystroke jamo into syllables the way a 두벌식 IME does.

    ``compose("ㄷㅏㄹㄱㅇㅣ") == "닭이"``, ``compose("ㄷㅏㄹㄱㅣ") == "달기"``,
    ``compose(keystrokes(s)) == s`` for any string of Hangul syllables. The input is passed through
    :func:`keystrokes` first, so syllables and compound jamo in it take part in composition ("가ㅇ" -> "강").
    Any other character passes through and ends the syllable in progress.
    """
    state = _Composer()
    for c in keystrokes(keys):
        if c in _CHO_INDEX or c in _JONG_INDEX:
            state.consonant(c)
        elif c in _JUNG_INDEX:
            state.vowel(c)
        else:
            state.flush()
            state.out.append(c)
    return state.result()


# --- column-wise versions (training time, millions of strings) -------------------------------------


def keystrokes_expr(e: pl.Expr) -> pl.Expr:
    """``keystrokes`` as a polars expression (one Aho-Corasick pass instead of a Python loop)."""
    changed = sorted((k, v) for k, v in _KEYSTROKES.items() if chr(k) != v)
    return e.str.replace_many([chr(k) for k, _ in changed], [v for _, v in changed])


def choseong_expr(e: pl.Expr) -> pl.Expr:
    """``choseong`` as a polars expression."""
    changed = sorted((k, v) for k, v in _CHOSEONG.items() if chr(k) != v)
    return e.str.replace_many([chr(k) for k, _ in changed], [v for _, v in changed])
