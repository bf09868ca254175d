from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from kwrec.core.ingest import EVENT_SCHEMA, CustomerConfig, Quarantine
from kwrec.core.preprocess import OUTPUT_SCHEMA, preprocess
from kwrec.settings import TrainParams

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


def events(rows: list[tuple[datetime | None, str | None, str | None, str]]) -> pl.DataFrame:
    """rows: (ts, user, session, query)"""
    return pl.DataFrame(
        {
            "ts": [r[0] for r in rows],
            "user_id": [r[1] for r in rows],
            "session_id": [r[2] for r in rows],
            "query": [r[3] for r in rows],
            "result_count": [None] * len(rows),
            "clicked": [None] * len(rows),
            "seq": list(range(len(rows))),
        },
        schema=EVENT_SCHEMA,
    )


def run(
    rows: list[tuple[datetime | None, str | None, str | None, str]],
    tmp_path: Path,
    config: CustomerConfig | None = None,
    **params: object,
) -> tuple[pl.DataFrame, dict[str, int], Quarantine]:
    q = Quarantine(tmp_path / "q.jsonl")
    with q:
        out = preprocess(events(rows), TrainParams.model_validate(params), config or CustomerConfig(), q)
    assert out.events.schema == OUTPUT_SCHEMA
    assert out.stats["rows_in"] == len(rows)
    assert out.stats["rows_out"] == out.events.height
    return out.events, out.stats, q


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_normalisation(tmp_path: Path) -> None:
    out, stats, _ = run(
        [
            (at(0), "u1", None, "  ＩＰＨＯＮＥ\t케이스 "),
            (at(1), "u2", None, "ㅇㅇㅍ"),
            (None, None, None, "a\x00b"),
        ],
        tmp_path,
    )
    assert out["display"].to_list() == ["IPHONE 케이스", "ㅇㅇㅍ", "a b"]
    assert out["norm"].to_list() == ["iphone 케이스", "ㅇㅇㅍ", "a b"]
    assert out["seq"].to_list() == [0, 1, 2]
    assert stats["rows_out"] == 3


def test_length_and_empty(tmp_path: Path) -> None:
    out, stats, q = run(
        [(at(0), "u1", None, "가" * 11), (at(1), "u1", None, " \u200b\t "), (at(2), "u1", None, "가" * 10)],
        tmp_path,
        max_query_chars=10,
    )
    assert out["norm"].to_list() == ["가" * 10]
    assert stats["too long"] == 1 and stats["empty"] == 1
    assert q.counts == {"too long": 1, "empty": 1}


def test_punctuation_alone_is_empty_and_url_encoded_queries_are_decoded(tmp_path: Path) -> None:
    """Before: "-", "..." (stray submits) and "undefined" (a front end's bug) were keywords, suggested
    once two people sent them, and a query logged from a request line (%EB%85%B8...) was a keyword of
    its own, never matched by 노트북."""
    rows = [
        (at(0), "u1", None, "-"),
        (at(1), "u2", None, "..."),
        (at(2), "u3", None, "%EB%85%B8%ED%8A%B8%EB%B6%81+%EA%B0%80%EB%B0%A9"),
        (at(3), "u4", None, "노트북%20가방"),
        (at(4), "u5", None, "50% 할인"),  # a bare "%": typed, not encoded
        (at(5), "u6", None, "100%EC"),  # escapes that are not UTF-8
        (at(6), "u7", None, "c%2B%2B"),
        (at(7), "u8", None, "ㅋㅋ"),  # jamo are letters
        (at(8), "u9", None, "7"),
        # what exporters write for a missing value, in any case; a word that starts like one is a word
        *((at(9 + i), f"m{i}", None, m) for i, m in enumerate(["undefined", "NULL", "\\N", "None", "nan"])),
        (at(20), "u10", None, "nullable 케이블"),
    ]
    out, stats, q = run(rows, tmp_path)
    assert out["display"].to_list() == [
        "노트북 가방",
        "노트북 가방",
        "50% 할인",
        "100%EC",
        "c++",
        "ㅋㅋ",
        "7",
        "nullable 케이블",
    ]
    assert stats["empty"] == 7 and q.counts == {"empty": 7}


def test_pii_dropped_and_not_in_quarantine(tmp_path: Path) -> None:
    pii = [
        "010-1234-5678",
        "01012345678",
        "문의 010 1234 5678",
        "+82 10-1234-5678",
        "+821012345678",
        "kim.minsu@example.co.kr",
        "4111-1111-1111-1111",
        "4111 1111 1111 1111",
        "카드 4111111111111111 결제",
        "０１０－１２３４－５６７８",  # full-width: caught after NFKC
    ]
    fine = ["아이폰 15 프로 256gb", "2024-05-01 세일", "모델 SM-G991N", "12345678901234567890123"]
    rows = [(at(i), f"u{i}", None, s) for i, s in enumerate(pii + fine)]
    out, stats, q = run(rows, tmp_path)
    assert out["display"].to_list() == fine
    assert stats["pii"] == len(pii)
    text = q.path.read_text(encoding="utf-8")
    for secret in ("1234", "5678", "example", "4111", "kim"):
        assert secret not in text
    assert len(text.splitlines()) == len(pii)


def test_ban_list(tmp_path: Path) -> None:
    config = CustomerConfig(ban=["도박", "Casino", "불법 촬영"])
    rows = [
        (at(0), "u1", None, "온라인 도박 사이트"),
        (at(1), "u1", None, "도박사"),  # substring
        (at(2), "u1", None, "CASINO royale"),
        (at(3), "u1", None, "불법촬영"),  # spacing does not help
        (at(4), "u1", None, "보드게임"),
    ]
    out, stats, q = run(rows, tmp_path, config)
    assert out["norm"].to_list() == ["보드게임"]
    assert stats["banned"] == 4 and q.counts == {"banned": 4}


