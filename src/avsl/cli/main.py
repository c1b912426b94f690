"""`avsl <subcommand>`: argument parsing, and the one place errors become exit codes.

A problem the user can fix (AvslError, a bad option) prints one line and exits 2; anything
else is a bug and prints one line too, with the traceback only under --debug.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import warnings
from collections.abc import Sequence

from avsl import __version__
from avsl.errors import AvslError, first_line
from avsl.files import created_folders_removed_on_failure

# Each subcommand is the module avsl.cli.<name> (add_arguments, run); only the one being run is
# imported, so `avsl --help` does not wait for PyTorch.
SUBCOMMANDS = {
    "synth": "generate the synthetic audio-visual benchmark",
    "download": "fetch a list's clips with yt-dlp and prepare them (needs avsl[download])",
    "prepare": "decode raw videos into the native layout (frames/, audio/)",
    "cache": "decode a dataset once into a memory-mapped training cache",
    "train": "train a localizer (selfsup, supervised, pseudo, meanteacher, dmt)",
    "eval": "evaluate a checkpoint or a baseline predictor",
    "report": "put several evaluations side by side in one HTML page",
    "compare": "how sure a difference between evaluations is (paired bootstrap intervals)",
    "localize": "draw where the sound is over a video or an image",
    "predict": "where the sound is in every clip of a folder without boxes (table, maps, pictures)",
    "export": "export a trained localizer as ONNX (needs avsl[onnx])",
    "models": "the published checkpoints avsl loads by name",
    "app": "a browser app: drop a video, see where the sound comes from (needs avsl[app])",
    "demo": "train DMT on the synthetic benchmark and compare (about 4 min on 2 cores)",
    "bench": "benchmarks: speed suites, the results tables and studies, the hostile-input suite",
}
# OS errors the user's machine causes and the user can fix, wherever a library call raises them:
# a full disk or quota, a read-only or forbidden path, too many open files.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EMFILE})


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (no usage dump) and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: error: {message}\n")


class DefaultsShown(argparse.HelpFormatter):
    """Help lines end with the option's default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, [])
        if shown and "%(default)" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line; the arguments of the subcommand named in `argv` only."""
    parser = OneLineParser(prog="avsl", description="Audio-visual source localization.")
    parser.add_argument("--version", action="version", version=f"avsl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    chosen = next((word for word in argv if not word.startswith("-")), None)
    for name, summary in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary, formatter_class=DefaultsShown)
        if name == chosen:
            module = importlib.import_module(f"avsl.cli.{name}")
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
            from avsl.cli.common import fetch_checkpoint_argument  # not for --help: it would load more

            fetch_checkpoint_argument(args)
            return int(args.run(args) or 0)
    except AvslError as err:
        return _user_error(args, err, str(err))
    except BrokenPipeError:  # the reader went away (`avsl models | head`): as a shell tool, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
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
