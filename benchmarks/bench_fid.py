"""Fréchet distance from statistics: gan_eval's ``frechet_distance`` vs torch-fidelity's ``fid_statistics_to_metric``.

Run: ``python benchmarks/bench_fid.py`` (d=2048, ~2 min on 2 cores) or ``--quick`` (d=512, seconds).

Cases (all float64, d-dimensional):

* ``wishart``: Σ = A Aᵀ/m with A d×m standard normal, m = 2d, one independent A per side;
  μ ~ N(0, 0.1²). Well conditioned (eigenvalues in ~[0.09, 2.9]).
* ``features``: N samples per side from a low-rank-plus-noise model that imitates Inception pool
  features (non-negative mean, rank-256 signal with a power-law spectrum, isotropic noise); the gen
  side has a perturbed basis, more noise and a shifted mean. μ and Σ (divisor N−1) are computed
  from the samples. Full rank (N > d), condition number ~1e4-1e5.
* ``singular``: the ``features`` model with N < d samples per side, so both Σ are singular.
  gan_eval is given the raw features (the path ``evaluate`` takes: exact nuclear-norm form);
  for reference its covariance-only path (Cholesky fails -> eigh) is timed too.

What is timed: one call of each function on precomputed statistics — torch-fidelity gets numpy
arrays (what it stores), gan_eval torch float64 tensors. One untimed warm-up call each, then the
two are interleaved ``--repeats`` times (so load from other processes hits both alike) and the
median is reported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    fmt_times,
    loadavg,
    machine_info,
    markdown_table,
    median,
    print_machine,
    timed,
)
from torch_fidelity.metric_fid import fid_statistics_to_metric  # noqa: E402

from gan_eval.metrics.fid import frechet_distance  # noqa: E402


def wishart_stats(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m = 2 * d
    a = torch.randn(d, m, generator=g, dtype=torch.float64)
    mu = 0.1 * torch.randn(d, generator=g, dtype=torch.float64)
    return mu, a @ a.T / m


def feature_samples(n: int, d: int, side: str, rank: int = 256, seed: int = 0) -> torch.Tensor:
    """N×d samples of the low-rank-plus-noise feature model; ``side`` is ``real`` or ``gen``."""
    g = torch.Generator().manual_seed(seed)
    spectrum = torch.arange(1, rank + 1, dtype=torch.float64) ** -0.6
    basis = torch.randn(rank, d, generator=g, dtype=torch.float64) / rank**0.5
    mean = 0.3 * torch.randn(d, generator=g, dtype=torch.float64).abs()
    noise = 0.1
    if side == "gen":
        basis = basis + 0.2 * torch.randn(rank, d, generator=g, dtype=torch.float64) / rank**0.5
        mean = mean + 0.05 * torch.randn(d, generator=g, dtype=torch.float64)
        noise = 0.12
    gs = torch.Generator().manual_seed(seed + (1 if side == "real" else 2) + 1000 * n)
    z = torch.randn(n, rank, generator=gs, dtype=torch.float64) * spectrum
    return z @ basis * 3.0 + noise * torch.randn(n, d, generator=gs, dtype=torch.float64) + mean


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu = x.mean(dim=0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def reference_singular(mu1, s1, mu2, s2, f1, f2) -> float:
    """FID for N < d by an independent route (numpy): tr √(Σ₁Σ₂) = Σ √eig(M Mᵀ), M = X̃Ỹᵀ (N×N).

    The non-zero eigenvalues of Σ₁Σ₂ = X̃ᵀX̃ỸᵀỸ are those of X̃ỸᵀỸX̃ᵀ = M Mᵀ, so the d−N zero
    eigenvalues never enter (covariance-based methods add √(rounding noise) for each of them).
    """
    x, y = f1.numpy(), f2.numpy()
    x = (x - x.mean(axis=0)) / np.sqrt(x.shape[0] - 1)
    y = (y - y.mean(axis=0)) / np.sqrt(y.shape[0] - 1)
    m = x @ y.T
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(m @ m.T), 0, None)).sum()
    diff = (mu1 - mu2).numpy()
    return float(diff @ diff + np.trace(s1.numpy()) + np.trace(s2.numpy()) - 2 * tr_sqrt)


def bench_case(name, mu1, s1, mu2, s2, repeats, f1=None, f2=None, extra_ours=None):
    np_args = [{"mu": mu1.numpy(), "sigma": s1.numpy()}, {"mu": mu2.numpy(), "sigma": s2.numpy()}]
    run_tfi = lambda: fid_statistics_to_metric(*np_args, verbose=False)["frechet_inception_distance"]  # noqa: E731
    run_ours = lambda: frechet_distance(mu1, s1, mu2, s2, f1, f2)  # noqa: E731
    value_tfi = run_tfi()  # warm-up
    value_ours, details = run_ours()  # warm-up
    t_tfi, t_ours = [], []
    for _ in range(repeats):
        t, v = timed(run_tfi)
        t_tfi.append(t)
        assert v == value_tfi
        t, (v, _d) = timed(run_ours)
        t_ours.append(t)
        assert v == value_ours
    row = {
        "case": name, "d": mu1.shape[0], "method": details["method"],
        "tfi_s": median(t_tfi), "ours_s": median(t_ours), "fid_tfi": value_tfi, "fid_ours": value_ours,
        "rel_diff": rel(value_ours, value_tfi), "tfi_times": t_tfi, "ours_times": t_ours,
    }
    print(f"  {name}: torch-fidelity [{fmt_times(t_tfi)}] s; gan_eval ({details['method']}) [{fmt_times(t_ours)}] s; "
          f"load {loadavg()}", flush=True)
    return row


def breakdown(s1: torch.Tensor, s2: torch.Tensor, repeats: int) -> list[tuple[str, float]]:
    """Median seconds of each step of gan_eval's CPU full-rank path (dpotrf, dsygst, syevd) and of tfi's."""
    import scipy.linalg
    from scipy.linalg import lapack

    s1n, s2n = s1.numpy(), s2.numpy()
    factor, _ = lapack.dpotrf(s1n, lower=1, clean=1)
    reduced, _ = lapack.dsygst(s2n, factor, itype=2, lower=1)
    product = s1n.dot(s2n)
    steps = [
        ("gan_eval: Cholesky Σ₁ = LLᵀ (LAPACK dpotrf)", lambda: lapack.dpotrf(s1n, lower=1, clean=1)),
        ("gan_eval: LᵀΣ₂L (LAPACK dsygst)", lambda: lapack.dsygst(s2n, factor, itype=2, lower=1)),
        ("gan_eval: eigenvalues of LᵀΣ₂L (syevd, lower triangle)",
         lambda: scipy.linalg.eigvalsh(reduced, lower=True, driver="evd", check_finite=False)),
        ("torch-fidelity: Σ₁·Σ₂ (numpy dot)", lambda: s1n.dot(s2n)),
        ("torch-fidelity: np.linalg.eigvals(Σ₁Σ₂)", lambda: np.linalg.eigvals(product)),
    ]
    out = []
    for label, fn in steps:
        fn()
        out.append((label, median([timed(fn)[0] for _ in range(repeats)])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d=512, fewer samples and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per tool (default 5; quick 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    d, n_full, n_singular, repeats = (512, 2500, 200, 3) if args.quick else (2048, 10000, 500, 5)
    repeats = args.repeats or repeats
    info = machine_info()
    print_machine(info)
    print(f"Fréchet distance from statistics, d={d}, {repeats} timed repeats (median), 1 warm-up each\n", flush=True)

    rows = []
    mu1, s1 = wishart_stats(d, seed=1)
    mu2, s2 = wishart_stats(d, seed=2)
    rows.append(bench_case(f"wishart (A Aᵀ/m, m={2 * d})", mu1, s1, mu2, s2, repeats))

    x1, x2 = feature_samples(n_full, d, "real"), feature_samples(n_full, d, "gen")
    (mu1, s1), (mu2, s2) = moments(x1), moments(x2)
    del x1, x2
    rows.append(bench_case(f"features N={n_full} (full rank)", mu1, s1, mu2, s2, repeats))
    full_s1, full_s2 = s1, s2

    f1, f2 = feature_samples(n_singular, d, "real"), feature_samples(n_singular, d, "gen")
    (mu1, s1), (mu2, s2) = moments(f1), moments(f2)
    singular = bench_case(f"singular N={n_singular} < d, with features", mu1, s1, mu2, s2, repeats, f1, f2)
    rows.append(singular)
    # Same singular statistics without the features: gan_eval's covariance-only fallback (eigh).
    cov_only = bench_case(f"singular N={n_singular} < d, covariances only", mu1, s1, mu2, s2, repeats)
    rows.append(cov_only)

    print()
    headers = ["case", "gan_eval method", "torch-fidelity s", "gan_eval s", "speed-up", "FID torch-fidelity",
               "FID gan_eval", "rel. diff"]
    table = [[r["case"], r["method"], f"{r['tfi_s']:.3f}", f"{r['ours_s']:.3f}", f"{r['tfi_s'] / r['ours_s']:.1f}×",
              f"{r['fid_tfi']:.10g}", f"{r['fid_ours']:.10g}", f"{r['rel_diff']:.1e}"] for r in rows]
    print(markdown_table(headers, table))
    print()
    ref = reference_singular(mu1, s1, mu2, s2, f1, f2)
    print(f"Singular case (N={n_singular} < d={d}): independent reference (numpy, Σ √eig(M Mᵀ), M = X̃Ỹᵀ) = {ref:.10g}\n")
    print(markdown_table(["method", "FID", "rel. diff to reference"], [
        ["gan_eval, features (nuclear norm)", f"{singular['fid_ours']:.10g}", f"{rel(singular['fid_ours'], ref):.1e}"],
        ["gan_eval, covariances only (eigh)", f"{cov_only['fid_ours']:.10g}", f"{rel(cov_only['fid_ours'], ref):.1e}"],
        ["torch-fidelity (eigvals of Σ₁Σ₂)", f"{singular['fid_tfi']:.10g}", f"{rel(singular['fid_tfi'], ref):.1e}"],
    ]))
    print()
    print(f"Breakdown on the full-rank `features` statistics (median of {repeats}):\n")
    print(markdown_table(["step", "seconds"], [[label, f"{t:.3f}"] for label, t in breakdown(full_s1, full_s2, repeats)]))
    print(f"\nload average (1 min) at end: {loadavg()}")


if __name__ == "__main__":
    main()
