"""InceptionV3 feature-extraction throughput on CPU: ``gan_eval.evaluate`` vs ``torch_fidelity.calculate_metrics``.

Run: ``python benchmarks/bench_extract.py`` (~4-5 min on 2 busy cores) or ``--quick`` (~1-2 min).
``--weights PATH`` reuses an InceptionV3 file instead of building the seeded random-weight one.

Setup: the same seeded random-weight InceptionV3 file (official architecture; the real weights are
not available offline) for both tools, ``torch.set_num_threads(2)``, batch size 64, CPU, no caching
(``cache=False`` for both). PNG folders of MNIST digits (RGB, 28×28). Calls of the two tools are
interleaved (so load from other processes hits both alike); medians are reported. One untimed
warm-up call of each tool on 16 images first.

Part A — extraction throughput (the headline): one folder of M images (default 192), Inception Score
only, so each call lists and decodes M PNG files, loads the weights file, builds the network,
resizes to 299×299 and runs InceptionV3 once over the M images (features + logits in one pass), then
computes IS (negligible). Throughput = M / wall time of the call:
``calculate_metrics(input1=DIR, isc=True, cache=False)`` vs ``evaluate(DIR, None, ["is"], cache=False)``.
torch-fidelity runs with its defaults (``save_cpu_ram=False``: a DataLoader with 4 worker processes);
``--sensitivity`` adds a ``save_cpu_ram=True`` (no workers) run per round.

Part B — FID of two folders end to end (``gen`` = N training digits with thickened strokes, ``real``
= N held-out digits, default N=96, so 2N images are extracted per call):
``calculate_metrics(input1=GEN, input2=REAL, fid=True, cache=False)`` vs
``evaluate(GEN, REAL, ["fid"], cache=False)``. Because N < 2048 this includes each tool's FID on
singular covariances; the time each spends computing FID from the extracted features is measured
by wrapping ``torch_fidelity.metric_fid.fid_statistics_to_metric`` and ``gan_eval.metrics.compute_metrics``
with timers (nothing else changed).

Feature parity: gan_eval's extractor (channels-last) vs torch-fidelity's own
``FeatureExtractorInceptionV3`` (default contiguous layout) on one batch of the same uint8 digits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_fidelity  # noqa: E402
import torch_fidelity.metric_fid as tfi_metric_fid  # noqa: E402
from _common import (  # noqa: E402
    fmt_times,
    isolate_environment,
    loadavg,
    machine_info,
    markdown_table,
    median,
    print_machine,
    random_weights,
    timed,
    write_digits,
)

import gan_eval  # noqa: E402
import gan_eval.metrics  # noqa: E402

METRIC_SECONDS: dict[str, float] = {}


def _timer(key, fn):
    def wrapped(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            METRIC_SECONDS[key] = METRIC_SECONDS.get(key, 0.0) + time.perf_counter() - started
    return wrapped


# Both are looked up as module attributes at call time (evaluate() imports gan_eval.metrics' name when
# it runs), so wrapping them here times every call.
tfi_metric_fid.fid_statistics_to_metric = _timer("tfi", tfi_metric_fid.fid_statistics_to_metric)
gan_eval.metrics.compute_metrics = _timer("ours", gan_eval.metrics.compute_metrics)


def thick(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, np.roll(a, 1, axis=1))


def tfi_is(folder: Path, weights: str, batch_size: int, save_cpu_ram: bool) -> float:
    out = torch_fidelity.calculate_metrics(
        input1=str(folder), isc=True, feature_extractor_weights_path=weights, cuda=False, verbose=False,
        cache=False, batch_size=batch_size, save_cpu_ram=save_cpu_ram,
    )
    return out["inception_score_mean"]


def ours_is(folder: Path, weights: str, batch_size: int):
    return gan_eval.evaluate(str(folder), None, ["is"], weights=weights, device="cpu", cache=False,
                             batch_size=batch_size, progress=False)


def tfi_fid(gen: Path, real: Path, weights: str, batch_size: int) -> float:
    out = torch_fidelity.calculate_metrics(
        input1=str(gen), input2=str(real), fid=True, feature_extractor_weights_path=weights, cuda=False,
        verbose=False, cache=False, batch_size=batch_size,
    )
    return out["frechet_inception_distance"]


def ours_fid(gen: Path, real: Path, weights: str, batch_size: int):
    return gan_eval.evaluate(str(gen), str(real), ["fid"], weights=weights, device="cpu", cache=False,
                             batch_size=batch_size, progress=False)


def feature_parity(weights: str, n: int) -> dict[str, float]:
    """Max relative differences between gan_eval's and torch-fidelity's features/logits on one batch."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi_inception

    from gan_eval.extractors import create_extractor
    from gan_eval.mnist import load_mnist

    digits = torch.from_numpy(load_mnist("heldout")[0][:n].copy())
    batch = digits[:, None].expand(-1, 3, -1, -1).contiguous()
    ours = create_extractor("inception-v3-compat", weights=weights, device="cpu")(batch)
    theirs_model = tfi_inception.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=weights, verbose=False)
    theirs_model.eval()
    with torch.no_grad():
        t_features, t_logits = theirs_model(batch)
    out = {}
    for key, theirs in (("features", t_features), ("logits", t_logits)):
        a, b = ours[key].double(), theirs.double()
        out[f"{key}_max_abs_over_max_abs"] = float((a - b).abs().max() / b.abs().max())
        out[f"{key}_max_row_rel_l2"] = float(((a - b).norm(dim=1) / b.norm(dim=1)).max())
        out[f"{key}_max_abs"] = float((a - b).abs().max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="part A: 96 images, 1 round; part B: 2 × 48 images")
    parser.add_argument("--m", type=int, default=None, help="part A: images in the folder (default 192; quick 96)")
    parser.add_argument("--n", type=int, default=None, help="part B: images per folder (default 96; quick 48)")
    parser.add_argument("--repeats", type=int, default=None, help="part A interleaved rounds (default 2; quick 1)")
    parser.add_argument("--fid-repeats", type=int, default=1, help="part B interleaved rounds (default 1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--weights", default=None, help="InceptionV3 weights file (default: build the random one)")
    parser.add_argument("--sensitivity", action="store_true",
                        help="part A: also time torch-fidelity with save_cpu_ram=True (no loader workers)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    # Expected, repeated warnings: gan_eval's "FID from N < 2049 samples is biased" and PyTorch's
    # "4 DataLoader workers > 2 suggested" for torch-fidelity's default loader.
    warnings.filterwarnings("ignore", message="FID from")
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    m = args.m or (96 if args.quick else 192)
    n = args.n or (48 if args.quick else 96)
    repeats = args.repeats or (1 if args.quick else 2)
    bs = args.batch_size

    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp_name:
        tmp = Path(tmp_name)
        isolate_environment(tmp)
        info = machine_info()
        print_machine(info)
        weights = random_weights(tmp / "inception-random.pth", args.weights)
        single = write_digits(tmp / "single", "heldout", m)
        gen = write_digits(tmp / "gen", "train", n, transform=thick)
        real = write_digits(tmp / "real", "heldout", n)
        warm = write_digits(tmp / "warm", "train", 16)
        tfi_is(warm, weights, bs, True)  # untimed warm-ups
        ours_is(warm, weights, bs)

        # ---- Part A: extraction throughput, one folder, IS only --------------------------------
        print(f"Part A: one folder of {m} PNG digits, Inception Score only, batch {bs}, torch threads "
              f"{torch.get_num_threads()}, {repeats} interleaved round(s)\n", flush=True)
        t_tfi, t_tfi_ram, t_ours, extract_ours = [], [], [], []
        for _ in range(repeats):
            t, is_tfi = timed(lambda: tfi_is(single, weights, bs, False))
            t_tfi.append(t)
            print(f"  torch-fidelity (defaults): {t:.2f} s  (load {loadavg()})", flush=True)
            t, result = timed(lambda: ours_is(single, weights, bs))
            t_ours.append(t)
            is_ours = result["is_mean"]
            extract_ours.append(result.provenance["gen"]["extract_seconds"])
            print(f"  gan_eval:                  {t:.2f} s  (forward loop {extract_ours[-1]:.2f} s; load {loadavg()})",
                  flush=True)
            if args.sensitivity:
                t, _ = timed(lambda: tfi_is(single, weights, bs, True))
                t_tfi_ram.append(t)
                print(f"  torch-fidelity (save_cpu_ram=True): {t:.2f} s  (load {loadavg()})", flush=True)
        print()
        rows = [["torch-fidelity `calculate_metrics(isc=True)` (defaults, 4 loader workers)", m, fmt_times(t_tfi),
                 f"{median(t_tfi):.2f}", f"{m / median(t_tfi):.2f}", "1.00×"]]
        if t_tfi_ram:
            rows.append(["torch-fidelity `calculate_metrics(isc=True)` (save_cpu_ram=True, no workers)", m,
                         fmt_times(t_tfi_ram), f"{median(t_tfi_ram):.2f}", f"{m / median(t_tfi_ram):.2f}",
                         f"{median(t_tfi) / median(t_tfi_ram):.2f}×"])
        rows.append(["gan_eval `evaluate([\"is\"], cache=False)`", m, fmt_times(t_ours), f"{median(t_ours):.2f}",
                     f"{m / median(t_ours):.2f}", f"**{median(t_tfi) / median(t_ours):.2f}×**"])
        rows.append(["gan_eval forward loop only (`extract_seconds`)", m, fmt_times(extract_ours),
                     f"{median(extract_ours):.2f}", f"{m / median(extract_ours):.2f}",
                     f"{median(t_tfi) / median(extract_ours):.2f}×"])
        print(markdown_table(["tool (end to end, one folder)", "images", "wall s (each round)", "median s",
                              "images/s", "speed vs torch-fidelity"], rows))
        print(f"\nIS torch-fidelity {is_tfi:.6g}, gan_eval {is_ours:.6g}, rel. diff "
              f"{abs(is_ours - is_tfi) / abs(is_tfi):.1e}\n", flush=True)

        # ---- Part B: FID of two folders end to end ---------------------------------------------
        images = 2 * n
        print(f"Part B: FID of two folders of {n} PNG digits each ({images} images per call), "
              f"{args.fid_repeats} interleaved round(s)\n", flush=True)
        b_tfi, b_ours, m_tfi, m_ours, b_extract = [], [], [], [], []
        for _ in range(args.fid_repeats):
            METRIC_SECONDS.clear()
            t, fid_tfi = timed(lambda: tfi_fid(gen, real, weights, bs))
            b_tfi.append(t)
            m_tfi.append(METRIC_SECONDS["tfi"])
            print(f"  torch-fidelity: {t:.2f} s, of which FID from statistics {m_tfi[-1]:.2f} s  (load {loadavg()})",
                  flush=True)
            METRIC_SECONDS.clear()
            t, result = timed(lambda: ours_fid(gen, real, weights, bs))
            b_ours.append(t)
            m_ours.append(METRIC_SECONDS["ours"])
            b_extract.append(result.provenance["gen"]["extract_seconds"] + result.provenance["real"]["extract_seconds"])
            fid_ours = result["fid"]
            print(f"  gan_eval:       {t:.2f} s, of which FID from features {m_ours[-1]:.3f} s, forward loops "
                  f"{b_extract[-1]:.2f} s  (load {loadavg()})", flush=True)
        print()
        print(markdown_table(
            ["tool (FID of two folders, end to end)", "images", "wall s (each round)", "median s", "images/s",
             "of which FID from stats/features s", "speed vs torch-fidelity"],
            [["torch-fidelity `calculate_metrics(fid=True)` (defaults)", images, fmt_times(b_tfi),
              f"{median(b_tfi):.2f}", f"{images / median(b_tfi):.2f}", f"{median(m_tfi):.2f}", "1.00×"],
             ["gan_eval `evaluate([\"fid\"], cache=False)`", images, fmt_times(b_ours), f"{median(b_ours):.2f}",
              f"{images / median(b_ours):.2f}", f"{median(m_ours):.3f}", f"{median(b_tfi) / median(b_ours):.2f}×"]]))
        print(f"\nFID torch-fidelity {fid_tfi:.8g}, gan_eval {fid_ours:.8g} (method "
              f"{result.provenance['fid_method']}), rel. diff {abs(fid_ours - fid_tfi) / abs(fid_tfi):.1e}\n")

        parity_n = 16 if args.quick else 32
        parity = feature_parity(weights, parity_n)
        print(f"Feature parity on {parity_n} held-out digits, gan_eval (channels-last) vs torch-fidelity "
              f"FeatureExtractorInceptionV3 (contiguous), same weights file:\n")
        print(markdown_table(["output", "max abs Δ / max abs theirs", "max over images of ‖Δ‖₂/‖theirs‖₂", "max abs Δ"], [
            [k, f"{parity[f'{k}_max_abs_over_max_abs']:.1e}", f"{parity[f'{k}_max_row_rel_l2']:.1e}",
             f"{parity[f'{k}_max_abs']:.1e}"] for k in ("features", "logits")]))
        print(f"\nload average (1 min) at end: {loadavg()}")


if __name__ == "__main__":
    main()
