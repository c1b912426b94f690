"""The reports a person opens: OUT/report.html of one evaluation (`avsl eval`), and a page that
puts several evaluations side by side (`avsl report A B ... -o compare.html`).

One evaluation's page holds AP50 under the three binarisation rules with each rule's cap on
this test list, the per-size table, how the model was trained and what it was scored on, links
to metrics.json and per_clip.csv, the success-rate curve, and the best, median and worst clips
(and the most confident silent clips, where the list has some). Every number it shows carries
metrics.json's exact value (`data-value`). The comparison page holds one table, one success
curve per evaluation, and the same clips drawn for each: those on which they differ most.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from avsl.constants import AUC_THRESHOLDS, SIZE_BUCKETS
from avsl.errors import AvslError
from avsl.evaluation import report_html as h
from avsl.evaluation.comparison import Entry, compare
from avsl.evaluation.evaluate import EvalResult
from avsl.evaluation.records import METRICS_FILE, PER_CLIP_FILE, REPORT_FILE, RULES, Evaluation
from avsl.evaluation.report_clips import ClipView, clip_grid, view_clips
from avsl.files import atomic_write
from avsl.ops.overlay import Layout

SHOWN_PER_GROUP = 3
COMPARED_CLIPS = 4  # clips drawn for every evaluation on the comparison page
RULE_NAMES = {
    "median": "median (EZ-VSL, SLAVC: the papers' cIoU@0.5)",
    "adaptive": "adaptive (the object's own size)",
    "fixed": "fixed 0.5 (SSPL)",
}
LEGEND = (
    "Heatmaps are min-max normalised; the turbo-coloured region outlined in white is the prediction "
    "(the map at or above 0.5), magenta boxes are the ground truth. The cap of a rule is the score of "
    "the ground-truth boxes' own map under it: no map scores higher on this test list."
)
# Views of clips for one evaluation, by id (None: its model or data cannot be had again)
Viewer = Callable[[Evaluation, Sequence[str]], dict[str, ClipView]]


def success_curve(cious: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and the fraction of clips at or above each (its area is the protocol's AUC)."""
    thresholds = np.array(AUC_THRESHOLDS)
    fractions = np.array([(cious >= t).mean() for t in thresholds]) if len(cious) else np.zeros(len(thresholds))
    return thresholds, fractions


