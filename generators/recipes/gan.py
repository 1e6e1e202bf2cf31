"""The GANs course's unconditional and conditional recipes: ``gan``, ``dcgan``, ``wgan-gp``, ``sngan``, ``cgan``.

Each recipe reproduces one course notebook's losses, discriminator and optimiser settings (GANs
Specialization C1W1, C1W2, C1W3, the optional SNGAN notebook and C1W4A); hyper-parameters default
to the course values and are overridable (``lr``, ``betas``, ``batch_size``, ``d_hidden_dim``, and
``gp_lambda`` / ``critic_steps`` for WGAN-GP). One recipe step is one generator update.

Course choices kept on purpose (they matter when comparing against course results):

* ``gan``: Adam lr 1e-5 — very slow to converge; raise ``lr`` for quick experiments.
* ``dcgan``/``wgan-gp``/``sngan``/``cgan``: N(0, 0.02) init of conv and transposed-conv weights and of
  BatchNorm *weights* (mean 0, as in the course, not the DCGAN paper's mean 1 — set
  ``bn_weight_mean=1`` for the paper's, which trains much faster in short CPU runs), BN bias 0; conv
  biases keep PyTorch's default init.
* ``wgan-gp``: the critic keeps BatchNorm (the WGAN-GP paper advises against it), and all
  ``critic_steps`` critic updates of a step reuse the same real batch, with fresh noise and a fresh
  per-sample ε ~ U(0, 1) each time — exactly the course loop.
* ``sngan``: the DCGAN discriminator with every ``Conv2d`` wrapped in
  ``torch.nn.utils.parametrizations.spectral_norm`` (BatchNorm kept, as in the course notebook).
* ``cgan``: the discriminator sees the image concatenated with the one-hot label broadcast to
  ``num_classes`` maps; fakes are generated for the batch's real labels and the generator update
  reuses the fakes of the discriminator update (both as in the course).

All randomness (noise, ε) is drawn from the step's CPU ``torch.Generator`` and then moved to the
device, so a seed reproduces a run bit for bit on CPU.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from gan_eval.generators import noise
from gan_eval.generators.training import Recipe, register_recipe
from torch import nn

from gan_eval.errors import GanEvalError

# ---------------------------------------------------------------------------------------------------
# Discriminators / critics (not generator architectures: they live with the recipes)


class MlpDiscriminator(nn.Module):
    """C1W1 discriminator: flattened image → 4h → 2h → h (``Linear → LeakyReLU(0.2)``) → 1 logit."""

    def __init__(self, im_dim: int = 784, hidden_dim: int = 128) -> None:
        super().__init__()
        h = hidden_dim
        self.disc = nn.Sequential(
            nn.Sequential(nn.Linear(im_dim, 4 * h), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Linear(4 * h, 2 * h), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Linear(2 * h, h), nn.LeakyReLU(0.2, inplace=True)),
            nn.Linear(h, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.disc(images.reshape(images.shape[0], -1))


class DcganDiscriminator(nn.Module):
    """Course DCGAN discriminator / WGAN-GP critic: ``Conv2d(k4 s2) → BN → LeakyReLU(0.2)`` twice, then
    a bare ``Conv2d(k4 s2)`` to one channel; returns ``N×K`` logits (K = 1 at 28×28, a 6×6 map at 64×64).

    ``spectral=True`` wraps every Conv2d in spectral normalisation (SNGAN). Weights are initialised
    with the course's N(0, 0.02) scheme *before* wrapping, since a parametrised weight cannot be
    re-initialised in place.
    """

    def __init__(self, im_chan: int = 1, hidden_dim: int = 16, spectral: bool = False, bn_weight_mean: float = 0.0) -> None:
        super().__init__()
        h = hidden_dim
        self.disc = nn.Sequential(
            self._block(im_chan, h),
            self._block(h, 2 * h),
            nn.Sequential(nn.Conv2d(2 * h, 1, 4, 2)),
        )
        self.apply(lambda m: course_weights_init(m, bn_weight_mean))
        if spectral:
            for module in list(self.modules()):
                if isinstance(module, nn.Conv2d):
                    torch.nn.utils.parametrizations.spectral_norm(module)

    @staticmethod
    def _block(in_ch: int, out_ch: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, 4, 2), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pred = self.disc(images)
        return pred.view(pred.shape[0], -1)


def course_weights_init(module: nn.Module, bn_weight_mean: float = 0.0) -> None:
    """The course's ``weights_init``: N(0, 0.02) conv / transposed-conv weights, N(``bn_weight_mean``, 0.02)
    BN weights (the course uses mean 0; the DCGAN paper and PyTorch's example use 1), BN bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    if isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, bn_weight_mean, 0.02)
        nn.init.constant_(module.bias, 0.0)


# ---------------------------------------------------------------------------------------------------
# Recipes


class _CourseRecipe(Recipe):
    """Shared plumbing: Adam from ``lr``/``betas``, noise from the step generator, BCE-with-logits."""

    def _adam(self, params: Any) -> torch.optim.Adam:
        betas = tuple(float(b) for b in self.hp["betas"])
        if len(betas) != 2:
            raise GanEvalError(f"recipe {self.name}: betas must be two numbers, got {self.hp['betas']!r}")
        return torch.optim.Adam(params, lr=float(self.hp["lr"]), betas=betas)  # type: ignore[arg-type]

    def _noise(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return noise.normal(n, self.generator.z_dim, rng).to(self.device)

    @staticmethod
    def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def _d_step(self, real_in: torch.Tensor, fake_in: torch.Tensor) -> float:
        """One discriminator update: BCE of D(fake) against 0 and D(real) against 1, averaged."""
        disc, d_opt = self.nets["discriminator"], self.opts["discriminator"]
        d_opt.zero_grad()
        d_loss = (self._bce(disc(fake_in.detach()), 0.0) + self._bce(disc(real_in), 1.0)) / 2
        d_loss.backward()
        d_opt.step()
        return float(d_loss.item())

    def _g_step(self, fake_in: torch.Tensor) -> float:
        """One generator update: BCE of D(fake) against 1 (non-saturating loss)."""
        g_opt = self.opts["generator"]
        g_opt.zero_grad()
        g_loss = self._bce(self.nets["discriminator"](fake_in), 1.0)
        g_loss.backward()
        g_opt.step()
        return float(g_loss.item())

    def _unconditional_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        """The C1W1/C1W2 loop: D on fresh fakes, then G on a second, fresh batch of fakes.

        The second fakes are generated after the D update, as in the course, so the generator's
        BatchNorm running statistics see the two batches in the course order.
        """
        real = batch["images"]
        n = real.shape[0]
        z1, z2 = self._noise(n, rng), self._noise(n, rng)
        d_loss = self._d_step(real, self.generator(z1))
        g_loss = self._g_step(self.generator(z2))
        return {"d_loss": d_loss, "g_loss": g_loss}


@register_recipe
class GanRecipe(_CourseRecipe):
    """C1W1 "Your First GAN": MLP generator and discriminator, BCE-with-logits, Adam lr 1e-5."""

    name = "gan"
    arch = "mlp_gan"
    data_kind = "images"
    defaults = {"lr": 1e-5, "betas": (0.9, 0.999), "batch_size": 128, "d_hidden_dim": 128}

    def build(self) -> None:
        im_dim = 1
        for size in self.generator.out_shape:
            im_dim *= int(size)
        disc = MlpDiscriminator(im_dim, int(self.hp["d_hidden_dim"])).to(self.device)
        self.nets["discriminator"] = disc
        self.opts["generator"] = self._adam(self.generator.parameters())
        self.opts["discriminator"] = self._adam(disc.parameters())

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        return self._unconditional_step(batch, rng)


@register_recipe
class DcganRecipe(_CourseRecipe):
    """C1W2 DCGAN: course DCGAN generator and discriminator (hidden 16), BCE-with-logits, Adam 2e-4 β1 0.5."""

    name = "dcgan"
    arch = "dcgan"
    data_kind = "images"
    defaults = {"lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 128, "d_hidden_dim": 16, "bn_weight_mean": 0.0}
    spectral = False

    def build(self) -> None:
        self.generator.apply(lambda m: course_weights_init(m, float(self.hp["bn_weight_mean"])))
        disc = DcganDiscriminator(self.generator.out_shape[0], int(self.hp["d_hidden_dim"]), spectral=self.spectral,
                                  bn_weight_mean=float(self.hp["bn_weight_mean"]))
        self.nets["discriminator"] = disc.to(self.device)
        self.opts["generator"] = self._adam(self.generator.parameters())
        self.opts["discriminator"] = self._adam(disc.parameters())

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        return self._unconditional_step(batch, rng)


@register_recipe
class SnganRecipe(DcganRecipe):
    """Optional SNGAN notebook: the DCGAN recipe with spectral norm on every discriminator Conv2d."""

    name = "sngan"
    spectral = True


@register_recipe
class WganGpRecipe(_CourseRecipe):
    """C1W3 WGAN-GP: critic (hidden 64, with BN) ×5 per G step, λ = 10, Adam 2e-4 β1 0.5."""

    name = "wgan-gp"
    arch = "dcgan"
    data_kind = "images"
    defaults = {"lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 128, "d_hidden_dim": 64,
                "gp_lambda": 10.0, "critic_steps": 5, "bn_weight_mean": 0.0}

    def build(self) -> None:
        if int(self.hp["critic_steps"]) < 1:
            raise GanEvalError(f"recipe {self.name}: critic_steps must be at least 1")
        self.generator.apply(lambda m: course_weights_init(m, float(self.hp["bn_weight_mean"])))
        critic = DcganDiscriminator(self.generator.out_shape[0], int(self.hp["d_hidden_dim"]),
                                    bn_weight_mean=float(self.hp["bn_weight_mean"]))
        self.nets["critic"] = critic.to(self.device)
        self.opts["generator"] = self._adam(self.generator.parameters())
        self.opts["critic"] = self._adam(critic.parameters())

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """mean((‖∇_x̂ C(x̂)‖₂ − 1)²) at x̂ = ε·real + (1 − ε)·fake, ε ~ U(0, 1) per sample."""
        eps = torch.rand(real.shape[0], 1, 1, 1, generator=rng).to(self.device)
        mixed = (real * eps + fake * (1 - eps)).requires_grad_(True)
        scores = self.nets["critic"](mixed)
        grad = torch.autograd.grad(scores, mixed, grad_outputs=torch.ones_like(scores), create_graph=True)[0]
        norms = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        real = batch["images"]
        n = real.shape[0]
        critic, c_opt, g_opt = self.nets["critic"], self.opts["critic"], self.opts["generator"]
        repeats = int(self.hp["critic_steps"])
        mean_critic_loss = 0.0
        gp_value = 0.0
        for _ in range(repeats):  # same real batch each time, as the course
            c_opt.zero_grad()
            fake = self.generator(self._noise(n, rng)).detach()
            fake_score, real_score = critic(fake).mean(), critic(real).mean()
            gp = self.gradient_penalty(real, fake, rng)
            c_loss = fake_score - real_score + float(self.hp["gp_lambda"]) * gp
            c_loss.backward()
            c_opt.step()
            mean_critic_loss += float(c_loss.item()) / repeats
            gp_value = float(gp.item())
        g_opt.zero_grad()
        g_loss = -critic(self.generator(self._noise(n, rng))).mean()
        g_loss.backward()
        g_opt.step()
        return {"critic_loss": mean_critic_loss, "g_loss": float(g_loss.item()), "gp": gp_value}


@register_recipe
class CganRecipe(_CourseRecipe):
    """C1W4A conditional GAN: one-hot label concatenated to z (G) and broadcast to maps (D, hidden 64)."""

    name = "cgan"
    arch = "cond_dcgan"
    data_kind = "labelled"
    defaults = {"lr": 2e-4, "betas": (0.9, 0.999), "batch_size": 128, "d_hidden_dim": 64, "bn_weight_mean": 0.0}

    def build(self) -> None:
        self.generator.apply(lambda m: course_weights_init(m, float(self.hp["bn_weight_mean"])))
        in_ch = self.generator.out_shape[0] + self.generator.num_classes
        disc = DcganDiscriminator(in_ch, int(self.hp["d_hidden_dim"]), bn_weight_mean=float(self.hp["bn_weight_mean"]))
        self.nets["discriminator"] = disc.to(self.device)
        self.opts["generator"] = self._adam(self.generator.parameters())
        self.opts["discriminator"] = self._adam(disc.parameters())

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        real, labels = batch["images"], batch["labels"]
        n, _, height, width = real.shape
        one_hot = F.one_hot(labels.long(), self.generator.num_classes).float().to(self.device)
        label_maps = one_hot[:, :, None, None].expand(-1, -1, height, width)
        fake = self.generator(self._noise(n, rng), one_hot)
        fake_in = torch.cat([fake, label_maps], dim=1)
        real_in = torch.cat([real, label_maps], dim=1)
        d_loss = self._d_step(real_in, fake_in)
        g_loss = self._g_step(fake_in)  # the course reuses the D-update fakes here
        return {"d_loss": d_loss, "g_loss": g_loss}
