"""Every funnelhouse command has help, and the README documents every command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from pipelines.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text()
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_the_cli_has_the_commands_the_issues_name():
    assert {"serve", "generate", "sync", "plan", "demo", "build", "check", "report"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    summary = typer.main.get_command(app).commands[command].help
    assert summary and summary.strip().split("\n")[0].endswith(".")


@pytest.mark.parametrize("command", COMMANDS)
def test_the_readme_documents_every_command(command):
    assert f"`funnelhouse {command}" in README
