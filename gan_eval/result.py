"""What a workflow returns: the result documents, their schema tags, and the one provenance builder.

Light on purpose (no torch import at module level): ``gate`` and ``baseline`` read result documents
and must start in well under a second.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gan_eval import __version__
from gan_eval.files import write_text_atomic

#: Version of the result JSON document (``gan-eval evaluate --json``, audit ``summary.json``); gates refuse other schemas.
RESULT_SCHEMA = "gan-eval/result/1"
COMPARE_SCHEMA = "gan-eval/compare/1"
SWEEP_SCHEMA = "gan-eval/sweep/1"
AUDIT_SCHEMA = "gan-eval/audit/1"

#: Keys of a side's metadata that reach the provenance.
PUBLIC_SIDE_KEYS = ("source", "kind", "n", "cache", "content_sha256", "conversions", "skipped_files", "extract_seconds")


def versions() -> dict[str, str]:
    """Versions of gan-eval, torch, torch-fidelity and Python (torch only if it is already loaded or installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    torch = sys.modules.get("torch")
    return {"gan_eval": __version__, "torch": torch.__version__ if torch else installed("torch"),
            "torch_fidelity": installed("torch-fidelity"), "python": platform.python_version()}


def public_side_meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a side's metadata that goes into provenance."""
    if meta is None:
        return None
    return {k: meta[k] for k in PUBLIC_SIDE_KEYS if k in meta}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_provenance(*, extractor: Any = None, gen_set: Any = None, real_set: Any = None, seed: int | None = None,
                     started: float | None = None, warnings: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The one provenance builder: extractor identity, device, seed, sides, versions, time.

    ``extractor`` is a :class:`~gan_eval.extractors.FeatureExtractor` (its ``describe()``, device and weights
    origin are recorded); ``gen_set``/``real_set`` are feature sets (``n`` and ``meta``) that fill
    ``n_gen``, ``n_real``, ``gen`` and ``real``. ``extra`` keys
    are added as they are (workflow-specific fields).
    """
    import time

    doc: dict[str, Any] = {}
    if extractor is not None:
        doc.update(extractor.describe())
        doc["official_weights"] = getattr(extractor, "official_weights", None)
        doc["device"] = str(extractor.device)
    if seed is not None:
        doc["seed"] = seed
    from gan_eval.distributed import world_size

    doc["world_size"] = world_size()  # processes that shared the work (torchrun); the numbers do not depend on it
    if gen_set is not None or real_set is not None:
        doc["n_gen"] = gen_set.n if gen_set is not None else None
        doc["n_real"] = real_set.n if real_set is not None else None
        doc["gen"] = public_side_meta(gen_set.meta) if gen_set is not None else None
        doc["real"] = public_side_meta(real_set.meta) if real_set is not None else None
    doc.update(extra)
    doc["versions"] = versions()
    doc["created"] = now()
    if started is not None:
        doc["wall_time_s"] = round(time.perf_counter() - started, 3)
    if warnings is not None:
        doc["warnings"] = list(warnings)
    return doc


@dataclass
class EvaluationResult:
    """Metric values (``result["fid"]``), their intervals, provenance and per-metric details.

    ``ci`` maps a metric key to ``[lo, hi]`` at ``ci_level`` (empty unless intervals were asked for).
    """

    metrics: dict[str, float]
    provenance: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ci: dict[str, list[float]] = field(default_factory=dict)
    ci_info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def merge(self, other: EvaluationResult, provenance_key: str) -> EvaluationResult:
        """Add ``other``'s metrics and intervals to this result; its provenance goes under ``provenance_key``."""
        self.metrics.update(other.metrics)
        self.ci.update(other.ci)
        self.ci_info = {**other.ci_info, **self.ci_info}
        self.provenance[provenance_key] = other.provenance.get(provenance_key, other.provenance)
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)
        return self

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": RESULT_SCHEMA, "metrics": dict(self.metrics)}
        if self.ci:
            doc["ci"] = {k: list(v) for k, v in self.ci.items()}
            doc["ci_info"] = dict(self.ci_info)
        doc["provenance"] = self.provenance
        return doc

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The JSON document; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, sort_keys=False) + "\n"
        if path is not None:
            write_text_atomic(path, text)
        return text
