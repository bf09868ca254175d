"""The artifact store contract shared by the local directory and the S3 implementations.

Keys are '/'-separated relative paths checked by :func:`validate_key`. Names starting with '.' are
never valid keys: the stores keep their own temp files, lock files and ``.complete`` markers under
such names, so no caller can collide with them and listings can skip them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kwrec.errors import StoreError

# A leading '.' is refused on purpose (stricter than "no '.' or '..'"): see the module docstring.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
# S3's own limit on key length; applying it locally too keeps both stores interchangeable.
MAX_KEY_LEN = 1024
MARKER_NAME = ".complete"


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise :class:`StoreError`."""
    if not isinstance(key, str) or not key:
        raise StoreError(f"invalid store key {key!r}", hint="use a non-empty '/'-separated relative path")
    if len(key) > MAX_KEY_LEN:
        raise StoreError(f"invalid store key {key[:60]!r}...", hint=f"keys are at most {MAX_KEY_LEN} chars")
    for segment in key.split("/"):
        if not _SEGMENT_RE.fullmatch(segment):
            raise StoreError(
                f"invalid store key {key!r}",
                hint="use '/'-separated segments of A-Z a-z 0-9 . _ - that do not start with '.', "
                "with no leading '/', empty segment, '..' or backslash",
            )
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is '' (the whole store) or a valid key naming a directory (no trailing '/')."""
    return "" if prefix == "" else validate_key(prefix)


def join_key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


@dataclass(frozen=True)
class DirManifest:
    """Content of a ``.complete`` marker: which files make up a published directory.

    ``upload_id`` changes on every publish, so a cache keyed by it can never serve files of an
    earlier directory that was deleted and published again under the same prefix.
    """

    upload_id: str
    files: dict[str, int]  # relative key -> size in bytes

    def to_bytes(self) -> bytes:
        return json.dumps({"upload_id": self.upload_id, "files": self.files}, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> DirManifest:
        try:
            raw = json.loads(data)
            upload_id = raw["upload_id"]
            files = {validate_key(str(k)): int(v) for k, v in raw["files"].items()}
            if not isinstance(upload_id, str) or not re.fullmatch(r"[0-9a-f]{32}", upload_id):
                raise ValueError("bad upload_id")
        except (ValueError, KeyError, TypeError, AttributeError, StoreError):
            raise StoreError(
                f"corrupt completion marker {where}",
                hint="delete the directory with delete_prefix and publish it again",
            ) from None
        return cls(upload_id=upload_id, files=files)


def scan_dir(local_dir: Path) -> dict[str, tuple[Path, int]]:
    """Map each file's key relative to ``local_dir`` to its path and size; every name must be a valid key.

    Checking all names before anything is written means a bad name fails the publish up front
    instead of leaving a partial upload behind.
    """
    if not local_dir.is_dir():
        raise StoreError(f"cannot publish {local_dir}: not a directory", hint="pass an existing directory")
    try:
        return _scan(local_dir)
    except OSError as exc:
        raise StoreError(
            f"cannot publish {local_dir}: {exc.strerror or exc}",
            hint="check the directory and its permissions",
        ) from exc


def _scan(local_dir: Path) -> dict[str, tuple[Path, int]]:
    files: dict[str, tuple[Path, int]] = {}
    for path in sorted(local_dir.rglob("*")):
        if path.is_dir():
            continue
        if not path.is_file():
            raise StoreError(
                f"cannot publish {path}: not a regular file", hint="remove it from the directory"
            )
        rel = path.relative_to(local_dir).as_posix()
        try:
            validate_key(rel)
        except StoreError as exc:
            raise StoreError(
                f"cannot publish {local_dir}: file name {rel!r} is not a valid store key",
                hint=exc.hint,
            ) from None
        files[rel] = (path, path.stat().st_size)
    return files


@runtime_checkable
class ArtifactStore(Protocol):
    """Where models, release manifests and alias records live. All methods are thread-safe."""

    url: str

    def read_bytes(self, key: str) -> bytes:
        """Content of ``key``; raises :class:`StoreNotFound` when absent."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace ``key`` atomically: a reader sees the old or the new content, never a mix."""
        ...

    def exists(self, key: str) -> bool: ...

    def exists_at_all(self) -> bool:
        """Whether the store itself is there: writing to one that is not creates it."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """All keys under directory ``prefix`` (recursive, sorted, full keys)."""
        ...

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the immediate child directories of ``prefix`` (sorted, published or not)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete everything under directory ``prefix``; return how many keys were deleted."""
        ...

    def upload_dir(self, local_dir: Path, prefix: str) -> None:
        """Publish ``local_dir`` at ``prefix`` so readers see all of it or none of it.

        A published directory is write-once: delete it first to publish again. An unpublished
        leftover (an upload that crashed) at ``prefix`` is replaced.
        """
        ...

    def fetch_dir(self, prefix: str, cache_root: Path) -> Path:
        """A local directory holding the published files of ``prefix`` (downloaded at most once)."""
        ...

    def dir_exists(self, prefix: str) -> bool:
        """Whether ``prefix`` is a completely published directory."""
        ...

    def read_if_changed(self, key: str, tag: str | None) -> tuple[bytes | None, str]:
        """A conditional read for pollers: ``(None, tag)`` when ``key`` is unchanged since ``tag`` was
        returned, else ``(content, new tag)``; StoreNotFound when absent. The local store's tag is the
        file's inode, size and modification time (writes replace the file), S3's the ETag."""
        ...

    def compare_and_swap(self, key: str, expected: bytes | None, new: bytes) -> bool:
        """Write ``new`` only if ``key`` holds ``expected`` (None: absent). True if written.

        Atomic only against other compare_and_swap calls: a plain write_bytes bypasses it.
        """
        ...


def update_record(
    store: ArtifactStore, key: str, change: Callable[[bytes | None], bytes], *, attempts: int = 20
) -> bytes | None:
    """Read-modify-write of one small store record (manifest, target alias, lock) via compare_and_swap.

    ``change`` gets the current bytes (None: no record yet) and returns the new ones, or raises to refuse
    the change. A lost race re-reads the record and calls ``change`` again, so a refusal always judges the
    winner's record. Returns the bytes written, or None when every attempt lost a race (the caller says
    what that means for it).
    """
    for _ in range(attempts):
        current = store.read_bytes(key) if store.exists(key) else None
        new = change(current)
        if store.compare_and_swap(key, current, new):
            return new
    return None
