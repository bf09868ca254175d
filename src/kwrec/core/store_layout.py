"""Where everything lives in an artifact store: the one place that spells out store keys.

  artifacts/<customer>/<checksum>/...          content-addressed model files (checksum = sha256 of meta.json)
  artifacts/<customer>/by-input/<input key>    -> the artifact trained from those exact inputs and parameters
  artifacts/<customer>/corrupt/<checksum>-<when>  a corrupt artifact moved aside, with its reason.json
  releases/<version>/manifest.json             the release manifest
  releases/<version>/run.json                  which steps of the release chain finished (resumable runs)
  releases/<version>/gate.json                 the quality gate's decisions
  releases/<version>/diff.json, diff.html      the release review against the release live before it
  releases/<version>/quarantine/<customer>.jsonl  rows rejected at ingest, with reasons
  targets/<target>.json                        what is live on a deploy target, its rollback stack, its lease
  locks/release-chain.json                     the one-chain-at-a-time lock

Every identifier is validated before it becomes part of a key.
"""

from __future__ import annotations

from kwrec.ids import validate_customer, validate_version

ARTIFACTS = "artifacts"
RELEASES = "releases"
TARGETS = "targets"
MANIFEST_FILE = "manifest.json"
RUN_LOCK = "locks/release-chain.json"


def artifact_key(customer: str, checksum: str) -> str:
    return f"{ARTIFACTS}/{validate_customer(customer)}/{checksum}"


def input_index_prefix(customer: str) -> str:
    return f"{ARTIFACTS}/{validate_customer(customer)}/by-input"


def input_index_key(customer: str, input_key: str) -> str:
    return f"{input_index_prefix(customer)}/{input_key}"


def corrupt_artifact_prefix(customer: str, checksum: str, when: str) -> str:
    return f"{ARTIFACTS}/{validate_customer(customer)}/corrupt/{checksum}-{when}"


def release_prefix(version: str) -> str:
    return f"{RELEASES}/{validate_version(version)}"


def manifest_key(version: str) -> str:
    return f"{release_prefix(version)}/{MANIFEST_FILE}"


def run_record_key(version: str) -> str:
    return f"{release_prefix(version)}/run.json"


def gate_key(version: str) -> str:
    return f"{release_prefix(version)}/gate.json"


def diff_key(version: str) -> str:
    return f"{release_prefix(version)}/diff.json"


def diff_page_key(version: str) -> str:
    return f"{release_prefix(version)}/diff.html"


def quarantine_key(version: str, customer: str) -> str:
    return f"{release_prefix(version)}/quarantine/{validate_customer(customer)}.jsonl"


def target_key(target: str) -> str:
    return f"{TARGETS}/{target}.json"
