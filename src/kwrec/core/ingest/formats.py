"""File formats: decoding bytes to lines, and lines (or Parquet) to a frame of source fields.

Text formats are handled line by line in columns: the file is validated/transcoded to UTF-8 in bulk,
split into a ``(line, text)`` frame by polars, and every line-level problem (encoding, NUL bytes, length)
is found with expressions. One search event never spans lines, so a CSV record that would (an open
quote) is rejected instead of silently swallowing the lines after it.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import io
import itertools
import json
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal, Protocol

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

# Quarantine reasons (the keys of ``Quarantine.counts``).
BAD_ENCODING: Final = "bad encoding"
NUL_BYTES: Final = "NUL bytes"
LINE_TOO_LONG: Final = "line too long"
MISSING_COLUMNS: Final = "missing columns"
TOO_MANY_COLUMNS: Final = "too many columns"
BAD_QUOTING: Final = "bad quoting"
MISSING_QUERY: Final = "missing query"
BAD_TIMESTAMP: Final = "bad timestamp"
FUTURE_TIMESTAMP: Final = "timestamp in the future"
INVALID_JSON: Final = "invalid JSON"
NOT_TEXT: Final = "not text"
UNREADABLE: Final = "unreadable file"
CORRUPT_GZIP: Final = "corrupt gzip"
TRUNCATED_GZIP: Final = "truncated gzip"
CORRUPT_COMPRESSED: Final = "corrupt compressed file"  # bzip2, zstd
TRUNCATED_COMPRESSED: Final = "truncated compressed file"
CORRUPT_PARQUET: Final = "corrupt parquet"
UNSUPPORTED: Final = "unsupported file type"
REPEATED_HEADER: Final = "repeated header"  # exports concatenated into one file (cat day1.csv day2.csv)

_UTF8_BOM: Final = b"\xef\xbb\xbf"
# Excel's "Unicode text" export (and many Windows tools) write UTF-16 with a byte-order mark.
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_SNIFF_BYTES: Final = 1 << 16  # what tells text from binary
_CHUNK: Final = 1 << 20
_TEXT_FIELDS: Final = ("query", "user_id", "session_id")
_NOT_SPACE: Final = re.compile(rb"\S")
MAX_RECORD_LINES: Final = 20  # lines one CSV record may span (a quoted field with line breaks)


class Format(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    JSONL = "jsonl"
    PARQUET = "parquet"
    TEXT = "text"


_SUFFIXES: Final = {
    ".csv": Format.CSV,
    ".tsv": Format.TSV,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSONL,  # JSON lines (BigQuery's export) or other record layouts: json_records_as_lines
    ".parquet": Format.PARQUET,
    ".txt": Format.TEXT,
    ".log": Format.TEXT,
}


class FileRejected(Exception):
    """The whole file is unusable; the reader quarantines it with ``reason`` and goes on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Compression(StrEnum):
    GZIP = "gzip"
    BZIP2 = "bzip2"
    ZSTD = "zstd"

    @property
    def corrupt(self) -> str:
        """The quarantine reason of a file of this compression that does not decompress."""
        return CORRUPT_GZIP if self is Compression.GZIP else CORRUPT_COMPRESSED

    @property
    def truncated(self) -> str:
        """The quarantine reason of the cut line of a stream that breaks off."""
        return TRUNCATED_GZIP if self is Compression.GZIP else TRUNCATED_COMPRESSED


# What exporters and pipelines compress logs with (Spark, Hive, Firehose, gzip/bzip2/zstd on a shell).
_COMPRESSED_SUFFIXES: Final = {".gz": Compression.GZIP, ".bz2": Compression.BZIP2, ".zst": Compression.ZSTD}
# Each format's magic bytes; bzip2's with its first block's, so a text file starting "BZh9" stays text.
_MAGIC: Final = (
    (Compression.GZIP, re.compile(rb"\x1f\x8b")),
    (Compression.ZSTD, re.compile(rb"\x28\xb5\x2f\xfd")),
)
_BZIP2_MAGIC: Final = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")


def compression_by_name(file_name: str) -> Compression | None:
    return _COMPRESSED_SUFFIXES.get(Path(file_name.lower()).suffix)


def compression_of(data: bytes) -> Compression | None:
    """How ``data`` is compressed, by its magic bytes (a name can be wrong: see :func:`read_bytes`)."""
    for kind, magic in _MAGIC:
        if magic.match(data):
            return kind
    return Compression.BZIP2 if _BZIP2_MAGIC.match(data) else None


def detect_format(file_name: str) -> Format | None:
    name = file_name.lower()
    if compression_by_name(name) is not None:
        name = name[: name.rfind(".")]
    return _SUFFIXES.get(Path(name).suffix)


