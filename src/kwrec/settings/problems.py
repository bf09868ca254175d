"""A settings file's mistakes in the words of the file: ``[train] min_user``, never a class name.

Both kwrec.toml files (the main one and a customer's) report through here, so a typo reads the same in
either: the file, the section as written, the key, what is wrong, and a did-you-mean over that section's
valid keys.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from kwrec.errors import ConfigError

_AT_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
# Inputs of these keys are never echoed back: a wrong password must not land in a terminal log.
_SECRET_WORDS = ("password", "secret", "token", "key_id", "access_key")
_MAX_SHOWN = 60


def parse_toml(data: bytes, path: str | Path) -> dict[str, Any]:
    """The TOML document, or a one-line ConfigError ``PATH:LINE:COL: invalid TOML: ...``."""
    try:
        return tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})", hint="save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        where = _AT_RE.search(text)
        at = f":{where[1]}:{where[2]}" if where else ""
        raise ConfigError(
            f"{path}{at}: invalid TOML: {_AT_RE.sub('', text)}",
            hint="fix that line (strings need quotes, tables look like [train])",
        ) from None


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds, through ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = submodel(arg)
            if found is not None:
                return found
    return None


def section_model(root: type[BaseModel], section: Sequence[str]) -> type[BaseModel] | None:
    """The model of ``[a.b]`` under ``root`` (None when that is no section)."""
    model: type[BaseModel] | None = root
    for name in section:
        field = model.model_fields.get(name) if model is not None else None
        model = submodel(field.annotation) if field is not None else None
    return model


def key_path(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys of ``loc`` as the file has them: pydantic appends union members and list indices
    (``data_dir.str``, ``ban.3``) that name nothing a user wrote, so the walk stops at the first leaf."""
    keys: list[str] = []
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            break
        keys.append(str(part))
        field = model.model_fields.get(str(part))
        model = submodel(field.annotation) if field is not None else None
    return keys


def did_you_mean(word: str, choices: Sequence[str], shape: str = "{}") -> str:
    """``did you mean min_users?``, or the valid keys when none is close (``shape``: how to write one)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {shape.format(close[0])}?"
    return f"valid keys: {', '.join(choices)}"


def _shown(value: Any, key: str) -> str:
    if any(w in key.lower() for w in _SECRET_WORDS):
        return "(hidden)"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def problem_lines(
    exc: ValidationError, root: type[BaseModel], *, under: Sequence[str] = (), env_prefix: str | None = None
) -> list[str]:
    """One phrase per problem, e.g. ``[train] min_user: unknown key (did you mean min_users?)``.

    ``root`` is the model of section ``under`` (a customer's ``[train]`` table is a TrainParams). With
    ``env_prefix``, a value that came from an environment variable is named as that variable.
    """
    lines: list[str] = []
    merged: dict[str, list[str]] = {}  # one line per key, however many union members failed
    for err in exc.errors(include_url=False):
        loc = [*under, *key_path(root, err["loc"])]
        key = loc[-1] if loc else ""
        section = loc[:-1]
        if err["type"] == "extra_forbidden":
            model = section_model(root, section[len(under) :])
            choices = list(model.model_fields) if model is not None else []
            if isinstance(err.get("input"), dict):
                shape = "[" + "".join(f"{s}." for s in section) + "{}]"
                lines.append(f"[{'.'.join(loc)}]: unknown section ({did_you_mean(key, choices, shape)})")
            else:
                where = f"[{'.'.join(section)}] {key}" if section else key
                lines.append(f"{where}: unknown key ({did_you_mean(key, choices)})")
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        where = f"[{'.'.join(section)}] {key}" if section else key
        variable = f"{env_prefix}{'__'.join(loc).upper()}" if env_prefix is not None else None
        if variable is not None and variable in os.environ:
            where = variable
        got = f", got {_shown(err.get('input'), key)}" if "input" in err else ""
        if where not in merged:
            merged[where] = [got]
            lines.append(where)
        merged[where].insert(-1, message)
    return [
        f"{line}: {' or '.join(merged[line][:-1])}{merged[line][-1]}" if line in merged else line
        for line in lines
    ]


def invalid(path: str | Path | None, exc: ValidationError, root: type[BaseModel], **kw: Any) -> ConfigError:
    """The ConfigError for a settings file that parsed but does not fit its schema (one line)."""
    where = f"{path}: " if path is not None else "settings (KWREC_* variables): "
    return ConfigError(
        where + "; ".join(problem_lines(exc, root, **kw)),
        hint="fix the key (docs/settings.md lists every key, its type and default)",
    )
