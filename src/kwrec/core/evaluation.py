"""Offline evaluation with a time split: kwrec against the most-popular-completion (MPC) baseline.

For every test query both systems get the same prefixes (``[evaluate] prefixes``: one per query by
default, its length drawn from a hash of the query; or every length; or N sampled lengths); the rank
of the query the user really typed in each top-10 gives MRR@10 and success@k. Queries are split
into "seen" (typed in the training part) and "unseen": MPC can never complete an unseen query,
which is where kwrec's word-level completion earns its keep.

When the privacy floor acts (``[train] min_users`` above 1 on a log with user ids), a third system is
scored: MPC held to the same floor ("mpc-floor": only training queries that many people typed). MPC
lists whatever one person typed, which kwrec may never show; the floored baseline separates what the
floor costs from what the ranking does.

Two figures per system. *Strict*: the suggestion must be the typed query itself. *Equivalent*: a
suggestion also counts when kwrec's model takes it for the same keyword as the typed query: another
spacing ("dishnetwork" / "dish network"), a typo or layout mistake merged into it ("goggle" ->
google, "tlsfkaus" -> 신라면), or a 초성 submit ("ㅊㅂㅈ" -> 청바지). The same relation judges both
systems; it shows how much of a gap is kwrec showing the corrected form of what the user typed.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kwrec.core.models.banned import BannedText
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

PrefixPlan = str | int  # "one", "all" or a number of sampled lengths (EvaluateSettings.prefixes)

K = 10
SUCCESS_AT = (1, 5, 10)
# The two figures of a result (key in the result -> name): see the module docstring.
FIGURES = {"autocomplete": "strict", "autocomplete_equivalent": "equivalent"}


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


FLOORED = "mpc-floor"


def floored_queries(train: pl.DataFrame, min_users: int) -> list[str]:
    """The training queries (one per search) of those that at least ``min_users`` people typed (a row
    without a user id is nobody, as in training)."""
    users = train.drop_nulls("user").group_by("norm").agg(pl.col("user").n_unique().alias("u"))
    allowed = users.filter(pl.col("u") >= min_users).select("norm")
    return train.join(allowed, on="norm", how="semi")["norm"].to_list()


def users_floor(train: pl.DataFrame, params: TrainParams) -> int:
    """The ``min_users`` floor training applies to ``train`` (1 when it has no user ids)."""
    return params.users_floor(train["user"].null_count() < train.height)


def prepared_baselines(
    train: pl.DataFrame, floor: int, cases: list[tuple[str, list[str]]]
) -> dict[str, MostPopularCompletion]:
    """MPC over ``train``, and MPC held to ``floor`` when it is above 1, ready for ``cases``' prefixes."""
    baselines = {"mpc": MostPopularCompletion(train["norm"].to_list())}
    if floor > 1:
        baselines[FLOORED] = MostPopularCompletion(floored_queries(train, floor))
    typed = {p for _, ps in cases for p in ps}
    for baseline in baselines.values():
        baseline.prepare(typed)
    return baselines


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


def prefixes_of(query: str, plan: PrefixPlan, rng: random.Random) -> list[str]:
    """The prefixes typed for one test query under ``plan``."""
    if plan == "one":
        prefix = query_prefix(query)
        return [prefix] if prefix else []
    return sample_prefixes(query, None if plan == "all" else int(plan), rng)


def describe_plan(plan: PrefixPlan) -> str:
    if plan == "one":
        return "one prefix per query"
    return "every prefix" if plan == "all" else f"{plan} sampled prefixes per query"


def test_cases(test: pl.DataFrame, protocol: EvaluateSettings) -> list[tuple[str, list[str]]]:
    """(query, its prefixes) for the test part, sampled as ``protocol`` says (the gate uses it too)."""
    rng = random.Random(protocol.seed)  # noqa: S311 - a reproducible sample, not a secret
    norms: list[str] = test["norm"].to_list()
    if protocol.max_test_queries is not None and len(norms) > protocol.max_test_queries:
        norms = rng.sample(norms, protocol.max_test_queries)
    cases = [(q, prefixes_of(q, protocol.prefixes, rng)) for q in norms if len(q) > 1]
    return [(q, ps) for q, ps in cases if ps]


class Equivalence:
    """Whether a suggestion is, for kwrec's model, the same keyword as the typed query."""

    def __init__(self, model: CustomerModel) -> None:
        self._model = model
        self._ids: dict[str, int | None] = {}

    def _id(self, text: str) -> int | None:
        if text not in self._ids:
            self._ids[text] = self._model.exact_id(text)
        return self._ids[text]

    def rank(self, answers: list[str], target: str) -> int | None:
        want, squeezed = self._id(target), target.replace(" ", "")
        for i, a in enumerate(answers[:K], 1):
            if a.replace(" ", "") == squeezed or (want is not None and self._id(a) == want):
                return i
        return None


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


