"""The documentation holds: every `avsl` line of README.md, ARCHITECTURE.md and docs/ names a real
subcommand and only options it has, with no `a|b|c` alternatives to edit before pasting; every
link and image points to a file that exists; and what the code cites ships with it."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from avsl.cli.main import SUBCOMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").rglob("*.md"))]


def command_lines(path: Path) -> list[str]:
    """The `avsl ...` lines of the file's shell blocks (comments and line continuations removed)."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("avsl ") or "-m avsl.cli.main " in line:
                lines.append(line)
    return lines


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
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


def test_the_docs_have_command_lines():
    assert len(command_lines(ROOT / "README.md")) >= 9 and len(command_lines(ROOT / "docs" / "cli.md")) > 15


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_points_to_a_file_that_exists(path):
    text = path.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://|#|mailto:", t)]
    missing = [t for t in local if t and not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(ROOT)}: links to missing files: {missing}"


def test_what_the_code_cites_ships_with_it():
    """A comment or docstring that names a document names one in the repository (docs/ pages, not
    the project's internal notes), and no issue number, which a reader of the code cannot open."""
    problems = []
    for path in [*sorted((ROOT / "src" / "avsl").rglob("*.py")), *sorted((ROOT / "src" / "avsl").rglob("*.yaml")),
                 *sorted((ROOT / "tests").glob("*.py")),
                 *sorted((ROOT / "scripts").glob("*"))]:  # fmt: skip
        text = path.read_text()
        for name in re.findall(r"\b(docs/[\w/.-]+\.md|[A-Z][A-Z_]+\.md)\b", text):  # documents, not outputs
            if not any((base / name).exists() for base in (ROOT, ROOT / "docs", path.parent)):
                problems.append(f"{path.relative_to(ROOT)} cites {name}")
        for issue in re.findall(r"\b[Ii]ssue #?\d+|(?<![\w&:])#\d{1,3}\b", text):
            problems.append(f"{path.relative_to(ROOT)} cites {issue!r}")
    assert not problems, "\n".join(problems)
