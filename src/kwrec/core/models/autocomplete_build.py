"""Build the autocomplete index: a sorted key table plus precomputed top-k for every heavy prefix.

Look-up cost must not depend on how many keywords share a prefix. A prefix with more than
``threshold`` entries ("heavy") gets its top-k ids stored; any other prefix has few enough entries to
read them straight from the key table. Keyword ids are assigned in descending score order, so "top-k"
is simply "the k smallest ids", which keeps both paths free of score look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from kwrec.core.models.columns import write_column, write_strings
from kwrec.core.models.keys import ALIAS, CHO, CHO_WORD, FULL, HANGUL, MAX_WORD_STARTS, MERGED, TAIL, WORD
from kwrec.core.models.layout import HEAVY_PREFIX, HEAVY_TOP_FILE, KEYS_PREFIX, NO_ID
from kwrec.core.text.hangul import choseong_expr, keystrokes_expr

# Marks a word can start with ("따옴표", #해시태그, (여성), [공식]): what is typed to find it is the word.
_MARK: Final = r"[^\p{L}\p{N}]"
_LEADING_MARKS: Final = f"^{_MARK}+"


def _word_keys(words: pl.DataFrame, full_ns: str, word_ns: str) -> list[pl.DataFrame]:
    """``words``: columns ``w`` (list of per-word keys) and ``id``.

    A keyword is found from its start (``full_ns``) and from each later word (``word_ns``); a word that
    starts with marks is found from its first letter too (in ``word_ns``, so that a keyword typed that
    way from its start still comes first)."""
    parts = [words.select((pl.lit(full_ns) + pl.col("w").list.join("")).alias("key"), "id")]
    # Few keywords have a word that starts with a mark: only those are looked at for it.
    with_marks = words.filter(pl.col("w").list.join(" ").str.contains(f"(?:^| ){_MARK}"))
    for i in range(MAX_WORD_STARTS + 1):
        rest = pl.col("w").list.slice(i + 1).list.join("")
        if i:
            later = words.filter(pl.col("w").list.len() > i)
            if later.height == 0:
                break
            parts.append(later.select((pl.lit(word_ns) + pl.col("w").list.get(i) + rest).alias("key"), "id"))
        marked = with_marks.filter(pl.col("w").list.len() > i)
        bare = pl.col("w").list.get(i).str.replace(_LEADING_MARKS, "")
        marked = marked.filter(bare != pl.col("w").list.get(i))
        parts.append(marked.select((pl.lit(word_ns) + bare + rest).alias("key"), "id"))
    return parts


def entries_frame(
    keyword_norms: pl.Series,
    tail_norms: pl.Series,
    merged: pl.DataFrame | None = None,
    aliases: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every (namespaced key, id) under which a keyword (or, in TAIL, a tail) is found.

    ``merged``: columns ``key`` (keystrokes, no spaces) and ``id``, the queries merged into keywords;
    ``aliases``: the same keys with the merged queries' own ids (``id``, in their own score order).
    """
    kw = pl.DataFrame({"norm": keyword_norms}).with_row_index("id").with_columns(pl.col("id").cast(pl.Int64))
    parts = _word_keys(kw.select(keystrokes_expr(pl.col("norm")).str.split(" ").alias("w"), "id"), FULL, WORD)
    hangul = kw.filter(pl.col("norm").str.contains(HANGUL))
    if hangul.height:
        parts += _word_keys(
            hangul.select(choseong_expr(pl.col("norm")).str.split(" ").alias("w"), "id"), CHO, CHO_WORD
        )
    tails = pl.DataFrame({"t": tail_norms}).with_row_index("id").with_columns(pl.col("id").cast(pl.Int64))
    parts.append(
        tails.select(
            (pl.lit(TAIL) + keystrokes_expr(pl.col("t")).str.replace_all(" ", "", literal=True)).alias("key"),
            "id",
        )
    )
    if merged is not None and merged.height:
        parts.append(merged.select((pl.lit(MERGED) + pl.col("key")).alias("key"), "id"))
    if aliases is not None and aliases.height:
        parts.append(aliases.select((pl.lit(ALIAS) + pl.col("key")).alias("key"), "id"))
    return pl.concat(parts).filter(pl.col("key").str.len_chars() > 1)


