"""Read side of the related-keyword lists (CSR columns written by ``related.write_related``)."""

from __future__ import annotations

from pathlib import Path

from kwrec.core.models.columns import open_column


class RelatedIndex:
    def __init__(self, directory: Path) -> None:
        self._off = open_column(directory / "rel.off", "u64")
        self._ids = open_column(directory / "rel.ids", "u32")
        self._score = open_column(directory / "rel.score", "score")

    def of(self, kid: int, limit: int) -> list[tuple[int, float]]:
        if not 0 <= kid < len(self._off) - 1:
            return []
        lo, hi = self._off[kid], self._off[kid + 1]
        hi = min(hi, lo + limit)
        return [(self._ids[i], self._score[i]) for i in range(lo, hi)]
