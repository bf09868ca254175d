"""One behavioural suite run against LocalStore and S3Store (on a real moto server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters.stores import ArtifactStore, LocalStore, S3Store, StoreNotFound, open_store, validate_key
from kwrec.adapters.stores import local as local_mod
from kwrec.adapters.stores import s3 as s3_mod
from kwrec.adapters.stores.s3 import _display_endpoint
from kwrec.core.store import MARKER_NAME
from kwrec.errors import StoreError
from kwrec.settings import S3Settings

# The moto fixtures live beside this module until the lead moves them into conftest.py.


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    # Looked up lazily so a run of only the local cases never starts moto.
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("moto_endpoint")
    return S3Store(bucket, "team/kw", endpoint_url=endpoint)


def make_model_dir(root: Path, marker: bytes = b"v1") -> Path:
    d = root / "model-src"
    (d / "sub" / "deep").mkdir(parents=True)
    (d / "meta.json").write_bytes(b'{"v": "' + marker + b'"}')
    (d / "sub" / "trie.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB, binary
    (d / "sub" / "deep" / "empty.txt").write_bytes(b"")
    return d


def tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def run_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in n threads released together, so they really compete."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


# -- bytes ----------------------------------------------------------------------------------------


def test_is_an_artifact_store(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


def test_round_trip_and_overwrite(store: ArtifactStore) -> None:
    assert not store.exists("releases/gs_2611271500/manifest.json")
    store.write_bytes("releases/gs_2611271500/manifest.json", b'{"a": 1}')
    assert store.exists("releases/gs_2611271500/manifest.json")
    assert store.read_bytes("releases/gs_2611271500/manifest.json") == b'{"a": 1}'
    store.write_bytes("releases/gs_2611271500/manifest.json", b"\x00\xffnew")
    assert store.read_bytes("releases/gs_2611271500/manifest.json") == b"\x00\xffnew"
    store.write_bytes("empty", b"")
    assert store.read_bytes("empty") == b""
    # A directory is not a key.
    assert not store.exists("releases")


def test_missing_key_error_names_store_and_key(store: ArtifactStore) -> None:
    with pytest.raises(StoreNotFound) as info:
        store.read_bytes("releases/nope.json")
    assert isinstance(info.value, StoreError)
    msg = str(info.value)
    assert store.url in msg and "releases/nope.json" in msg and "list_keys" in msg


def test_concurrent_readers_never_see_partial_writes(store: ArtifactStore) -> None:
    old, new = b"a" * 300_000, b"b" * 300_000
    store.write_bytes("big", old)
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            data = store.read_bytes("big")
            seen.add(data[:1] + data[-1:] if len(data) == 300_000 else b"short")

    t = threading.Thread(target=reader)
    t.start()
    for i in range(10):
        store.write_bytes("big", new if i % 2 == 0 else old)
    stop.set()
    t.join()
    assert seen <= {b"aa", b"bb"}


# -- listing and deleting ------------------------------------------------------------------------


def test_list_keys_dirs_and_delete(store: ArtifactStore) -> None:
    for key in ["a/x", "a/b/y", "a/b/c/z", "ab/w", "top"]:
        store.write_bytes(key, key.encode())
    assert store.list_keys() == ["a/b/c/z", "a/b/y", "a/x", "ab/w", "top"]
    assert store.list_keys("a") == ["a/b/c/z", "a/b/y", "a/x"]  # 'ab/w' is not under directory 'a'
    assert store.list_keys("a/b/c") == ["a/b/c/z"]
    assert store.list_keys("nothing") == []
    assert store.list_dirs() == ["a", "ab"]
    assert store.list_dirs("a") == ["b"]
    assert store.list_dirs("a/b/c") == []

    assert store.delete_prefix("a/b") == 2
    assert store.list_keys() == ["a/x", "ab/w", "top"]
    assert store.list_dirs("a") == []
    assert store.delete_prefix("a/b") == 0
    assert store.delete_prefix("missing") == 0
    assert store.delete_prefix("") == 3
    assert store.list_keys() == []
    assert store.list_dirs() == []


# -- key validation ------------------------------------------------------------------------------

BAD_KEYS = ["../x", "/abs", "a//b", "a\\b", "", ".", "a/..", "a/./b", "a/", "x\x00y", "a\nb", "é", "a b"]
BAD_KEYS += [".hidden", "a/.complete"]  # dot names are reserved for the stores' temp files and markers


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(StoreError, match="invalid store key"):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "gs_2611271500/cust-1/model.v2.bin", "A-Z_0.9/x..y"])
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a\\b"])
def test_every_operation_rejects_bad_keys(store: ArtifactStore, key: str, tmp_path: Path) -> None:
    src = make_model_dir(tmp_path)
    calls: list[Callable[[], object]] = [
        lambda: store.read_bytes(key),
        lambda: store.write_bytes(key, b"x"),
        lambda: store.exists(key),
        lambda: store.list_keys(key),
        lambda: store.list_dirs(key),
        lambda: store.delete_prefix(key),
        lambda: store.upload_dir(src, key),
        lambda: store.fetch_dir(key, tmp_path / "cache"),
        lambda: store.dir_exists(key),
        lambda: store.compare_and_swap(key, None, b"x"),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="invalid store key"):
            call()
    assert store.list_keys() == []


def test_upload_rejects_bad_file_names_before_writing(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_dir(tmp_path)
    (src / "bad name.txt").write_bytes(b"x")
    with pytest.raises(StoreError, match=r"'bad name\.txt' is not a valid store key"):
        store.upload_dir(src, "models/m1")
    assert store.list_keys() == []


# -- directories ---------------------------------------------------------------------------------


def test_upload_and_fetch_dir(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_dir(tmp_path)
    assert not store.dir_exists("models/m1")
    store.upload_dir(src, "models/m1")
    assert store.dir_exists("models/m1")
    assert store.list_keys("models/m1") == [
        "models/m1/meta.json",
        "models/m1/sub/deep/empty.txt",
        "models/m1/sub/trie.bin",
    ]  # no marker
    assert store.list_dirs("models") == ["m1"]
    got = store.fetch_dir("models/m1", tmp_path / "cache")
    assert tree(got) == tree(src)


def test_local_fetch_dir_is_the_store_directory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.upload_dir(make_model_dir(tmp_path), "models/m1")
    got = store.fetch_dir("models/m1", tmp_path / "cache")
    assert got == tmp_path / "store" / "models" / "m1"
    assert not (tmp_path / "cache").exists()


def test_dir_without_marker_is_absent(store: ArtifactStore, tmp_path: Path) -> None:
    # What a crashed S3 upload leaves: the files, but not the marker written last.
    store.write_bytes("models/m1/meta.json", b"{}")
    assert not store.dir_exists("models/m1")
    with pytest.raises(StoreNotFound, match="not published"):
        store.fetch_dir("models/m1", tmp_path / "cache")
    # Publishing replaces the leftover rather than mixing with it.
    store.upload_dir(make_model_dir(tmp_path), "models/m1")
    assert store.read_bytes("models/m1/meta.json") == b'{"v": "v1"}'


def test_interrupted_upload_leaves_nothing_published(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_model_dir(tmp_path)
    module = local_mod if isinstance(store, LocalStore) else s3_mod
    real_scan = module.scan_dir

    def scan_then_lose_a_file(d: Path) -> dict[str, tuple[Path, int]]:
        files: dict[str, tuple[Path, int]] = real_scan(d)
        (d / "sub" / "trie.bin").unlink()  # fails the copy/upload half way through
        return files

    monkeypatch.setattr(module, "scan_dir", scan_then_lose_a_file)
    with pytest.raises(StoreError, match=r"trie\.bin|cannot publish"):
        store.upload_dir(src, "models/m1")
    assert not store.dir_exists("models/m1")
    with pytest.raises(StoreNotFound):
        store.fetch_dir("models/m1", tmp_path / "cache")
    if isinstance(store, LocalStore):
        assert store.list_keys() == []  # the temp directory was cleaned up
        assert [p.name for p in store.root.rglob("*") if p.name.startswith(".tmp")] == []

    monkeypatch.undo()
    store.upload_dir(make_model_dir(tmp_path / "again"), "models/m1")
    assert store.dir_exists("models/m1")


def test_published_dir_is_write_once(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_dir(tmp_path)
    store.upload_dir(src, "models/m1")
    with pytest.raises(StoreError, match="already published"):
        store.upload_dir(src, "models/m1")
    assert store.delete_prefix("models/m1") == 3
    assert not store.dir_exists("models/m1")
    store.upload_dir(src, "models/m1")
    assert store.dir_exists("models/m1")


def test_fetch_dir_downloads_once(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upload_dir(make_model_dir(tmp_path), "models/m1")
    downloads: list[str] = []
    if isinstance(store, S3Store):
        real = store._download

        def counting(key: str, dest: Path) -> None:
            downloads.append(key)
            real(key, dest)

        monkeypatch.setattr(store, "_download", counting)
    cache = tmp_path / "cache"
    first = store.fetch_dir("models/m1", cache)
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first.rglob("*") if p.is_file()}
    second = store.fetch_dir("models/m1", cache)
    assert second == first
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second.rglob("*") if p.is_file()} == stamps
    if isinstance(store, S3Store):
        assert len(downloads) == 3
        assert first.is_relative_to(cache)
        assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp dirs left


def test_fetch_after_republish_gets_new_content(store: ArtifactStore, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store.upload_dir(make_model_dir(tmp_path / "one", b"v1"), "models/m1")
    assert store.fetch_dir("models/m1", cache).joinpath("meta.json").read_bytes() == b'{"v": "v1"}'
    store.delete_prefix("models/m1")
    store.upload_dir(make_model_dir(tmp_path / "two", b"v2"), "models/m1")
    assert store.fetch_dir("models/m1", cache).joinpath("meta.json").read_bytes() == b'{"v": "v2"}'


def test_concurrent_fetches_share_one_cache_dir(s3_bucket: str, moto_endpoint: str, tmp_path: Path) -> None:
    store = S3Store(s3_bucket, "p", endpoint_url=moto_endpoint)
    store.upload_dir(make_model_dir(tmp_path), "models/m1")
    paths = run_threads(4, lambda _i: store.fetch_dir("models/m1", tmp_path / "cache"))
    assert len(set(paths)) == 1
    assert tree(paths[0])["meta.json"] == b'{"v": "v1"}'
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name]


def test_s3_upload_writes_marker_last(s3_bucket: str, moto_endpoint: str, tmp_path: Path) -> None:
    store = S3Store(s3_bucket, "", endpoint_url=moto_endpoint)
    order: list[str] = []
    # Hooked at botocore's event level, so it sees the PUTs that upload_file makes internally too.
    store._client.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: order.append(params["Key"])
    )
    store.upload_dir(make_model_dir(tmp_path), "m")
    assert sorted(order[:-1]) == ["m/meta.json", "m/sub/deep/empty.txt", "m/sub/trie.bin"]
    assert order[-1] == f"m/{MARKER_NAME}"


# -- compare and swap ----------------------------------------------------------------------------


def test_compare_and_swap_semantics(store: ArtifactStore) -> None:
    key = "aliases/prod.json"
    assert store.compare_and_swap(key, b"anything", b"v1") is False  # absent, but something expected
    assert not store.exists(key)
    assert store.compare_and_swap(key, None, b"v1") is True
    assert store.compare_and_swap(key, None, b"v2") is False  # must not exist
    assert store.compare_and_swap(key, b"v0", b"v2") is False  # stale expectation
    assert store.read_bytes(key) == b"v1"
    assert store.compare_and_swap(key, b"v1", b"v2") is True
    assert store.read_bytes(key) == b"v2"
    assert store.list_keys("aliases") == ["aliases/prod.json"]  # no lock files show up


def test_compare_and_swap_competing_writers(store: ArtifactStore) -> None:
    key = "aliases/prod.json"
    wins = run_threads(8, lambda i: store.compare_and_swap(key, None, f"w{i}".encode()))
    assert wins.count(True) == 1
    assert store.read_bytes(key) == f"w{wins.index(True)}".encode()

    current = store.read_bytes(key)
    wins = run_threads(8, lambda i: store.compare_and_swap(key, current, f"n{i}".encode()))
    assert wins.count(True) == 1
    assert store.read_bytes(key) == f"n{wins.index(True)}".encode()


def test_compare_and_swap_counter_loses_no_update(store: ArtifactStore) -> None:
    key = "counters/c"
    store.write_bytes(key, b"0")

    def increment(_i: int) -> None:
        for _ in range(5):
            while True:
                old = store.read_bytes(key)
                if store.compare_and_swap(key, old, str(int(old) + 1).encode()):
                    break

    run_threads(4, increment)
    assert store.read_bytes(key) == b"20"


# -- S3 errors and credentials -------------------------------------------------------------------


def test_missing_bucket_is_a_clear_error(
    moto_endpoint: str, aws_env: None, fake_credentials: tuple[str, str]
) -> None:
    with pytest.raises(StoreError) as info:
        S3Store("no-such-bucket-kwrec", "x", endpoint_url=moto_endpoint)
    msg = str(info.value)
    assert f"bucket no-such-bucket-kwrec does not exist or is not accessible at {moto_endpoint}" in msg
    assert all(secret not in msg for secret in fake_credentials)
    assert info.value.__cause__ is None or "Traceback" not in msg


def test_unreachable_endpoint_is_a_clear_error(aws_env: None, unused_port: int) -> None:
    endpoint = f"http://127.0.0.1:{unused_port}"
    with pytest.raises(StoreError, match="cannot reach the S3 endpoint") as info:
        S3Store("bucket-x", endpoint_url=endpoint, max_attempts=1)
    assert endpoint in str(info.value)


def test_missing_credentials_is_a_clear_error(
    moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="no AWS credentials found to open the store"):
        S3Store("bucket-x", endpoint_url=moto_endpoint, max_attempts=1)


def test_no_credentials_in_repr_or_errors(
    s3_bucket: str, moto_endpoint: str, fake_credentials: tuple[str, str]
) -> None:
    store = S3Store(s3_bucket, "p", endpoint_url=moto_endpoint)
    with pytest.raises(StoreNotFound) as info:
        store.read_bytes("k")
    for text in (repr(store), str(info.value), store.url):
        assert all(secret not in text for secret in fake_credentials)
    assert f"s3://{s3_bucket}/p" in str(info.value)


def test_display_endpoint_hides_userinfo() -> None:
    shown = _display_endpoint("https://user:secret@s3.example.com:9000/base?token=abc", "us-east-1")
    assert shown == "https://s3.example.com:9000/base"
    assert _display_endpoint(None, "eu-west-1") == "AWS S3 (eu-west-1)"


def test_invalid_bucket_name() -> None:
    with pytest.raises(StoreError, match="invalid S3 bucket name"):
        S3Store("Bad_Bucket")


# -- open_store ----------------------------------------------------------------------------------


def test_open_store_local(tmp_path: Path) -> None:
    plain = open_store(str(tmp_path / "a" / "store"))
    # Opening creates nothing; the first write creates the directory.
    assert isinstance(plain, LocalStore) and not (tmp_path / "a").exists()
    assert plain.list_keys() == [] and plain.list_dirs() == []
    with pytest.raises(StoreNotFound, match="does not exist"):
        open_store(str(tmp_path / "a" / "store"), must_exist=True)
    plain.write_bytes("k", b"v")
    assert (tmp_path / "a" / "store" / "k").read_bytes() == b"v"
    assert open_store(str(tmp_path / "a" / "store"), must_exist=True).read_bytes("k") == b"v"
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        open_store(str(tmp_path / "f"))
    url = open_store((tmp_path / "b").as_uri())
    assert isinstance(url, LocalStore) and url.root == tmp_path / "b"
    with pytest.raises(StoreError, match="unsupported store URL scheme"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="cannot name a host"):
        open_store("file://otherhost/x")


def test_open_store_s3(s3_bucket: str, moto_endpoint: str) -> None:
    store = open_store(f"s3://{s3_bucket}/team/kw/", S3Settings(endpoint_url=moto_endpoint))
    assert isinstance(store, S3Store)
    assert store.url == f"s3://{s3_bucket}/team/kw"
    store.write_bytes("k", b"v")
    root = open_store(f"s3://{s3_bucket}", S3Settings(endpoint_url=moto_endpoint))
    assert root.list_keys() == ["team/kw/k"]
