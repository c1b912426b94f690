"""Imports follow the layering of ARCHITECTURE.md: lower layers never import higher ones, and the
siblings data / models / losses / metrics do not import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "avsl"
RANK = {
    "types": 0, "constants": 0, "errors": 0, "files": 0, "configs": 0, "progress": 0, "__init__": 0,
    "downloads": 0, "zoo": 0, "precision": 0,
    "ops": 1, "config": 1,
    "data": 2, "models": 2, "losses": 2, "metrics": 2,
    "semi": 3, "checkpoint": 3,
    "methods": 4, "run": 4,
    "inference": 5, "evaluation": 5,
    "engine": 6,
    "bench": 7, "experiments": 7, "api": 7,
    "app": 8,
    "cli": 9,
}  # fmt: skip


def layer_of(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_imports_respect_layers():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        own = layer_of(".".join(relative.parts))
        assert own in RANK, f"{path}: layer {own!r} has no rank in the layering test"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("avsl."):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("avsl.")]
            else:
                continue
            for target in targets:
                other = layer_of(target)
                if other == own or (own == "__init__" and target == "avsl.api"):  # the public API, lazily
                    continue
                if RANK[other] > RANK[own] or (RANK[other] == RANK[own] and RANK[own] > 0):
                    problems.append(f"{relative}: imports {target} ({other} is not below {own})")
    assert not problems, "\n".join(problems)
