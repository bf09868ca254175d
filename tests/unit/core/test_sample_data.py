"""The synthetic sample logs: reproducible, and carrying every phenomenon the pipeline must handle.

The reader here is deliberately naive and independent of kwrec.core.ingest, so a bug in ingest cannot hide
a missing phenomenon in the data (and vice versa).
"""

from __future__ import annotations

import csv
import gzip
import json
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kwrec.core import sample_data as sd

COMMITTED = Path(__file__).resolve().parents[3] / "data" / "sample"
SEOUL = ZoneInfo("Asia/Seoul")
HEADER = ["timestamp", "user_id", "session_id", "query", "result_count", "clicked"]


@dataclass(frozen=True)
class Row:
    ts: datetime
    user: str
    session: str
    query: str
    file: str


@dataclass
class Shop:
    rows: list[Row]
    broken: dict[str, list[bytes]]  # reason -> raw lines


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_shop(root: Path) -> Shop:
    rows: list[Row] = []
    broken: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted((root / "shop-kr").iterdir()):
        if path.name == "kwrec.toml":
            continue
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        legacy = path.suffix == ".tsv"
        lines = raw.split(b"\r\n" if legacy else b"\n")
        assert lines[0].decode().split("\t" if legacy else ",") == HEADER
        for line in lines[1:]:
            if not line:
                continue
            if len(line) > 5000:
                broken["long"].append(line)
                continue
            try:
                text = line.decode("cp949" if legacy else "utf-8")
            except UnicodeDecodeError:
                broken["encoding"].append(line)
                continue
            if "\x00" in text:
                broken["nul"].append(line)
                continue
            fields = next(csv.reader([text], delimiter="\t" if legacy else ","))
            if len(fields) != len(HEADER):
                broken["columns"].append(line)
                continue
            try:
                ts = datetime.fromisoformat(fields[0])
            except ValueError:
                broken["timestamp"].append(line)
                continue
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=SEOUL)
            rows.append(Row(ts, fields[1], fields[2], fields[3], path.name))
    return Shop(rows, dict(broken))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("sample")
    return out, sd.generate(out)


@pytest.fixture(scope="module")
def shop(generated: tuple[Path, dict[str, int]]) -> Shop:
    return _read_shop(generated[0])


def _users_by_query(rows: list[Row]) -> dict[str, set[str]]:
    users: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        users[r.query].add(r.user)
    return users


# ---------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_byte_identical_files(generated: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    first, counts = generated
    assert sd.generate(tmp_path) == counts
    a, b = _files(first), _files(tmp_path)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_other_seed_gives_other_data(generated: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    sd.generate(tmp_path, seed=8)
    assert _files(tmp_path)["books-en/kwrec.toml"] == _files(generated[0])["books-en/kwrec.toml"]
    assert _files(tmp_path)["news-kr/queries.txt.gz"] != _files(generated[0])["news-kr/queries.txt.gz"]


def test_committed_sample_equals_fresh_generation(generated: tuple[Path, dict[str, int]]) -> None:
    assert COMMITTED.is_dir(), "run: kwrec sample-data data/sample"
    fresh, committed = _files(generated[0]), _files(COMMITTED)
    hint = "data/sample is generated: run kwrec sample-data data/sample, do not edit it by hand"
    assert fresh.keys() == committed.keys(), hint
    for name, data in fresh.items():
        if name.endswith(".gz"):
            # Compare content, not bytes: another zlib build may compress the same content differently.
            assert gzip.decompress(committed[name]) == gzip.decompress(data), f"{name}: {hint}"
        else:
            assert committed[name] == data, f"{name}: {hint}"


def test_gzip_headers_carry_no_timestamp_or_name(generated: tuple[Path, dict[str, int]]) -> None:
    for path in generated[0].rglob("*.gz"):
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] == 0, "no FNAME/FEXTRA flags"
        assert head[4:8] == b"\0\0\0\0", "mtime must be 0"


def test_regenerating_with_fewer_days_removes_stale_files(tmp_path: Path) -> None:
    sd.generate(tmp_path, days=5)
    sd.generate(tmp_path, days=3)
    dates = {p.name.split("-", 1)[1].split(".")[0] for p in (tmp_path / "shop-kr").glob("*-20*")}
    assert len(dates) == 4  # three 24-hour days ending 08:00 KST touch four KST dates


