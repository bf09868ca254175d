"""A customer's own ``kwrec.toml`` (column mapping, CSV dialect, timezone, bans, training overrides).

Example::

    delimiter = ";"
    timezone = "Asia/Seoul"
    ban = ["성인", "도박"]
    [columns]
    query = "keyword"
    timestamp = "ts"
    [train]
    min_users = 3

``banned.txt`` next to it (one term per line) is merged into ``ban``.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kwrec.core.ingest.formats import decode
from kwrec.core.ingest.source import CustomerLogs, as_customer_logs
from kwrec.core.models.banned import BannedText
from kwrec.core.rules import LiveBans
from kwrec.errors import ConfigError
from kwrec.settings import TrainParams
from kwrec.settings.problems import parse_toml, problem_lines

CONFIG_NAME: Final = "kwrec.toml"
BAN_NAME: Final = "banned.txt"
CANONICAL: Final = ("timestamp", "user_id", "session_id", "query", "result_count", "clicked")


class ColumnMap(BaseModel):
    """Source column (or JSON key) for each canonical field; ``None`` means "the canonical name"."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str | None = Field(
        None, description="source column of the event time (ISO 8601 or epoch seconds; see timestamp_format)"
    )
    user_id: str | None = Field(None, description="source column of the user id")
    session_id: str | None = Field(
        None,
        description="source column of the session id (optional: sessions are cut by session_gap_minutes)",
    )
    query: str | None = Field(None, description="source column of what the user typed")
    result_count: str | None = Field(
        None, description="source column of the number of results (optional; 0: never suggested)"
    )
    clicked: str | None = Field(
        None, description="source column of whether a result was clicked (optional; clicks raise a keyword)"
    )

    def source(self, canonical: str) -> str:
        value: str | None = getattr(self, canonical)
        return value if value is not None else canonical

    def explicit(self, canonical: str) -> bool:
        return getattr(self, canonical) is not None


class CustomerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: ColumnMap = Field(default_factory=ColumnMap)
    names: list[str] | None = Field(None, description="column names for files without a header line")
    delimiter: str | None = Field(
        None,
        description=(
            "default tab for .tsv; for .csv ',', or the one of ';', tab, '|' a header line without ',' has"
        ),
    )
    quote: str | None = Field(None, description="CSV quote character; default '\"' for .csv, none for .tsv")
    has_header: bool = Field(
        True, description="false: the files have no header line (name the columns with names = [...])"
    )
    timestamp_format: str | None = Field(
        None,
        description="strftime format; default ISO 8601, year-first written forms "
        "(2026. 11. 25. 오후 7:46:00), YYYYMMDDhhmmss digits or epoch",
    )
    timezone: str = Field("Asia/Seoul", description="zone of timestamps written without an offset")
    encoding: Literal["auto", "utf-8", "cp949", "euc-kr", "utf-16"] = Field(
        "auto", description="auto detects UTF-8, CP949/EUC-KR, or UTF-16 by its byte-order mark, per file"
    )
    ban: list[str] = Field(
        default_factory=list,
        description="terms never suggested, in any suggestion that contains them (banned.txt adds to this)",
    )
    ban_exact: list[str] = Field(
        default_factory=list, description="keywords left out only as a whole (spacing ignored)"
    )
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="[train] overrides of this customer (any key of the main [train] section)",
    )

    @property
    def banned_text(self) -> BannedText:
        """``ban`` and ``ban_exact`` as preprocessing and the look-up match them."""
        return BannedText.of(self.ban, self.ban_exact)

    def with_live_bans(self, bans: LiveBans) -> CustomerConfig:
        """The config with the live rules' blocks added (``kwrec block``)."""
        if not bans.contains and not bans.exact:
            return self
        return self.model_copy(
            update={"ban": [*self.ban, *bans.contains], "ban_exact": [*self.ban_exact, *bans.exact]}
        )

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and (len(v) != 1 or v in "\n\r"):
            raise ValueError("must be a single character other than a line break")
        return v

    @field_validator("quote")
    @classmethod
    def _quote(cls, v: str | None) -> str | None:
        if v is not None and len(v) > 1:
            raise ValueError("must be one character, or '' for no quoting")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Asia/Seoul')") from None
        return v

    @field_validator("train")
    @classmethod
    def _train_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(v) - set(TrainParams.model_fields))
        if unknown:
            raise ValueError(f"unknown training parameter(s) {', '.join(unknown)}")
        TrainParams.model_validate(v)  # value errors surface at load time, not mid-training
        return v

    def train_params(self, base: TrainParams) -> TrainParams:
        """``base`` (global settings) with this customer's ``[train]`` overrides applied."""
        try:
            return TrainParams.model_validate({**base.model_dump(), **self.train})
        except ValidationError as exc:
            raise ConfigError(f"invalid training parameters: {_problems(exc)}") from None

    @property
    def python_encoding(self) -> str | None:
        """Forced codec, or ``None`` to detect per file. EUC-KR files are read as CP949 (its superset)."""
        return {"auto": None, "utf-8": "utf-8", "cp949": "cp949", "euc-kr": "cp949", "utf-16": "utf-16"}[
            self.encoding
        ]


def _problems(exc: ValidationError) -> str:
    return "; ".join(problem_lines(exc, TrainParams, under=("train",)))


def load_customer_config(customer_dir: CustomerLogs | Path) -> CustomerConfig:
    """Read ``kwrec.toml`` and ``banned.txt`` of a customer's folder (both optional)."""
    logs = as_customer_logs(customer_dir)
    top = {f.rel: f for f in logs.files() if f.rel in (CONFIG_NAME, BAN_NAME)}
    where = logs.location.rstrip("/")
    path = f"{where}/{CONFIG_NAME}"
    raw: dict[str, Any] = {}
    if CONFIG_NAME in top:
        try:
            data = top[CONFIG_NAME].read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        raw = parse_toml(data, path)
    # [train] is checked as the TrainParams it becomes, so its typos get the same did-you-mean.
    train = raw.get("train", {})
    lines: list[str] = []
    try:
        config = CustomerConfig.model_validate({**raw, "train": {}})
    except ValidationError as exc:
        lines += problem_lines(exc, CustomerConfig)
    if isinstance(train, dict):
        try:
            TrainParams.model_validate(train)
        except ValidationError as exc:
            lines += problem_lines(exc, TrainParams, under=("train",))
    else:
        lines.append("train: must be a table like [train] min_users = 3")
    if lines:
        raise ConfigError(
            f"{path}: " + "; ".join(lines),
            hint="fix the key (docs/settings.md lists a customer's keys and the [train] parameters)",
        )
    config = config.model_copy(update={"train": train})
    if BAN_NAME in top:
        ban_path = f"{where}/{BAN_NAME}"
        try:
            # Read like the logs: UTF-8, UTF-16 or CP949 (Korean Windows' default), or kwrec.toml's encoding.
            decoded = decode(top[BAN_NAME].read_bytes(), config.python_encoding)
        except OSError as exc:
            raise ConfigError(f"cannot read {ban_path}: {exc.strerror or exc}") from None
        if decoded.bad_lines:
            numbers = ", ".join(str(n) for n in sorted(decoded.bad_lines)[:10])
            raise ConfigError(
                f"{ban_path}: line(s) {numbers} are not valid {decoded.encoding}",
                hint="save the ban list as UTF-8 (or set encoding in kwrec.toml)",
            )
        text = decoded.data.decode("utf-8")
        extra = [t.strip() for t in text.splitlines() if t.strip() and not t.lstrip().startswith("#")]
        config = config.model_copy(update={"ban": [*config.ban, *extra]})
    return config
