"""Customers' logs under ``s3://bucket/prefix/<customer>/...``, read with boto3.

Change detection reads only listings: a file's fingerprint part is its key, size and ETag, so an
unchanged log is never downloaded. A read streams the object's body; a read that fails (deleted
since the listing, access denied, the connection cut) raises OSError, which the reader turns into a
quarantined file like an unreadable local one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from kwrec.adapters.stores.s3 import BUCKET_RE, s3_client
from kwrec.core.ingest.source import LogFile, ignored
from kwrec.errors import DataError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CHUNK = 1 << 20


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return type(exc).__name__


class S3CustomerLogs:
    def __init__(self, client: S3Client, bucket: str, prefix: str, name: str) -> None:
        self._client, self.bucket, self.name = client, bucket, name
        self._prefix = f"{prefix}{name}/"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self._prefix}"

    def exists(self) -> bool:
        return bool(self.files())

    @functools.cache  # noqa: B019 (one listing per customer and run: every caller sees the same files)
    def files(self) -> list[LogFile]:
        out: list[LogFile] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(self._prefix) :]
                    if not rel or rel.endswith("/") or any(ignored(p) for p in rel.split("/")):
                        continue  # folder markers, hidden and _SUCCESS-style files
                    out.append(self._file(obj["Key"], rel, int(obj.get("Size", 0)), str(obj.get("ETag", ""))))
        except (ClientError, BotoCoreError) as exc:
            raise DataError(
                f"cannot list the logs under {self.location}: {_why(exc)}",
                hint="check the bucket, the prefix and the credentials' s3:ListBucket permission",
            ) from None
        return sorted(out, key=lambda f: f.rel)

    def _file(self, key: str, rel: str, size: int, etag: str) -> LogFile:
        def chunks() -> Iterator[bytes]:
            try:
                # IfMatch: the object read is the one listed (and fingerprinted), or the read fails.
                body = self._client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
                yield from body.iter_chunks(_CHUNK)
            except (ClientError, BotoCoreError) as exc:
                raise OSError(f"s3://{self.bucket}/{key}: {_why(exc)}") from None

        def read() -> bytes:
            return b"".join(chunks())

        return LogFile(rel, size, f"etag:{etag}", read, chunks)


class S3LogSource:
    """One ``<customer>/`` prefix each under ``s3://bucket/prefix``."""

    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str = "us-east-1"
    ) -> None:
        if not BUCKET_RE.fullmatch(bucket):
            raise DataError(
                f"invalid S3 bucket name {bucket!r} in data_dir",
                hint="use s3://bucket/prefix with a bucket of 3-63 lowercase letters, digits, '.' or '-'",
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client: Any = s3_client(endpoint_url, region)
        self._customers: dict[str, S3CustomerLogs] = {}

    def exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError):
            return False
        return True

    def folders(self) -> list[str]:
        names: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
            )
            for page in pages:
                names += [p["Prefix"][len(self.prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        except (ClientError, BotoCoreError) as exc:
            raise DataError(
                f"cannot list {self.url}: {_why(exc)}",
                hint="check the bucket, the prefix and the credentials' s3:ListBucket permission",
            ) from None
        return sorted(names)

    def customer(self, name: str) -> S3CustomerLogs:
        if name not in self._customers:
            self._customers[name] = S3CustomerLogs(self._client, self.bucket, self.prefix, name)
        return self._customers[name]
