"""`kwrec diff` on two releases of the sample customers whose changes are known (tests/review_releases.py)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwrec.adapters.stores import open_store
from kwrec.cli.main import app
from kwrec.core.release_diff import (
    CustomerDiff,
    diff_releases,
    list_change,
    open_model,
    overlap_at_k,
    rules_changes,
)
from kwrec.core.release_diff_page import render_page
from kwrec.core.rules import Rule
from kwrec.core.rules_store import block
from kwrec.core.store_layout import diff_key, diff_page_key
from kwrec.pipeline import records
from kwrec.pipeline.review import store_review
from kwrec.pipeline.steps import live_release
from tests.review_releases import BANNED, BURST, HOSTILE, NEW_CUSTOMER, TwoReleases, two_releases

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "diff.schema.json"


@pytest.fixture(scope="module")
def releases() -> TwoReleases:
    return two_releases()


def _by_customer(customers: list[CustomerDiff]) -> dict[str, CustomerDiff]:
    return {c.customer: c for c in customers}


def _all(diff: CustomerDiff, side: str) -> set[str]:
    """Every keyword that entered (or left) any compared prefix's suggestions."""
    return {k for p in diff.prefixes for k in getattr(p.change, side)}


def test_overlap_and_list_changes_rank_by_rank() -> None:
    assert overlap_at_k(["a", "b", "c"], ["c", "b", "a"]) == 1.0
    assert overlap_at_k(["a", "b"], ["a", "x", "y", "z"]) == 0.25
    assert overlap_at_k([], []) == 1.0 and overlap_at_k(["a"], []) == 0.0
    change = list_change(["a", "b", "c"], ["c", "a", "d"])
    assert change.entered == ["d"] and change.left == ["b"]
    assert [(m.keyword, m.old_rank, m.new_rank, m.change) for m in change.moved] == [
        ("c", 3, 1, 2),
        ("a", 1, 2, -1),
    ]
    assert not list_change(["a"], ["a"]).changed


def test_the_diff_reports_exactly_the_known_changes(releases: TwoReleases) -> None:
    diff = diff_releases(releases.store, releases.old, releases.new, releases.settings.cache_dir)
    got = _by_customer(diff.customers)
    assert {c: d.status for c, d in got.items()} == {
        "books-en": "retrained",
        "shop-kr": "retrained",
        "news-kr": "reused",
        NEW_CUSTOMER: "new",
    }
    shop = got["shop-kr"]  # the burst: enters trending and the answers of its prefixes, nothing else
    assert set(shop.trending.entered) == {BURST, HOSTILE} and not shop.popular.changed
    assert BURST in _all(shop, "entered") and _all(shop, "entered") <= {BURST, HOSTILE}
    # only the prefixes of the burst's queries changed (what they pushed out is all that left)
    assert shop.prefixes and all(
        BURST.startswith(p.prefix) or HOSTILE.startswith(p.prefix) for p in shop.prefixes
    )
    assert any(p.prefix == "비전프로" for p in shop.prefixes)
    old_keywords = int(releases.old.customers["shop-kr"].stats["keywords"])
    assert shop.keywords == (old_keywords, old_keywords + 2)  # BURST and HOSTILE
    assert 0.9 < (shop.stability or 0) < 1.0
    # books-en: the banned keyword and the keywords containing it leave, and so do completions made up
    # from their words ("chamber of secrets", which ended "harry potter and the chamber of secrets");
    # no other keyword
    books = got["books-en"]
    assert BANNED in books.popular.left
    left = _all(books, "left") | set(books.popular.left)
    old_books = open_model(releases.store, releases.old.customers["books-en"], releases.settings.cache_dir)
    assert BANNED in left and all(BANNED in k or old_books.exact_id(k) is None for k in left)
    assert sum(BANNED in k for k in left) >= 3
    assert books.prefixes[0].prefix.startswith("har")
    assert (
        books.metrics["mrr@10"][0]
        == releases.old.customers["books-en"].evaluation["autocomplete"][  # type: ignore[index]
            "kwrec/all"
        ]["mrr@10"]
    )
    news = got["news-kr"]  # reused: stability 1.0 without opening anything
    assert news.stability == 1.0 and news.prefixes == [] and not news.popular.changed
    mall = got[NEW_CUSTOMER]
    assert mall.stability is None and mall.keywords[0] is None and mall.keywords[1]
    assert [c.customer for c in diff.changed()] == ["books-en", NEW_CUSTOMER, "shop-kr"]


def test_diff_the_other_way_round_reports_a_removed_customer(releases: TwoReleases) -> None:
    diff = diff_releases(
        releases.store,
        releases.new,
        releases.old,
        releases.settings.cache_dir,
        customers=["shop-kr", NEW_CUSTOMER],
    )
    got = _by_customer(diff.customers)
    assert got[NEW_CUSTOMER].status == "removed"
    assert set(got["shop-kr"].trending.left) == {BURST, HOSTILE}
    assert BURST in _all(got["shop-kr"], "left") and _all(got["shop-kr"], "left") <= {BURST, HOSTILE}


