"""Autocomplete behaviour on small hand-made logs: every tier, thresholds and ordering."""

from __future__ import annotations

import pytest

from kwrec.core.models.customer_model import CustomerModel
from tests.helpers import popular_by, train_model, words


@pytest.fixture(scope="module")
def korean(tmp_path_factory: pytest.TempPathFactory) -> CustomerModel:
    rows = (
        popular_by("아이폰", 30, prefix="a")
        + popular_by("아이폰 케이스", 20, prefix="b")
        + popular_by("아이패드", 10, prefix="c")
        + popular_by("삼성 노트북", 12, prefix="d")
        + popular_by("삼성 냉장고", 8, prefix="e")
        + popular_by("아이스크림", 5, prefix="f")
        + popular_by("케이스티파이", 4, prefix="g")
        + popular_by("닭가슴살", 6, prefix="h")
        + [(1.0, "lonely", "lonely-s", "아이폰 16 프로 맥스 1테라 딥퍼플")]  # one user: never suggested
        + popular_by("ㅇㅇㅍ", 3, prefix="j")  # 초성 submits are typing artefacts, never suggested
    )
    return train_model(tmp_path_factory.mktemp("ko"), rows)


@pytest.mark.parametrize("q", ["아", "아이", "아이ㅍ", "아잎", "ㅇㅇㅍ", "dkdlvhs", "DKDLVHS"[:0] + "dkdlv"])
def test_korean_typing_reaches_iphone_first(korean: CustomerModel, q: str) -> None:
    assert words(korean, q)[0] == "아이폰"


def test_spacing_insensitive(korean: CustomerModel) -> None:
    assert words(korean, "아이폰케이스") == words(korean, "아이폰 케이스")
    assert words(korean, "아이폰케이스")[0] == "아이폰 케이스"


def test_word_start_match(korean: CustomerModel) -> None:
    assert "아이폰 케이스" in words(korean, "케이스")
    # exact prefix matches come first
    assert words(korean, "케이스")[0] == "케이스티파이"


def test_a_word_behind_punctuation_is_found_by_typing_the_word(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Before: "따옴" found no "\"따옴표\" 상품", nor "오오티" the hashtag "#오오티디 코디": the key of a
    keyword, and of each later word, started with the mark. Typing the mark still finds it first."""
    keywords = ['"따옴표" 상품', "#오오티디 코디", "(여성) 원피스", "[공식] 나이키 운동화", "여성 니트"]
    rows = [r for i, k in enumerate(keywords) for r in popular_by(k, 10 - i, prefix=f"p{i}")]
    model = train_model(tmp_path_factory.mktemp("marks"), rows)
    assert words(model, "따옴") == ['"따옴표" 상품']
    assert words(model, "오오티") == ["#오오티디 코디"]
    assert words(model, "여성") == ["여성 니트", "(여성) 원피스"]  # a keyword that starts so comes first
    assert words(model, "공식") == ["[공식] 나이키 운동화"]
    assert "[공식] 나이키 운동화" in words(model, "나이키")  # a later word, as before
    assert words(model, "#오오") == ["#오오티디 코디"] and words(model, "(여") == ["(여성) 원피스"]
    assert "(여성) 원피스" in words(model, "ㅇㅅ")  # 초성, the same
    assert words(model, "ㄸㅇ") == ['"따옴표" 상품']


def test_one_jamo_typo(korean: CustomerModel) -> None:
    got = words(korean, "샴성")
    assert got and all(w.startswith("삼성") for w in got)


def test_nfd_equals_nfc(korean: CustomerModel) -> None:
    import unicodedata

    for q in ("아이폰", "삼성 노", "닭가"):
        assert words(korean, unicodedata.normalize("NFD", q)) == words(korean, q)


def test_min_users_threshold(korean: CustomerModel) -> None:
    assert not any("딥퍼플" in w for w in words(korean, "아이폰", 50))
    assert "ㅇㅇㅍ" not in words(korean, "ㅇ", 50)


def test_scores_best_first(korean: CustomerModel) -> None:
    for q in ("아", "케이스", "샴성", "ㅅ", "아이폰 케"):
        scores = [s.score for s in korean.autocomplete(q, 10)]
        assert scores == sorted(scores, reverse=True)


def test_limit_and_junk_inputs(korean: CustomerModel) -> None:
    assert len(korean.autocomplete("아", 2)) == 2
    for junk in ("", " ", "\x00", "\ud800", "🙂🙂", "a" * 500, "\u200b\u200b", "ㅤ", "%", "아" * 200):
        korean.autocomplete(junk, 10)  # never raises
        korean.related(junk, 10)


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> CustomerModel:
    rows = (
        popular_by("harry potter", 20, prefix="a")
        + popular_by("Harry Potter and the Philosopher's Stone", 8, prefix="b")
        + popular_by("the hobbit", 10, prefix="c")
        + popular_by("python programming", 9, prefix="d")
        + popular_by("machine learning", 7, prefix="e")
        + popular_by("cheap flights to paris", 4, prefix="f")
        + popular_by("paris hotels", 6, prefix="g")
    )
    return train_model(tmp_path_factory.mktemp("en"), rows)


def test_english_case_and_space_insensitive(english: CustomerModel) -> None:
    assert words(english, "HARRY")[0] == "harry potter"
    assert words(english, "harrypot")[0] == "harry potter"
    assert words(english, "  Harry   Potter")[0] == "harry potter"
    # a space after the last word: what continues it first, the words alone after
    assert words(english, "  Harry   Potter ") == ["Harry Potter and the Philosopher's Stone", "harry potter"]


@pytest.mark.parametrize(
    ("typo", "want"),
    [("harry poter", "harry potter"), ("pyhton", "python programming"), ("hobbti", "the hobbit")],
)
def test_english_small_typos(english: CustomerModel, typo: str, want: str) -> None:
    assert want in words(english, typo)


def test_unseen_query_completed_from_suffixes(english: CustomerModel) -> None:
    # "cheap hotels in par..." was never searched: completing with a popular suffix still helps
    got = words(english, "cheap hotels in par")
    assert any(w.startswith("cheap hotels in paris") for w in got)
