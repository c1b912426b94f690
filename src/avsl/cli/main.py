"""`avsl <subcommand>`: argument parsing, and the one place errors become exit codes.

A problem the user can fix (AvslError, a bad option) prints one line and exits 2; anything
else is a bug and prints one line too, with the traceback only under --debug.
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings
from collections.abc import Sequence

from avsl import __version__
from avsl.cli import bench, cache, demo, eval, export, localize, prepare, synth, train
from avsl.errors import AvslError, first_line
from avsl.files import created_folders_removed_on_failure

SUBCOMMANDS = (synth, prepare, cache, train, eval, localize, export, demo, bench)
# OS errors the user's machine causes and the user can fix, wherever a library call raises them:
# a full disk or quota, a read-only or forbidden path, too many open files.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EMFILE})


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (no usage dump) and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="avsl", description="Audio-visual source localization.")
    parser.add_argument("--version", action="version", version=f"avsl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage errors, --help, --version: return the code, do not exit
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings(), created_folders_removed_on_failure():
            warnings.showwarning = _one_line_warning(args.command)
            return int(args.run(args) or 0)
    except AvslError as err:
        return _user_error(args, err, str(err))
    except OSError as err:
        if err.errno not in ENVIRONMENT_ERRNOS:
            return _bug(args, err)
        where = f"{err.filename}: " if err.filename else ""
        return _user_error(args, err, f"{where}{err.strerror or err}")
    except KeyboardInterrupt:
        print(f"avsl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        return _bug(args, err)


def _user_error(args: argparse.Namespace, err: Exception, message: str) -> int:
    """A problem the user can fix: one line, exit 2 (the traceback under --debug)."""
    if args.debug:
        raise err
    print(f"avsl {args.command}: error: {message}", file=sys.stderr)
    return 2


def _bug(args: argparse.Namespace, err: Exception) -> int:
    """Anything else is a bug: one line and exit 1, the traceback under --debug."""
    if args.debug:
        raise err
    print(
        f"avsl {args.command}: unexpected error: {type(err).__name__}: {first_line(err, default='')} "
        "(rerun with --debug for the traceback)",
        file=sys.stderr,
    )
    return 1


def _one_line_warning(command: str):
    """Warnings from the library as `avsl CMD: warning: ...` lines, without source locations."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"avsl {command}: warning: {message}", file=sys.stderr)

    return show


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # `python -m avsl.cli.main`, as torchrun launches it
    entry()
