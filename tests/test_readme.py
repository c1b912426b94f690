"""The README's command lines run as written: every `avsl` line names a real subcommand and only
options it has, with no `a|b|c` alternatives to edit before pasting."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from avsl.cli.main import SUBCOMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md"]


def command_lines(path: Path) -> list[str]:
    """The `avsl ...` lines of the file's shell blocks (comments and line continuations removed)."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("avsl ") or "-m avsl.cli.main " in line:
                lines.append(line)
    return lines


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_command_line_exists_as_written(path):
    for line in command_lines(path):
        assert "|" not in line, f"{path.name}: alternatives in a runnable line: {line}"
        words = shlex.split(line)
        words = words[words.index("avsl.cli.main") :] if "avsl.cli.main" in words else words
        subcommand = words[1]
        if subcommand.startswith("-"):
            continue  # avsl --help, --version
        assert subcommand in SUBCOMMANDS, f"{path.name}: no subcommand {subcommand!r}: {line}"
        parser = build_parser([subcommand])
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        known = commands.choices[subcommand]._option_string_actions
        for word in words[2:]:
            if word.startswith("-"):
                assert word.split("=")[0] in known, f"{path.name}: avsl {subcommand} has no {word}: {line}"


def test_the_readme_has_command_lines():
    assert len(command_lines(ROOT / "README.md")) > 20
