"""``inception-v3-compat``: torch-fidelity's TF-1-compatible InceptionV3 (2048 pool + unbiased logits).

We reuse torch-fidelity's module so our features are its features (that is what makes FID numbers
comparable with papers), but load the weights ourselves: torch-fidelity 0.4.0 calls
an unrestricted ``torch.load`` on a user path, which may execute a pickle, and never checks
the hash. We hand it an already-loaded, safely read state dict instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as tfi_inception

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.weights import inception_spec

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


@contextlib.contextmanager
def _already_resized() -> Iterator[None]:
    """Let torch-fidelity's forward take float images already resized to 299 (``--resize clean``).

    Its forward insists on uint8 input and resizes with TF-1 bilinear; both are switched off for the
    call, so the rest of the network is torch-fidelity's own code. Patching module globals is not
    thread-safe; one process runs one forward pass at a time.
    """
    def check(condition: bool, message: str) -> None:
        if not condition and not message.startswith("Expecting image as torch.Tensor with dtype=torch.uint8"):
            raise ValueError(message)

    def keep(x: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
        if tuple(x.shape[-2:]) != tuple(size):
            raise ValueError(f"expected images resized to {size}, got {tuple(x.shape[-2:])}")
        return x

    with mock.patch.object(tfi_inception, "vassert", check), \
            mock.patch.object(tfi_inception, "interpolate_bilinear_2d_like_tensorflow1x", keep):
        yield


class InceptionV3Compat(FeatureExtractor):
    """TTUR/torch-fidelity InceptionV3: resize to 299 (``tf1``: TF-1 bilinear without antialias, inside
    torch-fidelity's forward; ``clean``: clean-fid's PIL bicubic), then ``(x-128)/128``."""

    name = "inception-v3-compat"
    feature_dim = 2048
    has_logits = True
    preprocessing = "{resize}-299,(x-128)/128"
    resize_modes = ("tf1", "clean")
    input_size = 299

    def __init__(self, weights: str | None, device: torch.device, allow_download: bool = True) -> None:
        super().__init__(device)
        model = build_tfi_inception(self.load_weights(inception_spec(), weights, allow_download))
        # channels-last makes the CPU convolutions ~1.7x faster; features agree with the default
        # layout to ~1e-5 relative (tests pin parity with torch-fidelity on the same file).
        self.model = model.to(device=device, memory_format=torch.channels_last)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.resize_mode == "tf1":
            features, logits = self.model(images)  # torch-fidelity resizes, exactly as it always has
        else:
            with _already_resized():
                features, logits = self.model(self.resize(images, self.input_size))
        return {"features": features.float(), "logits": logits.float()}


def create(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``inception-v3-compat`` (registered by name in :mod:`gan_eval.extractors.base`)."""
    return InceptionV3Compat(weights, device)
