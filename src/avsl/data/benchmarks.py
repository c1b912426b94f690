"""The public benchmarks' packaged lists by name, and the DMT protocol's seeded splits.

`--benchmark NAME` picks a test list, its dataset's ground-truth rule and (for VGG-SS) the
packaged `vggss.json`, so `avsl eval --data DIR --benchmark vggss` needs nothing else.
`--split NAME` accepts a packaged list by name (`vggss_144k`, `flickr_test`, ...) as well as a
path, and `dmt-train|dmt-val|dmt-test` for the DMT protocol's splits of a dataset.

DMT (Guo et al. 2023, per its authors' answer on its code repository's tracker) splits each dataset's annotated clips at
random into 4,250 labelled training, 500 validation and 250 test clips; the authors' split was
not released, so these files are this project's, made by `make_dmt_splits` with DMT_SEED and
checked against it by the tests. Flickr-SoundNet has 4,999 annotated clips in the public lists
(flickr_sup_train + flickr_test), so its DMT test split has 249; VGG-SS's 18 clips with invalid
boxes (the 12 corrupt sentinels and 6 zero-area boxes) are left out before splitting, and 140 of
its 5,140 valid clips are in no split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avsl.data.flickr import ANNOTATION_DIR
from avsl.data.formats import ANNOTATION_FILES, detect_format
from avsl.data.layout import read_annotations, read_id_list
from avsl.data.reference import REFERENCE_DIR
from avsl.errors import AvslError

DATASETS = ("flickr", "vggss")
DMT_SIZES = {"train": 4250, "val": 500, "test": 250}
DMT_SEED = 2023  # the DMT paper's year; any fixed seed would do, this one is stated
GT_RULES = {"flickr": "consensus", "vggss": "union"}


@dataclass(frozen=True)
class Benchmark:
    """A named test set: its packaged lists (clips in order) and its dataset."""

    name: str
    lists: tuple[str, ...]
    dataset: str

    @property
    def gt_rule(self) -> str:
        return GT_RULES[self.dataset]

    @property
    def annotation_file(self) -> Path | None:
        """VGG-SS's boxes ship with the package; Flickr's come as the download's XML files."""
        return REFERENCE_DIR / "vggss.json" if self.dataset == "vggss" else None

    def list_paths(self) -> list[Path]:
        return [REFERENCE_DIR / name for name in self.lists]


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("flickr", ("flickr_test.csv",), "flickr"),
        Benchmark("flickr_plus_silent", ("flickr_test.csv", "flickr_test_plus_silent.csv"), "flickr"),
        Benchmark("vggss", ("vggss_test.csv",), "vggss"),
        Benchmark("vggss_heard", ("vggss_heard_test.csv",), "vggss"),
        Benchmark("vggss_unheard", ("vggss_unheard_test.csv",), "vggss"),
        Benchmark("vggss_plus_silent", ("vggss_test.csv", "vggss_test_plus_silent.csv"), "vggss"),
    )
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise AvslError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def packaged_lists() -> dict[str, Path]:
    """Split lists shipped with the package, by name (file name without .txt/.csv/.gz)."""
    found = {}
    for path in sorted(REFERENCE_DIR.iterdir()):
        name = path.name.removesuffix(".gz")
        if name.endswith((".txt", ".csv")):
            found[name.rsplit(".", 1)[0]] = path
    return found


def resolve_split(value: str | Path, dataset: str | None = None) -> Path:
    """A split list from a path, a packaged list's name, or `dmt-train|dmt-val|dmt-test`
    (these need the dataset: flickr or vggss)."""
    text = str(value)
    if text.startswith("dmt-"):
        part = text.removeprefix("dmt-")
        if part not in DMT_SIZES:
            raise AvslError(f"unknown DMT split {text!r}; choose dmt-train, dmt-val or dmt-test")
        if dataset not in DATASETS:
            raise AvslError(f"{text}: say which dataset's DMT split (--benchmark flickr|vggss, or a Flickr layout)")
        return REFERENCE_DIR / f"dmt_{dataset}_{part}.txt"
    path = Path(text)
    if path.exists() or path.suffix or "/" in text:
        return path
    lists = packaged_lists()
    if text in lists:
        return lists[text]
    raise AvslError(f"{text}: no such split list file, and no packaged list of that name ({', '.join(lists)})")


def dmt_split_ids(dataset: str, part: str) -> list[str]:
    return read_id_list(REFERENCE_DIR / f"dmt_{dataset}_{part}.txt").ids


def annotated_ids(dataset: str) -> list[str]:
    """The dataset's annotated clips with usable boxes, sorted: what the DMT splits divide."""
    if dataset == "vggss":
        return sorted(read_annotations(REFERENCE_DIR / "vggss.json", "skip").entries)
    listed = (
        read_id_list(REFERENCE_DIR / "flickr_sup_train.txt").ids + read_id_list(REFERENCE_DIR / "flickr_test.csv").ids
    )
    return sorted(set(listed))


def make_dmt_splits(dataset: str, seed: int = DMT_SEED) -> dict[str, list[str]]:
    """A seeded permutation of `annotated_ids(dataset)` cut into train / val / test (sorted)."""
    ids = annotated_ids(dataset)
    order = np.random.default_rng(seed).permutation(len(ids))
    splits, start = {}, 0
    for part, size in DMT_SIZES.items():
        splits[part] = sorted(ids[i] for i in order[start : start + size])
        start += size
    return splits


@dataclass(frozen=True)
class TestSet:
    """What an evaluation scores: its lists (empty: every frame), boxes and gt rule."""

    name: str
    lists: tuple[Path, ...]
    annotation_file: Path | None
    gt_rule: str | None  # None: the layout's

    def describe(self, listed: int) -> str:
        return f"{self.name} ({listed:,} clips listed)"


def choose_test_set(
    data: Path,
    benchmark: str | None = None,
    split: str | None = None,
    annotations: Path | None = None,
    format: str = "auto",
) -> TestSet:
    """The clips, boxes and rule of an evaluation from --benchmark / --split / --annotations.

    A benchmark supplies its packaged list (unless --split names another), its gt rule, and
    VGG-SS's packaged boxes when the folder has none of its own.
    """
    chosen = get_benchmark(benchmark) if benchmark else None
    dataset = chosen.dataset if chosen else ("flickr" if _is_flickr(data, format) else "vggss")
    if split:
        lists = (resolve_split(split, dataset),)
        name = str(split)
    elif chosen:
        lists = tuple(chosen.list_paths())
        name = f"{chosen.name}: {' + '.join(chosen.lists)}"
    else:
        lists, name = (), "every frame in the folder"
    box_file = annotations
    if box_file is None and chosen is not None and not has_own_boxes(data):
        box_file = chosen.annotation_file
    return TestSet(name, lists, box_file, chosen.gt_rule if chosen else None)


def _is_flickr(data: Path, format: str) -> bool:
    return (detect_format(data) if format == "auto" else format) == "flickr"


def has_own_boxes(data: Path) -> bool:
    """Whether the folder holds boxes of its own (an annotation file, or Flickr's XML folder)."""
    return any((data / name).exists() for name in (*ANNOTATION_FILES, ANNOTATION_DIR))