def test_rejects_naive_end_and_too_few_days(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sd.generate(tmp_path, end=datetime(2026, 11, 26))
    with pytest.raises(ValueError, match="at least 3"):
        sd.generate(tmp_path, days=2)


def test_total_size_stays_small() -> None:
    total = sum(len(b) for b in _files(COMMITTED).values())
    assert total < 3_000_000


# ---------------------------------------------------------------------------------------------- shop-kr
def test_shop_files_and_formats(generated: tuple[Path, dict[str, int]], shop: Shop) -> None:
    root = generated[0] / "shop-kr"
    names = sorted(p.name for p in root.iterdir())
    assert names == [
        "events-2026-11-23.csv.gz",
        "events-2026-11-24.csv",
        "events-2026-11-25.csv",
        "events-2026-11-26.csv",
        "events-2026-11-27.csv",
        "kwrec.toml",
        "legacy-2026-11-22.tsv",
    ]
    legacy = (root / "legacy-2026-11-22.tsv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        legacy.decode("utf-8")
    assert "아이폰" in legacy.decode("cp949")
    config = tomllib.loads((root / "kwrec.toml").read_text(encoding="utf-8"))
    assert config == {"timezone": "Asia/Seoul", "ban": ["fake", "불법"]}
    # Every line counted, broken ones included.
    assert generated[1]["shop-kr"] == len(shop.rows) + sd.MALFORMED_ROWS
    assert all(r.ts.utcoffset() == timedelta(hours=9) for r in shop.rows)
    end = sd.DEFAULT_END
    assert all(end - timedelta(days=5) <= r.ts < end for r in shop.rows)


def test_shop_malformed_rows_are_present_in_one_file(shop: Shop) -> None:
    assert {k: len(v) for k, v in shop.broken.items()} == {
        "encoding": 1,
        "nul": 1,
        "columns": 1,
        "timestamp": 1,
        "long": 1,
    }
    assert sum(len(v) for v in shop.broken.values()) == sd.MALFORMED_ROWS
    # The invalid UTF-8 line is a CP949 row that strayed into the UTF-8 log.
    assert "아이폰" in shop.broken["encoding"][0].decode("cp949")


def test_shop_popularity_shape(shop: Shop) -> None:
    counts = Counter(r.query for r in shop.rows)
    users = _users_by_query(shop.rows)
    assert counts["아이폰 케이스"] >= 100
    assert len(users["아이폰"]) >= 100
    # 아이폰 leads every keyword that starts with ㅇ (아, 에, 원, ...), so "ㅇ"/"아이" must complete to it.
    initial_o = {q: c for q, c in counts.items() if q[:1] and "아" <= q[0] <= "잏"}
    assert max(initial_o, key=lambda q: initial_o[q]) == "아이폰"
    assert len({q for q in counts if len(users[q]) >= 3}) >= 250


def test_shop_typing_noise(shop: Shop) -> None:
    counts = Counter(r.query for r in shop.rows)
    for query, at_least in {
        "ㅇㅇㅍ": 3,
        "dkdlvhs": 3,
        "아이폰케이스": 3,
        "ＳＡＭＳＵＮＧ": 1,
        "샴성": 1,
        "Galaxy S24": 3,
        "iphone": 3,
    }.items():
        assert counts[query] >= at_least, query
    assert any("\u3000" in q for q in counts), "ideographic space"
    assert any("\u1100" <= ch <= "\u11ff" for q in counts for ch in q), "decomposed (NFD) Hangul"


def test_layout_keys_follows_dubeolsik() -> None:
    assert sd.layout_keys("아이폰") == "dkdlvhs"
    assert sd.layout_keys("삼성 노트북") == "tkatjd shxmqnr"
    assert sd.layout_keys("꽃") == "Rhc"  # shifted r is ㄲ
    assert sd.layout_keys("닭") == "ekfr"  # a compound final types as two keys
    assert sd.layout_keys("왜") == "dho"  # so does a compound vowel
    assert sd.layout_keys("갤럭시 s24") == "roffjrtl s24"


def test_shop_rare_keyword_has_exactly_one_user(shop: Shop) -> None:
    users = _users_by_query(shop.rows)
    assert users[sd.SHOP_RARE_KEYWORD] == {sd.SHOP_RARE_USER}


def test_shop_trending_burst_on_last_day(shop: Shop) -> None:
    end = max(r.ts for r in shop.rows)
    day = timedelta(days=1)
    trend = [r for r in shop.rows if r.query == sd.SHOP_TRENDING_KEYWORD]
    per_day = [{r.user for r in trend if end - (d + 1) * day < r.ts <= end - d * day} for d in range(5)]
    last, before = len(per_day[0]), max(len(u) for u in per_day[1:])
    assert last >= 50
    assert last >= 4 * before


def test_shop_bot_floods_within_minutes(shop: Shop) -> None:
    bot = [r for r in shop.rows if r.user == sd.SHOP_BOT_USER]
    assert len({r.query for r in bot}) >= 300
    assert max(r.ts for r in bot) - min(r.ts for r in bot) <= timedelta(minutes=15)
    humans = Counter(r.user for r in shop.rows if r.user != sd.SHOP_BOT_USER)
    assert 350 <= len(humans) <= 420
    assert max(humans.values()) < len(bot) / 2


def test_shop_banned_terms_and_pii(shop: Shop) -> None:
    queries = {r.query for r in shop.rows}
    for term in sd.BANNED_TERMS:
        assert sum(term in q for q in queries) >= 2, term
    assert any("010-1234-5678" in q for q in queries)
    assert any("@example.com" in q for q in queries)


def test_shop_sessions_group_related_searches(shop: Shop) -> None:
    sessions: dict[str, list[Row]] = defaultdict(list)
    for r in shop.rows:
        sessions[r.session].append(r)
    assert all(len({r.user for r in rows}) == 1 for rows in sessions.values())
    human = [rows for rows in sessions.values() if rows[0].user != sd.SHOP_BOT_USER]
    assert all(max(r.ts for r in rows) - min(r.ts for r in rows) < timedelta(minutes=30) for rows in human)
    pairs = Counter(
        frozenset((a, b))
        for rows in human
        for a in {r.query for r in rows}
        for b in {r.query for r in rows}
        if a < b
    )
    assert pairs[frozenset(("아이폰", "아이폰 케이스"))] >= 10


# ---------------------------------------------------------------------------------------------- books-en
def test_books_jsonl_with_column_mapping(generated: tuple[Path, dict[str, int]]) -> None:
    root = generated[0] / "books-en"
    config = tomllib.loads((root / "kwrec.toml").read_text(encoding="utf-8"))
    assert config == {"columns": {"timestamp": "ts", "user_id": "user"}}
    records = [
        json.loads(line) for p in sorted(root.glob("search-*.jsonl")) for line in p.read_text().splitlines()
    ]
    assert len(records) == generated[1]["books-en"]
    assert all(set(r) == {"ts", "user", "query"} and isinstance(r["ts"], int) for r in records)
    assert 150 <= len({r["user"] for r in records}) <= 200
    queries = Counter(r["query"] for r in records)
    assert queries["harry potter"] >= 50
    assert queries["Harry Potter"] >= 1
    assert any(q in queries for q in ("harry poter", "hary potter"))
    assert any(q.startswith("pyhton") or q.startswith("pyton") for q in queries)
    assert any("  " in q or q != q.strip() for q in queries)
    assert "Philosopher'S" not in " ".join(queries)


def test_books_sessions_are_separated_by_gaps(generated: tuple[Path, dict[str, int]]) -> None:
    by_user: dict[str, list[int]] = defaultdict(list)
    for p in sorted((generated[0] / "books-en").glob("search-*.jsonl")):
        for line in p.read_text().splitlines():
            r = json.loads(line)
            by_user[r["user"]].append(r["ts"])
    gaps = [b - a for ts in by_user.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    # Within a session: at most 5 minutes; between sessions: over 30 minutes. Nothing in between.
    assert not [g for g in gaps if 300 < g <= 30 * 60]
    assert any(g > 30 * 60 for g in gaps)


# ---------------------------------------------------------------------------------------------- news-kr
def test_news_plain_lines(generated: tuple[Path, dict[str, int]]) -> None:
    root = generated[0] / "news-kr"
    assert sorted(p.name for p in root.iterdir()) == ["queries.txt.gz"]
    lines = gzip.decompress((root / "queries.txt.gz").read_bytes()).decode("utf-8").split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == generated[1]["news-kr"] == 2000
    top = Counter(lines).most_common(1)[0][0]
    assert top == "날씨"


def test_main_writes_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sd.main([str(tmp_path / "out"), "--days", "3"]) == 0
    assert "shop-kr:" in capsys.readouterr().out
    assert (tmp_path / "out" / "README.md").is_file()