def write_report(
    out: Path,
    metrics: dict,
    result: EvalResult,
    dataset,
    predictor,
    device,
    layout: Layout = "overlay",
) -> Path:
    """Write OUT/report.html of one evaluation (its metrics.json and per_clip.csv beside it)."""
    evaluation = Evaluation.from_result(str(metrics.get("data", out)), metrics, result, out)
    cious = evaluation.cious[evaluation.rule]
    order = np.argsort(-cious, kind="stable")
    middle = len(order) // 2
    groups = {
        "best": order[:SHOWN_PER_GROUP],
        "median": order[max(middle - SHOWN_PER_GROUP // 2, 0) :][:SHOWN_PER_GROUP],
        "worst": order[::-1][:SHOWN_PER_GROUP],
    }
    chosen = {group: [evaluation.ids[i] for i in indices] for group, indices in groups.items()}
    silent = result.silent_clips()[:SHOWN_PER_GROUP]
    views = view_clips(dataset, predictor, device, [i for ids in chosen.values() for i in ids] + [i for i, _ in silent])
    rows = [
        [(f"{group}: {i[:24]}\ncIoU {cious[index]:.2f}", views.get(i)) for i, index in zip(ids, groups[group], strict=True)]
        for group, ids in chosen.items()
    ]  # fmt: skip
    if silent:
        rows.append([(f"silent: {i[:24]}\nconfidence {score:.2f}", views.get(i)) for i, score in silent])
    pictures = _grid(rows, layout)
    examples = "<h2>Best, median and worst clips" + (", and the most confident silent ones" if silent else "")
    sections = [
        _run_table([evaluation], out),
        "<h2>AP50 under each rule</h2>" + _rules_table(evaluation),
        "<h2>By object size</h2>" + _size_table(evaluation),
        _false_positive_table([evaluation]),
        "<h2>Success rate</h2>" + _curves([evaluation]),
        f"{examples}</h2>{pictures}" if pictures else "",
        f'<p class="note">{h.escape(LEGEND)}</p>',
    ]
    path = out / REPORT_FILE
    text = h.page(f"avsl evaluation: {evaluation.name}", sections)
    atomic_write(path, lambda stream: stream.write(text.encode()))
    return path


def write_comparison(path: Path, evaluations: Sequence[Evaluation], viewer: Viewer, layout: Layout = "overlay") -> Path:
    """Write a page comparing `evaluations` (their rule: the first one's)."""
    rule = evaluations[0].rule
    lists = {str(e.metrics.get("test_list")) for e in evaluations}
    warning = (
        f'<p class="note"><b>These evaluations were scored on different test lists</b> ({h.escape(", ".join(sorted(lists)))}): '
        "their numbers are not comparable.</p>"
        if len(lists) > 1
        else ""
    )
    shown = _most_different(evaluations, rule)
    pictures = ""
    if shown:
        views = [viewer(evaluation, shown) for evaluation in evaluations]
        labels = short_names([evaluation.name for evaluation in evaluations])
        rows = []
        for clip_id in shown:
            row = []
            for evaluation, label, found in zip(evaluations, labels, views, strict=True):
                value = evaluation.cious[rule][evaluation.position(clip_id)]
                row.append((f"{label}\n{clip_id[:24]}: cIoU {value:.2f}", found.get(clip_id)))
            rows.append(row)
        pictures = _grid(rows, layout)
    sections = [
        warning,
        _comparison_table(evaluations, rule),
        "" if warning else _intervals(evaluations),
        f"<h2>By object size ({h.escape(rule)} rule)</h2>" + _size_comparison(evaluations, rule),
        _false_positive_table(evaluations),
        f"<h2>Success rate ({h.escape(rule)} rule)</h2>" + _curves(evaluations, rule),
        _run_table(evaluations, path.parent),
        f"<h2>The clips on which they differ most</h2>{pictures}" if pictures else "",
        f'<p class="note">{h.escape(LEGEND)}</p>',
    ]
    text = h.page(f"avsl: {len(evaluations)} evaluations compared", sections)
    atomic_write(path, lambda stream: stream.write(text.encode()))
    return path


def short_names(names: Sequence[str]) -> list[str]:
    """Each path's last parts, as few as keep them apart ("runs/dmt/test" -> "dmt/test")."""
    parts = [Path(name).parts for name in names]
    for count in range(1, max(map(len, parts)) + 1):
        shortened = ["/".join(p[-count:]) for p in parts]
        if len(set(shortened)) == len(shortened):
            return shortened
    return list(names)


def _rules_table(evaluation: Evaluation) -> str:
    metrics, rows = evaluation.metrics, []
    for rule in RULES:
        scores, cap = metrics["by_threshold"][rule], metrics.get("cap", {}).get(rule, {})
        rows.append([
            RULE_NAMES[rule] + (" (reported on top)" if rule == evaluation.rule else ""),
            h.number(scores["ap50"], f"by_threshold.{rule}.ap50", "percent"),
            h.number(scores["ciou_mean"], f"by_threshold.{rule}.ciou_mean", "score"),
            h.number(scores["auc"], f"by_threshold.{rule}.auc", "score"),
            h.number(scores["n"], f"by_threshold.{rule}.n"),
            h.number(cap.get("ap50"), f"cap.{rule}.ap50", "percent"),
            h.number(cap.get("ciou_mean"), f"cap.{rule}.ciou_mean", "score"),
        ])  # fmt: skip
    header = ["rule", "AP50 (%)", "mean cIoU", "AUC", "clips", "cap: AP50 (%)", "cap: mean cIoU"]
    return h.table(header, rows)


def _size_table(evaluation: Evaluation) -> str:
    by_rule = evaluation.metrics["by_threshold"]
    rows = []
    for bucket, _ in SIZE_BUCKETS:
        cells = [h.number(by_rule["median"]["ciou_by_size"][bucket]["n"], f"ciou_by_size.{bucket}.n")]
        for field, kind in (("ap50", "percent"), ("ciou_mean", "score")):
            for rule in RULES:
                key = f"by_threshold.{rule}.ciou_by_size.{bucket}.{field}"
                cells.append(h.number(by_rule[rule]["ciou_by_size"][bucket][field], key, kind))
        rows.append([bucket, *cells])
    header = ["size (SLAVC bucket)", "clips"]
    header += [f"AP50 {rule} (%)" for rule in RULES] + [f"mean cIoU {rule}" for rule in RULES]
    return h.table(header, rows, "box area: small < 32², medium < 96², large < 144² px of 224²")


def _comparison_table(evaluations: Sequence[Evaluation], rule: str) -> str:
    rows = []
    for index, evaluation in enumerate(evaluations):
        by_rule = evaluation.metrics["by_threshold"]
        rows.append([
            evaluation.name,
            h.number(by_rule[rule]["n"], f"{index}.n"),
            *[h.number(by_rule[r]["ap50"], f"{index}.by_threshold.{r}.ap50", "percent") for r in RULES],
            h.number(by_rule[rule]["ciou_mean"], f"{index}.by_threshold.{rule}.ciou_mean", "score"),
            h.number(by_rule[rule]["auc"], f"{index}.by_threshold.{rule}.auc", "score"),
        ])  # fmt: skip
    caps = [e.metrics.get("cap") for e in evaluations]
    if caps[0] and len({str(e.metrics.get("test_list")) for e in evaluations}) == 1:
        rows.append([
            "cap (the boxes' own map)", h.number(None),
            *[h.number(caps[0][r]["ap50"], f"cap.{r}.ap50", "percent") for r in RULES],
            h.number(caps[0][rule]["ciou_mean"], f"cap.{rule}.ciou_mean", "score"), h.number(None),
        ])  # fmt: skip
    header = ["evaluation", "clips", *[f"AP50 {r} (%)" for r in RULES], f"mean cIoU ({rule})", f"AUC ({rule})"]
    return h.table(header, rows)


def _intervals(evaluations: Sequence[Evaluation]) -> str:
    """Each evaluation against the first: the difference and its paired-bootstrap interval."""
    if len(evaluations) < 2:
        return ""
    try:
        result = compare([Entry(e.name, [e]) for e in evaluations])
    except AvslError as err:  # one list by name, other clips scored (a clip skipped in one run)
        return f'<p class="note">No intervals: {h.escape(err)}</p>'
    parts = [f"<h2>How sure the differences are</h2><p class=\"note\">Against {h.escape(result['pairs'][0]['a'])}: "
             f"paired bootstrap over the {result['clips']} clips ({result['draws']:,} draws, seed {result['seed']}), "
             f"{result['level']:.0%} intervals, in points of %.</p>"]  # fmt: skip
    for index, pair in enumerate(result["pairs"], start=1):
        rows = []
        for d in pair["differences"]:
            key = f"{index}.difference.{d['metric']}.{d['rule']}"
            rows.append([f"{d['metric']} ({d['rule']})", h.number(d["a"], "", "percent"),
                         h.number(d["b"], "", "percent"), h.number(d["difference"], f"{key}.value", "percent"),
                         h.number(d["low"], f"{key}.low", "percent"), h.number(d["high"], f"{key}.high", "percent"),
                         h.text(d["verdict"])])  # fmt: skip
        header = ["", "A", "B", "B - A", "interval from", "to", "verdict"]
        parts.append(h.table(header, rows, f"B = {pair['b']}: {pair['summary']}"))
    return "".join(parts)


def _size_comparison(evaluations: Sequence[Evaluation], rule: str) -> str:
    rows = []
    for bucket, _ in SIZE_BUCKETS:
        cells = []
        for index, evaluation in enumerate(evaluations):
            row = evaluation.metrics["by_threshold"][rule]["ciou_by_size"][bucket]
            key = f"{index}.by_threshold.{rule}.ciou_by_size.{bucket}"
            cells += [h.number(row["n"], f"{key}.n"), h.number(row["ap50"], f"{key}.ap50", "percent"),
                      h.number(row["ciou_mean"], f"{key}.ciou_mean", "score")]  # fmt: skip
        rows.append([bucket, *cells])
    header = ["size"] + [f"{e.name[-20:]}: {c}" for e in evaluations for c in ("clips", "AP50 (%)", "mean cIoU")]
    return h.table(header, rows)


def _false_positive_table(evaluations: Sequence[Evaluation]) -> str:
    """Sounding against silent clips (SLAVC's false-positive scores), where a list has silent ones."""
    found = [e.metrics.get("false_positive") for e in evaluations]
    if not any(found):
        return ""
    fields = (("n_sounding", "sounding clips", "plain"), ("n_silent", "silent clips", "plain"),
              ("ap", "AP: sounding ranked above silent by confidence", "percent"),
              ("max_f1", "max F1", "percent"), ("max_f1_threshold", "confidence at max F1", "score"),
              ("pia", "pIA: share of a silent clip's frame above it (lower is better)", "score"),
              ("confidence_sounding", "mean confidence, sounding", "score"),
              ("confidence_silent", "mean confidence, silent", "score"))  # fmt: skip
    rows = []
    for key, label, kind in fields:
        prefix = "" if len(evaluations) == 1 else "{}."
        rows.append([label, *[h.number((fp or {}).get(key), f"{prefix.format(i)}false_positive.{key}", kind)
                              for i, fp in enumerate(found)]])  # fmt: skip
    return "<h2>Silent clips: is the sound on screen?</h2>" + h.table(["", *[e.name for e in evaluations]], rows)


def _run_table(evaluations: Sequence[Evaluation], page_dir: Path) -> str:
    """What was scored, with what, and where its files are."""
    rows = []
    model_fields = (("method", "method"), ("localizer", "localizer"), ("step", "step"), ("epochs", "epochs"),
                    ("labeled_fraction", "labelled fraction"), ("seed", "seed"), ("checkpoint", "checkpoint"),
                    ("network", "network"), ("ogl", "object-guided (OGL) weights"),
                    ("training_precision", "trained in"), ("precision", "scored in"))  # fmt: skip
    models = [e.metrics.get("model") or {"predictor": e.metrics.get("predictor")} for e in evaluations]
    rows.append(["predictor", *[h.text(m.get("predictor")) for m in models]])
    for key, label in model_fields:
        if any(key in m for m in models):
            rows.append([label, *[h.text(m.get(key)) for m in models]])
    for key, label in (("data", "data"), ("test_list", "test list"), ("gt_rule", "ground truth rule"),
                       ("threshold", "rule reported on top")):  # fmt: skip
        rows.append([label, *[h.text(e.metrics.get(key)) for e in evaluations]])
    for key, label in (("skipped", "clips skipped (unreadable)"), ("unannotated", "clips without boxes")):
        prefix = "" if len(evaluations) == 1 else "{}."
        counts = [(e.metrics.get(key) or {}).get("count") for e in evaluations]
        rows.append([label, *[h.number(c, f"{prefix.format(i)}{key}.count") for i, c in enumerate(counts)]])
    rows.append(["files", *[_links(e, page_dir) for e in evaluations]])
    return "<h2>What was scored</h2>" + h.table(["", *[e.name for e in evaluations]], rows)


def _links(evaluation: Evaluation, page_dir: Path) -> str:
    if evaluation.folder is None:
        return h.text(None)
    names = [METRICS_FILE, PER_CLIP_FILE] + ([REPORT_FILE] if page_dir != evaluation.folder else [])
    targets = [os.path.relpath(evaluation.folder / name, page_dir) for name in names]
    links = " · ".join(f'<a href="{h.escape(t)}">{h.escape(n)}</a>' for n, t in zip(names, targets, strict=True))
    return f'<td class="text">{links}</td>'


def _curves(evaluations: Sequence[Evaluation], rule: str | None = None) -> str:
    figure, axis = h.pyplot().subplots(figsize=(6.4, 3.8))
    for evaluation in evaluations:
        chosen = rule or evaluation.rule
        thresholds, fractions = success_curve(evaluation.cious[chosen])
        area = evaluation.metrics["by_threshold"][chosen]["auc"]
        axis.plot(thresholds, fractions, marker="o", markersize=3, label=f"{evaluation.name[-40:]} (AUC {area:.3f})")
    axis.set(xlabel="cIoU threshold", ylabel="fraction of clips at or above", ylim=(0, 1.02))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return h.png(figure, "success rate: the fraction of clips whose cIoU reaches each threshold")


def _grid(rows, layout: Layout) -> str:
    """The clips' picture; its alt text names each panel (for screen readers and scripts)."""
    if not any(view is not None for row in rows for _, view in row):
        return ""
    names = " | ".join(title.replace("\n", " ") for row in rows for title, view in row if view is not None)
    return h.png(clip_grid(rows, layout), names)


def _most_different(evaluations: Sequence[Evaluation], rule: str) -> list[str]:
    """The clips every evaluation scored, those whose cIoU differs most between them first."""
    common = set(evaluations[0].ids).intersection(*(e.ids for e in evaluations[1:]))
    if not common:
        return []
    ordered = sorted(common)
    values = np.stack([e.cious[rule][[e.position(i) for i in ordered]] for e in evaluations])
    spread = values.max(0) - values.min(0)
    order = np.argsort(-spread, kind="stable")[:COMPARED_CLIPS]
    return [ordered[i] for i in order]
