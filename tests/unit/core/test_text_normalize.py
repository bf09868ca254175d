"""Text forms: Python functions against a plain reference, and the polars expressions against Python."""

from __future__ import annotations

import re
import sys
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwrec.core.text.hangul import conjoining_to_compat, keystrokes
from kwrec.core.text.normalize import (
    clean_text,
    clean_text_expr,
    fold,
    fold_expr,
    invisible_ranges,
    search_key,
    word_starts,
)

INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}
FILLERS = {"\u115f", "\u1160", "\u3164", "\uffa0"}
TYPED_JAMO = re.compile("([\u3131-\u318e\uffa0-\uffdc])")


def reference_clean_text(s: str) -> str:
    """The definition, written plainly: NFKC everywhere except on typed (compatibility or half-width)
    jamo, which are kept as compatibility jamo; conjoining jamo -> compatibility jamo; invisible
    characters and Hangul fillers -> space; whitespace collapsed; stripped."""
    parts: list[str] = []
    for part in TYPED_JAMO.split(s):
        if TYPED_JAMO.fullmatch(part):
            decomposition = unicodedata.decomposition(part)
            parts.append(chr(int(decomposition.split()[1], 16)) if decomposition else part)
        else:
            parts.append(unicodedata.normalize("NFKC", part))
    text = conjoining_to_compat("".join(parts))
    text = "".join(" " if unicodedata.category(c) in INVISIBLE or c in FILLERS else c for c in text)
    return " ".join(text.split())


INTERESTING = [
    *"아이폰케이스갤럭시닭값꽃의가각", *"ㄱㄲㄳㅇㅍㅏㅘㅢㆍㆎ",
    *"\u1100\u1161\u11a8\u11aa\u1112\u1175\ua960\ud7b0\ud7cb", *"\uffa1\uffc2\uffa3", *FILLERS,
    *"ＡＢＣａｚ０９　！", *"abcXYZ019 .-_/", *"\t\n\r\x0b\x0c\x1c\x1f\x85\xa0",
    "\u1680", "\u2000", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", *"\x00\x07\x7f\x9f",
    *"\u00ad\u200b\u200c\u200d\u2060\ufeff\u061c", "\U000e0001", "\ue000", "\U000f0000", "\U0010fffd",
    "\u0378", "\U0001e030", "\U00031350", "\U0001fae8", "\U0001f600", "\ufe0f", "\u0301", "\u0308", "\u3099",
    *"ﬁ㈜㎏①ΣσςİẞΑΒΓ'", "\u00a8", "\u203e", "\u2126", "\u212b", "Å", "é",
]  # fmt: skip

text_strategy = st.text(
    alphabet=st.one_of(st.sampled_from(INTERESTING), st.characters(codec="utf-8")), max_size=30
)


# --- the Python functions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  아이폰   케이스 ", "아이폰 케이스"),
        ("ＡＢＣ　１２３", "ABC 123"),
        ("iPhone\t15\u200bPro", "iPhone 15 Pro"),
        ("ㅇㅇㅍ", "ㅇㅇㅍ"),  # typed compatibility jamo stay compatibility jamo
        ("ㄱㅏ 가ㄳ", "ㄱㅏ 가ㄳ"),  # ... and do not compose with each other or with a syllable
        ("\uffa1\uffc2", "ㄱㅏ"),  # half-width jamo become compatibility jamo
        ("\u1100\u1161\u11a8", "각"),  # NFD jamo compose
        ("\u1100 \u11a8", "ㄱ ㄱ"),  # lone conjoining jamo -> compatibility jamo
        ("㈜ 삼성", "(주) 삼성"),
        ("a\x00b\x7fc\x85d", "a b c d"),
        ("\ue000x\U000f0000", "x"),
        ("\u3164", ""),
        ("\ud800abc\udfff", "abc"),
        ("Ab", "Ab"),
        ("", ""),
    ],
)
def test_clean_text_examples(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_fold_search_key_word_starts_examples() -> None:
    assert fold("iPhone ＣＡＳＥ") == "iphone case"
    assert search_key("아이폰 케이스") == search_key("아이폰케이스") == keystrokes("아이폰케이스")
    assert search_key("iPhone 15") == "iphone15"
    assert search_key("ＡＢＣ") == "abc"
    assert search_key(unicodedata.normalize("NFD", "아이폰")) == search_key("아이폰") == "ㅇㅏㅇㅣㅍㅗㄴ"
    assert search_key("아잎") == search_key("아이ㅍ")
    assert search_key("\tA\x00b\u3000c ") == "abc"
    assert word_starts(fold("아이폰 케이스")) == [4]
    assert word_starts("a bb ccc") == [2, 5]
    assert word_starts("") == word_starts("abc") == []


@settings(max_examples=2000)
@given(text_strategy)
def test_clean_text_matches_reference(s: str) -> None:
    assert clean_text(s) == reference_clean_text(s)


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec=None, categories=None), max_size=20))
def test_clean_text_never_raises_even_on_surrogates(s: str) -> None:
    cleaned = clean_text(s)
    assert cleaned == reference_clean_text(s)
    assert cleaned == clean_text(cleaned)
    cleaned.encode("utf-8")  # nothing unencodable is left


