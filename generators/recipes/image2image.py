"""Image-to-image recipes: Pix2Pix (C3W2B) and CycleGAN (C3W3), with the course's PatchGAN discriminators.

Hyper-parameters default to the course's (which differ from the official junyanz code: Pix2Pix uses
λ_recon = 200 and Adam's default betas; CycleGAN uses an absolute identity weight 0.1, no image pool
and a constant learning rate). Both recipes re-initialise their networks with the course's
``weights_init`` (conv and BN weights N(0, 0.02), BN bias 0), drawn from the global torch RNG that
:func:`gan_eval.generators.training.train` seeds.

The generator defaults here (``gen_defaults``) are for the built-in MNIST tasks — one channel, 28×28,
and for the U-Net depth 2 (28 is divisible by 4, not by 2⁶) — while the architectures keep the
course's 256×256 RGB defaults. The discriminators are the course's but, by default (``disc_depth``
0), drop contracting blocks on small images so the patch map stays at least 4×4 (course depth at
256×256: 16×16 and 32×32 maps); set ``disc_depth`` to force a count.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from gan_eval.generators.architectures import cyclegan as cg
from gan_eval.generators.architectures import pix2pix as p2p
from gan_eval.generators.training import Recipe, register_recipe
from torch import nn

from gan_eval.errors import GanEvalError

MIN_PATCH_MAP = 4


def weights_init(module: nn.Module) -> None:
    """The course's init: conv / transposed-conv weights N(0, 0.02); BatchNorm weight N(0, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    if isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.constant_(module.bias, 0)


def auto_disc_depth(img_size: int, course_depth: int, out_size: Any) -> int:
    """The course's block count, reduced while the patch map would be smaller than 4×4."""
    depth = course_depth
    while depth > 1 and out_size(img_size, depth) < MIN_PATCH_MAP:
        depth -= 1
    return depth


class Pix2PixDiscriminator(nn.Module):
    """Course Pix2Pix PatchGAN: 1×1 to ``hidden``, contracting blocks (first without BN), 1×1 to one logit map.

    Input is ``concat(x, condition)``; at 256×256 with the course's 4 blocks the map is 16×16.
    """

    def __init__(self, input_channels: int, hidden_channels: int = 8, depth: int = 4) -> None:
        super().__init__()
        self.depth = depth
        self.upfeature = p2p.FeatureMapBlock(input_channels, hidden_channels)
        for i in range(1, depth + 1):
            setattr(self, f"contract{i}", p2p.ContractingBlock(hidden_channels * 2 ** (i - 1), use_bn=i > 1))
        self.final = nn.Conv2d(hidden_channels * 2 ** depth, 1, kernel_size=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.upfeature(torch.cat([x, y], dim=1))
        for i in range(1, self.depth + 1):
            h = getattr(self, f"contract{i}")(h)
        return self.final(h)


class CycleGanDiscriminator(nn.Module):
    """Course CycleGAN PatchGAN: 7×7 reflect conv, ``Conv k4 s2 p1 (reflect) → [IN] → LeakyReLU`` blocks, 1×1.

    The first block has no InstanceNorm; at 256×256 with the course's 3 blocks the map is 32×32.
    """

    def __init__(self, input_channels: int, hidden_channels: int = 64, depth: int = 3) -> None:
        super().__init__()
        self.depth = depth
        self.upfeature = cg.FeatureMapBlock(input_channels, hidden_channels)
        for i in range(1, depth + 1):
            setattr(self, f"contract{i}", cg.ContractingBlock(hidden_channels * 2 ** (i - 1), use_bn=i > 1,
                                                              kernel_size=4, activation="lrelu"))
        self.final = nn.Conv2d(hidden_channels * 2 ** depth, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.upfeature(x)
        for i in range(1, self.depth + 1):
            h = getattr(self, f"contract{i}")(h)
        return self.final(h)


def _side_by_side(*images: torch.Tensor) -> torch.Tensor:
    """Concatenate same-sized N×C×H×W batches along the width (1-channel ones repeated to match)."""
    channels = max(x.shape[1] for x in images)
    return torch.cat([x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x for x in images], dim=3)


@contextmanager
def _dropout_rng(rng: torch.Generator, device: torch.device) -> Iterator[None]:
    """Run the body with the global RNG (used by ``nn.Dropout``) seeded from ``rng``, then restore it.

    Dropout masks then depend only on the loop's generator, like every other random draw.
    """
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=rng))
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


def _floats(**losses: torch.Tensor) -> dict[str, float]:
    return {key: float(value.detach()) for key, value in losses.items()}


