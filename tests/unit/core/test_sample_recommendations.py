"""The recommender on the bundled Korean and English sample customers, trained by the real pipeline."""

from __future__ import annotations

import unicodedata

import pytest

from kwrec.core.manifest import OpenedRelease


def ac(release: OpenedRelease, customer: str, q: str, limit: int = 10) -> list[str]:
    return [s.keyword for s in release.models[customer].autocomplete(q, limit)]


@pytest.mark.parametrize("q", ["아이ㅍ", "아잎", "ㅇㅇㅍ", "dkdlvhs", "아이폰"])
def test_korean_typing_finds_iphone_first(sample_release: OpenedRelease, q: str) -> None:
    assert ac(sample_release, "shop-kr", q)[0] == "아이폰"


def test_spacing_variants_answer_the_same(sample_release: OpenedRelease) -> None:
    """Same keywords in the same order whatever the spacing; each shown in the user's spacing if typed so."""
    spaced = ac(sample_release, "shop-kr", "아이폰 케이스")
    unspaced = ac(sample_release, "shop-kr", "아이폰케이스")
    assert [s.replace(" ", "") for s in spaced] == [s.replace(" ", "") for s in unspaced]
    assert "아이폰 케이스" in spaced
    assert all(s.replace(" ", "").startswith("아이폰케이스") for s in unspaced)
    assert unspaced != spaced  # some keyword is shown as typed without the space (아이폰케이스)


def test_word_start_match(sample_release: OpenedRelease) -> None:
    assert "아이폰 케이스" in ac(sample_release, "shop-kr", "케이스")


def test_one_jamo_typo_finds_samsung(sample_release: OpenedRelease) -> None:
    got = ac(sample_release, "shop-kr", "샴성")
    assert got and got[0].startswith("삼성"), got


def test_nfd_equals_nfc(sample_release: OpenedRelease) -> None:
    for q in ("아이폰", "삼성 냉", "갤럭시", "롱패"):
        assert ac(sample_release, "shop-kr", unicodedata.normalize("NFD", q)) == ac(
            sample_release, "shop-kr", q
        )


def test_single_user_keyword_is_never_suggested(sample_release: OpenedRelease) -> None:
    from kwrec.core.sample_data import SHOP_RARE_KEYWORD

    for prefix in (SHOP_RARE_KEYWORD[:2], SHOP_RARE_KEYWORD[:8], SHOP_RARE_KEYWORD):
        assert SHOP_RARE_KEYWORD not in ac(sample_release, "shop-kr", prefix, 50)


def test_english_case_space_and_typos(sample_release: OpenedRelease) -> None:
    assert ac(sample_release, "books-en", "HARRY p")[0] == "harry potter"
    assert ac(sample_release, "books-en", "harry   potter")[0] == "harry potter"
    assert "harry potter" in ac(sample_release, "books-en", "harry poter")
    assert any(w.startswith("python") for w in ac(sample_release, "books-en", "pyhton"))


def test_related_from_sessions(sample_release: OpenedRelease) -> None:
    related = [s.keyword for s in sample_release.models["shop-kr"].related("아이폰", 10)]
    assert related and "아이폰" not in related
    assert any("아이폰" in r or "에어팟" in r or "케이스" in r for r in related[:5])
    # books-en has no session ids: sessions come from user + time gap
    assert sample_release.models["books-en"].related("harry potter", 10)


def test_trending_picks_the_burst(sample_release: OpenedRelease) -> None:
    from kwrec.core.sample_data import SHOP_TRENDING_KEYWORD

    trending = [s.keyword for s in sample_release.models["shop-kr"].trending(5)]
    assert trending[0] == SHOP_TRENDING_KEYWORD
    popular = sample_release.models["shop-kr"].popular(10)
    assert [s.score for s in popular] == sorted((s.score for s in popular), reverse=True)


def test_plain_text_customer_without_users(sample_release: OpenedRelease) -> None:
    model = sample_release.models["news-kr"]
    assert model.popular(3)
    assert model.trending(3) == []  # no timestamps: nothing to compare with


def test_tenant_isolation(sample_release: OpenedRelease) -> None:
    en = {
        s.keyword for q in ("a", "h", "p", "t") for s in sample_release.models["books-en"].autocomplete(q, 50)
    }
    ko = {
        s.keyword
        for q in ("아", "ㅅ", "갤", "a", "i")
        for s in sample_release.models["shop-kr"].autocomplete(q, 50)
    }
    assert en and ko and not (en & ko & {"harry potter", "아이폰"})
    assert "harry potter" not in ko and "아이폰" not in en
