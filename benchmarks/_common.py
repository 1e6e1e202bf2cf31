"""Shared helpers for the benchmark scripts (not part of the package; imported as ``_common``)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gan_eval.testing import write_digits  # noqa: F401  (shared with the test suite)


def machine_info() -> dict[str, str]:
    """CPU count and model, torch / numpy / torch-fidelity versions, date, load average."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        tfi = version("torch-fidelity")
    except Exception:  # noqa: BLE001
        tfi = "unknown"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "numpy": np.__version__,
        "torch_fidelity": tfi,
        "loadavg_1m_at_start": f"{load[0]:.2f}",
    }


def print_machine(info: dict[str, str]) -> None:
    print("Machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print()


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_times(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def random_weights(path: Path, given: str | None = None) -> str:
    """The seeded random-weight InceptionV3 file (official architecture), built unless ``given``."""
    if given:
        return given
    from gan_eval.testing import build_random_inception_weights

    return build_random_inception_weights(path, seed=0)


def isolate_environment(tmp: Path) -> None:
    """No download, no writes into the user's gan-eval cache or torch hub directory."""
    os.environ["GAN_EVAL_OFFLINE"] = "1"
    os.environ["GAN_EVAL_CACHE_DIR"] = str(tmp / "gan-eval-cache")
    os.environ["TORCH_HOME"] = str(tmp / "torch-home")
    os.environ.pop("GAN_EVAL_WEIGHTS", None)
