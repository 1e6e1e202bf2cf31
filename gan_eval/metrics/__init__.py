"""The metric registry: one record (:class:`MetricSpec`) per metric, defined in the metric's own module.

Built-ins (``fid``, ``is``, ``kid``, ``pr``, ``dc``, ``fid_inf``, ``is_inf``, ``l1``, ``psnr``,
``ssim``, ``ppl``) are registered by name and imported on first use, and their modules import torch only
inside the functions that compute, so listing names and reading records stay light (``gan-eval
gate`` reads directions without torch). Plug-ins publish a :class:`MetricSpec` (or a ``register()``
function calling :func:`register_metric`) under the entry-point group ``gan_eval.metrics``.

Every consumer reads the records: :func:`compute_metrics` (values), :mod:`gan_eval.intervals`
(bootstrap and own intervals, ranges), :func:`metric_direction` (gates and comparisons),
:func:`metric_label` (reports) and ``MetricOptions`` (the options dataclass, built from the
records' option defaults). Adding a metric is one module defining its record plus one line below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
    options_class,
)
from gan_eval.registry import Registry

__all__ = ["KEY_FAMILIES", "METRICS", "MetricContext", "MetricKey", "MetricOption", "MetricOptions", "MetricSpec",
           "all_records", "available_metrics", "canonical_key", "compute_metrics", "find_key", "get_metrics",
           "metric_direction", "metric_label", "metric_provenance", "metric_short_label", "register_metric",
           "unregister_metric"]


def _check_spec(name: str, spec: Any) -> None:
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"metric {name!r} must be registered as a gan_eval.metrics.MetricSpec, "
                        f"got {type(spec).__name__}")
    if spec.name != name:
        raise ValueError(f"metric record {spec.name!r} is registered under another name, {name!r}")


#: Metrics ``--metrics`` accepts, by name.
METRICS: Registry[MetricSpec] = Registry("metric", group="gan_eval.metrics", validate=_check_spec)
METRICS.register("fid", "gan_eval.metrics.fid:SPEC")
METRICS.register("is", "gan_eval.metrics.inception_score:SPEC")
METRICS.register("kid", "gan_eval.metrics.kid:SPEC")
METRICS.register("pr", "gan_eval.metrics.knn:PR")
METRICS.register("dc", "gan_eval.metrics.knn:DC")
METRICS.register("fid_inf", "gan_eval.metrics.infinity:FID_INF")
METRICS.register("is_inf", "gan_eval.metrics.infinity:IS_INF")
METRICS.register("l1", "gan_eval.metrics.paired:L1")
METRICS.register("psnr", "gan_eval.metrics.paired:PSNR")
METRICS.register("ssim", "gan_eval.metrics.paired:SSIM")
METRICS.register("ppl", "gan_eval.metrics.ppl:SPEC")

#: Records of keys that workflows write rather than ``--metrics`` (``compute`` is None): per-class.
KEY_FAMILIES: Registry[MetricSpec] = Registry("metric key family", validate=_check_spec)
KEY_FAMILIES.register("per_class", "gan_eval.metrics.per_class:SPEC")


def register_metric(spec: MetricSpec, *, replace: bool = False) -> MetricSpec:
    """Add a metric's record (a record without ``compute`` only describes keys a workflow writes).

    Names follow :data:`gan_eval.registry.NAME_RULE` and are unique unless ``replace``.
    """
    _check_spec(spec.name, spec)
    (METRICS if spec.compute is not None else KEY_FAMILIES).register(spec.name, spec, replace=replace)
    return spec


def unregister_metric(name: str) -> None:
    """Remove a record (tests, and plug-ins replacing a built-in)."""
    METRICS.unregister(name)
    KEY_FAMILIES.unregister(name)


def available_metrics() -> list[str]:
    """Names ``--metrics`` accepts: built-ins and installed plug-ins (imports none of them)."""
    return METRICS.names()


def get_metrics(names: Sequence[str] | str) -> list[MetricSpec]:
    """Validate and look up metric names (a list or a comma-separated string), keeping their order."""
    if isinstance(names, str):
        names = [n for n in (part.strip().lower() for part in names.split(",")) if n]
    if not names:
        raise GanEvalError("no metric requested")
    known = METRICS.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        families = [n for n in unknown if n in KEY_FAMILIES]
        hint = f" ({', '.join(families)}: written by `gan-eval per-class`, not by --metrics)" if families else ""
        raise GanEvalError(f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(known)}{hint}")
    return [METRICS.get(n) for n in dict.fromkeys(names)]


def all_records() -> list[MetricSpec]:
    """Every record: the metrics (plug-ins loaded) and the key families."""
    return [spec for _, spec in METRICS.items()] + [spec for _, spec in KEY_FAMILIES.items()]


def compute_metrics(specs: list[MetricSpec], ctx: MetricContext) -> dict[str, float]:
    """Run ``specs`` in order and merge their values (each must write only the keys its record declares)."""
    values: dict[str, float] = {}
    for spec in specs:
        if spec.compute is None:
            raise GanEvalError(f"{spec.name} is not computed by --metrics")
        out = spec.compute(ctx)
        undeclared = [key for key in out if spec.find_key(key) is None]
        if undeclared:
            raise ValueError(f"metric {spec.name!r} wrote keys its record does not declare: {', '.join(undeclared)}")
        values.update(out)
    return values


# --- reading keys -------------------------------------------------------------------------------

def canonical_key(name: str) -> str:
    """The result key for a name a user may write: a record's alias (``is`` -> ``is_mean``), else ``name``."""
    for spec in all_records():
        if name in spec.aliases:
            return spec.keys[0].key
    return name


