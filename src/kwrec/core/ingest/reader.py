"""Finding customers and their input files, fingerprinting them, and reading them into one event frame."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from kwrec.core.ingest import formats as fmt
from kwrec.core.ingest.customer_config import BAN_NAME, CANONICAL, CONFIG_NAME, CustomerConfig
from kwrec.core.ingest.quarantine import Quarantine
from kwrec.core.ingest.source import CustomerLogs, LogFile, as_customer_logs
from kwrec.errors import DataError, KwrecError
from kwrec.settings import TrainParams

log = logging.getLogger(__name__)

EVENT_SCHEMA: Final = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "user_id": pl.String(),
        "session_id": pl.String(),
        "query": pl.String(),
        "result_count": pl.Int64(),
        "clicked": pl.Boolean(),
        "seq": pl.Int64(),
    }
)
_RESERVED: Final = frozenset({CONFIG_NAME, BAN_NAME})
_ISO_RE: Final = (
    r"^(?<date>\d{4}-\d{2}-\d{2})(?:[T ](?<hm>\d{2}:\d{2})(?<sec>:\d{2}(?:\.\d{1,9})?)?)?"
    r"\s*(?:(?<zulu>[Zz]|UTC)|(?<sign>[+-])(?<oh>\d{2}):?(?<om>\d{2})?)?$"
)
# Year-first local times as Korean screens and spreadsheets write them: "2026. 11. 25. 오후 7:46:00"
# (JavaScript's ko-KR toLocaleString, Google Sheets), "2026-11-25 오후 7:46" (Excel), "2026.11.25 19:46",
# "2026/11/25 7:46:00 PM". Year first, so day and month are never guessed.
_WRITTEN_RE: Final = (
    r"^(?<y>\d{4})\s*[./-]\s*(?<mo>\d{1,2})\s*[./-]\s*(?<d>\d{1,2})\.?"
    r"(?:\s*(?<ampm>오전|오후|[AaPp][Mm])?\s*(?<h>\d{1,2}):(?<mi>\d{2})(?::(?<sec>\d{2}(?:\.\d{1,9})?))?"
    r"(?:\s*(?<ampm2>오전|오후|[AaPp][Mm]))?)?$"
)
# Each shape its own format: polars parses these exact ones fastest (an optional fraction, "%.f",
# makes plain "...:20Z" three times slower).
_FAST_UTC_RE: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
_FAST_UTC_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
# JavaScript's toISOString(): milliseconds and Z
_FAST_UTC_FRACTION_RE: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,9}Z$"
_FAST_UTC_FRACTION_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.fZ"
_FAST_LOCAL_RE: Final = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_FAST_LOCAL_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_FAST_OFFSET_RE: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?[+-]\d{2}:?\d{2}$"
_FAST_OFFSET_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.f%:z"  # %.f: an optional fraction; %:z: +09:00 or +0900
# Korean admin screens and their exports mark yes/no as O/X or 예/아니오.
_TRUE: Final = ["true", "t", "yes", "y", "1", "o", "예", "네"]
_FALSE: Final = ["false", "f", "no", "n", "0", "x", "아니오", "아니요"]
# What exporters write for a missing value (MySQL/PostgreSQL/Hive text dumps, SQL tools, JavaScript,
# Python's str(None) and str(nan)), lowercase. An id cell holding only one of these is empty, so that
# anonymous rows are not all one person called "NULL"; a query that is one is empty (preprocessing).
NULL_MARKERS: Final = ["\\n", "null", "(null)", "undefined", "none", "nan"]
# As ids are compared row by row, in the cases exporters write (lowercasing every id costs more).
_NULL_SPELLINGS: Final = sorted(
    {f(m) for m in NULL_MARKERS for f in (str.lower, str.upper, str.title)} | {"NaN"}
)
LINE_BYTES_CAP: Final = 1 << 20  # a text line longer than this is refused, whatever its query
_BATCH_ROWS: Final = 1_000_000  # rows typed at once: many small files together, a large one alone
FUTURE_SLACK: Final = timedelta(days=1)  # how far past the wall clock an event may be stamped
# Digits-only local times (20261125194600, 202611251946, 20261125: many Korean logs and databases write
# them). Read as epoch numbers they would land in 2612 (ms) or 1970 (s); epoch times of those lengths
# are 1970-1973 or 1976 in seconds or milliseconds, and no search log is that old.
_COMPACT: Final = ((14, "%Y%m%d%H%M%S"), (12, "%Y%m%d%H%M"), (8, "%Y%m%d"))
_COMPACT_YEARS: Final = (1990, 2199)
_COMPACT_RE: Final = r"^(?:199|2[01]\d)\d{5}(?:\d{4}(?:\d{2})?)?$"  # the lengths and years above


def _scan(logs: CustomerLogs) -> tuple[list[LogFile], list[LogFile]]:
    """``(inputs, unsupported)``, both sorted by relative path; sub-folders are searched too."""
    inputs: list[LogFile] = []
    unsupported: list[LogFile] = []
    for f in logs.files():
        if "/" not in f.rel and f.rel in _RESERVED:
            continue
        (inputs if fmt.detect_format(f.name) is not None else unsupported).append(f)
    return inputs, unsupported


def input_files(logs: CustomerLogs | Path) -> list[LogFile]:
    """The customer's log files in a deterministic order (relative path, sorted)."""
    return _scan(as_customer_logs(logs))[0]


