"""The shipped Grafana dashboard and Prometheus alert rules (deploy/): valid for promtool, the model-age
and empty-answer alerts fire in promtool's own rule tests, and every metric (and every fixed label value)
they select is one a real `kwrec serve` exports on /metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_server import Server, run_server, trained_store

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "kwrec-rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "kwrec-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "kwrec.json"
# A metric and its matchers; a quoted value may hold braces (endpoint="/v1/{customer}/autocomplete").
SELECTOR = re.compile(r'\b(kwrec_[a-z_]+)(?:\{((?:[^}"]|"[^"]*")*)\})?')
MATCHER = re.compile(r'(\w+)\s*=\s*"([^"$]*)"')  # equality with a literal value (not =~, not a $variable)


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run scripts/setup-test-env.sh (scripts/ensure-promtool.sh)"
    return found


def _rule_exprs() -> list[str]:
    # The rules file is YAML; its expressions are the `expr:` values (one line or a `|` block).
    text = RULES.read_text()
    exprs: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            current = [] if m.group(2) == "|" else None
            if current is None:
                exprs.append(m.group(2))
            else:
                exprs.append("")
            continue
        if current is not None:
            if re.match(r"^\s*(for|labels|annotations):", line):
                current = None
            else:
                exprs[-1] += line.strip() + " "
    return [e for e in exprs if e.strip()]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_rule_tests_fire_the_alerts() -> None:
    # Model age past 36 h fires KwrecModelStale (and not before); a customer with mostly empty answers fires
    # KwrecManyEmptyAnswers, one with too little traffic does not; a short not-ready blip does not page.
    result = subprocess.run(
        [_promtool(), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_exprs_were_all_read() -> None:
    exprs = _rule_exprs()
    assert len(exprs) == 8 and all("kwrec_" in e or "up{" in e for e in exprs), exprs


def test_dashboard_is_importable_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "kwrec-serving" and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for needed in ("zero-suggestion", "suggestions per answer", "model age", "cache hit", "latency", "5xx"):
        assert needed in titles, needed


@pytest.fixture(scope="module")
def exported() -> Iterator[dict[str, set[tuple[str, str]]]]:
    """Metric sample names of a real server after answering every kind -> the (label, value) pairs seen."""
    with run_server(trained_store()) as srv:
        _exercise(srv)
        text = srv.get("/metrics").text
    samples: dict[str, set[tuple[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels.items())
    yield samples


def _exercise(srv: Server) -> None:
    for kind in ("autocomplete", "related"):
        assert srv.get(f"/v1/alpha-kr/{kind}", q="아이").status_code == 200
        srv.get(f"/v1/alpha-kr/{kind}", q="아이")
    assert srv.get("/v1/alpha-kr/autocomplete", q="zzqqxx").json()["suggestions"] == []
    for kind in ("popular", "trending"):
        assert srv.get(f"/v1/alpha-kr/{kind}").status_code == 200


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_referenced_metric_is_exported(source: str, exported: dict[str, set[tuple[str, str]]]) -> None:
    exprs = _rule_exprs() if source == "rules" else _dashboard_exprs()
    referenced = 0
    for expr in exprs:
        for name, matchers in SELECTOR.findall(expr):
            referenced += 1
            assert name in exported, f"{source} use {name}, which /metrics does not export"
            for label, value in MATCHER.findall(matchers or ""):
                if label == "job":  # added by Prometheus at scrape time
                    continue
                assert (label, value) in exported[name], f"{source}: no {name} sample with {label}={value!r}"
    assert referenced >= 8
