"""DINOv2, CLIP and VGG16 extractors: parity with independent references on random-weight files.

Every weights file is built here from a seed, in the official file's format (a ``torch.save`` state dict
for VGG16 and DINOv2, a TorchScript archive for CLIP), so nothing is downloaded. Each parity test
names its reference in its docstring. "Equal" means relative error ≤ 1e-5: ‖ours − ref‖ / ‖ref‖ and
the largest element-wise difference relative to the largest reference value (:func:`rel_error`). DINOv2
ViT-L/14 is held to 1e-10 in float64 and, in float32, to the rounding its docstring measures.
"""

from __future__ import annotations

import json
import math
import warnings
from unittest import mock

import pytest
import torch

from gan_eval.errors import GanEvalError, WeightsUnavailableError
from gan_eval.extractors import create_extractor
from gan_eval.extractors.catalog import CLIP_WEIGHTS, DINOV2_WEIGHTS, EXTRACTOR_INFO, VGG16_WEIGHTS

RTOL = 1e-5


def rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """The larger of ‖ours − ref‖ / ‖ref‖ and max|ours − ref| / max|ref|: the module docstring's "relative"."""
    ours, ref = ours.double(), ref.double()
    assert ours.shape == ref.shape
    scale = ref.abs().max().item()
    assert scale > 0 and ref.std().item() > 0, "reference features are degenerate; the test would prove nothing"
    return max((ours - ref).norm().item() / ref.norm().item(), (ours - ref).abs().max().item() / scale)


def assert_rel_close(ours: torch.Tensor, ref: torch.Tensor, rtol: float = RTOL) -> None:
    error = rel_error(ours, ref)
    assert error <= rtol, f"relative error {error:.3g} > {rtol:g}"


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Two seeded images at a size that makes every encoder resize (96×128 → 224×224)."""
    g = torch.Generator().manual_seed(7)
    base = torch.randint(0, 256, (2, 3, 12, 16), generator=g, dtype=torch.uint8).float()
    smooth = torch.nn.functional.interpolate(base, size=(96, 128), mode="bilinear", align_corners=False)
    noise = torch.randint(-20, 21, smooth.shape, generator=g).float()
    return (smooth + noise).clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- VGG16


def build_vgg16_file(path, seed: int = 0) -> str:
    """torchvision's VGG16 with its own seeded initialisation, saved as a state dict (float16 to halve the file)."""
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.vgg16()
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    return str(path)


def tfi_vgg16(path: str) -> torch.nn.Module:
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

    return FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=path)


@pytest.fixture(scope="module")
def vgg16_weights(tmp_path_factory) -> str:
    return build_vgg16_file(tmp_path_factory.mktemp("vgg16") / "vgg16-random.pth")


@pytest.mark.slow
def test_vgg16_equals_torch_fidelity(vgg16_weights, images):
    """Reference: torch-fidelity 0.4.0's own ``FeatureExtractorVGG16`` (``fc2_relu``) reading the same file."""
    ours = create_extractor("vgg16", weights=vgg16_weights)
    assert ours.feature_dim == 4096 and ours.weights_origin == "--weights" and not ours.official_weights
    ref = tfi_vgg16(vgg16_weights)
    with torch.inference_mode():
        expected = ref(images)[0]
    assert_rel_close(ours(images)["features"], expected)
    assert (expected > 0).float().mean() > 0.05  # ReLU features that respond, not all zero


# --------------------------------------------------------------------------- CLIP