def fingerprint_inputs(logs: CustomerLogs | Path) -> str:
    """sha256 over the relative name, size and content of every input file, ``kwrec.toml`` and
    ``banned.txt``: any change to what training reads changes it. Local files are streamed; a file
    whose listing names its content (an S3 ETag) is not read at all."""
    logs = as_customer_logs(logs)
    h = hashlib.sha256()
    every = {f.rel: f for f in logs.files()}
    for f in [*(every[n] for n in sorted(_RESERVED) if n in every), *_scan(logs)[0]]:
        name = f.rel.encode()
        # Lengths frame every field, so no two different inputs hash the same byte stream.
        h.update(len(name).to_bytes(8, "big") + name + f.size.to_bytes(8, "big"))
        if f.identity is not None:
            h.update(b"identity:" + f.identity.encode())
        else:
            for chunk in f.chunks():
                h.update(chunk)
    return h.hexdigest()


def read_customer_logs(
    customer_dir: CustomerLogs | Path,
    config: CustomerConfig,
    quarantine: Quarantine,
    *,
    params: TrainParams | None = None,
) -> pl.DataFrame:
    """All of a customer's search events in input order (see ``EVENT_SCHEMA``); bad rows and files go
    to ``quarantine``. ``params`` (default: ``config`` applied to the default ``TrainParams``) gives the
    line length limit."""
    logs = as_customer_logs(customer_dir)
    customer = logs.name
    params = params or config.train_params(TrainParams.model_validate({}))
    inputs, unsupported = _scan(logs)
    for f in unsupported:
        log.warning("customer %s: skipping %s (unsupported file type)", customer, f.rel)
        quarantine.add(_label(logs, f), 0, fmt.UNSUPPORTED, "")
    if not inputs:
        raise DataError(
            f"customer {customer}: no input files in {logs.location}",
            hint="add .csv, .tsv, .jsonl, .ndjson, .json, .parquet, .txt or .log files "
            "(optionally .gz, .bz2 or .zst)",
        )
    frames: list[pl.DataFrame] = []
    unmapped: list[str] = []
    file_columns: dict[str, list[str]] = {}
    batch: list[_Parsed] = []
    batched_rows = 0

    def flush() -> None:
        frames.extend(_type_batch(batch, config, quarantine, customer))
        batch.clear()

    for f in inputs:
        label = _label(logs, f)
        try:
            parsed = _parse_file(f, label, config, params)
        except fmt.FileRejected as exc:
            flush()  # the quarantine keeps the files' order
            # Debug only: the run reports the quarantine's counts once (or the no-valid-row error says it).
            log.debug("customer %s: %s quarantined: %s", customer, label, exc)
            quarantine.add(label, 0, exc.reason, exc.detail)
            if exc.reason in (fmt.MISSING_COLUMNS, fmt.NOT_TEXT):
                unmapped.append(f"{f.rel}: {exc.detail}")
            continue
        except (KwrecError, OSError, MemoryError):
            raise
        except Exception as exc:  # a reader bug must not stop the fleet's release
            flush()
            _quarantine_bug(quarantine, customer, label, exc)
            continue
        # Files of one shape are typed together: a day of hourly exports is one timestamp parse, not
        # 24 (each costs milliseconds of fixed work, whatever its size).
        if batch and (parsed.rows.schema != batch[0].rows.schema or batched_rows >= _BATCH_ROWS):
            flush()
        if not batch:
            batched_rows = 0
        batch.append(parsed)
        batched_rows += parsed.rows.height
        if parsed.columns:
            file_columns[f.rel] = parsed.columns
            _warn_ambiguous_columns(customer, f.rel, parsed.columns, config)
    flush()
    events = pl.concat(frames) if frames else pl.DataFrame(schema=EVENT_SCHEMA)
    lost_to_time = sum(quarantine.counts.get(r, 0) for r in (fmt.BAD_TIMESTAMP, fmt.FUTURE_TIMESTAMP))
    if lost_to_time > events.height:
        # More rows lost to their timestamps than kept: a form kwrec does not read (or reads as another:
        # digits with the day before the month are no date, and as epoch milliseconds land in 2612),
        # not a few bad lines.
        quarantine.advice = timestamp_advice(logs.location, config.timestamp_format)
    if events.height and events["user_id"].null_count() == events.height and file_columns:
        _warn_no_user_ids(customer, logs.location, file_columns, config)
    if events.height == 0:
        raise DataError(no_valid_row(customer, logs.location, len(inputs), unmapped, quarantine))
    if unmapped:
        # The other files were read; these lost every row to a column the config can fix.
        log.warning("customer %s: file(s) not read: %s", customer, "; ".join(unmapped[:5]))
    return events.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("seq")).select(list(EVENT_SCHEMA))


