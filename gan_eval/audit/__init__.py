"""Bias and covariance audit of generative image models.

>>> import gan_eval
>>> result = gan_eval.audit("builtin:cgan", "builtin:mnist-heldout", attributes="digits,morphometry")
>>> result.verdict, result.findings[0]["message"]
>>> write_audit(result, "audit/")   # report.html, *.csv, summary.json (the reports package's audit_html)

Sections: representation (:mod:`.representation`), joint structure (:mod:`.joint`), latent walks
(:mod:`.walks`), findings and verdict (:mod:`.verdict`); :mod:`.core` ties them together. The audit
returns data (:class:`AuditResult`); rendering and files belong to the reports package.
"""

from gan_eval.audit.core import AuditResult, audit
from gan_eval.audit.verdict import Thresholds
from gan_eval.audit.walks import LatentModel, latent_model, top_covariances
from gan_eval.result import AUDIT_SCHEMA

__all__ = ["AUDIT_SCHEMA", "AuditResult", "LatentModel", "Thresholds", "audit", "latent_model", "top_covariances"]


class _CallableModule(__import__("types").ModuleType):
    """``gan_eval.audit(...)`` calls :func:`audit` while ``gan_eval.audit.Thresholds`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return audit(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
