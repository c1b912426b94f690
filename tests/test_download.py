"""`avsl download` end to end: yt-dlp's generic extractor fetches mp4 files from a real HTTP
server on 127.0.0.1 (`--url-template`), and the clips are prepared as `avsl prepare` would."""

from __future__ import annotations

import pytest

from avsl.bench.videos import write_video
from avsl.cli.main import main
from avsl.data.video_download import listed_clips
from tests.http_server import LocalServer, Served

pytest.importorskip("yt_dlp")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("videos")
    made = {name: write_video(folder / f"{name}.mp4", seconds=3.0).read_bytes() for name in ("a", "b", "c", "d")}
    made["mute"] = write_video(folder / "mute.mp4", seconds=3.0, audio_rate=None).read_bytes()
    return made


def served(videos: dict[str, bytes], **faults) -> dict[str, Served]:
    """Each video at /<id>.mp4, VGGSound-style ids starting 1 s in."""
    return {f"/{name}_000001.mp4": Served(body, **faults.get(name, {})) for name, body in videos.items()}


def download(server: LocalServer, listing, out, *extra) -> int:
    template = server.url("/{id}.mp4")
    return main(["download", str(listing), str(out), "--url-template", template, "--timeout", "2",
                 "--prepare-workers", "0", *extra])  # fmt: skip


def first_requests(server: LocalServer) -> dict[str, float]:
    found: dict[str, float] = {}
    for request in server.requests:
        found.setdefault(request.path, request.at)
    return found


def test_a_list_is_fetched_prepared_and_its_failures_listed(videos, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("a_000001\nb_000001\nmute_000001\ngone_000001\n")
    out = tmp_path / "out"
    with LocalServer(served(videos)) as server:
        assert download(server, listing, out) == 0
        assert {p.stem for p in (out / "frames").iterdir()} == {"a_000001", "b_000001"}
        failed = dict(line.split("\t", 1) for line in (out / "download_failed.tsv").read_text().splitlines())
        assert set(failed) == {"mute_000001", "gone_000001"}
        assert "404" in failed["gone_000001"] and "no audio stream" in failed["mute_000001"]
        assert "2 of the 4 listed clips obtained (50.0 %)" in capsys.readouterr().out
        assert not list((out / "videos").iterdir())  # each video is removed once cut
        gone = sum(r.path == "/gone_000001.mp4" for r in server.requests)
        assert gone == 1  # "not found" is final: no retry
        before = len(server.requests)
        assert download(server, listing, out) == 0  # a rerun fetches only what it does not have
        again = {r.path for r in server.requests[before:]}
    assert again == {"/gone_000001.mp4", "/mute_000001.mp4"}


def test_a_cut_download_resumes_from_its_part(videos, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("c_000001\n")
    faults = {"c": {"fault": "cut", "failures": 1, "spared": 1}}  # the extractor's probe, then a cut body
    with LocalServer(served(videos, **faults)) as server:
        assert download(server, listing, tmp_path / "out") == 0
        ranges = [r.range for r in server.requests if r.range]
    assert ranges and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    assert (tmp_path / "out" / "frames" / "c_000001.jpg").is_file()


def test_downloads_start_no_faster_than_the_rate(videos, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a_000001\nb_000001\nc_000001\nd_000001\n")
    with LocalServer(served(videos)) as server:
        assert download(server, listing, tmp_path / "out", "--rate", "4", "--workers", "4") == 0
        starts = sorted(first_requests(server).values())
    # 4 per second: the limiter spaces the starts 0.25 s apart, 0.75 s from first to last; each
    # request follows its start after the downloader's own set-up, whose time varies with load
    assert len(starts) == 4 and starts[-1] - starts[0] >= 0.6


def test_a_dry_run_fetches_nothing(videos, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("a_000001\nb_000001\n")
    with LocalServer(served(videos)) as server:
        assert download(server, listing, tmp_path / "out", "--dry-run") == 0
        assert not server.requests
    printed = capsys.readouterr().out
    assert "2 clips listed" in printed and server.url("/a_000001.mp4") in printed
    assert not (tmp_path / "out").exists()


def test_lists_by_name_and_in_vggsounds_csv(tmp_path, capsys):
    clips, dataset = listed_clips("vggss")
    assert dataset == "vggss" and len(clips) == 5158 and clips[0].start is not None
    csv = tmp_path / "vggsound.csv"
    csv.write_text("---g-f_I2yQ,1,people marching,test\n--0PQM4-hqg,30,waterfall burbling,train\n")
    clips, _ = listed_clips(str(csv))
    assert [(c.id, c.ytid, c.start) for c in clips] == [("---g-f_I2yQ_000001", "---g-f_I2yQ", 1),
                                                        ("--0PQM4-hqg_000030", "--0PQM4-hqg", 30)]  # fmt: skip
    assert clips[0].url("https://www.youtube.com/watch?v={ytid}") == "https://www.youtube.com/watch?v=---g-f_I2yQ"
    assert main(["download", "flickr", str(tmp_path / "out"), "--dry-run"]) == 2
    assert "--url-template" in capsys.readouterr().err
    assert main(["download", str(csv), str(tmp_path / "out"), "--url-template", "http://127.0.0.1/{nope}"]) == 2