def build_clip_archive(path, name: str = "clip-vit-b-32", seed: int = 1) -> str:
    """A TorchScript archive like OpenAI's ``ViT-B-32.pt``: seeded random weights, float16 where OpenAI's are.

    Only the keys torch-fidelity reads matter (``visual.*`` and ``text_projection``); the archive's code
    is a trivial traced forward, since neither reader runs it for features.
    """
    from torch_fidelity.feature_extractor_clip import VisionTransformer, convert_weights

    from gan_eval.extractors.clip import ARCHITECTURES

    arch = ARCHITECTURES[name]

    class CLIPLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = VisionTransformer(arch["input_resolution"], arch["patch_size"], arch["width"],
                                            arch["layers"], arch["width"] // 64, arch["output_dim"])
            self.text_projection = torch.nn.Parameter(torch.randn(arch["output_dim"], arch["output_dim"]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.text_projection.sum()

    torch.manual_seed(seed)
    model = CLIPLike()
    convert_weights(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, torch.zeros(1)).save(str(path))
    return str(path)


def tfi_clip(path: str, name: str = "clip-vit-b-32") -> torch.nn.Module:
    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation warning
        return FeatureExtractorCLIP(name, ["clip"], feature_extractor_weights_path=path)


@pytest.fixture(scope="module")
def clip_b32_archive(tmp_path_factory) -> str:
    return build_clip_archive(tmp_path_factory.mktemp("clip") / "ViT-B-32-random.pt")


@pytest.mark.slow
def test_clip_vit_b_32_equals_torch_fidelity(clip_b32_archive, images, tmp_path):
    """Reference: torch-fidelity 0.4.0's own ``FeatureExtractorCLIP`` loading the archive with ``torch.jit.load``.

    Ours reads the same archive's tensors without running it, and a ``weights convert`` safetensors copy
    of it holds the same tensors and names the archive's hash in provenance.
    """
    from gan_eval.files import sha256_file
    from gan_eval.weights import convert_to_safetensors, load_state_dict, resolve_weights

    ref = tfi_clip(clip_b32_archive)
    with torch.inference_mode():
        expected = ref(images)[0]
    ours = create_extractor("clip-vit-b-32", weights=clip_b32_archive)
    assert ours.feature_dim == 512 and ours.weights_sha256 == sha256_file(clip_b32_archive)
    assert_rel_close(ours(images)["features"], expected)

    # a `weights convert` copy holds the same tensors and names the archive's hash, not its own
    converted = convert_to_safetensors(clip_b32_archive, tmp_path / "clip.safetensors")
    copy, original = load_state_dict(converted), load_state_dict(clip_b32_archive)
    assert copy.keys() == original.keys() and all(torch.equal(copy[k], original[k]) for k in copy)
    resolved = resolve_weights(CLIP_WEIGHTS["clip-vit-b-32"], converted)
    assert resolved.provenance_sha256 == sha256_file(clip_b32_archive) != resolved.sha256


@pytest.mark.slow
def test_clip_vit_l_14_equals_torch_fidelity(images, tmp_path):
    """Reference: torch-fidelity 0.4.0's own ``FeatureExtractorCLIP`` (``clip-vit-l-14``) loading a random
    ViT-L/14 archive with ``torch.jit.load``; ours reads the same archive's tensors (one image, for CI time)."""
    archive = build_clip_archive(tmp_path / "ViT-L-14-random.pt", "clip-vit-l-14")
    ref = tfi_clip(archive, "clip-vit-l-14")
    with torch.inference_mode():
        expected = ref(images[:1])[0]
    ours = create_extractor("clip-vit-l-14", weights=archive)
    assert ours.feature_dim == 768
    assert_rel_close(ours(images[:1])["features"], expected)


def test_weights_convert_command(clip_b32_archive, tmp_path):
    from click.testing import CliRunner
    from safetensors import safe_open

    from gan_eval.cli import main
    from gan_eval.files import sha256_file

    refused = CliRunner().invoke(main, ["weights", "convert", "clip-vit-b-32", clip_b32_archive])
    assert refused.exit_code == 1 and "is not the official" in refused.output  # the cache takes only official files
    dest = tmp_path / "copy.safetensors"
    done = CliRunner().invoke(main, ["weights", "convert", "clip-vit-b-32", clip_b32_archive, str(dest)])
    assert done.exit_code == 0, done.output
    assert "not the official file" in done.output
    with safe_open(str(dest), framework="pt") as handle:
        assert handle.metadata()["gan_eval.source_sha256"] == sha256_file(clip_b32_archive)
        assert "visual.proj" in handle.keys()


def test_torchscript_reader_matches_jit_load_and_runs_nothing(clip_b32_archive, tmp_path):
    """The tensors-only reader returns exactly ``torch.jit.load(...).state_dict()``; a pickle global is inert."""
    import pickle
    import zipfile

    from gan_eval.weights import read_torchscript_tensors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.jit.load(clip_b32_archive).state_dict()
    found = read_torchscript_tensors(clip_b32_archive)
    assert set(found) == set(expected)
    assert all(torch.equal(found[k], expected[k]) and found[k].dtype == expected[k].dtype for k in expected)

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
        archive.writestr("evil/code/__torch__.py", "")
    with pytest.raises(GanEvalError):
        read_torchscript_tensors(evil)
    assert not marker.exists()


def test_clip_refuses_weights_of_another_architecture(clip_b32_archive):
    with pytest.raises(GanEvalError, match="do not fit clip-vit-l-14"):
        create_extractor("clip-vit-l-14", weights=clip_b32_archive)


def test_clip_l14_architecture_is_the_published_one():
    """ViT-L/14's facts against OpenAI's model card and torch-fidelity's builder run on the meta device
    (no memory, no time); its features are checked in test_clip_vit_l_14_equals_torch_fidelity."""
    from torch_fidelity.feature_extractor_clip import VisionTransformer
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA

    from gan_eval.extractors.clip import ARCHITECTURES, visual_architecture

    facts = ARCHITECTURES["clip-vit-l-14"]
    assert facts == {"input_resolution": 224, "patch_size": 14, "width": 1024, "layers": 24, "output_dim": 768}
    with torch.device("meta"):
        model = VisionTransformer(224, 14, 1024, 24, 16, 768)
    assert visual_architecture(model) == facts
    assert EXTRACTOR_INFO["clip-vit-l-14"].feature_dim == 768 and EXTRACTOR_INFO["clip-vit-b-32"].feature_dim == 512
    for name, spec in CLIP_WEIGHTS.items():  # our hashes and URLs are torch-fidelity's
        digest = MODEL_METADATA[name]["hash"]
        assert spec.sha256 == digest and spec.url.endswith(f"/{digest}/{MODEL_METADATA[name]['filename']}.pt")


# --------------------------------------------------------------------------- DINOv2


def official_dinov2_state(dim: int, depth: int, seed: int) -> dict[str, torch.Tensor]:
    """A random state dict with the key names and shapes of Meta's ``dinov2_vit*14_pretrain.pth`` (518 px)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, std: float = 0.02, mean: float = 0.0) -> torch.Tensor:
        return mean + std * torch.randn(*shape, generator=g)

    state = {"cls_token": rnd(1, 1, dim, std=0.5), "pos_embed": rnd(1, 37 * 37 + 1, dim, std=0.5),
             "mask_token": torch.zeros(1, dim), "patch_embed.proj.weight": rnd(dim, 3, 14, 14, std=0.05),
             "patch_embed.proj.bias": rnd(dim)}
    for i in range(depth):
        b = f"blocks.{i}."
        state.update({
            b + "norm1.weight": rnd(dim, std=0.1, mean=1.0), b + "norm1.bias": rnd(dim, std=0.1),
            b + "attn.qkv.weight": rnd(3 * dim, dim, std=0.08), b + "attn.qkv.bias": rnd(3 * dim),
            b + "attn.proj.weight": rnd(dim, dim, std=0.05), b + "attn.proj.bias": rnd(dim),
            b + "ls1.gamma": rnd(dim, std=0.1, mean=0.5),
            b + "norm2.weight": rnd(dim, std=0.1, mean=1.0), b + "norm2.bias": rnd(dim, std=0.1),
            b + "mlp.fc1.weight": rnd(4 * dim, dim, std=0.05), b + "mlp.fc1.bias": rnd(4 * dim),
            b + "mlp.fc2.weight": rnd(dim, 4 * dim, std=0.03), b + "mlp.fc2.bias": rnd(dim),
            b + "ls2.gamma": rnd(dim, std=0.1, mean=0.5),
        })
    state.update({"norm.weight": rnd(dim, std=0.1, mean=1.0), "norm.bias": rnd(dim, std=0.1)})
    return state


def to_huggingface(state: dict[str, torch.Tensor], dim: int, names: set[str]) -> dict[str, torch.Tensor]:
    """Meta's key names to HuggingFace ``Dinov2Model``'s (qkv split in three), as its conversion script maps them.

    ``names``: the model's own keys, which tell transformers ≥ 5 (``attention.q_proj``) from 4.x
    (``attention.attention.query``)."""
    if "encoder.layer.0.attention.q_proj.weight" in names:
        projections, output = ("attention.q_proj", "attention.k_proj", "attention.v_proj"), "attention.o_proj"
    else:
        projections = ("attention.attention.query", "attention.attention.key", "attention.attention.value")
        output = "attention.output.dense"
    out = {"embeddings.cls_token": state["cls_token"], "embeddings.mask_token": state["mask_token"],
           "embeddings.position_embeddings": state["pos_embed"],
           "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
           "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
           "layernorm.weight": state["norm.weight"], "layernorm.bias": state["norm.bias"]}
    rename = {"norm1": "norm1", "norm2": "norm2", "attn.proj": output, "mlp.fc1": "mlp.fc1",
              "mlp.fc2": "mlp.fc2"}
    for key, value in state.items():
        if not key.startswith("blocks."):
            continue
        _, i, rest = key.split(".", 2)
        layer = f"encoder.layer.{i}."
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for j, proj in enumerate(projections):
                out[f"{layer}{proj}.{kind}"] = value[j * dim:(j + 1) * dim]
        elif rest in ("ls1.gamma", "ls2.gamma"):
            out[f"{layer}layer_scale{rest[2]}.lambda1"] = value
        else:
            module, kind = rest.rsplit(".", 1)
            out[f"{layer}{rename[module]}.{kind}"] = value
    return out


def dinov2_hub_pos_encoding(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """DINOv2's own ``interpolate_pos_encoding`` (facebookresearch/dinov2, ``vision_transformer.py``, hub
    defaults ``interpolate_offset=0.1``, ``interpolate_antialias=False``), replacing HuggingFace's (which
    interpolates to a size, without the offset, and so differs from the hub model torch-fidelity runs)."""
    pos_embed = self.position_embeddings.float()
    n = pos_embed.shape[1] - 1
    m = int(math.sqrt(n))
    w0, h0 = width // 14, height // 14
    patch_pos = torch.nn.functional.interpolate(
        pos_embed[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2),
        scale_factor=(float(w0 + 0.1) / m, float(h0 + 0.1) / m), mode="bicubic", antialias=False)
    assert (w0, h0) == patch_pos.shape[-2:]
    patch_pos = patch_pos.permute(0, 2, 3, 1).view(1, -1, pos_embed.shape[-1])
    return torch.cat((pos_embed[:, :1], patch_pos), dim=1).to(embeddings.dtype)


class _HubLike(torch.nn.Module):
    """What ``torch.hub.load("facebookresearch/dinov2", ...)`` returns: a model whose forward is the normed CLS token."""

    def __init__(self, hf: torch.nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with mock.patch.object(type(self.hf.embeddings), "interpolate_pos_encoding", dinov2_hub_pos_encoding):
            return self.hf(pixel_values=x).pooler_output


def huggingface_dinov2_in_torch_fidelity(state: dict[str, torch.Tensor], name: str) -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorDinoV2`` for ``name`` around HuggingFace's ``Dinov2Model`` holding ``state``."""
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
    from transformers import Dinov2Config, Dinov2Model

    from gan_eval.extractors.dinov2 import ARCHITECTURES

    _, dim, depth, heads = ARCHITECTURES[name]
    config = Dinov2Config(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads, mlp_ratio=4,
                          patch_size=14, image_size=518, layer_norm_eps=1e-6, attn_implementation="eager")
    with torch.device("meta"):  # no random initialisation (seconds for ViT-L): every tensor is assigned below
        hf = Dinov2Model(config)
    hf.load_state_dict(to_huggingface(state, dim, set(hf.state_dict())), strict=True, assign=True)
    assert not any(t.is_meta for t in [*hf.parameters(), *hf.buffers()])
    with mock.patch.object(torch.hub, "load", lambda *a, **k: _HubLike(hf)):
        return FeatureExtractorDinoV2(name, ["dinov2"])


@pytest.fixture(scope="module")
def dinov2_s14(tmp_path_factory) -> tuple[str, dict[str, torch.Tensor]]:
    state = official_dinov2_state(384, 12, seed=3)
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_random.pth"
    torch.save(state, path)
    return str(path), state


@pytest.mark.slow
def test_dinov2_vit_s_14_equals_huggingface_through_torch_fidelity(dinov2_s14, images):
    """Reference: HuggingFace transformers' ``Dinov2Model`` (an independent implementation; eager attention)
    with DINOv2's own position-embedding interpolation, driven by torch-fidelity 0.4.0's
    ``FeatureExtractorDinoV2`` (its ``torch.hub.load`` patched to return that model's normed CLS token),
    so the resize and normalisation are torch-fidelity's too."""
    path, state = dinov2_s14
    ref = huggingface_dinov2_in_torch_fidelity(state, "dinov2-vit-s-14")
    with torch.inference_mode():
        expected = ref(images)[0]
    ours = create_extractor("dinov2-vit-s-14", weights=path)
    assert ours.feature_dim == 384 and ours.official_weights is None  # Meta publishes no hash: unverified
    assert_rel_close(ours(images)["features"], expected)


@pytest.mark.slow
@pytest.mark.parametrize("name, dim, depth, count", [("dinov2-vit-b-14", 768, 12, 2), ("dinov2-vit-l-14", 1024, 24, 1)])
def test_dinov2_larger_equal_huggingface_through_torch_fidelity(name, dim, depth, count, images, tmp_path):
    """Reference: as for ViT-S/14, HuggingFace's ``Dinov2Model`` driven by torch-fidelity 0.4.0's
    ``FeatureExtractorDinoV2``, on random weights in Meta's format (``count`` images; one for ViT-L/14,
    to keep CI short).

    ViT-B/14: float32, end to end, within 1e-5. ViT-L/14 cannot be held to 1e-5 in float32: on these
    weights each float32 run, ours or the reference's, is ~6e-5 (relative) from the float64 result
    (rounding accumulated over 24 blocks), and the two roundings differ (timm and HuggingFace order the
    operations differently), giving ~3e-5 between them. So ViT-L/14 is checked in float64 (both models
    converted, fed the same preprocessed input): equal to 1e-10, the same function; and in float32 its gap
    is at most twice the reference's own float32 rounding error, which is below 1e-4.
    """
    state = official_dinov2_state(dim, depth, seed=5)
    path = tmp_path / f"{name}-random.pth"
    torch.save(state, path)
    ref = huggingface_dinov2_in_torch_fidelity(state, name)
    del state
    ours = create_extractor(name, weights=str(path))
    assert ours.feature_dim == dim and ours.official_weights is None
    batch = images[:count]
    with torch.inference_mode():
        expected32 = ref(batch)[0]
        ours32 = ours(batch)["features"]
        if name == "dinov2-vit-l-14":
            x = ours.preprocess(batch).double()
            expected64, ours64 = ref.model.double()(x), ours.model.double()(x)
    if name == "dinov2-vit-l-14":
        assert_rel_close(ours64, expected64, rtol=1e-10)
        rounding = rel_error(expected32, expected64)
        assert rounding < 1e-4 and rel_error(ours32, expected64) < 1e-4
        assert_rel_close(ours32, expected32, rtol=2 * rounding)
    else:
        assert_rel_close(ours32, expected32)


def test_dinov2_larger_architectures_are_the_published_ones():
    """ViT-B/14 and ViT-L/14: timm's architectures (built on the meta device) have DINOv2's published
    width, depth, heads and patch size, and accept the official checkpoint's keys and shapes."""
    import timm

    from gan_eval.extractors.dinov2 import ARCHITECTURES

    published = {"dinov2-vit-s-14": (384, 12, 6), "dinov2-vit-b-14": (768, 12, 12), "dinov2-vit-l-14": (1024, 24, 16)}
    for name, (dim, depth, heads) in published.items():
        arch, feature_dim, arch_depth, arch_heads = ARCHITECTURES[name]
        assert (feature_dim, arch_depth, arch_heads) == (dim, depth, heads)
        assert EXTRACTOR_INFO[name].feature_dim == dim and EXTRACTOR_INFO[name].input_size == 224
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False, img_size=224, num_classes=0)
        assert model.embed_dim == dim and len(model.blocks) == depth and model.blocks[0].attn.num_heads == heads
        assert model.patch_embed.patch_size == (14, 14) and model.pos_embed.shape[1] == 16 * 16 + 1
        official = {k: tuple(v.shape) for k, v in official_dinov2_state(8, depth, 0).items()}
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert set(official) - {"mask_token"} == set(ours)


