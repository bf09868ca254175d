"""A sorted, memory-mapped table of search keys, each with the ids of the keywords found under it,
plus the precomputed best ids of every heavy prefix (a prefix with too many entries to rank per look-up).

Why not a trie for every key: building a trie costs microseconds per key in one thread (marisa-trie
needs about 5 s for 3.4M keys here), and a large customer has millions of keys; sorting them
column-wise takes a second. A prefix look-up is a binary search in compiled code
(:mod:`kwrec.core.models._mapped`) straight over the mapped keys. Keys are compared as UTF-8 bytes, whose
order is the code point order polars sorts by, so a prefix's keys form one contiguous run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from kwrec.core.models._mapped import TopIds, lower_bound, next_chars, prefix_run
from kwrec.core.models.columns import _mmap, open_column

# No key holds these bytes (UTF-8 never has 0xff; keys never hold NUL), which makes them exact bounds:
# the key equal to p is the run [p, p + _NUL).
_NUL = b"\x00"


class KeyIndex:
    def __init__(self, prefix: Path, heavy_prefix: Path, heavy_top: Path, topk: int) -> None:
        """``prefix``: the key table (written by ``write_key_index``); ``heavy_prefix``: the sorted heavy
        prefixes (a string table), whose i-th has row i of ``heavy_top`` (``topk`` ids, NO_ID-padded)."""
        self._blob = _mmap(prefix.with_suffix(".bin"))
        self._off = open_column(prefix.with_suffix(".off"), "u64")
        self._idoff = open_column(prefix.with_suffix(".idoff"), "u64")
        self._ids = open_column(prefix.with_suffix(".ids"), "u32")
        self._n = max(len(self._off) - 1, 0)
        self._heavy_blob = _mmap(heavy_prefix.with_suffix(".bin"))
        self._heavy_off = open_column(heavy_prefix.with_suffix(".off"), "u64")
        self._heavy_top = open_column(heavy_top, "u32")
        self._topk = topk
        self._top = TopIds(
            self._blob,
            self._off,
            self._idoff,
            self._ids,
            self._heavy_blob,
            self._heavy_off,
            self._heavy_top,
            topk,
        )
        #: The ``limit`` best keyword ids under keys starting with the given key, best first.
        self.top_ids = self._top.get

    def __len__(self) -> int:
        return self._n

    def _lower_bound(self, target: bytes, lo: int = 0) -> int:
        """First position (from ``lo``) whose key is >= target."""
        return lower_bound(self._blob, self._off, target, lo)

    def run(self, prefix: str) -> tuple[int, int]:
        """The [lo, hi) positions of the keys starting with ``prefix``."""
        return prefix_run(self._blob, self._off, prefix.encode("utf-8"))

    def exists(self, prefix: str) -> bool:
        lo, hi = self.run(prefix)
        return hi > lo

    def ids(self, lo: int, hi: int) -> list[int]:
        """All keyword ids under the keys in [lo, hi), with repeats."""
        return self._ids[self._idoff[lo] : self._idoff[hi]].tolist()

    def has_precomputed(self, key: str) -> bool:
        return self._top.row(key) >= 0

    def precomputed_rows(self, prefix: str) -> npt.NDArray[np.uint32]:
        """The precomputed id rows of every heavy prefix starting with ``prefix`` (rows x topk)."""
        lo, hi = prefix_run(self._heavy_blob, self._heavy_off, prefix.encode("utf-8"))
        matrix = np.frombuffer(self._heavy_top, dtype="<u4").reshape(-1, self._topk)
        return matrix[lo:hi]

    def key_heads(self, key: str, lengths: list[int]) -> list[int]:
        """Of the heads ``key[:n]`` for n in ``lengths`` (ascending), the positions in ``lengths`` of
        those that are themselves keys, up to the first head that starts no key.

        Compiled, one binary search per head, each from where the last ended: the heads of one
        query cost one call instead of one Python round trip each.
        """
        return self._top.key_heads(key, lengths)

    def exact(self, key: str) -> list[int]:
        k = key.encode("utf-8")
        lo = self._lower_bound(k)
        return self.ids(lo, lo + 1) if self._lower_bound(k + _NUL, lo) > lo else []

    def next_chars(self, prefix: str, limit: int = 64) -> str:
        """Distinct characters that follow ``prefix`` in some key (for typo candidates), in key order.

        Compiled: it jumps from one child to the next with a binary search each, instead of scanning
        every key under the prefix (a short prefix can have millions).
        """
        return next_chars(self._blob, self._off, prefix.encode("utf-8"), limit)

    def typo_keys(self, ns: str, key: str, window: int, budget: int) -> tuple[list[str], int]:
        """Keys one edit away from ``key`` that start some stored key under ``ns``, and the budget left.

        Edits are tried at the ``window`` positions ending where ``key`` stops matching (a single typo
        sits at or just before that point), substitutions and insertions only with characters that
        follow the head in some key; each distinct edit checked costs one unit of ``budget``. Compiled:
        the dozens of edits a look-up may try cost a microsecond each in Python.
        """
        return self._top.typo_keys(ns, key, window, budget)
