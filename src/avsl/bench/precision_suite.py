"""bf16 autocast against fp32 on the synthetic benchmark: the same training runs in both
precisions over several seeds, so the gap between precisions can be read against the spread
between seeds: bf16 is worth its speed only if its validation metrics stay within that noise."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from avsl.config import load_config
from avsl.configs import config_path
from avsl.data.synth.writer import ensure_benchmark
from avsl.engine.trainer import train

PRESET = "demo"
METHOD = ("method=supervised", "labeled_fraction=1.0")


def run(work_dir: Path = Path("runs/precision"), seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data_root = work_dir / "data"
    ensure_benchmark(data_root, PRESET)
    rows = []
    for precision in ("fp32", "bf16"):
        for seed in seeds:
            config = load_config(config_path(PRESET), [*METHOD, f"precision={precision}", f"seed={seed}"])
            started = time.perf_counter()
            result = train(config, data_root / "train", data_root / "val", work_dir / precision / f"seed{seed}",
                           device, progress=False)  # fmt: skip
            final = result.final["model"]
            rows.append({"precision": precision, "seed": seed, "best_val_ap50": result.best["ap50"],
                         "val_ap50": final["ap50"], "val_ciou_mean": final["ciou_mean"],
                         "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
    summary = {}
    for precision in ("fp32", "bf16"):
        mine = [r for r in rows if r["precision"] == precision]
        for key in ("val_ap50", "val_ciou_mean"):
            values = [r[key] for r in mine]
            summary[f"{precision}_{key}_mean"] = round(statistics.mean(values), 4)
            summary[f"{precision}_{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else None
        summary[f"{precision}_minutes_per_run"] = round(statistics.mean(r["seconds"] for r in mine) / 60, 2)
    return {"preset": PRESET, "method": " ".join(METHOD), "rows": rows, "summary": summary}
