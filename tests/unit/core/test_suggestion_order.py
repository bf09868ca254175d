"""Where the answers to a prefix come from and in what order (the causes measured against
most-popular-completion in docs/benchmarks.md): what is on screen first, merged typos found by prefix,
repeat searches by one person."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kwrec.core.models.banned import BannedText
from kwrec.core.models.customer_model import META_FILE, CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.settings import TrainParams
from tests.helpers import events_frame, popular_by, searched, train_model, words


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> CustomerModel:
    rows = (
        popular_by("환율", 30, prefix="a")
        + popular_by("화재", 10, prefix="b")
        + popular_by("화장품 세트", 5, prefix="c")
        + popular_by("한파", 20, prefix="d")
        + popular_by("한파 특보", 6, prefix="e")
    )
    return train_model(tmp_path_factory.mktemp("news"), rows)


def test_a_complete_syllable_reads_as_itself_before_the_syllables_it_may_become(news: CustomerModel) -> None:
    # "화" is also the screen on the way to 환율 (ㅎ ㅘ ㄴ), which is more popular: it stays in the
    # answer, after the keywords that start with what the user sees.
    assert words(news, "화") == ["화재", "화장품 세트", "환율"]
    assert words(news, "환")[0] == "환율"
    assert words(news, "홪") == ["화재", "화장품 세트"]  # 화 + ㅈ: on the way to 화재 and 화장품
    # nothing reads as ㅎ: by score
    assert words(news, "ㅎ") == ["환율", "한파", "화재", "한파 특보", "화장품 세트"]
    assert words(news, "화장품세")[0] == "화장품 세트"  # spacing stays optional


def test_a_finished_word_is_continued_before_it_is_repeated(news: CustomerModel) -> None:
    # "한파 " has a space after it: the user goes on to another word (MPC never offers 한파 here);
    # the word alone stays in the answer, after what continues it.
    assert words(news, "한파 ") == ["한파 특보", "한파"]
    assert words(news, "한파")[0] == "한파"


def test_scores_never_increase_down_a_reordered_answer(news: CustomerModel) -> None:
    for q in ("화", "한파 "):
        scores = [s.score for s in news.autocomplete(q, 10)]
        assert scores == sorted(scores, reverse=True)


@pytest.fixture(scope="module")
def banks(tmp_path_factory: pytest.TempPathFactory) -> CustomerModel:
    rows = (
        popular_by("capital one", 40, prefix="a")
        + popular_by("capitol one", 3, prefix="b")  # a typo people make: merged into capital one
        + popular_by("capitol hill", 4, prefix="c")
        + popular_by("wells fargo", 12, prefix="d")
    )
    return train_model(tmp_path_factory.mktemp("banks"), rows)


def test_a_prefix_of_a_merged_typo_finds_the_corrected_keyword(banks: CustomerModel) -> None:
    # "capitol" completes capitol hill, so no typo search runs; the merged typo still leads to
    # capital one, shown corrected and after what keeps the user's letters.
    assert words(banks, "capitol") == ["capitol hill", "capital one"]
    assert words(banks, "capitol o") == ["capital one"]
    assert all("capitol one" not in words(banks, p) for p in ("c", "cap", "capitol", "capitol on"))
    assert banks.exact_id("capitol one") == banks.exact_id("capital one") is not None


@pytest.fixture(scope="module")
def typed_often(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A typo and a punctuation-only spelling, each searched more than a literal completion."""
    rows = searched(
        {
            "capital one": 60,
            "capitol one": 9,  # a typo people make often: merged into capital one
            "capitol hill": 4,
            "walmart": 60,
            "wal-mart": 8,  # the same letters: merged into walmart, and still a way to write it
            "wal-mart jobs": 3,
        }
    )
    directory = tmp_path_factory.mktemp("typed-often")
    train_model(directory, rows, min_users=2)
    return directory


