"""A sorted, memory-mapped table of search keys, each with the ids of the keywords found under it.

Why not a trie for every key: building a trie costs microseconds per key in one thread, and a large
customer has millions of keys; sorting them column-wise takes a second. A prefix look-up is a binary
search in C (``numpy.searchsorted``) over the first ``WIDTH`` bytes of every key, kept as a mapped
fixed-width column; only keys that share those bytes with the target are compared in full. Keys are
compared as UTF-8 bytes, whose order is the code point order polars sorts by, so a prefix's keys form
one contiguous run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kwrec.models.columns import _mmap, open_column

WIDTH = 16  # bytes of each key in the fixed-width search column (a marker + five jamo)
_AFTER = b"\xff"  # sorts after every UTF-8 continuation: prefix + _AFTER bounds the prefix's run


class KeyIndex:
    def __init__(self, prefix: Path) -> None:
        self._blob = _mmap(prefix.with_suffix(".bin"))
        self._off = open_column(prefix.with_suffix(".off"), "u64")
        self._idoff = open_column(prefix.with_suffix(".idoff"), "u64")
        self._ids = open_column(prefix.with_suffix(".ids"), "u32")
        self._n = max(len(self._off) - 1, 0)
        fixed = prefix.with_suffix(".fix")
        self._fixed = (
            np.memmap(fixed, dtype=f"S{WIDTH}", mode="r") if self._n else np.zeros(0, dtype=f"S{WIDTH}")
        )

    def __len__(self) -> int:
        return self._n

    def _key(self, i: int) -> bytes:
        return self._blob[self._off[i] : self._off[i + 1]]

    def _lower_bound(self, target: bytes) -> int:
        """First position whose key is >= target."""
        # Fixed-width strings compare like the truncated keys (keys hold no NUL byte), so for a target
        # of at most WIDTH bytes this is already exact; a longer one is placed among the keys that
        # share its first WIDTH bytes.
        head = target[:WIDTH]
        lo = int(np.searchsorted(self._fixed, head, side="left"))
        if len(target) <= WIDTH:
            return lo
        hi = int(np.searchsorted(self._fixed, head, side="right"))
        key = self._key
        while lo < hi:
            mid = (lo + hi) // 2
            if key(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def run(self, prefix: str) -> tuple[int, int]:
        """The [lo, hi) positions of the keys starting with ``prefix``."""
        p = prefix.encode("utf-8")
        lo = self._lower_bound(p)
        if lo >= self._n or not self._key(lo).startswith(p):
            return lo, lo
        return lo, self._lower_bound(p + _AFTER)

    def exists(self, prefix: str) -> bool:
        p = prefix.encode("utf-8")
        lo = self._lower_bound(p)
        return lo < self._n and self._key(lo).startswith(p)

    def ids(self, lo: int, hi: int) -> list[int]:
        """All keyword ids under the keys in [lo, hi), with repeats."""
        return self._ids[self._idoff[lo] : self._idoff[hi]].tolist()

    def exact(self, key: str) -> list[int]:
        k = key.encode("utf-8")
        lo = self._lower_bound(k)
        if lo < self._n and self._key(lo) == k:
            return self.ids(lo, lo + 1)
        return []

    def next_chars(self, prefix: str, limit: int = 64) -> str:
        """Distinct characters that follow ``prefix`` in some key (for typo candidates).

        Jumps from one child to the next with a binary search each, instead of scanning every key
        under the prefix (a short prefix can have millions).
        """
        p = prefix.encode("utf-8")
        chars: list[str] = []
        pos = self._lower_bound(p)
        while pos < self._n and len(chars) < limit:
            key = self._key(pos)
            if not key.startswith(p) or len(key) == len(p):
                if key.startswith(p):  # the prefix itself is a key: step over it
                    pos += 1
                    continue
                break
            ch = key[len(p) :].decode("utf-8", "ignore")[:1]
            if not ch:
                break
            chars.append(ch)
            pos = self._lower_bound(p + ch.encode("utf-8") + _AFTER)
        return "".join(chars)
