"""Hangul keystroke tables, checked against the jamo and hgtk libraries on every syllable."""

from __future__ import annotations

import unicodedata

import hgtk
import jamo
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwrec.core.models.keys import key_ends, search_key_of
from kwrec.core.text.hangul import (
    CONJOINING_TO_COMPAT,
    choseong,
    compose,
    conjoining_to_compat,
    is_choseong_only,
    keystrokes,
)

ALL_SYLLABLES = [chr(c) for c in range(0xAC00, 0xD7A4)]

# The 두벌식 splitting rules, stated independently of the implementation's tables.
SPLIT = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
    "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ",
    "ㄽ": "ㄹㅅ", "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}  # fmt: skip

WORDS = [
    "아이폰", "아이폰 케이스", "갤럭시", "닭가슴살", "맑은 하늘", "넓적다리", "읽기", "값싼",
    "곬", "핥다", "읊조리다", "앉다", "않는", "괜찮아", "외투", "워치", "웨딩", "위", "의자",
    "뷁", "꽃", "뚫어뻥", "쌍꺼풀", "짜장", "없어요", "닭이", "달기", "가방", "고아", "과일",
    "삶은 계란", "밟기", "넋", "흙",
]  # fmt: skip


def split_keys(jamos: str) -> str:
    return "".join(SPLIT.get(j, j) for j in jamos)


def test_keystrokes_agree_with_hgtk_on_every_syllable() -> None:
    for syllable in ALL_SYLLABLES:
        cho, jung, jong = hgtk.letter.decompose(syllable)
        assert keystrokes(syllable) == cho + split_keys(jung) + split_keys(jong), syllable


def test_keystrokes_agree_with_jamo_on_every_syllable() -> None:
    for syllable in ALL_SYLLABLES:
        assert keystrokes(syllable) == split_keys(jamo.j2hcj(jamo.h2j(syllable))), syllable


def test_choseong_agrees_with_hgtk_on_every_syllable() -> None:
    assert choseong("".join(ALL_SYLLABLES)) == "".join(hgtk.letter.decompose(s)[0] for s in ALL_SYLLABLES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("아이폰", "ㅇㅏㅇㅣㅍㅗㄴ"),
        ("닭", "ㄷㅏㄹㄱ"),
        ("꽃", "ㄲㅗㅊ"),
        ("꽜", "ㄲㅗㅏㅆ"),
        ("의", "ㅇㅡㅣ"),
        ("했", "ㅎㅐㅆ"),
        ("ㅘㄳ", "ㅗㅏㄱㅅ"),
        ("ㄲㅆㅐ", "ㄲㅆㅐ"),
        ("iPhone 15!", "iPhone 15!"),
        ("ㆍ", "ㆍ"),  # archaic jamo have no key: unchanged
    ],
)
def test_keystrokes_examples(text: str, expected: str) -> None:
    assert keystrokes(text) == expected


def test_mid_syllable_prefixes_match() -> None:
    assert keystrokes("아잎") == keystrokes("아이ㅍ") == "ㅇㅏㅇㅣㅍ"
    assert keystrokes("아이폰").startswith(keystrokes("아잎"))
    assert keystrokes("닭가슴살").startswith(keystrokes("닭ㄱ"))
    assert keystrokes("닭가슴살").startswith(keystrokes("달"))


