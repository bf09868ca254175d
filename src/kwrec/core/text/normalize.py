"""The text forms the whole system agrees on: display form, folded form and search key.

``clean_text`` (display) -> ``fold`` (lower case) -> ``search_key`` (두벌식 keystrokes, no spaces).
The polars expressions ``clean_text_expr`` / ``fold_expr`` give exactly the same strings as the Python
functions, so keywords preprocessed column-wise at training match queries normalised one by one at
serving time. Character classes are taken from Python's ``unicodedata`` and handed to polars as explicit
ranges rather than ``\\p{..}`` classes, because polars (Rust) ships a newer Unicode version than Python:
a character unassigned in Python's version is invisible to both, whatever polars thinks it is.
"""

from __future__ import annotations

import functools
import heapq
import re
import sys
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import polars as pl

from kwrec.core.text.hangul import CONJOINING_TO_COMPAT, keystrokes

__all__ = [
    "clean_text",
    "clean_text_expr",
    "fold",
    "fold_expr",
    "invisible_ranges",
    "search_key",
    "word_starts",
]

_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Hangul fillers are letters (Lo) that render as nothing; they are a known trick for "blank" input.
_HANGUL_FILLERS: Final = (0x115F, 0x1160, 0x3164, 0xFFA0)

# Compatibility jamo typed by a user must survive NFKC unchanged: NFKC maps them to conjoining jamo,
# which then compose with each other ("ㄱㅏ" would become "가", "가ㄳ" would become "갃"). They are
# parked on private-use code points (which NFKC leaves alone, and which cannot be in the input any
# more because private-use characters were already turned into spaces) and restored afterwards.
# Half-width jamo (U+FFA1..) are parked as the compatibility jamo they are narrow forms of.
_PARK_BASE: Final = 0xE000 - 0x3100


def _build_park_table() -> dict[int, str]:
    table = {c: chr(_PARK_BASE + c) for c in range(0x3131, 0x318F) if c != 0x3164}
    for code in range(0xFFA1, 0xFFDD):
        decomposition = unicodedata.decomposition(chr(code))  # e.g. "<narrow> 3131"
        if decomposition.startswith("<narrow> "):
            table[code] = chr(_PARK_BASE + int(decomposition.split()[1], 16))
    return table


def _build_restore_table() -> dict[int, str]:
    table: dict[int, str] = dict(CONJOINING_TO_COMPAT)
    table.update({_PARK_BASE + c: chr(c) for c in range(0x3131, 0x318F) if c != 0x3164})
    table.update({c: " " for c in _HANGUL_FILLERS})
    return table


_PARK: Final = _build_park_table()
_RESTORE: Final = _build_restore_table()


def _char_class(codes: list[int]) -> str:
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    body = (re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges)
    return "[" + "".join(body) + "]"


# Every character _RESTORE changes: conjoining jamo, parked jamo and the fillers.
_NEEDS_RESTORE: Final = re.compile(_char_class(list(_RESTORE)))
# ASCII controls (Cc) and the space: all of them separate words, and a search key has no separators.
# Identity entries for the rest: a translate-table miss costs a KeyError per character.
_ASCII_DROP: Final[dict[int, int | None]] = {c: None if c <= 0x20 or c == 0x7F else c for c in range(0x80)}


def _scan_invisible() -> Iterator[tuple[int, int]]:
    # Planes 4..13 are unassigned and planes 15..16 private use in the Unicode version of Python 3.11
    # (checked by the tests), so only the rest needs a per-character look-up. A printable chunk has
    # neither invisible characters nor whitespace and is skipped whole; the scan takes ~0.1 s, once.
    category = unicodedata.category
    for lo, hi in ((0, 0x40000), (0xE0000, 0xF0000)):
        text = "".join(map(chr, range(lo, hi)))
        for offset in range(0, hi - lo, 128):
            chunk = text[offset : offset + 128]
            if chunk.isprintable():
                continue
            for i, ch in enumerate(chunk):
                if not ch.isprintable() and category(ch) in _INVISIBLE_CATEGORIES:
                    yield lo + offset + i, lo + offset + i
        if hi == 0x40000:
            yield 0x40000, 0xDFFFF
    yield 0xF0000, sys.maxunicode