def _check_channels(recipe: Recipe, batch: dict[str, torch.Tensor], out_channels: int) -> None:
    images, targets = batch["images"], batch["targets"]
    in_channels = int(recipe.generator.in_channels)
    if images.shape[1] != in_channels or targets.shape[1] != out_channels:
        raise GanEvalError(f"recipe {recipe.name}: the data has {images.shape[1]}-channel sources and "
                           f"{targets.shape[1]}-channel targets but the generator maps {in_channels} → "
                           f"{out_channels} channels; set in_channels / out_channels in the generator config")


@register_recipe
class Pix2Pix(Recipe):
    """Pix2Pix as in the course: BCE PatchGAN loss + λ_recon·L1, Adam 2e-4 with default betas, batch 4."""

    name = "pix2pix"
    arch = "pix2pix_unet"
    data_kind = "paired"
    defaults = {"lr": 2e-4, "beta1": 0.9, "beta2": 0.999, "lambda_recon": 200.0, "batch_size": 4,
                "disc_hidden": 8, "disc_depth": 0}
    gen_defaults = {"in_channels": 1, "out_channels": 1, "img_size": 28, "depth": 2}

    def build(self) -> None:
        cfg = self.gen_config
        depth = int(self.hp["disc_depth"]) or auto_disc_depth(cfg["img_size"], 4, lambda s, d: s // 2 ** d)
        disc = Pix2PixDiscriminator(cfg["in_channels"] + cfg["out_channels"], int(self.hp["disc_hidden"]), depth)
        self.generator.apply(weights_init)
        self.nets["discriminator"] = disc.apply(weights_init).to(self.device)
        betas = (float(self.hp["beta1"]), float(self.hp["beta2"]))
        self.opts["generator"] = torch.optim.Adam(self.generator.parameters(), lr=float(self.hp["lr"]), betas=betas)
        self.opts["discriminator"] = torch.optim.Adam(disc.parameters(), lr=float(self.hp["lr"]), betas=betas)
        self.adv = nn.BCEWithLogitsLoss()
        self.recon = nn.L1Loss()

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        _check_channels(self, batch, self.gen_config["out_channels"])
        condition, real = batch["images"], batch["targets"]
        gen, disc = self.generator, self.nets["discriminator"]
        gen_opt, disc_opt = self.opts["generator"], self.opts["discriminator"]
        with _dropout_rng(rng, self.device):
            disc_opt.zero_grad()
            with torch.no_grad():
                fake = gen(condition)
            fake_hat = disc(fake, condition)
            real_hat = disc(real, condition)
            disc_loss = (self.adv(fake_hat, torch.zeros_like(fake_hat)) + self.adv(real_hat, torch.ones_like(real_hat))) / 2
            disc_loss.backward()
            disc_opt.step()

            gen_opt.zero_grad()
            fake = gen(condition)  # a fresh forward (new dropout masks), as in the course's get_gen_loss
            fake_hat = disc(fake, condition)
            adv_loss = self.adv(fake_hat, torch.ones_like(fake_hat))
            recon_loss = self.recon(real, fake)
            gen_loss = adv_loss + float(self.hp["lambda_recon"]) * recon_loss
            gen_loss.backward()
            gen_opt.step()
        return _floats(d_loss=disc_loss, g_loss=gen_loss, g_adv=adv_loss, g_l1=recon_loss)

    @torch.no_grad()
    def sample_grid(self, rng: torch.Generator, n: int = 64, batch: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """One tile per example: source | translation | target, side by side (eval mode)."""
        if batch is None:
            raise GanEvalError("pix2pix progress grids need a batch of source images")
        source, target = batch["images"][:n], batch["targets"][:n]
        self.generator.eval()
        try:
            return _side_by_side(source, self.generator(source), target)
        finally:
            self.generator.train()


@register_recipe
class CycleGan(Recipe):
    """CycleGAN as in the course: LSGAN (MSE) + 10·cycle L1 + 0.1·identity L1, Adam 2e-4 β (0.5, 0.999), batch 1.

    ``self.generator`` is G_AB (the one the checkpoint keeps); G_BA is ``self.nets["generator_ba"]``.
    """

    name = "cyclegan"
    arch = "cyclegan_resnet"
    data_kind = "unpaired"
    defaults = {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "lambda_cycle": 10.0, "lambda_identity": 0.1,
                "batch_size": 1, "disc_hidden": 64, "disc_depth": 0}
    gen_defaults = {"in_channels": 1, "out_channels": 1, "img_size": 28}

    def build(self) -> None:
        cfg = self.gen_config
        ch_a, ch_b = cfg["in_channels"], cfg["out_channels"]
        if ch_a != ch_b and float(self.hp["lambda_identity"]) != 0:
            raise GanEvalError(f"cyclegan's identity loss needs in_channels == out_channels (got {ch_a} and {ch_b}); "
                               f"set lambda_identity=0 or equal channel counts")
        gen_ba = self.spec.build({**cfg, "in_channels": ch_b, "out_channels": ch_a})
        depth = int(self.hp["disc_depth"]) or auto_disc_depth(cfg["img_size"], 3, lambda s, d: _k4s2_size(s, d))
        hidden = int(self.hp["disc_hidden"])
        disc_a = CycleGanDiscriminator(ch_a, hidden, depth)
        disc_b = CycleGanDiscriminator(ch_b, hidden, depth)
        self.generator.apply(weights_init)
        for key, net in (("generator_ba", gen_ba), ("discriminator_a", disc_a), ("discriminator_b", disc_b)):
            self.nets[key] = net.apply(weights_init).to(self.device)
        lr, betas = float(self.hp["lr"]), (float(self.hp["beta1"]), float(self.hp["beta2"]))
        self.opts["generator"] = torch.optim.Adam(list(self.generator.parameters()) + list(gen_ba.parameters()),
                                                  lr=lr, betas=betas)
        self.opts["discriminator_a"] = torch.optim.Adam(disc_a.parameters(), lr=lr, betas=betas)
        self.opts["discriminator_b"] = torch.optim.Adam(disc_b.parameters(), lr=lr, betas=betas)
        self.adv = nn.MSELoss()
        self.l1 = nn.L1Loss()

    def _disc_loss(self, real: torch.Tensor, fake: torch.Tensor, disc: nn.Module) -> torch.Tensor:
        fake_hat = disc(fake.detach())
        real_hat = disc(real)
        return (self.adv(fake_hat, torch.zeros_like(fake_hat)) + self.adv(real_hat, torch.ones_like(real_hat))) / 2

    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        _check_channels(self, batch, self.gen_config["out_channels"])
        real_a, real_b = batch["images"], batch["targets"]
        gen_ab, gen_ba = self.generator, self.nets["generator_ba"]
        disc_a, disc_b = self.nets["discriminator_a"], self.nets["discriminator_b"]

        self.opts["discriminator_a"].zero_grad()
        with torch.no_grad():
            fake_a = gen_ba(real_b)
        disc_a_loss = self._disc_loss(real_a, fake_a, disc_a)
        disc_a_loss.backward()
        self.opts["discriminator_a"].step()

        self.opts["discriminator_b"].zero_grad()
        with torch.no_grad():
            fake_b = gen_ab(real_a)
        disc_b_loss = self._disc_loss(real_b, fake_b, disc_b)
        disc_b_loss.backward()
        self.opts["discriminator_b"].step()

        self.opts["generator"].zero_grad()
        fake_a, fake_b = gen_ba(real_b), gen_ab(real_a)
        hat_a, hat_b = disc_a(fake_a), disc_b(fake_b)
        adv_loss = self.adv(hat_a, torch.ones_like(hat_a)) + self.adv(hat_b, torch.ones_like(hat_b))
        lambda_identity = float(self.hp["lambda_identity"])
        if lambda_identity:
            identity_loss = self.l1(gen_ba(real_a), real_a) + self.l1(gen_ab(real_b), real_b)
        else:
            identity_loss = torch.zeros((), device=self.device)
        cycle_loss = self.l1(gen_ba(fake_b), real_a) + self.l1(gen_ab(fake_a), real_b)
        gen_loss = lambda_identity * identity_loss + float(self.hp["lambda_cycle"]) * cycle_loss + adv_loss
        gen_loss.backward()
        self.opts["generator"].step()
        return _floats(d_a_loss=disc_a_loss, d_b_loss=disc_b_loss, g_loss=gen_loss, g_adv=adv_loss,
                       g_cycle=cycle_loss, g_identity=identity_loss)

    @torch.no_grad()
    def sample_grid(self, rng: torch.Generator, n: int = 64, batch: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """One tile per example: A | G_AB(A) | G_BA(G_AB(A)) (source, translation, reconstruction; eval mode)."""
        if batch is None:
            raise GanEvalError("cyclegan progress grids need a batch of source images")
        gen_ab, gen_ba = self.generator, self.nets["generator_ba"]
        source = batch["images"][:n]
        gen_ab.eval()
        gen_ba.eval()
        try:
            fake = gen_ab(source)
            return _side_by_side(source, fake, gen_ba(fake))
        finally:
            gen_ab.train()
            gen_ba.train()


def _k4s2_size(size: int, depth: int) -> int:
    """Side of the CycleGAN PatchGAN map: each ``Conv k4 s2 p1`` maps s → ⌊(s − 2)/2⌋ + 1."""
    for _ in range(depth):
        size = (size - 2) // 2 + 1
    return size