def test_choseong() -> None:
    assert choseong("아이폰") == "ㅇㅇㅍ"
    assert choseong("아이폰 케이스") == "ㅇㅇㅍ ㅋㅇㅅ"
    assert choseong("까치 a1 ㄳ") == "ㄲㅊ a1 ㄳ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ㅇㅇㅍ", True), ("ㅇㅇㅍ ㅋㅇㅅ", True), ("ㄲㄳ", True), ("ㅎ", True), ("", False), ("  ", False),
     ("ㅇㅏ", False), ("아", False), ("ㅇa", False), ("ㅇ1", False), ("ㆍ", False)],
)  # fmt: skip
def test_is_choseong_only(text: str, expected: bool) -> None:
    assert is_choseong_only(text) is expected


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("ㄷㅏㄹㄱㅇㅣ", "닭이"),
        ("ㄷㅏㄹㄱㅣ", "달기"),  # the last key of a compound final moves on
        ("ㄱㅏㅂㅏㅇ", "가방"),
        ("ㄱㅗㅏㅇㅣㄹ", "과일"),
        ("ㅇㅏㅇㅣㅍ", "아잎"),
        ("ㄱㅏㄸ", "가ㄸ"),  # ㄸ cannot be a final
        ("ㄱㅅ", "ㄱㅅ"),  # a 초성 query stays as typed
        ("ㅗㅏ", "ㅘ"),
        ("ㅏㅏ", "ㅏㅏ"),
        ("ㄱ ㅏ", "ㄱ ㅏ"),  # any other character ends the syllable
        ("가ㅇ", "강"),  # syllables in the input take part
        ("ㅂㅏㄹㅂㅅ", "밟ㅅ"),
        ("", ""),
    ],
)
def test_compose_examples(keys: str, expected: str) -> None:
    assert compose(keys) == expected


def test_compose_inverts_keystrokes_on_every_syllable() -> None:
    for syllable in ALL_SYLLABLES:
        assert compose(keystrokes(syllable)) == syllable
    # Every syllable followed by every initial (+ a vowel) exercises the final-moves-on rule.
    for syllable in ALL_SYLLABLES[::7]:
        for follower in ("가", "사", "아", "하", "까", "쏘"):
            assert compose(keystrokes(syllable + follower)) == syllable + follower


def test_compose_inverts_keystrokes_on_words() -> None:
    for word in WORDS:
        assert compose(keystrokes(word)) == word
        assert hgtk.text.compose(hgtk.text.decompose(word)) == word  # oracle sanity


@given(st.lists(st.sampled_from([*ALL_SYLLABLES[::13], *WORDS, " ", "1", "a"]), max_size=12))
def test_compose_inverts_keystrokes_on_random_text(parts: list[str]) -> None:
    text = "".join(parts)
    assert compose(keystrokes(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), max_size=15))
def test_compose_inverts_keystrokes_on_random_syllables(text: str) -> None:
    assert compose(keystrokes(text)) == text


def test_conjoining_to_compat_undoes_nfkc_for_every_compat_jamo() -> None:
    for code in range(0x3131, 0x318F):
        typed = chr(code)
        assert conjoining_to_compat(unicodedata.normalize("NFKC", typed)) == typed, hex(code)


def test_conjoining_to_compat_agrees_with_jamo_on_modern_jamo() -> None:
    modern = [*range(0x1100, 0x1113), *range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]
    for code in modern:
        assert conjoining_to_compat(chr(code)) == jamo.j2hcj(chr(code)), hex(code)


def test_conjoining_to_compat_covers_nfd_text() -> None:
    for word in WORDS:
        nfd = unicodedata.normalize("NFD", word)
        assert conjoining_to_compat(nfd) == jamo.j2hcj(jamo.h2j(word))
        assert keystrokes(conjoining_to_compat(nfd)) == keystrokes(word)


def test_conjoining_table_only_maps_jamo_blocks() -> None:
    blocks = (range(0x1100, 0x1200), range(0xA960, 0xA980), range(0xD7B0, 0xD800))
    assert all(any(code in b for b in blocks) for code in CONJOINING_TO_COMPAT)
    assert all(0x3131 <= ord(v) <= 0x318E for v in CONJOINING_TO_COMPAT.values())


@given(st.lists(st.sampled_from([*ALL_SYLLABLES[::13], *WORDS, " ", "  ", "1", "a", "ㅎ", "é"]), max_size=12))
def test_key_ends_are_the_lengths_of_the_heads_keys(parts: list[str]) -> None:
    text = "".join(parts)
    assert key_ends(text) == [len(search_key_of(text[:j])) for j in range(len(text) + 1)]
