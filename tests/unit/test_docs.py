"""The README cannot drift from the code: settings, CLI commands and event fields."""

from __future__ import annotations

import re
from pathlib import Path

import click

from logdig.cli import main
from logdig.config import SETTINGS
from logdig.events import schema

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_with_its_default():
    for setting in SETTINGS.values():
        default = setting.default if setting.default != "" else "(empty)"
        row = f"| `{setting.env}` | `{default}` | {setting.help} |"
        assert row in README, f"README settings table lacks or misstates: {row}"


def test_every_event_field_is_in_the_readme_table():
    documented = set(re.findall(r"^\| `(\w+)` \| [^|]+(?:\\\|[^|]+)* \| (?:required|optional|server) \|", README, re.M))
    assert documented == set(schema()["properties"])


def commands(group: click.Group, prefix: str = "logdig") -> list[str]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += commands(command, path)
        else:
            found.append(path)
    return found


def test_every_cli_command_is_documented():
    missing = [c for c in commands(main) if f"`{c}" not in README]
    assert not missing, f"README does not document: {missing}"
