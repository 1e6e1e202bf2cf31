"""PPL: parity with torch-fidelity's ``calculate_metrics(ppl=True)``, w space on a StyleGAN checkpoint, gates, errors.

The LPIPS-VGG16 weights are random (seeded) files built here: torch-fidelity's linear layers
(``lin0.model.1.weight`` ...) and a VGG16 trunk (``features.*``, torchvision's init), so the real code
path runs with no download.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import cli_env

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.metrics import MetricOptions
from gan_eval.metrics.ppl import filtered_mean, lpips_pixels


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    """(linear layers file, VGG16 trunk file) with seeded random weights."""
    from torchvision.models import vgg

    folder = tmp_path_factory.mktemp("lpips")
    gen = torch.Generator().manual_seed(0)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) / c
           for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.manual_seed(0)
    features = vgg.make_layers(vgg.cfgs["D"], batch_norm=False)
    for m in features.modules():  # torchvision's VGG init keeps the signal alive through 13 layers
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    trunk = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(lin, folder / "lpips.pth")
    torch.save(trunk, folder / "vgg16.pth")
    return folder / "lpips.pth", folder / "vgg16.pth", lin, trunk


@pytest.fixture
def vgg16_env(lpips_files, monkeypatch):
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_VGG16", str(lpips_files[1]))
    return lpips_files


class TinyGenerator(torch.nn.Module):
    """A small z -> 3×16×16 generator in (-1, 1). ``latents`` replays torch-fidelity's draws
    (``np.random.RandomState(seed).randn``, float32) in order, so both tools see the same z0 and z1."""

    output_range = (-1.0, 1.0)

    def __init__(self, seed: int = 2020, z_dim: int = 8) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.z_dim = z_dim
        self.fc = torch.nn.Linear(z_dim, 16 * 8 * 8)
        self.conv = torch.nn.Conv2d(16, 3, 3, padding=1)
        self.stream = np.random.RandomState(seed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc(z)).view(-1, 16, 8, 8)
        return torch.tanh(self.conv(torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")) * 3)

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.from_numpy(self.stream.randn(n, self.z_dim)).float()

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        return self(z)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.decode(self.latents(n, generator))


class _NumpyWithInterpolation:
    """numpy as torch-fidelity 0.4.0 calls it: ``np.percentile(..., interpolation=)``, which numpy 2 removed."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def percentile(a, q, interpolation):
        return np.percentile(a, q, method=interpolation)


def torch_fidelity_ppl(model: TinyGenerator, lin, trunk, n: int, epsilon: float, seed: int, monkeypatch) -> float:
    import torch_fidelity
    import torch_fidelity.metric_ppl as tfi_ppl
    import torch_fidelity.sample_similarity_lpips as tfi_lpips
    from torch_fidelity.generative_model_modulewrapper import (
        GenerativeModelModuleWrapper,
    )
    from torchvision.models import vgg

    def pretrained(**_):
        features = vgg.make_layers(vgg.cfgs["D"], batch_norm=False)
        features.load_state_dict({k.removeprefix("features."): v for k, v in trunk.items()})
        return SimpleNamespace(features=features)

    class Pixels(torch.nn.Module):  # what we hand LPIPS: float pixels in [0, 255]
        def __init__(self) -> None:
            super().__init__()
            self.g = model

        def forward(self, z):
            return lpips_pixels(self.g(z), model.output_range, crop=False)

    monkeypatch.setattr(tfi_ppl, "np", _NumpyWithInterpolation())
    monkeypatch.setattr(tfi_lpips, "load_state_dict_from_url", lambda *a, **k: lin)
    monkeypatch.setattr(tfi_lpips, "torchvision_load_pretrained_vgg16", pretrained)
    wrapped = GenerativeModelModuleWrapper(Pixels(), model.z_dim, "normal", 0)
    out = torch_fidelity.calculate_metrics(
        input1=wrapped, input1_model_num_samples=n, ppl=True, ppl_epsilon=epsilon, ppl_z_interp_mode="slerp_any",
        ppl_sample_similarity_resize=None, ppl_sample_similarity_dtype=None, rng_seed=seed, cuda=False,
        batch_size=32, verbose=False)
    return out["perceptual_path_length_mean"]


