"""Offline evaluation with a time split: kwrec against the most-popular-completion (MPC) baseline.

For every test query and every prefix length 1..len-1 (or a seeded sample of them) both systems get
the same prefix; the rank of the query the user really typed in each top-10 gives MRR@10 and
success@k. Queries are split into "seen" (typed in the training part) and "unseen": MPC can never
complete an unseen query, which is where kwrec's word-level completion earns its keep.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.settings import TrainParams

K = 10
SUCCESS_AT = (1, 5, 10)


@dataclass
class Accumulator:
    n: int = 0
    rr: float = 0.0
    hits: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SUCCESS_AT, 0))

    def add(self, rank: int | None) -> None:
        self.n += 1
        if rank is not None:
            self.rr += 1.0 / rank
            for k in SUCCESS_AT:
                if rank <= k:
                    self.hits[k] += 1

    def report(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "prefixes": self.n,
            "mrr@10": round(self.rr / self.n, 4) if self.n else 0.0,
        }
        for k in SUCCESS_AT:
            out[f"success@{k}"] = round(self.hits[k] / self.n, 4) if self.n else 0.0
        return out


def time_split(events: pl.DataFrame, test_fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Oldest part for training, newest for testing: by timestamp, else by input position.

    Without timestamps the cut is on the input line number (``seq``), so "the last 10% of lines" means
    exactly that even when preprocessing dropped some lines.
    """
    if events["ts"].null_count() < events.height:
        ordered = events.sort(["ts", "seq"], nulls_last=False)
        cut = round(ordered.height * (1 - test_fraction))
        return ordered.head(cut), ordered.tail(ordered.height - cut)
    first, last = events["seq"].min(), events["seq"].max()
    assert isinstance(first, int) and isinstance(last, int)
    boundary = first + (last - first + 1) * (1 - test_fraction)
    return events.filter(pl.col("seq") < boundary), events.filter(pl.col("seq") >= boundary)


class MostPopularCompletion:
    """The baseline: the training queries that start with the prefix, most frequent first."""

    def __init__(self, train_norms: list[str]) -> None:
        counts = pl.DataFrame({"q": train_norms}).group_by("q").agg(pl.len().alias("n"))
        ranked = counts.sort(["n", "q"], descending=[True, False])
        self._queries: list[str] = ranked["q"].to_list()
        self._by_prefix: dict[str, list[str]] = {}

    def prepare(self, prefixes: set[str]) -> None:
        """Answer every prefix at once (columnar), instead of scanning per prefix."""
        if not prefixes:
            return
        frame = pl.DataFrame({"q": self._queries}).with_row_index("rank")
        maxlen = max(len(p) for p in prefixes)
        wanted = pl.DataFrame({"p": sorted(prefixes)})
        parts = []
        for n in range(1, maxlen + 1):
            parts.append(
                frame.filter(pl.col("q").str.len_chars() >= n)
                .with_columns(pl.col("q").str.slice(0, n).alias("p"))
                .join(wanted, on="p", how="semi")
            )
        answers = pl.concat(parts).sort("rank").group_by("p", maintain_order=True).agg(pl.col("q").head(K))
        self._by_prefix = dict(zip(answers["p"].to_list(), answers["q"].to_list(), strict=True))

    def complete(self, prefix: str) -> list[str]:
        return self._by_prefix.get(prefix, [])


def rank_of(answers: list[str], target: str) -> int | None:
    for i, a in enumerate(answers[:K], 1):
        if a == target:
            return i
    return None


def sample_prefixes(query: str, per_query: int | None, rng: random.Random) -> list[str]:
    lengths = list(range(1, len(query)))
    if per_query is not None and len(lengths) > per_query:
        lengths = sorted(rng.sample(lengths, per_query))
    return [query[:n] for n in lengths]


def query_prefix(query: str) -> str | None:
    """The one prefix the per-query protocol types for ``query``; None when it is too short (< 3 chars).

    Its length is drawn uniformly in [2, len-1] characters from a hash of the query itself, so every
    system, every run and every machine sees the same prefix; a trailing space is stripped (the user
    has not typed the next word yet). One prefix per query keeps long queries, whose many prefixes
    would otherwise dominate, at the weight of one search each.
    """
    if len(query) < 3:
        return None
    digest = hashlib.blake2b(query.encode("utf-8"), digest_size=8).digest()
    length = 2 + int.from_bytes(digest, "big") % (len(query) - 2)
    return query[:length].rstrip(" ") or None


def evaluate_events(
    events: pl.DataFrame,
    params: TrainParams,
    *,
    customer: str,
    test_fraction: float = 0.1,
    prefixes_per_query: int | None = None,
    max_test_queries: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train on the older part of preprocessed ``events``, evaluate on the newer part."""
    train, test = time_split(events, test_fraction)
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    test_norms: list[str] = test["norm"].to_list()
    if max_test_queries is not None and len(test_norms) > max_test_queries:
        test_norms = rng.sample(test_norms, max_test_queries)
    train_set = set(train["norm"].to_list())
    mpc = MostPopularCompletion(train["norm"].to_list())
    cases = [(q, sample_prefixes(q, prefixes_per_query, rng)) for q in test_norms if len(q) > 1]
    mpc.prepare({p for _, ps in cases for p in ps})

    acc = {(system, part): Accumulator() for system in ("kwrec", "mpc") for part in ("all", "seen", "unseen")}
    with tempfile.TemporaryDirectory(prefix="kwrec-eval-") as tmp:
        meta = train_customer(train, params, Path(tmp), customer=customer)
        model = CustomerModel(Path(tmp), meta)
        for done, (query, prefixes) in enumerate(cases, 1):
            part = "seen" if query in train_set else "unseen"
            for prefix in prefixes:
                ours = [s.keyword.lower() for s in model.autocomplete(prefix, K)]
                for system, answers in (("kwrec", ours), ("mpc", mpc.complete(prefix))):
                    rank = rank_of(answers, query)
                    acc[(system, "all")].add(rank)
                    acc[(system, part)].add(rank)
            if progress is not None and (done % 200 == 0 or done == len(cases)):
                progress(done, len(cases))
        related = _related_hit_rate(model, test)
    return {
        "customer": customer,
        "train_events": train.height,
        "test_events": test.height,
        "test_queries": len(cases),
        "unseen_share": round(sum(1 for q, _ in cases if q not in train_set) / len(cases), 4)
        if cases
        else 0.0,
        "autocomplete": {f"{s}/{p}": a.report() for (s, p), a in acc.items()},
        "related": related,
    }


def _related_hit_rate(model: CustomerModel, test: pl.DataFrame) -> dict[str, float | int]:
    """How often the next different query in a session is among related(query)[:10]."""
    sessions = test.filter(pl.col("session").is_not_null())
    if sessions.height == 0:
        return {"pairs": 0, "hit_rate@10": 0.0}
    pairs = (
        sessions.sort(["session", "ts", "seq"])
        .with_columns(pl.col("norm").shift(-1).over("session").alias("next"))
        .filter(pl.col("next").is_not_null() & (pl.col("next") != pl.col("norm")))
        .select("norm", "next")
    )
    hits = 0
    for q, nxt in pairs.iter_rows():
        if nxt in {s.keyword.lower() for s in model.related(q, K)}:
            hits += 1
    return {"pairs": pairs.height, "hit_rate@10": round(hits / pairs.height, 4) if pairs.height else 0.0}
