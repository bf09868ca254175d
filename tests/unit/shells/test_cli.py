"""The `kwrec` command as a user runs it: JSON for machines, one clear line for mistakes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwrec.adapters.stores import open_store
from kwrec.cli.main import app
from kwrec.pipeline.lock import RunLock, default_owner
from kwrec.pipeline.train import TrainOutcome
from kwrec.settings import Settings

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_suggest_json_matches_the_api_contract(sample_store: tuple[Settings, TrainOutcome]) -> None:
    settings, outcome = sample_store
    code, out, _ = run("suggest", "shop-kr", "아이ㅍ", "--store", settings.store, "--json", "--limit", "3")
    assert code == 0
    body = json.loads(out)
    assert body["customer"] == "shop-kr" and body["model_version"] == outcome.manifest.version
    assert body["query"] == "아이ㅍ" and body["suggestions"][0]["keyword"] == "아이폰"
    assert len(body["suggestions"]) == 3
    code, out, _ = run("suggest", "shop-kr", "--kind", "popular", "--store", settings.store, "--json")
    assert code == 0 and "query" not in json.loads(out)


def test_suggest_batch(sample_store: tuple[Settings, TrainOutcome], tmp_path: Path) -> None:
    settings, _ = sample_store
    batch = tmp_path / "queries.txt"
    batch.write_text(
        "아이ㅍ\nharry\n\n샴성\n"
        + "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        + "\n"
    )
    code, out, _ = run("suggest", "shop-kr", "--batch", str(batch), "--store", settings.store)
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["query"] for a in answers][:4] == ["아이ㅍ", "harry", "", "샴성"]
    assert answers[0]["suggestions"][0]["keyword"] == "아이폰"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("suggest", "../x", "a"), "invalid customer id"),
        (("suggest", "nobody", "a"), "not in release"),
        (("suggest", "shop-kr", "a", "--version", "gs_2001010000"), "not found"),
        (("suggest", "shop-kr", "a", "--version", "../../etc"), "invalid release version"),
        (("suggest", "shop-kr", "a", "--kind", "weird"), "unknown --kind"),
        (("suggest", "shop-kr", "--kind", "related"), "needs a QUERY"),
    ],
)
def test_user_mistakes_get_one_clear_line(
    sample_store: tuple[Settings, TrainOutcome], args: tuple[str, ...], needle: str
) -> None:
    settings, _ = sample_store
    code, out, err = run(*args, "--store", settings.store)
    assert code != 0
    assert needle in err and "Traceback" not in err + out


def test_serve_refuses_a_version_the_store_does_not_have(
    sample_store: tuple[Settings, TrainOutcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Said at once: a server for a missing release would run and never become ready."""
    settings, outcome = sample_store
    started: list[str | None] = []
    monkeypatch.setattr("kwrec.api.server.serve", lambda s, **_: started.append(s.serve.model_version))
    code, out, err = run("serve", "--store", settings.store, "--version", "gs_2001010000")
    assert code != 0 and not started
    assert "release gs_2001010000 not found" in err and "Traceback" not in err + out
    code, _, err = run("serve", "--store", settings.store, "--version", outcome.manifest.version)
    assert code == 0, err
    assert started == [outcome.manifest.version]


def test_train_json_and_bad_timestamp(tmp_path: Path) -> None:
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    (data / "q.txt").write_text("apple\napple pie\napple\n")
    code, out, _ = run(
        "train",
        "--data",
        str(tmp_path / "data"),
        "--store",
        str(tmp_path / "s"),
        "--timestamp",
        "2611270100",
        "--json",
        "--no-evaluate",
    )
    assert code == 0 and json.loads(out)["trained"] == ["tiny"]
    code, _, err = run(
        "train", "--data", str(tmp_path / "data"), "--store", str(tmp_path / "s"), "--timestamp", "2613990100"
    )
    assert code == 2 and "not a real date" in err
    code, _, err = run("train", "--data", str(tmp_path / "nowhere"), "--store", str(tmp_path / "s"))
    assert code != 0 and "does not exist" in err


def test_evaluate_json(tmp_path: Path) -> None:
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    (data / "q.txt").write_text(
        "\n".join(["apple pie", "apple juice", "banana", "apple pie", "apricot"] * 20)
    )
    code, out, _ = run("evaluate", "--data", str(tmp_path / "data"), "--json")
    assert code == 0
    report = json.loads(out)[0]
    assert report["customer"] == "tiny"
    assert {"kwrec/all", "mpc/all", "kwrec/seen", "kwrec/unseen"} <= set(report["autocomplete"])
    # No user ids: every search is its own person, the floor cannot act, no floored baseline.
    assert report["min_users"] == 1 and "mpc-floor/all" not in report["autocomplete"]


