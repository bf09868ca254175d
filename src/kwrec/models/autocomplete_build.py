"""Build the autocomplete index: one key trie plus precomputed top-k for every heavy prefix.

Look-up cost must not depend on how many keywords share a prefix. A prefix with more than
``heavy_threshold`` entries ("heavy") gets its top-k ids stored; any other prefix has few enough
entries to read them straight from the trie. Keyword ids are assigned in descending score order, so
"top-k" is simply "the k smallest ids", which keeps both paths free of score look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import marisa_trie
import numpy as np
import polars as pl

from kwrec.models.keys import TAIL, keyword_entries, search_key_of

TRIE_FILE = "keys.marisa"
HEAVY_FILE = "heavy.marisa"


@dataclass(frozen=True)
class IndexStats:
    entries: int
    heavy_prefixes: int


def _entries(keyword_norms: list[str], tail_norms: list[str]) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    ids: list[int] = []
    for kid, norm in enumerate(keyword_norms):
        for ns, key in keyword_entries(norm):
            if key:
                keys.append(ns + key)
                ids.append(kid)
    for tid, norm in enumerate(tail_norms):
        key = search_key_of(norm)
        if key:
            keys.append(TAIL + key)
            ids.append(tid)
    return keys, ids


def _heavy_prefixes(entries: pl.DataFrame, threshold: int, topk: int) -> pl.DataFrame:
    """Every prefix with more than ``threshold`` entries and its ``topk`` smallest distinct ids.

    Level by level: a prefix can only be heavy if its parent is, so each level only looks at the
    entries under the previous level's heavy prefixes, and the work shrinks fast.
    """
    found: list[pl.DataFrame] = []
    cand = entries.with_columns(pl.col("key").str.len_chars().alias("len"))
    length = 2  # namespace marker + one character
    while cand.height > threshold:
        cand = cand.filter(pl.col("len") >= length).with_columns(pl.col("key").str.slice(0, length).alias("p"))
        level = (
            cand.group_by("p")
            .agg(pl.len().alias("n"), pl.col("id").unique().bottom_k(topk).sort().alias("top"))
            .filter(pl.col("n") > threshold)
        )
        if level.height == 0:
            break
        found.append(level.select("p", "top"))
        cand = cand.join(level.select("p"), on="p", how="semi").drop("p")
        length += 1
    if not found:
        return pl.DataFrame({"p": [], "top": []}, schema={"p": pl.String, "top": pl.List(pl.Int64)})
    return pl.concat(found)


def build_index(out_dir: Path, keyword_norms: list[str], tail_norms: list[str], *, threshold: int, topk: int) -> IndexStats:
    keys, ids = _entries(keyword_norms, tail_norms)
    trie = marisa_trie.RecordTrie("<I", zip(keys, ((i,) for i in ids), strict=True))
    trie.save(str(out_dir / TRIE_FILE))
    heavy = _heavy_prefixes(pl.DataFrame({"key": keys, "id": ids}, schema={"key": pl.String, "id": pl.Int64}), threshold, topk)
    packed = [
        (p, np.asarray(top, dtype="<u4").tobytes())
        for p, top in zip(heavy["p"].to_list(), heavy["top"].to_list(), strict=True)
    ]
    marisa_trie.BytesTrie(packed).save(str(out_dir / HEAVY_FILE))
    return IndexStats(entries=len(keys), heavy_prefixes=len(packed))