def test_dinov2_without_timm_is_one_line(dinov2_s14, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "timm", None)
    with pytest.raises(GanEvalError, match=r'pip install "gan-eval\[encoders\]"'):
        create_extractor("dinov2-vit-b-14", weights=dinov2_s14[0])


# --------------------------------------------------------------------------- weights, provenance, listing


@pytest.mark.parametrize("name", ["vgg16", "clip-vit-b-32", "clip-vit-l-14", "dinov2-vit-s-14", "dinov2-vit-l-14"])
def test_offline_without_weights_is_the_inception_one_line(name):
    spec = EXTRACTOR_INFO[name].weights_file()
    with pytest.raises(WeightsUnavailableError) as caught:
        create_extractor(name)
    message = str(caught.value)
    assert "\n" not in message and "offline mode" in message
    for part in (spec.filename, spec.url, "--weights PATH", spec.env):
        assert part in message


def test_cache_folder_is_searched_and_hash_checked(tmp_path, dinov2_s14):
    from gan_eval import weights

    cached = weights.hub_cache_path(VGG16_WEIGHTS)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"truncated")
    with pytest.raises(GanEvalError, match="corrupt or truncated"):
        weights.resolve_weights(VGG16_WEIGHTS)
    # no published DINOv2 hash: a file in the cache is used, and never called official
    spec = DINOV2_WEIGHTS["dinov2-vit-s-14"]
    weights.hub_cache_path(spec).write_bytes(open(dinov2_s14[0], "rb").read())
    resolved = weights.resolve_weights(spec)
    assert resolved.origin == "torch hub cache" and resolved.official is None


