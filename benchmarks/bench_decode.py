"""Image-folder decoding throughput: gan_eval's ``DirectorySource`` with 0, 1 and 2 workers vs torch-fidelity's loader.

Run: ``python benchmarks/bench_decode.py`` (~2-3 min on 2 busy cores) or ``--quick`` (~1 min).

Decoding only, no network: each timed call lists a folder of PNG files and turns every file into
``uint8`` ``N×3×H×W`` batches of 64, the input both tools hand to their feature extractor.

- gan_eval: ``DirectorySource(DIR).iter_batches(n, 64, seed, workers=W)`` for W = 0, 1, 2 (a
  ``DataLoader`` over chunks of 64 files; W=0 decodes in the main process).
- torch-fidelity, built as ``calculate_metrics`` builds it for a folder (``torch_fidelity.utils``:
  ``glob_samples_paths`` with its defaults, ``ImagesPathDataset`` with ``TransformPILtoRGBTensor``,
  ``DataLoader(batch_size=64, drop_last=False, num_workers=min(4, 2·cpu_count), pin_memory=False)``
  as on the CPU). Also timed with 0 and 2 workers, so each gan_eval row has a same-worker-count peer.

Folders: ``--n`` bundled MNIST digits (RGB PNG, 28×28, ``gan_eval.testing.write_digits``) and
``--n-large`` 299×299 RGB PNG images (digits upscaled, tinted and lightly noised, so they compress
like smooth pictures rather than like noise). Each round times every configuration once, in an order
rotated per round, so load from other processes hits all alike; medians over ``--rounds``. One
untimed warm-up pass of each first (the files are then in the page cache for everyone).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import loadavg, machine_info, markdown_table, median, print_machine, write_digits  # noqa: E402

from gan_eval.sources import DirectorySource  # noqa: E402

BATCH = 64


def write_large(folder: Path, count: int, size: int = 299, seed: int = 0) -> Path:
    """``count`` RGB PNG images of ``size``×``size``: upscaled digits, tinted per image, with mild noise."""
    from PIL import Image

    from gan_eval.mnist import load_mnist

    folder.mkdir(parents=True, exist_ok=True)
    digits, _ = load_mnist("train")
    rng = np.random.default_rng(seed)
    for i in range(count):
        grey = np.asarray(Image.fromarray(digits[i]).resize((size, size), Image.BILINEAR), dtype=np.float32) / 255
        tint = rng.uniform(0.2, 1.0, 3)
        background = rng.uniform(0, 0.3, 3)
        rgb = background + grey[..., None] * (tint - background)
        rgb += rng.normal(0, 0.02, rgb.shape)
        Image.fromarray((rgb.clip(0, 1) * 255).round().astype(np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def gan_eval_decode(folder: Path, workers: int) -> int:
    """Images decoded by gan_eval (listing included)."""
    source = DirectorySource(folder)
    return sum(batch.shape[0] for batch in source.iter_batches(source.length, BATCH, 0, workers=workers))


def tfi_workers() -> int:
    """What torch-fidelity's ``get_featuresdict_from_dataset`` uses (``save_cpu_ram=False``)."""
    return min(4, 2 * multiprocessing.cpu_count())


def tfi_decode(folder: Path, workers: int | None) -> int:
    """Images decoded by torch-fidelity's own folder path (listing included); ``None``: its default workers."""
    import torchvision
    from torch.utils.data import DataLoader
    from torch_fidelity.datasets import ImagesPathDataset, TransformPILtoRGBTensor
    from torch_fidelity.defaults import DEFAULTS
    from torch_fidelity.utils import glob_samples_paths

    files = glob_samples_paths(str(folder), DEFAULTS["samples_find_deep"], DEFAULTS["samples_find_ext"],
                               DEFAULTS["samples_ext_lossy"], verbose=False)
    dataset = ImagesPathDataset(files, torchvision.transforms.Compose([TransformPILtoRGBTensor()]))
    loader = DataLoader(dataset, batch_size=min(BATCH, len(dataset)), drop_last=False,
                        num_workers=tfi_workers() if workers is None else workers, pin_memory=False)
    return sum(batch.shape[0] for batch in loader)


