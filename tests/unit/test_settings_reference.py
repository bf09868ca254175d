"""docs/settings.md is the settings models, rendered: every key documented, and never stale."""

from __future__ import annotations

from pathlib import Path

from kwrec.cli.reference import COMMAND, render, sections
from kwrec.core.ingest.customer_config import ColumnMap, CustomerConfig
from kwrec.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_docs_settings_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/settings.md is stale: run `{COMMAND}`"


def test_every_key_is_documented_with_a_description() -> None:
    text = render()
    models = [*(m for _, m in sections(Settings)), CustomerConfig, ColumnMap]
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description and not hasattr(field.annotation, "model_fields")
    ]
    assert not undocumented, "add Field(description=...) to: " + ", ".join(undocumented)
    for env in ("KWREC_TRAIN__MIN_USERS", "KWREC_IMAGE__REGISTRY__PASSWORD", "KWREC_LOG__FORMAT"):
        assert f"`{env}`" in text
    for key in ("delimiter", "names", "timestamp_format", "encoding", "[columns]"):
        assert key in text
