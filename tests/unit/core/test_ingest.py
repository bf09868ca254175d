from __future__ import annotations

import gzip
import json
import logging
import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from kwrec.core.ingest import (
    EVENT_SCHEMA,
    CustomerConfig,
    Quarantine,
    fingerprint_inputs,
    input_files,
    list_customers,
    load_customer_config,
    read_customer_logs,
)
from kwrec.core.ingest import formats as fmt
from kwrec.core.ingest.reader import parse_timestamps
from kwrec.errors import ConfigError, DataError
from kwrec.settings import TrainParams

HEADER = "timestamp,user_id,session_id,query,result_count,clicked\n"
ROWS = [
    ("2024-05-01T12:00:00+09:00", "u1", "s1", "아이폰 케이스", "3", "true"),
    ("2024-05-01T12:01:00+09:00", "u2", "", "갤럭시 버즈", "", "0"),
    ("2024-05-01T12:02:00+09:00", "u1", "s1", "에어팟", "10", "1"),
]


def csv_text(rows: list[tuple[str, ...]] = ROWS, sep: str = ",") -> str:
    return HEADER.replace(",", sep) + "".join(sep.join(r) + "\n" for r in rows)


def jsonl_text(rows: list[tuple[str, ...]] = ROWS) -> str:
    keys = HEADER.strip().split(",")
    return "".join(json.dumps(dict(zip(keys, r, strict=True)), ensure_ascii=False) + "\n" for r in rows)


def write(path: Path, data: bytes | str) -> Path:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def read(cdir: Path, tmp_path: Path) -> tuple[pl.DataFrame, Quarantine, list[dict[str, object]]]:
    q = Quarantine(tmp_path / "q" / f"{cdir.name}.jsonl")
    with q:
        events = read_customer_logs(cdir, load_customer_config(cdir), q)
    # The file appears with the first rejected row only: clean input leaves nothing behind.
    assert q.path.exists() == (q.total > 0)
    text = q.path.read_text(encoding="utf-8") if q.path.exists() else ""
    lines = [json.loads(line) for line in text.splitlines()]
    return events, q, lines


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "ndjson", "parquet", "txt", "log"])
def test_each_format(tmp_path: Path, kind: str, gz: bool) -> None:
    cdir = tmp_path / "data" / "acme"
    name = f"logs.{kind}" + (".gz" if gz else "")
    if kind == "csv":
        write(cdir / name, csv_text())
    elif kind == "tsv":
        write(cdir / name, csv_text(sep="\t"))
    elif kind in ("jsonl", "ndjson"):
        write(cdir / name, jsonl_text())
    elif kind == "parquet":
        frame = pl.DataFrame([dict(zip(HEADER.strip().split(","), r, strict=True)) for r in ROWS])
        buf = cdir / "tmp.parquet.bin"
        cdir.mkdir(parents=True)
        frame.write_parquet(buf)
        write(cdir / name, buf.read_bytes())
        buf.unlink()
    else:
        write(cdir / name, "아이폰 케이스\n갤럭시 버즈\n\n에어팟\n")
    events, q, _ = read(cdir, tmp_path)
    assert events.schema == EVENT_SCHEMA
    assert events["query"].to_list() == ["아이폰 케이스", "갤럭시 버즈", "에어팟"]
    assert events["seq"].to_list() == [0, 1, 2]
    assert q.counts == {}
    if kind in ("txt", "log"):
        assert events["ts"].null_count() == 3 and events["user_id"].null_count() == 3
    else:
        assert events["ts"].to_list() == [kst(2024, 5, 1, 3, 0), kst(2024, 5, 1, 3, 1), kst(2024, 5, 1, 3, 2)]
        assert events["user_id"].to_list() == ["u1", "u2", "u1"]
        assert events["session_id"].to_list() == ["s1", None, "s1"]
        assert events["result_count"].to_list() == [3, None, 10]
        assert events["clicked"].to_list() == [True, False, True]


