"""Coverage of gan-eval's intervals on Gaussian features at realistic scale (not run in CI).

Each draw makes N generated and N real feature vectors in d dimensions, calls
:func:`gan_eval.evaluate_features` with ``ci=0.95``, and appends the point values and intervals to a
JSON-lines file (one line per draw, so a stopped study resumes where it was). The summary reports,
per metric key, how often the interval covered the Monte-Carlo mean of the estimator at that N
(the stated target), how often FID∞'s interval covered the closed-form population FID, and IS∞'s the
population Inception Score.

Settings (diagonal covariances suffice: every metric is rotation-invariant):

- ``power``: real eigenvalues λ_k = k^(−α), α = 1 (the power law of deep-network and cortical
  representations; Stringer et al. 2019, *Nature* 571; Agrawal et al. 2022, *NeurIPS*, "α-ReQ":
  α ≈ 1 for well-trained networks). The generated side scales them by 1 + 0.2·cos(k) (a covariance
  change) and shifts the mean by 0.1·√λ_k per coordinate.
- ``iso``: isotropic σ = 0.5 on both sides, mean shift 0.05 per coordinate (issue 13's case; at
  d = 2048 the population FID is 5.12).

The Inception Score (``--metrics is,is_inf``; ``--dim`` only sizes the features it ignores) gets
classifier logits over C = 1008 classes (Inception's output width in torch-fidelity): each sample's
class is drawn from a prior, Zipf p_c ∝ 1/c under ``power`` (a generator that favours some classes)
and uniform under ``iso``; its logits are standard normal plus a confidence a ~ U(4, 10) on that class.
The population IS (10.86 under ``power``, 17.95 under ``iso``) comes from 10⁶ further samples (``population_is``).

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_coverage.py --setting power --dim 2048 --n 2000 \\
        --draws 100 --metrics fid,kid,pr,dc
    PYTHONPATH=. python benchmarks/bench_coverage.py --summary            # every results file so far
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def spectra(setting: str, dim: int, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(generated variances, real variances, generated mean) of a setting; the real mean is 0."""
    k = np.arange(1, dim + 1, dtype=np.float64)
    if setting == "iso":
        real = np.full(dim, 0.25)
        return real.copy(), real, np.full(dim, 0.05)
    if setting == "power":
        real = k ** -alpha
        return real * (1 + 0.2 * np.cos(k)), real, 0.1 * np.sqrt(real)
    raise ValueError(f"unknown setting {setting!r}")


CLASSES = 1008


def class_prior(setting: str) -> np.ndarray:
    """The generated samples' class distribution of a setting (Zipf for ``power``, uniform for ``iso``)."""
    if setting == "iso":
        return np.full(CLASSES, 1.0 / CLASSES)
    weights = 1.0 / np.arange(1, CLASSES + 1)
    return weights / weights.sum()