@dataclass
class HeldOut:
    """A customer's events split in time, and the model trained on the older part: what evaluation
    and the gate both score, trained once when their test fractions agree."""

    test_fraction: float
    train: pl.DataFrame
    test: pl.DataFrame
    model: CustomerModel


@contextmanager
def held_out(
    events: pl.DataFrame,
    params: TrainParams,
    test_fraction: float,
    *,
    customer: str,
    banned: BannedText | None = None,
    reuse: HeldOut | None = None,
) -> Iterator[HeldOut]:
    """Train on the older part of preprocessed ``events`` (the model lives until the block ends), or
    hand back ``reuse`` when it was trained on the same split.

    ``banned``: the customer's bans, as training gets them, so that the model scored makes up no
    completion the released one would refuse."""
    if reuse is not None and reuse.test_fraction == test_fraction:
        yield reuse
        return
    train, test = time_split(events, test_fraction)
    with tempfile.TemporaryDirectory(prefix=f"kwrec-held-out-{customer}-") as tmp:
        meta = train_customer(train, params, Path(tmp), customer=customer, banned=banned)
        yield HeldOut(test_fraction, train, test, CustomerModel(Path(tmp), meta))


def evaluate_events(
    events: pl.DataFrame,
    params: TrainParams,
    *,
    customer: str,
    protocol: EvaluateSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    banned: BannedText | None = None,
    trained: HeldOut | None = None,
) -> dict[str, Any]:
    """Train on the older part of preprocessed ``events``, evaluate on the newer part (``trained``: a
    model already trained on the same split, reused when its test fraction is the protocol's)."""
    protocol = protocol or EvaluateSettings()
    fraction = protocol.test_fraction
    with held_out(events, params, fraction, customer=customer, banned=banned, reuse=trained) as model:
        return _evaluate(model, protocol, customer, progress, params)


def _evaluate(
    trained: HeldOut,
    protocol: EvaluateSettings,
    customer: str,
    progress: Callable[[int, int], None] | None,
    params: TrainParams,
) -> dict[str, Any]:
    train, test, model = trained.train, trained.test, trained.model
    train_set = set(train["norm"].to_list())
    cases = test_cases(test, protocol)
    floor = users_floor(train, params)
    baselines = prepared_baselines(train, floor, cases)

    acc = {
        (figure, system, part): Accumulator()
        for figure in FIGURES.values()
        for system in ("kwrec", *baselines)
        for part in ("all", "seen", "unseen")
    }
    same = Equivalence(model)
    for done, (query, prefixes) in enumerate(cases, 1):
        part = "seen" if query in train_set else "unseen"
        for prefix in prefixes:
            ours = [s.keyword.lower() for s in model.autocomplete(prefix, K)]
            answers_by = {"kwrec": ours, **{name: b.complete(prefix) for name, b in baselines.items()}}
            for system, answers in answers_by.items():
                for figure, rank in (
                    ("strict", rank_of(answers, query)),
                    ("equivalent", same.rank(answers, query)),
                ):
                    acc[(figure, system, "all")].add(rank)
                    acc[(figure, system, part)].add(rank)
        if progress is not None and (done % 200 == 0 or done == len(cases)):
            progress(done, len(cases))
    related = _related_hit_rate(model, test)
    unseen = sum(1 for q, _ in cases if q not in train_set)
    return {
        "customer": customer,
        "protocol": {**protocol.model_dump(mode="json"), "described": describe_plan(protocol.prefixes)},
        "train_events": train.height,
        "test_events": test.height,
        "test_queries": len(cases),
        "unseen_share": round(unseen / len(cases), 4) if cases else 0.0,
        **{
            key: {f"{s}/{p}": a.report() for (f, s, p), a in acc.items() if f == figure}
            for key, figure in FIGURES.items()
        },
        "related": related,
        "min_users": floor,
    }


def versus_mpc(
    result: dict[str, Any], figure: str = "autocomplete", baseline: str = "mpc"
) -> dict[str, float | None]:
    """kwrec's MRR@10 over a baseline's on the same prefixes, overall and on seen queries (None: the
    baseline scored 0, or this result has no such baseline: ``mpc-floor`` is there when the floor acts)."""
    auto = result[figure]

    def ratio(part: str) -> float | None:
        theirs = float(auto.get(f"{baseline}/{part}", {}).get("mrr@10", 0.0))
        return round(float(auto[f"kwrec/{part}"]["mrr@10"]) / theirs, 3) if theirs else None

    return {"all": ratio("all"), "seen": ratio("seen")}


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