@pytest.mark.slow
def test_parity_with_torch_fidelity(vgg16_env, monkeypatch, epsilon=1e-4):
    """Same generator, same z0/z1 (our ``latents`` replays torch-fidelity's RandomState draws), z-space slerp
    (torch-fidelity's ``slerp_any``), ``end`` sampling, same ε, N and 1st/99th percentile filter."""
    lin_path, _, lin, trunk = vgg16_env
    n, seed = 110, 7  # over 101 samples, so the 1st/99th percentile filter drops some
    ours = gan_eval.evaluate(TinyGenerator(seed), metrics="ppl", num_samples=n, seed=seed, batch_size=32,
                             device="cpu", metric_options=MetricOptions(ppl_weights=str(lin_path), ppl_epsilon=epsilon))
    theirs = torch_fidelity_ppl(TinyGenerator(seed), lin, trunk, n, epsilon, seed, monkeypatch)
    assert ours["ppl"] > 0
    assert ours["ppl"] == pytest.approx(theirs, rel=1e-4)
    distances = ours.details["ppl"]["distances"]
    assert distances.shape == (n,) and ours["ppl"] == pytest.approx(filtered_mean(distances))
    assert ours["ppl"] != pytest.approx(float(distances.mean()), rel=1e-6)  # the filter dropped samples
    assert ours.provenance["ppl"]["lpips_weights_official"] is None  # no published hash: unverified
    assert ours.provenance["metric_options"]["ppl_space"] == "z"


def test_filter_drops_below_1st_and_above_99th_percentile():
    # 201 samples: the 1st percentile (lower) is the 3rd smallest, the 99th (higher) the 3rd largest, both kept.
    d = np.concatenate([[-1e6, 1e6, -1e6], np.arange(1.0, 198.0), [1e6]])
    assert filtered_mean(d) == pytest.approx(99.0)
    assert filtered_mean(np.concatenate([np.arange(1.0, 99.0), [-1e6, 1e6]])) == pytest.approx(48.51)  # N=100: none dropped


def test_crop_and_downsampling_follow_stylegan():
    x = torch.arange(2 * 3 * 512 * 512, dtype=torch.float32).view(2, 3, 512, 512) / (3 * 512 * 512) - 1
    out = lpips_pixels(x, (-1.0, 1.0), crop=True)
    c = 512 // 8
    crop = (x[:, :, c * 3:c * 7, c * 2:c * 6] + 1) * 127.5
    assert out.shape == (2, 3, 128, 128)  # factor 512 // 256 = 2, from the full size
    torch.testing.assert_close(out, crop.reshape(2, 3, 128, 2, 128, 2).mean((3, 5)))
    grey = lpips_pixels(torch.zeros(1, 1, 16, 16, dtype=torch.uint8), None, crop=False)
    assert grey.shape == (1, 3, 16, 16)


@pytest.fixture(scope="module")
def stylegan_ckpt(tmp_path_factory):
    from gan_eval.generators.checkpoint import save_generator
    from gan_eval.generators.registry import get_arch

    spec = get_arch("stylegan")
    torch.manual_seed(0)
    module = spec.build(dict(spec.tiny))
    module.w_avg.copy_(torch.randn(module.w_dim, generator=torch.Generator().manual_seed(1)))
    return save_generator(tmp_path_factory.mktemp("g") / "stylegan.safetensors", "stylegan", module.eval(),
                          dict(spec.tiny))


