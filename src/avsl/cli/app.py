"""`avsl app --checkpoint RUN [--checkpoint ...]`: the browser app (see avsl.app; needs
avsl[app]). Every checkpoint is loaded before the server starts, so a bad one is one line."""

from __future__ import annotations

import argparse
import ipaddress
import warnings

from avsl.cli.common import add_device_argument, checkpoint_source, positive_float, positive_int
from avsl.engine.devices import pick_device
from avsl.errors import AvslError

LOOPBACK = ("localhost",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=checkpoint_source, action="append", required=True,
                        help="a run folder, checkpoint file, URL or published name; give it again for a "
                             "drop-down of several")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every network)")
    parser.add_argument("--port", type=positive_int, default=7860, help="port to serve on")
    parser.add_argument("--max-seconds", type=positive_float, default=60.0, help="longest video accepted")
    parser.add_argument("--no-examples", action="store_true", help="start without the generated example inputs")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from avsl.app import AppState, build_app, load_models, make_examples, remove_folder, temporary_folder

    models = load_models(args.checkpoint, pick_device(args.device))  # a bad checkpoint first: the user's own file
    try:
        import gradio  # noqa: F401 - the page needs it, the models did not
    except ImportError:
        raise AvslError("avsl app needs gradio: pip install 'avsl[app]'") from None
    if not _loopback(args.host):
        warnings.warn(f"serving on {args.host}: anyone who can reach this machine on port {args.port} can use the app",
                      stacklevel=1)  # fmt: skip
    folder = temporary_folder()
    try:
        examples = [] if args.no_examples else make_examples(folder / "examples")
        page = build_app(AppState(models, folder, args.max_seconds, examples))
        print(f"avsl app: http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
        page.launch(server_name=args.host, server_port=args.port, max_file_size="200mb", quiet=True)
    finally:
        remove_folder(folder)
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK
