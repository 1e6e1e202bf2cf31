"""``gan-eval demo``: the bundled generators against held-out MNIST, offline, in one table.

Each bundled checkpoint (``builtin:NAME``) and an untrained DCGAN (the floor every trained model
must beat) is evaluated with the digits extractor against ``builtin:mnist-heldout``; the real side is
extracted once (cache). Writes ``results.json`` (one entry per generator), one ``NAME.json`` each in
the ``evaluate --json`` schema, and a 8×8 sample grid per generator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from gan_eval.generators.plugin import bundled_generators
from gan_eval.reports.images import image_grid, save_png

import gan_eval
from gan_eval.files import write_text_atomic
from gan_eval.sources import GeneratorSource

METRICS = ["fid", "is", "kid", "pr", "dc"]
COLUMNS = [("fid", "FID"), ("is_mean", "IS"), ("kid_mean", "KID"), ("precision", "Prec"), ("recall", "Rec"),
           ("density", "Dens"), ("coverage", "Cov")]


def untrained_dcgan(seed: int = 0) -> GeneratorSource:
    """A DCGAN at the bundled width with freshly initialised weights: the no-training baseline."""
    from gan_eval.generators.model import GeneratorHandle
    from gan_eval.generators.registry import get_arch

    spec = get_arch("dcgan")
    torch.manual_seed(seed)
    module = spec.build({"hidden_dim": 32})
    return GeneratorSource(GeneratorHandle(module, spec, {"hidden_dim": 32}), "dcgan (untrained, seed 0)")


def format_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"{'generator':<{width}}  " + "  ".join(f"{label:>8}" for _, label in COLUMNS)]
    lines.append("-" * len(lines[0]))
    for name, metrics in rows:
        cells = []
        for key, _ in COLUMNS:
            value = metrics.get(key)
            cells.append(f"{value:>8.4f}" if value is not None and abs(value) >= 1e-3 or value == 0 else f"{value:>8.1e}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def run_demo(output: str | Path, num_samples: int = 2000, progress: bool | None = None,
             seed: int = 2020) -> tuple[str, Path]:
    """Evaluate every bundled generator; returns the printed table and the output folder."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    candidates: list[tuple[str, Any]] = [(name, f"builtin:{name}") for name in bundled_generators()]
    candidates.append(("untrained-dcgan", untrained_dcgan()))
    rows: list[tuple[str, dict[str, float]]] = []
    summary: dict[str, Any] = {}
    for name, spec in candidates:
        result = gan_eval.evaluate(spec, "builtin:mnist-heldout", METRICS, extractor="digits", device="cpu",
                                   num_samples=num_samples, seed=seed, progress=progress)
        rows.append((name, result.metrics))
        summary[name] = result.to_dict()
        result.to_json(folder / f"{name}.json")
        grid = gan_eval.sample_images(spec, 64, seed=0)
        save_png(image_grid(grid, nrow=8), folder / f"{name}.png")
    write_text_atomic(folder / "results.json", json.dumps(summary, indent=2) + "\n")
    return format_table(rows), folder
