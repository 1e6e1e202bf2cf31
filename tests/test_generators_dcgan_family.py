"""The course MLP/DCGAN family: architectures (mlp_gan, dcgan, cond_dcgan) and recipes (gan, dcgan,
wgan-gp, sngan, cgan) — shapes and ranges, tiny CPU training, save/load and course-file import."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from gan_eval.generators.checkpoint import import_state_dict, load_generator
from gan_eval.generators.model import GeneratorHandle
from gan_eval.generators.registry import get_arch
from gan_eval.generators.training import train
from safetensors.torch import load_file
from torch import nn

from gan_eval.errors import GanEvalError

TINY_D = {"gan": 4, "dcgan": 4, "wgan-gp": 4, "sngan": 4, "cgan": 4}
RECIPE_ARCH = {"gan": "mlp_gan", "dcgan": "dcgan", "wgan-gp": "dcgan", "sngan": "dcgan", "cgan": "cond_dcgan"}


def _tiny(arch: str, **extra):
    spec = get_arch(arch)
    config = {**spec.tiny, **extra}
    return spec, config, spec.build(config).eval()


def _call(module: nn.Module, z: torch.Tensor, num_classes: int = 0) -> torch.Tensor:
    if num_classes:
        return module(z, F.one_hot(torch.arange(z.shape[0]) % num_classes, num_classes).float())
    return module(z)


@pytest.mark.parametrize("arch, extra, shape, value_range", [
    ("mlp_gan", {}, (1, 28, 28), (0.0, 1.0)),
    ("dcgan", {}, (1, 28, 28), (-1.0, 1.0)),
    ("dcgan", {"img_size": 64, "im_chan": 3}, (3, 64, 64), (-1.0, 1.0)),
    ("cond_dcgan", {}, (1, 28, 28), (-1.0, 1.0)),
])
def test_tiny_output_shape_and_range(arch, extra, shape, value_range):
    spec, config, module = _tiny(arch, **extra)
    assert tuple(module.out_shape) == shape
    assert tuple(module.output_range) == value_range
    assert spec.truncation == "z_truncnorm"
    z = torch.randn(5, module.z_dim, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        out = _call(module, z, module.num_classes)
    assert out.shape == (5, *shape)
    assert out.min() >= value_range[0] and out.max() <= value_range[1]


def test_course_default_sizes_and_kinds():
    mlp = get_arch("mlp_gan").build()
    assert [tuple(mlp.state_dict()[f"gen.{i}.0.weight"].shape) for i in range(4)] == [
        (128, 64), (256, 128), (512, 256), (1024, 512)]
    assert tuple(mlp.state_dict()["gen.4.weight"].shape) == (784, 1024)
    dcgan = get_arch("dcgan").build()
    assert tuple(dcgan.state_dict()["gen.0.0.weight"].shape) == (64, 256, 3, 3)
    assert tuple(dcgan.state_dict()["gen.3.0.weight"].shape) == (64, 1, 4, 4)
    cond = get_arch("cond_dcgan").build()
    assert tuple(cond.state_dict()["gen.0.0.weight"].shape) == (74, 256, 3, 3)
    assert get_arch("cond_dcgan").kind == "conditional" and cond.num_classes == 10
    assert get_arch("dcgan").kind == "unconditional" and dcgan.num_classes == 0


def test_dcgan_rejects_unsupported_img_size():
    with pytest.raises(GanEvalError, match="img_size must be one of 28, 64"):
        get_arch("dcgan").build({"img_size": 32})
    from gan_eval.generators.architectures.dcgan import DcganGenerator

    with pytest.raises(ValueError, match="img_size"):
        DcganGenerator(img_size=48)


@pytest.mark.parametrize("recipe", ["gan", "dcgan", "wgan-gp", "sngan", "cgan"])
def test_one_training_step_per_recipe(recipe, tmp_path):
    losses: list[dict[str, float]] = []
    spec = get_arch(RECIPE_ARCH[recipe])
    out = train(recipe, tmp_path / f"{recipe}.safetensors", steps=1, batch_size=8, limit=64, gen_config=spec.tiny,
                hparams={"d_hidden_dim": TINY_D[recipe]}, progress=False, on_step=lambda s, l: losses.append(l))
    assert len(losses) == 1 and losses[0]
    assert all(math.isfinite(v) for v in losses[0].values())
    handle = load_generator(out)
    assert handle.spec.name == RECIPE_ARCH[recipe]
    assert handle.meta["training"]["recipe"] == recipe
    images = handle.sample(4, torch.Generator().manual_seed(1))
    lo, hi = handle.output_range
    assert images.shape == (4, *handle.module.out_shape)
    assert torch.isfinite(images).all() and images.min() >= lo and images.max() <= hi
    assert (tmp_path / f"{recipe}.train.pt").is_file()


def test_wgan_gp_and_sngan_discriminators():
    from gan_eval.generators.training import get_recipe

    wgan = get_recipe("wgan-gp")(get_arch("dcgan").tiny, {"d_hidden_dim": 4, "critic_steps": 2})
    assert wgan.hp["gp_lambda"] == 10.0 and "critic" in wgan.nets
    assert any(isinstance(m, nn.BatchNorm2d) for m in wgan.nets["critic"].modules())  # course critic keeps BN
    sngan = get_recipe("sngan")(get_arch("dcgan").tiny, {"d_hidden_dim": 4})
    convs = [m for m in sngan.nets["discriminator"].modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    assert get_recipe("wgan-gp").defaults["critic_steps"] == 5
    assert get_recipe("gan").defaults["lr"] == 1e-5
    assert tuple(get_recipe("dcgan").defaults["betas"]) == (0.5, 0.999)
    cgan = get_recipe("cgan")(get_arch("cond_dcgan").tiny, {"d_hidden_dim": 4})
    assert cgan.nets["discriminator"].disc[0][0].in_channels == 11
    with pytest.raises(GanEvalError, match="unknown hyper-parameter"):
        get_recipe("dcgan")(None, {"gp_lambda": 1.0})


def test_save_load_samples_bit_identical(tmp_path):
    out = train("dcgan", tmp_path / "g.safetensors", steps=1, batch_size=8, limit=32, gen_config=get_arch("dcgan").tiny,
                hparams={"d_hidden_dim": 4}, progress=False)
    first = load_generator(out).sample(6, torch.Generator().manual_seed(7))
    second = load_generator(out).sample(6, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    assert not torch.equal(first, load_generator(out).sample(6, torch.Generator().manual_seed(8)))


def _course_dcgan(input_dim: int, im_chan: int, hidden_dim: int, size: int) -> nn.Module:
    """A stand-alone replica of the course notebooks' generator layout (``self.gen`` of blocks)."""

    def block(i, o, k=3, s=2, final=False):
        if final:
            return nn.Sequential(nn.ConvTranspose2d(i, o, k, s), nn.Tanh())
        return nn.Sequential(nn.ConvTranspose2d(i, o, k, s), nn.BatchNorm2d(o), nn.ReLU())

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            h = hidden_dim
            if size == 28:
                self.gen = nn.Sequential(block(input_dim, 4 * h), block(4 * h, 2 * h, 4, 1), block(2 * h, h),
                                         block(h, im_chan, 4, final=True))
            else:
                self.gen = nn.Sequential(block(input_dim, 8 * h), block(8 * h, 4 * h), block(4 * h, 2 * h),
                                         block(2 * h, h), block(h, im_chan, 4, final=True))

        def forward(self, x):
            return self.gen(x.view(len(x), -1, 1, 1))

    torch.manual_seed(3)
    gen = Generator()
    with torch.no_grad():  # non-trivial BN running stats so eval mode matters
        for m in gen.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return gen.eval()


