"""Where a checkpoint comes from: a local path, an http(s) URL, `hf://owner/repo/file` on the
Hugging Face Hub, or the name of a published model (configs/models.yaml, `avsl models`). Every
remote file is fetched once into the cache and then loaded like a local one: checked, never
unpickled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from avsl.configs import config_path
from avsl.downloads import cache_home, cached_file, check_sha256, is_url
from avsl.errors import AvslError

HF_PREFIX = "hf://"
_DRIVE_FILE = re.compile(r"https://drive\.google\.com/(?:file/d/|open\?id=|uc\?id=)([\w-]+)")


@dataclass(frozen=True)
class PublishedModel:
    """One entry of configs/models.yaml."""

    name: str
    method: str
    layout: str
    page: str
    url: str
    kind: str
    licence: str
    trained_on: str
    reported: dict = field(default_factory=dict)
    sha256: str | None = None


def published_models() -> dict[str, PublishedModel]:
    entries = yaml.safe_load(config_path("models").read_text())["models"]
    return {name: PublishedModel(name=name, **entry) for name, entry in entries.items()}


def is_remote(source: str | Path) -> bool:
    """Whether `source` names a checkpoint to fetch rather than a local path."""
    text = str(source)
    if isinstance(source, Path) or Path(text).exists():
        return False
    return is_url(text) or text.startswith(HF_PREFIX) or text in published_models()


def fetch_checkpoint(source: str | Path, sha256: str | None = None) -> Path:
    """The local file (or run folder) `source` stands for, fetched into the cache if remote."""
    text = str(source)
    if not is_remote(source):
        if sha256 is not None and Path(text).is_file():
            check_sha256(Path(text), sha256, text)
        return Path(source)
    if text in published_models():
        model = published_models()[text]
        return _fetch_published(model, sha256 or model.sha256)
    if text.startswith(HF_PREFIX):
        return _fetch_hub(text, sha256)
    if _DRIVE_FILE.match(text):
        return _fetch_drive(_DRIVE_FILE.match(text).group(1), text, sha256)
    return cached_file(text, sha256)


def _fetch_published(model: PublishedModel, sha256: str | None) -> Path:
    if model.kind == "google-drive-folder":
        raise AvslError(f"{model.name}: published in a Google Drive folder ({model.url}) whose files avsl cannot "
                        f"list from here; download its best.pth from there and pass that path to --checkpoint")  # fmt: skip
    if model.kind == "google-drive-file":
        return _fetch_drive(_DRIVE_FILE.match(model.url).group(1), model.url, sha256)
    return cached_file(model.url, sha256)


def _fetch_drive(file_id: str, url: str, sha256: str | None) -> Path:
    """A Google Drive file, through gdown (it answers Drive's confirmation page for large files)."""
    target = cache_home() / "checkpoints" / f"gdrive-{file_id}.pth"
    if not target.is_file():
        try:
            import gdown
        except ImportError:
            raise AvslError(f"{url}: Google Drive files need gdown: pip install 'avsl[download]'") from None
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        if gdown.download(id=file_id, output=str(part), quiet=False, resume=True) is None:
            raise AvslError(f"{url}: Google Drive did not give the file (private, removed, or over its quota)")
        part.replace(target)
    if sha256 is not None:
        check_sha256(target, sha256, url)
    return target


def _fetch_hub(source: str, sha256: str | None) -> Path:
    """`hf://owner/repo/path/in/repo` through huggingface_hub, cached under $AVSL_HOME."""
    parts = source[len(HF_PREFIX) :].split("/", 2)
    if len(parts) < 3 or not all(parts):
        raise AvslError(f"{source}: a Hugging Face checkpoint is hf://owner/repo/file")
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise AvslError(f"{source}: hf:// needs huggingface_hub: pip install 'avsl[download]'") from None
    try:
        path = Path(hf_hub_download(f"{parts[0]}/{parts[1]}", parts[2], cache_dir=cache_home() / "hf"))
    except (HfHubHTTPError, OSError, ValueError) as err:
        raise AvslError(f"{source}: {str(err).splitlines()[0]}") from None
    if sha256 is not None:
        check_sha256(path, sha256, source)
    return path
