"""The error catalogue and the public API: what a newcomer and a library user rely on."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kwrec
from kwrec import errors

SRC = Path(__file__).resolve().parents[2] / "src"


def test_every_kwrec_error_is_defined_in_kwrec_errors() -> None:
    """One place to find them: no module outside kwrec/errors.py defines an error class of its own."""
    elsewhere = []
    for path in sorted((SRC / "kwrec").rglob("*.py")):
        if path == SRC / "kwrec" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b).endswith(("Error", "KwrecError", "StoreNotFound")) for b in node.bases
            ):
                elsewhere.append(f"{path.relative_to(SRC)}: {node.name}")
    assert elsewhere == []


def test_the_catalogue_table_says_what_each_class_does() -> None:
    """The table in the module docstring lists every class with its real retryability and exit code."""
    defined = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.KwrecError) and obj.__module__ == errors.__name__
    ]
    assert set(defined) == set(errors.ALL_ERRORS)
    doc = errors.__doc__ or ""
    for cls in defined:
        row = re.search(rf"\b{cls.__name__}\s+(yes|no|\(cause\))\s+(\d|\(cause\))", doc)
        assert row, f"{cls.__name__} is missing from the table in kwrec/errors.py"
        if row[1] != "(cause)":
            assert cls.retryable == (row[1] == "yes"), cls.__name__
            assert cls.exit_code == int(row[2]), cls.__name__


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (errors.ConfigError("bad"), False),
        (errors.DataError("empty"), False),
        (errors.VerificationError("wrong answer"), False),
        (errors.TagConflictError("taken"), False),
        (errors.RegistryAuthError("refused"), False),
        (errors.RegistryUnavailableError("down"), True),
        (errors.StoreError("timeout"), True),
        (errors.StoreNotFound("gone"), False),
        (errors.DeployInProgressError("busy"), True),
        (errors.DeployError("failed", retryable=False), False),  # as retryable as its cause
        (RuntimeError("crash"), True),
    ],
)
def test_is_retryable(exc: BaseException, retry: bool) -> None:
    assert errors.is_retryable(exc) is retry


def test_a_chain_step_error_is_as_retryable_as_its_cause() -> None:
    permanent = errors.ChainStepError("build", errors.BuildError("RUN failed"), hint="h")
    passing = errors.ChainStepError("push", errors.RegistryUnavailableError("registry down"))
    crash = errors.ChainStepError("deploy", "KeyError: 'x'")
    assert (permanent.retryable, passing.retryable, crash.retryable) == (False, True, True)
    assert str(permanent) == "step build failed: RUN failed (h)" and permanent.step == "build"
    tagged = errors.ChainStepError("push", errors.TagConflictError("tag taken"))
    assert tagged.exit_code == errors.TagConflictError.exit_code


def test_every_public_name_resolves() -> None:
    for name in kwrec.__all__:
        assert getattr(kwrec, name) is not None, name
    assert set(kwrec.__all__) == {"ARTIFACT_FORMAT", "__version__", *kwrec._EXPORTS}
    with pytest.raises(AttributeError):
        _ = kwrec.no_such_name  # type: ignore[attr-defined]


def test_the_public_api_names_what_the_dag_imports() -> None:
    dag = Path(__file__).resolve().parents[2] / "dags" / "kwrec_daily.py"
    imported = {
        alias.name
        for node in ast.walk(ast.parse(dag.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "kwrec"
        for alias in node.names
    }
    assert imported and imported <= set(kwrec.__all__)


def test_import_kwrec_loads_no_heavy_dependency() -> None:
    """The exports load lazily: importing the package (every process does) costs no pipeline stack."""
    code = (
        "import sys, kwrec; heavy = {'polars', 'boto3', 'docker', 'httpx', 'fastapi'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
