"""How keywords are indexed for autocomplete: namespaces of keys in one sorted key table.

A key is the 두벌식 keystroke sequence of the folded text with spaces removed, so that mid-syllable
prefixes (아이ㅍ, 아잎), spacing variants (아이폰케이스 = 아이폰 케이스), NFD/NFC and case all meet on
the same key. Each namespace is a one-character marker prepended to the key.
"""

from __future__ import annotations

import polars as pl

from kwrec.text.hangul import choseong_expr, keystrokes, keystrokes_expr

FULL = "\x01"  # the whole keyword
WORD = "\x02"  # from the start of its 2nd, 3rd, ... word (케이스 -> 아이폰 케이스)
CHO = "\x03"  # 초성 of the whole keyword (ㅇㅇㅍ -> 아이폰)
CHO_WORD = "\x04"  # 초성 from a later word
TAIL = "\x05"  # word-level suffixes of queries, for completing unseen queries (ids into the tail table)

MAX_WORD_STARTS = 8  # later words of very long queries are not indexed on their own
HANGUL = r"[\uac00-\ud7a3]"


def search_key_of(folded: str) -> str:
    return keystrokes(folded).replace(" ", "")


def _word_keys(words: pl.DataFrame, full_ns: str, word_ns: str) -> list[pl.DataFrame]:
    """``words``: columns ``w`` (list of per-word keys) and ``id``."""
    parts = [words.select((pl.lit(full_ns) + pl.col("w").list.join("")).alias("key"), "id")]
    for i in range(1, MAX_WORD_STARTS + 1):
        later = words.filter(pl.col("w").list.len() > i)
        if later.height == 0:
            break
        parts.append(
            later.select((pl.lit(word_ns) + pl.col("w").list.slice(i).list.join("")).alias("key"), "id")
        )
    return parts


def entries_frame(keyword_norms: pl.Series, tail_norms: pl.Series) -> pl.DataFrame:
    """Every (namespaced key, id) under which a keyword (or, in TAIL, a tail) is found."""
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
    return pl.concat(parts).filter(pl.col("key").str.len_chars() > 1)
