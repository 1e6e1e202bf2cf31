"""gan-eval: evaluation and bias auditing for generative image models.

>>> import gan_eval
>>> result = gan_eval.evaluate(gen="samples/", real="builtin:mnist", metrics=["fid", "pr"], extractor="digits")
>>> result["fid"], result.provenance["n_gen"]

The package face costs nothing to import: every name below is loaded on first use (PEP 562), so
``import gan_eval`` and ``gan-eval --help`` import neither torch nor any other heavy library.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from gan_eval.errors import GanEvalError  # noqa: E402  (light: no third-party imports)
from gan_eval.options import Options  # noqa: E402  (light)

#: public name -> module that defines it (a module name alone: the attribute is that module)
_LAZY: dict[str, str] = {
    "EvaluationResult": "gan_eval.result",
    "evaluate": "gan_eval.api",
    "evaluate_features": "gan_eval.api",
    "Evaluator": "gan_eval.evaluator",
    "compute_statistics": "gan_eval.api",
    "extract_reference": "gan_eval.api",
    "sample_images": "gan_eval.api",
    "audit": "",  # callable module gan_eval.audit: gan_eval.audit(gen, real, ...) -> AuditResult
    "compare": "",
    "conditional": "",
    "sweep": "",
    "gate": "",
    "metrics": "",
    "evaluator": "",
    "extractors": "",
    "weights": "",
    "generators": "",  # the repository's generators/ folder, installed as gan_eval.generators
    "reports": "",  # the repository's reports/ folder, installed as gan_eval.reports
}

__all__ = ["EvaluationResult", "GanEvalError", "Options", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gan_eval' has no attribute {name!r}")
    owner = _LAZY[name]
    value = importlib.import_module(f"gan_eval.{name}") if not owner else getattr(importlib.import_module(owner), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
