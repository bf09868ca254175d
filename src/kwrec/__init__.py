"""kwrec: search-keyword recommendations, retrained and released as a verified service every day.

The names in ``__all__`` are the library's public API: what the Airflow DAG and a library user import.
They load on first use, so ``import kwrec`` (and the serving process) pays only for what it touches.
The tree is layered (see README "Architecture"): ``kwrec.core`` (no outside systems), ``kwrec.adapters``
(one module per outside system), ``kwrec.pipeline`` (the release chain), and the shells ``kwrec.cli``
and ``kwrec.api``; ``kwrec.errors``, ``kwrec.ids``, ``kwrec.settings`` and ``kwrec.reporting`` serve all.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("kwrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: Bumped whenever the on-disk artifact layout or the training algorithm changes, so that an artifact
#: trained by older code is never reused as if it were current.
ARTIFACT_FORMAT = 4

#: Bumped whenever reading, preprocessing or training turns the same inputs into a different artifact
#: in the same layout (a parse mended, a form read that was refused, a key the look-up finds more by).
#: Reuse is keyed by it, so a customer whose files did not change is still trained again by the kwrec
#: that would train them differently; unlike ARTIFACT_FORMAT, older artifacts stay readable.
TRAINING_REVISION = 4

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # settings and identifiers
    "Settings": "kwrec.settings",
    "TrainParams": "kwrec.settings",
    "load_settings": "kwrec.settings",
    "make_version": "kwrec.ids",
    "validate_customer": "kwrec.ids",
    "validate_version": "kwrec.ids",
    # errors
    "KwrecError": "kwrec.errors",
    "ConfigError": "kwrec.errors",
    "DataError": "kwrec.errors",
    "ArtifactError": "kwrec.errors",
    "StoreError": "kwrec.errors",
    "ReleaseNotFoundError": "kwrec.errors",
    "ChainStepError": "kwrec.errors",
    "DeployError": "kwrec.errors",
    "is_retryable": "kwrec.errors",
    "CUSTOMER_INPUT_ERRORS": "kwrec.errors",
    # the core
    "ArtifactStore": "kwrec.core.store",
    "CustomerEntry": "kwrec.core.manifest",
    "Manifest": "kwrec.core.manifest",
    "OpenedRelease": "kwrec.core.manifest",
    "read_manifest": "kwrec.core.manifest",
    "list_versions": "kwrec.core.manifest",
    "open_release": "kwrec.core.manifest",
    "list_customers": "kwrec.core.ingest",
    "GateDecision": "kwrec.core.gate",
    # adapters
    "open_store": "kwrec.adapters.stores",
    # the pipeline
    "train_release": "kwrec.pipeline.train",
    "open_data": "kwrec.pipeline.train",
    "build_release_image": "kwrec.pipeline.image",
    "push_release_image": "kwrec.pipeline.image",
    "deploy_release": "kwrec.pipeline.deploy",
    "rollback": "kwrec.pipeline.deploy",
    "verify_live": "kwrec.pipeline.deploy",
    "gc": "kwrec.pipeline.deploy",
    "RunLock": "kwrec.pipeline.lock",
    "release_owned": "kwrec.pipeline.lock",
    "CustomerTraining": "kwrec.pipeline.steps",
    "detect_changes": "kwrec.pipeline.steps",
    "train_customer_step": "kwrec.pipeline.steps",
    "TrainingDay": "kwrec.pipeline.steps",
    "gate_step": "kwrec.pipeline.steps",
    "release_step": "kwrec.pipeline.steps",
    "build_step": "kwrec.pipeline.steps",
    "push_step": "kwrec.pipeline.steps",
    "deploy_step": "kwrec.pipeline.steps",
    "verify_step": "kwrec.pipeline.steps",
    "run_chain": "kwrec.pipeline.runner",
    "compare_releases": "kwrec.pipeline.review",
    "ReleaseDiff": "kwrec.core.release_diff",
    "ChainOutcome": "kwrec.pipeline.runner",
}

__all__ = [
    "ARTIFACT_FORMAT",
    "CUSTOMER_INPUT_ERRORS",
    "ArtifactError",
    "ArtifactStore",
    "ChainOutcome",
    "ChainStepError",
    "ConfigError",
    "CustomerEntry",
    "CustomerTraining",
    "DataError",
    "DeployError",
    "GateDecision",
    "KwrecError",
    "Manifest",
    "OpenedRelease",
    "ReleaseDiff",
    "ReleaseNotFoundError",
    "RunLock",
    "Settings",
    "StoreError",
    "TrainParams",
    "TrainingDay",
    "__version__",
    "build_release_image",
    "build_step",
    "compare_releases",
    "deploy_release",
    "deploy_step",
    "detect_changes",
    "gate_step",
    "gc",
    "is_retryable",
    "list_customers",
    "list_versions",
    "load_settings",
    "make_version",
    "open_data",
    "open_release",
    "open_store",
    "push_release_image",
    "push_step",
    "read_manifest",
    "release_owned",
    "release_step",
    "rollback",
    "run_chain",
    "train_customer_step",
    "train_release",
    "validate_customer",
    "validate_version",
    "verify_live",
    "verify_step",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kwrec' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see; the names above load lazily at run time
    from kwrec.adapters.stores import open_store
    from kwrec.core.gate import GateDecision
    from kwrec.core.ingest import list_customers
    from kwrec.core.manifest import (
        CustomerEntry,
        Manifest,
        OpenedRelease,
        list_versions,
        open_release,
        read_manifest,
    )
    from kwrec.core.release_diff import ReleaseDiff
    from kwrec.core.store import ArtifactStore
    from kwrec.errors import (
        CUSTOMER_INPUT_ERRORS,
        ArtifactError,
        ChainStepError,
        ConfigError,
        DataError,
        DeployError,
        KwrecError,
        ReleaseNotFoundError,
        StoreError,
        is_retryable,
    )
    from kwrec.ids import make_version, validate_customer, validate_version
    from kwrec.pipeline.deploy import deploy_release, gc, rollback, verify_live
    from kwrec.pipeline.image import build_release_image, push_release_image
    from kwrec.pipeline.lock import RunLock, release_owned
    from kwrec.pipeline.review import compare_releases
    from kwrec.pipeline.runner import ChainOutcome, run_chain
    from kwrec.pipeline.steps import (
        CustomerTraining,
        TrainingDay,
        build_step,
        deploy_step,
        detect_changes,
        gate_step,
        push_step,
        release_step,
        train_customer_step,
        verify_step,
    )
    from kwrec.pipeline.train import train_release
    from kwrec.settings import Settings, TrainParams, load_settings