def test_a_ban_takes_the_misspellings_training_would_count_for_it(tmp_path: Path) -> None:
    """Training counts "the hobit" for "the hobbit" and never shows it. With "the hobbit" banned, the
    typo would be left to be suggested on its own: it goes with the ban. A keyword one keystroke away
    that is not a typo by training's rule (about as many people) stays; so does everything unbanned."""
    rows: list[tuple[datetime | None, str | None, str | None, str]] = []
    t = 0

    def add(query: str, people: int) -> None:
        nonlocal t
        for n in range(people):
            rows.append((at(t), f"{query}-{n}", None, query))
            t += 1

    add("the hobbit", 12)
    add("the hobit", 2)  # a typo of it
    add("hobbit house", 6)  # banned too (contains the term)
    add("hobit house", 1)  # a typo of a banned keyword, typed by one person
    add("the rabbit", 12)  # one keystroke from "the hobbit"? no: two; and as popular
    add("the rabit", 2)  # a typo of an unbanned keyword: training's business
    config = CustomerConfig(ban=["hobbit"])
    out, stats, q = run(rows, tmp_path, config)
    assert sorted(set(out["norm"].to_list())) == ["the rabbit", "the rabit"]
    assert stats["banned"] == 12 + 2 + 6 + 1 and q.counts == {"banned": 21}
    out, stats, _ = run(rows, tmp_path, config, fuzzy=False)  # no typo tolerance: only the terms
    assert sorted(set(out["norm"].to_list())) == ["hobit house", "the hobit", "the rabbit", "the rabit"]


def test_without_user_ids_a_ban_takes_misspellings_by_trainings_floor(tmp_path: Path) -> None:
    """A log without users has no privacy floor in training (every search its own person): the typo
    rule must not apply a floor there either, or a high min_users leaves "the hobit" to be shown."""
    rows: list[tuple[datetime | None, str | None, str | None, str]] = [
        (at(i), None, None, q) for i, q in enumerate(["the hobbit"] * 6 + ["the hobit"] + ["the rabbit"] * 6)
    ]
    out, _, _ = run(rows, tmp_path, CustomerConfig(ban=["hobbit"]), min_users=8)
    assert sorted(set(out["norm"].to_list())) == ["the rabbit"]


def test_bot_users_removed(tmp_path: Path) -> None:
    burst = [(at(i), "scraper", None, f"상품 {i}") for i in range(31)]  # 31 distinct within 31 s
    slow = [(at(i * 10), "slowpoke", None, f"상품 {i}") for i in range(31)]  # 31 distinct over 5 minutes
    flood = [(at(i * 40), "flooder", None, "같은 검색") for i in range(32)]  # 32 events in one day
    human = [(at(0), "human", None, "아이폰"), (at(100), "human", None, "아이폰 케이스")]
    out, stats, q = run(
        burst + slow + flood + human, tmp_path, bot_max_events_per_day=31, repeat_collapse_seconds=0
    )
    assert sorted(set(out["user"].to_list())) == ["human", "slowpoke"]
    assert stats["bot"] == 31 + 32
    assert q.counts == {"bot": 2}  # one summary line per bot user


def test_repeats_collapsed(tmp_path: Path) -> None:
    rows = [
        (at(0), "u1", None, "아이폰"),
        (at(30), "u1", None, "아이폰 "),  # same norm, 30 s later: collapsed
        (at(50), "u1", None, "갤럭시"),
        (at(80), "u1", None, "아이폰"),  # 50 s after the previous (collapsed) one: collapsed
        (at(200), "u1", None, "아이폰"),  # 120 s later: kept
        (at(10), "u2", None, "아이폰"),  # another user: kept
        (None, "u3", None, "아이폰"),  # no time: never collapsed
        (None, "u3", None, "아이폰"),
        (at(0), None, None, "아이폰"),  # no user: never collapsed
        (at(0), None, None, "아이폰"),
    ]
    out, stats, q = run(rows, tmp_path)
    assert out["seq"].to_list() == [0, 2, 4, 5, 6, 7, 8, 9]
    assert stats["repeat_collapsed"] == 2
    assert q.counts == {}


def test_sessions_split_by_gap(tmp_path: Path) -> None:
    rows = [
        (at(0), "u1", None, "a"),
        (at(60 * 29), "u1", None, "b"),
        (at(60 * 29 + 60 * 31), "u1", None, "c"),  # 31 minutes of silence: new session
        (at(5), "u2", "given", "d"),
        (at(60 * 60), "u2", "given", "e"),  # a given session id is kept as it is
        (at(1), "u2", None, "f"),
        (at(2), None, None, "g"),  # nobody: no session
        (at(3), None, "s9", "h"),
    ]
    out, _, _ = run(rows, tmp_path)
    s = dict(zip(out["norm"].to_list(), out["session"].to_list(), strict=True))
    assert s["a"] == s["b"] != s["c"]
    assert s["a"].startswith("u1#") and s["c"].startswith("u1#")
    assert s["d"] == s["e"] == "given"
    assert s["f"].startswith("u2#")
    assert s["g"] is None and s["h"] == "s9"
    assert out["seq"].to_list() == list(range(8))


def test_quarantine_file_is_jsonl(tmp_path: Path) -> None:
    _, _, q = run([(at(0), "u1", None, "x" * 200)], tmp_path)
    entry = json.loads(q.path.read_text(encoding="utf-8"))
    assert entry["reason"] == "too long" and entry["line"] == 0 and entry["raw"] == "x" * 200
