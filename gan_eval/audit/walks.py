"""Latent-walk covariance audit: move latent codes along a target attribute, watch every attribute.

The GANs course (C2W2 "Bias") pushes a batch of latent codes up and down the gradient of one
classifier logit, records every logit's change from its own start, pools the (step, image) rows and
ranks the other attributes by their covariance with the target's change. This module keeps that
ranking (:func:`top_covariances` reproduces the course's function) and fixes what the notes list:

* **fresh gradients each step** (the course's leaf ``z.grad`` accumulated, so its walk accelerated);
  each image follows its *own* unit-norm gradient (the course's batch-mean objective scaled each
  image's step by 1/batch), so every image moves the same latent distance per step;
* **uncertainty**: covariance, correlation and slope (Δother per Δtarget; ranking by |covariance|
  equals ranking by |slope|) each get a cluster-bootstrap interval that resamples whole
  trajectories (the 2·steps rows of one image are strongly dependent), simultaneous over the other
  attributes, plus Benjamini–Hochberg-adjusted p-values;
* **boundary mode** for non-differentiable attributes (InterFaceGAN / Ramaswamy et al.): label
  generated latents by the attribute being above its median, fit a linear SVM in latent space, and
  walk along the unit normal, re-scoring every attribute at each step;
* changes are in the attributes' own units (logits for classifiers, pixels for morphometry), and
  the rows of unmoved starting points (all zero) are not pooled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gan_eval.attributes.base import AttributeSet
from gan_eval.audit.stats import (
    bh_adjust,
    multinomial_weights,
    normal_interval,
    normal_p_value,
)
from gan_eval.errors import GanEvalError
from gan_eval.models import draw_labels, generator_name, has_latents
from gan_eval.sources import to_uint8


def top_covariances(changes: np.ndarray, target_index: int, top_n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The course's ``get_top_covariances``: pooled covariance of changes, target row, top |cov|.

    ``changes`` is ``steps × images × attributes``; returns (indices, signed covariances) of the
    ``top_n`` other attributes sorted by absolute covariance, the target itself excluded.
    """
    flat = changes.reshape(-1, changes.shape[-1])
    row = np.cov(flat, rowvar=False)[target_index]
    order = [int(i) for i in np.argsort(-np.abs(row), kind="stable") if i != target_index][:top_n]
    return np.array(order, dtype=np.int64), row[order]


@dataclass
class LatentModel:
    """What walks need from a generator: seeded latents (+ fixed condition) and a differentiable decoder."""

    draw: Callable[[int, torch.Generator], tuple[torch.Tensor, Any]]
    decode: Callable[[torch.Tensor, Any], torch.Tensor]
    output_range: tuple[float, float]
    description: str = ""


def latent_model(model: Any) -> LatentModel | None:
    """Adapt a :class:`gan_eval.models.LatentGenerator` (``latents(n, generator)`` and ``decode(z)``;
    gan-eval checkpoints, or your own object) for walks; None when the model exposes no latents.

    A conditional model's classes are drawn once with the latents (its fixed class, or uniformly from
    the same generator) and held fixed along the walk: ``decode(z, labels=...)``.
    """
    if not has_latents(model):
        return None

    def draw(n: int, rng: torch.Generator) -> tuple[torch.Tensor, Any]:
        z = model.latents(n, rng)
        return z, draw_labels(model, n, rng)

    def decode(z: torch.Tensor, cond: Any) -> torch.Tensor:
        return model.decode(z) if cond is None else model.decode(z, labels=cond)

    return LatentModel(draw, decode, tuple(getattr(model, "output_range", (0.0, 1.0))), generator_name(model))


@dataclass
class Walk:
    """One target's walk: per-other-attribute rows plus what the report draws."""

    target: str
    mode: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    changes: np.ndarray | None = None  # (2·steps) × images × scores, change from each image's start
    strip: torch.Tensor | None = None  # uint8 strips × (2·steps+1) × C × H × W, from −steps to +steps
    info: dict[str, Any] = field(default_factory=dict)


