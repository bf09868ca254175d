"""Flat, memory-mapped column files: the storage under every model artifact.

Why mmap: N API worker processes map the same read-only pages, so a model costs its size once, not N
times, and opening an artifact is instant. Hot-path reads go through ``memoryview.cast`` (plain Python
ints/floats, no NumPy scalar overhead).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import numpy.typing as npt

from kwrec.core.models._mapped import scored

if TYPE_CHECKING:
    import polars as pl

# "score": float64 rounded to 6 decimals when written, so readers hand out short, exact-looking floats
# without a round() per suggestion on the hot path.
_TYPECODES = {"u32": ("<u4", "I"), "u64": ("<u8", "Q"), "score": ("<f8", "d")}

_Pair = TypeVar("_Pair", bound=tuple[str, float])  # a (text, score) NamedTuple such as Suggestion


def write_column(path: Path, values: npt.ArrayLike, kind: str) -> None:
    dtype, _ = _TYPECODES[kind]
    array = np.ascontiguousarray(np.asarray(values), dtype=dtype)
    if kind == "score":
        array = np.round(array, 6)
    array.tofile(path)


def _mmap(path: Path) -> mmap.mmap | bytes:
    if path.stat().st_size == 0:
        return b""
    with path.open("rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _map(path: Path) -> memoryview:
    return memoryview(_mmap(path))


def open_column(path: Path, kind: str) -> memoryview:
    """A read-only view of the column whose items are Python ints/floats."""
    _, code = _TYPECODES[kind]
    view = _map(path)
    # typeshed types cast() per literal format code; the code here is data-driven.
    return cast(memoryview, view.cast(code) if len(view) else memoryview(b"").cast(code))  # type: ignore[call-overload]


def write_strings(prefix: Path, strings: pl.Series | Iterable[str]) -> int:
    """Strings as one UTF-8 blob (``.bin``) plus n+1 byte offsets (``.off``). Returns the count."""
    import polars as pl  # training only: serving never writes

    series = strings if isinstance(strings, pl.Series) else pl.Series(list(strings), dtype=pl.String)
    offsets = np.zeros(len(series) + 1, dtype="<u8")
    if len(series):
        np.cumsum(series.str.len_bytes().to_numpy(), out=offsets[1:])
        prefix.with_suffix(".bin").write_bytes(series.str.join("").item().encode("utf-8"))
    else:
        prefix.with_suffix(".bin").write_bytes(b"")
    offsets.tofile(prefix.with_suffix(".off"))
    return len(series)


class StringTable(Sequence[str]):
    """Read side of :func:`write_strings`: ``table[i]`` decodes one string from the mapped blob."""

    def __init__(self, prefix: Path) -> None:
        # Slicing the mmap itself is the cheapest way to get bytes out (cheaper than a memoryview).
        self._blob = _mmap(prefix.with_suffix(".bin"))
        self._off = open_column(prefix.with_suffix(".off"), "u64")
        self._n = max(len(self._off) - 1, 0)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        if not 0 <= i < self._n:
            raise IndexError(i)
        off = self._off
        return self._blob[off[i] : off[i + 1]].decode("utf-8")

    def scored(
        self,
        ids: Sequence[int],
        scores: memoryview,
        cls: type[_Pair],
        premade: list[_Pair | None] | None = None,
    ) -> list[_Pair]:
        """``cls(string, scores[i])`` for each id; ``scores`` is a "score" column parallel to the table.

        ``premade[i]``, where given and not None, is returned for id i instead of a new object."""
        return scored(self._blob, self._off, scores, ids, cls, premade)
