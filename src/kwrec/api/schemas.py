"""Response shapes, for the OpenAPI document only.

Handlers build the contract's JSON with ``kwrec.core.answers.answer`` and serialise it with orjson; these
models describe that JSON to clients (and to schemathesis) without validating it on every request.
Every field has a description and every answer an example, because /docs is what a client's developer
reads first.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_VERSION = "gs_2612061500"
# Any: pydantic types json_schema_extra as JsonDict, which a list of dicts of mixed values does not satisfy.
_SUGGESTIONS: Any = [{"keyword": "아이폰", "score": 0.93}, {"keyword": "아이폰 케이스", "score": 0.41}]

CUSTOMER_FIELD = Field(description="the customer id the answer is for, as in the path", examples=["shop-kr"])
VERSION_FIELD = Field(
    description="the release that answered: `<model_name>_<YYMMDDHHMM>`, the time of its training run",
    examples=[_VERSION],
)


class SuggestionOut(BaseModel):
    keyword: str = Field(
        description="the suggested keyword, normalised as it is searched", examples=["아이폰"]
    )
    score: float = Field(
        description="relative strength within this answer: higher is better, suggestions are ordered best "
        "first; not comparable across customers, kinds or releases",
        examples=[0.93],
    )


class QueryAnswer(BaseModel):
    """Autocomplete and related keywords."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": "shop-kr",
                    "model_version": _VERSION,
                    "query": "아이",
                    "suggestions": _SUGGESTIONS,
                }
            ]
        }
    )

    customer: str = CUSTOMER_FIELD
    model_version: str = VERSION_FIELD
    query: str = Field(description="the query as sent (before normalisation)", examples=["아이"])
    suggestions: list[SuggestionOut] = Field(
        description="best first, at most `limit`; empty when nothing matches (not an error)"
    )


class ListAnswer(BaseModel):
    """Popular and trending keywords (no query)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"customer": "shop-kr", "model_version": _VERSION, "suggestions": _SUGGESTIONS}]
        }
    )

    customer: str = CUSTOMER_FIELD
    model_version: str = VERSION_FIELD
    suggestions: list[SuggestionOut] = Field(description="best first, at most `limit`")


class ErrorOut(BaseModel):
    error: str = Field(
        description="a stable machine-readable code: unknown_customer, invalid_request, not_ready, "
        "not_found, "
        "method_not_allowed, internal_error",
        examples=["unknown_customer"],
    )
    message: str = Field(
        description="what went wrong, for a person; wording may change, match on `error` instead",
        examples=["customer 'nope' is not in release gs_2612061500"],
    )
    customer: str | None = Field(None, description="the customer id asked for (unknown_customer only)")
    details: list[dict[str, Any]] | None = Field(
        None,
        description="invalid_request only: one entry per bad parameter, with `loc` (where, e.g. "
        '["query", "limit"]), `msg` (why) and `type` (pydantic\'s error type)',
    )


class HealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = Field(description="always `ok`: the process answers")


class ReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "model_version": _VERSION, "customers": 120},
                {"status": "loading", "error": None},
            ]
        }
    )

    status: str = Field(description="ready, loading or failed")
    model_version: str | None = Field(None, description="the loaded release (when ready)")
    customers: int | None = Field(None, description="how many customers the release serves (when ready)")
    error: str | None = Field(None, description="why loading failed (when failed)")


class VersionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": _VERSION,
                    "code_version": "0.9.0",
                    "release_code_version": "0.9.0",
                    "customers": ["beta-en", "shop-kr"],
                }
            ]
        }
    )

    model_version: str = VERSION_FIELD
    code_version: str = Field(description="the kwrec code serving the API")
    release_code_version: str | None = Field(None, description="the kwrec code that trained the release")
    customers: list[str] = Field(description="every customer id the release serves, sorted")


def first_example(model: type[BaseModel]) -> dict[str, Any] | None:
    """The model's first example (the one /docs shows), kept in one place: the model."""
    extra: Any = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return dict(examples[0]) if examples else None
