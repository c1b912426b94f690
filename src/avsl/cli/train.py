"""`avsl train`: not built yet (issue #4)."""

from __future__ import annotations

from avsl.cli.common import not_built


def add_parser(commands) -> None:
    parser = commands.add_parser("train", help="(not built yet)")
    parser.set_defaults(run=not_built("train", "issue #4"))
