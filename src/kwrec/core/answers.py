"""The JSON answer of the public API, shared by the API, `kwrec suggest --json` and verification."""

from __future__ import annotations

from typing import Any, Literal

from kwrec.core.models.protocol import Recommender

Kind = Literal["autocomplete", "related", "popular", "trending"]
KINDS: tuple[Kind, ...] = ("autocomplete", "related", "popular", "trending")


def answer(
    model: Recommender, model_version: str, kind: Kind, query: str | None, limit: int
) -> dict[str, Any]:
    if kind == "autocomplete":
        suggestions = model.autocomplete(query or "", limit)
    elif kind == "related":
        suggestions = model.related(query or "", limit)
    elif kind == "popular":
        suggestions = model.popular(limit)
    else:
        suggestions = model.trending(limit)
    body: dict[str, Any] = {"customer": model.customer, "model_version": model_version}
    if kind in ("autocomplete", "related"):
        body["query"] = query
    body["suggestions"] = [{"keyword": s.keyword, "score": s.score} for s in suggestions]
    return body
