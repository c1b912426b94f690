"""`avsl demo`: not built yet (issue #5)."""

from __future__ import annotations

from avsl.cli.common import not_built


def add_parser(commands) -> None:
    parser = commands.add_parser("demo", help="(not built yet)")
    parser.set_defaults(run=not_built("demo", "issue #5"))