@dataclass(frozen=True)
class Truncation:
    """A compressed stream that breaks off (a cut upload, a damaged block): the complete lines before the
    break are kept; this says where it broke and holds the incomplete line that was cut."""

    line: int  # 1-based number of the cut line (the first line not kept)
    kept_bytes: int  # decompressed bytes kept: every complete line before the break
    compressed_bytes: int  # size of the file as it is
    tail: bytes  # the cut line's bytes, up to the break
    error: str
    compression: Compression = Compression.GZIP

    def describe(self) -> str:
        return (
            f"the {self.compression} stream breaks off after {self.kept_bytes:,} decompressed bytes "
            f"({self.compressed_bytes:,} compressed bytes in the file): {self.error}; the {self.line - 1:,} "
            "complete lines before it are kept, this cut line is not"
        )


class _Stream(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, /) -> bytes: ...


def _members(
    data: bytes,
    name: str,
    starts: Callable[[bytes], bool],
    open_stream: Callable[[], _Stream],
    damage: type[Exception],
) -> tuple[bytes, str | None]:
    """Stream-decompress every member of a file of ``name`` members one after another (gzip's, or the
    streams pbzip2 writes one per block): what decompressed, and the error that stopped it.

    Input goes in 64 KiB at a time, so a damaged block loses only what follows it (the decompressor
    discards the output of the call that fails).
    """
    out = bytearray()
    rest = data
    while rest:
        if not starts(rest):
            return bytes(out), None if not rest.strip(b"\x00") else f"trailing bytes that are not {name}"
        stream = open_stream()
        for start in range(0, len(rest), 1 << 16):
            try:
                out += stream.decompress(rest[start : start + (1 << 16)])
            except damage as exc:
                return bytes(out), f"damaged data: {exc}"
            if stream.eof:  # the next member (if any) starts in what this one did not use
                rest = stream.unused_data + rest[start + (1 << 16) :]
                break
        else:
            return bytes(out), f"the file ends before the {name} end-of-stream marker"
    return bytes(out), None


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    return _members(
        data, "gzip", lambda b: b[:2] == b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31), zlib.error
    )


def _bunzip2(data: bytes) -> tuple[bytes, str | None]:
    return _members(data, "bzip2", lambda b: _BZIP2_MAGIC.match(b) is not None, bz2.BZ2Decompressor, OSError)


def _unzstd(data: bytes) -> tuple[bytes, str | None]:
    """Like :func:`_gunzip`, for zstd (pyarrow's codec: every frame, output kept up to a break)."""
    out = bytearray()
    stream = pa.CompressedInputStream(pa.BufferReader(data), "zstd")
    try:
        while chunk := stream.read(1 << 16):
            out += chunk
    except OSError as exc:  # pyarrow says "Truncated compressed stream" for a cut file
        return bytes(out), str(exc)[:200]
    return bytes(out), None


_DECOMPRESS: Final = {Compression.GZIP: _gunzip, Compression.BZIP2: _bunzip2, Compression.ZSTD: _unzstd}


class _Readable(Protocol):
    @property
    def name(self) -> str: ...
    def read_bytes(self) -> bytes: ...