def test_statistics_of_one_encoder_are_refused_for_another(dinov2_s14, tmp_path):
    """Provenance names the encoder and its weights' hash; another encoder's run refuses the file."""
    from gan_eval.api import compute_statistics, evaluate
    from gan_eval.files import sha256_file
    from gan_eval.testing import write_digits

    real = write_digits(tmp_path / "real", "heldout", 4)
    gen = write_digits(tmp_path / "gen", "train", 4)
    stats = tmp_path / "real.npz"
    encoder = create_extractor("dinov2-vit-s-14", weights=dinov2_s14[0])  # built once for both calls
    meta = compute_statistics(str(real), stats, extractor=encoder, cache=False)
    assert meta["extractor"] == "dinov2-vit-s-14" and meta["weights_sha256"] == sha256_file(dinov2_s14[0])
    result = evaluate(str(gen), str(stats), metrics="fid", extractor=encoder, cache=False)
    assert result.provenance["extractor"] == "dinov2-vit-s-14"
    assert result.provenance["weights_sha256"] == sha256_file(dinov2_s14[0])
    assert result.provenance["feature_dim"] == 384 and "imagenet-mean-std" in result.provenance["preprocessing"]
    assert math.isfinite(result.metrics["fid"]) and result.metrics["fid"] > 0
    with pytest.raises(GanEvalError, match="dinov2-vit-s-14"):
        evaluate(str(gen), str(stats), metrics="fid", extractor="clip-vit-b-32", cache=False)