@functools.cache
def invisible_ranges() -> tuple[tuple[int, int], ...]:
    """Inclusive code point ranges that ``clean_text`` turns into a space: general categories Cc, Cf, Cs,
    Co, Cn in Python's Unicode database, the Hangul fillers, and all whitespace (``str.isspace``)."""
    extra = sorted((c, c) for c in {*_HANGUL_FILLERS, *(c for c in range(0x3001) if chr(c).isspace())})
    ranges: list[list[int]] = []
    for lo, hi in heapq.merge(_scan_invisible(), extra):
        if ranges and lo <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    return tuple((lo, hi) for lo, hi in ranges)


@functools.cache
def _invisible_run_re() -> re.Pattern[str]:
    parts = (f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in invisible_ranges())
    return re.compile("[" + "".join(parts) + "]+")


@functools.cache
def _invisible_run_rust() -> str:
    # Rust regexes work on Unicode scalar values: surrogates cannot be named (nor occur in a polars string).
    parts: list[str] = []
    for lo, hi in invisible_ranges():
        for a, b in ((lo, min(hi, 0xD7FF)), (max(lo, 0xE000), hi)):
            if a <= b:
                parts.append(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}")
    return "[" + "".join(parts) + "]+"


def clean_text(s: str) -> str:
    """Display form: NFKC (full-width and compatibility forms folded) with typed compatibility jamo kept as
    they are, conjoining jamo mapped to compatibility jamo, invisible characters (Cc Cf Cs Co Cn, Hangul
    fillers) made spaces, whitespace runs collapsed to one space, stripped. Case is kept. Never raises."""
    # Each step is skipped when a cheap test shows it would change nothing: this runs per request.
    if not s.isprintable():  # a printable string has no invisible character and no whitespace but ' '
        s = _invisible_run_re().sub(" ", s)
    if not unicodedata.is_normalized("NFKC", s):
        s = unicodedata.normalize("NFKC", s.translate(_PARK))
    if _NEEDS_RESTORE.search(s):
        s = s.translate(_RESTORE)
    # Only ' ' is left as whitespace here: NFKC and the restore table produce no other (tested).
    if "  " in s:
        return " ".join(s.split())
    return s.strip(" ")


def fold(s: str) -> str:
    """Matching form: ``clean_text(s).lower()``."""
    return clean_text(s).lower()


def search_key(s: str) -> str:
    """Spacing-insensitive keystroke key: ``"아이폰 케이스"`` and ``"아이폰케이스"`` give the same key."""
    if s.isascii():
        # ASCII needs no NFKC and no jamo handling, and every invisible character would become a space
        # that the key drops anyway.
        return s.translate(_ASCII_DROP).lower()
    return keystrokes(fold(s)).replace(" ", "")


def word_starts(folded: str) -> list[int]:
    """Offsets in a folded string where a word other than the first one starts ("아이폰 케이스" -> [4])."""
    starts: list[int] = []
    i = folded.find(" ")
    while i >= 0:
        if i + 1 < len(folded) and folded[i + 1] != " ":
            starts.append(i + 1)
        i = folded.find(" ", i + 1)
    return starts


def clean_text_expr(e: pl.Expr) -> pl.Expr:
    """``clean_text`` as a polars expression (strings in, strings out; nulls stay null)."""
    park = sorted(_PARK.items())
    restore = sorted(_RESTORE.items())
    return (
        # Invisible characters go before NFKC, so that polars' newer Unicode tables never see a character
        # that Python's considers unassigned. NFKC creates no invisible character (checked by the tests).
        e.str.replace_all(_invisible_run_rust(), " ")
        .str.replace_many([chr(k) for k, _ in park], [v for _, v in park])
        .str.normalize("NFKC")
        .str.replace_many([chr(k) for k, _ in restore], [v for _, v in restore])
        # Left after NFKC: spaces it produced (U+00A0, U+3000, "¨" -> " ̈") and the fillers restored as ' '.
        .str.replace_all(" {2,}", " ")
        .str.strip_chars(" ")
    )


def fold_expr(e: pl.Expr) -> pl.Expr:
    """``fold`` as a polars expression."""
    return clean_text_expr(e).str.to_lowercase()
