"""`avsl localize`: not built yet (a later issue)."""

from __future__ import annotations

from avsl.cli.common import not_built


def add_parser(commands) -> None:
    parser = commands.add_parser("localize", help="(not built yet)")
    parser.set_defaults(run=not_built("localize", "a later issue"))