def test_extractors_command_lists_sizes_files_and_states(tmp_path):
    from click.testing import CliRunner

    from gan_eval import weights
    from gan_eval.cli import main

    spec = DINOV2_WEIGHTS["dinov2-vit-b-14"]
    weights.hub_cache_path(spec).parent.mkdir(parents=True, exist_ok=True)
    weights.hub_cache_path(spec).write_bytes(b"x")
    weights.hub_cache_path(VGG16_WEIGHTS).write_bytes(b"not vgg")
    result = CliRunner().invoke(main, ["extractors", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert {"digits", "inception-v3-compat", "vgg16", "clip-vit-b-32", "clip-vit-l-14", "dinov2-vit-s-14",
            "dinov2-vit-b-14", "dinov2-vit-l-14"} <= set(rows)
    assert rows["dinov2-vit-l-14"]["feature_dim"] == 1024 and rows["clip-vit-b-32"]["input_size"] == 224
    assert rows["clip-vit-b-32"]["state"] == "missing" and rows["clip-vit-b-32"]["url"] == CLIP_WEIGHTS["clip-vit-b-32"].url
    assert rows["dinov2-vit-b-14"]["state"] == "found (unverified)"
    assert rows["vgg16"]["state"] == "mismatch"
    assert rows["digits"]["state"] == "bundled"

    from gan_eval.extractors import EXTRACTORS

    EXTRACTORS.register("someplugin/enc", lambda **kwargs: None)  # a plug-in that declares no facts
    try:
        text = CliRunner().invoke(main, ["extractors"])
    finally:
        EXTRACTORS.unregister("someplugin/enc")
    assert text.exit_code == 0
    lines = {x.split()[0]: x for x in text.output.splitlines()[1:]}
    assert "1024" in lines["dinov2-vit-l-14"] and "missing" in lines["dinov2-vit-l-14"]
    assert DINOV2_WEIGHTS["dinov2-vit-l-14"].url in lines["dinov2-vit-l-14"]
    assert lines["someplugin/enc"].split()[1:3] == ["?", "?"]
