"""Settings of live rules (``kwrec block`` / ``pin``): where serving replicas read them, how often.
``KWREC_RULES__*``; registered in the one Settings object as ``Settings.rules``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RulesSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(True, description="serving replicas apply live rules")
    store: str | None = Field(
        None,
        description="the store replicas read rules from (a directory or s3://...); default: `store`",
    )
    poll_seconds: float = Field(
        10.0, ge=0.5, le=300, description="how often a replica checks for new rules (one conditional read)"
    )