def no_valid_row(
    customer: str, location: str, files: int, unmapped: list[str], quarantine: Quarantine
) -> str:
    """Why nothing could be read, in one line: the columns to map first, then where the rows went."""
    text = f"customer {customer}: no valid row in {files} input file(s) under {location}"
    if unmapped:
        config = f"{location.rstrip('/')}/{CONFIG_NAME}"
        text += (
            f": {'; '.join(unmapped)}; map your column names in the [columns] table of {config} "
            '(e.g. [columns] query = "keyword")'
        )
    return text + (f"; {quarantine.summary()}" if quarantine.total else "")


def _warn_ambiguous_columns(customer: str, rel: str, columns: list[str], config: CustomerConfig) -> None:
    """Two columns of the name a field is read from (an export that joined two tables): the first is read,
    which may be the wrong one, so it is said."""
    for field in CANONICAL:
        source = config.columns.source(field)
        found = fmt.matching_columns(columns, source)
        if len(found) > 1:
            log.warning(
                "customer %s: %s has %d columns named %r (columns %s): the first is read as %s; if another "
                "is the one, give it its own name in the export",
                customer, rel, len(found), source, ", ".join(str(i + 1) for i in found), field,
            )  # fmt: skip


def _warn_no_user_ids(
    customer: str, location: str, file_columns: dict[str, list[str]], config: CustomerConfig
) -> None:
    """Files with columns but no user id: every search then counts as its own person, so ``min_users``
    cannot keep back what one person typed. A log that has ids under another name (AOL's AnonID) would
    lose that protection without a word."""
    mapped = {config.columns.source(c).casefold() for c in CANONICAL}
    unmapped = (
        (rel, [c for c in cols if c.strip().casefold() not in mapped]) for rel, cols in file_columns.items()
    )
    # The first file that has a column the mapping leaves out.
    rel, others = next(((rel, others) for rel, others in unmapped if others), ("", []))
    if not others:
        return
    shown = ", ".join(repr(c) for c in others[:8]) + (", ..." if len(others) > 8 else "")
    log.warning(
        "customer %s: no user id in %s (its other columns: %s): every search counts as its own person, "
        "so min_users cannot keep back a query one person typed; if one of them identifies the user, map it "
        'in %s/%s ([columns] user_id = "...")',
        customer, rel, shown, location.rstrip("/"), CONFIG_NAME,
    )  # fmt: skip


def timestamp_advice(location: str, timestamp_format: str | None) -> str:
    """What to do when a log writes its times in a form kwrec does not read (by itself, or with the
    customer's ``timestamp_format``)."""
    config = f"{location.rstrip('/')}/{CONFIG_NAME}"
    if timestamp_format:
        return (
            f"the timestamps do not match timestamp_format = {timestamp_format!r} in {config}: "
            "correct the pattern (strftime: %Y year, %m month, %d day, %H:%M:%S time, %z UTC offset)"
        )
    return (
        "timestamps are read as ISO 8601 (2026-11-01 09:30:00, 2026-11-01T09:30:00+09:00), year first "
        "as screens write it (2026. 11. 1. 오전 9:30:00, 2026.11.01 09:30, 2026/11/01 9:30 AM), as digits "
        "(20261101093000, 202611010930, 20261101) or epoch seconds or milliseconds; for any other form "
        f"set timestamp_format in {config} "
        '(a strftime pattern, e.g. timestamp_format = "%d/%m/%Y %H:%M")'
    )


