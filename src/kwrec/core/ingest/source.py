"""Where customers' logs are: one folder (or key prefix) per customer, read through one small interface.

A :class:`LogSource` lists customers; a :class:`CustomerLogs` lists a customer's files. A
:class:`LogFile` knows its size and, where the listing says what its content is (an S3 ETag), its
``identity``: change detection then needs no download. The local folder lives here; the S3 one is an
adapter (:mod:`kwrec.adapters.sources`), so the core knows nothing of boto3.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kwrec.errors import DataError, InvalidIdentifierError
from kwrec.ids import validate_customer


def ignored(name: str) -> bool:
    """Hidden and underscore names (``.DS_Store``, ``_SUCCESS``, ``_tmp/``) are never logs."""
    return name.startswith((".", "_"))


@dataclass(frozen=True)
class LogFile:
    rel: str  # posix path under the customer's folder
    size: int
    identity: str | None  # what the listing says of the content (S3 ETag); None: hash the bytes
    _read: Callable[[], bytes]
    _chunks: Callable[[], Iterator[bytes]]

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def read_bytes(self) -> bytes:
        """The whole content; OSError when it cannot be read (the reader quarantines the file)."""
        return self._read()

    def chunks(self) -> Iterator[bytes]:
        return self._chunks()


class CustomerLogs(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def location(self) -> str: ...  # for messages: a path or s3://bucket/prefix/customer
    def exists(self) -> bool: ...
    def files(self) -> list[LogFile]: ...  # every non-hidden file, sorted by ``rel``


class LogSource(Protocol):
    @property
    def url(self) -> str: ...
    def exists(self) -> bool: ...
    def folders(self) -> list[str]: ...  # the names directly under the source, sorted
    def customer(self, name: str) -> CustomerLogs: ...


def list_customers(source: LogSource | Path) -> tuple[list[str], list[str]]:
    """Valid customer folders (sorted) and one message per folder that was skipped."""
    source = as_log_source(source)
    if not source.exists():
        raise DataError(
            f"data directory {source.url} does not exist",
            hint="set data_dir / KWREC_DATA_DIR (a folder, or s3://bucket/prefix)",
        )
    customers: list[str] = []
    problems: list[str] = []
    for name in source.folders():
        if ignored(name):
            continue
        try:
            customers.append(validate_customer(name))
        except InvalidIdentifierError as exc:
            problems.append(f"{source.url.rstrip('/')}/{name}: {exc}")
    return customers, problems


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


@dataclass(frozen=True)
class LocalCustomerLogs:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_dir()

    def files(self) -> list[LogFile]:
        if not self.path.is_dir():
            return []
        out = []
        for path in self.path.rglob("*"):
            rel = path.relative_to(self.path)
            if any(ignored(part) for part in rel.parts) or not path.is_file():
                continue
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # vanished or unreadable: reading it says why
            chunks = functools.partial(_file_chunks, path)
            out.append(LogFile(rel.as_posix(), size, None, path.read_bytes, chunks))
        return sorted(out, key=lambda f: f.rel)


@dataclass(frozen=True)
class LocalLogSource:
    path: Path
    #: kwrec's own folders (cache, store): with ``--data .`` they sit among the customers' folders, and
    #: reading them as a customer would train on kwrec's own quarantine files.
    own: tuple[Path, ...] = ()

    @property
    def url(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_dir()

    def folders(self) -> list[str]:
        own = {o.resolve() for o in self.own}
        return sorted(
            e.name
            for e in self.path.iterdir()
            if e.is_dir() and not any(o == e.resolve() or o.is_relative_to(e.resolve()) for o in own)
        )

    def customer(self, name: str) -> LocalCustomerLogs:
        return LocalCustomerLogs(self.path / name)


def as_customer_logs(logs: CustomerLogs | os.PathLike[str] | str) -> CustomerLogs:
    """A customer's logs from a local folder path, or as given."""
    if isinstance(logs, (str, os.PathLike)):
        return LocalCustomerLogs(Path(logs))
    return logs


def as_log_source(source: LogSource | os.PathLike[str] | str) -> LogSource:
    if isinstance(source, (str, os.PathLike)):
        return LocalLogSource(Path(source))
    return source
