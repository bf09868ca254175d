"""schemathesis against the API's own OpenAPI schema, over real HTTP: every check, no server error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_server import Server, run_server, trained_store

ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(trained_store()) as srv:
        yield srv


@pytest.mark.slow
def test_schemathesis_all_checks(server: Server, tmp_path: Path) -> None:
    st = str(ST) if ST.exists() else shutil.which("st")
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    cmd = [
        st, "run", f"{server.url}/openapi.json",
        "--checks", "all",  # not_a_server_error, response_schema_conformance, negative_data_rejection, ...
        "--max-examples", "60",  # per operation; keeps the run to well under a minute
        "--seed", "20260501",
        "--generation-database", "none",
        "--request-timeout", "10",
        "--no-color",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-6000:]
