"""Response shapes, for the OpenAPI document only.

Handlers build the contract's JSON with ``kwrec.core.answers.answer`` and serialise it with orjson; these
models describe that JSON to clients (and to schemathesis) without validating it on every request.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SuggestionOut(BaseModel):
    keyword: str
    score: float = Field(description="higher is better; suggestions are ordered best first")


class QueryAnswer(BaseModel):
    """Autocomplete and related keywords."""

    customer: str
    model_version: str
    query: str = Field(description="the query as sent")
    suggestions: list[SuggestionOut]


class ListAnswer(BaseModel):
    """Popular and trending keywords (no query)."""

    customer: str
    model_version: str
    suggestions: list[SuggestionOut]


class ErrorOut(BaseModel):
    error: str = Field(description="a stable machine-readable code, e.g. unknown_customer, invalid_request")
    message: str
    customer: str | None = None
    details: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str = Field(description="ready, loading or failed")
    model_version: str | None = None
    customers: int | None = None
    error: str | None = None


class VersionOut(BaseModel):
    model_version: str
    code_version: str = Field(description="the kwrec code serving the API")
    release_code_version: str | None = Field(None, description="the kwrec code that trained the release")
    customers: list[str]
