"""The `kwrec` command as a user runs it: JSON for machines, one clear line for mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwrec.cli.main import app
from kwrec.pipeline.train import TrainOutcome
from kwrec.settings import Settings

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
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