def read_bytes(path: _Readable) -> tuple[bytes, Truncation | None]:
    """The file's content, decompressed when it is gzip, bzip2 or zstd. Raises :class:`FileRejected`.

    What the bytes are decides, not the name: a browser that saves a served ``.csv.gz`` decompressed
    keeps the name, and an export may gzip a ``.csv``. A compressed name on bytes that are not (and do
    not look like text either) is a corrupt file. A stream that breaks off yields its complete lines and
    a :class:`Truncation` for the cut one; one from which not one complete line decompresses is
    rejected whole.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileRejected(UNREADABLE, exc.strerror or str(exc)) from None
    kind, named = compression_of(data), compression_by_name(path.name)
    if kind is None:
        if named is not None and not _looks_like_text(data):
            raise FileRejected(named.corrupt, f"named {named} but it is not {named} data (nor text)")
        return data, None
    content, error = _DECOMPRESS[kind](data)
    if error is None:
        return content, None
    end = content.rfind(b"\n") + 1
    if end == 0:
        raise FileRejected(kind.corrupt, error)
    kept = content[:end]
    cut = Truncation(kept.count(b"\n") + 1, end, len(data), content[end:], error, kind)
    return kept, cut


def _looks_like_text(data: bytes) -> bool:
    """Text in any encoding read here: UTF-16 by its byte-order mark, else no NUL byte at the start."""
    return data.startswith(_UTF16_BOMS) or b"\x00" not in data[:_SNIFF_BYTES]


# --------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Decoded:
    data: bytes  # valid UTF-8, no BOM
    encoding: str
    bad_lines: frozenset[int]  # 1-based numbers of lines that had bytes invalid in ``encoding``
    # Lines rebuilt from records over several lines (pretty-printed JSON): the file line each starts at.
    origin: tuple[int, ...] | None = None


_marks = threading.local()


def _mark_error(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _marks.positions.append(exc.start)
    # Resume one byte later, never past a newline the codec lumped into the bad sequence.
    return "\ufffd", exc.start + 1


codecs.register_error("kwrec-mark", _mark_error)


def _decode_marking(data: bytes, encoding: str) -> tuple[str, list[int]]:
    _marks.positions = []
    try:
        return data.decode(encoding, errors="kwrec-mark"), list(_marks.positions)
    finally:
        _marks.positions = []


def _utf8_valid(buf: pa.Buffer) -> bool:
    # Arrow's validator (SIMD, builds no Python str) instead of bytes.decode, ~10x slower on Hangul.
    offsets = pa.py_buffer(struct.pack("<qq", 0, buf.size))
    arr = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    try:
        arr.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _chunks(data: bytes) -> Iterator[tuple[int, int]]:
    """Spans of about ``_CHUNK`` bytes, each ending just after a newline (or at the end)."""
    start, n = 0, len(data)
    while start < n:
        end = data.find(b"\n", min(start + _CHUNK, n - 1))
        end = n if end < 0 else end + 1
        yield start, end
        start = end


def _prefers_cp949(data: bytes, bad: list[tuple[int, int]]) -> bool:
    """Whether CP949 explains the non-ASCII lines of the first bad chunks better than UTF-8 does."""
    utf8_bad = cp949_bad = 0
    for s, e in bad[:4]:
        for line in data[s:e].split(b"\n"):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                utf8_bad += 1
            try:
                line.decode("cp949")
            except UnicodeDecodeError:
                cp949_bad += 1
    return cp949_bad < utf8_bad


def _line_numbers(data: bytes, positions: list[int]) -> set[int]:
    lines: set[int] = set()
    line, prev = 1, 0
    for p in sorted(positions):
        line += data.count(b"\n", prev, p)
        prev = p
        lines.add(line)
    return lines


def decode(data: bytes, forced: str | None) -> Decoded:
    """Detect UTF-8 (with or without BOM), UTF-16 (by its BOM) or CP949 for the whole file and return
    UTF-8 bytes in which every byte invalid in that encoding became U+FFFD; the lines where that
    happened are listed."""
    if forced == "utf-16" or (forced is None and data.startswith(_UTF16_BOMS)):
        return _decode_utf16(data)
    # Lines ended by CR alone (classic Mac OS, "CSV (Macintosh)" from Excel): no other encoding read
    # here has a 0x0D byte inside a character.
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        forced = forced or "utf-8"
    if forced != "cp949":
        whole = pa.py_buffer(data)
        if _utf8_valid(whole):
            return Decoded(data, "utf-8", frozenset())
        bad = [(s, e) for s, e in _chunks(data) if not _utf8_valid(whole.slice(s, e - s))]
        if forced == "utf-8" or not _prefers_cp949(data, bad):
            parts: list[bytes] = []
            positions: list[int] = []
            pos = 0
            for s, e in bad:
                parts.append(data[pos:s])
                text, marks = _decode_marking(data[s:e], "utf-8")
                parts.append(text.encode("utf-8"))
                positions.extend(s + m for m in marks)
                pos = e
            parts.append(data[pos:])
            return Decoded(b"".join(parts), "utf-8", frozenset(_line_numbers(data, positions)))
    text, marks = _decode_marking(data, "cp949")
    return Decoded(text.encode("utf-8"), "cp949", frozenset(_line_numbers(data, marks)))


def _decode_utf16(data: bytes) -> Decoded:
    # The codec reads the BOM (little-endian without one, as Windows writes). Its byte offsets are not
    # line offsets (a newline is two bytes), so bad lines are found in the text: the lines with U+FFFD.
    text = data.decode("utf-16", errors="replace").removeprefix("\ufeff")
    if "\n" not in text:
        text = text.replace("\r", "\n")
    bad = (n for n, line in enumerate(text.split("\n"), 1) if "\ufffd" in line)
    return Decoded(text.encode("utf-8"), "utf-16", frozenset(bad))


# ------------------------------------------------------------------------------------------------ lines


def split_lines(decoded: Decoded, max_line_bytes: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(good, rejected)``: good has ``line`` (1-based) and ``text``, without blank lines (they are not
    events); rejected has ``line``, ``reason``, ``raw``."""
    lines = pl.read_lines(decoded.data, name="text", row_index_name="line", row_index_offset=1).with_columns(
        pl.col("line").cast(pl.Int64)
    )
    text = pl.col("text")
    reason = (
        pl.when(pl.col("line").is_in(sorted(decoded.bad_lines)))
        .then(pl.lit(BAD_ENCODING))
        .when(text.str.len_bytes() > max_line_bytes)
        .then(pl.lit(LINE_TOO_LONG))
        .when(text.str.contains("\x00", literal=True))
        .then(pl.lit(NUL_BYTES))
    )
    lines = lines.with_columns(reason.alias("reason"))
    rejected = lines.filter(pl.col("reason").is_not_null()).select(
        "line", "reason", pl.col("text").alias("raw")
    )
    good = lines.filter(pl.col("reason").is_null() & (text.str.strip_chars() != "")).select("line", "text")
    if decoded.origin is not None:
        at = pl.Series("line", decoded.origin, dtype=pl.Int64)
        good, rejected = (f.with_columns(at.gather(f["line"] - 1)) for f in (good, rejected))
    return good, rejected