def test_a_typo_people_often_make_ranks_by_its_own_searches(typed_often: Path) -> None:
    model = CustomerModel.open(typed_often)
    # As most-popular-completion would list "capitol one" (9) above capitol hill (4), kwrec lists the
    # keyword it stands for there, corrected, with the typo's own score, not capital one's 60.
    answer = model.autocomplete("capitol", 10)
    assert [s.keyword for s in answer] == ["capital one", "capitol hill"]
    assert answer[0].score == pytest.approx(9.0)
    assert words(model, "capitol h") == ["capitol hill"]
    # spelled as the keyword, nothing changes: capital one is a completion of its own
    assert words(model, "capita") == ["capital one"]
    # punctuation too: wal-mart was merged into walmart, and is searched more than wal-mart jobs
    answer = model.autocomplete("wal-m", 10)
    assert [s.keyword for s in answer] == ["walmart", "wal-mart jobs"]
    assert answer[0].score == pytest.approx(8.0)
    assert words(model, "walm") == ["walmart"]
    assert model.exact_id("wal-mart") == model.exact_id("walmart") is not None


def test_a_typo_ranked_among_the_completions_keeps_the_answer_ordered_and_short(typed_often: Path) -> None:
    model = CustomerModel.open(typed_often)
    for prefix in ("capitol", "wal-m", "c", "w"):
        scores = [s.score for s in model.autocomplete(prefix, 10)]
        assert scores == sorted(scores, reverse=True)
    assert words(model, "capitol", limit=1) == ["capital one"]  # the typo's 9 searches beat 4
    assert words(model, "c") == ["capital one", "capitol hill"]  # each keyword once


def test_artifacts_without_aliases_rank_merged_typos_after_the_literal_completions(
    typed_often: Path, tmp_path: Path
) -> None:
    # Artifacts trained before aliases existed are served as they were until the customer retrains.
    old = tmp_path / "old"
    shutil.copytree(typed_often, old)
    for path in old.glob("alias.*"):
        path.unlink()
    model = CustomerModel(old, json.loads((old / META_FILE).read_text()))
    assert words(model, "capitol") == ["capitol hill", "capital one"]
    assert words(model, "wal-m") == ["wal-mart jobs", "walmart"]


def test_repeat_searches_by_one_person_count_a_little(tmp_path: Path) -> None:
    # Two people who each come back to "tent" three times that day outweigh three who searched
    # "tarp" once (2 x (1 + ln 3) = 4.2 > 3), but two who search "tape" forty times never outweigh
    # twelve people (2 x (1 + ln 40) = 9.4 < 12).
    back = [(h, u, f"{u}-{h}", "tent") for u in ("p", "q") for h in (1.0, 3.0, 5.0)]
    hammer = [(1.0 + i / 10, u, f"{u}-s", "tape") for u in ("r", "s") for i in range(40)]
    model = train_model(
        tmp_path,
        back + hammer + popular_by("tarp", 3, prefix="t") + popular_by("tall tales", 12, prefix="v"),
    )
    assert words(model, "ta", 3) == ["tall tales", "tape", "tarp"]
    got = words(model, "t")
    assert got.index("tent") < got.index("tarp")


def test_a_different_first_letter_is_another_word_not_a_typo(tmp_path: Path) -> None:
    model = train_model(
        tmp_path,
        popular_by("avis", 30, prefix="a")
        + popular_by("mavis", 3, prefix="b")
        + popular_by("avus", 3, prefix="c"),
    )
    assert words(model, "mavi") == ["mavis"]  # not merged into avis: found as typed
    assert model.exact_id("avus") == model.exact_id("avis")  # a later keystroke: merged
    assert model.exact_id("mavis") != model.exact_id("avis")


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> CustomerModel:
    rows = searched(
        {
            "hotels bethesda md": 3,
            "hotels baltimore md": 3,
            "cheap flights annapolis md": 2,
            "tysons mall": 30,  # "mall" ends one query, a popular one
            "bethesda hospital": 5,
            "paris hotel": 3,
            "rome hotel": 3,
            "the hobbit": 20,
            "knee injury": 4,
            "sports injury": 4,
            "who is in jail": 2,
            "men in jail": 2,
        }
    )
    return train_model(tmp_path_factory.mktemp("places"), rows)


