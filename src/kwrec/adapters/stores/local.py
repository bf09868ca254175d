"""An artifact store in a local (or mounted) directory.

Atomicity comes from rename: files and directories are written under a hidden temp name in the
same directory, fsynced, then renamed into place, so a crash or a concurrent reader never sees a
partial file or a half-copied model directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from kwrec.core.store import (
    MARKER_NAME,
    DirManifest,
    join_key,
    scan_dir,
    validate_key,
    validate_prefix,
)
from kwrec.errors import StoreError, StoreNotFound

_COPY_CHUNK = 1 << 20
_FILE_MODE = 0o644


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a file's fsync does not cover its name)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and directory under ``path`` before it is renamed into view."""
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            fsync_file(Path(dirpath, name))
        fsync_dir(Path(dirpath))


def remove_tree_atomically(path: Path) -> None:
    """Rename ``path`` to a hidden name first, so it vanishes at once rather than file by file."""
    trash = path.with_name(f".trash-{uuid.uuid4().hex}")
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _has_files(path: Path) -> bool:
    for _dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        if filenames:
            return True
    return False


class LocalStore:
    """An :class:`~kwrec.core.store.ArtifactStore` rooted at a directory.

    The directory is created by the first write, not here: a command that only reads, or fails before
    it has anything to store, leaves no empty store behind.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"store {self.root} is a file, not a directory",
                hint="point --store (or store in kwrec.toml) at a directory or s3://bucket/prefix",
            )

    def exists_at_all(self) -> bool:
        """Whether the store's directory is there (a read-only command needs one)."""
        return self.root.is_dir()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- helpers -----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _dir(self, prefix: str) -> Path:
        return self.root / prefix if validate_prefix(prefix) else self.root

    @contextlib.contextmanager
    def _os_errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(
                f"{self.url}: cannot {action} {key!r}: {exc.strerror or exc}",
                hint="check free disk space and permissions of the store directory",
            ) from exc

    def _atomic_write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), _FILE_MODE)
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        fsync_dir(path.parent)

    # -- ArtifactStore -----------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StoreNotFound(
                f"{self.url}: key {key!r} does not exist",
                hint="check the key; list_keys shows what is stored",
            ) from None
        except OSError as exc:
            raise StoreError(
                f"{self.url}: cannot read {key!r}: {exc.strerror}", hint="check file permissions"
            ) from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._os_errors("write", key):
            if path.is_dir():
                raise StoreError(
                    f"{self.url}: cannot write {key!r}: a directory of that name exists",
                    hint="use another key or delete_prefix the directory",
                )
            self._atomic_write(path, data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._dir(prefix)
        if not base.is_dir():
            return []
        keys: list[str] = []
        with self._os_errors("list", prefix):
            for dirpath, dirnames, filenames in os.walk(base):
                # Hidden names are temp files, lock files, markers and in-flight uploads.
                dirnames[:] = [d for d in dirnames if not _hidden(d)]
                rel_dir = Path(dirpath).relative_to(base).as_posix()
                for name in filenames:
                    if not _hidden(name):
                        rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                        keys.append(join_key(prefix, rel))
        return sorted(keys)

    def list_dirs(self, prefix: str = "") -> list[str]:
        base = self._dir(prefix)
        if not base.is_dir():
            return []
        with self._os_errors("list", prefix):
            # Empty directories are skipped because S3 has no such thing: both stores list alike.
            return sorted(
                p.name for p in base.iterdir() if p.is_dir() and not _hidden(p.name) and _has_files(p)
            )

    def delete_prefix(self, prefix: str) -> int:
        base = self._dir(prefix)
        if not base.is_dir():
            return 0
        count = len(self.list_keys(prefix))
        with self._os_errors("delete", prefix):
            if prefix:
                remove_tree_atomically(base)
                self._prune_empty_parents(base.parent)
            else:
                for child in self.root.iterdir():
                    if _hidden(child.name):
                        continue
                    if child.is_dir():
                        remove_tree_atomically(child)
                    else:
                        child.unlink()
        return count

    def _prune_empty_parents(self, path: Path) -> None:
        while path != self.root and path.is_relative_to(self.root):
            try:
                path.rmdir()
            except OSError:
                return  # not empty (or raced with a writer): leave it
            path = path.parent

    def upload_dir(self, local_dir: Path, prefix: str) -> None:
        target = self._path(prefix)
        files = scan_dir(local_dir)
        if self.dir_exists(prefix):
            raise StoreError(
                f"{self.url}: directory {prefix!r} is already published",
                hint="published directories are write-once: delete_prefix it first to publish again",
            )
        manifest = DirManifest(uuid.uuid4().hex, {rel: size for rel, (_src, size) in files.items()})
        with self._os_errors("publish", prefix):
            target.parent.mkdir(parents=True, exist_ok=True)
            # Same parent directory as the target, hence the same filesystem: the rename is atomic.
            tmp = target.parent / f".tmp-upload-{manifest.upload_id}"
            try:
                tmp.mkdir()
                for rel, (src, _size) in files.items():
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                    os.chmod(dest, _FILE_MODE)
                (tmp / MARKER_NAME).write_bytes(manifest.to_bytes())
                fsync_tree(tmp)
                if target.exists():
                    remove_tree_atomically(target)  # an unpublished leftover, e.g. plain keys
                try:
                    os.rename(tmp, target)
                except OSError:
                    raise StoreError(
                        f"{self.url}: directory {prefix!r} was published concurrently by another writer",
                        hint="check that only one job publishes each version",
                    ) from None
                fsync_dir(target.parent)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)

    def fetch_dir(self, prefix: str, cache_root: Path) -> Path:
        """The published directory itself: local files are mapped in place, never copied."""
        if not self.dir_exists(prefix):
            raise StoreNotFound(
                f"{self.url}: directory {prefix!r} is not published",
                hint="publish it with upload_dir; an unfinished upload counts as absent",
            )
        return self._path(prefix)

    def dir_exists(self, prefix: str) -> bool:
        return (self._path(prefix) / MARKER_NAME).is_file()

    def read_if_changed(self, key: str, tag: str | None) -> tuple[bytes | None, str]:
        path = self._path(key)
        for _ in range(5):
            try:
                st = path.stat()
                now = f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"
                if now == tag:
                    return None, now
                data = path.read_bytes()
            except FileNotFoundError:
                raise StoreNotFound(f"{self.url}: key {key!r} does not exist") from None
            except OSError as exc:
                raise StoreError(f"{self.url}: cannot read {key!r}: {exc.strerror}") from exc
            # Replaced between stat and read: read again, so the tag always names the content returned.
            st2 = path.stat()
            if f"{st2.st_ino}-{st2.st_size}-{st2.st_mtime_ns}" == now:
                return data, now
        raise StoreError(f"{self.url}: {key!r} keeps changing", hint="retry")

    def compare_and_swap(self, key: str, expected: bytes | None, new: bytes) -> bool:
        path = self._path(key)
        with self._os_errors("compare-and-swap", key):
            path.parent.mkdir(parents=True, exist_ok=True)
            # flock works between processes and, through separate open files, between threads.
            fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, _FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current: bytes | None = path.read_bytes()
                except FileNotFoundError:
                    current = None
                if current != expected:
                    return False
                self._atomic_write(path, new)
                return True
            finally:
                os.close(fd)
