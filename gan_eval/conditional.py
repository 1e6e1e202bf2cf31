"""Per-class evaluation of conditional generators: intra-class FID and class balance, with intervals.

- **Intra-class FID** (``fid_class_<c>``): samples generated for class c against the real images of
  class c, for every class, with bootstrap intervals; ``fid_class_mean`` is their mean ("intra-FID").
  Real images are grouped by the *classifier's* prediction, so any unlabelled folder works; with the
  bundled digit classifier (98.6 % held-out accuracy) the groups are nearly MNIST's true classes.
- **Conditioning accuracy** (``class_accuracy_<c>``): the share of samples generated for class c that
  the classifier reads as c (Wilson interval).
- **Class balance** (``class_share_<c>``): the classes the classifier reads in samples drawn with
  uniformly random labels (Wilson intervals), and their total-variation distance from uniform
  (``class_balance_tv``, bootstrap interval). Classes never generated count as share 0.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import torch

from gan_eval.api import evaluate
from gan_eval.errors import GanEvalError
from gan_eval.extractors import FeatureExtractor
from gan_eval.intervals import Replicates, basic_interval
from gan_eval.models import num_classes
from gan_eval.options import Options
from gan_eval.pipeline import ProgressLines, progress_lines
from gan_eval.result import EvaluationResult, build_provenance, public_side_meta
from gan_eval.side import Side, open_cache, open_extractor
from gan_eval.sources import SourceOptions, open_generator, sample_batches
from gan_eval.statistics import FeatureSet, FeatureStats

MIN_REAL_PER_CLASS = 50


def _classify(classifier: FeatureExtractor, images: torch.Tensor, batch_size: int) -> np.ndarray:
    predictions = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            logits = classifier(images[start:start + batch_size].to(classifier.device))["logits"]
            predictions.append(logits.argmax(dim=1).cpu())
    return torch.cat(predictions).numpy()


def wilson(successes: int, n: int, level: float) -> list[float]:
    """Wilson score interval of one proportion (the audit's implementation)."""
    from gan_eval.audit.stats import wilson_intervals

    lo, hi = wilson_intervals(np.array([successes]), n, level)
    return [float(lo[0]), float(hi[0])]


class _ConditionalSampler:
    """Draws uint8 images of one class (or with the model's own random labels) from a conditional model.

    Any :class:`gan_eval.models.ConditionalGenerator` qualifies (``num_classes`` and
    ``sample(n, generator, labels=None)``): gan-eval's conditional checkpoints, or your own model
    passed in memory. Sampling is the sources' one loop (:func:`gan_eval.sources.sample_batches`).
    """

    def __init__(self, gen: Any, device: torch.device, trust_pickle: bool) -> None:
        opened = open_generator(gen, SourceOptions(trust_pickle=trust_pickle, device=device))
        self.model = opened.model if opened is not None else None
        self.classes = num_classes(self.model)
        if opened is None or self.classes < 2:
            raise GanEvalError(f"{gen} is not a conditional generator (per-class metrics need a model with classes)")
        self.description = opened.description

    def sample(self, n: int, seed: int, label: int | None, batch_size: int,
               lines: ProgressLines | None = None) -> torch.Tensor:
        batches = []
        for batch in sample_batches(self.model, n, batch_size, seed, label=label, description=self.description):
            batches.append(batch)
            if lines is not None:
                lines.update(batch.shape[0])
        return torch.cat(batches)


def _warn_few_real(real_counts: dict[int, int]) -> None:
    """One warning for all classes with no FID (< 2 real images) and one for all with few (< 50), not one per class."""
    def listed(classes: list[int]) -> str:
        return ", ".join(f"{c} ({real_counts[c]})" for c in classes)

    none = [c for c, n in real_counts.items() if n < 2]
    few = [c for c, n in real_counts.items() if 2 <= n < MIN_REAL_PER_CLASS]
    if none:
        warnings.warn(f"class(es) {listed(none)}: the classifier finds fewer than 2 real images (count in "
                      f"brackets); no intra-class FID")
    if few:
        warnings.warn(f"class(es) {listed(few)}: fewer than {MIN_REAL_PER_CLASS} real images (count in brackets); "
                      f"their intra-class FIDs and intervals are unreliable")


def per_class(
    gen: Any,
    real: Any,
    options: Options | None = None,
    *,
    classifier: str | FeatureExtractor = "digits",
    num_per_class: int = 500,
    **shared: Any,
) -> EvaluationResult:
    """Intra-class FID, conditioning accuracy and class balance of a conditional checkpoint ``gen``.

    ``classifier`` is an extractor with class logits, one per class of ``gen`` (the bundled
    ``digits`` network for MNIST-like models). Returns an :class:`EvaluationResult` whose metrics and
    intervals can be gated like any other run. Intervals are at ``options.ci`` (default 0.95: per-class
    results always carry them) with ``options.bootstrap`` resamples.
    """
    opts, rest = Options.split(options, dict(shared))
    if rest:
        raise TypeError(f"per_class() got unexpected keyword argument(s): {', '.join(sorted(rest))}")
    opts = opts if opts.ci is not None else opts.but(ci=0.95)
    level, bootstrap, seed, batch_size = opts.ci, opts.bootstrap, opts.seed, opts.batch_size
    started = time.perf_counter()
    if num_per_class < 10:
        raise GanEvalError(f"--per-class-samples must be at least 10, got {num_per_class}")
    fe = open_extractor(opts)
    sampler = _ConditionalSampler(gen, fe.device, opts.trust_pickle)
    classes = sampler.classes
    clf = fe if isinstance(classifier, str) and classifier == fe.name else \
        open_extractor(opts.but(extractor=classifier, weights=None, device=fe.device))
    if not clf.has_logits:
        raise GanEvalError(f"classifier {clf.name!r} gives no class logits")
    cache = open_cache(opts)
    real_side = Side.open(real, "real", opts.num_real, SourceOptions(skip_bad_files=opts.skip_bad_files))
    reference = real_side.features(fe, need_features=True, cache=cache, options=opts)
    real_logits = reference.logits if clf is fe else real_side.features(clf, need_features=True, cache=cache,
                                                                        options=opts).logits
    if real_logits.shape[1] != classes:
        raise GanEvalError(f"classifier {clf.name!r} has {real_logits.shape[1]} classes but {gen} has {classes}")
    real_pred = real_logits.argmax(dim=1).cpu()
    # per class, then as many again with random labels for the balance: a log gets a line every 10 s
    lines = progress_lines(2 * classes * num_per_class, f"per-class: {sampler.description}", opts.progress)

    metrics: dict[str, float] = {}
    ci: dict[str, list[float]] = {}
    real_counts = {c: int((real_pred == c).sum()) for c in range(classes)}
    _warn_few_real(real_counts)
    bias_dominated: list[int] = []
    for c in range(classes):
        mask = real_pred == c
        if real_counts[c] < 2:
            if lines is not None:
                lines.update(num_per_class)
            continue
        features = reference.features[mask.to(reference.features.device)]
        ref_c = FeatureSet(FeatureStats.from_features(features), features, None,
                           {**reference.meta, "source": f"{reference.meta.get('source')} (class {c})", "n": int(mask.sum())})
        images = sampler.sample(num_per_class, seed + c, c, batch_size, lines)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = evaluate(images, ref_c, "fid", opts.but(extractor=fe, cache=False, progress=False, num_samples=None,
                                                             num_real=None))
        if any("finite-sample bias" in str(w.message) for w in caught):
            bias_dominated.append(c)
        metrics[f"fid_class_{c}"] = result["fid"]
        ci[f"fid_class_{c}"] = result.ci["fid"]
        hits = int((_classify(clf, images, batch_size) == c).sum())
        metrics[f"class_accuracy_{c}"] = hits / num_per_class
        ci[f"class_accuracy_{c}"] = wilson(hits, num_per_class, level)
    if bias_dominated:
        warnings.warn(f"intra-class FID of class(es) {', '.join(map(str, bias_dominated))} is dominated by its "
                      f"finite-sample bias at {num_per_class} samples per class; compare only at equal sample counts "
                      f"or raise --per-class-samples")
    fids = [v for k, v in metrics.items() if k.startswith("fid_class_")]
    if fids:
        metrics["fid_class_mean"] = float(np.mean(fids))
        ci["fid_class_mean"] = [float(np.mean([ci[f"fid_class_{c}"][i] for c in range(classes) if f"fid_class_{c}" in ci]))
                                for i in (0, 1)]

    total = num_per_class * classes
    mixed = sampler.sample(total, seed + classes, None, batch_size, lines)
    counts = np.bincount(_classify(clf, mixed, batch_size), minlength=classes)
    for c in range(classes):
        metrics[f"class_share_{c}"] = counts[c] / total
        ci[f"class_share_{c}"] = wilson(int(counts[c]), total, level)
    uniform = np.full(classes, 1.0 / classes)
    shares = counts / total
    tv = 0.5 * float(np.abs(shares - uniform).sum())
    draws = np.random.default_rng(seed).multinomial(total, shares, size=bootstrap) / total
    reps = Replicates(0.5 * np.abs(draws - uniform).sum(axis=1), tv)
    metrics["class_balance_tv"] = tv
    ci["class_balance_tv"] = [max(0.0, b) for b in basic_interval(tv, reps, level)]

    provenance = build_provenance(
        extractor=fe, classifier=clf.name, classifier_weights_sha256=clf.weights_sha256, seed=seed,
        n_gen=total * 2, n_real=reference.n, gen=sampler.description,
        per_class={"classes": classes, "samples_per_class": num_per_class, "real_per_class": real_counts,
                   "real_grouped_by": f"{clf.name} predictions", "balance_samples": total, "classifier": clf.name},
        real=public_side_meta(reference.meta), started=started)
    info = {"level": level, "replicates": bootstrap, "seed": seed, "method": "bootstrap (FID, TV); Wilson (shares)"}
    if not math.isfinite(tv):
        raise GanEvalError("class balance could not be computed")
    return EvaluationResult(metrics, provenance, {}, [], ci, info)


def evaluate_with_classes(gen: Any, real: Any, metrics: Any = ("fid",), options: Options | None = None, *,
                          classifier: str | FeatureExtractor = "digits", num_per_class: int = 500,
                          **kwargs: Any) -> EvaluationResult:
    """:func:`gan_eval.evaluate` and :func:`per_class` with the same options, merged into one result.

    What ``gan-eval evaluate --per-class`` runs. The per-class metrics and intervals join the
    evaluation's (``fid_class_<c>``, ``class_accuracy_<c>``, ``class_share_<c>``, ``class_balance_tv``);
    the per-class provenance (classes, samples and real images per class, the classifier) goes under
    ``provenance["per_class"]``; where both set an interval setting, the evaluation's wins. ``kwargs``
    are ``evaluate``'s own keywords (``metric_options``, ``truncation``, ``source``...) or shared
    options (``seed=1``).
    """
    opts, rest = Options.split(options, dict(kwargs))
    result = evaluate(gen, real, metrics, opts, **rest)
    classes = per_class(gen, real, opts, classifier=classifier, num_per_class=num_per_class)
    return result.merge(classes, "per_class")