def find_key(key: str) -> tuple[MetricSpec, MetricKey] | None:
    """The record and :class:`MetricKey` describing a result key (aliases resolved; exact keys before families)."""
    key = canonical_key(key)
    records = all_records()
    for spec in records:
        found = next((k for k in spec.keys if not k.is_family and k.key == key), None)
        if found is not None:
            return spec, found
    for spec in records:
        found = spec.find_key(key)
        if found is not None:
            return spec, found
    return None


def metric_direction(key: str) -> int | None:
    """+1 (higher is better), -1 (lower is better) or None (not a quality score) for a result key.

    Read from the key's record; per-class keys (``fid_class_3``) from their family's. Unknown keys
    and spreads such as ``is_std`` have none.
    """
    found = find_key(key)
    return found[1].direction if found else None


def metric_label(key: str) -> str:
    """The display label of a result key (the key itself when no record describes it)."""
    found = find_key(key)
    return found[1].label_for(canonical_key(key)) if found else key


def metric_short_label(key: str) -> str:
    """The narrow-column label of a result key (the key itself when the record gives none)."""
    found = find_key(key)
    return found[1].short_for(canonical_key(key)) if found else key


def metric_provenance(ctx: MetricContext, values: dict[str, float]) -> dict[str, Any]:
    """``provenance["metric_options"]`` of an evaluation: the conventions its numbers depend on.

    The same keys as ever (gates compare them between run and baseline): every built-in knob, the
    KID subset size actually used, and ``infinity_points`` when FID∞/IS∞ were computed.
    """
    o = ctx.options
    return {
        "is_splits": o.is_splits, "kid_subsets": o.kid_subsets,
        "kid_subset_size": ctx.details.get("kid", {}).get("subset_size", o.kid_subset_size),
        "pr_k": o.pr_k, "pr_inside": "<=", "dc_k": o.dc_k, "dc_inside": "<",
        **({"infinity_points": o.infinity_points} if "fid_inf" in values or "is_inf" in values else {}),
        **({"ppl_epsilon": o.ppl_epsilon, "ppl_space": o.ppl_space, "ppl_sampling": o.ppl_sampling,
            "ppl_crop": o.ppl_crop} if "ppl" in values else {}),
        "covariance_divisor": "N-1",
    }


def __getattr__(name: str) -> Any:
    # ``MetricOptions`` is built from the records' options on first use (importing the records, not torch).
    if name == "MetricOptions":
        cls = options_class(all_records())
        globals()["MetricOptions"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
