"""The one typed settings object: defaults < ``kwrec.toml`` < ``KWREC_*`` environment variables.

Nested sections use ``__`` in environment variables, e.g. ``KWREC_TRAIN__MIN_USERS=3``.
Nothing secret belongs here in plain form: registry passwords are read from the environment only
(``SecretStr``), so they never appear in a repr, a log line or a manifest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kwrec.errors import ConfigError, KwrecError
from kwrec.ids import validate_model_name
from kwrec.settings.deploy import DeploySettings
from kwrec.settings.evaluate import EvaluateSettings
from kwrec.settings.image import ImageSettings
from kwrec.settings.log import LogSettings
from kwrec.settings.problems import invalid, parse_toml
from kwrec.settings.release import ReleaseSettings
from kwrec.settings.rules import RulesSettings
from kwrec.settings.run import RunSettings


class TrainParams(BaseModel):
    """Training parameters. A customer's own ``kwrec.toml`` may override any of them."""

    model_config = {"extra": "forbid"}

    min_users: int = Field(2, ge=1, description="distinct users before a keyword may be suggested")
    half_life_days: float = Field(14.0, gt=0, description="popularity half-life, from the newest event")
    window_days: float | None = Field(90.0, gt=0, description="training window ending at the newest event")
    max_query_chars: int = Field(
        100, ge=1, le=1000, description="longer queries (after normalisation) are dropped from training"
    )
    max_line_bytes: int = Field(
        4096,
        ge=64,
        description="a query longer than this (in bytes, as read) is quarantined; so is any text line "
        "over 1 MiB, or over this if larger",
    )
    repeat_collapse_seconds: int = Field(60, ge=0, description="same user, same query within this: one event")
    session_gap_minutes: int = Field(
        30, ge=1, description="a pause longer than this starts a new session (related keywords)"
    )
    bot_max_events_per_day: int = Field(2000, ge=1, description="a user above this on any day is a bot")
    bot_max_distinct_per_minute: int = Field(
        30, ge=1, description="distinct queries a minute above this: bot"
    )
    topk: int = Field(50, ge=1, le=200, description="suggestions stored per prefix (the API's max limit)")
    heavy_prefix_threshold: int = Field(
        64, ge=1, description="prefixes with more entries get precomputed top-k"
    )
    infix: bool = Field(True, description="match the start of any word (케이스 -> 아이폰 케이스)")
    synthesize: bool = Field(True, description="complete unseen queries from popular word-level suffixes")
    fuzzy: bool = Field(True, description="tolerate one typo (counted in jamo) when exact matches run short")
    zero_result_max_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a keyword whose searches returned zero results more often than this share is never "
        "suggested (needs a result_count column; 1 turns it off)",
    )
    click_weight: float = Field(
        1.0,
        ge=0,
        description="a keyword's score is multiplied by 1 + click_weight x its click-through rate "
        "(needs a clicked column; 0 turns it off)",
    )
    related_min_support: int = Field(2, ge=1, description="sessions a pair must share")
    related_max_per_keyword: int = Field(50, ge=1, description="related keywords stored per keyword")
    related_max_session_keywords: int = Field(
        30, ge=2, description="longer sessions are cut (bots, scrapers)"
    )
    popular_days: float = Field(
        7.0, gt=0, description="popular keywords count the last this many days before the newest event"
    )
    trending_recent_days: float = Field(1.0, gt=0, description="trending compares this recent window ...")
    trending_previous_days: float = Field(7.0, gt=0, description="... with this many days before it")
    trending_min_users: int = Field(
        3, ge=1, description="distinct users in the recent window before a keyword may trend"
    )
    golden_per_kind: int = Field(
        3, ge=1, le=20, description="golden queries recorded per kind for verification"
    )

    def users_floor(self, has_users: bool) -> int:
        """``min_users`` for a log with user ids; 1 for one without, where every search is counted as
        its own person and no floor can tell people apart."""
        return self.min_users if has_users else 1


class S3Settings(BaseModel):
    model_config = {"extra": "forbid"}

    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto); default: AWS")
    region: str = Field("us-east-1", description="AWS region of the S3 bucket")


class ServeSettings(BaseModel):
    model_config = {"extra": "forbid"}

    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the API listens on")
    workers: int = Field(
        1, ge=1, le=64, description="API worker processes (they share the memory-mapped models)"
    )
    model_version: str | None = Field(None, description="release to serve (default: the newest at start-up)")
    uds: str | None = Field(
        None, description="also listen on this unix socket (the docker target's proxy connects through it)"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="client sites allowed to call the API from their pages (e.g. https://shop.example)",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KWREC_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    # One folder (or key prefix) per customer: a local path or s3://bucket/prefix.
    data_dir: Path | str = Field(
        Path("data/sample"),
        description="one folder (or key prefix) of logs per customer: a directory or s3://bucket/prefix",
    )
    store: str = Field(
        "var/store",
        description="where releases, artifacts and records are kept: a directory or s3://bucket/prefix",
    )
    cache_dir: Path = Field(
        Path("var/cache"),
        description="local copies of artifacts from a remote store, and kept quarantine files",
    )
    model_name: str = Field(
        "gs", description="the name part of every release version <model_name>_<YYMMDDHHMM>"
    )
    train: TrainParams = TrainParams()
    s3: S3Settings = S3Settings()
    serve: ServeSettings = ServeSettings()
    image: ImageSettings = ImageSettings()
    deploy: DeploySettings = DeploySettings()
    run: RunSettings = RunSettings()
    release: ReleaseSettings = ReleaseSettings()
    rules: RulesSettings = RulesSettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    log: LogSettings = LogSettings()

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, v: str) -> str:
        try:
            return validate_model_name(v)
        except KwrecError as exc:
            raise ValueError(exc.hint or exc.message) from None  # reported with the file and the key

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _CONFIG_PATH.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


# The TOML path is chosen at load time (``--config``, ``KWREC_CONFIG`` or ./kwrec.toml).
_CONFIG_PATH: dict[str, Path | None] = {"path": None}


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Load settings; ``overrides`` (from CLI options) win over the environment and the file."""
    path = config or (Path(os.environ["KWREC_CONFIG"]) if os.environ.get("KWREC_CONFIG") else None)
    if path is None and Path("kwrec.toml").is_file():
        path = Path("kwrec.toml")
    if path is not None and path.is_dir():
        raise ConfigError(f"config {path} is a directory, not a file", hint="pass the kwrec.toml in it")
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist", hint="pass an existing kwrec.toml or none")
    if path is not None:
        # pydantic-settings would raise the decoder's traceback; parse first for a file:line:col message.
        try:
            parse_toml(path.read_bytes(), path)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    _CONFIG_PATH["path"] = path
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise invalid(path, exc, Settings, env_prefix="KWREC_") from None
    finally:
        _CONFIG_PATH["path"] = None