def first_reason(rules: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """The reason of the first rule whose condition holds, else null."""
    return pl.coalesce([pl.when(cond).then(pl.lit(reason)) for cond, reason in rules])


def _rejected(frame: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    r = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select("line", r.alias("reason"), pl.col("text").alias("raw"))


def empty_rejected() -> pl.DataFrame:
    """No rejected rows: ``line``, ``reason``, ``raw``."""
    return pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String, "raw": pl.String})


# ------------------------------------------------------------------------------------------- delimited


_OTHER_DELIMITERS: Final = (";", "\t", "|")


def sniff_delimiter(good: pl.DataFrame, default: str) -> str:
    """``default``, unless the first line has none of it and exactly one other common delimiter (a
    European Excel writes "timestamp;user_id;query" into a .csv): then that one."""
    if good.height == 0:
        return default
    first = str(good["text"][0])
    if default in first:
        return default
    found = [d for d in _OTHER_DELIMITERS if d in first]
    return found[0] if len(found) == 1 else default


_SNIFF_LINES: Final = 200


def tab_separated_fields(good: pl.DataFrame) -> int | None:
    """The number of tab-separated fields of a .txt/.log file's lines, when its first lines agree on one
    (at least 2) in 9 of 10: such a file is a table (Excite's and AOL's raw logs), not one query a line.
    None for a plain list of queries (a tab inside a query is rare, and never on most lines)."""
    head = good.head(_SNIFF_LINES)
    if head.height == 0:
        return None
    counts = head.select(pl.col("text").str.count_matches("\t", literal=True) + 1)["text"]
    common = counts.mode().max()
    if not isinstance(common, int) or common < 2 or (counts == common).sum() * 10 < head.height * 9:
        return None
    return common


def matching_columns(names: list[str], wanted: str) -> list[int]:
    """The columns named ``wanted``: spelled exactly (spaces around ignored), else in any case."""
    stripped = [n.strip() for n in names]
    exact = [i for i, n in enumerate(stripped) if n == wanted]
    return exact or [i for i, n in enumerate(stripped) if n.casefold() == wanted.casefold()]


def _find(names: list[str], wanted: str) -> int | None:
    found = matching_columns(names, wanted)
    return found[0] if found else None


def resolve_fields(names: list[str], fields: dict[str, str], explicit: set[str]) -> dict[str, int]:
    """Canonical field -> column index. A missing query column, or a missing column the customer mapped
    explicitly, rejects the file."""
    found: dict[str, int] = {}
    missing: list[str] = []
    for canonical, source in fields.items():
        idx = _find(names, source)
        if idx is not None:
            found[canonical] = idx
        elif canonical == "query" or canonical in explicit:
            missing.append(f"{source!r} ({canonical})")
    if missing:
        shown = repr(names[:20])[:-1] + (f", ... ({len(names)} columns)]" if len(names) > 20 else "]")
        raise FileRejected(MISSING_COLUMNS, f"no column {', '.join(missing)} among {shown}")
    return found


def join_quoted_records(good: pl.DataFrame, *, quote: str, delimiter: str, fields: int) -> pl.DataFrame:
    """Lines -> records: a quoted field may hold line breaks (RFC 4180; an export's memo or address
    column), so a line whose quotes do not balance is joined with the lines after it up to the one that
    balances them, within ``MAX_RECORD_LINES``, when the joined record has the file's ``fields`` fields.
    Anything else stays as it was: an open quote that nothing closes, or a stray one (27" in a query),
    is a line of its own (refused as bad quoting) and never swallows the rows after it."""
    odd = good["text"].str.count_matches(quote, literal=True) % 2 == 1
    opened = odd.arg_true().to_list()
    if len(opened) < 2:
        return good
    candidates = [(a, b) for a, b in itertools.pairwise(opened) if b - a < MAX_RECORD_LINES]
    if not candidates:
        return good
    texts = dict(zip(*_gathered(good, candidates), strict=True))
    spans: list[tuple[int, int, str]] = []
    taken = -1
    for a, b in candidates:
        if a <= taken:
            continue  # a line ends one record at most
        record = "\n".join(texts[p] for p in range(a, b + 1))
        try:
            cells = next(csv.reader([record], delimiter=delimiter, quotechar=quote, strict=True), None)
        except csv.Error:  # a line break outside quotes, a quote inside an unquoted field
            continue
        if cells is not None and len(cells) == fields:
            spans.append((a, b, record))
            taken = b
    if not spans:
        return good
    starts = pl.DataFrame(
        {"_pos": [a for a, _, _ in spans], "_joined": [r for _, _, r in spans]},
        schema={"_pos": pl.UInt32, "_joined": pl.String},
    )
    absorbed = [p for a, b, _ in spans for p in range(a + 1, b + 1)]
    return (
        good.with_row_index("_pos")
        .join(starts, on="_pos", how="left", maintain_order="left")
        .filter(~pl.col("_pos").is_in(absorbed))
        .select("line", pl.coalesce("_joined", "text").alias("text"))
    )


