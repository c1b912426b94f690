"""How sure a difference between evaluations is: a paired bootstrap over clips, and over seeds.

Every reported metric is a mean over clips of a per-clip score: AP50 of `cIoU >= 0.5`, mean
cIoU of cIoU itself, and AUC (the trapezoid area under the success curve) of each clip's share
of that area. So a resample of clips is a weighting of the per-clip scores, and one draw's
metric for every run, rule and metric is one matrix product.

Each draw resamples the clips once, with the same draw for every run (the pairing: a hard clip
is hard for all of them), and, for a run given as several seeds, resamples its seeds too (the
hierarchical bootstrap: seeds, then clips). The interval is the 2.5th to 97.5th percentile of the
draws' differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsl.constants import AUC_THRESHOLDS

METRICS = ("ap50", "ciou_mean", "auc")
RULES = ("median", "adaptive", "fixed")
DRAWS = 10_000
LEVEL = 0.95
_CHUNK = 250  # draws per matrix product: bounded memory for any number of clips


def clip_scores(cious: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric as a per-clip score whose mean over clips is the metric."""
    cious = np.asarray(cious, dtype=np.float64)
    thresholds = np.asarray(AUC_THRESHOLDS)
    reached = (cious[:, None] >= thresholds[None, :]).astype(np.float64)  # (N, 21)
    area = ((reached[:, 1:] + reached[:, :-1]) / 2 * np.diff(thresholds)).sum(1)  # the trapezoid, per clip
    return {"ap50": (cious >= 0.5).astype(np.float64), "ciou_mean": cious, "auc": area}


@dataclass(frozen=True)
class Difference:
    """B minus A on one metric under one rule, with its interval."""

    metric: str
    rule: str
    a: float
    b: float
    difference: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "B higher, interval excludes 0"
        if self.high < 0:
            return "A higher, interval excludes 0"
        return "no difference shown"


def bootstrap(
    runs: Sequence[dict[str, np.ndarray]],
    draws: int = DRAWS,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Each run's metric over `draws` resamples.

    Args:
        runs: per run, per-clip scores by name, each (K seeds, N clips), clips aligned across
            runs (the same clip in the same column).

    Returns:
        per run, each name's (draws,) values, the same resample of clips for every run.
    """
    clips = next(iter(runs[0].values())).shape[1]
    rng = np.random.default_rng(seed)
    columns, where = [], []  # every (run, name, seed) score vector as one column
    for run in runs:
        for scores in run.values():
            where.append((len(columns), scores.shape[0]))
            columns.extend(scores)
    stacked = np.stack(columns, axis=1) / clips  # (N, columns)
    out: list[dict[str, list[np.ndarray]]] = [{name: [] for name in run} for run in runs]
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        picked = rng.integers(0, clips, (size, clips))
        counts = np.bincount((picked + clips * np.arange(size)[:, None]).ravel(), minlength=size * clips)
        means = counts.reshape(size, clips).astype(np.float64) @ stacked  # (size, columns)
        position = iter(where)
        for run, found in zip(runs, out, strict=True):
            seed_count = next(iter(run.values())).shape[0]
            seeds = rng.integers(0, seed_count, (size, seed_count))  # each draw's seeds, with replacement
            for name in run:
                first, count = next(position)
                per_seed = means[:, first : first + count]  # (size, K)
                found[name].append(np.take_along_axis(per_seed, seeds, axis=1).mean(1))
    return [{name: np.concatenate(parts) for name, parts in found.items()} for found in out]


def differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray], draws_a: dict, draws_b: dict) -> list[Difference]:
    """B minus A for every name both hold: the observed difference and its interval."""
    tail = (1 - LEVEL) / 2 * 100
    found = []
    for name in a:
        metric, rule = name.rsplit("/", 1)
        low, high = np.percentile(draws_b[name] - draws_a[name], [tail, 100 - tail])
        observed_a, observed_b = float(a[name].mean()), float(b[name].mean())
        found.append(Difference(metric, rule, observed_a, observed_b, observed_b - observed_a, float(low), float(high)))
    return found


def run_scores(per_seed_cious: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A run's per-clip scores, "metric/rule" -> (K seeds, N clips), from each seed's cIoU by rule."""
    scores: dict[str, list[np.ndarray]] = {}
    for cious in per_seed_cious:
        for rule in RULES:
            for metric, values in clip_scores(cious[rule]).items():
                scores.setdefault(f"{metric}/{rule}", []).append(values)
    return {name: np.stack(rows) for name, rows in scores.items()}