def logits(setting: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n × C`` classifier logits: standard normal plus a confidence U(4, 10) on a class drawn from the prior."""
    classes = rng.choice(CLASSES, size=n, p=class_prior(setting))
    out = rng.standard_normal((n, CLASSES))
    out[np.arange(n), classes] += rng.uniform(4.0, 10.0, size=n)
    return out.astype(np.float32)


@functools.cache
def population_is(setting: str, samples: int = 1_000_000, chunk: int = 50_000) -> float:
    """Monte-Carlo population Inception Score, exp(E Σ p log p − Σ p̄ log p̄), from ``samples`` logits.

    Its own error is about C / (2·samples) in log IS (5·10⁻⁴ here), far below the estimator's spread.
    """
    import torch

    rng = np.random.default_rng([CLASSES, samples, 0 if setting == "iso" else 1, 3])
    mass, neg_entropy = np.zeros(CLASSES), 0.0
    for _ in range(samples // chunk):
        z = torch.from_numpy(logits(setting, chunk, rng)).double()
        p = z.softmax(dim=1)
        mass += p.sum(dim=0).numpy()
        neg_entropy += float((p * z.log_softmax(dim=1)).sum())
    p_bar = mass / mass.sum()
    return float(np.exp(neg_entropy / (samples // chunk * chunk) - (p_bar * np.log(p_bar)).sum()))


def population_fid(gen_var: np.ndarray, real_var: np.ndarray, gen_mean: np.ndarray) -> float:
    """Closed-form FID of two Gaussians with diagonal covariances (real mean 0)."""
    return float((gen_mean ** 2).sum() + ((np.sqrt(gen_var) - np.sqrt(real_var)) ** 2).sum())


def draw(setting: str, dim: int, n: int, index: int, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``index`` of a setting: (generated N×d, real N×d), float32 like extractor output."""
    gen_var, real_var, gen_mean = spectra(setting, dim, alpha)
    rng = np.random.default_rng([dim, n, index, 0 if setting == "iso" else 1])
    gen = rng.standard_normal((n, dim)) * np.sqrt(gen_var) + gen_mean
    real = rng.standard_normal((n, dim)) * np.sqrt(real_var)
    return gen.astype(np.float32), real.astype(np.float32)


def run_draw(setting: str, dim: int, n: int, index: int, metrics: str, bootstrap: int, level: float = 0.95,
             alpha: float = 1.0) -> dict:
    """One draw's values and intervals (a JSON-able dict)."""
    import gan_eval

    gen, real = draw(setting, dim, n, index, alpha)
    wanted = metrics.split(",")
    gen_logits = (logits(setting, n, np.random.default_rng([dim, n, index, 0 if setting == "iso" else 1, 2]))
                  if {"is", "is_inf"} & set(wanted) else None)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = gan_eval.evaluate_features(gen, real, wanted, ci=level, bootstrap=bootstrap, seed=index,
                                            device="cpu", gen_logits=gen_logits)
    return {"draw": index, "metrics": result.metrics, "ci": result.ci, "seconds": time.perf_counter() - started}


def summarise(rows: list[dict], truths: dict[str, float], groups: int = 20) -> dict[str, dict]:
    """Per key: draws, Monte-Carlo mean and sd of the estimate, coverage of the mean (of the population
    value for the keys in ``truths``: FID∞, IS∞), and the sd ratio: the interval's sd estimate
    (half-width / t(G−1)) over the Monte-Carlo sd (1 when the jackknife estimates the spread without
    bias; not for FID∞ and IS∞, whose half-widths have their own t)."""
    from scipy import stats

    t = float(stats.t.ppf(0.975, groups - 1))
    out: dict[str, dict] = {}
    for key in rows[0]["ci"]:
        values = np.array([r["metrics"][key] for r in rows])
        bounds = np.array([r["ci"][key] for r in rows])
        mean = float(values.mean())
        target = truths.get(key, mean)
        covered = (bounds[:, 0] <= target) & (target <= bounds[:, 1])
        half = float(np.mean(bounds[:, 1] - bounds[:, 0]) / 2)
        mc_sd = float(values.std(ddof=1)) if len(rows) > 1 else float("nan")
        out[key] = {"draws": len(rows), "mc_mean": mean, "mc_sd": mc_sd, "mean_half_width": half,
                    "sd_ratio": float("nan") if key in truths else half / t / mc_sd,
                    "target": f"population value {truths[key]:.4g}" if key in truths else "MC mean at N",
                    "coverage": float(covered.mean())}
    return out


def results_path(setting: str, dim: int, n: int, metrics: str, bootstrap: int) -> Path:
    return RESULTS / f"coverage_{setting}_d{dim}_n{n}_{metrics.replace(',', '-')}_b{bootstrap}.jsonl"


def study(setting: str, dim: int, n: int, draws: int, metrics: str, bootstrap: int, alpha: float = 1.0) -> dict:
    """Run (or resume) a setting, appending one line per draw; returns its summary."""
    path = results_path(setting, dim, n, metrics, bootstrap)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["draw"] for line in path.read_text().splitlines()} if path.exists() else set()
    for index in range(draws):
        if index in done:
            continue
        row = run_draw(setting, dim, n, index, metrics, bootstrap, alpha=alpha)
        with path.open("a") as handle:  # one line per draw: a killed study loses at most the draw in progress
            handle.write(json.dumps(row) + "\n")
        print(f"{path.name}: draw {index} {row['seconds']:.1f} s", flush=True)
    return report(path)


def report(path: Path) -> dict:
    setting, dim, n = path.stem.split("_")[1], int(path.stem.split("_")[2][1:]), int(path.stem.split("_")[3][1:])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    keys = rows[0]["ci"]
    truths = {"fid_inf": population_fid(*spectra(setting, dim))} if "fid_inf" in keys else {}
    if "is_inf" in keys:
        truths["is_inf"] = population_is(setting)
    bootstrap = int(path.stem.rsplit("_b", 1)[1])
    summary = summarise(rows, truths, max(10, round(bootstrap / 10)))
    for key, s in summary.items():
        print(f"{setting:5s} d={dim:4d} N={n:5d} {key:9s} draws={s['draws']:3d} coverage={s['coverage']:.3f} "
              f"sd ratio {s['sd_ratio']:.2f} (target {s['target']}; MC mean {s['mc_mean']:.4g}, MC sd "
              f"{s['mc_sd']:.3g}, mean half-width {s['mean_half_width']:.3g})")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=("power", "iso"), default="power")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--metrics", default="fid,kid,pr,dc,fid_inf")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--summary", action="store_true", help="summarise every results file and exit")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    if args.summary:
        for path in sorted(RESULTS.glob("coverage_*.jsonl")):
            report(path)
        return
    study(args.setting, args.dim, args.n, args.draws, args.metrics, args.bootstrap)


if __name__ == "__main__":
    main()