def _gathered(good: pl.DataFrame, spans: list[tuple[int, int]]) -> tuple[list[int], list[str]]:
    """The positions the spans cover, and their lines' text (only those rows leave polars)."""
    positions = sorted({p for a, b in spans for p in range(a, b + 1)})
    return positions, good["text"].gather(positions).to_list()


def header_names(good: pl.DataFrame, delimiter: str, quote: str | None) -> list[str]:
    """The column names of the first line."""
    # A lone CR (a line end mangled in transfer) is nothing in a name; the csv module refuses it.
    line = good["text"][0].replace("\r", "")
    reader = csv.reader([line], delimiter=delimiter, quotechar=quote or '"', quoting=_quoting(quote))
    return next(reader)


def parse_delimited(
    good: pl.DataFrame,
    *,
    delimiter: str,
    quote: str | None,
    names: list[str] | None,
    fields: dict[str, str],
    explicit: set[str],
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """CSV/TSV lines -> ``(rows, rejected, column names)``; rows has ``line`` and one String column per
    found field. ``names`` None means the first line is the header."""
    header: str | None = None
    if names is None:
        if good.height == 0:
            return pl.DataFrame(schema={"line": pl.Int64}), empty_rejected(), []
        names = header_names(good, delimiter, quote)
        header = good["text"][0]
        good = good.slice(1)
    index = resolve_fields(names, fields, explicit)
    n = len(names)
    text = pl.col("text")
    plain = text.str.count_matches(delimiter, literal=True).cast(pl.Int64) + 1
    if quote:
        quoted = re.escape(quote)
        has_quote = text.str.contains(quote, literal=True)
        # The quote-aware count sees only lines with a quote (null elsewhere costs nothing): most lines
        # have none, and one pass in input order needs no split, concat and re-sort by line.
        qtext = pl.when(has_quote).then(text)
        unquoted = qtext.str.replace_all(f"{quoted}[^{quoted}]*{quoted}", "")
        odd = qtext.str.count_matches(quote, literal=True) % 2 == 1
        fields_with_quotes = unquoted.str.count_matches(delimiter, literal=True).cast(pl.Int64) + 1
        n_fields = (
            pl.when(~has_quote).then(plain).when(odd).then(pl.lit(-1, pl.Int64)).otherwise(fields_with_quotes)
        )
        counted = good.with_columns(n_fields.alias("n"))
    else:
        counted = good.with_columns(plain.alias("n"))
    nf = pl.col("n")
    again = pl.lit(False) if header is None else text.str.strip_chars_start("\ufeff") == header
    reason = (
        pl.when(again)
        .then(pl.lit(REPEATED_HEADER))
        .when(nf < 0)
        .then(pl.lit(BAD_QUOTING))
        .when(nf < n)
        .then(pl.lit(MISSING_COLUMNS))
        .when(nf > n)
        .then(pl.lit(TOO_MANY_COLUMNS))
    )
    counted = counted.with_columns(reason.alias("reason"))
    rejected = _rejected(counted.filter(pl.col("reason").is_not_null()), pl.col("reason"))
    ok = counted.filter(pl.col("reason").is_null()).select("line", "text")
    cells = _parse_cells(ok, delimiter=delimiter, quote=quote, n=n)
    rows = pl.concat(
        [ok.select("line"), cells.select(pl.col(f"c{i}").alias(f) for f, i in index.items())],
        how="horizontal",
    )
    return rows, rejected, names


def _quoting(quote: str | None) -> Literal[0, 3]:
    return csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE


def _parse_cells(ok: pl.DataFrame, *, delimiter: str, quote: str | None, n: int) -> pl.DataFrame:
    """Cells ``c0..c{n-1}`` of lines already known to have ``n`` fields, by polars' CSV parser."""
    schema = {f"c{i}": pl.String for i in range(n)}
    if ok.height == 0:
        return pl.DataFrame(schema=schema)
    if quote is None or not ok["text"].str.contains(quote, literal=True).any():
        # Without quotes a record is its line split at the delimiter (the field count was checked):
        # splitting in place costs a fraction of writing a CSV copy and parsing it back. Empty cells
        # and CRs come out as the CSV parser gives them (null, and a space).
        split = ok.select(
            pl.col("text")
            .str.replace_all("\r", " ", literal=True)
            .str.split_exact(delimiter, n - 1)
            .alias("s")
        ).unnest("s")
        return split.select(
            pl.when(pl.col(old) != "").then(pl.col(old)).alias(f"c{i}") for i, old in enumerate(split.columns)
        )
    buf = io.BytesIO()
    # A lone CR would end a record for the CSV parser; inside a query it is noise anyway.
    ok.select(pl.col("text").str.replace_all("\r", " ", literal=True)).write_csv(
        buf, include_header=False, quote_style="never"
    )
    cells = pl.read_csv(
        buf.getvalue(), has_header=False, separator=delimiter, quote_char=quote or None, schema=schema,
        raise_if_empty=False,
    )  # fmt: skip
    if cells.height == ok.height:
        return cells
    # Quotes in odd places can make polars see records differently from our field count: parse those
    # files line by line instead (slow, but only ever for strangely quoted files).
    reader = csv.reader(
        ok["text"].to_list(), delimiter=delimiter, quotechar=quote or '"', quoting=_quoting(quote)
    )
    rows = [(r + [""] * n)[:n] for r in reader]
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.all().replace("", None))


