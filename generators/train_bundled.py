"""Retrain the bundled generator checkpoints (``builtin:gan``, ``builtin:dcgan``, ``builtin:wgan-gp``, ``builtin:cgan``).

``python -m gan_eval.generators.train_bundled [--only NAME] [--out DIR]`` trains each recipe on the even-index
half of the bundled MNIST test set (``builtin:mnist-train``) with the settings below, on the CPU,
seed 0, and writes ``NAME.safetensors`` plus before/after sample grids. The odd-index half
(``builtin:mnist-heldout``) is never seen, so it is the reference for the FID table in the README.
Widths are below the course's (hidden 32/64 instead of 64/128); the grid after one step and after the last
step go to ``docs/images/NAME_before.png`` / ``NAME_after.png`` to keep files small and CPU training
to minutes; learning rates are the course's except the MLP GAN, whose course rate (1e-5) needs
hundreds of epochs, and BatchNorm weights start at N(1, 0.02) (the DCGAN paper's init) instead of the
course's N(0, 0.02), with which the discriminator barely learns in a few thousand steps.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from gan_eval.generators.training import train

ASSETS = Path(__file__).resolve().parent / "assets"
GRIDS = Path(__file__).resolve().parent.parent / "docs" / "images"

BUNDLED: dict[str, dict] = {
    "gan": dict(recipe="gan", steps=3000, batch_size=128, gen_config={"hidden_dim": 64},
                hparams={"lr": 2e-4, "d_hidden_dim": 64}),
    "dcgan": dict(recipe="dcgan", steps=4000, batch_size=128, gen_config={"hidden_dim": 32},
                  hparams={"bn_weight_mean": 1.0}),
    "wgan-gp": dict(recipe="wgan-gp", steps=4000, batch_size=64, gen_config={"hidden_dim": 32},
                    hparams={"d_hidden_dim": 32, "bn_weight_mean": 1.0}),
    "cgan": dict(recipe="cgan", steps=4000, batch_size=128, gen_config={"hidden_dim": 32},
                 hparams={"d_hidden_dim": 32, "bn_weight_mean": 1.0}),
}


def train_bundled(name: str, out_dir: Path = ASSETS, grid_dir: Path = GRIDS, progress: bool | None = None) -> Path:
    """Train one bundled checkpoint; keep the generator file and the before/after sample grids."""
    settings = BUNDLED[name]
    out_dir.mkdir(parents=True, exist_ok=True)
    grid_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        path = train(settings["recipe"], Path(work) / f"{name}.safetensors", data="builtin:mnist-train",
                     steps=settings["steps"], batch_size=settings["batch_size"], seed=0, device="cpu",
                     hparams=settings["hparams"], gen_config=settings["gen_config"], progress=progress,
                     sample_every=settings["steps"])
        grids = sorted((Path(work) / f"{name}_samples").glob("step_*.png"))
        shutil.copyfile(grids[0], grid_dir / f"{name}_before.png")
        shutil.copyfile(grids[-1], grid_dir / f"{name}_after.png")
        final = out_dir / f"{name}.safetensors"
        shutil.copyfile(path, final)
    print(f"{name}: {settings['steps']} steps in {time.perf_counter() - started:.0f} s -> {final}")
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BUNDLED), action="append")
    parser.add_argument("--out", type=Path, default=ASSETS)
    args = parser.parse_args(argv)
    for name in args.only or list(BUNDLED):
        train_bundled(name, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
