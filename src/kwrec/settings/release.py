"""Settings of how a release is cut into shards: ``[release]`` in kwrec.toml, ``KWREC_RELEASE__*``.

A shard is a group of customers that gets its own image (tag) and its own serving container (docker
target) or ECS service (ecs target). Registered in the one Settings object as ``Settings.release``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

#: overlay2 refuses an image deeper than ~125 layers; the base, venv and code take about 10.
MAX_MODEL_LAYERS = 100


class ReleaseSettings(BaseModel):
    model_config = {"extra": "forbid"}

    shards: int = Field(
        1,
        ge=1,
        le=999,
        description="fewest shards a release is cut into (more when a shard budget is exceeded)",
    )
    max_customers_per_shard: int = Field(
        100, ge=1, description="a shard holds at most this many customers; new customers open a new shard"
    )
    max_model_bytes_per_shard: int | None = Field(
        None, ge=1, description="a shard's model files stay under this many bytes (None: no byte budget)"
    )
    model_layers: int = Field(
        MAX_MODEL_LAYERS,
        ge=1,
        le=MAX_MODEL_LAYERS,
        description="most model layers in one image: one per customer up to this, then stable groups",
    )
    rebalance: bool = Field(
        False, description="recompute every customer's shard (otherwise a customer keeps its shard)"
    )
