"""The methods suite resumes from its results file, but never mixes benchmark versions."""

from __future__ import annotations

import json

import pytest

from avsl.cli.main import main
from avsl.data.synth.writer import GENERATOR_VERSION
from avsl.errors import AvslError
from avsl.experiments.studies import finished_rows


def test_resumes_from_rows_of_this_benchmark_version(tmp_path):
    path = tmp_path / "methods.json"
    assert finished_rows(path) == []
    rows = [{"name": "center", "seed": 0, "generator_version": GENERATOR_VERSION}]
    path.write_text(json.dumps(rows))
    assert finished_rows(path) == rows


def test_refuses_rows_of_another_benchmark_version(tmp_path):
    path = tmp_path / "methods.json"
    path.write_text(json.dumps([{"name": "center", "seed": 0}]))  # written before rows carried a version
    with pytest.raises(AvslError, match="benchmark version unrecorded"):
        finished_rows(path)


def test_methods_suite_options_are_refused_for_other_suites(capsys):
    assert main(["bench", "--suite", "synth", "--preset", "hard", "--seeds", "1"]) == 2
    assert (
        "--seeds, --preset: only the table suites (ablations, long, lvs, methods, scale) take these options"
        in capsys.readouterr().err
    )
