"""The compiled table reader against plain-Python oracles, and its refusal of damaged tables."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwrec.core.models import _mapped
from kwrec.core.models.columns import StringTable, open_column, write_column, write_strings


class Pair(NamedTuple):
    text: str
    score: float


def table(strings: list[str]) -> tuple[bytes, memoryview]:
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype="<u8")
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return b"".join(encoded), memoryview(offsets.tobytes()).cast("Q")


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@given(st.lists(texts, max_size=60), texts, st.integers(-5, 70), st.integers(-5, 70))
def test_lower_bound_is_bisect_left(strings: list[str], target: str, lo: int, hi: int) -> None:
    keys = sorted(s.encode("utf-8") for s in strings)
    blob, off = table([k.decode("utf-8") for k in keys])
    t = target.encode("utf-8")
    assert _mapped.lower_bound(blob, off, t) == bisect.bisect_left(keys, t)
    clo = min(max(lo, 0), len(keys))  # bounds are clamped like slice bounds
    chi = max(min(hi, len(keys)), clo)
    assert _mapped.lower_bound(blob, off, t, lo, hi) == bisect.bisect_left(keys, t, clo, chi)


@given(st.lists(texts, max_size=60), texts)
def test_prefix_run_is_the_run_of_strings_with_the_prefix(strings: list[str], prefix: str) -> None:
    keys = sorted({s.encode("utf-8") for s in strings} | {s[:3].encode("utf-8") for s in strings})
    blob, off = table([k.decode("utf-8") for k in keys])
    p = prefix.encode("utf-8")
    lo, hi = _mapped.prefix_run(blob, off, p)
    assert lo == bisect.bisect_left(keys, p)
    assert [k for k in keys if k.startswith(p)] == keys[lo:hi]


@given(st.lists(texts, min_size=1, max_size=30), st.data())
def test_strings_and_scored_decode_the_right_entries(strings: list[str], data: st.DataObject) -> None:
    blob, off = table(strings)
    ids = data.draw(st.lists(st.integers(0, len(strings) - 1), max_size=15))
    scores = memoryview(np.arange(len(strings), dtype="<f8").tobytes() or b"").cast("d")
    pairs = _mapped.scored(blob, off, scores, ids, Pair)
    assert pairs == [Pair(strings[i], float(i)) for i in ids]
    assert all(type(p) is Pair and p.text == strings[i] for p, i in zip(pairs, ids, strict=True))
    premade: list[Pair | None] = [Pair("ready", -1.0), None]
    picked = _mapped.scored(blob, off, scores, ids, Pair, premade)
    assert picked == [premade[0] if i == 0 else Pair(strings[i], float(i)) for i in ids]
    assert all(p is premade[0] for p, i in zip(picked, ids, strict=True) if i == 0)


def test_string_table_reads_what_write_strings_wrote(tmp_path: Path) -> None:
    words = ["아이폰", "", "iPhone 15", "삼성 갤럭시", "\U0001f600"]
    write_strings(tmp_path / "t", words)
    write_column(tmp_path / "t.score", [0.5, 1.25, 2.0, 3.0, 4.0], "score")
    t = StringTable(tmp_path / "t")
    assert t.scored([3, 2], open_column(tmp_path / "t.score", "score"), Pair) == [
        ("삼성 갤럭시", 3.0),
        ("iPhone 15", 2.0),
    ]


def test_damaged_tables_raise_instead_of_reading_outside_the_blob() -> None:
    blob, _ = table(["ab", "cd"])
    scores = memoryview(np.zeros(2, dtype="<f8").tobytes()).cast("d")
    past_end = memoryview(np.array([0, 2, 99], dtype="<u8").tobytes()).cast("Q")
    backwards = memoryview(np.array([0, 3, 2], dtype="<u8").tobytes()).cast("Q")
    for bad in (past_end, backwards):
        with pytest.raises(ValueError, match="damaged"):
            _mapped.scored(blob, bad, scores, [1], Pair)
        with pytest.raises(ValueError, match="damaged"):
            _mapped.lower_bound(blob, bad, b"zz")
    with pytest.raises(ValueError, match="uint64"):
        _mapped.lower_bound(blob, b"\x00\x00\x00", b"a")
    with pytest.raises(UnicodeDecodeError):
        _mapped.scored(
            b"\xff\xfe", memoryview(np.array([0, 2], dtype="<u8").tobytes()).cast("Q"), scores[:1], [0], Pair
        )


def test_bad_arguments_are_refused() -> None:
    blob, off = table(["ab", "cd"])
    scores = memoryview(np.zeros(2, dtype="<f8").tobytes()).cast("d")
    with pytest.raises(IndexError, match="out of range"):
        _mapped.scored(blob, off, scores, [2], Pair)
    with pytest.raises(IndexError, match="out of range"):
        _mapped.scored(blob, off, scores, [-1], Pair)
    with pytest.raises(ValueError, match="float64"):
        _mapped.scored(blob, off, scores[:1], [0], Pair)
    with pytest.raises(TypeError, match="tuple subclass"):
        _mapped.scored(blob, off, scores, [0], dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _mapped.scored(blob, off, scores, 3, Pair)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="do not fit"):  # 2 keys need 3 id offsets
        _mapped.TopIds(blob, off, memoryview(b"\x00" * 16).cast("Q"), b"", b"", off[:1], b"", 4)
    with pytest.raises(TypeError, match="str"):
        _mapped.TopIds(blob, off, off, b"", b"", off[:1], b"", 4).get(b"ab", 3)  # type: ignore[arg-type]
