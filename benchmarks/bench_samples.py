"""kwrec against most-popular-completion on seen queries, over many seeds of the sample generator.

One seed of a sample customer holds a few hundred seen test queries, and on a log where kwrec and
MPC agree almost everywhere a single near tie decides which of the two is ahead (books-en's bundled
seed: two books 2 searches apart at ``th``). This benchmark regenerates the three sample customers
(``kwrec sample-data``'s generator) with seeds ``--first`` .. ``--first + --seeds - 1`` and runs
``kwrec evaluate``'s own protocol on each (one prefix per held-out query, the newest 10 %), so
that what is systematic can be told from what one split happened to favour.

Per customer: kwrec / MPC over the pooled reciprocal-rank mass of every seed (strict and
equivalent), the number of seeds where kwrec is below MPC, the range, and the same against MPC held
to the privacy floor (``mpc-floor``: only queries ``min_users`` people typed). The bundled sample is
seed 7.

    .venv/bin/python -m benchmarks.bench_samples [--seeds 20] [--first 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kwrec.core.evaluation import FIGURES, FLOORED, evaluate_events
from kwrec.core.ingest import list_customers, load_customer_config
from kwrec.core.preprocess import read_and_preprocess
from kwrec.core.sample_data import generate
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

BUNDLED_SEED = 7  # generate()'s default: data/sample
BASELINES = ("mpc", FLOORED)


def _seen(result: dict[str, Any], figure: str, system: str) -> float | None:
    part = result[figure].get(f"{system}/seen")
    return None if part is None else float(part["mrr@10"])


def evaluate_seed(seed: int, root: Path, overrides: dict[str, str]) -> list[dict[str, Any]]:
    """One row per sample customer of ``seed``: its seen test queries and each system's seen MRR@10.

    ``overrides``: ``[train]`` parameters set for every customer (``--train-param``), over its own."""
    folder = root / f"seed-{seed}"
    generate(folder, seed=seed)
    customers, problems = list_customers(folder)
    if problems:
        raise SystemExit(f"the sample generator wrote a folder kwrec cannot read: {problems}")
    rows = []
    for name in customers:
        config = load_customer_config(folder / name)
        own = config.train_params(TrainParams())
        params = TrainParams.model_validate({**own.model_dump(), **overrides})
        pre, _ = read_and_preprocess(folder / name, config, params, root / f"{seed}-{name}.jsonl")
        result = evaluate_events(pre.events, params, customer=name, protocol=EvaluateSettings())
        row: dict[str, Any] = {
            "customer": name,
            "seed": seed,
            "seen": int(result["autocomplete"]["kwrec/seen"]["prefixes"]),
        }
        for figure, title in FIGURES.items():
            for system in ("kwrec", *BASELINES):
                row[f"{title}/{system}"] = _seen(result, figure, system)
        rows.append(row)
    return rows


def _ratio(rows: list[dict[str, Any]], title: str, baseline: str) -> float | None:
    """kwrec over ``baseline`` on the reciprocal-rank mass pooled over ``rows`` (seeds)."""
    pairs = [(r[f"{title}/kwrec"], r[f"{title}/{baseline}"], r["seen"]) for r in rows]
    pairs = [(k, b, n) for k, b, n in pairs if b is not None]
    theirs = sum(b * n for _, b, n in pairs)
    return round(sum(k * n for k, _, n in pairs) / theirs, 4) if theirs else None


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name in sorted({r["customer"] for r in rows}):
        mine = [r for r in rows if r["customer"] == name]
        summary: dict[str, Any] = {
            "customer": name,
            "seeds": len(mine),
            "seen_test_queries": sum(r["seen"] for r in mine),
        }
        for title in FIGURES.values():
            for baseline in BASELINES:
                per_seed = [
                    r[f"{title}/kwrec"] / r[f"{title}/{baseline}"] for r in mine if r[f"{title}/{baseline}"]
                ]
                key = f"{title} vs {baseline}"
                summary[key] = {
                    "pooled": _ratio(mine, title, baseline),
                    "seeds_compared": len(per_seed),
                    "seeds_below": sum(1 for x in per_seed if x < 1),
                    "min": round(min(per_seed), 4) if per_seed else None,
                    "max": round(max(per_seed), 4) if per_seed else None,
                    "bundled": _ratio([r for r in mine if r["seed"] == BUNDLED_SEED], title, baseline),
                }
        out.append(summary)
    return out


def render(summary: list[dict[str, Any]], first: int, seeds: int, overrides: dict[str, str]) -> str:
    options = "".join(f" --train-param {k}={v}" for k, v in overrides.items())
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.bench_samples --seeds {seeds} --first {first}{options}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: seen test queries, MRR@10 kwrec / baseline, pooled over "
        f"seeds {first}-{first + seeds - 1} (below: seeds where kwrec is under it; range: per seed; "
        f"bundled: seed {BUNDLED_SEED}, data/sample).",
        "",
        "| customer | seen test queries | figure | baseline | pooled | seeds below | range | bundled |",
        "|---|---:|---|---|---:|---:|---|---:|",
    ]
    for s in summary:
        for title in FIGURES.values():
            for baseline in BASELINES:
                cell = s[f"{title} vs {baseline}"]
                if cell["pooled"] is None:
                    continue  # mpc-floor: the floor does not act on this customer (no user ids)
                bundled = "-" if cell["bundled"] is None else cell["bundled"]
                lines.append(
                    f"| {s['customer']} | {s['seen_test_queries']:,} | {title} | {baseline} | "
                    f"{cell['pooled']} | {cell['seeds_below']} of {cell['seeds_compared']} | "
                    f"{cell['min']}-{cell['max']} | {bundled} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    ap.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    ap.add_argument(
        "--train-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a [train] parameter for every customer (e.g. half_life_days=3); repeatable",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    overrides = dict(_pair(p) for p in args.train_param)
    try:
        TrainParams.model_validate(overrides)
    except ValidationError as exc:
        raise SystemExit(f"--train-param: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-samples-") as tmp:
        for i, seed in enumerate(range(args.first, args.first + args.seeds), 1):
            rows += evaluate_seed(seed, Path(tmp), overrides)
            print(f"seed {seed}: done ({i}/{args.seeds})", file=sys.stderr, flush=True)
    summary = summarise(rows)
    out = {"seeds": rows, "summary": summary, "train_params": overrides}
    print(json.dumps(out) if args.json else render(summary, args.first, args.seeds, overrides))


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--train-param {text!r}: write NAME=VALUE, e.g. half_life_days=3")
    return name.strip(), value.strip()


if __name__ == "__main__":
    main()
