"""``clip-vit-b-32``, ``clip-vit-l-14``: the image tower of OpenAI's CLIP, as torch-fidelity builds it.

torch-fidelity's ``build_model`` (OpenAI's code, kept in torch-fidelity) makes the vision transformer
from a state dict, rounding the weights to float16 as OpenAI's own loader does, and runs it in
float32. Features are the projected image embedding (512 / 768), unnormalised, as torch-fidelity
returns them. OpenAI publishes TorchScript archives; we read their tensors without running them
(:func:`gan_eval.weights.read_torchscript_tensors`), or a safetensors copy made once by
``gan-eval weights convert``.
"""

from __future__ import annotations

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.catalog import CLIP_WEIGHTS

#: OpenAI CLIP's normalisation on [0, 255] pixels, as torch-fidelity applies it.
CLIP_MEAN = (255 * 0.48145466, 255 * 0.4578275, 255 * 0.40821073)
CLIP_STD = (255 * 0.26862954, 255 * 0.26130258, 255 * 0.27577711)

#: The published architectures (OpenAI's model card): input, patch, width, layers, embedding size.
ARCHITECTURES = {
    "clip-vit-b-32": {"input_resolution": 224, "patch_size": 32, "width": 768, "layers": 12, "output_dim": 512},
    "clip-vit-l-14": {"input_resolution": 224, "patch_size": 14, "width": 1024, "layers": 24, "output_dim": 768},
}


def visual_architecture(model: torch.nn.Module) -> dict[str, int]:
    """The architecture facts of torch-fidelity's ``VisionTransformer`` ``model``."""
    return {"input_resolution": model.input_resolution, "patch_size": model.conv1.kernel_size[0],
            "width": model.conv1.out_channels, "layers": model.transformer.layers, "output_dim": model.output_dim}


def build_clip_visual(name: str, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torch-fidelity's CLIP image tower for ``name`` from an OpenAI-format state dict (float32, eval mode)."""
    from torch_fidelity.feature_extractor_clip import build_model

    needed = ("visual.proj", "visual.conv1.weight", "visual.positional_embedding")
    if any(key not in state_dict for key in needed):
        raise GanEvalError(f"weights do not fit {name}: not a CLIP ViT state dict (no {', '.join(needed)})")
    visual = {k: v for k, v in state_dict.items() if k.startswith("visual.")}
    patch = visual["visual.conv1.weight"].shape[-1]
    # the facts build_model infers from the shapes, checked before anything is built
    found = {"input_resolution": patch * round((visual["visual.positional_embedding"].shape[0] - 1) ** 0.5),
             "patch_size": patch, "width": visual["visual.conv1.weight"].shape[0],
             "layers": sum(k.endswith(".attn.in_proj_weight") for k in visual),
             "output_dim": visual["visual.proj"].shape[1]}
    if found != ARCHITECTURES[name]:
        raise GanEvalError(f"weights do not fit {name}: they describe {found}, not {ARCHITECTURES[name]}")
    # build_model reads the embedding size from text_projection; the image tower alone is enough here
    visual["text_projection"] = torch.empty(0, found["output_dim"])
    try:
        model = build_model(visual, torch.float32).visual
    except (RuntimeError, KeyError, ValueError) as exc:
        raise GanEvalError(f"weights do not fit {name}: {str(exc).splitlines()[0]}") from None
    return model


class CLIPImage(FeatureExtractor):
    """CLIP image embedding: resize to 224 (``tf1``: TF-1 bilinear, torch-fidelity's), CLIP mean/std."""

    feature_dim = 0
    has_logits = False
    preprocessing = "{resize}-224,clip-mean-std,fp16-rounded-weights"
    resize_modes = ("tf1", "clean")
    input_size = 224

    def __init__(self, name: str, weights: str | None, device: torch.device, allow_download: bool = True) -> None:
        self.name = name
        self.feature_dim = ARCHITECTURES[name]["output_dim"]
        super().__init__(device)
        self.model = build_clip_visual(name, self.load_weights(CLIP_WEIGHTS[name], weights, allow_download)).to(device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images to the network's input: resize by ``resize_mode``, then CLIP's normalisation."""
        import torchvision.transforms.functional as TF

        return TF.normalize(self.resize(images, self.input_size), CLIP_MEAN, CLIP_STD)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": self.model(self.preprocess(images)).float()}


def create_vit_b_32(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``clip-vit-b-32``."""
    return CLIPImage("clip-vit-b-32", weights, device)


def create_vit_l_14(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``clip-vit-l-14``."""
    return CLIPImage("clip-vit-l-14", weights, device)
