"""Pix2Pix / CycleGAN generators and recipes, and the paired image metrics (L1, PSNR, SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gan_eval.generators.checkpoint import load_generator, save_generator
from gan_eval.generators.model import GeneratorHandle
from gan_eval.generators.registry import get_arch
from gan_eval.generators.training import get_recipe, train

from gan_eval.errors import GanEvalError
from gan_eval.metrics.paired import PSNR_CAP_DB, PairedImageMetrics, paired_metrics

ONE_CHANNEL = {"in_channels": 1, "out_channels": 1}
TINY_D = {"pix2pix": {"disc_hidden": 2}, "cyclegan": {"disc_hidden": 4}}
ARCH_OF = {"pix2pix": "pix2pix_unet", "cyclegan": "cyclegan_resnet"}
TASK_OF = {"pix2pix": "edges", "cyclegan": "thickness"}


def tiny_config(arch: str, **extra) -> dict:
    return {**get_arch(arch).tiny, **extra}


@pytest.mark.parametrize("arch, lo, hi", [("pix2pix_unet", 0.0, 1.0), ("cyclegan_resnet", -1.0, 1.0)])
def test_tiny_presets_shape_and_range(arch, lo, hi):
    spec = get_arch(arch)
    assert spec.kind == "image2image"
    torch.manual_seed(0)
    module = spec.build(spec.tiny).eval()
    assert module.out_shape == (3, 28, 28) and module.in_channels == 3
    assert module.z_dim == 0 and module.num_classes == 0
    assert tuple(module.output_range) == (lo, hi)
    x = torch.rand(2, 3, 28, 28) * (hi - lo) + lo
    with torch.no_grad():
        y = module(x * 50)  # extreme inputs still land inside the range
    assert y.shape == (2, 3, 28, 28)
    assert lo <= float(y.min()) and float(y.max()) <= hi


def test_course_defaults():
    unet = get_arch("pix2pix_unet").make_config()
    assert (unet.in_channels, unet.out_channels, unet.hidden_channels, unet.depth, unet.img_size) == (3, 3, 32, 6, 256)
    res = get_arch("cyclegan_resnet").make_config()
    assert (res.hidden_channels, res.n_res, res.img_size) == (64, 9, 256)
    keys = set(get_arch("pix2pix_unet").build({"hidden_channels": 1}).state_dict())
    assert {"upfeature.conv.weight", "contract6.batchnorm.running_mean", "expand0.conv3.weight",
            "downfeature.conv.bias"} <= keys
    assert "contract1.dropout" not in keys  # dropout has no state, BN is shared per block (one per block)
    assert not any(".batchnorm2" in k for k in keys)


def test_infer_config_round_trip():
    for arch in ("pix2pix_unet", "cyclegan_resnet"):
        spec = get_arch(arch)
        config = tiny_config(arch, in_channels=1, out_channels=2)
        inferred = spec.module_cls.infer_config(spec.build(config).state_dict())
        for key, value in inferred.items():
            if key != "img_size":
                assert value == config.get(key, getattr(spec.make_config(), key)), (arch, key)


def test_unet_rejects_bad_sizes():
    spec = get_arch("pix2pix_unet")
    with pytest.raises(GanEvalError, match="divisible by 2\\*\\*depth = 4"):
        spec.build(tiny_config("pix2pix_unet", img_size=30))
    with pytest.raises(GanEvalError, match="divisible by 2\\*\\*depth = 64"):
        spec.build({"img_size": 28})  # course depth 6 needs multiples of 64
    module = spec.build(spec.tiny)
    with pytest.raises(GanEvalError, match="divisible by 4, got 30×28"):
        module(torch.rand(1, 3, 30, 28))
    with pytest.raises(GanEvalError, match="N×3×H×W"):
        module(torch.rand(1, 1, 28, 28))
    with pytest.raises(GanEvalError, match="multiple of 4"):
        get_arch("cyclegan_resnet").build(tiny_config("cyclegan_resnet", img_size=30))


def test_recipe_defaults_are_the_course_values():
    pix = get_recipe("pix2pix")
    assert pix.defaults["lambda_recon"] == 200 and pix.defaults["lr"] == 2e-4 and pix.defaults["batch_size"] == 4
    assert (pix.defaults["beta1"], pix.defaults["beta2"]) == (0.9, 0.999)
    cyc = get_recipe("cyclegan")
    assert cyc.defaults["lambda_cycle"] == 10 and cyc.defaults["lambda_identity"] == 0.1
    assert (cyc.defaults["beta1"], cyc.defaults["beta2"], cyc.defaults["batch_size"]) == (0.5, 0.999, 1)
    recipe = cyc(tiny_config("cyclegan_resnet", **ONE_CHANNEL), TINY_D["cyclegan"])
    assert set(recipe.nets) == {"generator", "generator_ba", "discriminator_a", "discriminator_b"}
    assert recipe.nets["discriminator_a"](torch.zeros(1, 1, 28, 28)).shape == (1, 1, 7, 7)  # 2 blocks at 28
    assert cyc(tiny_config("cyclegan_resnet", img_size=256), {**TINY_D["cyclegan"], "disc_hidden": 1}
               ).nets["discriminator_b"].depth == 3  # course depth at 256: 32×32 map
    pix_recipe = pix(tiny_config("pix2pix_unet", **ONE_CHANNEL), TINY_D["pix2pix"])
    out = pix_recipe.nets["discriminator"](torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28))
    assert out.shape == (1, 1, 7, 7)


@pytest.mark.parametrize("recipe", ["pix2pix", "cyclegan"])
def test_one_training_step_and_checkpoint(recipe, tmp_path):
    arch = ARCH_OF[recipe]
    gen_config = tiny_config(arch, **ONE_CHANNEL)
    steps_seen = []
    path = train(recipe, tmp_path / f"{recipe}.safetensors", data="builtin:mnist-train", task=TASK_OF[recipe],
                 steps=1, batch_size=2, limit=16, gen_config=gen_config, hparams=TINY_D[recipe], seed=3,
                 sample_every=1, on_step=lambda step, losses: steps_seen.append(losses))
    assert len(steps_seen) == 1 and all(math.isfinite(v) for v in steps_seen[0].values())
    assert (tmp_path / f"{recipe}_samples" / "step_000001.png").is_file()
    handle = load_generator(path)
    assert handle.kind == "image2image" and handle.spec.name == arch
    assert handle.meta["training"]["recipe"] == recipe
    sources = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    first = handle.translate(sources)
    second = load_generator(path).translate(sources)
    assert first.shape == (3, 1, 28, 28)
    assert torch.equal(first, second)
    lo, hi = handle.output_range
    assert lo <= float(first.min()) and float(first.max()) <= hi


@pytest.mark.parametrize("arch", ["pix2pix_unet", "cyclegan_resnet"])
def test_save_load_translate_bit_identical(arch, tmp_path):
    spec = get_arch(arch)
    config = tiny_config(arch)
    torch.manual_seed(1)
    module = spec.build(config)
    with torch.no_grad():  # non-trivial BN statistics, so eval mode really uses the saved buffers
        module.train()(torch.rand(4, 3, 28, 28))
    path = save_generator(tmp_path / "g.safetensors", arch, module, config)
    sources = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)
    before = GeneratorHandle(module, spec, config).translate(sources)
    after = load_generator(path).translate(sources)
    assert torch.equal(before, after)


def test_pix2pix_training_is_deterministic(tmp_path):
    outs = []
    for name in ("a", "b"):
        path = train("pix2pix", tmp_path / f"{name}.safetensors", task="edges", steps=2, batch_size=2, limit=8,
                     gen_config=tiny_config("pix2pix_unet", **ONE_CHANNEL), hparams=TINY_D["pix2pix"], seed=5)
        outs.append(load_generator(path).translate(torch.full((1, 1, 28, 28), 128, dtype=torch.uint8)))
    assert torch.equal(outs[0], outs[1])


def _digits(n: int = 4, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(n, 1, 32, 32)).astype(np.uint8)
    return np.repeat(base, channels, axis=1)


@pytest.mark.parametrize("channels", [1, 3])
def test_paired_identical_images(channels):
    x = _digits(3, channels)
    result = paired_metrics(x, x.copy())
    assert result == {"l1": 0.0, "psnr": PSNR_CAP_DB, "ssim": pytest.approx(1.0, abs=1e-12)}


def test_paired_psnr_closed_form_and_l1():
    target = np.random.default_rng(1).integers(0, 200, size=(5, 3, 16, 16)).astype(np.uint8)
    for k in (1, 5, 40):
        gen = target + np.uint8(k)
        result = paired_metrics(torch.from_numpy(gen), torch.from_numpy(target))
        assert result["psnr"] == pytest.approx(20 * math.log10(255 / k), rel=1e-12)
        assert result["l1"] == pytest.approx(k / 255, rel=1e-12)
    gen = np.random.default_rng(2).integers(0, 256, size=target.shape).astype(np.uint8)
    direct = np.abs(gen.astype(np.float64) - target.astype(np.float64)).mean() / 255
    assert paired_metrics(gen, target)["l1"] == pytest.approx(direct, rel=1e-12)


def test_paired_streaming_equals_one_batch_and_ssim_drops_for_noise():
    target = _digits(6)
    rng = np.random.default_rng(3)
    noisy = np.clip(target.astype(np.int16) + rng.normal(0, 40, size=target.shape).round(), 0, 255).astype(np.uint8)
    mild = np.clip(target.astype(np.int16) + rng.normal(0, 5, size=target.shape).round(), 0, 255).astype(np.uint8)
    acc = PairedImageMetrics()
    acc.update(noisy[:2], target[:2])
    acc.update(noisy[2:], target[2:])
    streamed, whole = acc.compute(), paired_metrics(noisy, target)
    assert streamed == pytest.approx(whole, rel=1e-12)
    assert acc.num_images == 6
    assert whole["ssim"] < paired_metrics(mild, target)["ssim"] < 1.0
    assert whole["psnr"] < paired_metrics(mild, target)["psnr"] < PSNR_CAP_DB


def test_paired_errors():
    acc = PairedImageMetrics()
    with pytest.raises(GanEvalError, match=r"generated \(2, 1, 32, 32\) vs target \(2, 3, 32, 32\)"):
        acc.update(_digits(2, 1), _digits(2, 3))
    with pytest.raises(GanEvalError, match="uint8"):
        acc.update(_digits(2).astype(np.float32), _digits(2).astype(np.float32))
    with pytest.raises(GanEvalError, match="no image pairs"):
        acc.compute()
    small = np.zeros((1, 1, 8, 8), dtype=np.uint8)
    with pytest.raises(GanEvalError, match="at least 11×11"):
        acc.update(small, small)
