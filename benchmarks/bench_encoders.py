"""Encoder throughput on CPU: gan-eval's DINOv2 / CLIP / VGG16 extractors vs torch-fidelity's wrappers.

Run: ``python benchmarks/bench_encoders.py`` (vgg16, clip-vit-b-32, dinov2-vit-s-14; ~3-5 min on 2 busy
cores) or ``--encoders all`` (adds clip-vit-l-14, dinov2-vit-b-14, dinov2-vit-l-14; much longer).

Setup: seeded random-weight files in each official format, built by the same helpers the parity tests
use (tests/test_encoders.py; the real weights cannot be downloaded offline, and speed does not depend
on the values). ``torch.set_num_threads(2)``, CPU. One batch of N (default 16) seeded uint8 images at
128×128, so every encoder resizes to its 224×224 input. What is timed: one forward call on the batch,
preprocessing included, under ``torch.inference_mode()`` — ``extractor(images)`` for gan-eval,
``wrapper(images)`` for torch-fidelity's ``FeatureExtractor*``. Building the networks is not timed.
One untimed warm-up call of each, then ``--repeats`` calls of the two interleaved (so load from other
processes hits both alike); medians are reported, with the largest feature difference seen.

The references: torch-fidelity 0.4.0's ``FeatureExtractorVGG16`` and ``FeatureExtractorCLIP`` reading the
same files. torch-fidelity's DINOv2 needs ``torch.hub`` (GitHub) and cannot run here; its wrapper is
driven around HuggingFace's ``Dinov2Model`` instead (as in the parity test), so the DINOv2 ratio compares
timm's implementation with HuggingFace's eager one, not with Meta's hub code.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import isolate_environment, loadavg, machine_info, markdown_table, median, print_machine, timed  # noqa: E402

DEFAULT = ("vgg16", "clip-vit-b-32", "dinov2-vit-s-14")
ALL = ("vgg16", "clip-vit-b-32", "clip-vit-l-14", "dinov2-vit-s-14", "dinov2-vit-b-14", "dinov2-vit-l-14")


def build_pair(name: str, folder: Path) -> tuple[object, torch.nn.Module]:
    """(gan-eval extractor, torch-fidelity wrapper) on the same random-weight file."""
    import test_encoders as te

    from gan_eval.extractors import create_extractor

    if name == "vgg16":
        path = te.build_vgg16_file(folder / "vgg16.pth")
        return create_extractor(name, weights=path), te.tfi_vgg16(path)
    if name.startswith("clip-"):
        path = te.build_clip_archive(folder / f"{name}.pt", name)
        return create_extractor(name, weights=path), te.tfi_clip(path, name)
    from gan_eval.extractors.dinov2 import ARCHITECTURES

    _, dim, depth, _ = ARCHITECTURES[name]
    state = te.official_dinov2_state(dim, depth, seed=3)
    path = folder / f"{name}.pth"
    torch.save(state, path)
    return create_extractor(name, weights=str(path)), te.huggingface_dinov2_in_torch_fidelity(state, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(DEFAULT), help=f"comma-separated, or 'all' ({', '.join(ALL)})")
    parser.add_argument("--n", type=int, default=16, help="images per batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    names = ALL if args.encoders == "all" else tuple(args.encoders.split(","))
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    print_machine(machine_info())
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.n, 3, 128, 128), generator=g, dtype=torch.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        isolate_environment(Path(tmp))
        for name in names:
            ours, ref = build_pair(name, Path(tmp))
            with torch.inference_mode():
                ours(images[:2]), ref(images[:2])  # warm-up
                ours_t, ref_t, diff = [], [], 0.0
                for _ in range(args.repeats):
                    t, a = timed(lambda: ours(images)["features"])
                    ours_t.append(t)
                    t, b = timed(lambda: ref(images)[0])
                    ref_t.append(t)
                    diff = max(diff, ((a - b).abs().max() / b.abs().max()).item())
            ours_ips, ref_ips = args.n / median(ours_t), args.n / median(ref_t)
            rows.append((name, f"{ours_ips:.2f}", f"{ref_ips:.2f}", f"{ours_ips / ref_ips:.2f}×", f"{diff:.1e}",
                         loadavg()))
            print(f"{name}: gan-eval {ours_ips:.2f} img/s, torch-fidelity {ref_ips:.2f} img/s", flush=True)
    print()
    print(f"N = {args.n} images of 128×128 per call, median of {args.repeats} interleaved calls each")
    print(markdown_table(("encoder", "gan-eval img/s", "torch-fidelity img/s", "ratio", "max rel. feature diff",
                          "load (1 min) after"), rows))


if __name__ == "__main__":
    main()
