"""The chain steps' typed results keep the serialised form of run.json, XCom and `kwrec run --json`.

The dictionaries below are what the flat-layout code (before typed results) wrote into run.json: a run
recorded then must resume now, and what this code writes must be the same shape.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kwrec.core.manifest import CustomerEntry, DeploymentRecord, ImageRecord, Manifest
from kwrec.pipeline.runner import ChainOutcome
from kwrec.pipeline.steps import RESULT_TYPES, STEPS, CustomerTraining, GateResult

DECISION = {
    "customer": "shop-kr",
    "action": "held back",
    "live_version": "gs_2611270900",
    "new_mrr": 0.4,
    "live_mrr": 0.7,
    "tolerance": 0.02,
    "prefixes": 120,
    "note": None,
}
OLD_RUN_RESULTS: dict[str, dict[str, Any]] = {
    "detect": {"customers": ["a", "b"], "changed": ["a"], "unchanged": ["b"], "problems": ["x: bad id"]},
    "train": {"trained": ["a"], "reused": ["b"], "failed": {}},
    "gate": {"decisions": [DECISION]},
    "release": {"trained": [], "reused": ["a", "b"], "failed": {}, "held_back": {"shop-kr": DECISION}},
    "build": {"id": "sha256:" + "1" * 64, "skipped": False, "uncached_steps": 3},
    "push": {"digest": "sha256:" + "2" * 64, "reference": "r/k@sha256:" + "2" * 64, "skipped": False},
    "deploy": {"target": "docker", "kind": "docker", "url": "http://127.0.0.1:8000", "previous": None},
    "verify": {"ok": True, "summary": "12 checks passed"},
}
OLD_RUN_RESULTS["deploy"]["skipped"] = True


@pytest.mark.parametrize("step", STEPS)
def test_an_old_run_record_reads_back_and_writes_the_same(step: str) -> None:
    result = RESULT_TYPES[step].from_dict(OLD_RUN_RESULTS[step])
    assert result.to_dict() == OLD_RUN_RESULTS[step]
    assert isinstance(result.detail(), str)


def test_a_skipped_build_has_no_step_count() -> None:
    skipped = RESULT_TYPES["build"].from_dict({"id": "sha256:1", "skipped": True})
    assert skipped.to_dict() == {"id": "sha256:1", "skipped": True}


def test_the_outcome_takes_each_steps_result() -> None:
    out = ChainOutcome("gs_2611270900", "2611270900")
    for step in STEPS:
        out.absorb(RESULT_TYPES[step].from_dict(OLD_RUN_RESULTS[step]))
    assert out.reused == ["a", "b"] and out.held_back == {"shop-kr": DECISION}
    assert out.image_id == OLD_RUN_RESULTS["build"]["id"]
    assert out.reference == OLD_RUN_RESULTS["push"]["reference"]
    assert out.target == "docker" and out.verified and out.verification == "12 checks passed"
    gate = GateResult.from_dict(OLD_RUN_RESULTS["gate"])
    assert gate.decisions[0].held_back and "held back" in gate.detail()


def test_a_training_tasks_xcom_round_trips() -> None:
    entry = CustomerEntry(
        status="trained",
        input_fingerprint="f",
        artifact="c" * 64,
        artifact_key="artifacts/a/" + "c" * 64,
        trained_in="gs_2611270900",
        params={},
        stats={"keywords": 3},
    )
    for item in (CustomerTraining("a", entry), CustomerTraining("b", failed="no usable event")):
        data = json.loads(json.dumps(item.to_dict()))  # XCom carries JSON
        assert CustomerTraining.from_dict(data) == item
    assert CustomerTraining("b", failed="x").to_dict() == {"customer": "b", "failed": "x"}


def test_manifest_records_keep_exactly_the_keys_they_were_written_with() -> None:
    """An image record before its first push has no digest key; one written by a newer field set keeps it."""
    old = {
        "version": "gs_2611270900",
        "model_name": "gs",
        "timestamp": "2611270900",
        "created": "2026-11-27T09:00:00+00:00",
        "code_version": "0.1.0",
        "customers": {},
        "failed": {},
        "problems": [],
        "image": {"repository": "keyword-dev", "tag": "2611270900", "id": "sha256:1", "pushes": [], "x": 1},
        "deployments": [
            {
                "id": "d1",
                "target": "docker",
                "kind": "docker",
                "action": "deploy",
                "started": "t0",
                "finished": "t1",
                "image": "sha256:1",
                "digest": None,
                "outcome": "retired",
                "reason": "deploy to gs_2611280900",
                "details": {"container": "kwrec-docker-gs_2611270900"},
                "ended": "t2",
            }
        ],
    }
    raw = json.dumps(old, ensure_ascii=False, indent=1, sort_keys=True).encode()
    manifest = Manifest.model_validate_json(raw)
    assert manifest.to_bytes() == raw
    assert isinstance(manifest.image, ImageRecord) and manifest.image.digest is None
    assert isinstance(manifest.deployments[0], DeploymentRecord) and manifest.deployments[0].ended == "t2"
    manifest.image.digest = "sha256:2"  # set later (a push): now it is serialised
    assert json.loads(manifest.to_bytes())["image"]["digest"] == "sha256:2"
