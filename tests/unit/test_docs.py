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


def test_every_cli_option_is_in_its_command_row():
    """Each option a command's --help lists is in the README row that names the command."""
    missing = []
    for path in commands(main):
        command = main
        for name in path.split()[1:]:
            command = command.get_command(click.Context(command), name)
        rows = " ".join(line for line in README.splitlines() if line.startswith("|") and f"`{path}" in line)
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag not in rows:
                    missing.append(f"{path} {flag}")
    assert not missing, f"README's command table lacks: {missing}"


def test_the_scheduler_help_names_every_job_it_schedules():
    from click.testing import CliRunner

    text = " ".join(CliRunner().invoke(main, ["scheduler", "--help"]).output.split())
    for what in ("LOGDIG_FLUSH_INTERVAL", "LOGDIG_ANALYZE_INTERVAL", "LOGDIG_ANALYZE_TODAY_INTERVAL", "compaction"):
        assert what in text.split("Options:")[0], what


def test_every_command_help_names_the_settings():
    """`logdig <any command> --help` ends with the settings it reads from the environment (a
    newcomer found 19 commands, `analyze` and `token create` among them, whose help did not)."""
    from click.testing import CliRunner

    missing = []
    for path in commands(main):
        text = " ".join(CliRunner().invoke(main, [*path.split()[1:], "--help"]).output.split())
        if "Settings come from the environment" not in text or "LOGDIG_REDIS_URL" not in text:
            missing.append(path)
    assert not missing, missing
