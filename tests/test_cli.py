"""The command line's vocabulary: every option explained with its default, the old spellings
still accepted, and `avsl --help` answered without importing PyTorch."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from avsl.cli.main import SUBCOMMANDS, build_parser, main


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser([name])
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_option_has_a_help_line_and_shows_its_default(name):
    parser = _subparser(name)
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue  # an old spelling kept for one release; -h
        assert action.help, f"avsl {name} {'/'.join(action.option_strings) or action.dest}: no help line"
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
            assert f"{action.default}" in text, f"avsl {name} {action.option_strings[-1]}: default not shown"


def test_one_name_per_concept():
    outputs = {
        name: _subparser(name)._option_string_actions.get("--out") for name in ("eval", "train", "localize", "export")
    }
    assert all(action is not None for action in outputs.values()), outputs
    assert all("-o" in _subparser(name)._option_string_actions for name in ("eval", "train", "localize", "export"))
    workers = [_subparser(name)._option_string_actions["--workers"] for name in ("eval", "cache", "prepare")]
    assert all(action.type.__name__ == "non_negative_int" and action.default == 2 for action in workers)


def test_old_spellings_are_accepted_but_hidden(tmp_path, capsys):
    for name, old in (("export", "--onnx"), ("localize", "--output")):
        parser = _subparser(name)
        assert old in parser._option_string_actions and old not in parser.format_help()
    # the old spelling reaches the command (which then refuses the missing checkpoint, exit 2)
    assert main(["export", "--checkpoint", str(tmp_path / "none.safetensors"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "none.safetensors: checkpoint not found" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "-o/--out" in capsys.readouterr().err


def test_help_does_not_import_torch():
    code = "import sys; from avsl.cli.main import main; main(['--help']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith("False")
