"""Settings of kwrec's own log lines and the server's (``[log]`` in kwrec.toml, ``KWREC_LOG__*``).

Registered in the one Settings object as ``Settings.log``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogSettings(BaseModel):
    model_config = {"extra": "forbid"}

    format: LogFormat = Field(
        "text",
        description="text: lines for people; json: one JSON object a line (ts, level, logger, message)",
    )
    level: LogLevel = Field("info", description="the least severe level written (kwrec and uvicorn)")
    raw_queries: bool = Field(
        False,
        description="write query strings into the access log as typed; off: each value is replaced by its "
        "length, since users type phone numbers and names into search boxes",
    )
