"""Coverage of the intervals at reduced size: benchmarks/bench_coverage.py's study with d = 32.

Each draw: N generated and N real Gaussian feature vectors (diagonal covariances: the metrics are
rotation-invariant), ``gan_eval.evaluate_features(..., ci=0.95)``. A nominal 95 % interval should
cover the Monte-Carlo mean of the estimator at that N in about 95 % of draws. With 100 draws the
binomial sd of a rate near 95 % is 2.2 %, so a rate below 89 % fails. The delete-a-group jackknife
is conservative for the degenerate (second-order) part of a statistic, so at these small sizes
rates of 96–100 % are expected (benchmarks/README.md); what bounds that from above here is the
interval's width: its sd estimate (half-width / t) may exceed the Monte-Carlo sd by at most 90 %
(√2 ≈ 1.41 is the jackknife's limit when the second-order part dominates; measured here: up to
1.53 for FID and 1.79 for the coverage metric, whose values at N = 48 take few distinct levels).
FID∞'s interval targets the population value instead: it must cover the closed-form FID in at least
90 % of draws. Seeds are fixed, so the test is deterministic.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gan_eval

DRAWS = 100
METRICS = "fid,kid,pr,dc"


def _draw(setting: str, dim: int, n: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(1, dim + 1, dtype=np.float64)
    if setting == "iso":  # issue 13's case, scaled down: σ = 0.5, shift 0.05 per coordinate
        gen_sd, real_sd, shift = np.full(dim, 0.5), np.full(dim, 0.5), np.full(dim, 0.05)
    else:  # power-law spectrum λ_k = 1/k, a covariance change and a mean shift
        gen_sd, real_sd, shift = np.sqrt((1 + 0.2 * np.cos(k)) / k), np.sqrt(1 / k), 0.1 / np.sqrt(k)
    rng = np.random.default_rng([dim, n, index, setting == "iso"])
    return rng.standard_normal((n, dim)) * gen_sd + shift, rng.standard_normal((n, dim)) * real_sd


def _coverage(setting: str, dim: int, n: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per key: (coverage of the Monte-Carlo mean, mean sd estimate / Monte-Carlo sd)."""
    import torch

    from gan_eval.metrics import MetricOptions

    points, intervals = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny products: thread hand-offs would dominate
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for index in range(DRAWS):
                # 10 KID subsets instead of 100: at N <= 1000 every subset is the whole set anyway.
                result = gan_eval.evaluate_features(*_draw(setting, dim, n, index), METRICS, ci=0.95, bootstrap=200,
                                                    seed=index, device="cpu",
                                                    metric_options=MetricOptions(kid_subsets=10))
                points.append(result.metrics)
                intervals.append(result.ci)
    finally:
        torch.set_num_threads(threads)
    from scipy import stats

    t = stats.t.ppf(0.975, 19)  # 200 // 10 = 20 groups
    rates, widths = {}, {}
    for key in intervals[0]:
        values = np.array([p[key] for p in points])
        bounds = np.array([i[key] for i in intervals])
        rates[key] = float(np.mean((bounds[:, 0] <= values.mean()) & (values.mean() <= bounds[:, 1])))
        half = np.maximum(bounds[:, 1] - values, values - bounds[:, 0])  # the side not clipped to the range
        widths[key] = float(np.mean(half) / t / values.std(ddof=1))
    return rates, widths


@pytest.mark.slow
@pytest.mark.parametrize("setting, dim, n", [("power", 32, 96), ("iso", 32, 48)])
def test_intervals_cover_the_mean_of_the_estimator_at_n(setting, dim, n):
    rates, widths = _coverage(setting, dim, n)
    assert set(rates) == {"fid", "kid_mean", "precision", "recall", "density", "coverage"}
    for key in rates:
        assert rates[key] >= 0.89, (key, rates, widths)
        assert widths[key] <= 1.9, (key, rates, widths)


def _population_fid(setting: str, dim: int) -> float:
    """The closed-form FID of :func:`_draw`'s two Gaussians (diagonal covariances)."""
    k = np.arange(1, dim + 1, dtype=np.float64)
    if setting == "iso":
        return dim * 0.05**2
    return float((0.01 / k).sum() + ((np.sqrt((1 + 0.2 * np.cos(k)) / k) - np.sqrt(1 / k)) ** 2).sum())


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["power", "iso"])
@pytest.mark.parametrize("n", [66, 160])
def test_fid_inf_interval_covers_the_population_fid(setting, n):
    # Issue 13 asks for at least 90 %. N = 66 is the fewest FID∞ accepts at d = 32, 2(d + 1); there the
    # paper's smallest subset (N/5 = 14 samples in 32 dimensions) covered 65 % in the iso case (95 % with
    # the power-law spectrum, whose effective dimension is small). Measured here: 96-98 %.
    import torch

    dim, truth, covered = 32, _population_fid(setting, 32), []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for index in range(DRAWS):
            result = gan_eval.evaluate_features(*_draw(setting, dim, n, index), "fid_inf", seed=index, device="cpu")
            low, high = result.ci["fid_inf"]
            covered.append(low <= truth <= high)
    finally:
        torch.set_num_threads(threads)
    assert np.mean(covered) >= 0.90, np.mean(covered)


