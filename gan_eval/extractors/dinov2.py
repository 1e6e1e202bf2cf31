"""``dinov2-vit-s-14``, ``dinov2-vit-b-14``, ``dinov2-vit-l-14``: DINOv2 (Oquab et al., 2023) CLS features.

torch-fidelity builds DINOv2 through ``torch.hub.load("facebookresearch/dinov2", ...)``, which fetches
code from GitHub at run time; we use timm's implementation of the same architecture
(``vit_*_patch14_dinov2``) and Meta's official checkpoints, read with ``weights_only=True``.

Features are what the hub model's forward returns and torch-fidelity uses: the CLS token after the
final LayerNorm. Preprocessing follows torch-fidelity's wrapper: resize to 224 (``tf1``: TF-1
bilinear), ImageNet mean/std. The checkpoints hold position embeddings for 518×518 inputs; DINOv2's
own model interpolates them to the 16×16 grid of a 224 input on every call (bicubic, no antialias, a
scale factor of (16 + 0.1)/37 — its "interpolate_offset"). We do the same interpolation once, in
float32, and hand timm a model built for 224, so the numbers are the hub model's
(tests/test_encoders.py checks them against HuggingFace's independent DINOv2).
"""

from __future__ import annotations

import math

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.catalog import DINOV2_WEIGHTS
from gan_eval.extractors.vgg16 import IMAGENET_MEAN, IMAGENET_STD

INPUT_SIZE = 224
PATCH_SIZE = 14
#: DINOv2's hub models: interpolate_offset=0.1, interpolate_antialias=False.
INTERPOLATE_OFFSET = 0.1

#: name -> (timm architecture, features, depth, heads) of the published models.
ARCHITECTURES = {
    "dinov2-vit-s-14": ("vit_small_patch14_dinov2", 384, 12, 6),
    "dinov2-vit-b-14": ("vit_base_patch14_dinov2", 768, 12, 12),
    "dinov2-vit-l-14": ("vit_large_patch14_dinov2", 1024, 24, 16),
}


def interpolate_pos_embed(pos_embed: torch.Tensor, input_size: int = INPUT_SIZE, patch_size: int = PATCH_SIZE) -> torch.Tensor:
    """DINOv2's position embeddings ``1×(1+M²)×D`` for an ``input_size`` input, as its forward computes them."""
    grid = input_size // patch_size
    count = pos_embed.shape[1] - 1
    side = int(math.sqrt(count))
    if side * side != count:
        raise GanEvalError(f"DINOv2 position embeddings of {count} patches are not a square grid")
    if side == grid:
        return pos_embed
    dtype = pos_embed.dtype
    pos = pos_embed.float()
    scale = float(grid + INTERPOLATE_OFFSET) / side
    patches = torch.nn.functional.interpolate(
        pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2), scale_factor=(scale, scale), mode="bicubic",
        antialias=False,
    )
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)
    return torch.cat((pos[:, :1], patches), dim=1).to(dtype)


def build_dinov2(name: str, state_dict: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """timm's DINOv2 ``name`` for 224 inputs, returning the normed CLS token, with ``state_dict`` (official keys)."""
    try:
        import timm
        from timm.models.vision_transformer import checkpoint_filter_fn
    except ImportError:
        raise GanEvalError(f'--extractor {name} needs timm: pip install "gan-eval[encoders]"') from None
    arch, _, _, _ = ARCHITECTURES[name]
    # Weights about to be loaded strictly make timm's random initialisation wasted work (5-8 s for L/14).
    init = "skip" if state_dict is not None else ""
    model = timm.create_model(arch, pretrained=False, img_size=INPUT_SIZE, num_classes=0, weight_init=init)
    if state_dict is not None:
        state = dict(state_dict)
        if "pos_embed" not in state or "mask_token" not in state:
            raise GanEvalError(f"weights do not fit {name}: not an official DINOv2 checkpoint (no pos_embed/mask_token)")
        state["pos_embed"] = interpolate_pos_embed(state["pos_embed"])
        try:
            model.load_state_dict(checkpoint_filter_fn(state, model), strict=True)
        except RuntimeError as exc:
            raise GanEvalError(f"weights do not fit {name}: {str(exc).splitlines()[0]}") from None
    return model.eval().requires_grad_(False)


class DINOv2(FeatureExtractor):
    """DINOv2 CLS token: resize to 224 (``tf1``: TF-1 bilinear, as torch-fidelity), ImageNet mean/std."""

    has_logits = False
    preprocessing = "{resize}-224,imagenet-mean-std"
    resize_modes = ("tf1", "clean")
    input_size = INPUT_SIZE

    def __init__(self, name: str, weights: str | None, device: torch.device, allow_download: bool = True) -> None:
        self.name = name
        self.feature_dim = ARCHITECTURES[name][1]
        super().__init__(device)
        try:
            import timm  # noqa: F401  (checked before any weights are looked for)
        except ImportError:
            raise GanEvalError(f'--extractor {name} needs timm: pip install "gan-eval[encoders]"') from None
        self.model = build_dinov2(name, self.load_weights(DINOV2_WEIGHTS[name], weights, allow_download)).to(device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images to the network's input: resize by ``resize_mode``, then ImageNet normalisation."""
        import torchvision.transforms.functional as TF

        return TF.normalize(self.resize(images, self.input_size), IMAGENET_MEAN, IMAGENET_STD)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": self.model(self.preprocess(images)).float()}


def create_vit_s_14(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``dinov2-vit-s-14``."""
    return DINOv2("dinov2-vit-s-14", weights, device)


def create_vit_b_14(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``dinov2-vit-b-14``."""
    return DINOv2("dinov2-vit-b-14", weights, device)


def create_vit_l_14(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``dinov2-vit-l-14``."""
    return DINOv2("dinov2-vit-l-14", weights, device)
