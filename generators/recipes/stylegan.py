"""StyleGAN training recipes: non-saturating logistic loss with an R1 penalty (``stylegan``, ``stylegan2``).

Loss and optimiser follow the official StyleGAN/StyleGAN2 setup as used by the course's FreezeD
notebook: D minimises ``softplus(D(fake)) + softplus(−D(real)) + γ/2·‖∇ₓD(real)‖²`` (R1 on real
images, every step, γ = 10); G minimises ``softplus(−D(G(z)))``. Adam with betas (0, 0.99); D lr
2e-3 (FreezeD), G lr 1e-3 (FreezeD's Adam default) with the mapping network at 0.01× through a
param group. FreezeD multiplies its per-group factor into the learning rate on every step, which
drives the mapping lr to ~0 at once; here the factor is applied exactly once.

The discriminator is a small conv net at the generator's output resolution (LReLU(0.2), no
normalisation, equalised learning rate as in the official code): Conv3×3 to ``d_channels``, stride-2 4×4 convs doubling the width (capped at
4·``d_channels``) down to 4×4, then a linear logit. ``fade_in_steps`` (``stylegan`` only) raises
the generator's progressive-growing ``alpha`` linearly from its config value to 1 over that many
steps; ``alpha`` is a buffer, so checkpoints record where the fade stood. Not included: G weight
EMA, style mixing, path-length regularisation, lazy (every-16-steps) R1.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from gan_eval.generators import noise
from gan_eval.generators.architectures.stylegan2 import EqualLinear, ScaledLeakyReLU
from gan_eval.generators.training import Recipe, register_recipe
from torch import nn


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: N(0, 1) weights scaled by 1/√fan_in at run time."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, stride=self.stride, padding=self.padding)


class StyleDiscriminator(nn.Module):
    """Conv3×3 → [Conv4×4 s2 → LReLU(0.2)]* down to 4×4 → linear logit; no normalisation layers.

    Layers use equalised learning rate like the official StyleGAN discriminator: with plain
    PyTorch initialisation, Adam at lr 2e-3 and β1 = 0 moves the weights far too fast and the
    discriminator diverges within a few hundred steps.
    """

    def __init__(self, in_chan: int, img_size: int, channels: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [EqualConv2d(in_chan, channels, 3, padding=1), ScaledLeakyReLU()]
        ch, size = channels, img_size
        while size > 4:
            nxt = min(ch * 2, 4 * channels)
            layers += [EqualConv2d(ch, nxt, 4, stride=2, padding=1), ScaledLeakyReLU()]
            ch, size = nxt, size // 2
        self.features = nn.Sequential(*layers)
        self.head = EqualLinear(ch * size * size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


@register_recipe
class StyleGANRecipe(Recipe):
    """MicroStyleGAN (course C2W3) trained with the non-saturating loss + R1."""

    name: ClassVar[str] = "stylegan"
    arch: ClassVar[str] = "stylegan"
    data_kind: ClassVar[str] = "images"
    mapping_prefix: ClassVar[str] = "map."
    defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 32,
        "g_lr": 1e-3,
        "d_lr": 2e-3,
        "mapping_lr_mul": 0.01,
        "beta1": 0.0,
        "beta2": 0.99,
        "r1_gamma": 10.0,
        "d_channels": 64,
        "fade_in_steps": 0,
    }

    def build(self) -> None:
        c, h, _ = self.generator.out_shape
        self.discriminator = StyleDiscriminator(c, h, int(self.hp["d_channels"])).to(self.device)
        self.nets["discriminator"] = self.discriminator
        betas = (float(self.hp["beta1"]), float(self.hp["beta2"]))
        mapping, synthesis = [], []
        for key, param in self.generator.named_parameters():
            (mapping if key.startswith(self.mapping_prefix) else synthesis).append(param)
        g_lr = float(self.hp["g_lr"])
        self.opts["generator"] = torch.optim.Adam(
            [{"params": synthesis, "lr": g_lr}, {"params": mapping, "lr": g_lr * float(self.hp["mapping_lr_mul"])}],
            lr=g_lr, betas=betas)
        self.opts["discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=float(self.hp["d_lr"]), betas=betas)

    def _fake(self, n: int, rng: torch.Generator) -> torch.Tensor:
        z = noise.normal(n, self.generator.z_dim, rng).to(self.device)
        return self.generator(z, noise_generator=rng)

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        real = batch["images"]
        n = real.shape[0]
        d_opt, g_opt = self.opts["discriminator"], self.opts["generator"]

        # Discriminator: logistic loss on real and fake, plus R1 on the real images.
        self.discriminator.requires_grad_(True)
        with torch.no_grad():
            fake = self._fake(n, rng)
        real = real.detach().requires_grad_(True)
        d_real = self.discriminator(real)
        d_fake = self.discriminator(fake)
        d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        r1 = grad.square().sum(dim=(1, 2, 3)).mean()
        d_opt.zero_grad(set_to_none=True)
        (d_loss + 0.5 * float(self.hp["r1_gamma"]) * r1).backward()
        d_opt.step()

        # Generator: non-saturating loss.
        self.discriminator.requires_grad_(False)
        g_loss = F.softplus(-self.discriminator(self._fake(n, rng))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        self.discriminator.requires_grad_(True)

        stats = {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "r1": r1.item()}
        stats.update(self._advance_fade())
        return stats

    def _advance_fade(self) -> dict[str, float]:
        steps = int(self.hp.get("fade_in_steps", 0) or 0)
        if steps <= 0 or not hasattr(self.generator, "set_alpha"):
            return {}
        start = float(self.gen_config["alpha"])
        alpha = float(self.generator.alpha) + (1.0 - start) / steps
        alpha = 1.0 if alpha > 1.0 - 1e-6 else alpha  # float32 round-off must not leave the fade at 0.9999
        self.generator.set_alpha(alpha)
        return {"alpha": alpha}


@register_recipe
class StyleGAN2Recipe(StyleGANRecipe):
    """The small StyleGAN2 generator with the same loss, D and optimisers (no progressive growing)."""

    name: ClassVar[str] = "stylegan2"
    arch: ClassVar[str] = "stylegan2"
    mapping_prefix: ClassVar[str] = "mapping."
    defaults: ClassVar[dict[str, Any]] = {k: v for k, v in StyleGANRecipe.defaults.items() if k != "fade_in_steps"}
