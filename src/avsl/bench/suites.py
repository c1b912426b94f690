"""The benchmark suites behind one interface: speed (medians over repeats, on a named machine)
and the hostile-input suite. The results tables and studies are `avsl.experiments`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from avsl.bench import (
    dmt_suite,
    localize_suite,
    metrics_suite,
    peer_suite,
    precision_suite,
    prepare_suite,
    robustness_suite,
    synth_suite,
    train_suite,
)


@dataclass(frozen=True)
class Suite:
    """`run()` returns the suite's JSON; a suite `on_device` is called with `device=` (the CPU
    by default, cuda[:N] for the papers' sizes)."""

    run: Callable[..., dict]
    on_device: bool = False


SUITES = {
    "metrics": Suite(metrics_suite.run),
    "synth": Suite(synth_suite.run),
    "train": Suite(train_suite.run, on_device=True),
    "dmt": Suite(dmt_suite.run, on_device=True),
    "precision": Suite(precision_suite.run),
    "robustness": Suite(robustness_suite.run),
    "prepare": Suite(prepare_suite.run),
    "localize": Suite(localize_suite.run, on_device=True),
    "peer": Suite(peer_suite.run),
}