def _to01(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    x = ((x.float() - lo) / (hi - lo)).clamp(0.0, 1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x[:, :3]


def _measure(attrs: AttributeSet, x01: torch.Tensor) -> np.ndarray:
    # Walk steps are scored on the quantised uint8 image, exactly as the representation section sees images.
    return attrs.measure(to_uint8(x01.detach().cpu(), (0.0, 1.0)))


def run_walk(model: LatentModel, attrs: AttributeSet, target: str, *, mode: str = "auto", n_images: int = 64,
             steps: int = 8, step_size: float = 0.25, n_fit: int = 1000, bootstrap: int = 200, level: float = 0.95,
             seed: int = 0, n_strip: int = 4, progress: bool | None = None) -> Walk:
    """Walk ``n_images`` latent codes ``steps`` steps each way along ``target`` and summarise.

    ``progress``: as for feature extraction (in a log, a line every 10 s; False: none).
    """
    from gan_eval.pipeline import progress_lines

    names = attrs.score_names
    if target not in names:
        raise GanEvalError(f"walk target {target!r} is not a score; available: {', '.join(names)}")
    t_idx = names.index(target)
    extractor = attrs.extractor_of(target)
    if mode == "auto":
        mode = "gradient" if extractor.differentiable else "boundary"
    if mode == "gradient" and not extractor.differentiable:
        raise GanEvalError(f"{target!r} comes from {extractor.name}, which is not differentiable: use boundary mode")
    rng = torch.Generator().manual_seed(seed)
    z0, cond = model.draw(n_images, rng)
    z0 = z0.float()
    info: dict[str, Any] = {"n_images": n_images, "steps": steps, "step_size": step_size}
    if mode == "boundary":
        direction, fit_info = _fit_boundary(model, attrs, t_idx, n_fit, rng, seed)
        info.update(fit_info)
    scores = np.empty((2, steps + 1, n_images, len(names)))
    frames = np.empty((2, steps + 1, min(n_strip, n_images)), dtype=object)
    t_local = extractor.score_names.index(target)
    lines = progress_lines(2 * (steps + 1) * n_images, f"audit: walk along {target}", progress)
    for d, sign in enumerate((1.0, -1.0)):
        z = z0.clone()
        for k in range(steps + 1):
            if mode == "gradient":
                with torch.enable_grad():
                    z.requires_grad_(True)
                    x01 = _to01(model.decode(z, cond), model.output_range)
                    scores[d, k] = _measure(attrs, x01)
                    if k < steps:
                        objective = extractor.score_images(x01)[:, t_local].sum()
                        (grad,) = torch.autograd.grad(objective, z)
                        grad = grad / (grad.flatten(1).norm(dim=1).view(-1, *[1] * (grad.dim() - 1)) + 1e-12)
                        z = (z.detach() + sign * step_size * grad).detach()
            else:
                zk = z0 + sign * k * step_size * direction
                with torch.no_grad():
                    x01 = _to01(model.decode(zk, cond), model.output_range)
                scores[d, k] = _measure(attrs, x01)
            strip_imgs = to_uint8(x01.detach().cpu()[: frames.shape[2]], (0.0, 1.0))
            for s in range(frames.shape[2]):
                frames[d, k, s] = strip_imgs[s]
            if lines is not None:
                lines.update(n_images)
    changes = (scores[:, 1:] - scores[:, :1]).reshape(2 * steps, n_images, len(names))
    info["target_change_plus"] = float((scores[0, -1, :, t_idx] - scores[0, 0, :, t_idx]).mean())
    info["target_change_minus"] = float((scores[1, -1, :, t_idx] - scores[1, 0, :, t_idx]).mean())
    # strip: −steps … 0 … +steps
    order = [(1, k) for k in range(steps, 0, -1)] + [(0, k) for k in range(steps + 1)]
    strip = torch.stack([torch.stack([frames[d, k, s] for d, k in order]) for s in range(frames.shape[2])])
    walk = Walk(target=target, mode=mode, changes=changes, strip=strip, info=info)
    walk.rows = _summarise(changes, t_idx, names, attrs, mode, info, bootstrap, level, np.random.default_rng(seed))
    return walk


def _fit_boundary(model: LatentModel, attrs: AttributeSet, t_idx: int, n_fit: int, rng: torch.Generator,
                  seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
    from sklearn.svm import LinearSVC

    z, cond = model.draw(n_fit, rng)
    with torch.no_grad():
        x01 = _to01(model.decode(z.float(), cond), model.output_range)
    y = _measure(attrs, x01)[:, t_idx]
    labels = (y > np.median(y)).astype(np.int64)
    if labels.min() == labels.max():
        raise GanEvalError(f"boundary mode: the target {attrs.score_names[t_idx]!r} does not vary over {n_fit} samples")
    zf = z.reshape(n_fit, -1).double().numpy()
    cut = int(0.8 * n_fit)
    svm = LinearSVC(C=1.0, max_iter=10000, random_state=seed).fit(zf[:cut], labels[:cut])
    acc = float(svm.score(zf[cut:], labels[cut:]))
    w = svm.coef_[0]
    w = w / np.linalg.norm(w)
    return torch.from_numpy(w).float().reshape(z.shape[1:]), {"svm_val_accuracy": acc, "n_fit": n_fit}


def _summarise(changes: np.ndarray, t_idx: int, names: list[str], attrs: AttributeSet, mode: str,
               info: dict[str, Any], bootstrap: int, level: float, rng: np.random.Generator) -> list[dict[str, Any]]:
    m, n, d = changes.shape
    x = changes[:, :, t_idx]  # m × n
    y = changes  # m × n × d
    sx, sxx = x.sum(0), (x * x).sum(0)
    sy, syy, sxy = y.sum(0), (y * y).sum(0), (x[:, :, None] * y).sum(0)

    def moments(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        big_n = w.sum(1) * m
        bx, bxx = w @ sx, w @ sxx
        by, byy, bxy = w @ sy, w @ syy, w @ sxy
        cov = (bxy - bx[:, None] * by / big_n[:, None]) / (big_n[:, None] - 1)
        varx = (bxx - bx**2 / big_n) / (big_n - 1)
        vary = (byy - by**2 / big_n[:, None]) / (big_n[:, None] - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.sqrt(varx[:, None] * vary)
            slope = cov / varx[:, None]
        return cov, corr, slope

    cov, corr, slope = (a[0] for a in moments(np.ones((1, n))))
    b_cov, b_corr, b_slope = moments(multinomial_weights(n, bootstrap, rng))
    others = [j for j in range(d) if j != t_idx]
    fam = len(others)
    cov_lo, cov_hi = normal_interval(cov, b_cov, level, family=fam)
    corr_lo, corr_hi = normal_interval(corr, b_corr, level, family=fam, lo_clip=-1, hi_clip=1)
    slope_lo, slope_hi = normal_interval(slope, b_slope, level, family=fam)
    p_adj = np.full(d, np.nan)
    p_adj[others] = bh_adjust(normal_p_value(slope[others], b_slope[:, others]))
    ranked = sorted(others, key=lambda j: -abs(cov[j]) if np.isfinite(cov[j]) else 0.0)
    target_group = attrs.score_group(names[t_idx])
    rows = []
    for rank, j in enumerate(ranked, start=1):
        rows.append({
            "target": names[t_idx], "other": names[j], "mode": mode,
            "same_attribute": attrs.score_group(names[j]) == target_group, "n_images": n, "n_steps": m // 2,
            "step_size": info["step_size"], "cov": cov[j], "cov_lo": cov_lo[j], "cov_hi": cov_hi[j],
            "corr": corr[j], "corr_lo": corr_lo[j], "corr_hi": corr_hi[j], "slope": slope[j],
            "slope_lo": slope_lo[j], "slope_hi": slope_hi[j], "p_value_adj": p_adj[j], "rank": rank,
        })
    return rows
