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
        "--seeds, --preset: only the table suites (ablations, long, lvs, methods, methods_bf16, scale) take these options"
        in capsys.readouterr().err
    )


def test_every_suite_names_its_machine_and_the_peer_suite_says_why_it_did_not_run(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AVSL_EZVSL_SOURCE", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert main(["bench", "--suite", "peer", "-o", str(tmp_path / "peer.json")]) == 0
    results = json.loads((tmp_path / "peer.json").read_text())
    assert "AVSL_EZVSL_SOURCE" in results["skipped"]
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["threads"] >= 1 and machine["cpu"]
    assert machine["onednn_isa_limit"] == "AVX2" and machine["native_bf16_cpu"] is False


def test_the_peer_step_runs_the_peers_own_module_without_downloading_weights(tmp_path, monkeypatch):
    """A stand-in for EZ-VSL's model.py with its interface (EZVSL(tau, dim) -> (loss, maps)) and
    its import of a pretrained resnet18, which would download if it were called as written."""
    from avsl.bench import peer_suite

    (tmp_path / "model.py").write_text(
        "import torch\n"
        "from torchvision.models import resnet18\n"
        "class EZVSL(torch.nn.Module):\n"
        "    def __init__(self, tau, dim):\n"
        "        super().__init__()\n"
        "        self.imgnet = resnet18(pretrained=True)\n"
        "        self.tau = tau\n"
        "    def forward(self, image, audio):\n"
        "        maps = self.imgnet.conv1(image[:, :, :32, :32]).mean(1)\n"
        "        return maps.mean() / self.tau + audio.mean(), maps\n"
    )
    monkeypatch.setattr(peer_suite.train_suite, "BATCH", 2)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # where a download would land
    step = peer_suite._peer_step(tmp_path)
    step()  # a forward, backward and Adam step of the peer's module
    assert not (tmp_path / "torch").exists()
    with pytest.raises(AvslError, match="no model.py"):
        peer_suite._peer_step(tmp_path / "missing")