@pytest.mark.parametrize("im_chan, hidden_dim, z_dim, size", [(1, 6, 12, 28), (3, 3, 10, 64)])
def test_course_state_dict_imports_with_inferred_config(tmp_path, im_chan, hidden_dim, z_dim, size):
    course = _course_dcgan(z_dim, im_chan, hidden_dim, size)
    path = tmp_path / "course.pth"
    torch.save({"gen": course.state_dict(), "gen_opt": {}}, path)
    out = import_state_dict(path, "dcgan", tmp_path / "imported.safetensors")
    handle = load_generator(out)
    assert handle.config == {"z_dim": z_dim, "im_chan": im_chan, "hidden_dim": hidden_dim, "img_size": size}
    z = torch.randn(4, z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(handle.module(z), course(z))
    # GeneratorHandle's latents are what the course model gets for the same seed
    latents = handle.latents(4, torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(handle.sample(4, torch.Generator().manual_seed(5)), course(latents))


def test_course_conditional_and_mlp_import(tmp_path):
    course = _course_dcgan(8 + 10, 1, 4, 28)
    torch.save({"gen": course.state_dict()}, tmp_path / "cgan.pth")
    handle = load_generator(import_state_dict(tmp_path / "cgan.pth", "cond_dcgan", tmp_path / "c.safetensors"))
    assert handle.config == {"z_dim": 8, "num_classes": 10, "im_chan": 1, "hidden_dim": 4}
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    one_hot = F.one_hot(torch.tensor([0, 4, 9]), 10).float()
    with torch.no_grad():
        assert torch.equal(handle.module(z, one_hot), course(torch.cat([z, one_hot], 1)))

    _, _, mlp = _tiny("mlp_gan", hidden_dim=5, z_dim=7)
    torch.save({"gen": mlp.state_dict()}, tmp_path / "mlp.pth")
    handle = load_generator(import_state_dict(tmp_path / "mlp.pth", "mlp_gan", tmp_path / "m.safetensors"))
    assert handle.config == {"z_dim": 7, "hidden_dim": 5, "im_chan": 1, "img_size": 28}


def test_import_config_mismatch_shows_readable_diff(tmp_path):
    course = _course_dcgan(12, 1, 6, 28)
    path = tmp_path / "course.pth"
    torch.save({"gen": course.state_dict()}, path)
    with pytest.raises(GanEvalError) as err:
        import_state_dict(path, "dcgan", tmp_path / "bad.safetensors", config={"z_dim": 12, "hidden_dim": 5})
    message = str(err.value)
    assert "does not match the tensors" in message
    assert "gen.0.0.weight: file has [12, 24, 3, 3], config builds [12, 20, 3, 3]" in message
    assert not (tmp_path / "bad.safetensors").exists()


def test_truncated_latents_bounded_and_seeded():
    spec, config, module = _tiny("dcgan")
    handle = GeneratorHandle(module, spec, config, truncation=0.5)
    a = handle.latents(200, torch.Generator().manual_seed(11))
    b = handle.latents(200, torch.Generator().manual_seed(11))
    assert a.shape == (200, module.z_dim)
    assert a.abs().max() <= 0.5 and torch.equal(a, b)
    assert not torch.equal(a, handle.latents(200, torch.Generator().manual_seed(12)))
    assert 0.2 < a.std() < 0.35  # truncated at ±0.5σ: std ≈ 0.28, not clamped noise
    images = handle.sample(4, torch.Generator().manual_seed(11))
    assert torch.equal(images, handle.sample(4, torch.Generator().manual_seed(11)))


def test_conditional_fixed_label_uses_one_hot_class():
    spec, config, module = _tiny("cond_dcgan")
    seen: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(kwargs["labels"]), with_kwargs=True)
    handle = GeneratorHandle(module, spec, config, label=3)
    images = handle.sample(5, torch.Generator().manual_seed(0))
    hook.remove()
    assert torch.equal(seen[-1], F.one_hot(torch.full((5,), 3), 10).float())
    z = handle.latents(5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(images, module(z, F.one_hot(torch.full((5,), 3), 10).float()))
    with pytest.raises(GanEvalError, match="out of range"):
        GeneratorHandle(module, spec, config, label=10)


@pytest.mark.parametrize("recipe", ["wgan-gp", "cgan"])
def test_training_is_deterministic_for_a_seed(tmp_path, recipe):
    spec = get_arch(RECIPE_ARCH[recipe])
    hparams = {"d_hidden_dim": 4, **({"critic_steps": 2} if recipe == "wgan-gp" else {})}
    paths = []
    for run, seed in (("a", 4), ("b", 4), ("c", 5)):
        paths.append(train(recipe, tmp_path / f"{run}.safetensors", steps=2, batch_size=8, limit=64, seed=seed,
                           gen_config=spec.tiny, hparams=hparams, progress=False))
    first, second, other = (load_file(str(p)) for p in paths)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_handle_implements_the_core_generator_protocol():
    from gan_eval import models
    from gan_eval.audit.walks import latent_model

    spec, config, module = _tiny("cond_dcgan")
    handle = GeneratorHandle(module, spec, config)
    for protocol in (models.Generator, models.ConditionalGenerator, models.TruncatableGenerator, models.LatentGenerator):
        assert isinstance(handle, protocol), protocol
    assert (models.generator_kind(handle), models.num_classes(handle), models.truncation_kind(handle)) == \
        ("conditional", 10, "z_truncnorm")
    assert models.generator_name(handle) == "cond_dcgan" and models.has_latents(handle)
    # sample = decode(latents, labels) drawn in that order from one generator: the one sampling path
    rng = torch.Generator().manual_seed(4)
    z, labels = handle.latents(6, rng), handle.labels(6, rng)
    with torch.no_grad():
        assert torch.equal(handle.decode(z, labels), handle.sample(6, torch.Generator().manual_seed(4)))
    # with_truncation: a copy at psi sharing the weights; psi is checked
    truncated = handle.with_truncation(0.5)
    assert truncated.module is module and truncated.truncation == 0.5 and handle.truncation is None
    assert truncated.latents(100, torch.Generator().manual_seed(0)).abs().max() <= 0.5
    with pytest.raises(GanEvalError, match="threshold must be > 0"):
        handle.with_truncation(0.0)
    # walks hold each image's class fixed and follow gradients through decode
    walk_model = latent_model(handle.with_truncation(None))
    z, cond = walk_model.draw(3, torch.Generator().manual_seed(1))
    assert cond.shape == (3,) and cond.dtype == torch.long
    z.requires_grad_(True)
    walk_model.decode(z, cond).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_models_without_latents_or_truncation_say_so():
    from gan_eval import models
    from gan_eval.audit.walks import latent_model

    spec = get_arch("pix2pix_unet")
    pix2pix = GeneratorHandle(spec.build(spec.tiny), spec, spec.tiny)
    assert models.generator_kind(pix2pix) == "image2image" and not models.has_latents(pix2pix)
    assert models.truncation_kind(pix2pix) is None and latent_model(pix2pix) is None
    spec, config, module = _tiny("mlp_gan")
    plain = GeneratorHandle(module, spec, config)
    assert models.draw_labels(plain, 4, torch.Generator()) is None  # unconditional: no draw at all
    assert models.generator_kind(object()) == "unconditional" and models.truncation_kind(object()) is None