def same_images(folder: Path) -> bool:
    """Both tools give the same pixels in the same order (checked once, untimed)."""
    from torch_fidelity.datasets import ImagesPathDataset

    ours = torch.cat(list(DirectorySource(folder).iter_batches(BATCH * 2, BATCH, 0, workers=2)))
    files = sorted(str(p.resolve()) for p in folder.glob("*.png"))[: BATCH * 2]
    theirs = torch.stack([ImagesPathDataset(files)[i] for i in range(len(files))])
    return torch.equal(ours, theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="28×28 digit PNGs")
    parser.add_argument("--n-large", type=int, default=500, help="299×299 RGB PNGs (0: skip)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1000 digits, 200 large images, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.n, args.n_large, args.rounds = 1000, 200, 3
    # PyTorch warns that 4 workers (torch-fidelity's default) exceed 2 cores' suggestion; expected here.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    torch.set_num_threads(2)
    print_machine(machine_info())

    configs: list[tuple[str, Callable[[Path], int]]] = [
        ("gan_eval, workers=0", lambda d: gan_eval_decode(d, 0)),
        ("gan_eval, workers=1", lambda d: gan_eval_decode(d, 1)),
        ("gan_eval, workers=2", lambda d: gan_eval_decode(d, 2)),
        (f"torch-fidelity, as calculate_metrics ({tfi_workers()} workers)", lambda d: tfi_decode(d, None)),
        ("torch-fidelity, 0 workers", lambda d: tfi_decode(d, 0)),
        ("torch-fidelity, 2 workers", lambda d: tfi_decode(d, 2)),
    ]
    baseline = configs[3][0]
    peers = {configs[0][0]: configs[4][0], configs[2][0]: configs[5][0]}
    with tempfile.TemporaryDirectory() as tmp:
        folders = [(f"{args.n} digits, 28×28 PNG", write_digits(Path(tmp) / "digits", "train", args.n))]
        if args.n_large:
            folders.append((f"{args.n_large} images, 299×299 RGB PNG", write_large(Path(tmp) / "large", args.n_large)))
        for title, folder in folders:
            print(f"## {title} ({sum(f.stat().st_size for f in folder.iterdir()) / 2**20:.1f} MiB on disk)")
            print(f"same pixels, same order as torch-fidelity: {same_images(folder)}")
            expected = len(list(folder.iterdir()))
            for _, fn in configs:  # warm-up: page cache, imports, first worker start
                assert fn(folder) == expected
            times: dict[str, list[float]] = {name: [] for name, _ in configs}
            loads = [loadavg()]
            for r in range(args.rounds):
                order = configs[r % len(configs):] + configs[: r % len(configs)]
                for name, fn in order:
                    started = time.perf_counter()
                    count = fn(folder)
                    times[name].append(time.perf_counter() - started)
                    assert count == expected, (name, count)
                loads.append(loadavg())
            rate = {name: expected / median(ts) for name, ts in times.items()}
            rows = []
            for name, _ in configs:
                peer = peers.get(name)
                rows.append([name, ", ".join(f"{t:.3f}" for t in times[name]), f"{median(times[name]):.3f}",
                             f"{rate[name]:,.0f}", f"{rate[name] / rate[baseline]:.2f}×",
                             f"{rate[name] / rate[peer]:.2f}×" if peer else ""])
            print(markdown_table(["decoder", "s per round", "median s", "images/s", "vs torch-fidelity default",
                                  "vs torch-fidelity, same workers"], rows))
            print(f"load average (1 min) at each round: {', '.join(loads)}")
            print()


if __name__ == "__main__":
    main()
