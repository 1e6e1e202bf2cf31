"""Perceptual path length (Karras et al., StyleGAN 2019): how fast images change along latent paths.

For each of N pairs of latents ``(z0, z1)`` (and a class, for conditional models) a point ``t`` on
the path between them is taken (``end``: t = 0; ``full``: t ~ U(0, 1)), the two images at ``t`` and
``t + ε`` are generated, and their LPIPS-VGG16 distance divided by ε² is one sample. In z space the
path is spherical (slerp), in w space (StyleGAN's mapping network) linear (lerp), as StyleGAN does.
Images go to LPIPS as float pixels in [0, 255] (never quantised: at ε = 1e-4 the change is far below
one grey level), optionally cropped to StyleGAN's central face crop (``crop``; FFHQ), and averaged
down to 256 pixels when larger. Samples below the 1st and above the 99th percentile are dropped
(``np.percentile`` with ``lower``/``higher``) and the rest averaged: ``ppl``, lower is smoother.

The slerp is torch-fidelity's ``batch_slerp_any`` (it keeps ``z0`` itself at t = 0, so generators that
do not normalise z stay in distribution; for latents of equal norm it is StyleGAN's slerp). The LPIPS
network is torch-fidelity's ``SampleSimilarityLPIPS`` with its weights read by us, without pickle:
its linear layers from torch-fidelity's ``weights-vgg16-lpips.pth`` (no hash is published, so the file
is reported as unverified) and its VGG16 trunk from torchvision's ImageNet file (``vgg16-397923af.pth``,
checked by its published hash prefix when found in the cache or downloaded). With these conventions
our number equals torch-fidelity's ``calculate_metrics(ppl=True, ppl_z_interp_mode="slerp_any",
ppl_sample_similarity_resize=None, ppl_sample_similarity_dtype=None)`` (tests/test_ppl.py).

:data:`SPEC` is the record (``ppl``, lower is better, at least 0). It needs the generator, not
features (``needs=("latent",)``); its interval resamples the per-sample distances (filter included).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from unittest import mock

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
    Replicates,
    Resample,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from gan_eval.weights import WeightsFile

SPACES = ("z", "w")
SAMPLINGS = ("end", "full")
DEFAULT_EPSILON = 1e-4
#: The percentiles outside which samples are dropped (StyleGAN's filter).
PERCENTILES = (1.0, 99.0)
#: Images larger than this are averaged down by an integer factor before LPIPS (StyleGAN).
LPIPS_MAX_SIZE = 256
LPIPS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-vgg16-lpips.pth"
ENV_LPIPS = "GAN_EVAL_WEIGHTS_LPIPS"


def lpips_weights_file() -> WeightsFile:
    """torch-fidelity's LPIPS linear layers (no hash published: used, reported as unverified)."""
    from gan_eval.weights import WeightsFile

    return WeightsFile("LPIPS-VGG16 linear layers", "weights-vgg16-lpips.pth", LPIPS_URL, "", ENV_LPIPS,
                       hint="for PPL the flag is --ppl-weights PATH; the VGG16 trunk is resolved as for "
                            "--extractor vgg16 ($GAN_EVAL_WEIGHTS_VGG16)")


