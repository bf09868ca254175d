"""The sorted key table against a brute-force oracle: prefix runs, exact look-ups, long keys."""

from __future__ import annotations

import random

import polars as pl
import pytest

from kwrec.models.autocomplete_build import write_key_index
from kwrec.models.key_index import WIDTH, KeyIndex

ALPHABET = ["a", "b", "ㅇ", "ㅏ", "가", "\x01", "\x02", "z", "한"]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyIndex, list[tuple[str, int]]]:
    rng = random.Random(3)
    entries = [
        ("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, WIDTH + 6))), rng.randint(0, 500))
        for _ in range(3000)
    ]
    # many keys sharing their first WIDTH bytes exercise the full-key comparison past the fixed column
    entries += [("a" * WIDTH + tail, i) for i, tail in enumerate(["", "a", "b", "ab", "가", "ba"])]
    frame = pl.DataFrame({"key": [k for k, _ in entries], "id": [i for _, i in entries]}).sort(["key", "id"])
    prefix = tmp_path_factory.mktemp("keys") / "keys"
    write_key_index(prefix, frame)
    return KeyIndex(prefix), entries


def test_runs_match_brute_force(table: tuple[KeyIndex, list[tuple[str, int]]]) -> None:
    index, entries = table
    rng = random.Random(5)
    probes = [k[: rng.randint(0, len(k))] for k, _ in rng.sample(entries, 400)]
    probes += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, WIDTH + 4))) for _ in range(400)]
    probes += ["a" * WIDTH, "a" * (WIDTH + 1), "a" * (WIDTH + 3)]
    for p in probes:
        lo, hi = index.run(p)
        want = sorted({i for k, i in entries if k.startswith(p)})
        assert sorted(set(index.ids(lo, hi))) == want, p
        assert index.exists(p) == bool(want)
        assert sorted(index.exact(p)) == sorted({i for k, i in entries if k == p}), p
