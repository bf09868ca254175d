"""Shared fixtures: one trained release of the bundled sample data for the whole test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import OpenedRelease, open_release
from kwrec.pipeline.train import TrainOutcome, train_release
from kwrec.settings import Settings

pytest_plugins = ["tests.fixtures_moto"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED = REPO.parent / "shared"
SAMPLE_TS = "2611270900"


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainOutcome]:
    root = tmp_path_factory.mktemp("sample-store")
    settings = Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=SAMPLE)
    outcome = train_release(settings, open_store(settings.store), timestamp=SAMPLE_TS, evaluate=True)
    return settings, outcome


@pytest.fixture(scope="session")
def sample_release(sample_store: tuple[Settings, TrainOutcome]) -> OpenedRelease:
    settings, _ = sample_store
    return open_release(open_store(settings.store), None, settings.cache_dir)
