"""The sorted key table against a brute-force oracle: prefix runs, exact look-ups, long keys, and the
best ids under a prefix (precomputed for heavy prefixes, ranked per look-up for the others)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from kwrec.core.models.autocomplete_build import write_heavy_prefixes, write_key_index
from kwrec.core.models.key_index import KeyIndex

ALPHABET = ["a", "b", "ㅇ", "ㅏ", "가", "\x01", "\x02", "z", "한", "\U0001f600", "é"]
TOPK = 6
HEAVY = 12  # threshold: prefixes (of 2 characters or more: a namespace marker and one) with more entries
LONG = 20  # long keys sharing long heads: the comparison runs far into both keys


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyIndex, list[tuple[str, int]]]:
    rng = random.Random(3)
    entries = [
        ("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, LONG + 6))), rng.randint(0, 500))
        for _ in range(3000)
    ]
    entries += [("a" * LONG + tail, i) for i, tail in enumerate(["", "a", "b", "ab", "가", "ba"])]
    frame = pl.DataFrame({"key": [k for k, _ in entries], "id": [i for _, i in entries]}).sort(["key", "id"])
    out = tmp_path_factory.mktemp("keys")
    write_key_index(out / "keys", frame)
    assert write_heavy_prefixes(out / "heavy", out / "heavy.top", frame, threshold=HEAVY, topk=TOPK) > 10
    return KeyIndex(out / "keys", out / "heavy", out / "heavy.top", TOPK), entries


def test_runs_match_brute_force(table: tuple[KeyIndex, list[tuple[str, int]]]) -> None:
    index, entries = table
    rng = random.Random(5)
    probes = [k[: rng.randint(0, len(k))] for k, _ in rng.sample(entries, 400)]
    probes += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, LONG + 4))) for _ in range(400)]
    probes += ["a" * LONG, "a" * (LONG + 1), "a" * (LONG + 3)]
    for p in probes:
        lo, hi = index.run(p)
        want = sorted({i for k, i in entries if k.startswith(p)})
        assert sorted(set(index.ids(lo, hi))) == want, p
        assert index.exists(p) == bool(want)
        assert sorted(index.exact(p)) == sorted({i for k, i in entries if k == p}), p
        for limit in (1, 3, TOPK):
            assert index.top_ids(p, limit) == want[:limit], (p, limit)
        heavy = len(p) >= 2 and sum(k.startswith(p) for k, _ in set(entries)) > HEAVY
        assert index.has_precomputed(p) == heavy, p


def test_next_chars_match_brute_force(table: tuple[KeyIndex, list[tuple[str, int]]]) -> None:
    index, entries = table
    rng = random.Random(8)
    for p in ["", "a" * LONG, *(k[: rng.randint(0, len(k))] for k, _ in rng.sample(entries, 300))]:
        want = sorted({k[len(p)] for k, _ in entries if k.startswith(p) and len(k) > len(p)})
        assert sorted(index.next_chars(p)) == want[:64], p


def test_a_heavy_prefix_keeps_its_best_distinct_ids_however_often_one_repeats(tmp_path: Path) -> None:
    # Merged queries index many keys for one keyword (forty typos of the most popular one): the
    # precomputed row must still hold the next best keywords, not the same id forty times.
    entries = [(f"\x06g{i:02d}", 0) for i in range(40)] + [(f"\x06g{i:02d}x", 1 + i % 9) for i in range(40)]
    frame = pl.DataFrame({"key": [k for k, _ in entries], "id": [i for _, i in entries]}).sort(["key", "id"])
    write_key_index(tmp_path / "keys", frame)
    assert write_heavy_prefixes(tmp_path / "heavy", tmp_path / "heavy.top", frame, threshold=HEAVY, topk=TOPK)
    index = KeyIndex(tmp_path / "keys", tmp_path / "heavy", tmp_path / "heavy.top", TOPK)
    assert index.has_precomputed("\x06g")
    assert index.top_ids("\x06g", TOPK) == list(range(TOPK))


def _typo_keys_reference(
    heads: set[str], after: dict[str, set[str]], ns: str, key: str, window: int, budget: int
) -> tuple[list[str], int]:
    """The typo search written plainly over the set of all key prefixes (the oracle)."""
    lo, hi = 0, len(key)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ns + key[:mid] in heads else (lo, mid - 1)
    found = []
    for i in range(min(lo, len(key) - 1), max(0, lo - window + 1) - 1, -1):
        head, rest = key[:i], key[i + 1 :]
        variants = [head + rest] + ([head + rest[0] + key[i] + rest[1:]] if rest else [])
        for c in sorted(after.get(ns + head, set()))[:64]:
            variants += [head + c + rest, head + c + key[i:]]
        for v in dict.fromkeys(variants):
            if v == key:
                continue
            if budget <= 0:
                return found, budget
            budget -= 1
            if ns + v in heads:
                found.append(v)
    return found, budget


@pytest.mark.parametrize("budget", [48, 5, 0])
def test_typo_keys_match_the_plain_search(table: tuple[KeyIndex, list[tuple[str, int]]], budget: int) -> None:
    index, entries = table
    heads = {k[:i] for k, _ in entries for i in range(len(k) + 1)}
    after: dict[str, set[str]] = {}
    for k, _ in entries:
        for i in range(len(k)):
            after.setdefault(k[:i], set()).add(k[i])
    rng = random.Random(11 + budget)
    probes = []
    for k, _ in rng.sample(entries, 150):
        chars = list(k[: rng.randint(1, len(k))])
        at = rng.randrange(len(chars))
        op = rng.choice(["sub", "ins", "del", "swap"])
        if op == "sub":
            chars[at] = rng.choice(ALPHABET)
        elif op == "ins":
            chars.insert(at, rng.choice(ALPHABET))
        elif op == "del" and len(chars) > 1:
            del chars[at]
        elif at + 1 < len(chars):
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
        probes.append("".join(chars))
    hits = 0
    for ns in ("", "\x01", "a"):
        for key in probes:
            ns_key = key[len(ns) :] if ns and key.startswith(ns) else key
            want = _typo_keys_reference(heads, after, ns, ns_key, 3, budget)
            assert index.typo_keys(ns, ns_key, 3, budget) == want, (ns, ns_key)
            hits += bool(want[0])
    assert hits > 50 if budget else hits == 0


def test_key_heads_match_brute_force(table: tuple[KeyIndex, list[tuple[str, int]]]) -> None:
    index, entries = table
    keys = sorted({k for k, _ in entries})
    rng = random.Random(13)
    probes = [k for k, _ in rng.sample(entries, 300)] + ["zzzz", "\U0001f600" * 9, "a" * (LONG + 3)]
    probes += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(300)]
    found = 0
    for p in probes:
        lengths = sorted(rng.sample(range(1, len(p) + 2), min(len(p) + 1, rng.randint(1, 6))))
        want = []
        for i, n in enumerate(lengths):
            if n > len(p) or not any(k.startswith(p[:n]) for k in keys):
                break  # past the key, or nothing stored starts with this head: no longer head can be a key
            if p[:n] in keys:
                want.append(i)
        assert index.key_heads(p, lengths) == want, (p, lengths)
        found += bool(want)
    assert found > 100
    with pytest.raises(ValueError, match="ascend"):
        index.key_heads("ab", [2, 1])
