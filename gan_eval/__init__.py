"""gan-eval: evaluation and bias auditing for generative image models.

>>> import gan_eval
>>> result = gan_eval.evaluate(gen="samples/", real="builtin:mnist", metrics=["fid", "pr"], extractor="digits")
>>> result["fid"], result.provenance["n_gen"]
"""

__version__ = "0.1.0"

from gan_eval import audit  # callable module: gan_eval.audit(gen, real, ...) -> AuditResult
from gan_eval.api import EvaluationResult, compute_statistics, evaluate, sample_images  # noqa: E402
from gan_eval.errors import GanEvalError  # noqa: E402

__all__ = ["EvaluationResult", "GanEvalError", "audit", "compute_statistics", "evaluate", "sample_images", "__version__"]
