"""Train :class:`~gan_eval.extractors.digits_net.DigitNet` and ship it as ``gan_eval/assets/digits.safetensors``.

Usage (from the repository root)::

    python -m gan_eval.extractors.train_digits [--out PATH] [--epochs N] [--seed S]

Training uses only the ``train`` split of :func:`gan_eval.mnist.load_mnist` (even indices of the
MNIST test set, 5000 images); accuracy is reported on the ``heldout`` split (odd indices), which
is never seen during training. Everything is seeded (initialisation, batch order, augmentation)
and runs on 2 CPU threads, so a rerun with the same seed reproduces the same weights, accuracy and
file bytes on the same machine and torch build. It takes roughly a minute or two on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from gan_eval.extractors.digits_net import FEATURE_DIM, NUM_CLASSES, DigitNet
from gan_eval.files import atomic_path
from gan_eval.mnist import load_mnist

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "digits.safetensors"
DEFAULT_EPOCHS = 15
DEFAULT_SEED = 0
BATCH_SIZE = 128
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 5e-4
MAX_SHIFT_PX = 2.0
MAX_ROTATION_DEG = 10.0
NUM_THREADS = 2

FORMAT = "gan-eval-digits"
FORMAT_VERSION = "1"
TRAIN_SPLIT_DESC = "mnist test set, even indices (5000)"
HELDOUT_SPLIT_DESC = "mnist test set, odd indices (5000)"


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``N×28×28`` uint8 images -> ``N×1×28×28`` float32 tensor in ``[0, 1]``."""
    return torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shift (up to ``MAX_SHIFT_PX`` px) and rotation (up to ``MAX_ROTATION_DEG``) per image."""
    n, _, h, w = x.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEG)
    # affine_grid works in normalised coordinates: one pixel is 2/size.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT_PX
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos, -sin, shift[:, 0] * 2 / w], dim=1),
            torch.stack([sin, cos, shift[:, 1] * 2 / h], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def evaluate(model: DigitNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Classification accuracy of ``model`` (switched to eval mode) on ``images``/``labels``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        _, logits = model(images[start : start + batch_size].to(device))
        correct += int((logits.argmax(dim=1).cpu() == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train(
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    device: str = "cpu",
    *,
    limit: int | None = None,
    verbose: bool = False,
) -> tuple[DigitNet, float]:
    """Train a DigitNet on the ``train`` split; return it (eval mode, on CPU) and its held-out accuracy.

    ``limit`` restricts training and evaluation to the first ``limit`` images of each split
    (for quick smoke tests); the shipped weights use ``limit=None``.
    """
    torch.set_num_threads(NUM_THREADS)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    train_images, train_labels = load_mnist("train")
    heldout_images, heldout_labels = load_mnist("heldout")
    if limit is not None:
        train_images, train_labels = train_images[:limit], train_labels[:limit]
        heldout_images, heldout_labels = heldout_images[:limit], heldout_labels[:limit]
    x_train, y_train = to_tensor(train_images), torch.from_numpy(train_labels.astype(np.int64))
    x_held, y_held = to_tensor(heldout_images), torch.from_numpy(heldout_labels.astype(np.int64))

    model = DigitNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(x_train) / BATCH_SIZE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.2
    )

    for epoch in range(epochs):
        model.train()
        start_time = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            xb = augment(x_train[idx], generator).to(device)
            yb = y_train[idx].to(device)
            _, logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(idx)
        if verbose:
            acc = evaluate(model, x_held, y_held)
            print(
                f"epoch {epoch + 1}/{epochs}: loss {total_loss / len(x_train):.4f}, "
                f"heldout acc {acc:.4f} ({time.perf_counter() - start_time:.1f}s)",
                flush=True,
            )

    model = model.cpu()
    accuracy = evaluate(model, x_held, y_held)
    return model, accuracy


def export_state_dict(model: DigitNet) -> dict[str, torch.Tensor]:
    """Contiguous float32 CPU copies of the model's state dict (BN's counter included, as float)."""
    return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in model.state_dict().items()}


def _canonicalize_metadata_order(path: str | os.PathLike[str]) -> None:
    """Sort the ``__metadata__`` keys of a safetensors header in place.

    ``save_file`` writes the metadata from a hash map, so its key order (and thus the file's bytes
    and SHA-256) varies from run to run although the tensors are identical. The rewritten header
    has the same content and length (padded with spaces, as safetensors does), so offsets hold.
    """
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        raw = f.read(size)
        header = json.loads(raw)
        if "__metadata__" in header:
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(encoded) > size:  # cannot happen for the same content; keep the original then
            return
        f.seek(8)
        f.write(encoded.ljust(size, b" "))


def save_weights(model: DigitNet, path: str | os.PathLike[str], metadata: dict[str, str]) -> None:
    """Write the weights to ``path`` atomically; the bytes depend only on the weights and ``metadata``."""
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(export_state_dict(model), str(tmp), metadata=metadata)
        _canonicalize_metadata_order(tmp)


def build_metadata(accuracy: float, epochs: int, seed: int) -> dict[str, str]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": "DigitNet",
        "feature_dim": str(FEATURE_DIM),
        "num_classes": str(NUM_CLASSES),
        "train_split": TRAIN_SPLIT_DESC,
        "heldout_split": HELDOUT_SPLIT_DESC,
        "heldout_accuracy": f"{accuracy:.4f}",
        "epochs": str(epochs),
        "seed": str(seed),
        "torch_version": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model, accuracy = train(args.epochs, args.seed, args.device, verbose=True)
    elapsed = time.perf_counter() - start
    save_weights(model, args.out, build_metadata(accuracy, args.epochs, args.seed))
    print(f"heldout accuracy: {accuracy:.4f}")
    print(f"training time: {elapsed:.1f}s")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