def test_an_unseen_query_ends_in_what_follows_the_most_different_words(places: CustomerModel) -> None:
    # Nobody searched rockville: "md" follows bethesda, baltimore and annapolis, "mall" only tysons
    # (however popular tysons mall is).
    got = words(places, "rockville m")
    assert got[:2] == ["rockville md", "rockville mall"]


def test_the_typed_text_may_start_the_end_of_a_query(places: CustomerModel) -> None:
    # "bethesda md" ends "hotels bethesda md": after the real completion, never before it (and the
    # query it ends, found by a later word, after both)
    assert words(places, "bethesda") == ["bethesda hospital", "bethesda md", "hotels bethesda md"]


def test_a_short_answer_is_filled_only_with_common_endings(places: CustomerModel) -> None:
    # "hotel" follows paris and rome: a fair guess after the real completion; "hobbit" only ever
    # follows "the", and "bethesda hobbit" is noise
    assert words(places, "bethesda h") == ["bethesda hospital", "bethesda hotel"]
    # with nothing to complete, any ending may be tried, the most common first
    assert words(places, "annapolis h")[:2] == ["annapolis hotel", "annapolis hobbit"]


def test_outside_hangul_a_made_up_query_keeps_the_typed_spacing(places: CustomerModel) -> None:
    got = words(places, "kushner in j")
    assert got[0] == "kushner in jail" and "kushner injury" not in got
    assert "kushner injury" in words(places, "kushner inj")


def test_a_made_up_completion_never_makes_a_banned_term(tmp_path: Path) -> None:
    # Preprocessing dropped every search of the banned terms, but "harry " + the "potter" of
    # beatrix potter would make one again, and "potter" alone ends a query.
    rows = searched({"beatrix potter": 5, "harry styles": 4, "potter county": 3})
    banned = BannedText.of(contains=["Harry  Potter"], exact=["potter"])
    meta = train_customer(events_frame(rows), TrainParams(), tmp_path, customer="t", banned=banned)
    model = CustomerModel.open(tmp_path, expected_checksum=meta["checksum"])
    assert "harry potter" not in words(model, "harry po") and "potter" not in words(model, "pot")
    reopened = CustomerModel.open(tmp_path)  # the bans are part of the artifact
    assert "harry potter" not in words(reopened, "harry po")
    # without the bans, both are made up: the check above is not vacuous
    plain = train_model(tmp_path / "plain", rows)
    assert "harry potter" in words(plain, "harry po") and "potter" in words(plain, "pot")


def test_a_typo_one_person_made_counts_for_its_keyword_and_is_never_shown(tmp_path: Path) -> None:
    # "childrens bokos", typed by one person, is below the privacy floor: never suggested, but it is
    # one keystroke from a keyword many people typed, so it counts for that keyword (as a layout
    # mistake always has): the whole query answers for it and its prefix finds it.
    model = train_model(
        tmp_path,
        popular_by("childrens books", 12, prefix="a")
        + popular_by("childrens bokos", 1, prefix="b")
        + popular_by("childrens bikes", 3, prefix="c"),
        min_users=2,
    )
    books = model.exact_id("childrens books")
    assert books is not None
    assert model.exact_id("childrens bokos") == books
    assert model.exact_id("childrens bikes") not in (None, books)  # two keystrokes away: its own keyword
    assert words(model, "childrens bok") == ["childrens books"]
    assert all("bokos" not in w for q in ("c", "childrens", "childrens bo") for w in words(model, q))


def test_a_keyword_below_the_floor_takes_no_typos(tmp_path: Path) -> None:
    # The floor holds for the keyword a typo counts for: a typo's searches never lift a keyword too
    # few people typed over the floor (7 people and the typo's one would make the 8 asked for).
    model = train_model(
        tmp_path,
        popular_by("garden hose", 7, prefix="a") + popular_by("garden hise", 1, prefix="b"),
        min_users=8,
    )
    assert model.exact_id("garden hose") is None
    assert words(model, "garden") == []