def test_cp949_csv_round_trips(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(cdir / "legacy.csv", csv_text().encode("cp949"))
    write(cdir / "bom.csv", b"\xef\xbb\xbf" + csv_text([ROWS[0]]).encode())
    events, q, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["아이폰 케이스", "아이폰 케이스", "갤럭시 버즈", "에어팟"]
    assert q.counts == {}


def test_invalid_bytes_quarantine_only_their_lines(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    good = csv_text().encode()
    bad1 = b"2024-05-01T12:03:00+09:00,u3,," + "아이폰".encode("cp949") + b",1,1\n"
    bad2 = b"2024-05-01T12:04:00+09:00,u4,,\xff\xfe010-1234-5678,1,1\n"
    write(cdir / "a.csv", good + bad1 + bad2 + "2024-05-01T12:05:00+09:00,u5,,â€œ,1,1\n".encode())
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == ["아이폰 케이스", "갤럭시 버즈", "에어팟", "â€œ"]
    assert q.counts == {"bad encoding": 2}
    assert [entry["line"] for entry in lines] == [5, 6]
    assert all(entry["file"] == "acme/a.csv" for entry in lines)
    assert "010-1234-5678" not in q.path.read_text(encoding="utf-8")


def test_malformed_rows_counted_exactly(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    long_query = "아이폰 케이스 " * 300
    text = csv_text() + (
        "2024-05-01T12:00:00,u5,s5,에어팟\x00프로,1,0\n"  # NUL byte
        "2024-05-01T12:00:00,u6,갤럭시\n"  # missing columns
        "2024-05-01T12:00:00,u7,s7,무선 청소기,40,1,extra\n"  # too many columns
        "2026-13-45T25:61:00+09:00,u8,s8,무선 청소기,40,1\n"  # unparsable timestamp
        ",u9,s9,무선 청소기,40,1\n"  # missing timestamp
        f"2024-05-01T12:00:00,u10,s10,{long_query},0,0\n"  # over max_line_bytes
        "2024-05-01T12:00:00,u11,s11,,0,0\n"  # missing query
        '2024-05-01T12:00:00,u12,s12,"unbalanced,0,0\n'  # open quote
        '2024-05-01T12:00:00,u13,s13,"케이스, 투명",0,0\n'  # fine: quoted delimiter
    )
    write(cdir / "a.csv", text)
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list()[-1] == "케이스, 투명"
    assert events.height == 4
    assert q.counts == {
        "NUL bytes": 1,
        "missing columns": 1,
        "too many columns": 1,
        "bad timestamp": 2,
        "line too long": 1,
        "missing query": 1,
        "bad quoting": 1,
    }
    assert [e["line"] for e in lines] == [5, 6, 7, 8, 9, 10, 11, 12]
    assert max(len(str(e["raw"])) for e in lines) == 500


def test_the_length_limit_is_on_the_query_not_on_a_wide_rows_line(tmp_path: Path) -> None:
    """An export with 300 columns has a header and rows longer than max_line_bytes. Limiting the line
    refused the header, made the first row the header and lost the file; a JSON event with a long user
    agent lost its row. The limit is the query's; a line over 1 MiB is still refused as garbage."""
    cdir = tmp_path / "wide"
    extra = [f"extra_column_number_{i}" for i in range(300)]
    header = ",".join(["timestamp", "user_id", "query", *extra])
    rows = [
        ",".join([f"2024-05-01T12:{i:02d}:00Z", f"u{i}", "아이폰 케이스", *["x" * 20] * 300])
        for i in range(3)
    ]
    rows.append(",".join(["2024-05-01T12:09:00Z", "u9", "케이스 " * 1000, *["x"] * 300]))  # a long query
    write(cdir / "a.csv", header + "\n" + "\n".join(rows) + "\n")
    agent = "Mozilla/5.0 " * 800  # ~9.6 KB
    events_json = [{"timestamp": "2024-05-01T13:00:00Z", "user_id": "j", "query": "갤럭시", "ua": agent}]
    events_json.append(
        {"timestamp": "2024-05-01T13:01:00Z", "user_id": "k", "query": "x", "ua": "y" * (1 << 20)}
    )
    write(cdir / "b.jsonl", "".join(json.dumps(e) + "\n" for e in events_json))
    events, q, lines = read(cdir, tmp_path)
    assert len(header) > 4096 and len(rows[0]) > 4096
    assert events["query"].to_list() == ["아이폰 케이스"] * 3 + ["갤럭시"]
    assert q.counts == {"line too long": 2}
    assert [(e["file"], e["line"]) for e in lines] == [("wide/a.csv", 5), ("wide/b.jsonl", 2)]
    # A header that still names nothing says so in a line of reasonable length.
    write(cdir / "a.csv", ",".join(extra) + "\n" + ",".join(["x"] * 300) + "\n")
    (cdir / "b.jsonl").unlink()
    with pytest.raises(DataError) as info:
        read(cdir, tmp_path)
    assert "... (300 columns)]" in str(info.value) and len(str(info.value)) < 2000


def test_a_quoted_field_may_hold_line_breaks_and_a_stray_quote_swallows_nothing(tmp_path: Path) -> None:
    """RFC 4180: an export's memo column may hold line breaks inside quotes; the record is read whole
    (its two halves were refused as bad quoting). A stray quote (27" in a query) is still one refused
    line, and the good rows between two of them are read."""
    cdir = tmp_path / "acme"
    rows = [
        "timestamp,user_id,query,memo",
        '2024-05-01T12:00:00Z,u1,아이폰 케이스,"first line',
        'second line, with a comma"',
        "2024-05-01T12:01:00Z,u2,갤럭시 버즈,plain",
        '2024-05-01T12:02:00Z,u3,모니터 27",x',
        "2024-05-01T12:03:00Z,u4,노트북,x",
        "2024-05-01T12:04:00Z,u5,마우스,x",
        '2024-05-01T12:05:00Z,u6,모니터 32",x',
        '2024-05-01T12:06:00Z,u7,"키보드, 무선","a ""quoted"" word"',
    ]
    write(cdir / "a.csv", "\ufeff" + "\r\n".join(rows) + "\r\n")
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == ["아이폰 케이스", "갤럭시 버즈", "노트북", "마우스", "키보드, 무선"]
    assert events["user_id"].to_list() == ["u1", "u2", "u4", "u5", "u7"]
    assert q.counts == {"bad quoting": 2}
    assert [e["line"] for e in lines] == [5, 8]


def test_json_files_in_the_layouts_exporters_write(tmp_path: Path) -> None:
    """Besides JSON lines and one array: an API export's wrapper object, records pretty-printed one
    after another (jq's output), and nested fields mapped by JSONPath. A one-line record that holds a
    list of objects (its results) stays one record."""
    records = [
        {"timestamp": f"2024-05-01T12:0{i}:00Z", "user_id": f"u{i}", "query": f"q{i}"} for i in range(3)
    ]
    layouts = {
        "wrapped": json.dumps({"events": records, "meta": {"count": 3}}, indent=2),
        "minified": json.dumps({"data": records}),  # one line
        "stream": "".join(json.dumps(r, indent=2) + "\n" for r in records),
        "array": json.dumps(records, indent=1),
    }
    for name, text in layouts.items():
        write(tmp_path / name / "a.json", text)
        events, q, _ = read(tmp_path / name, tmp_path)
        assert events["query"].to_list() == ["q0", "q1", "q2"], name
        assert events["user_id"].to_list() == ["u0", "u1", "u2"] and q.total == 0, name
    one = {"timestamp": "2024-05-01T12:00:00Z", "query": "q", "results": [{"id": 1}, {"id": 2}]}
    write(tmp_path / "one" / "a.jsonl", json.dumps(one) + "\n")
    events, q, _ = read(tmp_path / "one", tmp_path)
    assert events["query"].to_list() == ["q"] and q.total == 0
    nested = [{"ts": 1714532400 + i, "user": {"id": f"n{i}"}, "search": {"query": f"s{i}"}} for i in range(2)]
    write(tmp_path / "nested" / "a.jsonl", "".join(json.dumps(r) + "\n" for r in nested))
    write(
        tmp_path / "nested" / "kwrec.toml",
        '[columns]\ntimestamp = "ts"\nquery = "$.search.query"\nuser_id = "$.user.id"\n',
    )
    events, q, _ = read(tmp_path / "nested", tmp_path)
    assert events["query"].to_list() == ["s0", "s1"] and events["user_id"].to_list() == ["n0", "n1"]
    # A file where no record parses is read line by line: every line is kept in quarantine and
    # counted, and the error says so.
    write(tmp_path / "broken" / "a.json", '{\n  "query": "q0",\n  not json\n}\n')
    with pytest.raises(DataError, match=r"4 rows quarantined \(4 invalid JSON\)"):
        read(tmp_path / "broken", tmp_path)


def test_a_broken_record_in_pretty_printed_json_costs_that_record_only(tmp_path: Path) -> None:
    """Before: one record that did not parse (a hand edit, a download cut short) made the whole file be
    read line by line, and every line of every record was refused. Now the records around it are read,
    it is quarantined as one row, and rows are numbered by the file line where their record starts."""
    records = [
        {"timestamp": f"2024-05-01T12:0{i}:00Z", "user_id": f"u{i}", "query": f"q{i}"} for i in range(4)
    ]
    stream = [json.dumps(r, indent=2) for r in records]  # 5 lines each
    stream[1] = stream[1].replace('"q1"', '"q1')  # an unclosed string
    write(tmp_path / "stream" / "a.json", "\n".join(stream) + "\n")
    array = json.dumps(records, indent=2)
    cut = array[: array.index('"q3"') - 4]  # the download stopped inside the last record
    write(tmp_path / "array" / "a.json", cut)
    # an API export cut short: its records come after another list (which is not them)
    export = json.dumps({"filters": [{"id": 1}], "events": records, "next": "x"}, indent=2)
    write(tmp_path / "export" / "a.json", export[: export.index('"q2"') - 4])
    cases = (
        ("stream", "q1", 6, ["q0", "q2", "q3"]),
        ("array", "q3", 17, ["q0", "q1", "q2"]),
        ("export", "q2", 18, ["q0", "q1"]),  # what came after the cut was never downloaded
    )
    for name, lost, line, kept in cases:
        events, q, lines = read(tmp_path / name, tmp_path)
        assert events["query"].to_list() == kept, name
        assert q.counts == {"invalid JSON": 1}, name
        assert [e["line"] for e in lines] == [line], name
        assert f'"user_id": "u{lost[1]}"' in lines[0]["raw"], name  # the record's own text is kept
    # a value nested deeper than Python's stack is one bad record too, not an unreadable file
    deep = json.dumps(records[:2], indent=2)[:-2] + ",\n  " + "[" * 100_000 + "]" * 100_000 + "\n]"
    write(tmp_path / "deep" / "a.json", deep)
    events, q, lines = read(tmp_path / "deep", tmp_path)
    assert events["query"].to_list() == ["q0", "q1"] and q.counts == {"invalid JSON": 1}
    assert [e["line"] for e in lines] == [12]
    # a row refused for what it holds is numbered by its record's first line too
    records[2]["timestamp"] = "yesterday"
    write(tmp_path / "dated" / "a.json", json.dumps(records, indent=2))
    events, q, lines = read(tmp_path / "dated", tmp_path)
    assert events.height == 3 and [e["line"] for e in lines] == [12]


def test_jsonl_invalid_lines(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(
        cdir / "a.jsonl", jsonl_text()[:-1] + '\nnot json\n[1, 2]\n{"timestamp": 1714532400, "query": "x"}\n'
    )
    events, q, _ = read(cdir, tmp_path)
    assert events.height == 4
    assert events["ts"][-1] == kst(2024, 5, 1, 3, 0)
    assert q.counts == {"invalid JSON": 2}


def test_corrupt_files_next_to_good_ones(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(cdir / "good.csv", csv_text())
    (cdir / "bad.csv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")  # not through write(): no compression
    (cdir / "bad.parquet").write_bytes(b"PAR1 not really")
    (cdir / "notes.docx").write_bytes(b"?")
    (cdir / "_ignored.csv").write_bytes(b"?")
    (cdir / ".hidden.csv").write_bytes(b"?")
    events, q, lines = read(cdir, tmp_path)
    assert events.height == 3
    assert q.counts == {"corrupt gzip": 1, "corrupt parquet": 1, "unsupported file type": 1}
    assert {e["file"] for e in lines} == {"acme/bad.csv.gz", "acme/bad.parquet", "acme/notes.docx"}


def test_nested_parquet_fields_are_mapped_by_jsonpath_as_in_json(tmp_path: Path) -> None:
    """Before: `query = "$.search.query"` read JSON but not Parquet, whose exporters (BigQuery, Spark)
    write structs and lists: "no column '$.search.query'". A path that names nothing in the file is
    a missing column, said the same way."""
    search = [{"query": "노트북", "user": {"id": "u1"}}, {"query": "마우스", "user": {"id": "u2"}}]
    frame = pl.DataFrame({"ts": [1764100000, 1764100001], "search": search, "tags": [["a", "b"], []]})
    cdir = tmp_path / "bq"
    cdir.mkdir()
    frame.write_parquet(cdir / "a.parquet")
    config = '[columns]\ntimestamp = "ts"\nquery = "$.search.query"\nuser_id = "$.search.user.id"\n'
    write(cdir / "kwrec.toml", config + 'session_id = "$.tags[1]"\n')
    events, q, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["노트북", "마우스"] and q.total == 0
    assert events["user_id"].to_list() == ["u1", "u2"] and events["session_id"].to_list() == ["b", None]
    write(cdir / "kwrec.toml", config.replace("user.id", "user.name"))
    with pytest.raises(
        DataError, match=r"no column '\$\.search\.user\.name' \(user_id\) among \['ts', 'search', 'tags'\]"
    ):
        read(cdir, tmp_path)


def test_parquet_columns_of_any_stored_type(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Parquet writers store times as decimals and text as bytes or dictionaries: those are read. A
    column that is no scalar (a list, a duration) refuses its file with the column and its type named,
    and the other files are still read; never a traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    epochs = [1714532400 + 3600 * i for i in range(3)]
    queries = ["아이폰 케이스", "갤럭시 버즈", "에어팟"]
    cdir = tmp_path / "acme"
    cdir.mkdir()
    typed = {
        "timestamp": pa.array(epochs, pa.decimal128(20, 0)),
        "user_id": pa.array([7, 8, 9], pa.int64()),
        "query": pa.array([q.encode() for q in queries], pa.binary()),
        "result_count": pa.array(["3", "0", "1,200"]).dictionary_encode(),
    }
    pq.write_table(pa.table(typed), cdir / "typed.parquet")
    listed = {"timestamp": pa.array(epochs), "user_id": ["a", "b", "c"], "query": [[q] for q in queries]}
    pq.write_table(pa.table(listed), cdir / "lists.parquet")
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == queries
    assert events["ts"].to_list() == [datetime.fromtimestamp(e, UTC) for e in epochs]
    assert events["user_id"].to_list() == ["7", "8", "9"]
    assert events["result_count"].to_list() == [3, 0, 1200]
    assert q.counts == {"not text": 1}
    (refused,) = [e for e in lines if e["reason"] == "not text"]
    assert refused["file"] == "acme/lists.parquet"
    assert "column 'query' holds List(String) values" in str(refused["raw"])
    assert "lists.parquet: column 'query' holds List(String)" in caplog.text

    only = tmp_path / "durations"
    only.mkdir()
    durations = {"QueryTime": pa.array([timedelta(seconds=e) for e in epochs], pa.duration("s"))}
    pq.write_table(pa.table({**durations, "query": queries}), only / "log.parquet")
    write(only / "kwrec.toml", '[columns]\ntimestamp = "QueryTime"\n')
    with pytest.raises(DataError, match=r"column 'QueryTime' \(timestamp\) holds Duration"):
        read(only, tmp_path)


def test_a_reader_bug_in_one_file_quarantines_that_file_and_reads_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A form the reader mishandles (as Parquet decimals once did, with a TypeError) must not stop the
    customer, nor the fleet's release: that file is kept in quarantine and the bug is logged."""

    def broken(*_: object) -> None:
        raise TypeError("a form nobody handled")

    monkeypatch.setattr(fmt, "read_parquet", broken)
    cdir = tmp_path / "acme"
    write(cdir / "good.csv", csv_text())
    pl.DataFrame({"query": ["x"]}).write_parquet(cdir / "odd.parquet")
    with caplog.at_level(logging.ERROR, logger="kwrec.core.ingest.reader"):
        events, q, lines = read(cdir, tmp_path)
    assert events.height == 3
    assert q.counts == {"unreadable file": 1}
    assert lines[0]["file"] == "acme/odd.parquet" and "TypeError: a form nobody handled" in str(
        lines[0]["raw"]
    )
    assert "reading acme/odd.parquet failed: a kwrec bug" in caplog.text

    # A bug while typing files together: each is typed alone, and only the one it hits is lost.
    from kwrec.core.ingest import reader

    real = reader._typed

    def fails_on_boom(rows: pl.DataFrame, *args: object) -> object:
        if "boom" in rows["query"].to_list():
            raise TypeError("boom")
        return real(rows, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_typed", fails_on_boom)
    other = tmp_path / "other"
    write(other / "a.csv", csv_text())
    write(other / "b.csv", "timestamp,query\n2024-05-01T12:00:00Z,boom\n")
    write(other / "c.csv", "timestamp,query\n2024-05-01T12:00:00Z,fine\n")
    events, q, lines = read(other, tmp_path)
    assert events["query"].to_list() == ["아이폰 케이스", "갤럭시 버즈", "에어팟", "fine"]
    assert q.counts == {"unreadable file": 1} and lines[-1]["file"] == "other/b.csv"


def test_many_small_files_are_typed_together_and_each_bad_row_keeps_its_file_and_line(
    tmp_path: Path,
) -> None:
    """Hourly exports are typed in one pass per run of same-shaped files; what is refused still names
    its own file and line, and the events keep the input order across shapes."""
    cdir = tmp_path / "acme"
    for h in range(6):
        rows = [f"2024-05-01T{h:02d}:0{m}:00Z,u{m},q{h}-{m}" for m in range(3)]
        rows.insert(h % 3, f"not a time {h},u9,bad{h}")  # a different line of each file
        write(cdir / f"2024050100{h:02d}.csv", "timestamp,user_id,query\n" + "\n".join(rows) + "\n")
    # Another shape between them: its own batch, in its place.
    write(cdir / "202405010003x.jsonl", '{"timestamp": 1714532400, "user_id": "j", "query": "json"}\n')
    events, q, lines = read(cdir, tmp_path)
    assert q.counts == {"bad timestamp": 6}
    assert [(e["file"], e["line"], e["raw"]) for e in lines] == [
        (f"acme/2024050100{h:02d}.csv", 2 + h % 3, f"not a time {h},u9,bad{h}") for h in range(6)
    ]
    expected = [f"q{h}-{m}" for h in range(4) for m in range(3)] + ["json"]
    expected += [f"q{h}-{m}" for h in range(4, 6) for m in range(3)]
    assert events["query"].to_list() == expected


def test_no_input_files_or_no_valid_row_is_a_data_error(tmp_path: Path) -> None:
    cdir = tmp_path / "empty"
    cdir.mkdir()
    with pytest.raises(DataError, match="customer empty: no input files"):
        read(cdir, tmp_path)
    write(tmp_path / "bad" / "a.csv", "timestamp,user_id,query\nnope,u1,x\n")
    with pytest.raises(DataError, match="customer bad: no valid row"):
        read(tmp_path / "bad", tmp_path)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(tmp_path: Path, codec: str) -> None:
    """Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated, CRLF. A broken code unit (a lone
    surrogate) quarantines its line only."""
    cdir = tmp_path / "excel"
    rows = [f"2026-11-01T09:{m:02d}:00Z\tu{m}\t노트북 파우치 {m}" for m in range(4)]
    text = "timestamp\tuser_id\tquery\r\n" + "\r\n".join(rows) + "\r\n"
    bom = b"\xff\xfe" if codec == "utf-16-le" else b"\xfe\xff"
    data = bytearray(bom + text.encode(codec))
    lone = "\ud800".encode(codec, "surrogatepass")
    at = data.index("u2".encode(codec))
    data[at:at] = lone  # into the third row's user id
    write(cdir / "export.tsv", bytes(data))
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == ["노트북 파우치 0", "노트북 파우치 1", "노트북 파우치 3"]
    assert q.counts == {"bad encoding": 1} and lines[0]["line"] == 4


def test_a_json_array_or_object_is_no_query_or_user(tmp_path: Path) -> None:
    """Its JSON text must never become a keyword; a number, or text that starts with a bracket, is fine."""
    cdir = tmp_path / "nested"
    records = [
        {"timestamp": 1764100000, "user_id": "u1", "query": "[특가] 노트북"},
        {"timestamp": 1764100001, "user_id": "u2", "query": ["노트북", 1]},
        {"timestamp": 1764100002, "user_id": "u3", "query": {"text": "노트북"}},
        {"timestamp": 1764100003, "user_id": {"id": 4}, "query": "마우스"},
        {"timestamp": 1764100004, "user_id": 5, "query": 12345},
        {"timestamp": 1764100005, "user_id": "u6", "query": "{맥북} 에어", "session_id": [1]},
    ]
    write(cdir / "a.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == ["[특가] 노트북", "12345"]
    assert events["user_id"].to_list() == ["u1", "5"]
    assert q.counts == {"not text": 4} and [e["line"] for e in lines] == [2, 3, 4, 6]


def test_a_json_file_is_json_lines_or_one_array_of_records(tmp_path: Path) -> None:
    """BigQuery exports JSON lines as .json; other tools write one array. A bad record of an array is
    quarantined by the file line it starts on; one that does not parse costs only itself."""
    cdir = tmp_path / "exports"
    records = [{"timestamp": 1764100000 + i, "user_id": f"u{i}", "query": f"노트북 {i}"} for i in range(3)]
    write(cdir / "lines.json", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    array = [*records, 7, {"timestamp": 1764100009, "user_id": "u9", "query": ["x"]}]
    write(cdir / "array.json.gz", json.dumps(array, ensure_ascii=False, indent=2))
    write(cdir / "broken.json", '[{"timestamp": 1764100000, "user_id": "u1", "query": "a"},\n{"oops"\n')
    events, q, lines = read(cdir, tmp_path)
    assert sorted(events["query"].to_list()) == sorted(["a", *(2 * [f"노트북 {i}" for i in range(3)])])
    assert q.counts == {"invalid JSON": 2, "not text": 1}
    assert {(e["file"], e["line"]) for e in lines} == {
        ("exports/array.json.gz", 17),  # [ and 3 records of 5 lines each before it
        ("exports/array.json.gz", 18),
        ("exports/broken.json", 2),
    }


def test_a_csv_separated_by_semicolons_is_read_without_configuration(tmp_path: Path) -> None:
    """Excel in many locales writes ";" into a .csv. The header line tells; a configured delimiter wins,
    and a query with a ";" in a comma-separated file stays one field."""
    cdir = tmp_path / "excel"
    write(
        cdir / "a.csv",
        "timestamp;user_id;query\n2026-11-01T09:00:00Z;u1;노트북\n2026-11-01T09:01:00Z;u2;마우스\n",
    )
    write(cdir / "b.csv", 'timestamp,user_id,query\n2026-11-01T09:02:00Z,u3,"a;b"\n')
    events, q, _ = read(cdir, tmp_path)
    assert events.select("user_id", "query").rows() == [("u1", "노트북"), ("u2", "마우스"), ("u3", "a;b")]
    assert q.total == 0
    write(cdir / "kwrec.toml", 'delimiter = "|"\n')
    with pytest.raises(DataError, match="no column 'query'"):
        read(cdir, tmp_path)


def test_a_row_stamped_in_the_future_is_quarantined(tmp_path: Path) -> None:
    """Decay counts back from the newest event: one row stamped 2099 would age every real search to
    nothing (the model would suggest nothing). Within a day ahead of the clock is time-zone slack."""
    cdir = tmp_path / "skewed"
    soon = (datetime.now(UTC) + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write(
        cdir / "a.csv",
        "timestamp,user_id,query\n"
        "2026-11-01T09:00:00Z,u1,노트북\n"
        f"{soon},u2,마우스\n"
        "2099-01-01T00:00:00Z,u3,키보드\n"
        "4070908800,u4,모니터\n",
    )
    events, q, lines = read(cdir, tmp_path)
    assert events["query"].to_list() == ["노트북", "마우스"]
    assert q.counts == {"timestamp in the future": 2} and [e["line"] for e in lines] == [4, 5]


def test_timestamps_in_a_form_kwrec_does_not_read_say_how_to_have_them_read(tmp_path: Path) -> None:
    """A log that writes "25/11/2025 19:46" (day first: never guessed) loses every row to "bad
    timestamp": the message must name the setting that reads it, and the setting must then read it."""
    cdir = tmp_path / "day-first"
    lines = [f"25/11/2025 19:{m:02d},u{m % 3},노트북" for m in range(10)]
    write(cdir / "a.csv", "timestamp,user_id,query\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no valid row") as err:
        read(cdir, tmp_path)
    assert "timestamp_format" in str(err.value) and str(cdir / "kwrec.toml") in str(err.value)

    write(cdir / "kwrec.toml", 'timezone = "UTC"\ntimestamp_format = "%Y-%m-%d"\n')
    with pytest.raises(DataError, match="do not match timestamp_format = '%Y-%m-%d'"):
        read(cdir, tmp_path)

    write(cdir / "kwrec.toml", 'timezone = "UTC"\ntimestamp_format = "%d/%m/%Y %H:%M"\n')
    events, q, _ = read(cdir, tmp_path)
    assert events.height == 10 and q.total == 0 and q.advice is None
    assert events["ts"].min() == datetime(2025, 11, 25, 19, 0, tzinfo=UTC)


def test_a_few_bad_timestamps_are_quarantined_without_advice(tmp_path: Path) -> None:
    """Advice about the form comes only when more rows are lost to timestamps than kept."""
    cdir = tmp_path / "mostly"
    good = [f"2025-11-25 19:{m:02d}:00,u{m % 3},노트북" for m in range(6)]
    bad = [f"25/11/2025 19:{m:02d},u1,마우스" for m in range(5)]
    write(cdir / "a.csv", "timestamp,user_id,query\n" + "\n".join(good + bad) + "\n")
    events, q, _ = read(cdir, tmp_path)
    assert (events.height, q.counts, q.advice) == (6, {"bad timestamp": 5}, None)
    write(cdir / "a.csv", "timestamp,user_id,query\n" + "\n".join(good[:4] + bad) + "\n")
    events, q, _ = read(cdir, tmp_path)
    assert events.height == 4 and q.advice is not None and "timestamp_format" in q.summary()


def test_column_mapping_and_dialect(tmp_path: Path) -> None:
    cdir = tmp_path / "shop"
    write(
        cdir / "kwrec.toml",
        'delimiter = ";"\ntimezone = "UTC"\n'
        '[columns]\nquery = "keyword"\ntimestamp = "ts"\nuser_id = "member"\n'
        "[train]\nmin_users = 5\n",
    )
    write(
        cdir / "a.csv",
        "ts;member;keyword;extra\n2024-05-01 12:00:00;m1;노트북;x\n1714532400000;m2;마우스;y\n",
    )
    write(cdir / "b.jsonl", '{"ts": "2024-05-01T12:00:00+09:00", "member": 7, "keyword": "키보드"}\n')
    write(cdir / "c.csv", "ts;member;query\n2024-05-01 12:00:00;m1;노트북\n")  # lacks the mapped column
    events, q, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["노트북", "마우스", "키보드"]
    assert events["user_id"].to_list() == ["m1", "m2", "7"]
    assert events["ts"].to_list() == [kst(2024, 5, 1, 12, 0), kst(2024, 5, 1, 3, 0), kst(2024, 5, 1, 3, 0)]
    assert q.counts == {"missing columns": 1}
    config = load_customer_config(cdir)
    assert config.train_params(TrainParams.model_validate({"min_users": 2})).min_users == 5


def test_headerless_csv_with_names(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(
        cdir / "kwrec.toml",
        'has_header = false\nnames = ["when", "who", "query"]\n[columns]\ntimestamp = "when"\n',
    )
    write(cdir / "a.csv", "1714532400,u1,가방\n1714532401,u2,지갑\n")
    events, _, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["가방", "지갑"]
    assert events["user_id"].null_count() == 2  # "who" is not mapped to user_id


def test_timestamps_epoch_and_iso_with_zones(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    stamps = [
        "1714532400",  # epoch seconds
        "1714532400000",  # epoch milliseconds
        "2024-05-01T03:00:00Z",
        "2024-05-01T03:00:00.000+00:00",
        "2024-05-01T12:00:00+09:00",
        "2024-04-30T23:00:00-0400",
        "2024-05-01 12:00:00",  # naive: Asia/Seoul
        "2024-05-01T12:00",
    ]
    write(cdir / "a.csv", "timestamp,query\n" + "".join(f"{s},q{i}\n" for i, s in enumerate(stamps)))
    events, q, _ = read(cdir, tmp_path)
    assert events["ts"].to_list() == [kst(2024, 5, 1, 3, 0)] * len(stamps)
    assert q.counts == {}


def test_iso_times_with_offsets_agree_with_pythons_parser() -> None:
    """Every ISO 8601 shape a log writes with an offset or Z (fractions, +HH:MM, +HHMM, a space for
    the T), whichever path the reader takes for it, against datetime.fromisoformat as the oracle."""
    rng = random.Random(5)
    texts = []
    for _ in range(2000):
        when = datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(200_000_000))
        text = when.strftime(f"%Y-%m-%d{rng.choice('T ')}%H:%M:%S")
        if rng.random() < 0.5:
            text += "." + str(rng.randrange(10**6)).zfill(6)[: rng.randrange(1, 7)]
        minutes = rng.randrange(-12 * 60, 14 * 60 + 1, 15)
        sign, hours, mins = "+" if minutes >= 0 else "-", abs(minutes) // 60, abs(minutes) % 60
        text += rng.choice(["Z", f"{sign}{hours:02d}:{mins:02d}", f"{sign}{hours:02d}{mins:02d}"])
        texts.append(text)
    parsed = parse_timestamps(pl.Series(texts), CustomerConfig()).to_list()
    expected = [datetime.fromisoformat(t).astimezone(UTC) for t in texts]
    assert parsed == expected


def test_year_first_times_as_korean_screens_write_them_agree_with_pythons_clock() -> None:
    """Before: "2026. 11. 25. 오후 7:46:00" (JavaScript's ko-KR toLocaleString, Google Sheets), Excel's
    "2026-11-25 오후 7:46:00" and "2026.11.25 19:46" were "bad timestamp" on every row. Local times in
    the customer's zone; the oracle is datetime itself, the 12-hour clock included (오전 12 is midnight)."""
    rng = random.Random(11)
    texts, expected = [], []
    for _ in range(2000):
        when = datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(200_000_000))
        half = ("오전", "오후") if rng.random() < 0.7 else ("AM", "PM")
        twelve = f"{half[when.hour >= 12]} {(when.hour % 12) or 12}:{when:%M:%S}"
        texts.append(
            rng.choice(
                [
                    f"{when.year}. {when.month}. {when.day}. {twelve}",
                    f"{when:%Y-%m-%d} {twelve}",
                    f"{when:%Y.%m.%d %H:%M:%S}",
                    f"{when:%Y/%m/%d} {(when.hour % 12) or 12}:{when:%M:%S} {half[when.hour >= 12]}",
                ]
            )
        )
        expected.append(when.replace(tzinfo=ZoneInfo("Asia/Seoul")).astimezone(UTC))
    assert parse_timestamps(pl.Series(texts), CustomerConfig()).to_list() == expected
    # No such time or date: unread (quarantined as a bad timestamp), never moved to a neighbour.
    wrong = ["2026-11-25 오후 13:00:00", "2026. 2. 30. 오후 1:00:00", "2026.11.25 24:00", "2026/13/01"]
    assert parse_timestamps(pl.Series(wrong), CustomerConfig()).null_count() == len(wrong)
    assert parse_timestamps(pl.Series(["2026.11.25"]), CustomerConfig()).to_list() == [
        datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    ]


def test_digits_only_local_times_are_read_as_dates_not_epoch_numbers(tmp_path: Path) -> None:
    """20240501120000 read as epoch milliseconds is the year 2612 (every row "in the future"), and
    20240501 as epoch seconds a day of 1970: many Korean logs and databases write times this way."""
    cdir = tmp_path / "acme"
    stamps = ["20240501120000", "202405011200", "1714532400", "1714532400000"]
    write(cdir / "a.csv", "timestamp,query\n" + "".join(f"{s},q{i}\n" for i, s in enumerate(stamps)))
    write(cdir / "b.csv", "timestamp,query\n20240502,q4\n20241301000000,q5\n")  # no 13th month
    # The same in typed columns: JSON numbers (and Parquet integers) take the same path.
    numbers = ('{"timestamp": 20240501120000, "query": "q6"}', '{"timestamp": 1714532400, "query": "q7"}')
    write(cdir / "c.jsonl", "\n".join(numbers) + "\n")
    events, q, _ = read(cdir, tmp_path)
    at_noon_kst = kst(2024, 5, 1, 3, 0)
    assert events["ts"].to_list() == [at_noon_kst] * 4 + [kst(2024, 5, 1, 15, 0), at_noon_kst, at_noon_kst]
    # Not a date: read as the epoch number it also is (far in the future), and quarantined as such.
    assert q.counts == {"timestamp in the future": 1}


def test_rows_lost_to_the_future_by_a_misread_unit_get_the_timestamp_advice(tmp_path: Path) -> None:
    cdir = tmp_path / "micro"
    # Day before month (YYYYDDMMhhmmss) is no date, so the digits read as epoch milliseconds: year 2612.
    lines = [f"2024{d}05120000,u{d},노트북" for d in range(20, 25)]
    write(cdir / "a.csv", "timestamp,user_id,query\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="timestamp in the future") as err:
        read(cdir, tmp_path)
    assert "timestamp_format" in str(err.value)


def test_a_tab_separated_log_file_is_read_as_a_table_not_as_queries(tmp_path: Path) -> None:
    """Excite's and AOL's raw logs are .log/.txt files of tab-separated fields. Read one query a line,
    "2A9EABFB35F5B954<TAB>970916105432<TAB>the park" became a keyword (or PII, for the digits)."""
    lines = [
        f"U{i % 4}\t9709161054{i:02d}\t{q}" for i, q in enumerate(["the park", "dell", "the park", "art"])
    ]
    cdir = tmp_path / "excite"
    write(cdir / "excite-small.log", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="3 tab-separated fields") as err:
        read(cdir, tmp_path)
    assert "has_header = false and names = [...]" in str(err.value)
    # Doing what the message says reads it.
    write(
        cdir / "kwrec.toml",
        'has_header = false\nnames = ["user_id", "timestamp", "query"]\ntimestamp_format = "%y%m%d%H%M%S"\n'
        'timezone = "UTC"\n',
    )
    events, q, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["the park", "dell", "the park", "art"] and q.total == 0
    assert events["user_id"].to_list() == ["U0", "U1", "U2", "U3"]
    assert events["ts"][0] == datetime(1997, 9, 16, 10, 54, 0, tzinfo=UTC)
    # A header line that names the query column is enough; a list of queries with a stray tab stays one.
    other = tmp_path / "headed"
    write(other / "a.txt", "user_id\tquery\nu1\t노트북\nu2\t마우스\n")
    write(other / "b.txt", "노트북\n마우스\tpad\n키보드\n")
    events, _, _ = read(other, tmp_path)
    assert events["query"].to_list() == ["노트북", "마우스", "노트북", "마우스\tpad", "키보드"]
    assert events["user_id"].to_list() == ["u1", "u2", None, None, None]


def test_a_log_whose_user_ids_go_by_another_name_says_the_floor_cannot_act(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AOL's log names its user column AnonID: unmapped, every search would count as its own person and
    min_users would let through what one person typed, without a word."""
    cdir = tmp_path / "aol"
    write(cdir / "a.tsv", "AnonID\tQuery\tQueryTime\n142\trentdirect.com\t2006-03-01 07:17:12\n")
    write(cdir / "b.jsonl", '{"anon": 7, "query": "westchester.gov", "timestamp": 1141200000}\n')
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        events, _, _ = read(cdir, tmp_path)
    assert events.height == 2
    warned = [r.getMessage() for r in caplog.records if "no user id" in r.getMessage()]
    assert len(warned) == 1 and "'AnonID', 'QueryTime'" in warned[0], warned
    assert str(cdir / "kwrec.toml") in warned[0] and 'user_id = "..."' in warned[0]

    caplog.clear()
    write(cdir / "kwrec.toml", '[columns]\nuser_id = "AnonID"\n')
    (cdir / "b.jsonl").unlink()
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        events, _, _ = read(cdir, tmp_path)
    assert events["user_id"].to_list() == ["142"] and not caplog.records
    # Nothing else in the file could be a user: no warning (a plain query list has no columns at all).
    plain = tmp_path / "plain"
    write(plain / "a.csv", "timestamp,query\n2026-11-01 10:00:00,노트북\n")
    write(plain / "b.txt", "마우스\n")
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        read(plain, tmp_path)
    assert not caplog.records
    # A later file that has one (an export that added the member number) is named, not only the first.
    write(plain / "c.csv", "timestamp,member_no,query\n2026-11-02 10:00:00,m-1,키보드\n")
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        read(plain, tmp_path)
    (warned,) = [r.getMessage() for r in caplog.records]
    assert "no user id in c.csv (its other columns: 'member_no')" in warned


def test_two_columns_of_one_name_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An export that joined two tables has two "query" columns: the first is read, and that is said."""
    cdir = tmp_path / "acme"
    write(cdir / "a.csv", "timestamp,Query,query,user_id\n2024-05-01T12:00:00Z,first,second,u1\n")
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        events, _, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["second"]  # the exact spelling wins over another case
    assert not caplog.records
    write(cdir / "a.csv", "timestamp,query,query,user_id\n2024-05-01T12:00:00Z,first,second,u1\n")
    with caplog.at_level(logging.WARNING, logger="kwrec.core.ingest.reader"):
        events, _, _ = read(cdir, tmp_path)
    assert events["query"].to_list() == ["first"]
    (warned,) = [r.getMessage() for r in caplog.records]
    assert "a.csv has 2 columns named 'query' (columns 2, 3): the first is read as query" in warned


def test_invalid_customer_dirs_are_reported_and_skipped(tmp_path: Path) -> None:
    for name in ("acme", "shop-kr", "Foo", "bad name", ".git", "_tmp"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("x")
    customers, problems = list_customers(tmp_path)
    assert customers == ["acme", "shop-kr"]
    assert len(problems) == 2
    assert any("'Foo'" in p for p in problems) and any("'bad name'" in p for p in problems)
    with pytest.raises(DataError):
        list_customers(tmp_path / "missing")


def test_input_files_and_fingerprint(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(cdir / "b.csv", csv_text())
    write(cdir / "2024" / "a.jsonl.gz", jsonl_text())
    write(cdir / "kwrec.toml", "")
    write(cdir / "x.bin", b"?")
    assert [f.rel for f in input_files(cdir)] == ["2024/a.jsonl.gz", "b.csv"]
    first = fingerprint_inputs(cdir)
    assert fingerprint_inputs(cdir) == first
    write(cdir / "banned.txt", "도박\n")
    second = fingerprint_inputs(cdir)
    write(cdir / "kwrec.toml", "timezone = 'UTC'\n")
    third = fingerprint_inputs(cdir)
    (cdir / "b.csv").rename(cdir / "c.csv")
    fourth = fingerprint_inputs(cdir)
    assert len({first, second, third, fourth}) == 4
    (cdir / "x.bin").write_bytes(b"changed")  # not an input
    assert fingerprint_inputs(cdir) == fourth


def test_customer_config_errors(tmp_path: Path) -> None:
    cdir = tmp_path / "acme"
    write(cdir / "kwrec.toml", "[train]\nmin_userz = 3\n")
    with pytest.raises(ConfigError, match=r"kwrec\.toml.*min_userz"):
        load_customer_config(cdir)
    write(cdir / "kwrec.toml", "colums = {query = 'q'}\n")
    with pytest.raises(ConfigError, match="colums"):
        load_customer_config(cdir)
    write(cdir / "kwrec.toml", "timezone = 'Mars/Base'\n")
    with pytest.raises(ConfigError, match="Mars/Base"):
        load_customer_config(cdir)
    write(cdir / "kwrec.toml", "[train]\nmin_users = 0\n")
    with pytest.raises(ConfigError, match="min_users"):
        load_customer_config(cdir)
    write(cdir / "kwrec.toml", "[columns]\nquery = 'kw'\ndelimiter = ';;'\n[train\n")
    with pytest.raises(ConfigError, match=r"acme/kwrec\.toml:4:7: invalid TOML: Expected '\]'"):
        load_customer_config(cdir)
    # Every problem of the file at once, each in the words of the file, with a did-you-mean.
    bad = "delimiter = ';;'\nencodng = 'cp949'\n[columns]\nqeury = 'kw'\n[train]\ntopk = 0\n"
    write(cdir / "kwrec.toml", bad)
    with pytest.raises(ConfigError) as info:
        load_customer_config(cdir)
    said = str(info.value)
    assert "\n" not in said and "TrainParams" not in said
    assert "delimiter: must be a single character other than a line break, got ';;'" in said
    assert "encodng: unknown key (did you mean encoding?)" in said
    assert "[columns] qeury: unknown key (did you mean query?)" in said
    assert "[train] topk: Input should be greater than or equal to 1, got 0" in said
    write(cdir / "kwrec.toml", "ban = ['a']\n")
    write(cdir / "banned.txt", "\ufeff도박\n# comment\n\n성인 \n")
    assert load_customer_config(cdir).ban == ["a", "도박", "성인"]
    # Saved by Korean Windows' Notepad or Excel: CP949 (and UTF-16), read as the logs are.
    write(cdir / "banned.txt", "도박\n# 주석\n성인\n".encode("cp949"))
    assert load_customer_config(cdir).ban == ["a", "도박", "성인"]
    write(cdir / "banned.txt", "도박\r\n성인\r\n".encode("utf-16"))
    assert load_customer_config(cdir).ban == ["a", "도박", "성인"]
    # A byte that no encoding reads is never a half-read ban term: the line is named.
    write(cdir / "banned.txt", "도박\n".encode() + b"\xff\xfe\xfd\n")
    write(cdir / "kwrec.toml", "ban = ['a']\nencoding = 'utf-8'\n")
    with pytest.raises(ConfigError, match=r"banned.txt: line\(s\) 2 are not valid utf-8"):
        load_customer_config(cdir)
    assert CustomerConfig().timezone == "Asia/Seoul"


def test_quarantine_redacts_and_counts(tmp_path: Path) -> None:
    with Quarantine(tmp_path / "q.jsonl") as q:
        q.add("f", 1, "x", "call 010-1234-5678 or +82 10 1234 5678, mail kim@example.co.kr")
        q.add_frame(
            pl.DataFrame(
                {"line": [2, 3], "reason": ["x", "y"], "raw": ["card 4111 1111 1111 1111", "z" * 900]}
            ),
            file="f",
        )
    text = q.path.read_text(encoding="utf-8")
    for secret in ("1234-5678", "1234 5678", "kim@example", "4111"):
        assert secret not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert len(rows[2]["raw"]) == 500
    assert q.counts == {"x": 2, "y": 1}


@pytest.mark.parametrize("kind", ["csv", "jsonl", "txt"])
def test_a_truncated_gzip_keeps_every_complete_row(tmp_path: Path, kind: str) -> None:
    """A gzip cut mid-stream (an interrupted upload): every complete line before the cut is an event;
    only the cut line is quarantined, with the reason and where the stream broke off."""
    n = 3000
    rows = [
        (f"2024-05-01T12:{i // 60 % 60:02d}:{i % 60:02d}+09:00", f"u{i}", f"s{i}", f"상품 {i}", "1", "0")
        for i in range(n)
    ]
    texts = {
        "csv": csv_text(rows),
        "jsonl": jsonl_text(rows),
        "txt": "".join(f"상품 {i}\n" for i in range(n)),
    }
    whole = gzip.compress(texts[kind].encode(), compresslevel=1)
    cut_at = len(whole) * 3 // 5  # the last 40% never arrived
    cdir = tmp_path / "acme"
    cdir.mkdir()
    (cdir / f"logs.{kind}.gz").write_bytes(whole[:cut_at])
    # Oracle: what zlib itself gets out of the cut bytes, counted in complete lines.
    prefix = zlib.decompressobj(wbits=31).decompress(whole[:cut_at])
    newline = b"\n"
    complete = prefix.count(newline) - (1 if kind == "csv" else 0)  # the CSV header is no event
    events, q, lines = read(cdir, tmp_path)
    assert events.height == complete > 1000
    assert q.counts == {"truncated gzip": 1}
    [cut] = lines
    assert cut["line"] == prefix.count(newline) + 1
    kept = prefix.rfind(newline) + 1
    assert f"breaks off after {kept:,} decompressed bytes ({cut_at:,} compressed bytes" in str(cut["raw"])


def test_a_gzip_with_no_complete_line_is_rejected_whole(tmp_path: Path) -> None:
    whole = gzip.compress(csv_text().encode())
    cdir = tmp_path / "acme"
    write(cdir / "good.csv", csv_text())
    (cdir / "cut.csv.gz").write_bytes(whole[:12])  # the header, not even one line
    events, q, _ = read(cdir, tmp_path)
    assert events.height == len(ROWS) and q.counts == {"corrupt gzip": 1}


def test_what_the_bytes_are_decides_how_a_file_is_read_not_its_name(tmp_path: Path) -> None:
    """Before: a .csv.gz that a browser had saved decompressed was rejected as "corrupt gzip", a gzip
    named .csv lost every line to "bad encoding", and bzip2 and zstd (Spark's, Hive's, a shell's)
    were "unsupported file type". A cut bzip2 or zstd stream keeps its complete lines, like gzip."""
    import bz2

    import pyarrow as pa

    rng = random.Random(3)
    rows = [
        (f"2024-05-01T12:00:{i % 60:02d}+09:00", f"u{i}", "", f"q{rng.randrange(10**9)}", "", "")
        for i in range(40_000)
    ]
    text = csv_text(rows).encode()
    files = {
        "saved-decompressed.csv.gz": text,
        "gzipped.csv": gzip.compress(text),
        "logs.csv.bz2": bz2.compress(text),
        "logs.csv.zst": pa.compress(text, codec="zstd", asbytes=True),
    }
    for name, data in files.items():
        cdir = tmp_path / name.replace(".", "-")
        cdir.mkdir()
        (cdir / name).write_bytes(data)
        events, q, _ = read(cdir, tmp_path)
        assert events["query"].to_list() == [r[3] for r in rows] and q.total == 0, name
    for name in ("logs.csv.bz2", "logs.csv.zst"):
        cdir = tmp_path / f"cut-{name}"
        cdir.mkdir()
        (cdir / name).write_bytes(files[name][: len(files[name]) // 2])
        events, q, lines = read(cdir, tmp_path)
        assert 5_000 < events.height < len(rows) and q.counts == {"truncated compressed file": 1}, name
        assert events["query"].to_list() == [r[3] for r in rows[: events.height]], name
        assert lines[0]["line"] == events.height + 2  # the header, then every complete row
    # A compressed name on bytes that are neither that nor text: corrupt, said so, the rest read.
    cdir = tmp_path / "binary"
    write(cdir / "good.csv", csv_text())
    (cdir / "bad.csv.zst").write_bytes(b"\x00\x01\x02" * 100)
    events, q, lines = read(cdir, tmp_path)
    assert events.height == len(ROWS) and q.counts == {"corrupt compressed file": 1}
    assert "named zstd but it is not zstd data" in str(lines[0]["raw"])


def test_stream_gunzip_agrees_with_the_gzip_module_on_whole_files() -> None:
    """Multi-member files, members ending mid-chunk, any compression level: gzip.decompress is the oracle."""
    rng = random.Random(7)
    for _ in range(25):
        parts = [rng.randbytes(rng.randint(0, 150_000)) for _ in range(rng.randint(1, 4))]
        blob = b"".join(gzip.compress(p, compresslevel=rng.randint(0, 9)) for p in parts)
        assert fmt._gunzip(blob) == (gzip.decompress(blob), None)
    text = b"".join(rng.randbytes(20).hex().encode() + b"\n" for _ in range(20_000))
    damaged = bytearray(gzip.compress(text))
    damaged[len(damaged) * 3 // 4] ^= 0xFF
    out, error = fmt._gunzip(bytes(damaged))
    assert error is not None and len(out) > len(text) // 2 and text.startswith(out[:100_000])


def test_outcome_columns_in_the_spellings_logs_use(tmp_path: Path) -> None:
    # Exports write clicks as 1.0/0.0, click counts, Y/N; result counts as 12.0, 1,234 or -1 for
    # "not counted". An unreadable value is "not known" (null), never a guess.
    cells = [
        ("1.0", "12.0"),
        ("0.0", " 7 "),
        ("3", "0"),
        ("Y", "-"),
        ("n", '"1,234"'),
        ("maybe", ""),
        ("1", "-1"),
        ("O", "NULL"),  # Korean admin screens: O/X, 예/아니오
        ("x", "3"),
        ("예", "3"),
        ("아니오", "3"),
    ]
    rows = [
        (f"2024-05-01T12:{i:02d}:00+09:00", f"u{i}", "", f"q{i}", results, clicked)
        for i, (clicked, results) in enumerate(cells)
    ]
    cdir = tmp_path / "acme"
    write(cdir / "logs.csv", csv_text(rows))
    events, q, _ = read(cdir, tmp_path)
    assert q.counts == {}
    assert events["clicked"].to_list() == [
        True,
        False,
        True,
        True,
        False,
        None,
        True,
        True,
        False,
        True,
        False,
    ]
    assert events["result_count"].to_list() == [12, 7, 0, None, 1234, None, None, None, 3, 3, 3]


def test_what_exporters_write_for_a_missing_value_is_no_id(tmp_path: Path) -> None:
    """Before: every anonymous row of a database dump was one person called \\N (or NULL, None), so
    the privacy floor counted them as somebody. (A query that is such a marker: preprocessing.)"""
    users = ["\\N", "NULL", "null", "None", "(null)", "undefined", "NaN", "u7", "nullable", "u9"]
    rows = [(f"2024-05-01T12:{i:02d}:00+09:00", u, "\\N", f"q{i}", "", "") for i, u in enumerate(users)]
    write(tmp_path / "dump" / "a.csv", csv_text(rows))
    events, q, _ = read(tmp_path / "dump", tmp_path)
    assert events["user_id"].to_list() == 7 * [None] + ["u7", "nullable", "u9"]
    assert events["session_id"].null_count() == events.height and q.total == 0


def test_exports_concatenated_into_one_file_say_repeated_header(tmp_path: Path) -> None:
    """`cat day1.csv day2.csv` (or a Windows copy that keeps each file's BOM) repeats the header: it
    was one "bad timestamp" per day; it is said for what it is, counted, and every row is read."""
    day = "timestamp,user_id,query\r\n2024-05-01T12:00:00Z,u1,노트북\r\n"
    write(tmp_path / "cat" / "a.csv", day + day + "\ufeff" + day)
    events, q, lines = read(tmp_path / "cat", tmp_path)
    assert events.height == 3 and q.counts == {"repeated header": 2}
    assert [e["line"] for e in lines] == [3, 5]


def test_lines_ended_by_cr_alone_are_lines(tmp_path: Path) -> None:
    """Before: a file from classic Mac OS or Excel's "CSV (Macintosh)" was one line, and the csv
    module's refusal of it was logged as a kwrec bug; a lone CR in a header line was the same bug."""
    rows = ["timestamp,user_id,query", "2024-05-01T12:00:00Z,u1,노트북", "2024-05-01T12:01:00Z,u2,마우스"]
    write(tmp_path / "mac" / "a.csv", "\r".join(rows) + "\r")
    write(tmp_path / "mac" / "b.txt", "키보드\r모니터\r".encode("utf-16"))
    events, q, _ = read(tmp_path / "mac", tmp_path)
    assert events["query"].to_list() == ["노트북", "마우스", "키보드", "모니터"] and q.total == 0
    write(tmp_path / "mangled" / "a.csv", "timestamp,user_id\r,query\n2024-05-01T12:00:00Z,u1,노트북\n")
    events, q, _ = read(tmp_path / "mangled", tmp_path)
    assert events["user_id"].to_list() == ["u1"] and q.total == 0
