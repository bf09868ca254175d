"""A trained customer model opened from its artifact directory (read-only, memory-mapped)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kwrec import ARTIFACT_FORMAT
from kwrec.core.models.autocomplete import AutocompleteOptions, Autocompleter
from kwrec.core.models.banned import BannedText
from kwrec.core.models.columns import StringTable, open_column
from kwrec.core.models.protocol import Suggestion
from kwrec.core.models.related_index import RelatedIndex
from kwrec.errors import ArtifactError

META_FILE = "meta.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_artifact(directory: Path, expected_checksum: str | None = None) -> dict[str, Any]:
    """Check the artifact against its own file hashes (and the manifest's checksum); return its meta.

    A corrupted or tampered artifact is refused here, before anything is served from it.
    """
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ArtifactError(f"artifact {directory} has no {META_FILE}", hint="re-run `kwrec train`")
    raw = meta_path.read_bytes()
    if expected_checksum is not None and hashlib.sha256(raw).hexdigest() != expected_checksum:
        raise ArtifactError(
            f"artifact {directory} is corrupted: checksum of {META_FILE} does not match the release manifest",
            hint="re-run `kwrec train` for this timestamp or restore the store from backup",
        )
    try:
        meta: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ArtifactError(f"artifact {directory}: {META_FILE} is not valid JSON") from None
    if meta.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"artifact {directory} has format {meta.get('format')!r}, this kwrec reads {ARTIFACT_FORMAT}",
            hint="retrain with this version of kwrec",
        )
    for name, digest in meta["files"].items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"artifact {directory} is missing {name}", hint="re-run `kwrec train`")
        if sha256_file(path) != digest:
            raise ArtifactError(
                f"artifact {directory} is corrupted: {name} does not match its checksum",
                hint="re-run `kwrec train` for this timestamp or restore the store from backup",
            )
    return meta


class CustomerModel:
    """Implements :class:`kwrec.core.models.protocol.Recommender` over an artifact directory."""

    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.customer: str = meta["customer"]
        self.meta = meta
        self.directory = directory
        self._keywords = StringTable(directory / "kw")
        self._scores = open_column(directory / "kw.score", "score")
        opts = meta.get("options", {})
        self._auto = Autocompleter(
            directory,
            self._keywords,
            self._scores,
            StringTable(directory / "tail"),
            open_column(directory / "tail.score", "score"),
            AutocompleteOptions(**opts),
            int(meta["params"]["topk"]),
            BannedText.from_meta(meta),
        )
        self._related = RelatedIndex(directory)
        self._pop = (open_column(directory / "pop.ids", "u32"), open_column(directory / "pop.score", "score"))
        self._trend = (
            open_column(directory / "trend.ids", "u32"),
            open_column(directory / "trend.score", "score"),
        )

    @classmethod
    def open(cls, directory: Path, expected_checksum: str | None = None) -> CustomerModel:
        return cls(directory, verify_artifact(directory, expected_checksum))

    @property
    def keyword_count(self) -> int:
        return len(self._keywords)

    def autocomplete(self, query: str, limit: int = 10) -> list[Suggestion]:
        return self._auto.complete(query, limit)

    def has_precomputed(self, query: str) -> bool:
        """Whether the query's prefix has a precomputed top-k (for benchmarks and diagnostics)."""
        return self._auto.has_precomputed(query)

    def exact_id(self, query: str) -> int | None:
        """The keyword the whole query stands for (its spacing, 한/영, 초성 and merged typos included)."""
        return self._auto.exact_id(query)

    def related(self, query: str, limit: int = 10) -> list[Suggestion]:
        kid = self.exact_id(query)
        if kid is None or limit <= 0:
            return []
        return [Suggestion(self._keywords[b], s) for b, s in self._related.of(kid, limit)]

    def _listed(self, cols: tuple[memoryview, memoryview], limit: int) -> list[Suggestion]:
        ids, scores = cols
        return [Suggestion(self._keywords[ids[i]], scores[i]) for i in range(min(limit, len(ids)))]

    def popular_keywords(self, limit: int) -> list[Suggestion]:
        """The ``limit`` highest-scored keywords of the whole vocabulary (ids are in score order)."""
        return self._keywords.scored(list(range(min(limit, len(self._keywords)))), self._scores, Suggestion)

    def popular(self, limit: int = 10) -> list[Suggestion]:
        return self._listed(self._pop, max(limit, 0))

    def trending(self, limit: int = 10) -> list[Suggestion]:
        return self._listed(self._trend, max(limit, 0))
