"""`avsl prepare`: not built yet (a later issue)."""

from __future__ import annotations

from avsl.cli.common import not_built


def add_parser(commands) -> None:
    parser = commands.add_parser("prepare", help="(not built yet)")
    parser.set_defaults(run=not_built("prepare", "a later issue"))