def test_evaluate_shows_mpc_held_to_the_privacy_floor(tmp_path: Path) -> None:
    data = tmp_path / "data" / "shop"
    data.mkdir(parents=True)
    rows = [f"2026-01-01T0{h}:00:00Z,solo,nintendo switch" for h in range(8)]
    rows += [f"2026-01-01T02:00:00Z,d{i},nintendo ds" for i in range(4)]
    rows += [f"2026-01-01T03:00:00Z,z{i},zelda" for i in range(8)]
    rows += ["2026-01-05T00:00:00Z,solo,nintendo switch", "2026-01-05T01:00:00Z,solo,nintendo switch"]
    rows += ["2026-01-05T02:00:00Z,d0,nintendo ds"]
    (data / "q.csv").write_text("timestamp,user_id,query\n" + "\n".join(rows) + "\n")
    code, out, err = run(
        "evaluate", "--data", str(tmp_path / "data"), "--test-fraction", "0.13", "--all-prefixes"
    )
    assert code == 0, err
    assert "shop: kwrec / MPC mrr@10 (strict): all" in out and "BELOW" in out
    assert "shop: kwrec / MPC held to the same privacy floor (queries 2+ people typed) (strict)" in out


def test_evaluate_says_when_there_is_nothing_to_compare(tmp_path: Path) -> None:
    # One search cannot be split into a training and a test part: no verdict either way.
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    (data / "q.csv").write_text("timestamp,user_id,query\n2026-01-01T00:00:00Z,u1,apple pie\n")
    code, out, _ = run("evaluate", "--data", str(tmp_path / "data"))
    assert code == 0
    assert "seen n/a (no test query: too few events to hold out a test part)" in out, out
    assert "at or above" not in out and "BELOW" not in out


def test_train_warns_of_a_customer_with_nothing_to_suggest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "few").mkdir(parents=True)
    (data / "few" / "q.csv").write_text(
        "timestamp,user_id,query\n2026-01-01T00:00:00Z,u1,apple pie\n2026-01-02T00:00:00Z,u2,banana\n"
    )
    (data / "empty-shelf").mkdir()
    rows = [f"2026-01-0{1 + i % 3}T00:00:00Z,u{i},sold out thing,0" for i in range(9)]
    (data / "empty-shelf" / "q.csv").write_text("timestamp,user_id,query,result_count\n" + "\n".join(rows))
    code, out, err = run("train", "--data", str(data), "--store", str(tmp_path / "store"))
    assert code == 0, err
    said = out + err
    assert "few: nothing to suggest: 2 queries typed by fewer than [train] min_users = 2 people" in said
    assert "empty-shelf: nothing to suggest: 1 query whose searches mostly found nothing" in said
    code, out, _ = run("suggest", "few", "app", "--store", str(tmp_path / "store"))
    assert code == 0 and "autocomplete few 'app'" in out and ": none" in out, out


def test_console_script_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kwrec.cli.main", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "train" in done.stdout


@pytest.mark.parametrize(
    ("missing", "command", "extra"), [("polars", "train", "train"), ("docker", "build", "release")]
)
def test_a_serving_only_install_names_the_extra_a_command_needs(
    tmp_path: Path, missing: str, command: str, extra: str
) -> None:
    """The base install is the serving stack; a chain command without its extra says what to install."""
    code = f"import sys; sys.modules[{missing!r}] = None; from kwrec.cli.main import app; app()"
    args = [sys.executable, "-c", code, command, "--store", str(tmp_path / "store")]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    said = " ".join(out.stderr.split())
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"needs {missing}" in said and f"pip install 'kwrec[{extra}]'" in said, said