# ----------------------------------------------------------------------------------------------- JSONL


def parse_jsonl(good: pl.DataFrame, fields: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """JSON lines -> ``(rows, rejected)``; a line must be a JSON object. Values come out as text; a
    query, user or session that is a JSON array or object is no text, and its row is rejected (its
    JSON would otherwise become a keyword such as ``["iphone", 1]``)."""
    names = list(fields)
    select = ", ".join(f"text->>${i + 1} AS {_ident(n)}" for i, n in enumerate(names))
    con = duckdb.connect()
    try:
        con.register("lines", good)
        valid = con.sql("SELECT line, json_valid(text) AS ok FROM lines").pl()
        flagged = good.join(valid, on="line", how="left", maintain_order="left")
        con.register("candidates", flagged.filter(pl.col("ok")).select("line", "text"))
        # json_type only on valid JSON: duckdb evaluates both sides of AND/CASE and would raise.
        extracted = con.sql(
            f"SELECT line, json_type(text) = 'OBJECT' AS is_object, {select} FROM candidates",  # noqa: S608
            params=[fields[n] for n in names],
        ).pl()
    finally:
        con.close()
    not_object = extracted.filter(~pl.col("is_object")).select("line")
    bad = pl.concat([flagged.filter(~pl.col("ok")).select("line"), not_object])
    rejected = _rejected(good.join(bad, on="line", how="semi", maintain_order="left"), INVALID_JSON)
    rows = extracted.filter(pl.col("is_object")).drop("is_object")
    nested = _nested_values(rows, good, fields)
    if nested.height:
        rejected = pl.concat([rejected, _rejected(nested, NOT_TEXT)]).sort("line")
        rows = rows.join(nested, on="line", how="anti")
    return rows.sort("line"), rejected


def _nested_values(rows: pl.DataFrame, good: pl.DataFrame, fields: dict[str, str]) -> pl.DataFrame:
    """Lines (line, text) whose query, user or session is a JSON array or object. Only values that
    start like one are parsed again: a query may well be "[특가] 노트북"."""
    present = [f for f in _TEXT_FIELDS if f in rows.columns]
    if not present:
        return good.clear()
    looks = pl.any_horizontal(pl.col(f).str.contains(r"^\s*[\[{]") for f in present)
    suspects = good.join(rows.filter(looks).select("line"), on="line", how="semi", maintain_order="left")
    bad: list[int] = []
    for line, text in suspects.iter_rows():
        try:
            record = json.loads(text)
        except ValueError:  # valid for duckdb, not for Python (NaN, a lone surrogate): keep as read
            continue
        if isinstance(record, dict) and any(isinstance(record.get(fields[f]), list | dict) for f in present):
            bad.append(line)
    return suspects.filter(pl.col("line").is_in(bad))


def json_records_as_lines(decoded: Decoded, query_key: str = "query") -> Decoded:
    """A JSON file that is not JSON lines, as JSON lines (one record a line, numbered by the file line
    where the record starts; in a wrapper object, by its place in the list):

    - one array of records (``[{...}, {...}]``);
    - records one after another, each over several lines (``jq .`` output, pretty-printed exporters);
    - one object whose only list of records holds them (an API export: ``{"events": [...], ...}``),
      unless the object has the query's key (``query_key``, the customer's mapping): then it is one record.

    A record that does not parse (in an array, a stream, or a wrapper's list) becomes a line of its own
    (its text, to be quarantined) and the records after it are read. Anything else (JSON lines, or a
    file that does not parse) is returned as it is, to be read line by line, so that its bad lines are
    quarantined one by one instead of the whole file."""
    data = decoded.data
    found = _NOT_SPACE.search(data)
    if found is None or data[found.start() : found.start() + 1] not in (b"[", b"{"):
        return decoded
    # Judged on the first line, so that JSON lines (the common case, and files of gigabytes) are never
    # parsed or copied as a whole here.
    end = data.find(b"\n", found.start())
    end = len(data) if end < 0 else end
    origin: list[int] | None = None
    try:
        value = json.loads(data[found.start() : end])
    except ValueError:  # one value over many lines, or values one after another
        in_array = data.startswith(b"[", found.start())
        whole = _parsed(data) if in_array else None
        if isinstance(whole, list):  # the common case, parsed in C: only the lines are looked for
            return _as_lines(decoded, whole, _record_lines(data, found.start(), len(whole)))
        text = data.decode("utf-8")
        sequence = _sequence(text, found.start(), in_array=in_array)
        if sequence is None and not in_array:
            sequence = _wrapped_sequence(text, query_key)
        if sequence is None:
            return decoded
        first = sequence[0][1]
        if not in_array and len(sequence) == 1 and not isinstance(first, _Broken):
            records = _records_of(first, query_key)  # one object over many lines: a wrapper, or a record
            origin = [sequence[0][0]] if records == [first] else None
        else:
            records, origin = [v for _, v in sequence], [n for n, _ in sequence]
    else:
        more_lines = _NOT_SPACE.search(data, end) is not None
        records = None if more_lines else _records_of(value, query_key)
    return decoded if records is None else _as_lines(decoded, records, origin)


def _as_lines(decoded: Decoded, records: list[object], origin: list[int] | None) -> Decoded:
    lines = [r.text if isinstance(r, _Broken) else json.dumps(r, ensure_ascii=False) for r in records]
    # Bytes that were invalid in the file's encoding became U+FFFD: their records carry it.
    bad = (i for i, text in enumerate(lines, 1) if "\ufffd" in text) if decoded.bad_lines else ()
    return Decoded(
        ("\n".join(lines) + "\n").encode("utf-8"),
        decoded.encoding,
        frozenset(bad),
        None if origin is None else tuple(origin),
    )


def _parsed(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # nested deeper than Python's stack: read record by record
        return None


def _record_lines(data: bytes, start: int, count: int) -> list[int] | None:
    """The file lines where the ``count`` values of a parsed array start (each first on its line, at
    the first one's indent), or None when the layout does not show them (``[{...}, {...}]`` on a line)."""
    first = _NOT_SPACE.search(data, start + 1)
    if first is None:
        return None
    indent = data[data.rfind(b"\n", 0, first.start()) + 1 : first.start()]
    if indent.strip():
        return None
    # A value starts where a line at that indent opens with anything but a closing bracket (columnar:
    # an export of millions of records has tens of millions of lines).
    opens = rb"^" + indent + rb"[^\s\]}]"
    lines = pl.read_lines(data, name="text", row_index_name="line", row_index_offset=1)
    found = lines.filter(
        (pl.col("line") >= 1 + data.count(b"\n", 0, first.start()))
        & pl.col("text").str.contains(opens.decode("utf-8"))
    )
    return found["line"].cast(pl.Int64).to_list() if found.height == count else None


def _records_of(value: object, query_key: str) -> list[object] | None:
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    if _top_key(query_key) in value:
        return [value]  # a record that holds lists of its own (a search and its results)
    lists = [v for v in value.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
    if len(lists) == 1:
        return lists[0]
    return None if lists else [value]  # two lists of records: no telling which are the searches


def _top_key(query_key: str) -> str:
    # "$.search.query" (a JSONPath mapping) starts at the key "search".
    return re.split(r"[.\[]", query_key.removeprefix("$."), maxsplit=1)[0]


# A key whose value is a list of objects: where an export's records are (``"events": [{``).
_WRAPPER_LISTS = 8  # lists looked into before the records' (a "filters" or "facets" list comes first)
_RECORDS_LIST: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"\s*:\s*(\[)\s*\{')


def _wrapped_sequence(text: str, query_key: str) -> list[tuple[int, object]] | None:
    """The records of a wrapper object that does not parse (``{"events": [...`` cut short, or with a
    bad record): those of the first of its lists of objects whose records hold the query's key."""
    top = _top_key(query_key)
    for opened in itertools.islice(_RECORDS_LIST.finditer(text), _WRAPPER_LISTS):
        sequence = _sequence(text, opened.start(1), in_array=True, closes=True)
        if sequence is not None and any(isinstance(v, dict) and top in v for _, v in sequence):
            return sequence
    return None


@dataclass(frozen=True)
class _Broken:
    """A record that does not parse, as one line of its text (the line is refused as invalid JSON)."""

    text: str


# Values read before a file whose records all sit on one line each is judged to be JSON lines.
_LAYOUT_SNIFF = 50


def _sequence(
    text: str, start: int, *, in_array: bool, closes: bool = False
) -> list[tuple[int, object]] | None:
    """The values of the array that opens at ``start``, or of values one after another from there, each
    with the file line it starts on. A value that does not parse is kept as :class:`_Broken` (its text
    up to the next line that opens a record as the first one did), and reading goes on after it.
    ``closes``: the array ends at its ``]`` whatever follows (a list inside a wrapper object).

    None when nothing parses, or when a stream's values sit one a line (JSON lines with a bad first
    line: read line by line, which keeps every line's own number)."""
    decoder = json.JSONDecoder()
    separators = " \t\r\n," if in_array else " \t\r\n"
    at = start + 1 if in_array else start
    resync: re.Pattern[str] | None = None
    line, counted = 1 + text.count("\n", 0, at), at
    out: list[tuple[int, object]] = []
    spans_lines = in_array
    while True:
        while at < len(text) and text[at] in separators:
            at += 1
        if at == len(text) or (in_array and text[at] == "]" and (closes or not text[at + 1 :].strip())):
            break
        line, counted = line + text.count("\n", counted, at), at
        if resync is None:
            # Records start as the first one does: first on their line, at its indent ("  {" in an array).
            indent = text[text.rfind("\n", 0, at) + 1 : at]
            resync = re.compile("\n" + (re.escape(indent) if not indent.strip() else "[ \t]*") + r"\{")
        try:
            value, after = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            found = resync.search(text, at + 1)
            after = found.start() + 1 if found else len(text)
            value = _Broken(" ".join(text[at:after].split()))
        else:
            spans_lines = spans_lines or "\n" in text[at:after]
        out.append((line, value))
        if not spans_lines and len(out) >= _LAYOUT_SNIFF:
            return None
        at = after
    if not spans_lines or all(isinstance(v, _Broken) for _, v in out):
        return None
    return out


def first_object_keys(good: pl.DataFrame) -> list[str]:
    """The keys of the first JSON line that is an object (what columns a JSON-lines file has)."""
    for text in good["text"].head(_SNIFF_LINES):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return list(value)
    return []


def _ident(name: str) -> str:
    # Canonical field names only (fixed in code), quoted anyway.
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------- Parquet


def read_parquet(data: bytes, fields: dict[str, str], explicit: set[str]) -> tuple[pl.DataFrame, list[str]]:
    """Parquet -> ``(rows, column names)``: rows with ``line`` (1-based row number) and the found fields in
    their stored types."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise FileRejected(CORRUPT_PARQUET, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    nested = {f: e for f, source in fields.items() if (e := _nested_column(frame.schema, source)) is not None}
    index = resolve_fields(frame.columns, {f: s for f, s in fields.items() if f not in nested}, explicit)
    out = frame.select(
        *(pl.nth(i).alias(f) for f, i in index.items()), *(e.alias(f) for f, e in nested.items())
    )
    for f in out.columns:
        dtype = out[f].dtype
        # Times, counts and flags are read in their stored types; anything else must read as text.
        if dtype == pl.String or (f not in _TEXT_FIELDS and _scalar(dtype)):
            continue
        try:
            out = out.with_columns(pl.col(f).cast(pl.String))
        except pl.exceptions.PolarsError:
            source = frame.columns[index[f]] if f in index else fields[f]
            named = repr(source) if source == f else f"{source!r} ({f})"
            raise FileRejected(
                NOT_TEXT,
                f"column {named} holds {dtype} values, which kwrec cannot read as text, a number or a "
                "time: convert it, or map another column in kwrec.toml [columns]",
            ) from None
    return out.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64)), frame.columns


_PATH_STEP: Final = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _nested_column(schema: pl.Schema, path: str) -> pl.Expr | None:
    """A JSONPath mapping (``$.search.query``, ``$.items[0].name``) as an expression over a Parquet
    file's struct and list columns, as duckdb reads it from JSON; None when it is no path, or names
    nothing in this file (then it is a missing column)."""
    if not path.startswith("$."):
        return None
    steps = _PATH_STEP.findall(path[1:])
    if not steps or "".join(f".{n}" if n else f"[{i}]" for n, i in steps) != path[1:] or not steps[0][0]:
        return None
    column = _find(list(schema), steps[0][0])
    if column is None:
        return None
    dtype: object = schema.dtypes()[column]
    expr = pl.nth(column)
    for name, position in steps[1:]:
        if name and isinstance(dtype, pl.Struct) and name in (fs := {f.name: f.dtype for f in dtype.fields}):
            expr, dtype = expr.struct.field(name), fs[name]
        elif position and isinstance(dtype, pl.List | pl.Array):
            expr, dtype = expr.list.get(int(position), null_on_oob=True), dtype.inner
        else:
            return None
    return expr


def _scalar(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or isinstance(dtype, pl.Boolean | pl.Datetime | pl.Date | pl.Null)
