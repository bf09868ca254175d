"""docs/settings.md, generated from the settings models: ``python -m kwrec.cli.reference > docs/settings.md``.

Every key of kwrec.toml (and its ``KWREC_SECTION__KEY`` variable) and every key of a customer's own
kwrec.toml, with type, default and the field's description. ``make settings-doc`` runs it; a unit test
fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from kwrec.core.ingest.customer_config import BAN_NAME, CONFIG_NAME, ColumnMap, CustomerConfig
from kwrec.settings import Settings, TrainParams
from kwrec.settings.problems import submodel

COMMAND = "python -m kwrec.cli.reference > docs/settings.md"

_HEAD = f"""# Settings reference

Generated from the settings models by `{COMMAND}` (or `make settings-doc`); do not edit by hand.

Main settings come from, lowest first: the defaults below < `kwrec.toml` (`--config`, `$KWREC_CONFIG` or
`./kwrec.toml`) < `KWREC_*` environment variables (sections nested with `__`) < command-line options.
A key that is not listed here is an error that names the closest valid key.
"""

_CUSTOMER = f"""## A customer's `{CONFIG_NAME}`

`DATA_DIR/<customer>/{CONFIG_NAME}` (optional) says how to read that customer's logs; `{BAN_NAME}` next to it
(one term per line, `#` for comments, in the logs' encodings: UTF-8, UTF-16 or CP949) is added to `ban`.
Its `[train]` table overrides any key of the main `[train]` section above for this customer only. These
keys are read from the file only (no environment variables).
"""


def type_name(annotation: Any) -> str:
    """How the type reads in the file: ``int``, ``text | json``, ``list of str``, ``str or none``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "none"
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(str(m.value) for m in annotation)
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        # Factories that read the machine (uid, a file) would make the document differ per host.
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        return f"`{value!r}`" if value in ([], {}) else "(computed at start-up)"
    value = field.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, Path):
        return f'`"{value}"`'
    if isinstance(value, BaseModel):
        return ""
    return f"`{value!r}`"


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def bounds(field: FieldInfo) -> str:
    """``, ≥ 1, ≤ 200`` from the field's constraints (what a wrong value is checked against)."""
    out = []
    for meta in field.metadata:
        for attr, sign in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            out.append(f"matching `{pattern}`")
    return "".join(f", {b}" for b in out)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rows(model: type[BaseModel], env: Sequence[str] | None) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        if submodel(field.annotation) is not None:
            continue  # a section of its own
        cells = [f"`{name}`", _cell(type_name(field.annotation) + bounds(field)), default_text(field)]
        if env is not None:
            cells.append(f"`KWREC_{'__'.join([*env, name]).upper()}`")
        cells.append(_cell(field.description or ""))
        yield tuple(cells)


def table(model: type[BaseModel], env: Sequence[str] | None) -> list[str]:
    head = ["key", "type", "default", *(["environment"] if env is not None else []), "description"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows(model, env)]


def sections(
    model: type[BaseModel], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    """The model's own keys, then each sub-section depth first: ``()``, ``("image", "registry")``."""
    yield path, model
    for name, field in model.model_fields.items():
        sub = submodel(field.annotation)
        if sub is not None:
            yield from sections(sub, (*path, name))


def _doc(model: type[BaseModel]) -> str:
    text = (model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def render() -> str:
    out = [_HEAD]
    for path, model in sections(Settings):
        title = f"`[{'.'.join(path)}]`" if path else "Top level"
        out += [f"## {title}", ""]
        if path and _doc(model):
            out += [_doc(model), ""]
        out += [*table(model, path), ""]
    out += [_CUSTOMER, "### Top level", ""]
    out += [*table(CustomerConfig, None), ""]
    out += ["### `[columns]`", "", _doc(ColumnMap), "", *table(ColumnMap, None), ""]
    out += ["### `[train]`", "", "Any key of the main `[train]` section (defaults from there):", ""]
    out += [*table(TrainParams, None), ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