def one_line(err: str) -> str:
    """The error line of a failed command (rich wraps nothing: soft_wrap), checked to be the only one."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_kwrec_version() -> None:
    from kwrec import ARTIFACT_FORMAT, TRAINING_REVISION, __version__

    code, out, _ = run("--version")
    assert code == 0 and out.split()[:2] == ["kwrec", __version__]
    # what decides reuse besides the data: an operator compares these before and after an upgrade
    assert f"artifact format {ARTIFACT_FORMAT}, training revision {TRAINING_REVISION}" in out


def test_a_too_long_query_is_refused_like_the_api(sample_store: tuple[Settings, TrainOutcome]) -> None:
    from kwrec.core.answers import MAX_QUERY_CHARS

    settings, _ = sample_store
    code, out, err = run("suggest", "shop-kr", "a" * (MAX_QUERY_CHARS + 1), "--store", settings.store)
    assert code == 2 and out == ""
    assert f"longer than {MAX_QUERY_CHARS} characters" in one_line(err)
    code, _, _ = run("suggest", "shop-kr", "a" * MAX_QUERY_CHARS, "--store", settings.store, "--json")
    assert code == 0
    batch = Path(settings.store).parent / "long-batch.txt"
    batch.write_text("아이ㅍ\n" + "a" * (MAX_QUERY_CHARS + 1) + "\n")
    code, out, _ = run("suggest", "shop-kr", "--batch", str(batch), "--store", settings.store)
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 0 and first["suggestions"] and second["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ('store = "x"\n[train\nmin_users = 2\n', ["kwrec.toml:2:7: invalid TOML"]),
        ("[train]\nmin_user = 2\n", ["[train] min_user: unknown key", "did you mean min_users?"]),
        ("[colums]\nq = 1\n", ["[colums]: unknown section", "valid keys: data_dir"]),
        ("[serv]\nport = 1\n", ["[serv]: unknown section (did you mean [serve]?)"]),
        ('[train]\nmin_users = "many"\n', ["[train] min_users: ", "got 'many'"]),
        ('[image.registry]\npassword = 7\nurl = "a b"\n', ["[image.registry] password", "(hidden)"]),
        ('model_name = "Bad Name"\n', ["kwrec.toml: model_name: use 1-16 lowercase", "got 'Bad Name'"]),
        # A union type: one phrase for the key, not one per member with pydantic's internal names.
        (
            "data_dir = 5\n",
            [
                "kwrec.toml: data_dir: Input is not a valid path",
                " or Input should be a valid string, got 5 (",
            ],
        ),
    ],
)
def test_main_config_mistakes_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, needles: list[str]
) -> None:
    (tmp_path / "kwrec.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    code, _, err = run("releases")
    line = one_line(err)
    assert code == 2
    for needle in needles:
        assert needle in line, line
    assert "TrainParams" not in line and "Extra inputs" not in line and "lax-or-strict" not in line
    assert list(tmp_path.iterdir()) == [tmp_path / "kwrec.toml"]  # nothing created


def test_read_only_commands_create_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (("suggest", "shop", "a"), ("releases",), ("rules",), ("verify",), ("rollback", "--json")):
        code, _, err = run(*args)
        assert code != 0 and "store" in one_line(err) and "does not exist" in one_line(err), (args, err)
    assert list(tmp_path.iterdir()) == []


def test_train_mistakes_name_the_fix_and_create_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    (data / "shop" / "q.csv").write_text("ts,keyword\n2026-01-01T00:00:00,apple\n")
    code, _, err = run("train", "--data", str(data / "shop" / "q.csv"), "--store", str(store))
    assert code == 1 and "is a file, not a directory" in one_line(err)
    cache = tmp_path / "cache"
    env = {"KWREC_CACHE_DIR": str(cache)}
    code, _, err = run("train", "--data", str(data), "--store", str(store), "--no-evaluate", env=env)
    assert code == 1 and not store.exists()
    said = " ".join(err.split())
    assert "no column 'query' (query) among ['ts', 'keyword']" in said
    assert "[columns] table of" in said and "kwrec.toml" in said
    kept = next(cache.rglob("shop.jsonl"))
    assert f"1 row quarantined (1 missing columns), kept in {kept}" in said
    assert "missing columns" in kept.read_text() and said.count("among ['ts', 'keyword']") == 1
    # A typo in the customer's own config: once, with the section as the user wrote it.
    (data / "shop" / "kwrec.toml").write_text("[columns]\nquery = 'keyword'\n[train]\nmin_user = 2\n")
    code, _, err = run("train", "--data", str(data), "--store", str(store), "--no-evaluate")
    assert code == 1 and not store.exists()
    assert err.count("min_user: unknown key (did you mean min_users?)") == 1, err
    assert "[train] min_user" in err


def test_json_logs_for_a_command(tmp_path: Path) -> None:
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    (data / "q.txt").write_text("apple\napple pie\n")
    args = ("train", "--data", str(tmp_path / "data"), "--store", str(tmp_path / "s"), "--no-evaluate")
    code, _, err = run(*args, env={"KWREC_LOG__FORMAT": "json"})
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["message"] == "tiny: reading logs" for line in lines), err
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    code, _, err = run(*args, "--timestamp", "2613990100", env={"KWREC_LOG__FORMAT": "json"})
    last = json.loads(err.splitlines()[-1])  # the mistake is a JSON line too, with its exit code
    assert code == 2 and last["level"] == "error" and "not a real date" in last["message"]
    assert last["exit_code"] == 2 and last["error"] == "InvalidIdentifierError"
    code, _, err = run(*args, env={"KWREC_LOG__FORMAT": "xml"})
    assert code == 2 and "KWREC_LOG__FORMAT: " in one_line(err) and "got 'xml'" in one_line(err)


def test_verify_and_rollback_print_their_verdict_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict is the command's output (stdout, or JSON with --json); progress stays on stderr."""
    import kwrec.pipeline.deploy as deploy
    from kwrec.adapters.probe import Check, VerifyReport

    store = tmp_path / "store"
    store.mkdir()
    live = VerifyReport("http://127.0.0.1:8000", "gs_2612070100", 200.0, [Check("version", True, ms=3.0)])

    def fake_verify(*_a: object, **_k: object) -> VerifyReport:
        return live

    def fake_rollback(_s: object, _st: object, report: object, **kw: object) -> deploy.DeployOutcome:
        assert callable(report) and kw["to"] == "gs_2612070100"
        report("switching back")
        return deploy.DeployOutcome("docker", "gs_2612070100", "gs_2612080100", live.base_url, [live])

    monkeypatch.setattr(deploy, "verify_live", fake_verify)
    monkeypatch.setattr(deploy, "rollback", fake_rollback)
    code, out, err = run("verify", "--store", str(store))
    assert code == 0 and "serves gs_2612070100: 1 checks passed" in out and "checks passed" not in err
    code, out, err = run("rollback", "--to", "gs_2612070100", "--store", str(store), "--json")
    assert code == 0 and "switching back" in err
    body = json.loads(out)
    assert body["version"] == "gs_2612070100" and body["previous"] == "gs_2612080100"
    assert body["verification"][0]["version"] == "gs_2612070100"
    code, out, _ = run("rollback", "--to", "gs_2612070100", "--store", str(store))
    assert code == 0 and out.strip() == "gs_2612070100 is live on docker at http://127.0.0.1:8000"


