"""Checkpoints by URL and by name, through a real HTTP server on 127.0.0.1: cached, resumed,
retried, checked, refused in one line; and torch.hub's entry point."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import avsl
from avsl import downloads
from avsl.cli.main import main
from avsl.errors import AvslError
from tests.conftest import tiny_spec, write_model_checkpoint
from tests.http_server import LocalServer, Served

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """$AVSL_HOME in the test's folder, and quick retries."""
    monkeypatch.setenv("AVSL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(downloads, "BACKOFF_S", 0.01)
    monkeypatch.setattr(downloads, "TIMEOUT_S", 1.0)
    return tmp_path / "home"


@pytest.fixture
def checkpoint(tmp_path) -> bytes:
    path = tmp_path / "model.safetensors"
    write_model_checkpoint(path, tiny_spec(visual="tiny"))
    return path.read_bytes()


def same_maps(first, second) -> bool:
    images, waves = torch.rand(2, 3, 64, 64), torch.rand(2, 48_000) - 0.5
    with torch.inference_mode():
        return torch.equal(first(images, waves), second(images, waves))


def test_a_url_is_fetched_once_then_loaded_from_the_cache(home, checkpoint, tmp_path):
    with LocalServer({"/m.safetensors": Served(checkpoint)}) as server:
        url = server.url("/m.safetensors")
        model = avsl.load(url, "cpu", sha256=hashlib.sha256(checkpoint).hexdigest())
        again = avsl.load(url, "cpu")
        assert len(server.requests) == 1  # the second load made no request
    assert same_maps(model, again) and same_maps(model, avsl.load(tmp_path / "model.safetensors", "cpu"))
    assert [p.name.endswith("-m.safetensors") for p in (home / "checkpoints").iterdir()] == [True]


def test_a_cut_download_resumes_where_it_stopped(home, checkpoint):
    with LocalServer({"/m.safetensors": Served(checkpoint, fault="cut", failures=1)}) as server:
        path = downloads.cached_file(server.url("/m.safetensors"))
        assert [r.range for r in server.requests] == [None, f"bytes={len(checkpoint) // 2}-"]
    assert path.read_bytes() == checkpoint and not list(path.parent.glob("*.part"))


def test_a_part_left_by_a_killed_download_is_resumed(home, checkpoint):
    with LocalServer({"/m.safetensors": Served(checkpoint)}) as server:
        url = server.url("/m.safetensors")
        first = downloads.download(url, home / "whole")  # where the cache would put it, whole
        part = home / "again.part"
        part.write_bytes(checkpoint[:1000])  # what a kill mid-download leaves
        resumed = downloads.download(url, home / "again")
        assert server.requests[-1].range == "bytes=1000-"
    assert resumed.read_bytes() == first.read_bytes() == checkpoint and not part.exists()


def test_a_stalled_server_times_out_and_is_retried(home, checkpoint):
    with LocalServer({"/m.safetensors": Served(checkpoint, fault="stall", failures=1, stall_s=3.0)}) as server:
        path = downloads.cached_file(server.url("/m.safetensors"))
        assert len(server.requests) == 2 and server.requests[1].at - server.requests[0].at < 2.5
    assert path.read_bytes() == checkpoint


def test_retries_wait_longer_each_time_and_stop(home, monkeypatch):
    monkeypatch.setattr(downloads, "BACKOFF_S", 0.1)
    with LocalServer({"/m": Served(status=503)}) as server:
        with pytest.raises(AvslError, match="after 4 attempts .HTTP 503"):
            downloads.download(server.url("/m"), home / "m")
        gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    assert len(gaps) == 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    assert not (home / "m").exists()


@pytest.mark.parametrize(
    ("served", "extra", "message", "requests"),
    [
        (Served(status=404), [], "HTTP 404", 1),  # permanent: no retry
        (Served(b"x" * 100), ["--sha256", "0" * 64], "is not the expected 000", 1),
    ],
)
def test_bad_downloads_are_one_line_and_leave_nothing(home, tmp_path, capsys, served, extra, message, requests):
    with LocalServer({"/m.safetensors": served}) as server:
        url = server.url("/m.safetensors")
        code = main(["eval", "--data", str(tmp_path), "--checkpoint", url, *extra, "--out", str(tmp_path / "o")])
        assert len(server.requests) == requests
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and url in err[0]
    assert not list((home / "checkpoints").glob("*")) if (home / "checkpoints").exists() else True


def test_a_malformed_sha256_is_refused_before_any_request(home, tmp_path, capsys):
    with LocalServer({"/m": Served(b"x")}) as server:
        code = main(["eval", "--data", str(tmp_path), "--checkpoint", server.url("/m"), "--sha256", "abc", "-o", "o"])
        assert code == 2 and not server.requests
    assert "not a SHA-256" in capsys.readouterr().err


def test_no_server_is_a_clear_line(home, tmp_path, capsys):
    with LocalServer() as server:
        url = server.url("/m.safetensors")
    assert main(["eval", "--data", str(tmp_path), "--checkpoint", url, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url in err[0] and "after 4 attempts" in err[0]


def test_published_names_resolve_or_say_what_to_do(home, tmp_path, capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "ezvsl-vggsound144k" in listed and "83.94" in listed and "slavc-vggsound144k" in listed
    assert (
        main(["eval", "--data", str(tmp_path), "--checkpoint", "ezvsl-vggsound144k", "--out", str(tmp_path / "o")]) == 2
    )
    assert "Google Drive folder" in capsys.readouterr().err
    assert (
        main(["eval", "--data", str(tmp_path), "--checkpoint", "hf://just-a-name", "--out", str(tmp_path / "o")]) == 2
    )
    assert "hf://owner/repo/file" in capsys.readouterr().err


def test_torch_hub_gives_the_model_avsl_load_gives(tmp_path, checkpoint):
    path = tmp_path / "model.safetensors"
    hub = torch.hub.load(str(ROOT), "localizer", source="local", checkpoint=str(path), trust_repo=True)
    assert isinstance(hub, torch.nn.Module) and repr(hub) == repr(avsl.load(path, "cpu"))
    assert same_maps(hub, avsl.load(path, "cpu"))