@settings(max_examples=1000)
@given(text_strategy)
def test_forms_are_stable(s: str) -> None:
    cleaned = clean_text(s)
    assert clean_text(cleaned) == cleaned
    assert clean_text(unicodedata.normalize("NFD", s)) == clean_text(unicodedata.normalize("NFC", s))
    assert fold(s) == cleaned.lower()
    assert search_key(s) == keystrokes(fold(s)).replace(" ", "")
    assert "  " not in cleaned and cleaned == cleaned.strip()
    folded = fold(s)
    for start in word_starts(folded):
        assert folded[start - 1] == " " and folded[start] != " "
    assert len(word_starts(folded)) == folded.count(" ")


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30))
def test_search_key_ascii_fast_path(s: str) -> None:
    assert search_key(s) == keystrokes(fold(s)).replace(" ", "")


# --- facts the implementation relies on ---------------------------------------------------------


def test_unicode_layout_assumptions() -> None:
    assert all(unicodedata.category(chr(c)) == "Cn" for c in range(0x40000, 0xE0000, 97))
    assert all(unicodedata.category(chr(c)) in {"Co", "Cn"} for c in range(0xF0000, sys.maxunicode + 1, 13))
    expected = [
        c for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in INVISIBLE or chr(c) in FILLERS or chr(c).isspace()
    ]  # fmt: skip
    got = [c for lo, hi in invisible_ranges() for c in range(lo, hi + 1)]
    assert got == expected


def test_nfkc_creates_no_invisible_character_and_no_whitespace_but_space() -> None:
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if unicodedata.category(ch) in INVISIBLE or ch in FILLERS or ch.isspace():
            continue
        for out in unicodedata.normalize("NFKC", ch):
            assert unicodedata.category(out) not in INVISIBLE, hex(code)
            assert out == " " or not out.isspace(), hex(code)
            assert out not in FILLERS, hex(code)


# --- polars expressions against the Python functions --------------------------------------------


def run_exprs(values: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    frame = pl.DataFrame({"s": values}, schema={"s": pl.String}).select(
        clean=clean_text_expr(pl.col("s")), folded=fold_expr(pl.col("s"))
    )
    return frame["clean"].to_list(), frame["folded"].to_list()


@settings(max_examples=300)
@given(st.lists(text_strategy, min_size=1, max_size=40))
def test_exprs_match_python(values: list[str]) -> None:
    values = values + [unicodedata.normalize("NFD", v) for v in values]
    clean, folded = run_exprs(list(values))
    assert clean == [clean_text(v) for v in values]
    assert folded == [fold(v) for v in values]


def test_exprs_keep_nulls() -> None:
    assert run_exprs([None, " A "]) == ([None, "A"], [None, "a"])


@pytest.mark.slow
def test_exprs_match_python_on_every_code_point() -> None:
    # Single characters, and each one between letters (so that Final_Sigma, composition and whitespace
    # collapsing are exercised in context). Surrogates cannot be stored in a polars string.
    singles = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    for values in (singles, ["Σ" + c + "Σ a" for c in singles]):
        clean, folded = run_exprs(list(values))
        expected_clean = [clean_text(v) for v in values]
        bad_clean = [
            hex(ord(v[0] if len(v) == 1 else v[1]))
            for v, a, b in zip(values, clean, expected_clean, strict=True)
            if a != b
        ]
        assert bad_clean == []
        expected_fold = [c.lower() for c in expected_clean]
        bad_fold = [
            hex(ord(v[0] if len(v) == 1 else v[1]))
            for v, a, b in zip(values, folded, expected_fold, strict=True)
            if a != b
        ]
        assert bad_fold == []
