"""How autocomplete is evaluated offline: ``[evaluate]`` in kwrec.toml, ``KWREC_EVALUATE__*``.

One protocol for `kwrec evaluate` and for the evaluation `kwrec train` / `kwrec run` store in each
release, so the two report the same numbers for the same logs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EvaluateSettings(BaseModel):
    model_config = {"extra": "forbid"}

    test_fraction: float = Field(
        0.1, gt=0, lt=1, description="newest share of events held out as the test part"
    )
    prefixes: Literal["one", "all"] | int = Field(
        "one",
        description='prefixes typed per test query: "one" (its length drawn from a hash of the query, '
        'uniformly in [2, len-1] characters), "all" (every length 1..len-1) or N sampled lengths',
    )
    max_test_queries: int | None = Field(
        2000, ge=1, description="test queries sampled (seeded) from the test part; none: every one"
    )
    seed: int = Field(0, description="seed of the test-query and prefix samples")
