"""Live rules: validation of operator input, how blocks and pins change an answer, and the store's
versioned current set with its append-only history (concurrent writers, a writer that died midway)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.models.protocol import Suggestion
from kwrec.core.rules import CustomerRules, make_block, make_pin
from kwrec.core.rules_store import (
    CURRENT_KEY,
    Change,
    block,
    history_key,
    pin,
    read_history,
    read_rules,
    unblock,
    unpin,
)
from kwrec.errors import InvalidIdentifierError, RuleError

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _fetch(words: list[str]):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def fetch(n: int) -> list[Suggestion]:
        calls.append(n)
        return [Suggestion(w, float(100 - i)) for i, w in enumerate(words[:n])]

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reason": "spam"}, "unknown reason 'spam'"),
        ({"match": "prefix"}, "unknown match 'prefix'"),
        ({"until": "2026-12-24T00:00"}, "has no time zone"),
        ({"until": "tomorrow"}, "is not a time"),
        ({"until": "2026-12-01T00:00+09:00"}, "already past"),
        ({"starts": "2026-12-25T00:00Z", "until": "2026-12-24T00:00Z"}, "not after --from"),
        ({"note": "x" * 501}, "note is 501 characters"),
        ({"by": "x" * 201}, "--by is 201 characters"),
    ],
)
def test_bad_block_input_is_refused_with_what_is_wrong(kwargs: dict[str, str], message: str) -> None:
    args = {"reason": "privacy", **kwargs}
    with pytest.raises(RuleError, match=message) as err:
        make_block("shop-kr", "홍길동", args.pop("reason"), now=NOW, **args)
    assert err.value.hint


def test_the_author_is_one_line_of_visible_text() -> None:
    # A newline in --by would print as a second, forged line of the audit history.
    rule = make_block("shop-kr", "홍길동", "privacy", by="kim\n2026-12-24 root block x\x07", now=NOW)
    assert rule.by == "kim 2026-12-24 root block x"


def test_bad_customer_and_empty_or_long_keywords_are_refused() -> None:
    with pytest.raises(InvalidIdentifierError):
        make_block("Shop KR", "x", "privacy", now=NOW)
    with pytest.raises(RuleError, match="empty after normalisation"):
        make_block("shop-kr", " \u200b ", "privacy", now=NOW)
    with pytest.raises(RuleError, match="101 characters"):
        make_block("shop-kr", "가" * 101, "privacy", now=NOW)
    with pytest.raises(RuleError, match="position 0"):
        make_pin("shop-kr", "아이", "아이폰", position=0, now=NOW)


def test_exact_block_removes_every_spelling_and_refills_the_answer() -> None:
    rules = CustomerRules.compile([make_block("shop-kr", "아이폰 16", "court-order", now=NOW)])
    words = ["아이폰16", "아이폰 16 케이스", "dkdlvhs 16", "아이폰 15", "아이패드"]
    fetch = _fetch(words)
    got = [s.keyword for s in rules.apply(fetch, 3)]
    # The spacing variant and the one typed on the wrong layout are gone; longer keywords stay.
    assert got == ["아이폰 16 케이스", "아이폰 15", "아이패드"]
    assert fetch.calls[0] == 3 and len(fetch.calls) == 2  # it asked for more to fill the gaps


def test_contains_block_removes_a_name_wherever_it_appears() -> None:
    rules = CustomerRules.compile([make_block("news-kr", "홍 길동", "privacy", match="contains", now=NOW)])
    assert rules.blocked("홍길동 열애설") and rules.blocked("가수 홍길동") and rules.blocked("ghdrlfehd")
    assert rules.blocked("홍길 동네")  # matching ignores spacing: "홍길동네" contains the name
    assert not rules.blocked("길동 홍")
    assert not rules.blocked("홍차")


def test_pins_take_their_position_for_the_prefix_in_any_spelling() -> None:
    p = make_pin("shop-kr", "겨울 패딩", "롱패딩 블랙", position=2, now=NOW)
    rules = CustomerRules.compile([p])
    words = ["겨울패딩 남자", "롱패딩 블랙", "겨울 패딩 여자"]
    for typed in ("겨울 패딩", "겨울패딩", "rudnf vkeld"):
        got = [s.keyword for s in rules.apply(_fetch(words), 3, prefix=typed)]
        assert got == ["겨울패딩 남자", "롱패딩 블랙", "겨울 패딩 여자"], typed  # moved, not duplicated
    assert [s.keyword for s in rules.apply(_fetch(words), 3, prefix="겨울")] == words  # other prefixes
    both = CustomerRules.compile([p, make_block("shop-kr", "롱패딩블랙", "commercial", now=NOW)])
    assert "롱패딩 블랙" not in [s.keyword for s in both.apply(_fetch(words), 3, prefix="겨울 패딩")]


def test_a_window_is_honoured_by_the_rule_itself() -> None:
    r = make_block(
        "shop-kr",
        "선거 후보",
        "election",
        starts="2026-12-07T00:00+09:00",
        until="2026-12-08T00:00+09:00",
        now=NOW,
    )
    assert not r.active(NOW)
    assert r.active(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    assert not r.active(datetime(2026, 12, 7, 15, 0, tzinfo=UTC))  # 2026-12-08 00:00 KST


def test_the_store_keeps_a_versioned_set_and_an_append_only_history(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    assert read_rules(store)[0].version == 0
    rule = make_block("shop-kr", "홍길동", "privacy", note="KISO 2026-11", by="ops@kwrec", now=NOW)
    rules, change = block(store, rule)
    assert rules.version == 1 and change.action == "block" and change.by == "ops@kwrec"
    again = make_block("shop-kr", "홍 길동", "defamation", match="contains", by="ops", now=NOW)
    rules, change = block(store, again)  # the same keyword: the newer rule replaces the older
    assert rules.version == 2 and [r.reason for r in rules.rules] == ["defamation"]
    assert change.removed == (rule,)
    rules, _ = pin(store, make_pin("shop-kr", "아이", "아이폰 16", by="md", now=NOW))
    rules, _ = unblock(store, "shop-kr", "홍길동", by="ops")
    rules, _ = unpin(store, "shop-kr", "아이", "아이폰16", by="md")
    assert rules.version == 5 and rules.rules == ()
    history = read_history(store)
    assert [c.action for c in history] == ["block", "block", "pin", "unblock", "unpin"]
    assert history[0].rule == rule  # nothing rewritten
    with pytest.raises(RuleError, match="no block rule"):
        unblock(store, "shop-kr", "홍길동")
    block(store, rule)
    with pytest.raises(RuleError, match="--by is 201 characters"):
        unblock(store, "shop-kr", "홍길동", by="x" * 201)
    _, change = unblock(store, "shop-kr", "홍길동", by="ops\nforged")
    assert change.by == "ops forged"
    assert read_rules(store)[0].version == 7


def test_concurrent_writers_lose_no_change(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(5):
                block(store, make_block("shop-kr", f"키워드 {i} {j}", "other", now=NOW))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]  # four operators at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rules, _ = read_rules(store)
    assert rules.version == 20 and len(rules.rules) == 20
    assert [c.version for c in read_history(store)] == list(range(1, 21))


def test_a_change_left_half_written_is_finished_by_the_next_writer(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    first = make_block("shop-kr", "홍길동", "privacy", now=NOW)
    block(store, first)
    # A writer died after writing history entry 2 and before moving current.json to it.
    orphan = make_block("shop-kr", "김철수", "privacy", now=NOW + timedelta(seconds=1))
    entry = Change(version=2, action="block", at=orphan.at, rule=orphan)
    assert store.compare_and_swap(history_key(2), None, entry.model_dump_json().encode())
    assert read_rules(store)[0].version == 1
    rules, change = pin(store, make_pin("shop-kr", "아이", "아이폰", now=NOW))
    assert change.version == 3 and rules.version == 3
    assert {r.keyword for r in rules.rules} == {"홍길동", "김철수", "아이폰"}
    assert store.exists(CURRENT_KEY)
