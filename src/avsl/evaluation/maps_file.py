"""Maps that any model produced, scored by the protocol as if avsl had predicted them.

The maps come as an `.npz` with `ids` (N strings) and `maps` (N x H x W, any size, square or
not, raw or normalised: the protocol min-max normalises each one), or as a folder of
`<id>.npy` files (H x W each, sizes may differ). `avsl eval --save-maps` writes `raw_maps` too
(each map at the model's own resolution, before upsampling), which is read first, so scoring
a saved file gives exactly the numbers of the evaluation that saved it. Each map is resized to
224 x 224 with the public code's bilinear rule (`upsample_maps`).
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from avsl.constants import EVAL_SIZE
from avsl.errors import AvslError
from avsl.evaluation.folder import FolderEval, FolderTestSet, open_folder
from avsl.ops.maps import upsample_maps
from avsl.types import AVBatch, BadSample

MISSING_RULES = ("zero", "skip")
_MAX_SIDE = 4096  # a map larger than this is not a localization map (and would not fit in memory)


class MapsFile:
    """A predictor that answers with the maps of a file or folder, by clip id."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"maps:{self.path}"
        self.about = {"predictor": "maps", "maps": str(self.path)}
        self.maps = _read_folder(self.path) if self.path.is_dir() else _read_npz(self.path)

    @property
    def ids(self) -> set[str]:
        return set(self.maps)

    def __call__(self, batch: AVBatch) -> Tensor:  # noqa: D102 - a Predictor
        """(B, 224, 224) raw maps of the batch's clips (a clip without one: zeros, if allowed)."""
        resized = []
        for clip_id in batch.ids:
            found = self.maps.get(clip_id)
            if found is None:  # `check_coverage` let it through: --missing zero
                resized.append(torch.zeros(EVAL_SIZE, EVAL_SIZE))
                continue
            resized.append(upsample_maps(torch.from_numpy(np.asarray(found, np.float32))[None], EVAL_SIZE)[0])
        return torch.stack(resized).to(batch.image.device)

    def check_coverage(self, listed: list[str], known: set[str], missing: str | None) -> list[str]:
        """Refuse maps for clips the data does not know (a wrong id format, or another data
        set's file); the listed clips without a map, to skip when `missing` is "skip"."""
        unknown = sorted(self.ids - known)
        if unknown:
            raise AvslError(f"{self.path}: {len(unknown)} map id(s) are not clips of the test data "
                            f"(first: {unknown[0]!r}); are the ids spelled as the list spells them?")  # fmt: skip
        absent = [clip_id for clip_id in listed if clip_id not in self.maps]
        if absent and missing is None:
            raise AvslError(f"{self.path}: no map for {len(absent)} of the {len(listed)} listed clips "
                            f"(first: {absent[0]!r}); --missing zero scores them with an all-zero map "
                            "(the whole frame is on), --missing skip leaves them out")  # fmt: skip
        return absent if missing == "skip" else []


def open_maps_folder(maps: MapsFile, data: Path, options: FolderEval, missing: str | None) -> FolderTestSet:
    """The folder's clips to score against `maps`: boxes only (no frame or sound is decoded),
    the clips without a map left out when `missing` is "skip" (listed with the skipped ones)."""
    folder = open_folder(data, replace(options, media=False))
    dataset = folder.dataset
    known = set(dataset.listed.ids) | set(dataset.annotations.entries) | set(dataset.annotations.problems)
    absent = set(maps.check_coverage(dataset.labeled_ids, known, missing))
    if absent:
        dataset.ids = [clip_id for clip_id in dataset.ids if clip_id not in absent]
        dataset.rejected += [
            BadSample(i, f"{maps.path}: no map for this clip (--missing skip)") for i in sorted(absent)
        ]
    return folder


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if path.suffix != ".npz":
        raise AvslError(f"{path}: maps are an .npz file (ids, maps) or a folder of <id>.npy files")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "ids" not in archive.files or not {"maps", "raw_maps"} & set(archive.files):
                raise AvslError(f"{path}: an .npz of maps needs the arrays 'ids' and 'maps' (has: "
                                f"{', '.join(archive.files) or 'none'})")  # fmt: skip
            ids = archive["ids"]
            maps = archive["raw_maps" if "raw_maps" in archive.files else "maps"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise AvslError(f"{path}: not a readable .npz ({err})") from err
    if ids.ndim != 1 or ids.dtype.kind not in "US":
        raise AvslError(f"{path}: 'ids' must be a list of strings (got shape {ids.shape}, dtype {ids.dtype})")
    if maps.ndim != 3 or len(maps) != len(ids):
        raise AvslError(f"{path}: 'maps' must be N x H x W with N = {len(ids)} ids (got shape {maps.shape})")
    names = [str(i) for i in ids.tolist()]
    if len(set(names)) < len(names):
        twice = next(i for i in names if names.count(i) > 1)
        raise AvslError(f"{path}: clip id {twice!r} has more than one map")
    return {clip_id: _checked(path, clip_id, maps[index]) for index, clip_id in enumerate(names)}


def _read_folder(path: Path) -> dict[str, np.ndarray]:
    files = sorted(path.glob("*.npy"))
    if not files:
        raise AvslError(f"{path}: no <id>.npy map in this folder")
    maps = {}
    for file in files:
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise AvslError(f"{file}: not a readable .npy map ({err})") from err
        maps[file.stem] = _checked(file, file.stem, array)
    return maps


def _checked(source: Path, clip_id: str, array: np.ndarray) -> np.ndarray:
    """One map: 2-D, numeric, finite, of a sane size."""
    if array.ndim != 2 or not (1 <= min(array.shape) and max(array.shape) <= _MAX_SIDE):
        raise AvslError(f"{source}: the map of {clip_id!r} must be H x W (1 to {_MAX_SIDE}; got {array.shape})")
    if array.dtype.kind not in "biuf":
        raise AvslError(f"{source}: the map of {clip_id!r} is not numeric (dtype {array.dtype})")
    if not np.isfinite(array).all():
        raise AvslError(f"{source}: the map of {clip_id!r} holds NaN or infinite values")
    return array
