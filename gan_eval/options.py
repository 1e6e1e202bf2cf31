"""The options every workflow shares, and the one table of their defaults and help texts.

:data:`SHARED` is the single place where a shared option's default and its help text live. The
:class:`Options` dataclass takes its defaults from it, every workflow (``evaluate``, ``compare``,
``sweep``, per-class, ``audit``, ``compute_statistics``) takes an ``Options``, and the CLI declares
each shared option once from the same table (``gan_eval.cli``), so ``--seed`` means the same thing with
the same default in every command. Imports nothing heavy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.extractors.resize import RESIZE_MODES

#: torch-fidelity's default seed, so KID subsets and IS splits match it.
DEFAULT_SEED = 2020
DEFAULT_EXTRACTOR = "inception-v3-compat"
DEFAULT_BOOTSTRAP = 200
MIN_BOOTSTRAP = 20


def default_workers() -> int:
    """Image-folder decoding processes by default: one per usable CPU core, at most 4.

    Decoding (PNG/JPEG -> uint8) is cheap next to a forward pass, so a few processes keep even a GPU
    fed; more would mostly cost memory and start-up and compete with the forward pass for the cores
    (torch-fidelity also caps its loader at 4). The cores this process may use (its affinity mask,
    which containers and ``taskset`` set) count, not the machine's.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


@dataclass(frozen=True)
class OptionInfo:
    """One shared option: its default and its help text (CLI and docstrings read both from here)."""

    default: Any
    help: str


#: name -> default and help. The order is the order of ``--help``.
SHARED: dict[str, OptionInfo] = {
    "extractor": OptionInfo(DEFAULT_EXTRACTOR, "Feature extractor (`gan-eval extractors` lists them); `digits` works offline."),
    "weights": OptionInfo(None, "Extractor weights file (else the extractor's variable, $GAN_EVAL_WEIGHTS for Inception, "
                          "see `gan-eval extractors`; torch hub cache; download)."),
    "resize": OptionInfo(RESIZE_MODES[0], "How images are resized to the extractor's input: tf1 (torch-fidelity's "
                         "TF-1 bilinear, as published FIDs) or clean (clean-fid's antialiased PIL bicubic)."),
    "num_samples": OptionInfo(None, "Generated images to use [default: all of a finite source, 10000 from a generator]."),
    "num_real": OptionInfo(None, "Cap on real images [default: all]."),
    "batch_size": OptionInfo(64, "Images per forward pass."),
    "workers": OptionInfo(default_workers(), "Processes decoding image folders ahead of the forward pass (0: in the "
                          "main process; default: the CPU cores, at most 4); results do not depend on it."),
    "device": OptionInfo("auto", "auto (cuda when available, else cpu), cpu or cuda[:N]."),
    "seed": OptionInfo(DEFAULT_SEED, "Seeds generator noise, KID subsets, IS splits and the interval groups."),
    "ci": OptionInfo(None, "Add confidence intervals at this level (e.g. 0.95), from the same features (delete-a-group jackknife; k-NN metrics: the larger of it and half-samples)."),
    "bootstrap": OptionInfo(DEFAULT_BOOTSTRAP, "Resampling work for the intervals: B/10 jackknife groups, at least 10 (seeded by --seed); the default 20 groups give the k-NN metrics balanced half-samples."),
    "cache": OptionInfo(True, "Read and write the reference feature cache (--no-cache: neither)."),
    "cache_dir": OptionInfo(None, "Cache location [default: $GAN_EVAL_CACHE_DIR or ~/.cache/gan-eval]."),
    "skip_bad_files": OptionInfo(False, "Skip unreadable images (their count is reported)."),
    "trust_pickle": OptionInfo(False, "Allow pickle files (they can run code; only for files you trust)."),
    "progress": OptionInfo(None, "Progress bars [default: on a terminal only]; --quiet hides them (and warnings)."),
}


@dataclass(frozen=True)
class Options:
    """Run options shared by every workflow; defaults from :data:`SHARED`.

    ``ci`` is a confidence level (None: no intervals); ``bootstrap`` the resample count for it.
    ``num_samples`` caps the generated side and ``num_real`` the reference (None: all of a finite
    source, 10,000 from a generator). ``progress`` None shows bars on a terminal only. ``workers``
    decode image folders in that many processes (0: this one); it changes speed, never results.
    """

    extractor: Any = SHARED["extractor"].default
    weights: str | None = SHARED["weights"].default
    resize: str = SHARED["resize"].default
    num_samples: int | None = SHARED["num_samples"].default
    num_real: int | None = SHARED["num_real"].default
    batch_size: int = SHARED["batch_size"].default
    workers: int = SHARED["workers"].default
    device: Any = SHARED["device"].default
    seed: int = SHARED["seed"].default
    ci: float | None = SHARED["ci"].default
    bootstrap: int = SHARED["bootstrap"].default
    cache: bool = SHARED["cache"].default
    cache_dir: Any = SHARED["cache_dir"].default
    skip_bad_files: bool = SHARED["skip_bad_files"].default
    trust_pickle: bool = SHARED["trust_pickle"].default
    progress: bool | None = SHARED["progress"].default

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check values once, here, for every workflow (the CLI's types check them earlier too)."""
        if self.ci is not None and not (isinstance(self.ci, (int, float)) and 0.5 <= self.ci < 1):
            raise GanEvalError(f"--ci must be a confidence level between 0.5 and 1 (e.g. 0.95), got {self.ci}")
        if not isinstance(self.bootstrap, int) or self.bootstrap < MIN_BOOTSTRAP:
            raise GanEvalError(f"--bootstrap must be at least {MIN_BOOTSTRAP} resamples, got {self.bootstrap}")
        if self.resize not in RESIZE_MODES:
            raise GanEvalError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise GanEvalError(f"--batch-size must be a positive integer, got {self.batch_size}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 0:
            raise GanEvalError(f"--workers must be 0 or a positive integer, got {self.workers}")
        for name in ("num_samples", "num_real"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise GanEvalError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")

    def but(self, **changes: Any) -> Options:
        """A copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    @classmethod
    def split(cls, options: Options | None, kwargs: dict[str, Any]) -> tuple[Options, dict[str, Any]]:
        """Build Options from ``options`` plus the shared keys in ``kwargs``; return it and the other keys.

        Lets every workflow take both ``options=Options(...)`` and plain keywords (``seed=1``).
        """
        names = {f.name for f in fields(cls)}
        shared = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        base = options if options is not None else cls()
        return (replace(base, **shared) if shared else base), kwargs