def write_key_index(prefix: Path, ordered: pl.DataFrame) -> int:
    """``ordered``: columns ``key`` (str) and ``id`` (int), sorted by (key, id). Returns distinct keys."""
    # One sort (shared with the heavy prefixes), then run boundaries: several times cheaper than
    # group_by + sort on string keys.
    new_key = (pl.col("key") != pl.col("key").shift()).fill_null(True)
    ordered = ordered.with_columns(new_key.alias("new")).filter(
        pl.col("new") | (pl.col("id") != pl.col("id").shift())
    )
    starts = ordered["new"].arg_true().to_numpy()
    keys = ordered.filter(pl.col("new"))["key"]
    write_strings(prefix, keys)
    offsets = np.append(starts, ordered.height).astype(np.uint64)
    write_column(prefix.with_suffix(".idoff"), offsets, "u64")
    write_column(prefix.with_suffix(".ids"), ordered["id"].to_numpy(), "u32")
    return len(starts)


@dataclass(frozen=True)
class IndexStats:
    entries: int
    keys: int
    heavy_prefixes: int


def _heavy_prefixes(ordered: pl.DataFrame, threshold: int, topk: int) -> pl.DataFrame:
    """Every prefix with more than ``threshold`` entries and its ``topk`` smallest distinct ids.

    ``ordered`` is sorted by key, so the entries under one prefix are one contiguous run: runs are
    numbered by a linear scan (``rle_id``) and aggregated on that integer, never by hashing strings.
    Level by level: a prefix can only be heavy if its parent is, so each level only looks at the
    entries under the previous level's heavy prefixes, and the work shrinks fast.
    """
    found: list[pl.DataFrame] = []
    cand = ordered.select("key", "id", pl.col("key").str.len_chars().alias("len"))
    length = 2  # namespace marker + one character
    while cand.height > threshold:
        cand = cand.filter(pl.col("len") >= length).with_columns(
            pl.col("key").str.slice(0, length).rle_id().alias("run")
        )
        level = (
            cand.group_by("run")
            .agg(
                pl.len().alias("n"),
                pl.col("key").first().str.slice(0, length).alias("p"),
                # Distinct first: many merged queries (typos of google) share one id under a prefix.
                pl.col("id").unique().bottom_k(topk).sort().alias("top"),
            )
            .filter(pl.col("n") > threshold)
        )
        if level.height == 0:
            break
        found.append(level.select("p", "top"))
        cand = cand.filter(pl.col("run").is_in(level["run"].implode())).drop("run")
        length += 1
    if not found:
        return pl.DataFrame({"p": [], "top": []}, schema={"p": pl.String, "top": pl.List(pl.Int64)})
    return pl.concat(found)


def build_index(
    out_dir: Path,
    keyword_norms: pl.Series,
    tail_norms: pl.Series,
    *,
    threshold: int,
    topk: int,
    merged: pl.DataFrame | None = None,
    aliases: pl.DataFrame | None = None,
) -> IndexStats:
    ordered = entries_frame(keyword_norms, tail_norms, merged, aliases).sort(["key", "id"])
    n_keys = write_key_index(out_dir / KEYS_PREFIX, ordered)
    n_heavy = write_heavy_prefixes(out_dir / HEAVY_PREFIX, out_dir / HEAVY_TOP_FILE, ordered, threshold, topk)
    return IndexStats(entries=ordered.height, keys=n_keys, heavy_prefixes=n_heavy)


def write_heavy_prefixes(
    prefix: Path, top_path: Path, ordered: pl.DataFrame, threshold: int, topk: int
) -> int:
    """The heavy prefixes of ``ordered`` (as for ``write_key_index``) and their rows of best ids."""
    # Sorted like the key table, so that one search code serves both: prefix i owns row i of the
    # fixed-width id matrix, which is memory-mapped.
    heavy = _heavy_prefixes(ordered, threshold, topk).sort("p")
    write_strings(prefix, heavy["p"])
    matrix = np.full((heavy.height, topk), NO_ID, dtype="<u4")
    for row, top in enumerate(heavy["top"].to_list()):
        matrix[row, : len(top)] = top
    write_column(top_path, matrix.ravel(), "u32")
    return heavy.height
