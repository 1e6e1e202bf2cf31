"""Time of the intervals at Inception scale, from features already extracted (not run in CI).

The case of issue 13: N = 10,000 per side, d = 2048, FID + KID + P/R + D/C, the default resampling
(``--bootstrap 200``: 20 groups of the delete-a-group jackknife). Gaussian features with a
power-law spectrum (see bench_coverage.py). Prints the time of the point estimates and, separately,
of the intervals (what issue 13 bounds: ≤ 60 s on the 2-core CPU), and with ``--breakdown`` of each
metric's replicates.

    PYTHONPATH=. python benchmarks/bench_intervals.py                      # the issue's case
    PYTHONPATH=. python benchmarks/bench_intervals.py --n 2000 --dim 512   # smaller
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from gan_eval.intervals import group_count, make_resample, metric_intervals, metric_replicates
from gan_eval.metrics import MetricContext, MetricOptions, compute_metrics, get_metrics
from gan_eval.statistics import FeatureSet, FeatureStats


def _features(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    scale = np.arange(1, dim + 1, dtype=np.float64) ** -0.5
    gen = rng.standard_normal((n, dim)).astype(np.float32) * (scale * 1.05).astype(np.float32) + 0.01
    real = rng.standard_normal((n, dim)).astype(np.float32) * scale.astype(np.float32)
    return torch.from_numpy(gen), torch.from_numpy(real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--metrics", default="fid,kid,pr,dc")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--kid-subsets", type=int, default=100, help="KID subsets of the point estimate (not timed)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--breakdown", action="store_true", help="also time each metric's replicates alone")
    args = parser.parse_args()
    gen, real = _features(args.n, args.dim, 0)
    gen, real = gen.to(args.device), real.to(args.device)
    warnings.simplefilter("ignore")
    specs = get_metrics(args.metrics)
    ctx = MetricContext(FeatureSet(FeatureStats.from_features(gen), gen), FeatureSet(FeatureStats.from_features(real), real),
                        MetricOptions(kid_subsets=args.kid_subsets))
    started = time.perf_counter()
    point = compute_metrics(specs, ctx)
    metrics_s = time.perf_counter() - started
    started = time.perf_counter()
    ci, info = metric_intervals(specs, ctx, point, 0.95, args.bootstrap, seed=0)
    intervals_s = time.perf_counter() - started
    print(f"N={args.n} d={args.dim} {args.metrics} on {args.device} ({torch.get_num_threads()} threads): metrics "
          f"{metrics_s:.1f} s; intervals (--bootstrap {args.bootstrap}: {info['groups']} jackknife groups) "
          f"{intervals_s:.1f} s", flush=True)
    for key, (lo, hi) in ci.items():
        print(f"  {key}: {point[key]:.5g} [{lo:.5g}, {hi:.5g}]")
    if not args.breakdown:
        return
    resample = make_resample(args.n, args.n, group_count(args.bootstrap, args.n), 0, gen.device)
    for spec in specs:
        started = time.perf_counter()
        metric_replicates([spec], ctx, resample)
        print(f"  {spec.name}: replicates {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
