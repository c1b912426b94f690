"""`avsl compare`: evaluations of one test list against the first, each difference with its
paired-bootstrap interval and a verdict. A compared entry may hold several seeds of one method
(their evaluations are resampled too: see `bootstrap`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from avsl.errors import AvslError
from avsl.evaluation.bootstrap import DRAWS, LEVEL, RULES, Difference, bootstrap, differences, run_scores
from avsl.evaluation.records import Evaluation

SEED_DEPTH = 2  # a method's folder holds its seeds' evaluations this deep at most (seed0/test)


@dataclass
class Entry:
    """One compared method: its name and its seeds' evaluations (one or more)."""

    name: str
    evaluations: list[Evaluation]


def compare(entries: Sequence[Entry], draws: int = DRAWS, seed: int = 0) -> dict:
    """Every entry against the first: per metric and rule, B - A with its interval and verdict."""
    if len(entries) < 2:
        raise AvslError("compare needs at least two evaluations")
    clips = _common_clips(entries)
    scores = [run_scores([_aligned(e, clips) for e in entry.evaluations]) for entry in entries]
    drawn = bootstrap(scores, draws, seed)
    pairs = []
    for index in range(1, len(entries)):
        found = differences(scores[0], scores[index], drawn[0], drawn[index])
        pairs.append({"a": entries[0].name, "b": entries[index].name, "summary": _summary(found),
                      "differences": [{**asdict(d), "verdict": d.verdict} for d in found]})  # fmt: skip
    first = entries[0].evaluations[0].metrics
    return {
        "test_list": first.get("test_list"), "clips": len(clips), "draws": draws, "seed": seed, "level": LEVEL,
        "runs": [{"name": e.name, "seeds": len(e.evaluations), "folders": [str(v.folder) for v in e.evaluations]}
                 for e in entries],
        "pairs": pairs,
    }  # fmt: skip


def markdown(result: dict) -> str:
    """The comparison as a Markdown table (values in %, as the papers write them) and verdicts."""
    percent = f"{result['level']:.0%}"
    lines = [f"Test list: {result['test_list']} ({result['clips']} clips); paired bootstrap, {result['draws']:,} "
             f"draws (seed {result['seed']}), {percent} intervals; values in %.", ""]  # fmt: skip
    for pair in result["pairs"]:
        lines += [f"**B = {pair['b']} against A = {pair['a']}**: {pair['summary']}", "",
                  "| metric | rule | A | B | B - A | interval | verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for d in pair["differences"]:
            lines.append(f"| {d['metric']} | {d['rule']} | {100 * d['a']:.1f} | {100 * d['b']:.1f} | "
                         f"{100 * d['difference']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | "
                         f"{d['verdict']} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def _summary(found: list[Difference]) -> str:
    higher = [f"{d.metric} ({d.rule})" for d in found if d.low > 0]
    lower = [f"{d.metric} ({d.rule})" for d in found if d.high < 0]
    if not higher and not lower:
        return f"no difference shown on any of the {len(found)} metrics"
    parts = []
    if higher:
        parts.append(f"B higher on {', '.join(higher)}")
    if lower:
        parts.append(f"A higher on {', '.join(lower)}")
    return (
        "; ".join(parts)
        + f" (intervals exclude 0); no difference shown on the other {len(found) - len(higher) - len(lower)}"
    )


def _common_clips(entries: Sequence[Entry]) -> list[str]:
    """The clips every evaluation scored; AvslError when they were not scored on one test list."""
    evaluations = [e for entry in entries for e in entry.evaluations]
    lists = {str(e.metrics.get("test_list")) for e in evaluations}
    reference = set(evaluations[0].ids)
    for evaluation in evaluations[1:]:
        if len(lists) > 1 or set(evaluation.ids) != reference:
            raise AvslError(f"{evaluation.name}: scored on another test list than {evaluations[0].name} "
                            f"({len(evaluation.ids)} clips against {len(reference)}: "
                            f"{' / '.join(sorted(lists))}); compare evaluations of the same clips")  # fmt: skip
    if not reference:
        raise AvslError(f"{evaluations[0].name}: no scored clip to compare")
    return evaluations[0].ids


def _aligned(evaluation: Evaluation, clips: list[str]) -> dict[str, np.ndarray]:
    order = [evaluation.position(clip_id) for clip_id in clips]
    return {rule: evaluation.cious[rule][order] for rule in RULES}
