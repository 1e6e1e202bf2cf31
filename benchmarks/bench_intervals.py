"""Coverage of gan-eval's bootstrap intervals on synthetic Gaussian features (not run in CI).

FID: the truth is the closed-form Fréchet distance of the two Gaussians. k-NN metrics have no closed
form at finite N, so their "truth" is the mean of the estimator over all trials (its expectation at
that N). Prints, per metric, how often the nominal interval covered the truth.

    python benchmarks/bench_intervals.py --trials 400 --dim 8 --n 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.linalg import sqrtm

from gan_eval.intervals import (
    basic_interval,
    make_resample,
    metric_replicates,
    percentile_interval,
)
from gan_eval.metrics import MetricContext, MetricOptions, compute_metrics, get_metrics
from gan_eval.statistics import FeatureSet, FeatureStats


def _set(x: np.ndarray) -> FeatureSet:
    t = torch.from_numpy(x).float()
    return FeatureSet(FeatureStats.from_features(t), t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--knn-n", type=int, default=300)
    parser.add_argument("--knn-trials", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--level", type=float, default=0.95)
    args = parser.parse_args()
    d = args.dim
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(d, d)) / np.sqrt(d), rng.normal(size=(d, d)) / np.sqrt(d)
    s1, s2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    m2 = rng.normal(size=d) * 0.3
    truth = float((m2**2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real)
    l1, l2 = np.linalg.cholesky(s1), np.linalg.cholesky(s2)
    hits = {"basic": 0, "percentile": 0}
    started = time.perf_counter()
    for trial in range(args.trials):
        r = np.random.default_rng(1000 + trial)
        ctx = MetricContext(_set(r.normal(size=(args.n, d)) @ l1.T), _set(r.normal(size=(args.n, d)) @ l2.T + m2),
                            MetricOptions())
        point = compute_metrics(get_metrics("fid"), ctx)["fid"]
        reps = metric_replicates(get_metrics("fid"), ctx, make_resample(args.n, args.n, args.replicates, trial,
                                                                         torch.device("cpu")))["fid"]
        lo, hi = basic_interval(point, reps, args.level)
        hits["basic"] += lo <= truth <= hi
        lo, hi = percentile_interval(reps, args.level)
        hits["percentile"] += lo <= truth <= hi
    print(f"FID d={d} N={args.n} B={args.replicates} trials={args.trials} truth={truth:.4f}: "
          f"basic {hits['basic'] / args.trials:.3f}, percentile {hits['percentile'] / args.trials:.3f} "
          f"({time.perf_counter() - started:.0f} s)")

    specs = get_metrics("pr,dc")
    points, intervals = [], []
    n = args.knn_n
    for trial in range(args.knn_trials):
        r = np.random.default_rng(5000 + trial)
        ctx = MetricContext(_set(r.normal(size=(n, d)) * 1.2 + 0.3), _set(r.normal(size=(n, d))), MetricOptions())
        point = compute_metrics(specs, ctx)
        reps = metric_replicates(specs, ctx, make_resample(n, n, args.replicates, trial, torch.device("cpu")))
        points.append(point)
        intervals.append({k: basic_interval(point[k], reps[k], args.level) for k in reps})
    for key in intervals[0]:
        expected = np.mean([p[key] for p in points])
        rate = np.mean([i[key][0] <= expected <= i[key][1] for i in intervals])
        print(f"{key} d={d} N={n} trials={args.knn_trials}: coverage {rate:.3f} "
              f"(true sd {np.std([p[key] for p in points]):.4f}, mean half-width/1.96 "
              f"{np.mean([i[key][1] - i[key][0] for i in intervals]) / 3.92:.4f})")


if __name__ == "__main__":
    main()
