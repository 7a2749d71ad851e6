"""Every command and sub-command of `relval` answers --help (and is listed by its parent)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from relval.cli import app

EXPECTED = {
    ("plan",), ("run",), ("status",), ("submit",), ("up",), ("down",), ("outputs",),
    ("campaign",), ("stack", "new"), ("workflow", "generate"), ("qa", "compare"), ("qa", "merge"),
    ("autoscale", "run"), ("autoscale", "simulate"), ("cloudinit", "render"), ("trends",),
}


def command_paths(command, prefix=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield prefix
        return
    for name, sub in subcommands.items():
        yield from command_paths(sub, (*prefix, name))


def test_every_command_answers_help():
    root = typer.main.get_command(app)
    paths = set(command_paths(root))
    assert EXPECTED <= paths, EXPECTED - paths
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"]).output
    for path in paths:
        assert path[0] in listing, path
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, path