def _csv_delimiter(good: pl.DataFrame, config: CustomerConfig) -> str:
    # Only a header line tells a delimiter apart from text: a headerless file's first query may hold ";".
    return fmt.sniff_delimiter(good, ",") if config.has_header and config.names is None else ","


def _is_table(good: pl.DataFrame, config: CustomerConfig, fields: dict[str, str], explicit: set[str]) -> bool:
    """Whether a .txt/.log file is to be read as tab-separated fields (the customer's kwrec.toml names
    them or sets a delimiter, or the lines are a table with a header that has the query column); a table
    with no header to name its fields is rejected with what to set, not trained field-glued-to-field."""
    if config.names is not None or config.delimiter is not None or not config.has_header:
        return True
    n = fmt.tab_separated_fields(good)
    if n is None:
        return False
    header = str(good["text"][0]).split("\t")
    try:
        fmt.resolve_fields(header, fields, explicit)
    except fmt.FileRejected:
        preview = ", ".join(repr(f[:30]) for f in header[:4])
        raise fmt.FileRejected(
            fmt.MISSING_COLUMNS,
            f"its lines are {n} tab-separated fields ({preview}), with no header line naming them: name "
            f'them with has_header = false and names = [...] (e.g. names = ["user_id", "timestamp", '
            '"query"], one per field)',
        ) from None
    return True


def _label(logs: CustomerLogs, f: LogFile) -> str:
    return f"{logs.name}/{f.rel}"


@dataclass
class _Parsed:
    """One file read into its source fields, not yet typed (``_type_batch`` types files together)."""

    label: str
    rows: pl.DataFrame  # line and the source fields found, in their stored types
    raw: pl.DataFrame  # line, raw: each row's input, for the quarantine
    rejected: pl.DataFrame  # line, reason, raw: what reading the file already refused
    columns: list[str]  # the file's column names; none for one query a line


def _parse_file(f: LogFile, label: str, config: CustomerConfig, params: TrainParams) -> _Parsed:
    kind = fmt.detect_format(f.name)
    fields = {c: config.columns.source(c) for c in CANONICAL}
    explicit = {c for c in CANONICAL if config.columns.explicit(c)}
    data, cut = fmt.read_bytes(f)
    if cut is not None and kind is fmt.Format.PARQUET:
        raise fmt.FileRejected(cut.compression.corrupt, cut.error)  # part of a Parquet file is no table
    if kind is fmt.Format.PARQUET:
        rows, columns = fmt.read_parquet(data, fields, explicit)
        raw = rows.select("line", pl.col("query").alias("raw"))
        rows, rejected = _without_long_queries(rows, raw, fmt.empty_rejected(), params)
        nul = pl.col("query").str.contains("\x00", literal=True).fill_null(False)
        refused = rows.filter(nul).select(
            "line", pl.lit(fmt.NUL_BYTES).alias("reason"), pl.col("query").alias("raw")
        )
        rejected, rows = pl.concat([rejected, refused]), rows.filter(~nul)
    else:
        decoded = fmt.decode(data, config.python_encoding)
        del data
        if kind is fmt.Format.JSONL:
            decoded = fmt.json_records_as_lines(decoded, fields["query"])
        # The limit is on the query: a wide export (300 columns, a user agent, a URL) has long lines that
        # are good rows, and its header must not be refused and replaced by the first row. A line over
        # LINE_BYTES_CAP is garbage whatever it holds.
        good, rejected = fmt.split_lines(decoded, max(params.max_line_bytes, LINE_BYTES_CAP))
        raw = good.select("line", pl.col("text").alias("raw"))
        if kind is fmt.Format.TEXT and _is_table(good, config, fields, explicit):
            kind = fmt.Format.TSV
        columns = []
        if kind is fmt.Format.TEXT:
            rows = good.select("line", pl.col("text").alias("query"))
        elif kind is fmt.Format.JSONL:
            columns = fmt.first_object_keys(good)
            rows, bad = fmt.parse_jsonl(good, fields)
            rejected = pl.concat([rejected, bad])
        else:
            if not config.has_header and config.names is None:
                raise fmt.FileRejected(
                    fmt.MISSING_COLUMNS,
                    "has_header = false but no names = [...] in kwrec.toml to name the columns",
                )
            quote = (
                config.quote if config.quote is not None else ('"' if kind is fmt.Format.CSV else None)
            ) or None
            delimiter = config.delimiter or ("\t" if kind is fmt.Format.TSV else _csv_delimiter(good, config))
            names = config.names if (config.names is not None or not config.has_header) else None
            if quote is not None and good.height:
                # A quoted field may hold line breaks: its lines are one record (and one raw text).
                header = names or fmt.header_names(good, delimiter, quote)
                good = fmt.join_quoted_records(good, quote=quote, delimiter=delimiter, fields=len(header))
                raw = good.select("line", pl.col("text").alias("raw"))
            rows, bad, columns = fmt.parse_delimited(
                good,
                delimiter=delimiter,
                quote=quote,
                names=names,
                fields=fields,
                explicit=explicit,
            )
            rejected = pl.concat([rejected, bad])
        # A text file's queries are known only once its fields are (Parquet's were checked above).
        rows, rejected = _without_long_queries(rows, raw, rejected, params)
    if cut is not None:
        tail = f"{cut.tail[:200].decode('utf-8', 'replace')} <cut: {cut.describe()}>"
        rejected = pl.concat(
            [
                rejected,
                pl.DataFrame({"line": [cut.line], "reason": [cut.compression.truncated], "raw": [tail]}),
            ],
            how="vertical_relaxed",
        )
        log.warning("%s: %s", f.rel, cut.describe())
    return _Parsed(label, rows, raw, rejected, columns)


