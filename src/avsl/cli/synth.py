"""`avsl synth`: not built yet (issue #3)."""

from __future__ import annotations

from avsl.cli.common import not_built


def add_parser(commands) -> None:
    parser = commands.add_parser("synth", help="(not built yet)")
    parser.set_defaults(run=not_built("synth", "issue #3"))
