"""Log sources: where customers' search logs are read from (a local folder, or an S3 prefix)."""

from __future__ import annotations

from pathlib import Path

from kwrec.core.ingest.source import LocalLogSource, LogSource
from kwrec.settings import S3Settings


def open_logs(data_dir: str | Path, s3: S3Settings | None = None, own: tuple[Path, ...] = ()) -> LogSource:
    """``s3://bucket/prefix`` -> :class:`~kwrec.adapters.sources.s3.S3LogSource`; a path -> a local folder
    (``own``: kwrec's own folders, never read as a customer's)."""
    text = str(data_dir)
    if isinstance(data_dir, str) and text.lower().startswith("s3://"):
        from kwrec.adapters.sources.s3 import S3LogSource  # boto3 only when the logs are on S3

        bucket, _, prefix = text[len("s3://") :].partition("/")
        cfg = s3 or S3Settings()
        return S3LogSource(bucket, prefix, endpoint_url=cfg.endpoint_url, region=cfg.region)
    return LocalLogSource(Path(data_dir), own)