CLASSES = 100


def _logits(setting: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """benchmarks/bench_coverage.py's classifier logits with 100 classes: a class from the prior (Zipf for
    ``power``, uniform for ``iso``), standard normal logits plus a confidence U(4, 10) on that class."""
    prior = np.full(CLASSES, 1.0 / CLASSES) if setting == "iso" else 1.0 / np.arange(1, CLASSES + 1)
    classes = rng.choice(CLASSES, size=n, p=prior / prior.sum())
    out = rng.standard_normal((n, CLASSES))
    out[np.arange(n), classes] += rng.uniform(4.0, 10.0, size=n)
    return out


def _population_is(setting: str, samples: int = 400_000) -> float:
    """Monte-Carlo population IS, exp(E Σ p log p − Σ p̄ log p̄) (its own error is about 10⁻⁴ relative)."""
    import torch

    z = torch.from_numpy(_logits(setting, samples, np.random.default_rng(123)))
    p = z.softmax(dim=1)
    p_bar = p.mean(dim=0)
    return float(torch.exp((p * z.log_softmax(dim=1)).sum(dim=1).mean() - (p_bar * p_bar.log()).sum()))


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["power", "iso"])
def test_inception_score_intervals(setting):
    # N = 10 C, as N = 10,000 with Inception's 1008 classes. IS's interval must cover the mean of IS at N,
    # IS∞'s the population IS (>= 90 %, as FID∞'s). Measured here: IS 91 % (power, sd ratio 0.87) and 94 %
    # (iso, 0.96); IS∞ 93 % and 94 %. The fit's interval alone (before its jackknife variance was added)
    # covered 50-55 % here and 38-73 % at full scale (benchmarks/README.md §7).
    import torch

    n, truth, points, intervals = 10 * CLASSES, _population_is(setting), [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for index in range(DRAWS):
            rng = np.random.default_rng([CLASSES, n, index, setting == "iso"])
            result = gan_eval.evaluate_features(rng.standard_normal((n, 2)), None, ["is", "is_inf"],
                                                gen_logits=_logits(setting, n, rng), ci=0.95, seed=index,
                                                device="cpu")
            points.append(result.metrics)
            intervals.append(result.ci)
    finally:
        torch.set_num_threads(threads)
    is_mean = np.array([p["is_mean"] for p in points])
    bounds = np.array([i["is_mean"] for i in intervals])
    mean_covered = np.mean((bounds[:, 0] <= is_mean.mean()) & (is_mean.mean() <= bounds[:, 1]))
    width = np.mean(bounds[:, 1] - bounds[:, 0]) / 2 / 2.093 / is_mean.std(ddof=1)  # t(19): 20 groups
    assert mean_covered >= 0.89 and width <= 1.9, (mean_covered, width)
    inf_bounds = np.array([i["is_inf"] for i in intervals])
    assert np.mean((inf_bounds[:, 0] <= truth) & (truth <= inf_bounds[:, 1])) >= 0.90
    assert abs(np.mean([p["is_inf"] for p in points]) - truth) < 0.1 * truth  # IS at N is 19-26 % low here


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_ppl_interval_covers_its_mean_at_n(sigma):
    # PPL's per-path LPIPS/ε² distances are positive with a long right tail (hence StyleGAN's 1st-99th
    # percentile filter): log-normal stand-ins with σ = 1 and 2, N = 2,000 paths (the scale; PPL
    # needs no features, so this runs at full size), 300 draws, the interval code a run uses. Measured:
    # 93.7 % / 94.3 %, sd ratio 0.97 / 0.94 (at N = 10,000: 94.7 % / 96.3 %, 1.01 / 1.04).
    import torch

    from gan_eval.intervals import bootstrap_intervals
    from gan_eval.metrics import MetricOptions
    from gan_eval.metrics.base import MetricContext
    from gan_eval.metrics.ppl import SPEC, filtered_mean
    from gan_eval.statistics import FeatureSet, FeatureStats

    n, values, bounds = 2000, [], []
    paths = FeatureSet(FeatureStats.from_features(torch.zeros(n, 1)))  # PPL reads only N
    for index in range(300):
        distances = np.random.default_rng([n, index, int(sigma * 10)]).lognormal(3.0, sigma, n)
        ctx = MetricContext(paths, None, MetricOptions(), details={"ppl": {"distances": distances}})
        point = {"ppl": filtered_mean(distances)}
        ci, info = bootstrap_intervals([SPEC], ctx, point, 0.95, 200, index)
        values.append(point["ppl"])
        bounds.append(ci["ppl"])
    assert info["groups"] == 20
    values, bounds = np.array(values), np.array(bounds)
    covered = np.mean((bounds[:, 0] <= values.mean()) & (values.mean() <= bounds[:, 1]))
    ratio = np.mean(bounds[:, 1] - bounds[:, 0]) / 2 / 2.093 / values.std(ddof=1)  # t(19)
    assert covered >= 0.91 and 0.85 <= ratio <= 1.2, (covered, ratio)