def build_lpips(lin_state: dict[str, torch.Tensor], vgg16_state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torch-fidelity's ``SampleSimilarityLPIPS`` with these weights, no download, no unpickling.

    ``lin_state`` holds the linear layers (``lin0.model.1.weight`` ... as in torch-fidelity's file);
    ``vgg16_state`` torchvision's VGG16 (only its ``features.*`` tensors are used). torch-fidelity's
    constructor fetches both itself; its two loaders are replaced for the duration of the call.
    """
    import torch
    import torch_fidelity.sample_similarity_lpips as tfi_lpips
    from torchvision.models import vgg

    trunk = {k.removeprefix("features."): v for k, v in vgg16_state.items() if k.startswith("features.")}

    class _Pretrained(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = vgg.make_layers(vgg.cfgs["D"], batch_norm=False)  # torchvision's vgg16().features
            self.features.load_state_dict(trunk, strict=True)

    lin = {k: v for k, v in lin_state.items() if k.startswith("lin")}
    try:
        with mock.patch.object(tfi_lpips, "load_state_dict_from_url", lambda *a, **k: lin), \
                mock.patch.object(tfi_lpips, "torchvision_load_pretrained_vgg16", lambda *a, **k: _Pretrained()):
            return tfi_lpips.SampleSimilarityLPIPS("lpips-vgg16", sample_similarity_resize=None,
                                                   sample_similarity_dtype=None).eval()
    except RuntimeError as exc:
        raise GanEvalError(f"weights do not fit LPIPS-VGG16: {str(exc).splitlines()[0]}") from None


def open_lpips(weights: str | None, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The LPIPS network on ``device`` and the provenance of its two weights files."""
    from gan_eval.extractors.catalog import VGG16_WEIGHTS
    from gan_eval.weights import load_state_dict, resolve_weights

    lin = resolve_weights(lpips_weights_file(), weights)
    trunk = resolve_weights(VGG16_WEIGHTS, None)
    module = build_lpips(load_state_dict(lin.path), load_state_dict(trunk.path)).to(device)
    return module, {"lpips_weights_sha256": lin.sha256, "lpips_weights_origin": lin.origin,
                    "lpips_weights_official": None, "lpips_weights_url": LPIPS_URL,
                    "lpips_vgg16_sha256": trunk.provenance_sha256, "lpips_vgg16_official": trunk.official}


def lpips_pixels(images: torch.Tensor, output_range: tuple[float, float] | None, crop: bool) -> torch.Tensor:
    """Generator output to LPIPS input: float pixels in [0, 255] (not clipped, not quantised), RGB,
    StyleGAN's central crop when ``crop``, averaged down by an integer factor when over 256 pixels."""
    import torch
    import torch.nn.functional as F

    if images.dtype == torch.uint8:
        x = images.float()
    else:
        if output_range is None:
            raise GanEvalError("PPL needs the generator's output_range to scale its images")
        lo, hi = float(output_range[0]), float(output_range[1])
        x = (images.float() - lo) * (255.0 / (hi - lo))
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    factor = x.shape[2] // LPIPS_MAX_SIZE  # from the full size, as StyleGAN computes it
    if crop:
        c = x.shape[2] // 8
        x = x[:, :, c * 3:c * 7, c * 2:c * 6]
    if factor > 1:
        x = F.avg_pool2d(x, factor)
    return x


def check_options(options: Any, model: Any) -> None:
    """One-line errors for an invalid space, sampling or epsilon, or w space on a model without one."""
    from gan_eval.models import generator_name, has_latents, has_mapping

    if options.ppl_space not in SPACES:
        raise GanEvalError(f"--ppl-space must be one of {', '.join(SPACES)}, got {options.ppl_space!r}")
    if options.ppl_sampling not in SAMPLINGS:
        raise GanEvalError(f"--ppl-sampling must be one of {', '.join(SAMPLINGS)}, got {options.ppl_sampling!r}")
    epsilon = options.ppl_epsilon
    if not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or not 0 < epsilon < 1:
        raise GanEvalError(f"--ppl-epsilon must be a small positive number (e.g. 1e-4), got {epsilon}")
    if not has_latents(model):
        raise GanEvalError(f"PPL needs a generator with a latent space (latents(n, generator) and decode(z)); "
                           f"{generator_name(model)} has none")
    if options.ppl_space == "w" and not has_mapping(model):
        raise GanEvalError(f"--ppl-space w needs a mapping network (map_w and synthesize, as StyleGAN has); "
                           f"{generator_name(model)} has none: use --ppl-space z")


def ppl_distances(model: Any, lpips: torch.nn.Module, num_samples: int, *, epsilon: float = DEFAULT_EPSILON,
                  space: str = "z", sampling: str = "end", crop: bool = False, batch_size: int = 64,
                  seed: int = 2020) -> torch.Tensor:
    """The ``num_samples`` per-pair distances LPIPS / ε² (float64, CPU), before the percentile filter.

    All randomness comes from one CPU generator seeded with ``seed``, drawn in this order: every
    ``z0`` (``model.latents(n)``), every ``z1``, the path points ``t`` (``full`` only), the classes
    (conditional models only). ``end`` compares the image of ``z0`` itself with the one ε along the path.
    """
    import torch
    from torch_fidelity.noise import batch_lerp, batch_slerp_any

    from gan_eval.models import draw_labels

    rng = torch.Generator().manual_seed(seed)
    z0, z1 = model.latents(num_samples, rng), model.latents(num_samples, rng)
    t = torch.rand(num_samples, 1, generator=rng, dtype=z0.dtype) if sampling == "full" else None
    labels = draw_labels(model, num_samples, rng)
    interpolate = batch_slerp_any if space == "z" else batch_lerp
    output_range = getattr(model, "output_range", None)
    if hasattr(model, "eval"):
        model.eval()
    device = next(lpips.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, num_samples, batch_size):
            stop = min(start + batch_size, num_samples)
            a, b = z0[start:stop], z1[start:stop]
            pair_labels = None if labels is None else labels[start:stop].repeat(2)
            if space == "w":
                a, b = model.map_w(torch.cat([a, b]), pair_labels).chunk(2)
            if t is None:  # t = 0: the path starts at a itself
                ends = (a, interpolate(a, b, epsilon))
            else:
                ends = (interpolate(a, b, t[start:stop].to(a.device)), interpolate(a, b, t[start:stop].to(a.device) + epsilon))
            both = torch.cat(ends)
            images = model.synthesize(both, pair_labels) if space == "w" else model.decode(both, pair_labels)
            x = lpips_pixels(images.to(device), output_range, crop)
            first, second = x.chunk(2)
            out.append((lpips(first, second).double() / epsilon ** 2).cpu())
    return torch.cat(out)


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the distances inside [1st percentile (lower), 99th percentile (higher)], StyleGAN's filter."""
    import numpy as np

    lo = np.percentile(distances, PERCENTILES[0], method="lower")
    hi = np.percentile(distances, PERCENTILES[1], method="higher")
    return float(distances[(lo <= distances) & (distances <= hi)].mean())


def compute(ctx: MetricContext) -> dict[str, float]:
    """PPL of ``ctx.model``: LPIPS from ``ctx.details["ppl"]["lpips"]`` or opened here, distances kept in details."""
    import torch

    if ctx.model is None:
        raise GanEvalError("PPL needs a generator (--gen checkpoint, builtin:NAME or module:function), not images")
    o = ctx.options
    check_options(o, ctx.model)
    details = ctx.details.setdefault("ppl", {})
    device = torch.device(details.get("device", "cpu"))
    lpips = details.pop("lpips", None)
    if lpips is None:
        lpips, provenance = open_lpips(o.ppl_weights, device)
        details["weights"] = provenance
    distances = ppl_distances(ctx.model, lpips, int(details.get("num_samples", ctx.gen.n)), epsilon=float(o.ppl_epsilon),
                              space=o.ppl_space, sampling=o.ppl_sampling, crop=bool(o.ppl_crop),
                              batch_size=int(details.get("batch_size", 64)), seed=o.seed)
    details["distances"] = distances.numpy()
    value = filtered_mean(details["distances"])
    details.update({"space": o.ppl_space, "sampling": o.ppl_sampling, "epsilon": float(o.ppl_epsilon),
                    "crop": bool(o.ppl_crop), "n": int(distances.shape[0])})
    return {"ppl": value}


def resample(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    """The per-sample distances re-weighted by each row of ``rs.gen`` (one weight per latent path; the
    workflow's generated set has one row per path), the percentile filter reapplied to each."""
    import numpy as np

    distances = ctx.details["ppl"]["distances"]
    if rs.gen is None or rs.gen.shape[1] != distances.shape[0]:
        raise ValueError(f"PPL resampling needs one weight per latent path ({distances.shape[0]})")
    weights = rs.gen.round().long().cpu().numpy()
    values = np.asarray([filtered_mean(np.repeat(distances, row)) for row in weights])
    return {"ppl": Replicates(values, filtered_mean(distances))}


SPEC = MetricSpec(
    name="ppl",
    keys=(MetricKey("ppl", "Perceptual path length", direction=-1, range=(0.0, math.inf), short="PPL"),),
    compute=compute,
    needs=("latent",),
    needs_real=False,
    options=(MetricOption("ppl_epsilon", DEFAULT_EPSILON, "PPL step ε along the latent path"),
             MetricOption("ppl_space", "z", "PPL latent space: z (slerp) or w (lerp; mapping network needed)"),
             MetricOption("ppl_sampling", "end", "PPL path points: end (t=0) or full (t ~ U(0,1))"),
             MetricOption("ppl_crop", False, "PPL: StyleGAN's central face crop (FFHQ) before LPIPS"),
             MetricOption("ppl_weights", None, "PPL: LPIPS linear-layer weights file (torch-fidelity's)")),
    convention="StyleGAN PPL: LPIPS-VGG16/ε², slerp in z, lerp in w, 1st-99th percentile filter, pixels in [0, 255]",
    resample=resample,
    interval_note="per-path distances re-weighted, percentile filter reapplied",
)