def test_the_json_matches_its_documented_schema(releases: TwoReleases) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    diff = diff_releases(releases.store, releases.old, releases.new, releases.settings.cache_dir, prefixes=50)
    data = json.loads(json.dumps(diff.to_dict()))
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert data["prefixes"] == 50
    shop = next(c for c in data["customers"] if c["customer"] == "shop-kr")
    assert shop["prefixes_compared"] >= 50  # the 50 most-typed prefixes, plus golden queries
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict enough to catch a typo
        jsonschema.validate(
            {**data, "customers": [{**shop, "status": "retraind"}]}, json.loads(SCHEMA.read_text())
        )


def test_the_page_escapes_every_keyword(releases: TwoReleases) -> None:
    diff = diff_releases(releases.store, releases.old, releases.new, releases.settings.cache_dir)
    page = render_page(diff)
    assert HOSTILE not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for chart in ("chart-stability", "chart-mrr", "chart-keywords", "chart-movers"):
        assert f'id="{chart}"' in page


def test_the_cli_prints_a_table_json_and_writes_the_page(releases: TwoReleases, tmp_path: Path) -> None:
    cli = CliRunner(env={"KWREC_CACHE_DIR": str(tmp_path / "cache")})
    # OLD defaults to the release before NEW (nothing was deployed), NEW to the newest
    result = cli.invoke(app, ["diff", "--store", releases.settings.store, "--json", "--customer", "shop-kr"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["old"], data["new"]) == (releases.old.version, releases.new.version)
    assert [c["customer"] for c in data["customers"]] == ["shop-kr"]
    page = tmp_path / "review.html"
    result = cli.invoke(
        app,
        [
            "diff",
            releases.old.version,
            releases.new.version,
            "--store",
            releases.settings.store,
            "--html",
            str(page),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "books-en" in result.stdout and "retrained" in result.stdout and BURST in result.stdout
    assert page.read_text().startswith("<!DOCTYPE html>")
    result = cli.invoke(app, ["diff", "--store", releases.settings.store, "--customer", "nobody"])
    assert result.exit_code != 0 and "nobody" in result.stderr and "Traceback" not in result.stderr
    result = cli.invoke(app, ["diff", "gs_x", "--store", releases.settings.store])
    assert result.exit_code != 0 and "gs_x" in result.stderr and "Traceback" not in result.stderr


def test_the_release_step_stores_the_review_against_the_live_release(releases: TwoReleases) -> None:
    settings, store = releases.settings, releases.store
    target = settings.deploy.target_name()
    lease = records.acquire_lease(store, target, "docker", releases.old.version, "deploy", 60)
    records.set_live(store, target, "docker", lease, releases.old.version, {})
    try:
        live = live_release(settings, store)
        assert live is not None and live.version == releases.old.version
        lines: list[str] = []
        assert store_review(settings, store, releases.new.version, live, lines.append) is not None
        stored = json.loads(store.read_bytes(diff_key(releases.new.version)))
        assert stored["old"] == releases.old.version
        assert store.read_bytes(diff_page_key(releases.new.version)).startswith(b"<!DOCTYPE html>")
        # one line per changed customer, none for the reused one
        assert sorted(line.split(":")[1].strip() for line in lines) == ["books-en", NEW_CUSTOMER, "shop-kr"]
    finally:
        store.delete_prefix("targets")


def test_rule_changes_between_the_releases_are_listed(releases: TwoReleases, tmp_path: Path) -> None:
    store = open_store(
        str(tmp_path / "rules-store")
    )  # the rules history only: the releases' store stays clean
    rule = Rule(kind="block", customer="shop-kr", keyword="삼다수", reason="other", at=datetime.now(UTC))
    rules, _ = block(store, rule)
    old = releases.old.model_copy(update={"rules_version": None})
    new = releases.new.model_copy(update={"rules_version": rules.version})
    assert rules_changes(store, old, old, {"shop-kr"}) == []
    assert rules_changes(store, old, new, {"news-kr"}) == [f"rules version 0 -> {rules.version}"]
    lines = rules_changes(store, old, new, {"shop-kr"})
    assert lines[0] == f"rules version 0 -> {rules.version}" and "shop-kr: block '삼다수'" in lines[1]


def test_an_artifact_gone_from_the_store_is_one_clear_line(releases: TwoReleases, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(releases.settings.store, copy)
    shop = releases.old.customers["shop-kr"]
    shutil.rmtree(copy / shop.artifact_key)  # as `kwrec gc` leaves an old release
    cli = CliRunner(env={"KWREC_CACHE_DIR": str(tmp_path / "cache")})
    result = cli.invoke(app, ["diff", "--store", str(copy)])
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert f"cannot compare shop-kr: its artifact {shop.artifact[:12]}" in result.stderr
    # the other customers can still be compared
    result = cli.invoke(app, ["diff", "--store", str(copy), "--customer", "books-en", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["customers"][0]["status"] == "retrained"


def test_a_store_with_one_release_has_nothing_to_compare(releases: TwoReleases, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(releases.settings.store, copy, ignore=shutil.ignore_patterns(releases.new.version))
    result = CliRunner().invoke(app, ["diff", "--store", str(copy)])
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert f"no release before {releases.old.version}" in result.stderr and "pass OLD" in result.stderr
