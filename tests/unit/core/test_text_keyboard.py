"""두벌식 keyboard map, checked against inko (an independent port of Inko.js) and the KS X 5002 layout."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from inko import Inko

from kwrec.core.text.hangul import compose, keystrokes
from kwrec.core.text.keyboard import KEY_TO_JAMO, hangul_from_latin, jamo_to_latin, latin_to_jamo

# KS X 5002, row by row, by the Unicode names of the jamo; then the Shift layer where it differs.
LAYOUT = {
    "qwertyuiop": "PIEUP CIEUC TIKEUT KIYEOK SIOS YO YEO YA AE E",
    "asdfghjkl": "MIEUM NIEUN IEUNG RIEUL HIEUH O EO A I",
    "zxcvbnm": "KHIEUKH THIEUTH CHIEUCH PHIEUPH YU U EU",
    "QWERTOP": "SSANGPIEUP SSANGCIEUC SSANGTIKEUT SSANGKIYEOK SSANGSIOS YAE YE",
}
INKO = Inko()


def layout_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for keys, names in LAYOUT.items():
        for key, name in zip(keys, names.split(), strict=True):
            table[key] = unicodedata.lookup("HANGUL LETTER " + name)
    return table


def test_key_map_matches_ks_x_5002() -> None:
    assert layout_table() == KEY_TO_JAMO


def test_every_key_and_its_shift() -> None:
    table = layout_table()
    for key in "abcdefghijklmnopqrstuvwxyz":
        assert latin_to_jamo(key) == table[key]
        assert latin_to_jamo(key.upper()) == table.get(key.upper(), table[key])


@pytest.mark.parametrize(
    ("latin", "hangul"),
    [("dkdlvhs", "아이폰"), ("Rkwl", "까지"), ("ekfrdl", "닭이"), ("rkqkd", "가방"),
     ("dkdlvhs zpdltm", "아이폰 케이스"), ("rPwjd", "계정"), ("ehdgo", "동해"), ("DKDLVHS", "아이폰"),
     ("TkdRjvnf", "쌍꺼풀"), ("dkE", "아ㄸ"), ("rt", "ㄱㅅ"), ("ghk", "화")],
)  # fmt: skip
def test_hangul_from_latin_examples(latin: str, hangul: str) -> None:
    assert hangul_from_latin(latin) == hangul
    assert latin_to_jamo(latin) == keystrokes(hangul)


def test_latin_to_jamo_iphone_and_non_letters() -> None:
    assert latin_to_jamo("dkdlvhs") == keystrokes("아이폰")
    assert latin_to_jamo("dkdlvhs 15!") == keystrokes("아이폰") + " 15!"


@pytest.mark.parametrize("text", ["", "123", " ", "아이폰 case", "ㅇa", "😀", "ｄｋ"])
def test_latin_to_jamo_none(text: str) -> None:
    assert latin_to_jamo(text) is None
    assert hangul_from_latin(text) is None


@pytest.mark.parametrize(
    ("hangul", "latin"),
    [("ㅑㅔㅙㅜㄷ", "iphone"), ("ㅑㅔㅙㅜㄷ 15", "iphone 15"), ("까지", "Rkwl"), ("닭", "ekfr"), ("ㄳ", "rt"),
     ("ㅒㅖ", "OP"), ("흐먀ㅣ.채ㅡ", "gmail.com"), ("아이폰", "dkdlvhs")],
)  # fmt: skip
def test_jamo_to_latin_examples(hangul: str, latin: str) -> None:
    assert jamo_to_latin(hangul) == latin


def test_jamo_to_latin_accepts_nfd() -> None:
    assert jamo_to_latin(unicodedata.normalize("NFD", "아이폰")) == "dkdlvhs"


@pytest.mark.parametrize("text", ["", "iphone", "123 ", "ＡＢＣ"])
def test_jamo_to_latin_none(text: str) -> None:
    assert jamo_to_latin(text) is None


latin_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ 0123.", min_size=1, max_size=20
)


# inko drops ㄸ ㅃ ㅉ typed after a vowel when no vowel follows ("dkE" -> "아", an IME shows "아ㄸ").
INKO_DROPS_DOUBLE = re.compile("[hjklyuiopbnmHJKLYUIOPBNM][EQW](?![hjklyuiopbnmHJKLYUIOPBNM])")


@given(latin_text.filter(lambda s: any(c.isalpha() for c in s)))
def test_hangul_from_latin_agrees_with_inko(text: str) -> None:
    assume(INKO_DROPS_DOUBLE.search(text) is None)
    assert hangul_from_latin(text) == INKO.en2ko(text)


hangul_text = st.text(
    # Syllables and the compatibility jamo inko knows (it drops standalone compound finals like ㄳ).
    alphabet=st.one_of(
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
        st.sampled_from("ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"),
        st.sampled_from(" 1-"),
    ),
    min_size=1,
    max_size=15,
).filter(lambda s: s.strip(" 1-") != "")


@given(hangul_text)
def test_jamo_to_latin_agrees_with_inko(text: str) -> None:
    assert jamo_to_latin(text) == INKO.ko2en(text)


@given(latin_text.filter(lambda s: any(c.isalpha() for c in s)))
def test_latin_round_trip(text: str) -> None:
    # Upper-case letters without a Shift jamo come back lower-case: Shift does nothing on those keys.
    canonical = "".join(c if c in KEY_TO_JAMO else c.lower() for c in text)
    hangul = hangul_from_latin(text)
    assert hangul is not None
    assert jamo_to_latin(hangul) == canonical
    keys = latin_to_jamo(text)
    assert keys is not None and keystrokes(compose(keys)) == keys
