"""``inception-v3-compat``: torch-fidelity's TF-1-compatible InceptionV3 (2048 pool + unbiased logits).

We reuse torch-fidelity's module so our features are its features (that is what makes FID numbers
comparable with papers), but load the weights ourselves: torch-fidelity 0.4.0 calls
an unrestricted ``torch.load`` on a user path, which may execute a pickle, and never checks
the hash. We hand it an already-loaded, safely read state dict instead.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as tfi_inception

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.weights import load_state_dict, resolve_inception_weights

FEATURES = "2048"
LOGITS = "logits_unbiased"


def build_tfi_inception(state_dict: dict[str, torch.Tensor] | None) -> tfi_inception.FeatureExtractorInceptionV3:
    """torch-fidelity's InceptionV3 with ``state_dict`` loaded strictly (``None`` keeps PyTorch's init).

    torch-fidelity's constructor fetches weights through the module-level ``load_state_dict_from_url``
    and loads them with ``load_state_dict`` (strict); both are replaced for the duration of the call,
    so no download and no unsafe ``torch.load`` can happen.
    """
    patches = [mock.patch.object(tfi_inception, "load_state_dict_from_url", lambda *a, **k: state_dict)]
    if state_dict is None:
        patches.append(mock.patch.object(tfi_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        try:
            return tfi_inception.FeatureExtractorInceptionV3(
                "inception-v3-compat", [FEATURES, LOGITS], feature_extractor_weights_path=None, verbose=False
            )
        except RuntimeError as exc:
            raise GanEvalError(f"weights do not fit InceptionV3: {str(exc).splitlines()[0]}") from None


class InceptionV3Compat(FeatureExtractor):
    """TTUR/torch-fidelity InceptionV3: TF-1 bilinear resize to 299 (no antialias), ``(x-128)/128``."""

    name = "inception-v3-compat"
    feature_dim = 2048
    has_logits = True
    preprocessing = "tf1-bilinear-299,(x-128)/128"

    def __init__(self, weights: str | None, device: torch.device, allow_download: bool = True) -> None:
        super().__init__(device)
        resolved = resolve_inception_weights(weights, allow_download=allow_download)
        self.weights_sha256 = resolved.sha256
        self.weights_origin = resolved.origin
        self.official_weights = resolved.official
        model = build_tfi_inception(load_state_dict(resolved.path))
        # channels-last makes the CPU convolutions ~1.7x faster; features agree with the default
        # layout to ~1e-5 relative (tests pin parity with torch-fidelity on the same file).
        self.model = model.to(device=device, memory_format=torch.channels_last)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features, logits = self.model(images)
        return {"features": features.float(), "logits": logits.float()}


def create(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``inception-v3-compat`` (registered by name in :mod:`gan_eval.extractors.base`)."""
    return InceptionV3Compat(weights, device)
