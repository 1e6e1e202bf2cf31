"""StyleGAN family: MicroStyleGAN (course C2W3, progressive α-blend) and the small StyleGAN2, with recipes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from gan_eval.generators.architectures.stylegan2 import modulated_conv2d
from gan_eval.generators.checkpoint import load_generator, read_metadata, save_generator
from gan_eval.generators.registry import get_arch
from gan_eval.generators.training import get_recipe, train

from gan_eval.errors import GanEvalError

ARCHS = ("stylegan", "stylegan2")


def tiny(name: str, **overrides) -> torch.nn.Module:
    spec = get_arch(name)
    torch.manual_seed(0)
    return spec.build({**spec.tiny, **overrides})


def with_random_w_avg(module: torch.nn.Module) -> torch.nn.Module:
    module.w_avg.copy_(torch.randn(module.w_dim, generator=torch.Generator().manual_seed(1)))
    return module.eval()


def latents(n: int, module: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, module.z_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ARCHS)
def test_tiny_shapes_range_and_registration(name):
    spec = get_arch(name)
    assert spec.kind == "unconditional" and spec.truncation == "w_avg_lerp"
    module = tiny(name).eval()
    expected = {"stylegan": (3, 16, 16), "stylegan2": (1, 16, 16)}[name]
    assert tuple(module.out_shape) == expected
    assert tuple(module.output_range) == (-1.0, 1.0)
    assert module.num_classes == 0
    with torch.no_grad():
        out = module(latents(5, module))
    assert out.shape == (5, *expected)
    assert out.min() > -1 and out.max() < 1


def test_out_shape_follows_num_blocks():
    assert tiny("stylegan", num_blocks=2).out_shape == (3, 8, 8)
    module = tiny("stylegan", num_blocks=4).eval()
    assert module.out_shape == (3, 32, 32)
    assert module(latents(2, module)).shape == (2, 3, 32, 32)


def test_config_validation():
    with pytest.raises(GanEvalError, match="power of 2"):
        get_arch("stylegan2").make_config({"img_size": 12})
    with pytest.raises(GanEvalError, match="power of 2"):
        get_arch("stylegan2").make_config({"img_size": 4})
    with pytest.raises(ValueError):
        get_arch("stylegan2").module_cls(img_size=24)
    with pytest.raises(GanEvalError, match="num_blocks"):
        get_arch("stylegan").make_config({"num_blocks": 1})
    with pytest.raises(GanEvalError, match="alpha"):
        get_arch("stylegan").make_config({"alpha": 1.5})


@pytest.mark.parametrize("name", ARCHS)
def test_infer_config_round_trip(name):
    spec = get_arch(name)
    config = dataclasses.asdict(spec.make_config(spec.tiny))
    module = spec.build(config)
    assert spec.module_cls.infer_config(module.state_dict()) == config


@pytest.mark.parametrize("name", ARCHS)
def test_eval_noise_is_constant_and_train_noise_random(name):
    module = tiny(name)
    if name == "stylegan2":  # noise strength starts at 0 as in StyleGAN2; make the noise visible
        for key, param in module.named_parameters():
            if key.endswith("noise_strength"):
                param.data.fill_(0.5)
    z = latents(3, module)
    with torch.no_grad():
        module.eval()
        assert torch.equal(module(z), module(z))
        module.train()
        a = module(z, noise_generator=torch.Generator().manual_seed(5))
        b = module(z, noise_generator=torch.Generator().manual_seed(5))
        c = module(z, noise_generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="noise_mode"):
        module(z, noise_mode="bogus")


@pytest.mark.parametrize("name", ARCHS)
def test_truncation_psi_one_is_bit_identical_to_none(name):
    module = with_random_w_avg(tiny(name))
    z = latents(4, module)
    with torch.no_grad():
        assert torch.equal(module(z), module(z, truncation=1.0))
        assert not torch.equal(module(z), module(z, truncation=0.5))


@pytest.mark.parametrize("name", ARCHS)
def test_truncation_psi_zero_uses_w_avg_for_every_sample(name):
    module = with_random_w_avg(tiny(name))
    with torch.no_grad():
        out = module(torch.cat([latents(2, module, 0), latents(2, module, 7) * 3]), truncation=0.0)
        assert torch.equal(module.map_w(latents(3, module), 0.0), module.w_avg.expand(3, -1))
    assert all(torch.equal(out[0], out[i]) for i in range(1, 4))


@pytest.mark.parametrize("name", ARCHS)
def test_intermediate_psi_interpolates_in_w(name):
    module = with_random_w_avg(tiny(name))
    z = latents(4, module)
    with torch.no_grad():
        w = module.map_w(z)
        for psi in (0.25, 0.7):
            expected = module.w_avg + psi * (w - module.w_avg)
            torch.testing.assert_close(module.map_w(z, psi), expected, rtol=1e-5, atol=1e-6)
        img = {psi: module(z, truncation=psi) for psi in (0.0, 0.5, 1.0)}
    spread = {psi: (img[psi] - img[psi].mean(0)).abs().mean() for psi in img}
    assert spread[0.0] == 0 < spread[0.5] < spread[1.0]


@pytest.mark.parametrize("name", ARCHS)
def test_w_avg_ema_updates_in_train_mode_only(name):
    module = tiny(name)
    z = latents(6, module)
    module.eval()
    with torch.no_grad():
        w = module.map_w(z)
        module(z)
    assert torch.equal(module.w_avg, torch.zeros(module.w_dim))
    module.train()
    with torch.no_grad():
        module(z)
    torch.testing.assert_close(module.w_avg, 0.005 * w.mean(0))
    before = module.w_avg.clone()
    with torch.no_grad():
        module(z)
    torch.testing.assert_close(module.w_avg, 0.995 * before + 0.005 * w.mean(0))
    after = module.w_avg.clone()
    module.eval()
    with torch.no_grad():
        module(z, truncation=0.5)
    assert torch.equal(module.w_avg, after)


def test_alpha_blend_endpoints():
    module = tiny("stylegan").eval()
    z = latents(3, module)
    with torch.no_grad():
        out, small, big = module(z, return_intermediate=True)
        assert float(module.alpha) == pytest.approx(0.2)
        torch.testing.assert_close(out, torch.tanh(0.2 * big + 0.8 * small))
        module.set_alpha(1.0)
        out1, small1, big1 = module(z, return_intermediate=True)
        module.set_alpha(0.0)
        out0, small0, big0 = module(z, return_intermediate=True)
    assert torch.equal(big1, big) and torch.equal(small0, small)
    assert torch.equal(out1, torch.tanh(big)) and torch.equal(out0, torch.tanh(small))
    assert small.shape == big.shape == (3, 3, 16, 16)
    with pytest.raises(ValueError):
        module.set_alpha(1.2)


def test_modulated_conv_demodulation_gives_unit_std():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 32, 40, 40, generator=gen)
    weight = torch.randn(16, 32, 3, 3, generator=gen) * 0.3
    styles = torch.rand(3, 32, generator=gen) * 3 + 0.5
    out = modulated_conv2d(x, weight, styles, demodulate=True, padding=1)[:, :, 1:-1, 1:-1]
    std = out.std(dim=(2, 3))
    assert std.shape == (3, 16)
    assert torch.all((std - 1).abs() < 0.1), std
    raw = modulated_conv2d(x, weight, styles, demodulate=False, padding=1)[:, :, 1:-1, 1:-1]
    assert raw.std() > 2
    # The grouped form equals a per-sample conv with the modulated weight.
    single = torch.nn.functional.conv2d(x[1:2], weight * styles[1][None, :, None, None], padding=1)
    torch.testing.assert_close(modulated_conv2d(x, weight, styles, demodulate=False, padding=1)[1:2], single,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ARCHS)
def test_recipe_optimiser_groups_and_discriminator(name):
    recipe_cls = get_recipe(name)
    spec = get_arch(name)
    recipe = recipe_cls(spec.tiny, {"d_channels": 4})
    groups = recipe.opts["generator"].param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-5])
    mapping_ids = {id(p) for k, p in recipe.generator.named_parameters() if k.startswith(recipe.mapping_prefix)}
    assert mapping_ids and {id(p) for p in groups[1]["params"]} == mapping_ids
    assert recipe.opts["discriminator"].param_groups[0]["betas"] == (0.0, 0.99)
    disc = recipe.nets["discriminator"]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in disc.modules())
    assert disc(torch.zeros(2, *recipe.generator.out_shape)).shape == (2, 1)
    with pytest.raises(GanEvalError, match="unknown hyper-parameter"):
        recipe_cls(spec.tiny, {"nope": 1})


@pytest.mark.parametrize("name", ARCHS)
def test_one_training_step_and_bit_identical_reload(name, tmp_path):
    spec = get_arch(name)
    path = train(name, tmp_path / "g.safetensors", steps=1, batch_size=4, limit=16, gen_config=spec.tiny,
                 hparams={"d_channels": 4}, progress=False)
    meta = read_metadata(path)
    assert meta["arch"] == name and meta["training"]["recipe"] == name
    assert meta["io"]["truncation"] == "w_avg_lerp" and meta["io"]["output_range"] == [-1.0, 1.0]
    assert all(v == v for v in meta["training"]["final_losses"].values())
    handle = load_generator(path, truncation=0.7)
    assert torch.count_nonzero(handle.module.w_avg) > 0  # the EMA ran during training
    first = handle.sample(6, torch.Generator().manual_seed(0))
    assert first.shape == (6, *spec.build(spec.tiny).out_shape)
    assert torch.equal(first, handle.sample(6, torch.Generator().manual_seed(0)))
    again = save_generator(tmp_path / "again.safetensors", name, handle.module, handle.config)
    assert torch.equal(first, load_generator(again, truncation=0.7).sample(6, torch.Generator().manual_seed(0)))
    assert torch.equal(first, load_generator(path, truncation=0.7).sample(6, torch.Generator().manual_seed(0)))
    assert not torch.equal(first, load_generator(path).sample(6, torch.Generator().manual_seed(0)))


def test_training_is_deterministic_for_a_seed(tmp_path):
    spec = get_arch("stylegan2")
    runs = [train("stylegan2", tmp_path / f"g{i}.safetensors", steps=2, batch_size=4, limit=16, gen_config=spec.tiny,
                  hparams={"d_channels": 4}, progress=False, seed=3) for i in range(2)]
    a, b = (load_generator(p).sample(4, torch.Generator().manual_seed(0)) for p in runs)
    assert torch.equal(a, b)


def test_fade_in_alpha_is_stored_in_the_checkpoint(tmp_path):
    spec = get_arch("stylegan")
    path = train("stylegan", tmp_path / "g.safetensors", steps=1, batch_size=4, limit=16, gen_config=spec.tiny,
                 hparams={"d_channels": 4, "fade_in_steps": 2}, progress=False)
    handle = load_generator(path)
    assert handle.config["alpha"] == pytest.approx(0.2)  # the starting value
    assert float(handle.module.alpha) == pytest.approx(0.6)  # where the fade stood when saved
    with pytest.raises(GanEvalError, match="unknown hyper-parameter"):
        get_recipe("stylegan2")(get_arch("stylegan2").tiny, {"fade_in_steps": 2})
