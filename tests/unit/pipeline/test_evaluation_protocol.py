"""One evaluation protocol: `kwrec evaluate` and the evaluation stored by training agree; the baseline
(most-popular completion) is shown next to kwrec wherever quality is shown, and falling below it is said."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from kwrec.adapters.stores import open_store
from kwrec.cli.main import app
from kwrec.core.evaluation import Equivalence, evaluate_events, prefixes_of, query_prefix, versus_mpc
from kwrec.core.gate import GatePolicy, decide
from kwrec.core.manifest import read_manifest, write_manifest
from kwrec.pipeline.deploy import releases_rows
from kwrec.pipeline.train import TrainOutcome
from kwrec.settings import Settings, TrainParams
from kwrec.settings.evaluate import EvaluateSettings
from tests.conftest import SAMPLE
from tests.helpers import events_frame, popular_by, train_model

runner = CliRunner()
POLICY = GatePolicy(tolerance=0.02, test_fraction=0.1, prefixes_per_query=3, max_test_queries=2000)


def test_one_prefix_per_query_is_a_pure_function_of_the_query() -> None:
    assert query_prefix("ab") is None and query_prefix("") is None
    assert query_prefix("abc") == "ab"  # the only length in [2, len-1]
    query = "new york times"
    assert query_prefix(query) == query_prefix(query)  # no state, no seed: every system gets the same
    lengths: Counter[int] = Counter()
    for i in range(3000):
        q = f"query number {i:05d} x"  # 20 characters: lengths 2..19
        p = query_prefix(q)
        assert p is not None and q.startswith(p) and not p.endswith(" ")
        lengths[len(q[: len(p)])] += 1
    # Uniform over [2, 19] (trailing spaces stripped move a few to the length before the space).
    assert min(lengths) >= 2 and max(lengths) <= 19
    assert len([n for n in lengths.values() if n > 100]) >= 14
    assert prefixes_of("abcd", "all", random.Random(0)) == ["a", "ab", "abc"]
    assert len(prefixes_of("abcdefgh", 2, random.Random(0))) == 2


def test_equivalent_forms_are_the_models_own(tmp_path: Path) -> None:
    model = train_model(
        tmp_path,
        popular_by("dish network", 9, prefix="a")
        + popular_by("dishnetwork", 3, prefix="b")
        + popular_by("samsung galaxy", 40, prefix="c")
        + popular_by("samsugn galaxy", 2, prefix="d"),  # a typo merged into the popular form
    )
    same = Equivalence(model)
    assert same.rank(["dish network", "x"], "dishnetwork") == 1
    assert same.rank(["x", "samsung galaxy"], "samsugn galaxy") == 2
    assert same.rank(["samsung galaxy"], "dish network") is None
    # The typo is not suggested, but the whole query still finds its keyword (e.g. for related).
    assert model.exact_id("samsugn galaxy") == model.exact_id("samsung galaxy") is not None


def test_evaluate_agrees_with_the_evaluation_training_stored(
    sample_store: tuple[Settings, TrainOutcome], tmp_path: Path
) -> None:
    _, outcome = sample_store
    config = tmp_path / "kwrec.toml"
    config.write_text(f'cache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    result = runner.invoke(
        app, ["evaluate", "--data", str(SAMPLE), "--customer", "shop-kr", "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    (evaluated,) = json.loads(result.stdout)
    stored = outcome.manifest.customers["shop-kr"].evaluation
    assert stored is not None
    assert evaluated["protocol"] == stored["protocol"]
    assert evaluated["test_queries"] == stored["test_queries"]
    assert evaluated["autocomplete"] == stored["autocomplete"]
    assert evaluated["autocomplete_equivalent"] == stored["autocomplete_equivalent"]
    # Options that change the protocol are said to make the numbers differ.
    other = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            str(SAMPLE),
            "--customer",
            "shop-kr",
            "--config",
            str(config),
            "--all-prefixes",
        ],
    )
    assert other.exit_code == 0, other.output
    assert "every prefix" in other.stdout and "NOT the same as" in other.stdout


def test_gate_decision_says_when_the_candidate_is_below_mpc() -> None:
    scores = {
        "live_version": "gs_2611270900",
        "new_mrr": 0.61,
        "live_mrr": 0.6,
        "mpc_mrr": 0.66,
        "prefixes": 900,
    }
    decision = decide("shop-kr", scores, POLICY)
    assert decision.action == "accepted" and decision.below_mpc
    assert "MPC 0.66" in decision.describe() and "BELOW" in decision.describe()
    fine = decide("shop-kr", {**scores, "mpc_mrr": 0.5}, POLICY)
    assert not fine.below_mpc and "BELOW" not in fine.describe()
    # Where the privacy floor acts, the decision also says what MPC scores when held to it.
    floored = decide("shop-kr", {**scores, "mpc_floor_mrr": 0.6}, POLICY)
    assert floored.describe().endswith(
        "BELOW the most-popular-completion baseline (held to the privacy floor, MPC 0.6)"
    )
    assert floored.to_dict()["mpc_floor_mrr"] == 0.6 and "mpc_floor_mrr" not in decision.to_dict()


def test_releases_show_mpc_and_flag_customers_below_it(
    sample_store: tuple[Settings, TrainOutcome], tmp_path: Path
) -> None:
    settings, outcome = sample_store
    store = open_store(str(tmp_path / "store"))
    manifest = read_manifest(open_store(settings.store), outcome.manifest.version)
    # A copy of the release in which only books-en scored below the baseline on its test prefixes.
    customers = {}
    for name, entry in manifest.customers.items():
        assert entry.evaluation is not None
        auto = json.loads(json.dumps(entry.evaluation["autocomplete"]))
        auto["kwrec/all"]["mrr@10"], auto["mpc/all"]["mrr@10"] = (
            (0.5, 0.7) if name == "books-en" else (0.8, 0.6)
        )
        customers[name] = entry.model_copy(update={"evaluation": {**entry.evaluation, "autocomplete": auto}})
    copy = manifest.model_copy(update={"customers": customers})
    write_manifest(store, copy)
    (row,) = releases_rows(store)
    assert row["below_mpc"] == ["books-en"]
    assert row["mpc_mrr@10"]["books-en"] == 0.7 and row["mrr@10"]["books-en"] == 0.5
    # MPC held to the privacy floor where it acts: books-en and shop-kr have user ids, news-kr has none.
    floor = customers["books-en"].evaluation["autocomplete"]["mpc-floor/all"]["mrr@10"]
    assert row["mpc_floor_mrr@10"] == {
        c: customers[c].evaluation["autocomplete"]["mpc-floor/all"]["mrr@10"] for c in ("books-en", "shop-kr")
    }
    shown = runner.invoke(app, ["releases", "--store", str(tmp_path / "store")])
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.stdout.split())
    below = f"books-en (0.5 < 0.7; held to the privacy floor, MPC {floor})"
    assert f"below the most-popular-completion baseline: {below}" in said


def test_evaluate_leaves_out_the_live_blocks_training_leaves_out(tmp_path: Path) -> None:
    # A keyword blocked live is left out of training; `kwrec evaluate` on the same store must leave it
    # out as well, or its numbers are of another model than the one released.
    data = tmp_path / "data"
    (data / "shop-kr").mkdir(parents=True)
    for f in (SAMPLE / "shop-kr").iterdir():
        (data / "shop-kr" / f.name).write_bytes(f.read_bytes())
    config = tmp_path / "kwrec.toml"
    config.write_text(
        f'store = "{tmp_path / "store"}"\ncache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8"
    )
    common = ["--config", str(config)]
    done = runner.invoke(
        app, ["block", "shop-kr", "아이폰", "--match", "contains", "--reason", "other", *common]
    )
    assert done.exit_code == 0, done.output
    trained = runner.invoke(app, ["train", "--data", str(data), *common, "--json"])
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["version"]
    stored = read_manifest(open_store(str(tmp_path / "store")), version).customers["shop-kr"].evaluation
    assert stored is not None
    result = runner.invoke(app, ["evaluate", "--data", str(data), *common, "--json"])
    assert result.exit_code == 0, result.output
    (evaluated,) = json.loads(result.stdout)
    assert evaluated["autocomplete"] == stored["autocomplete"]
    assert evaluated["test_queries"] == stored["test_queries"]
    assert "leaving out 1 live block(s)" in result.stderr
    # Without the store's rules the numbers are another model's: the block is what made them agree.
    bare = tmp_path / "bare.toml"
    bare.write_text(f'store = "{tmp_path / "none"}"\ncache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    other = runner.invoke(app, ["evaluate", "--data", str(data), "--config", str(bare), "--json"])
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)[0]["autocomplete"] != stored["autocomplete"]


def test_mpc_held_to_the_privacy_floor_is_scored_beside_plain_mpc() -> None:
    """One person's repeated search is what plain MPC suggests and kwrec may not: the floored baseline
    shows that share of a gap, and is absent where the floor does not act."""
    solo = [(float(h), "solo", f"solo-{h}", "nintendo switch") for h in range(8)]
    solo.append((9.0, None, None, "nintendo switch"))  # no user id: nobody, not a second person
    train = solo + popular_by("nintendo ds", 4, hour=2) + popular_by("zelda", 8, hour=3, prefix="z")
    test = [(100.0, "solo", "s-t1", "nintendo switch"), (101.0, "solo", "s-t2", "nintendo switch")]
    test += [(102.0, "d0", "d-t", "nintendo ds")]
    events = events_frame(train + test)
    protocol = EvaluateSettings(test_fraction=0.13, prefixes="all", max_test_queries=None)

    floored = evaluate_events(events, TrainParams(min_users=2), customer="t", protocol=protocol)
    assert floored["test_events"] == 3 and floored["min_users"] == 2
    auto = floored["autocomplete"]
    plain, held, ours = auto["mpc/seen"], auto["mpc-floor/seen"], auto["kwrec/seen"]
    assert plain["prefixes"] == held["prefixes"] == ours["prefixes"]
    # MPC completes "nintendo s..." with the one person's query; neither kwrec nor the floored MPC may.
    assert plain["mrr@10"] > held["mrr@10"] > 0
    assert ours["mrr@10"] == held["mrr@10"]
    assert versus_mpc(floored)["seen"] < 1 and versus_mpc(floored, baseline="mpc-floor")["seen"] == 1

    open_floor = evaluate_events(events, TrainParams(min_users=1), customer="t", protocol=protocol)
    assert open_floor["min_users"] == 1 and "mpc-floor/seen" not in open_floor["autocomplete"]
    assert versus_mpc(open_floor, baseline="mpc-floor") == {"all": None, "seen": None}
    # With the floor off kwrec may show the one person's query too.
    assert open_floor["autocomplete"]["kwrec/seen"]["mrr@10"] > held["mrr@10"]
