"""The docs stay honest: every CLI command is in the README, whose --help blocks are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from provml.cli import main

ROOT = Path(__file__).resolve().parents[1]


def commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += commands(cmd, prefix + name + " ")
        else:
            out.append(prefix + name)
    return out


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in commands(main):
        cmd = main
        for part in name.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        assert cmd.help, f"provml {name} has no help"
        assert f"provml {name}" in readme, f"provml {name} is missing from README.md"


def test_readme_help_blocks_are_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "cogapp", "--check", "README.md"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "README.md is stale: run `.venv/bin/cog -r README.md`\n" + proc.stdout + proc.stderr


def test_docs_link_targets_exist() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"
