"""The customer's bans, as the look-up needs them: a completion made up from the user's words and a
query ending is text no ban has seen ("harry " + the "potter" of beatrix potter), so it is checked
here, with the same matching as preprocessing (``kwrec.core.preprocess``: folded, spacing ignored)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kwrec.core.text.normalize import fold


def _squeezed(terms: Iterable[str]) -> list[str]:
    return sorted({s for s in (fold(t).replace(" ", "") for t in terms) if s})


@dataclass(frozen=True)
class BannedText:
    contains: tuple[str, ...] = ()  # folded, without spaces: never inside a suggestion
    exact: frozenset[str] = frozenset()  # folded, without spaces: never a whole suggestion

    @classmethod
    def of(cls, contains: Iterable[str] = (), exact: Iterable[str] = ()) -> BannedText:
        return cls(tuple(_squeezed(contains)), frozenset(_squeezed(exact)))

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> BannedText:
        """What an artifact's meta records (older artifacts record nothing: no ban)."""
        saved = meta.get("banned") or {}
        return cls(tuple(saved.get("contains", ())), frozenset(saved.get("exact", ())))

    def to_meta(self) -> dict[str, list[str]]:
        return {"contains": list(self.contains), "exact": sorted(self.exact)}

    def __bool__(self) -> bool:
        return bool(self.contains or self.exact)

    def blocks(self, folded: str) -> bool:
        """Whether ``folded`` (text already folded, as the look-up's made-up completions are) is banned."""
        squeezed = folded.replace(" ", "")
        return squeezed in self.exact or any(term in squeezed for term in self.contains)
