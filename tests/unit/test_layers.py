"""The layering of the package, checked on every import statement (module level and inside functions).

foundation (kwrec.errors, .ids, .reporting, .settings) <- core <- adapters <- pipeline <- shells (cli, api).
A layer imports only the layers to its left; the core imports no outside system at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kwrec

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS = ("foundation", "core", "adapters", "pipeline", "shell")
ALLOWED = {layer: set(LAYERS[: i + 1]) for i, layer in enumerate(LAYERS)}
# Outside systems: only adapters and shells may talk to them.
OUTSIDE = {"docker", "boto3", "botocore", "httpx", "requests", "airflow", "fastapi", "starlette", "uvicorn"}
FORBIDDEN_OUTSIDE = {
    "foundation": OUTSIDE,
    "core": OUTSIDE,
    "adapters": {"airflow", "fastapi", "starlette", "uvicorn"},
    "pipeline": OUTSIDE,  # the pipeline talks to outside systems only through the adapters
    "shell": set(),
}


def layer_of(module: str) -> str | None:
    """The layer of a kwrec module (None: the package root itself)."""
    parts = module.split(".")
    if parts[0] != "kwrec" or len(parts) == 1:
        return None
    top = parts[1]
    if top in ("errors", "ids", "reporting", "settings"):
        return "foundation"
    if top in ("core", "adapters", "pipeline"):
        return top
    if top in ("cli", "api"):
        return "shell"
    raise AssertionError(
        f"module {module} is in no layer: put it under core/, adapters/, pipeline/, cli/ or api/"
    )


def imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import, skipping ``if TYPE_CHECKING:`` blocks (no run-time dependency).

    ``from kwrec import NAME`` imports the module that defines NAME (the root's lazy exports).
    """
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name == "kwrec":
                out.extend((node.lineno, kwrec._EXPORTS.get(a.name, "kwrec")) for a in node.names)
            else:
                out.append((node.lineno, name))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def violations(module: str, source: str) -> list[str]:
    layer = layer_of(module)
    if layer is None:
        return []
    problems = []
    for line, name in imported_modules(ast.parse(source), module):
        root = name.split(".")[0]
        if root in FORBIDDEN_OUTSIDE[layer]:
            problems.append(f"{module}:{line} ({layer}) imports {name}")
        target = layer_of(name) if root == "kwrec" else None
        if target is not None and target not in ALLOWED[layer]:
            problems.append(f"{module}:{line} ({layer}) imports {name} ({target})")
    return problems


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((SRC / "kwrec").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return out


def test_every_module_respects_the_layers() -> None:
    found = [p for name, path in modules() for p in violations(name, path.read_text())]
    assert found == [], "\n".join(found)


def test_every_module_is_in_a_layer() -> None:
    for name, _ in modules():
        layer_of(name)  # raises for a module outside every layer


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("kwrec.core.gate", "import docker\n", "imports docker"),
        ("kwrec.core.gate", "def f():\n    from kwrec.adapters import engine\n", "imports kwrec.adapters"),
        ("kwrec.core.gate", "from kwrec import run_chain\n", "imports kwrec.pipeline.runner"),
        ("kwrec.adapters.engine", "from kwrec.pipeline.steps import STEPS\n", "(pipeline)"),
        ("kwrec.pipeline.steps", "from kwrec.cli.output import report\n", "(shell)"),
        ("kwrec.adapters.probe", "from ..pipeline import records\n", "imports kwrec.pipeline (pipeline)"),
        ("kwrec.settings.run", "import httpx\n", "imports httpx"),
    ],
)
def test_the_check_catches_each_kind_of_crossing(module: str, source: str, expected: str) -> None:
    found = violations(module, source)
    assert found and expected in found[0], found


def test_type_checking_imports_are_not_dependencies() -> None:
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kwrec.pipeline.steps import STEPS\n"
    )
    assert violations("kwrec.core.gate", source) == []