def test_a_failed_customers_rejected_rows_are_kept_in_the_store(tmp_path: Path) -> None:
    # On a worker the local quarantine is out of reach: the release in the store keeps it, and the
    # error names where. (A store that is not there yet stays uncreated: see the test above.)
    data = tmp_path / "data"
    (data / "good").mkdir(parents=True)
    (data / "good" / "q.txt").write_text("apple pie\nbanana\n" * 5)
    code, _, err = run("train", "--data", str(data), "--store", str(tmp_path / "store"))
    assert code == 0, err
    (data / "broken").mkdir()
    (data / "broken" / "q.csv").write_text(
        "timestamp,user_id,query\nnot a time,u1,apple\nyesterday,u2,pear\n"
    )
    store = tmp_path / "store"
    code, out, err = run("train", "--data", str(data), "--store", str(store), "--json")
    assert code == 0, err
    version = json.loads(out)["version"]
    kept = store / "releases" / version / "quarantine" / "broken.jsonl"
    assert kept.exists(), sorted(p.name for p in store.rglob("*.jsonl"))
    rows = [json.loads(line) for line in kept.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and all(r["reason"] for r in rows)
    assert f"rejected rows: file://{store}/releases/{version}/quarantine/broken.jsonl" in err


def test_gc_deletes_the_folders_of_runs_that_never_published_as_they_age_out(tmp_path: Path) -> None:
    # A run in which every customer failed leaves its rejected rows under releases/<version>/ with no
    # manifest: gc must not keep them for ever, nor delete the newest (an operator may still read it).
    data, store = tmp_path / "data", tmp_path / "store"
    (data / "good").mkdir(parents=True)
    (data / "good" / "q.txt").write_text("apple pie\nbanana\n" * 5)
    args = ("--data", str(data), "--store", str(store))
    assert run("train", *args, "--timestamp", "2612010100")[0] == 0
    broken = data / "good" / "q.txt"
    broken.unlink()
    (data / "good" / "q.csv").write_text("timestamp,user_id,query\nnot a time,u1,apple\n")
    for ts in ("2612020100", "2612040100"):  # every customer fails: no release, a folder each
        code, _, err = run("train", *args, "--timestamp", ts)
        assert code != 0 and (store / "releases" / f"gs_{ts}" / "quarantine" / "good.jsonl").exists(), err
    (data / "good" / "q.csv").unlink()
    broken.write_text("apple pie\nbanana\ncherry\n" * 5)
    assert run("train", *args, "--timestamp", "2612030100")[0] == 0

    code, out, err = run("gc", "--keep", "1", "--dry-run", "--store", str(store), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["kept"], plan["deleted"], plan["unfinished"]) == (
        ["gs_2612030100"],
        ["gs_2612010100"],
        ["gs_2612020100"],
    )
    assert (store / "releases" / "gs_2612020100").exists()
    code, out, err = run("gc", "--keep", "1", "--store", str(store))
    assert code == 0 and "1 folders of unfinished runs" in err, err
    left = sorted(p.name for p in (store / "releases").iterdir())
    assert left == ["gs_2612030100", "gs_2612040100"]

    # A chain that holds the lock for an older timestamp (a resumed `run --timestamp`) keeps its folder.
    resumed = store / "releases" / "gs_2612020200" / "quarantine"
    resumed.mkdir(parents=True)
    (resumed / "good.jsonl").write_text("{}\n")
    lock = RunLock(open_store(str(store)), default_owner(), "gs_2612020200", 60).acquire()
    code, out, err = run("gc", "--keep", "1", "--dry-run", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["unfinished"] == [], err
    lock.release()
    code, out, err = run("gc", "--keep", "1", "--dry-run", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["unfinished"] == ["gs_2612020200"], err


def test_a_rule_that_may_reach_no_replica_says_so(
    sample_store: tuple[Settings, TrainOutcome], tmp_path: Path
) -> None:
    # A mistyped customer id, or a store no release was ever made in (a forgotten --store), would make
    # `block` report success while every replica goes on showing the keyword.
    store = tmp_path / "store"
    shutil.copytree(sample_store[0].store, store)
    code, out, err = run("block", "shop-kr", "아이폰", "--reason", "other", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["version"] == 1 and "warning" not in err, err
    code, out, err = run("block", "shop-kt", "아이폰", "--reason", "other", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["version"] == 2, err
    assert "warning: customer shop-kt is in neither the newest release" in err
    assert "books-en, news-kr, shop-kr" in err
    code, _, err = run("pin", "shop-kt", "아", "아이폰", "--store", str(store))
    assert code == 0 and "warning: customer shop-kt" in err, err
    empty = tmp_path / "elsewhere"
    code, _, err = run("block", "shop-kr", "아이폰", "--reason", "other", "--store", str(empty))
    assert code == 0 and f"file://{empty} holds no release" in err, err


def test_a_block_says_what_it_replaces_and_refuses_a_bad_author(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, _, err = run("block", "shop-kr", "아이폰16", "--reason", "other", "--store", store)
    assert code == 0 and "rules version 1: block '아이폰16'" in err and "replaces" not in err, err
    # The same keyword in another spelling is the same rule: say that the older one is gone.
    code, _, err = run("block", "shop-kr", "아이폰 16", "--reason", "court-order", "--store", store)
    assert code == 0 and "(replaces block '아이폰16' (exact, other))" in err, err
    code, out, err = run("block", "shop-kr", "x", "--reason", "other", "--by", "b" * 300, "--store", store)
    assert code != 0 and "--by is 300 characters long (at most 200)" in err + out, err
    assert "Traceback" not in err + out


def test_kwrecs_own_folders_inside_the_data_dir_are_no_customers(tmp_path: Path) -> None:
    # `kwrec train --data .` from a folder that also holds ./var (the cache) and the store: read as a
    # customer, the cache would feed kwrec's own quarantine files back in as search logs.
    data = tmp_path
    (data / "shop").mkdir()
    (data / "shop" / "q.txt").write_text("apple pie\nbanana\n" * 5)
    (data / "shop" / "bad.csv").write_text("timestamp,user_id,query\nnope,u1,x\n")
    env = {"KWREC_CACHE_DIR": str(data / "var" / "cache")}
    for _ in range(2):  # the second run finds the first's cache and store inside the data dir
        code, out, err = run("train", "--data", str(data), "--store", str(data / "store"), "--json", env=env)
        assert code == 0, err
        body = json.loads(out)
        assert (sorted(body["customers"]), list(body["failed"])) == (["shop"], []), body
        assert "skipped" not in err, err