def _without_long_queries(
    rows: pl.DataFrame, raw: pl.DataFrame, rejected: pl.DataFrame, params: TrainParams
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``rows`` without the queries over ``max_line_bytes``, which join ``rejected`` with their raw input."""
    longest = rows["query"].str.len_bytes().max() if "query" in rows.columns else None
    if not isinstance(longest, int) or longest <= params.max_line_bytes:
        return rows, rejected  # the common case: no query that long, no filtering
    too_long = (pl.col("query").str.len_bytes() > params.max_line_bytes).fill_null(False)
    refused = (
        rows.filter(too_long)
        .select("line", pl.lit(fmt.LINE_TOO_LONG).alias("reason"))
        .join(raw, on="line", how="left", maintain_order="left")
    )
    return rows.filter(~too_long), pl.concat([rejected, refused])


def _type_batch(
    batch: list[_Parsed], config: CustomerConfig, quarantine: Quarantine, customer: str
) -> list[pl.DataFrame]:
    """Type the files of ``batch`` (one shape) in one pass; each file's rejected rows go to the quarantine
    under its own name, in line order. If typing fails (a bug), each file is typed alone, and a file that
    still fails is quarantined whole."""
    if not batch:
        return []
    try:
        events, bad = _typed(
            pl.concat([p.rows.with_columns(pl.lit(i, pl.Int32).alias("file")) for i, p in enumerate(batch)]),
            pl.concat([p.raw.with_columns(pl.lit(i, pl.Int32).alias("file")) for i, p in enumerate(batch)]),
            config,
        )
    except (KwrecError, OSError, MemoryError):
        raise
    except Exception as exc:  # a reader bug must not stop the fleet's release
        if len(batch) > 1:
            return [frame for p in batch for frame in _type_batch([p], config, quarantine, customer)]
        _quarantine_bug(quarantine, customer, batch[0].label, exc)
        return []
    by_file = bad.partition_by("file", as_dict=True, include_key=False) if bad.height else {}
    for i, p in enumerate(batch):
        typed_bad = by_file.get((i,))
        rejected = p.rejected if typed_bad is None else pl.concat([p.rejected, typed_bad])
        quarantine.add_frame(rejected.sort("line"), file=p.label)
    return [events]


def _quarantine_bug(quarantine: Quarantine, customer: str, label: str, exc: Exception) -> None:
    """Something in this file that the reader does not handle: the file is kept in quarantine and the
    other files (and customers) go on; the traceback goes to the log for a bug report."""
    log.error("customer %s: reading %s failed: a kwrec bug", customer, label, exc_info=exc)
    detail = f"kwrec failed reading it ({type(exc).__name__}: {str(exc)[:200]}); please report this"
    quarantine.add(label, 0, fmt.UNREADABLE, detail)


def _typed(
    rows: pl.DataFrame, raw: pl.DataFrame, config: CustomerConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Source fields -> typed event columns; rows without a query or with a bad timestamp are rejected.
    ``rows`` and ``raw`` have ``file`` and ``line``, which name a row; the rejected keep them."""
    has_ts = "timestamp" in rows.columns
    cols = rows.columns
    query = pl.col("query") if "query" in cols else pl.lit(None, pl.String)
    ts = parse_timestamps(rows["timestamp"], config) if has_ts else None
    out = rows.select(
        "file",
        "line",
        (pl.lit(ts) if ts is not None else pl.lit(None, pl.Datetime("us", "UTC"))).alias("ts"),
        _text_id("user_id", cols),
        _text_id("session_id", cols),
        query.cast(pl.String).alias("query"),
        _int(pl.col("result_count"), rows.schema["result_count"]) if "result_count" in cols
        else pl.lit(None, pl.Int64).alias("result_count"),
        _bool(pl.col("clicked"), rows.schema["clicked"]) if "clicked" in cols
        else pl.lit(None, pl.Boolean).alias("clicked"),
    )  # fmt: skip
    rules = [(pl.col("query").is_null() | (pl.col("query") == ""), fmt.MISSING_QUERY)]
    if has_ts:
        rules.append((pl.col("ts").is_null(), fmt.BAD_TIMESTAMP))
        # Decay and the popular/trending windows count back from the newest event: one row stamped 2099
        # would age every real search to nothing. A day of slack covers time zones and skewed clocks.
        latest = datetime.now(UTC) + FUTURE_SLACK
        rules.append((pl.col("ts") > pl.lit(latest, pl.Datetime("us", "UTC")), fmt.FUTURE_TIMESTAMP))
    reason = fmt.first_reason(rules)
    out = out.with_columns(reason.alias("_reason"))
    rejected = (
        out.filter(pl.col("_reason").is_not_null())
        .select("file", "line", pl.col("_reason").alias("reason"))
        .join(raw, on=["file", "line"], how="left", maintain_order="left")
    )
    good = out.filter(pl.col("_reason").is_null()).drop("_reason", "line", "file")
    return good, rejected


def _text_id(name: str, cols: list[str]) -> pl.Expr:
    if name not in cols:
        return pl.lit(None, pl.String).alias(name)
    s = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when((s == "") | s.is_in(_NULL_SPELLINGS)).then(None).otherwise(s).alias(name)


def _int(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        # "1,234": the thousands separator of exported reports
        f = e.str.strip_chars().str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
        e = pl.when(f == f.round()).then(f.cast(pl.Int64, strict=False))
    n = e.cast(pl.Int64, strict=False)
    # A negative count is a log's "unknown" (-1), not a search that found nothing.
    return pl.when(n >= 0).then(n).alias("result_count")


def _bool(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        s = e.str.strip_chars().str.to_lowercase()
        # Anything else that reads as a number is a click count or a 1.0/0.0 flag: clicked if not 0.
        number = s.cast(pl.Float64, strict=False)
        return (
            pl.when(s.is_in(_TRUE))
            .then(True)
            .when(s.is_in(_FALSE))
            .then(False)
            .otherwise(pl.when(number.is_not_nan()).then(number != 0))
            .alias("clicked")
        )
    if dtype == pl.Boolean:
        return e.alias("clicked")
    return (e.cast(pl.Float64, strict=False) != 0).alias("clicked")


def _from_epoch(v: pl.Expr) -> pl.Expr:
    """Seconds, milliseconds or microseconds since 1970, told apart by magnitude (1e11 s is year 5138)."""
    a = v.abs()
    us = pl.when(a < 1e11).then(v * 1e6).when(a < 1e14).then(v * 1e3).when(a < 1e17).then(v)
    return us.round().cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _compact_local(digits: pl.Expr) -> pl.Expr:
    """A digits-only local time of 14, 12 or 8 digits (see ``_COMPACT``), else null."""
    n = digits.str.len_chars()
    out = pl.lit(None, pl.Datetime("us"))
    for length, pattern in _COMPACT:
        only = pl.when(n == length).then(digits)  # parse only the rows of this length
        out = pl.coalesce(out, only.str.to_datetime(pattern, strict=False, time_unit="us"))
    return pl.when(out.dt.year().is_between(*_COMPACT_YEARS)).then(out)


def _localise(e: pl.Expr, tz: str) -> pl.Expr:
    # A local time that does not exist (DST gap) is unparsable; an ambiguous one takes the earlier instant.
    return e.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _timestamp(e: pl.Expr, dtype: pl.DataType, config: CustomerConfig) -> pl.Expr:
    tz = config.timezone
    if isinstance(dtype, pl.Datetime):
        e = e.dt.cast_time_unit("us")
        return e.dt.convert_time_zone("UTC") if dtype.time_zone else _localise(e, tz)
    if isinstance(dtype, pl.Date):
        return _localise(e.cast(pl.Datetime("us")), tz)
    if dtype.is_float():
        return _from_epoch(e)
    if dtype.is_integer():
        v = e.cast(pl.Int64)
        lo, hi = _COMPACT_YEARS
        # Only numbers of a compact form's length and range become text (epoch seconds never do).
        in_range = pl.lit(False)
        for length, _ in _COMPACT:
            scale = 10 ** (length - 4)
            in_range = in_range | v.is_between(lo * scale, (hi + 1) * scale - 1)
        compact = _compact_local(pl.when(in_range).then(v.cast(pl.String)))
        return pl.when(compact.is_not_null()).then(_localise(compact, tz)).otherwise(_from_epoch(v))
    raise TypeError(f"text timestamps are read by parse_timestamps, not as {dtype}")


def _written_local(column: str) -> pl.Expr:
    """The naive datetime of ``_WRITTEN_RE``'s groups in ``column``: 오후/PM adds 12 hours to 1-11, 오전/AM
    12 is midnight; an hour over 12 with either, or a date that does not exist, is null."""
    g = pl.col(column).struct.field
    ampm = pl.coalesce(g("ampm"), g("ampm2")).str.to_uppercase()
    hour = g("h").cast(pl.Int64, strict=False)
    pm, am = ampm.is_in(["오후", "PM"]), ampm.is_in(["오전", "AM"])
    hour = (
        pl.when(ampm.is_null())
        .then(hour)
        .when(hour.is_between(1, 12))
        .then(hour % 12 + pl.when(pm).then(12).otherwise(0))
        .when(am | pm)
        .then(None)
    )

    def two(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(2)

    text = pl.format(
        "{}-{}-{}T{}:{}:{}",
        g("y"),
        two(g("mo")),
        two(g("d")),
        two(hour.fill_null(pl.when(g("h").is_null()).then(0))),
        two(g("mi").fill_null("00")),
        g("sec").fill_null("00").str.zfill(2),
    )
    return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")


def parse_timestamps(values: pl.Series, config: CustomerConfig) -> pl.Series:
    """A timestamp column of any type -> UTC datetimes (null where unreadable), each row by its form."""
    dtype = values.dtype
    if isinstance(dtype, pl.Decimal):
        # Parquet writers store epoch numbers as decimals too; one out of Int64's range becomes null.
        values = values.cast(pl.Int64 if dtype.scale == 0 else pl.Float64, strict=False)
        dtype = values.dtype
    if isinstance(dtype, pl.Datetime | pl.Date) or dtype.is_numeric():
        return values.to_frame("v").select(_timestamp(pl.col("v"), dtype, config)).to_series()
    return _text_times(values.cast(pl.String).str.strip_chars(), config)


def _text_times(values: pl.Series, config: CustomerConfig) -> pl.Series:
    """Text timestamps -> UTC. Computed in stages, each a column: an eager select evaluates a
    sub-expression again at every use (ISO 8601 with an offset ran its regex seven times a row)."""
    tz = config.timezone
    s = pl.col("s")
    f = values.to_frame("s")
    if config.timestamp_format:
        fmt_ = config.timestamp_format
        parsed = s.str.to_datetime(fmt_, strict=False, time_unit="us")
        aware = "%z" in fmt_ or "%:z" in fmt_ or "%#z" in fmt_
        return f.select(parsed.dt.convert_time_zone("UTC") if aware else _localise(parsed, tz)).to_series()
    # Most logs write one of three shapes: UTC "2026-11-01T09:30:00(.123)Z", local "2026-11-01 09:30:00"
    # (databases, Korean exports) or with an offset "2026-11-01T09:30:00.123+09:00" (Java, JavaScript).
    # A capture-free match and one fixed-format parse handle each several times faster than the
    # general path below, which gets null for those rows (when/then evaluates every branch on every
    # row, and null costs nothing to regex or parse; a failed parse costs more).
    f = f.with_columns(
        fast=s.str.contains(_FAST_UTC_RE),
        fast_fraction=s.str.contains(_FAST_UTC_FRACTION_RE),
        fast_local=s.str.contains(_FAST_LOCAL_RE),
        fast_offset=s.str.contains(_FAST_OFFSET_RE),
    )
    fast, fast_local, fast_offset = pl.col("fast"), pl.col("fast_local"), pl.col("fast_offset")
    fast_fraction = pl.col("fast_fraction")
    f = f.with_columns(
        fast_ts=pl.coalesce(
            pl.when(fast).then(s).str.to_datetime(_FAST_UTC_FORMAT, strict=False, time_unit="us"),
            pl.when(fast_fraction)
            .then(s)
            .str.to_datetime(_FAST_UTC_FRACTION_FORMAT, strict=False, time_unit="us"),
        ),
        fast_local_ts=pl.when(fast_local)
        .then(s)
        .str.to_datetime(_FAST_LOCAL_FORMAT, strict=False, time_unit="us"),
        fast_offset_ts=pl.when(fast_offset)
        .then(s)
        .str.to_datetime(_FAST_OFFSET_FORMAT, strict=False, time_unit="us")
        .dt.convert_time_zone("UTC"),
        rest=pl.when(fast | fast_fraction | fast_local | fast_offset).then(None).otherwise(s),
    )
    rest = pl.col("rest")
    # The length test first: epoch seconds and milliseconds (10 and 13 digits) skip the digits regex.
    f = f.with_columns(
        is_epoch=rest.str.contains(r"^[+-]?\d+(?:\.\d+)?$"),
        digits=pl.when(rest.str.len_bytes().is_in([n for n, _ in _COMPACT])).then(rest),
        # One pass splits ISO 8601 into a local part (parsed with a single format: trying several
        # formats costs a failed parse per row and format) and an optional UTC offset.
        parts=rest.str.extract_groups(_ISO_RE),
    )
    parts = pl.col("parts")
    # The written forms' regex runs only when some row is left for it (most logs have none).
    f = f.with_columns(written=pl.when(parts.struct.field("date").is_null() & ~pl.col("is_epoch")).then(rest))
    written = pl.lit(None, pl.Datetime("us"))
    if f["written"].is_not_null().any():
        f = f.with_columns(pl.col("written").str.extract_groups(_WRITTEN_RE))
        written = _written_local("written")
    f = f.with_columns(
        compact=_compact_local(pl.when(pl.col("digits").str.contains(_COMPACT_RE)).then(pl.col("digits"))),
        local=pl.format(
            "{}T{}{}",
            parts.struct.field("date"),
            parts.struct.field("hm").fill_null("00:00"),
            parts.struct.field("sec").fill_null(":00"),
        ).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        zulu=parts.struct.field("zulu").is_not_null(),
        offset_min=pl.when(parts.struct.field("sign") == "-").then(-1).otherwise(1)
        * (
            parts.struct.field("oh").cast(pl.Int64) * 60
            + parts.struct.field("om").fill_null("0").cast(pl.Int64)
        ),
    )
    compact, local, offset_min = pl.col("compact"), pl.col("local"), pl.col("offset_min")
    # Digits, ISO without an offset and the written forms are all local times: one time-zone pass.
    f = f.with_columns(localised=_localise(pl.coalesce(pl.col("fast_local_ts"), compact, local, written), tz))
    return f.select(
        pl.when(fast | fast_fraction)
        .then(pl.col("fast_ts").dt.replace_time_zone("UTC"))
        .when(fast_offset)
        .then(pl.col("fast_offset_ts"))
        .when(fast_local | compact.is_not_null())
        .then(pl.col("localised"))
        .when(pl.col("is_epoch"))
        .then(_from_epoch(rest.cast(pl.Float64, strict=False)))
        .when(pl.col("zulu"))
        .then(local.dt.replace_time_zone("UTC"))
        .when(offset_min.is_not_null())
        .then(local.dt.replace_time_zone("UTC") - pl.duration(minutes=offset_min))
        .otherwise(pl.col("localised"))
    ).to_series()
