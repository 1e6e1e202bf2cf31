"""The metric record: everything gan-eval knows about one metric, in one frozen object.

Each metric module (``fid.py``, ``kid.py``, ...) defines its :class:`MetricSpec` next to its math:
the JSON keys it writes (:class:`MetricKey`: direction, range, display labels), what it needs from a
side (statistics, features, logits, paired images), its options (:class:`MetricOption`), the
convention text stated in results, how it is resampled for bootstrap intervals, whether it carries
its own interval, and whether paired comparison supports it. Tables, intervals, gate defaults, sweep,
compare and the reports all read the records, so adding a metric means one module and one
registration line (:mod:`gan_eval.metrics`).

Light on purpose: stdlib only, so listing and reading records never imports torch.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, make_dataclass, replace
from typing import TYPE_CHECKING, Any

from gan_eval.options import DEFAULT_SEED

if TYPE_CHECKING:
    import numpy as np
    import torch

    from gan_eval.statistics import FeatureSet

#: What a metric may need from the sides: ``statistics`` (mean and covariance only), ``features``
#: (the raw features of both sides), ``logits`` (classifier logits of the generated side), ``paired``
#: (the i-th generated image next to the i-th real one; see :mod:`gan_eval.metrics.paired`), ``latent``
#: (the generator itself, sampled in its latent space: PPL; ``MetricContext.model``).
NEEDS = ("statistics", "features", "logits", "paired", "latent")


@dataclass
class Replicates:
    """Replicates of one metric key (one per row of a :class:`Resample`) and the full-sample statistic.

    ``centre`` is the full-sample statistic (NaN when the resampler leaves it to the caller, who
    knows the point estimate). ``extra_variance`` is variance the replicates cannot see and the
    interval adds (KID: the spread of its random subsets given the data). ``half_sample_groups`` is
    None for delete-a-group jackknife replicates; otherwise (the k-NN metrics) ``values`` are that
    many jackknife replicates followed by complementary half-samples of the same groups in pairs
    (a₀, b₀, a₁, b₁, …), and the interval takes the larger variance
    (:func:`gan_eval.metrics.resampling.replicate_variance`).
    """

    values: np.ndarray  # (G,) or (G + 2H,)
    centre: float
    extra_variance: float = 0.0
    half_sample_groups: int | None = None


@dataclass
class Resample:
    """Weights for each side (``G × n``, float64 on the features' device): 0/1 rows of the delete-a-group
    jackknife (a bootstrap's counts work too); None holds a side fixed."""

    gen: torch.Tensor | None
    real: torch.Tensor | None


#: The placeholder of a key family (``fid_class_{}``: one key per class).
PLACEHOLDER = "{}"


@dataclass(frozen=True)
class MetricKey:
    """One JSON key a metric writes, or a family of keys (``fid_class_{}``) that a workflow writes.

    ``direction``: +1 when higher is better, -1 when lower is better, None for values that are not
    a quality score (spreads, shares): gates and comparisons judge only directed keys. ``range``: the
    values the metric can take; bootstrap interval ends are clipped to it. ``label``: the terminal
    table's text; ``short``: a narrow column's (sweep table; the key itself when empty). In a family,
    ``{}`` in ``label`` is replaced by the part of the key the placeholder stands for.
    """

    key: str
    label: str
    direction: int | None = None
    range: tuple[float, float] = (-math.inf, math.inf)
    short: str = ""

    def __post_init__(self) -> None:
        if self.direction not in (1, -1, None):
            raise ValueError(f"direction of {self.key!r} must be +1, -1 or None, got {self.direction!r}")
        if not self.range[0] <= self.range[1]:
            raise ValueError(f"range of {self.key!r} is empty: {self.range}")
        if self.key.count(PLACEHOLDER) > 1:
            raise ValueError(f"key family {self.key!r} may hold one {PLACEHOLDER!r} at most")

    @property
    def is_family(self) -> bool:
        return PLACEHOLDER in self.key

    def match(self, key: str) -> str | None:
        """The part ``{}`` stands for when ``key`` belongs to this family ("" for an exact key), else None."""
        if not self.is_family:
            return "" if key == self.key else None
        head, _, tail = self.key.partition(PLACEHOLDER)
        found = re.fullmatch(re.escape(head) + "(.+)" + re.escape(tail), key)
        return found.group(1) if found else None

    def label_for(self, key: str) -> str:
        """The display label of ``key`` (one of this record's keys)."""
        part = self.match(key)
        return self.label.replace(PLACEHOLDER, part) if part else self.label

    def short_for(self, key: str) -> str:
        """The narrow-column label of ``key`` (the key itself when the record gives none)."""
        part = self.match(key)
        return (self.short.replace(PLACEHOLDER, part) if part else self.short) if self.short else key


@dataclass(frozen=True)
class MetricOption:
    """A metric-specific knob: its name (a field of ``MetricOptions``), default and meaning.

    ``follows_ci``: the option is an interval level that takes the run's ``--ci`` when one is given
    (FID∞/IS∞ report their fit's interval at that level).
    """

    name: str
    default: Any
    help: str = ""
    follows_ci: bool = False


@dataclass
class MetricContext:
    """What a metric reads: both sides' feature sets, the options, and where to leave details.

    ``paired`` holds the paired-image accumulator (``update(generated, real)``, ``compute()``) when
    the run compares translated images with their targets, else None. ``model`` is the generator
    object (``latents``/``decode``, see :mod:`gan_eval.models`) for metrics that need ``latent``.
    """

    gen: FeatureSet
    real: FeatureSet | None
    options: Any  # a gan_eval.metrics.MetricOptions
    details: dict[str, Any] = field(default_factory=dict)
    paired: Any = None
    model: Any = None


Compute = Callable[[MetricContext], dict[str, float]]
#: Replicates of a metric's keys, one per weight row of both sides (see :mod:`gan_eval.intervals`).
Resampler = Callable[[MetricContext, "Resample"], dict[str, "Replicates"]]
#: ``({key: [lo, hi]}, level)`` for a metric that gives its own interval (FID∞/IS∞: from the fit).
OwnInterval = Callable[[MetricContext], tuple[dict[str, list[float]], float]]
#: A hook that looks at a metric's replicates and intervals (FID warns when its bias dominates).
IntervalCheck = Callable[[MetricContext, dict[str, "Replicates"], dict[str, list[float]]], None]


@dataclass(frozen=True)
class MetricSpec:
    """One metric's record. See the module docstring; the fields in order of use:

    ``name`` (what ``--metrics`` accepts), ``keys`` (its JSON keys, in output order), ``compute``
    (values from a :class:`MetricContext`; None for a record that only describes keys a workflow
    writes, such as the per-class family), ``needs`` (a subset of :data:`NEEDS`), ``needs_real``,
    ``options``, ``aliases`` (other names users may write for the first key: ``is`` -> ``is_mean``),
    ``convention`` (stated in results), ``resample`` (bootstrap replicates; None: no bootstrap
    interval), ``interval_note`` (how the interval is made, for ``ci_info``: a text or a function of
    the context), ``own_interval`` (intervals the metric computes itself), ``check_interval`` and
    ``comparable`` (paired comparison supports it; default: when it can be resampled).
    """

    name: str
    keys: tuple[MetricKey, ...]
    compute: Compute | None = None
    needs: tuple[str, ...] = ("statistics",)
    needs_real: bool = True
    options: tuple[MetricOption, ...] = ()
    aliases: tuple[str, ...] = ()
    convention: str = ""
    resample: Resampler | None = None
    interval_note: str | Callable[[MetricContext], str] = ""
    own_interval: OwnInterval | None = None
    check_interval: IntervalCheck | None = None
    comparable: bool | None = None

    def __post_init__(self) -> None:
        if not self.keys or not all(isinstance(k, MetricKey) for k in self.keys):
            raise ValueError(f"metric {self.name!r}: keys must be a non-empty tuple of MetricKey")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown needs {sorted(unknown)}; known: {', '.join(NEEDS)}")
        if self.compute is not None and any(k.is_family for k in self.keys):
            raise ValueError(f"metric {self.name!r}: a computed metric names its keys exactly (no {PLACEHOLDER!r})")
        if self.comparable is None:
            object.__setattr__(self, "comparable", self.resample is not None)
        elif self.comparable and self.resample is None:
            raise ValueError(f"metric {self.name!r}: paired comparison needs a resampler")

    # -- what it needs ---------------------------------------------------------------------------
    @property
    def needs_features(self) -> bool:
        """Raw features (not only moments) on both sides."""
        return "features" in self.needs

    @property
    def needs_logits(self) -> bool:
        """Classifier logits on the generated side."""
        return "logits" in self.needs

    @property
    def needs_latent(self) -> bool:
        """The generator itself (its latent space), not images: PPL."""
        return "latent" in self.needs

    @property
    def needs_paired(self) -> bool:
        """Generated images paired with their targets (image-to-image models)."""
        return "paired" in self.needs

    # -- its keys --------------------------------------------------------------------------------
    @property
    def key_names(self) -> tuple[str, ...]:
        """The JSON keys (or key-family patterns), in output order."""
        return tuple(k.key for k in self.keys)

    def find_key(self, key: str) -> MetricKey | None:
        """The :class:`MetricKey` describing ``key`` (exact keys before families), else None."""
        exact = [k for k in self.keys if not k.is_family and k.key == key]
        if exact:
            return exact[0]
        return next((k for k in self.keys if k.is_family and k.match(key) is not None), None)

    def describe_interval(self, ctx: MetricContext) -> str:
        """How this metric's interval is made (``ci_info["resampled"]``)."""
        return self.interval_note(ctx) if callable(self.interval_note) else self.interval_note


class MetricOptionsBase:
    """Methods of ``MetricOptions`` (a dataclass built from the records' options; see :func:`options_class`)."""

    declared: tuple[MetricOption, ...] = ()

    def for_run(self, seed: int, ci: float | None = None) -> Any:
        """A copy with the run's seed and, when ``ci`` is given, every ``follows_ci`` option at that level."""
        changes: dict[str, Any] = {"seed": seed}
        if ci is not None:
            changes.update({o.name: ci for o in self.declared if o.follows_ci})
        return replace(self, **changes)  # type: ignore[type-var]


def options_class(specs: Iterable[MetricSpec]) -> type:
    """The ``MetricOptions`` dataclass: ``seed`` plus every option the records declare, with its default.

    Keyword-only, mutable (a workflow sets the run's seed). Records may share an option (``tile``:
    KID and the k-NN metrics) when they agree on its default; a record that disagrees (a plug-in) is
    warned about and the first default kept.
    """
    declared: dict[str, tuple[MetricOption, str]] = {}
    for spec in specs:
        for option in spec.options:
            if option.name == "seed":
                raise ValueError(f"metric {spec.name!r}: 'seed' is the run's seed, not a metric option")
            previous = declared.get(option.name)
            if previous is not None and previous[0].default != option.default:
                warnings.warn(f"metric option {option.name!r} has default {previous[0].default!r} in metric "
                              f"{previous[1]!r} but {option.default!r} in {spec.name!r}; "
                              f"keeping {previous[0].default!r}")
            declared.setdefault(option.name, (option, spec.name))
    fields_ = [("seed", int, field(default=DEFAULT_SEED))]
    fields_ += [(o.name, type(o.default), field(default=o.default)) for o, _ in declared.values()]
    cls = make_dataclass("MetricOptions", fields_, bases=(MetricOptionsBase,), kw_only=True)
    cls.__module__ = "gan_eval.metrics"
    cls.__doc__ = ("Metric-specific knobs (built from the metric records' options): "
                   + ", ".join(f"{o.name}={o.default!r} ({o.help})" if o.help else f"{o.name}={o.default!r}"
                               for o, _ in declared.values()) + "; seed: the run's seed.")
    cls.declared = tuple(o for o, _ in declared.values())
    return cls
