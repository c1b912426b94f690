"""`avsl app` in a real browser (Chromium, driven by Playwright) and through gradio_client: a
generated clip uploaded, localized, played back; bad uploads shown as messages. The server runs
on 127.0.0.1 on a free port; every wait is bounded."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from avsl.bench.videos import write_video
from avsl.cli.main import main
from avsl.data.video import probe
from tests.conftest import tiny_spec, write_model_checkpoint

gradio = pytest.importorskip("gradio", reason="avsl[app] is not installed")
WAIT_MS = 180_000  # the longest any browser wait may take (a loaded 2-core machine localizes slowly)


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app on 127.0.0.1 with one tiny checkpoint; its URL, state and media to upload."""
    from avsl.app import AppState, build_app, load_models, make_examples, remove_folder, temporary_folder

    saved = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED", "MPLCONFIGDIR")}
    root = tmp_path_factory.mktemp("app")
    checkpoint = root / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    media = {
        "clip": write_video(root / "clip.mp4", seconds=2.0, size=(160, 120), video_codec="h264"),
        "mute": write_video(root / "mute.mp4", seconds=2.0, audio_rate=None, video_codec="h264"),
        "long": write_video(root / "long.mp4", seconds=6.0, video_codec="h264"),
        "text": root / "notes.mp4",
    }
    media["text"].write_text("not a video")
    folder = temporary_folder()
    state = AppState(load_models([checkpoint], "cpu"), folder, max_seconds=5.0, examples=make_examples(folder / "ex"))
    page = build_app(state)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size="5mb")
    try:
        yield f"http://127.0.0.1:{port}/", state, media, str(checkpoint)
    finally:
        page.close()
        remove_folder(folder)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    assert not folder.exists()  # the app's one folder is gone, with every upload and output


def localize(url: str, checkpoint: str, video: Path):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return client.predict(checkpoint, handle_file(str(video)), None, None, 0.5, "overlay", None, 1,
                          api_name="/localize")  # fmt: skip


def test_the_localize_endpoint_answers_scripts(app):
    url, state, media, checkpoint = app
    shown, plot, frame = localize(url, checkpoint, media["clip"])
    path = Path(shown["video"] if isinstance(shown, dict) else shown)
    assert abs(probe(path).duration - probe(media["clip"]).duration) < 0.2 and probe(path).has_audio
    assert plot is not None and frame is not None
    assert any(p.name.startswith("localized-") for p in state.work.iterdir())  # written in the app's folder


@pytest.mark.parametrize(
    ("name", "message"),
    [("text", "cannot open as a video"), ("mute", "has no sound: add an audio file"), ("long", "at most 5 s")],
)
def test_a_bad_upload_is_a_message_and_the_app_goes_on(app, name, message):
    from gradio_client.exceptions import AppError

    url, _, media, checkpoint = app
    with pytest.raises(AppError, match=message):
        localize(url, checkpoint, media[name])
    assert localize(url, checkpoint, media["clip"])[0] is not None  # still serving


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium package)")
    return found


def test_a_video_dropped_in_the_browser_comes_back_playing(app, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    url, _, media, _ = app
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], timeout=WAIT_MS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(url, wait_until="networkidle")  # the page's scripts have set its inputs up
            page.locator("#avsl-input input[type=file]").set_input_files(str(media["clip"]))
            page.locator("#avsl-input video").wait_for(state="attached")  # uploaded, before the click
            page.get_by_role("button", name="Localize").click()
            video = page.locator("#avsl-output video")
            video.wait_for(state="attached")
            page.wait_for_function(
                "() => { const v = document.querySelector('#avsl-output video');"
                " return v && v.readyState >= 1 && v.duration > 0; }",
                timeout=WAIT_MS,
            )
            duration = video.evaluate("v => v.duration")
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        finally:
            browser.close()
    assert abs(duration - probe(media["clip"]).duration) < 0.2
    assert (tmp_path / "app.png").stat().st_size > 10_000


def test_a_bad_checkpoint_stops_the_app_before_it_serves(tmp_path, capsys):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"\x80\x04 not a checkpoint")
    assert main(["app", "--checkpoint", str(bad), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
