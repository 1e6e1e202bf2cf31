"""``vgg16``: torch-fidelity's VGG16 feature extractor (torchvision's VGG16, ``fc2_relu``: 4096 features).

The network is torchvision's ``vgg16`` as torch-fidelity builds it (classifier cut after the second
fully connected layer). torch-fidelity 0.4.0 either downloads the weights or reads a user path with
``torch.load(weights_only=False)`` (a pickle); we hand its constructor a network already loaded from a
safely read state dict instead (:func:`gan_eval.weights.load_state_dict`).
"""

from __future__ import annotations

from unittest import mock

import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.catalog import VGG16_WEIGHTS

#: torchvision's ImageNet normalisation on [0, 255] pixels, as torch-fidelity applies it.
IMAGENET_MEAN = (255 * 0.485, 255 * 0.456, 255 * 0.406)
IMAGENET_STD = (255 * 0.229, 255 * 0.224, 255 * 0.225)


def build_tfi_vgg16(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorVGG16`` with ``state_dict`` loaded strictly, no download, no pickle."""
    import torch_fidelity.feature_extractor_vgg16 as tfi_vgg16
    import torchvision

    def pretrained(**_: object) -> torch.nn.Module:
        model = torchvision.models.vgg16()
        model.load_state_dict(state_dict, strict=True)
        return model

    with mock.patch.object(tfi_vgg16, "torchvision_load_pretrained_vgg16", pretrained):
        try:
            return tfi_vgg16.FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=None)
        except RuntimeError as exc:
            raise GanEvalError(f"weights do not fit VGG16: {str(exc).splitlines()[0]}") from None


class VGG16(FeatureExtractor):
    """VGG16 ``fc2_relu``: resize to 224 (``tf1``: TF-1 bilinear, torch-fidelity's), ImageNet mean/std."""

    name = "vgg16"
    feature_dim = 4096
    has_logits = False
    preprocessing = "{resize}-224,imagenet-mean-std"
    resize_modes = ("tf1", "clean")
    input_size = 224

    def __init__(self, weights: str | None, device: torch.device, allow_download: bool = True) -> None:
        super().__init__(device)
        # channels-last makes the CPU convolutions ~1.4x faster; features agree with torch-fidelity's
        # default layout to ~2e-6 relative (tests/test_encoders.py holds them to 1e-5).
        model = build_tfi_vgg16(self.load_weights(VGG16_WEIGHTS, weights, allow_download)).model
        self.model = model.to(device=device, memory_format=torch.channels_last).eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images to the network's input: resize by ``resize_mode``, then ImageNet normalisation."""
        import torchvision.transforms.functional as TF

        return TF.normalize(self.resize(images, self.input_size), IMAGENET_MEAN, IMAGENET_STD)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": F.relu(self.model(self.preprocess(images))).float()}


def create(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``vgg16`` (registered by name in :mod:`gan_eval.extractors.base`)."""
    return VGG16(weights, device)
