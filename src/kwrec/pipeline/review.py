"""The release review in the chain and in `kwrec diff`: one diff of two stored releases, written next to
the newer release (``diff.json``, ``diff.html``) when the chain makes it."""

from __future__ import annotations

import orjson

from kwrec.core.manifest import Manifest, read_manifest
from kwrec.core.release_diff import DEFAULT_PREFIXES, ReleaseDiff, default_pair, diff_releases
from kwrec.core.release_diff_page import render_page
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import diff_key, diff_page_key
from kwrec.ids import validate_customer, validate_version
from kwrec.reporting import Report, silent
from kwrec.settings import Settings


def compare_releases(
    settings: Settings,
    store: ArtifactStore,
    old: str | None = None,
    new: str | None = None,
    *,
    customers: list[str] | None = None,
    prefixes: int = DEFAULT_PREFIXES,
    report: Report = silent,
) -> ReleaseDiff:
    """``kwrec diff``: NEW defaults to the newest release, OLD to the one live before it."""
    old_m, new_m = default_pair(
        store, validate_version(old) if old else None, validate_version(new) if new else None
    )
    return diff_releases(
        store,
        old_m,
        new_m,
        settings.cache_dir,
        prefixes=prefixes,
        customers=[validate_customer(c) for c in customers or []],
        report=report,
    )


def store_review(
    settings: Settings, store: ArtifactStore, version: str, live: Manifest | None, report: Report
) -> ReleaseDiff | None:
    """The chain's review of release ``version`` against the release live before it, stored with it.

    Prints one line per changed customer. None when nothing was live (nothing to compare with).
    """
    if live is None or live.version == version:
        return None
    diff = diff_releases(store, live, read_manifest(store, version), settings.cache_dir)
    store.write_bytes(diff_key(version), orjson.dumps(diff.to_dict(), option=orjson.OPT_INDENT_2))
    store.write_bytes(diff_page_key(version), render_page(diff).encode())
    for customer in diff.changed():
        report(f"review: {customer.summary()}")
    return diff
