"""Search outcomes shape training: zero-result keywords are never suggested, clicks raise a keyword.

Logs go through the real pipeline (CSV ingest, preprocessing, training) and, for the issue's own
example, through the `kwrec train` and `kwrec suggest` commands.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from kwrec.cli.main import app
from kwrec.core.ingest import load_customer_config
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.core.preprocess import read_and_preprocess
from kwrec.settings import TrainParams
from tests.helpers import words

HEADER = ("timestamp", "user_id", "session_id", "query", "result_count", "clicked")
T0 = datetime(2026, 11, 1, tzinfo=UTC)

Search = tuple[str, int | None, int | None]  # query, result_count, clicked (None: the log has no value)


def write_logs(folder: Path, searches_per_user: list[Search], users: int, *, outcomes: bool = True) -> Path:
    """Each of ``users`` users makes the same searches, in order, five minutes apart."""
    folder.mkdir(parents=True)
    t = T0
    with (folder / "logs.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER if outcomes else HEADER[:4])
        for u in range(users):
            for query, results, clicked in searches_per_user:
                row = [t.isoformat(), f"user{u}", f"s{u}", query]
                if outcomes:
                    row += ["" if results is None else results, "" if clicked is None else clicked]
                w.writerow(row)
                t += timedelta(minutes=5)
    return folder


def train(folder: Path, tmp: Path, **params: object) -> CustomerModel:
    config = load_customer_config(folder)
    p = config.train_params(TrainParams(**params))  # type: ignore[arg-type]
    pre, _ = read_and_preprocess(folder, config, p, tmp / "quarantine.jsonl")
    meta = train_customer(pre.events, p, tmp / "artifact", customer=folder.name)
    return CustomerModel.open(tmp / "artifact", expected_checksum=meta["checksum"])


ISSUE_EXAMPLE: list[Search] = [
    ("노트북 파우치", 120, 1),
    ("노트북 가방 중고 없는상품", 0, 0),  # searched later: without outcomes it would rank first
]


def test_zero_result_query_is_never_suggested_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_logs(data / "shop", ISSUE_EXAMPLE, users=5)
    store = tmp_path / "store"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", str(data), "--store", str(store), "--no-evaluate"])
    assert trained.exit_code == 0, trained.output
    out = runner.invoke(app, ["suggest", "shop", "노트북", "--store", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert [s["keyword"] for s in json.loads(out.stdout)["suggestions"]] == ["노트북 파우치"]
    # Nor through any other door: popular, and the typed-out zero-result query itself.
    popular = runner.invoke(app, ["suggest", "shop", "--kind", "popular", "--store", str(store), "--json"])
    assert "없는상품" not in popular.stdout
    typed = runner.invoke(app, ["suggest", "shop", "노트북 가방", "--store", str(store)])
    assert "없는상품" not in typed.stdout


def test_without_outcome_columns_behaviour_is_unchanged(tmp_path: Path) -> None:
    folder = write_logs(tmp_path / "shop", ISSUE_EXAMPLE, users=5, outcomes=False)
    model = train(folder, tmp_path)
    # Both are suggested, as before outcomes were read; scores stay real numbers.
    assert sorted(words(model, "노트북")) == ["노트북 가방 중고 없는상품", "노트북 파우치"]
    assert all(math.isfinite(s.score) and s.score > 0 for s in model.autocomplete("노트북", 10))


def test_mostly_found_keyword_stays_and_the_threshold_is_configurable(tmp_path: Path) -> None:
    searches: list[Search] = [("청바지", 0, 0), ("청바지", 40, 1), ("청바지", 40, 0), ("청소기", 0, 0)]
    folder = write_logs(tmp_path / "shop", searches, users=4)
    assert words(train(folder, tmp_path / "a"), "청") == ["청바지"]  # one failed search in three: kept
    assert words(train(folder, tmp_path / "b", zero_result_max_share=0.2), "청") == []
    assert set(words(train(folder, tmp_path / "c", zero_result_max_share=1.0), "청")) == {"청바지", "청소기"}


def test_zero_result_threshold_from_the_customer_config(tmp_path: Path) -> None:
    folder = write_logs(tmp_path / "shop", ISSUE_EXAMPLE, users=5)
    (folder / "kwrec.toml").write_text("[train]\nzero_result_max_share = 1.0\n", encoding="utf-8")
    assert "노트북 가방 중고 없는상품" in words(train(folder, tmp_path), "노트북")


def test_clicks_raise_an_equally_popular_keyword(tmp_path: Path) -> None:
    # The same users search both; the unclicked one is searched a little later, so without clicks it
    # scores a little higher (recency). Clicks must outweigh that.
    searches: list[Search] = [("가습기 필터", 30, 1), ("가습기 세척", 30, 0)]
    folder = write_logs(tmp_path / "shop", searches, users=6)
    assert words(train(folder, tmp_path / "clicks"), "가습기") == ["가습기 필터", "가습기 세척"]
    without = train(folder, tmp_path / "no-clicks", click_weight=0.0)
    assert words(without, "가습기") == ["가습기 세척", "가습기 필터"]


def test_unknown_outcomes_count_as_no_evidence(tmp_path: Path) -> None:
    # Result counts missing on most rows: the share is over the rows that have one.
    searches: list[Search] = [("텀블러", None, None), ("텀블러", None, None), ("텀블러", 12, 1)]
    folder = write_logs(tmp_path / "shop", searches, users=3)
    assert words(train(folder, tmp_path), "텀") == ["텀블러"]
