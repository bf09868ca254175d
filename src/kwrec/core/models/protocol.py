"""What every serving shell (CLI ``suggest``, the API, verification) needs from a trained customer model."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Suggestion(NamedTuple):
    """A tuple, not a dataclass: tens of them are made per request on the hot path."""

    keyword: str
    score: float  # higher is better; lists are ordered best first


class Recommender(Protocol):
    """One customer's loaded model. Look-ups never raise for any string input."""

    customer: str

    def autocomplete(self, query: str, limit: int = 10) -> list[Suggestion]: ...

    def related(self, query: str, limit: int = 10) -> list[Suggestion]: ...

    def popular(self, limit: int = 10) -> list[Suggestion]: ...

    def trending(self, limit: int = 10) -> list[Suggestion]: ...
