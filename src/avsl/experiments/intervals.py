"""How sure a results table's differences are: each row against the table's reference row, on
the adaptive and fixed rules, with the paired (and, over several seeds, hierarchical) bootstrap
of `avsl compare`. A row whose runs kept no per-clip scores (measured before they were kept)
gets no interval."""

from __future__ import annotations

from pathlib import Path

from avsl.evaluation.comparison import Entry, compare
from avsl.evaluation.records import METRICS_FILE, read_evaluation

RULES = ("adaptive", "fixed")  # the rules the object's size does not cap (the median one is capped)


def reference_intervals(rows: list[dict], reference: str) -> dict[tuple, dict[str, dict]]:
    """(row name, labelled fraction) -> rule -> AP50's difference from the reference row of the
    same fraction (row - reference) with its interval and verdict. A row of a fraction the
    reference has no run at (self-supervised, all boxes) is held against the reference's first."""
    groups: dict[tuple, list[Path]] = {}
    for row in rows:
        folder = row.get("eval")
        if folder and (Path(folder) / METRICS_FILE).exists():
            groups.setdefault((row["name"], row["labeled_fraction"]), []).append(Path(folder))
    main = next((fraction for name, fraction in groups if name == reference), None)
    found: dict[tuple, dict[str, dict]] = {}
    for (name, fraction), folders in groups.items():
        base = groups.get((reference, fraction), groups.get((reference, main)))
        if name == reference or base is None:
            continue
        entries = [
            Entry(reference, [read_evaluation(f) for f in base]),
            Entry(name, [read_evaluation(f) for f in folders]),
        ]
        differences = compare(entries)["pairs"][0]["differences"]
        found[(name, fraction)] = {d["rule"]: d for d in differences if d["metric"] == "ap50" and d["rule"] in RULES}
    return found


def interval_cell(difference: dict | None) -> str:
    """`+1.2 [-0.3, +2.6]` in points of %, the verdict's direction marked with `*`."""
    if difference is None:
        return ""
    mark = "*" if difference["low"] > 0 or difference["high"] < 0 else ""
    return (f"{100 * difference['difference']:+.1f} [{100 * difference['low']:+.1f}, "
            f"{100 * difference['high']:+.1f}]{mark}")  # fmt: skip
