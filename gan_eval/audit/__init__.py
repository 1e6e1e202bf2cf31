"""Bias and covariance audit of generative image models.

>>> import gan_eval
>>> result = gan_eval.audit("builtin:cgan", "builtin:mnist-heldout", attributes="digits,morphometry")
>>> result.verdict, result.findings[0]["message"]
>>> result.write("audit/")          # report.html, *.csv, summary.json

Sections: representation (:mod:`.representation`), joint structure (:mod:`.joint`), latent walks
(:mod:`.walks`), findings and verdict (:mod:`.verdict`); :mod:`.core` ties them together.
"""

from gan_eval.audit.core import AUDIT_SCHEMA, AuditResult, audit
from gan_eval.audit.verdict import Thresholds
from gan_eval.audit.walks import LatentModel, latent_model, top_covariances

__all__ = ["AUDIT_SCHEMA", "AuditResult", "LatentModel", "Thresholds", "audit", "latent_model", "top_covariances"]


class _CallableModule(__import__("types").ModuleType):
    """``gan_eval.audit(...)`` calls :func:`audit` while ``gan_eval.audit.Thresholds`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return audit(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
