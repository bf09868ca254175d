"""An artifact store in an S3 bucket (or an S3-compatible endpoint such as moto in tests).

S3 has no directory rename, so a directory is published by uploading its files and then a
``<prefix>/.complete`` marker; a prefix without the marker is treated as absent. Alias records use
S3 conditional writes (``If-None-Match: *`` / ``If-Match: <etag>``) for compare-and-swap.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from kwrec.adapters.stores.local import fsync_dir, fsync_tree
from kwrec.core.store import (
    MARKER_NAME,
    DirManifest,
    join_key,
    scan_dir,
    validate_key,
    validate_prefix,
)
from kwrec.errors import StoreError, StoreNotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# 412: the condition did not hold; 409: S3 saw a concurrent conditional write to the same key.
_CAS_LOST = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})
_DELETE_BATCH = 1000  # the DeleteObjects limit


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _display_endpoint(endpoint_url: str | None, region: str) -> str:
    """The endpoint for messages, without any user:password@ or query string it might carry."""
    if endpoint_url is None:
        return f"AWS S3 ({region})"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def s3_client(endpoint_url: str | None, region: str, max_attempts: int = 5) -> S3Client:
    """A client with bounded retries and timeouts; path-style addressing for custom endpoints."""
    config = Config(
        region_name=region,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # Custom endpoints (moto, MinIO) rarely resolve virtual-host bucket names.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    client: S3Client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
    return client


class S3Store:
    """An :class:`~kwrec.core.store.ArtifactStore` under ``s3://bucket/prefix``.

    Credentials come from boto3's usual chain (environment, profile, instance role); this class
    never holds or prints them.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        *,
        max_attempts: int = 5,
    ) -> None:
        if not BUCKET_RE.fullmatch(bucket):
            raise StoreError(
                f"invalid S3 bucket name {bucket!r}", hint="use 3-63 lowercase letters, digits, '.' or '-'"
            )
        self.bucket = bucket
        self.prefix = validate_prefix(prefix.rstrip("/"))
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint = _display_endpoint(endpoint_url, region)
        # One client for the store's lifetime: clients are thread-safe, sessions are not.
        self._client: S3Client = s3_client(endpoint_url, region, max_attempts)
        self._transfer = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)
        self._check_bucket()

    def __repr__(self) -> str:
        return f"S3Store(url={self.url!r}, endpoint={self.endpoint!r})"

    # -- helpers -----------------------------------------------------------------------------

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in {"404", "NoSuchBucket", "403", "AccessDenied", "Forbidden"}:
                raise StoreError(
                    f"bucket {self.bucket} does not exist or is not accessible at {self.endpoint}",
                    hint="create the bucket, or check the bucket name, region, endpoint and credentials",
                ) from None
            raise self._translate(exc, "open", "") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "open", "") from exc

    def _full(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _dir_prefix(self, prefix: str) -> str:
        """The S3 key prefix of directory ``prefix``, with the trailing '/' that S3 listings need."""
        full = join_key(self.prefix, validate_prefix(prefix)) if prefix else self.prefix
        return f"{full}/" if full else ""

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def _translate(self, exc: Exception, action: str, key: str) -> StoreError:
        where = f"{self.url} (at {self.endpoint})"
        # "open" the store itself has no key to name
        what = f"{action} {key!r}" if key else f"{action} the store"
        if isinstance(exc, NoCredentialsError):
            return StoreError(
                f"{where}: no AWS credentials found to {what}",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role",
            )
        if isinstance(exc, EndpointConnectionError):
            return StoreError(
                f"{where}: cannot reach the S3 endpoint to {what}",
                hint="check the endpoint URL and the network; the request was retried",
            )
        if isinstance(exc, ClientError):
            code = _code(exc)
            # Only S3's code and message: the full response may echo request details.
            message = str(exc.response.get("Error", {}).get("Message", "")).strip()
            if code in {"NoSuchBucket"}:
                return StoreError(
                    f"bucket {self.bucket} does not exist or is not accessible at {self.endpoint}",
                    hint="create the bucket or check the bucket name and endpoint",
                )
            if code in {"403", "AccessDenied", "Forbidden"}:
                return StoreError(
                    f"{where}: access denied to {what}",
                    hint="check the credentials and the bucket policy",
                )
            return StoreError(
                f"{where}: cannot {what}: {code} {message}".rstrip(),
                hint="retry; if it persists, check the endpoint's health and the bucket",
            )
        return StoreError(
            f"{where}: cannot {what}: {type(exc).__name__}: {exc}",
            hint="retry; if it persists, check the endpoint and the network",
        )

    @contextlib.contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, action, key) from exc

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """Content and ETag of ``key``, or None when absent."""
        with self._errors("read", key):
            try:
                resp = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
            return resp["Body"].read(), resp["ETag"]

    def _head(self, key: str, action: str) -> bool:
        with self._errors(action, key):
            try:
                self._client.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise
            return True

    def _download(self, full_key: str, dest: Path) -> None:
        """One file download; a separate method so tests can count downloads."""
        self._client.download_file(self.bucket, full_key, str(dest), Config=self._transfer)

    # -- ArtifactStore -----------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        got = self._get(validate_key(key))
        if got is None:
            raise StoreNotFound(
                f"{self.url}: key {key!r} does not exist (at {self.endpoint})",
                hint="check the key; list_keys shows what is stored",
            )
        return got[0]

    def read_if_changed(self, key: str, tag: str | None) -> tuple[bytes | None, str]:
        full = self._full(validate_key(key))
        with self._errors("read", key):
            try:
                if tag:
                    resp = self._client.get_object(Bucket=self.bucket, Key=full, IfNoneMatch=tag)
                else:
                    resp = self._client.get_object(Bucket=self.bucket, Key=full)
            except ClientError as exc:
                if tag and _code(exc) in {"304", "NotModified"}:
                    return None, tag
                if _code(exc) in _NOT_FOUND:
                    raise StoreNotFound(
                        f"{self.url}: key {key!r} does not exist (at {self.endpoint})"
                    ) from None
                raise
            return resp["Body"].read(), str(resp["ETag"])

    def write_bytes(self, key: str, data: bytes) -> None:
        # A single PUT replaces an object atomically; readers see the old or the new body.
        with self._errors("write", validate_key(key)):
            self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def exists_at_all(self) -> bool:
        return True  # the bucket was found when the store was opened; a prefix is not a thing to create

    def exists(self, key: str) -> bool:
        return self._head(validate_key(key), "check")

    def _iter_objects(self, prefix: str) -> Iterator[str]:
        """Every full key under directory ``prefix``, including markers."""
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._dir_prefix(prefix)):
                for obj in page.get("Contents", []):
                    yield obj["Key"]

    @staticmethod
    def _visible(rel: str) -> bool:
        """A key callers can address: not a marker and not something written by another tool."""
        try:
            validate_key(rel)
        except StoreError:
            return False
        return True

    def list_keys(self, prefix: str = "") -> list[str]:
        return sorted(
            rel for full in self._iter_objects(prefix) if self._visible(rel := self._relative(full))
        )

    def list_dirs(self, prefix: str = "") -> list[str]:
        base = self._dir_prefix(prefix)
        names: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(base) :].rstrip("/")
                    if self._visible(name) and "/" not in name:
                        names.append(name)
        return sorted(names)

    def delete_prefix(self, prefix: str) -> int:
        full_keys = list(self._iter_objects(prefix))
        # Markers go first, so a directory turns absent before any of its files disappear.
        markers = [k for k in full_keys if k.rsplit("/", 1)[-1] == MARKER_NAME]
        others = [k for k in full_keys if k.rsplit("/", 1)[-1] != MARKER_NAME]
        for batch_start in range(0, len(markers), _DELETE_BATCH):
            self._delete_batch(markers[batch_start : batch_start + _DELETE_BATCH], prefix)
        for batch_start in range(0, len(others), _DELETE_BATCH):
            self._delete_batch(others[batch_start : batch_start + _DELETE_BATCH], prefix)
        return sum(1 for k in others if self._visible(self._relative(k)))

    def _delete_batch(self, keys: list[str], prefix: str) -> None:
        if not keys:
            return
        with self._errors("delete", prefix):
            resp = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        errors = resp.get("Errors", [])
        if errors:
            first = errors[0]
            raise StoreError(
                f"{self.url}: could not delete {len(errors)} keys under {prefix!r} "
                f"(first: {first.get('Key')!r}: {first.get('Code')})",
                hint="check the bucket policy, then run the delete again",
            )

    def upload_dir(self, local_dir: Path, prefix: str) -> None:
        validate_key(prefix)
        files = scan_dir(local_dir)
        marker_key = join_key(prefix, MARKER_NAME)
        if self._head(marker_key, "publish"):
            raise StoreError(
                f"{self.url}: directory {prefix!r} is already published",
                hint="published directories are write-once: delete_prefix it first to publish again",
            )
        # Leftovers of a crashed upload would otherwise mix with the new files.
        if next(self._iter_objects(prefix), None) is not None:
            self.delete_prefix(prefix)
        manifest = DirManifest(uuid.uuid4().hex, {rel: size for rel, (_src, size) in files.items()})
        for rel, (src, _size) in files.items():
            key = join_key(prefix, rel)
            with self._errors("upload", key):
                try:
                    self._client.upload_file(str(src), self.bucket, self._full(key), Config=self._transfer)
                except OSError as exc:
                    raise StoreError(
                        f"{self.url}: cannot publish {prefix!r}: cannot read {src}: {exc.strerror or exc}",
                        hint="the local directory changed while uploading; rebuild it and publish again",
                    ) from exc
        with self._errors("publish", marker_key):
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=self._full(marker_key), Body=manifest.to_bytes(), IfNoneMatch="*"
                )
            except ClientError as exc:
                if _code(exc) not in _CAS_LOST:
                    raise
                raise StoreError(
                    f"{self.url}: directory {prefix!r} was published concurrently by another writer",
                    hint="check that only one job publishes each version; delete_prefix and publish again",
                ) from None

    def fetch_dir(self, prefix: str, cache_root: Path) -> Path:
        """Download a published directory into ``cache_root`` once; later calls reuse it.

        The cache path ends in ``<name>@<upload_id>``, so a directory deleted and published
        again is downloaded afresh instead of being served stale from the cache.
        """
        validate_key(prefix)
        got = self._get(join_key(prefix, MARKER_NAME))
        if got is None:
            raise StoreNotFound(
                f"{self.url}: directory {prefix!r} is not published "
                f"(no {MARKER_NAME} marker, at {self.endpoint})",
                hint="publish it with upload_dir; an unfinished upload counts as absent",
            )
        manifest = DirManifest.from_bytes(got[0], f"{self.url}/{prefix}/{MARKER_NAME}")
        *parents, name = self._full(prefix).split("/")
        target = Path(cache_root, "s3", self.bucket, *parents, f"{name}@{manifest.upload_id}")
        if target.is_dir():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create cache directory {target.parent}: {exc.strerror}",
                hint="check the cache_dir setting and its permissions",
            ) from exc
        tmp = target.parent / f".tmp-fetch-{uuid.uuid4().hex}"
        try:
            self._download_all(prefix, manifest, tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if target.is_dir():
                    return target  # another process fetched the same directory first
                raise
            fsync_dir(target.parent)
        except OSError as exc:
            raise StoreError(
                f"cannot write cache directory {target}: {exc.strerror or exc}",
                hint="check free disk space and permissions of the cache_dir",
            ) from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _download_all(self, prefix: str, manifest: DirManifest, tmp: Path) -> None:
        tmp.mkdir()
        for rel, size in manifest.files.items():
            key = join_key(prefix, rel)
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._download(self._full(key), dest)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise StoreNotFound(
                        f"{self.url}: {key!r} vanished while fetching directory {prefix!r}",
                        hint="the directory was deleted meanwhile; fetch the release again",
                    ) from None
                raise self._translate(exc, "download", key) from exc
            except BotoCoreError as exc:
                raise self._translate(exc, "download", key) from exc
            if dest.stat().st_size != size:
                raise StoreError(
                    f"{self.url}: {key!r} has {dest.stat().st_size} bytes, its marker says {size}",
                    hint="the directory was changed after publishing; delete_prefix and publish it again",
                )
        # Durable before the rename, so a crash cannot leave truncated files in the cache.
        fsync_tree(tmp)

    def dir_exists(self, prefix: str) -> bool:
        return self._head(join_key(validate_key(prefix), MARKER_NAME), "check")

    def compare_and_swap(self, key: str, expected: bytes | None, new: bytes) -> bool:
        validate_key(key)
        full = self._full(key)
        with self._errors("compare-and-swap", key):
            try:
                if expected is None:
                    self._client.put_object(Bucket=self.bucket, Key=full, Body=new, IfNoneMatch="*")
                    return True
                got = self._get(key)
                if got is None or got[0] != expected:
                    return False
                # The ETag pins the exact object we compared: a write in between fails the PUT.
                self._client.put_object(Bucket=self.bucket, Key=full, Body=new, IfMatch=got[1])
                return True
            except ClientError as exc:
                if _code(exc) in _CAS_LOST or _code(exc) in _NOT_FOUND:
                    return False
                raise
