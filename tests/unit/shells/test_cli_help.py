"""Every option and argument of every `kwrec` command says what it is for in --help."""

from __future__ import annotations

from typing import Any

import typer.main

from kwrec.cli.main import app


def walk(command: Any, path: str) -> list[tuple[str, Any]]:
    """(path, command) for the command and every subcommand (typer bundles its own click: duck-typed)."""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += walk(sub, f"{path} {name}")
    return found


def test_every_option_and_argument_has_help() -> None:
    root = typer.main.get_command(app)
    missing = []
    commands = walk(root, "kwrec")
    assert len(commands) > 15, [p for p, _ in commands]  # the walk really reaches the subcommands
    for path, command in commands:
        assert command.help, f"{path} has no description"
        for param in command.params:
            if getattr(param, "hidden", False):
                continue  # deprecated aliases stay out of --help
            if not getattr(param, "help", None):
                missing.append(f"{path} {param.opts[0] if param.opts else param.name}")
    assert not missing, "add help= to: " + ", ".join(missing)


def test_version_and_deprecated_serve_alias() -> None:
    serve = walk(typer.main.get_command(app), "kwrec")[0][1].commands["serve"]
    opts = {o: p for p in serve.params for o in p.opts}
    assert "--version" in opts and not getattr(opts["--version"], "hidden", False)
    assert getattr(opts["--model-version"], "hidden", False)  # still accepted, no longer advertised


def test_no_help_text_is_eaten_as_rich_markup() -> None:
    # typer renders help as rich markup: an unescaped "[evaluate]" is a style tag and vanishes,
    # leaving "(default )" on screen. Escaped brackets must come out as typed.
    from rich.text import Text

    eaten = []
    for path, command in walk(typer.main.get_command(app), "kwrec"):
        texts = [(path, command.help or "")] + [
            (f"{path} {p.opts[0] if p.opts else p.name}", getattr(p, "help", None) or "")
            for p in command.params
        ]
        for where, text in texts:
            if Text.from_markup(text).plain != text.replace("\\[", "["):
                eaten.append(f"{where}: {text!r}")
    assert not eaten, "escape these (rich.markup.escape): " + "; ".join(eaten)
