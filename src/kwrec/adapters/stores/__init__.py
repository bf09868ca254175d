"""Artifact stores: a local directory or an S3 bucket behind one interface.

``open_store(settings.store, settings.s3)`` picks the implementation from the URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from kwrec.adapters.stores.local import LocalStore
from kwrec.core.store import ArtifactStore, validate_key, validate_prefix
from kwrec.errors import StoreError, StoreNotFound
from kwrec.settings import S3Settings

if TYPE_CHECKING:
    from kwrec.adapters.stores.s3 import S3Store

__all__ = [
    "ArtifactStore",
    "LocalStore",
    "S3Store",
    "StoreNotFound",
    "open_store",
    "validate_key",
    "validate_prefix",
]


def __getattr__(name: str) -> Any:
    # boto3 takes a second to import: only a store that is really on S3 pays for it (API start-up).
    if name == "S3Store":
        from kwrec.adapters.stores.s3 import S3Store

        return S3Store
    raise AttributeError(name)


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_store(url: str, s3: S3Settings | None = None, *, must_exist: bool = False) -> ArtifactStore:
    """``s3://bucket/prefix`` -> :class:`S3Store`; ``file:///path`` or a plain path -> :class:`LocalStore`.

    ``must_exist`` (commands that only read): a local store directory that is not there is an error
    rather than an empty store, so a mistyped ``--store`` is named instead of answering "no release".
    """
    store = _open(url, s3)
    if must_exist and isinstance(store, LocalStore) and not store.exists_at_all():
        raise StoreNotFound(
            f"store {store.root} does not exist",
            hint="pass --store DIR|s3://bucket/prefix (or store in kwrec.toml), or run `kwrec train` first",
        )
    return store


def _open(url: str, s3: S3Settings | None) -> ArtifactStore:
    scheme_match = _SCHEME_RE.match(url)
    scheme = scheme_match.group(1).lower() if scheme_match else None
    if scheme == "s3":
        bucket, _, prefix = url[len("s3://") :].partition("/")
        settings = s3 or S3Settings()
        from kwrec.adapters.stores.s3 import S3Store

        return S3Store(bucket, prefix.rstrip("/"), endpoint_url=settings.endpoint_url, region=settings.region)
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise StoreError(
                f"unsupported store URL {url!r}: file URLs cannot name a host",
                hint="use file:///absolute/path or a plain path",
            )
        return LocalStore(Path(unquote(parts.path)))
    if scheme is not None:
        # A typo like 's3:/' or 'gs://' would otherwise silently become a local directory.
        raise StoreError(
            f"unsupported store URL scheme {scheme!r} in {url!r}",
            hint="use s3://bucket/prefix, file:///path or a plain directory path",
        )
    return LocalStore(Path(url))