@pytest.mark.slow
def test_w_space_on_a_stylegan_checkpoint_is_lerp_between_mapped_latents(stylegan_ckpt, vgg16_env):
    from gan_eval.generators.checkpoint import load_generator

    lin_path = vgg16_env[0]
    opts = MetricOptions(ppl_weights=str(lin_path), ppl_space="w", ppl_epsilon=1e-2)
    real = np.random.default_rng(0).integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="rank-deficient"):  # FID from 20 samples
        result = gan_eval.evaluate(str(stylegan_ckpt), real, metrics="fid,ppl", num_samples=20, device="cpu", seed=3,
                                   extractor="digits", metric_options=opts, ci=0.9, bootstrap=50)
    # One run, two kinds of metric: FID from the digits features, PPL from the latent paths.
    assert set(result.metrics) == {"fid", "ppl"} and set(result.ci) == {"fid", "ppl"}
    assert result.provenance["extractor"] == "digits" and result.provenance["ppl"]["lpips_vgg16_official"] is False
    assert result.provenance["metric_options"]["ppl_space"] == "w"
    # By hand: the handle's map_w / synthesize, w lerp at t = 0 and ε, the same LPIPS and filter.
    from gan_eval.metrics.ppl import open_lpips

    handle = load_generator(stylegan_ckpt)
    lpips, _ = open_lpips(str(lin_path), torch.device("cpu"))
    rng = torch.Generator().manual_seed(3)
    z0, z1 = handle.latents(20, rng), handle.latents(20, rng)
    with torch.no_grad():
        w0, w1 = handle.map_w(z0), handle.map_w(z1)
        a = lpips_pixels(handle.synthesize(w0), handle.output_range, False)
        b = lpips_pixels(handle.synthesize(w0 + (w1 - w0) * 1e-2), handle.output_range, False)
        expected = filtered_mean((lpips(a, b).double() / 1e-4).numpy())
    assert result["ppl"] == pytest.approx(expected, rel=1e-5)
    lo, hi = result.ci["ppl"]
    assert lo <= result["ppl"] <= hi and lo >= 0 and hi > lo


def test_refusals_are_one_line(tmp_path, vgg16_env):
    from conftest import write_digits

    folder = write_digits(tmp_path / "imgs", "heldout", 4)
    with pytest.raises(GanEvalError, match=r"^ppl needs a generator with a latent space .*not images"):
        gan_eval.evaluate(str(folder), metrics="ppl")
    with pytest.raises(GanEvalError, match=r"^--ppl-space w needs a mapping network .* use --ppl-space z$"):
        gan_eval.evaluate(TinyGenerator(), metrics="ppl", num_samples=4,
                          metric_options=MetricOptions(ppl_space="w", ppl_weights=str(vgg16_env[0])))
    with pytest.raises(GanEvalError, match=r"^--ppl-sampling must be one of end, full"):
        gan_eval.evaluate(TinyGenerator(), metrics="ppl", num_samples=4,
                          metric_options=MetricOptions(ppl_sampling="middle"))
    with pytest.raises(GanEvalError, match=r"samples a generator's latent space"):
        gan_eval.Evaluator("ppl", extractor="digits")


@pytest.mark.slow
def test_cli_w_space_json_and_gate(tmp_path, stylegan_ckpt, vgg16_env):
    """``gan-eval evaluate --gen stylegan.safetensors --metrics ppl --ppl-space w``, then a gate rule on ppl."""
    out = tmp_path / "run.json"
    env = {**cli_env(), "GAN_EVAL_WEIGHTS_LPIPS": str(vgg16_env[0])}
    proc = subprocess.run([sys.executable, "-m", "gan_eval", "evaluate", "--gen", str(stylegan_ckpt), "--metrics", "ppl",
                           "--ppl-space", "w", "--ppl-sampling", "full", "-n", "16", "--device", "cpu",
                           "--json", str(out)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Perceptual path length" in proc.stdout
    import json

    doc = json.loads(out.read_text())
    value = doc["metrics"]["ppl"]
    assert value > 0 and doc["provenance"]["metric_options"]["ppl_space"] == "w"
    assert doc["provenance"]["metric_options"]["ppl_sampling"] == "full"
    import copy

    from gan_eval.gate import load_result, parse_rules, run_gate

    run_doc = load_result(out)
    rules = parse_rules({"rule": [{"metric": "ppl", "max_regression": 0.1}]})
    better_before, worse_before = copy.deepcopy(run_doc), copy.deepcopy(run_doc)
    better_before["metrics"]["ppl"] = value / 2  # the baseline was smoother: this run regressed (lower is better)
    worse_before["metrics"]["ppl"] = value * 2
    assert run_gate(run_doc, better_before, rules).status == "FAIL"
    assert run_gate(run_doc, worse_before, rules).status == "PASS"
    assert run_gate(run_doc, None, parse_rules({"rule": [{"metric": "ppl", "max": value * 0.5}]})).status == "FAIL"
