"""The JSON answer of the public API, shared by the API, `kwrec suggest --json` and verification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from kwrec.core.models.protocol import Recommender, Suggestion
from kwrec.core.rules import CustomerRules
from kwrec.core.text.normalize import clean_text

Kind = Literal["autocomplete", "related", "popular", "trending"]
KINDS: tuple[Kind, ...] = ("autocomplete", "related", "popular", "trending")
#: The longest query (after normalisation) anyone is answered for: the API's 422 and the CLI's exit 2.
MAX_QUERY_CHARS = 100


def query_too_long(q: str) -> str | None:
    """Why ``q`` is refused (too long after normalisation), else None."""
    # NFKC can lengthen a string (one ligature becomes up to 18 characters), so the raw length says nothing.
    if len(clean_text(q)) > MAX_QUERY_CHARS:
        return f"q is longer than {MAX_QUERY_CHARS} characters after normalisation"
    return None


def _fetch(model: Recommender, kind: Kind, query: str | None) -> Callable[[int], list[Suggestion]]:
    if kind == "autocomplete":
        return lambda n: model.autocomplete(query or "", n)
    if kind == "related":
        return lambda n: model.related(query or "", n)
    if kind == "popular":
        return model.popular
    return model.trending


def answer(
    model: Recommender,
    model_version: str,
    kind: Kind,
    query: str | None,
    limit: int,
    rules: CustomerRules | None = None,
) -> dict[str, Any]:
    """The answer, with the customer's live rules applied (blocks on every kind, pins on autocomplete)."""
    fetch = _fetch(model, kind, query)
    if rules is None or rules.empty:
        suggestions = fetch(limit)
    else:
        suggestions = rules.apply(fetch, limit, prefix=query if kind == "autocomplete" else None)
    body: dict[str, Any] = {"customer": model.customer, "model_version": model_version}
    if kind in ("autocomplete", "related"):
        body["query"] = query
    body["suggestions"] = [{"keyword": s.keyword, "score": s.score} for s in suggestions]
    return body
