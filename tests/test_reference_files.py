"""Statistics files are checked on load: every defect is one clear error naming the file, never a NaN score."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli_env

import gan_eval
from gan_eval.errors import GanEvalError


@pytest.fixture(scope="module")
def good_arrays(tmp_path_factory) -> dict[str, np.ndarray]:
    """The arrays of a sound `gan-eval stats` file (digits extractor, 60 held-out digits)."""
    path = tmp_path_factory.mktemp("ref") / "ref.npz"
    gan_eval.compute_statistics("builtin:mnist-heldout", path, extractor="digits", num_samples=60, cache=False)
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _meta(arrays, **changes):
    return np.array(json.dumps({**json.loads(str(arrays["meta"])), **changes}))


def _foreign(a):  # a pytorch-fid/TTUR file: mu and sigma only
    return {"mu": a["mu"], "sigma": a["sigma"]}


def _with(a, **changes):
    return {**a, **changes}


def _nan(x, index=0):
    x = x.astype(np.float64).copy()
    x.flat[index] = np.nan
    return x


CASES = {
    "nan-in-foreign-mu": (lambda a: _with(_foreign(a), mu=_nan(a["mu"])), "non-finite"),
    "inf-in-foreign-sigma": (lambda a: _with(_foreign(a), sigma=a["sigma"] * np.inf), "non-finite"),
    "nan-in-sums": (lambda a: _with(a, sum_outer=_nan(a["sum_outer"], 5)), "non-finite"),
    "nan-in-features": (lambda a: _with(a, features=_nan(a["features"])), "non-finite"),
    "mu-not-1d": (lambda a: _with(_foreign(a), mu=a["mu"][None, :]), "mu has shape (1, 128)"),
    "sigma-not-square": (lambda a: _with(_foreign(a), sigma=a["sigma"][:, :100]), "sigma has shape (128, 100)"),
    "sigma-other-dim": (lambda a: _with(_foreign(a), mu=a["mu"][:64]), "sigma has shape (128, 128), not (64, 64)"),
    "features-not-n-by-d": (lambda a: _with(a, features=a["features"][:, :100]), "features has shape (60, 100)"),
    "features-other-count": (lambda a: _with(a, features=a["features"][:50]), "features has 50 rows but n is 60"),
    "sums-inconsistent": (lambda a: _with(a, sum=a["sum"] * 2), "do not match sum"),
    "sum-without-outer": (lambda a: {k: v for k, v in a.items() if k != "sum_outer"}, "sums are incomplete"),
    "n-not-a-count": (lambda a: _with(a, n=np.array([60, 60])), "n must be one whole number"),
    "mu-of-strings": (lambda a: _with(_foreign(a), mu=a["mu"].astype(str)), "mu has dtype"),
    "meta-a-list": (lambda a: _with(a, meta=np.array("[1, 2]")), "metadata is a JSON list, not an object"),
    "meta-not-json": (lambda a: _with(a, meta=np.array("{not json")), "meta is not valid JSON"),
    "meta-extractor-a-number": (lambda a: _with(a, meta=_meta(a, extractor=5)), "metadata 'extractor' is 5, not str"),
    "meta-weights-a-list": (lambda a: _with(a, meta=_meta(a, weights_sha256=["x"])), "'weights_sha256'"),
    "meta-dim-disagrees": (lambda a: _with(a, meta=_meta(a, feature_dim=64)), "feature_dim 64"),
}


def _write(tmp_path, good_arrays, case) -> str:
    build, _ = CASES[case]
    path = tmp_path / f"bad-{case}.npz"
    np.savez(path, **build(good_arrays))
    return str(path)


@pytest.mark.parametrize("case", CASES)
def test_bad_statistics_file_is_a_clear_error_in_the_api(tmp_path, good_arrays, case):
    path = _write(tmp_path, good_arrays, case)
    with pytest.raises(GanEvalError) as info:
        gan_eval.evaluate("builtin:mnist-train", path, ["fid"], extractor="digits", num_samples=50, cache=False)
    message = str(info.value)
    assert path in message and CASES[case][1] in message and "\n" not in message


@pytest.mark.parametrize("case", CASES)
def test_bad_statistics_file_is_a_clear_error_in_the_cli(tmp_path, good_arrays, case):
    path = _write(tmp_path, good_arrays, case)
    proc = subprocess.run(
        [sys.executable, "-m", "gan_eval", "fid", "--gen", "builtin:mnist-train", "-n", "50", "--real", path,
         "--extractor", "digits", "--no-cache"],
        capture_output=True, text=True, env=cli_env(), timeout=300, check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gan-eval: error:"), proc.stderr
    assert path in lines[0] and CASES[case][1] in lines[0]
    assert "nan" not in proc.stdout.lower()


def test_sound_files_still_load_and_agree(tmp_path, good_arrays):
    """The checks refuse only defects: our file and its pytorch-fid style mu/sigma give the same FID."""
    ours, foreign = tmp_path / "ours.npz", tmp_path / "foreign.npz"
    np.savez(ours, **good_arrays)
    np.savez(foreign, **_foreign(good_arrays))
    kw = {"extractor": "digits", "num_samples": 200, "cache": False}
    a = gan_eval.evaluate("builtin:mnist-train", str(ours), ["fid"], **kw)["fid"]
    with pytest.warns(UserWarning, match="no provenance"):
        b = gan_eval.evaluate("builtin:mnist-train", str(foreign), ["fid"], **kw)["fid"]
    assert np.isfinite(a) and a > 0 and b == pytest.approx(a, rel=1e-6)


def test_truncated_npz_is_a_clear_error(tmp_path, good_arrays):
    path = tmp_path / "ref.npz"
    np.savez(path, **good_arrays)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GanEvalError, match="cannot read array file"):
        gan_eval.evaluate("builtin:mnist-train", str(path), "fid", extractor="digits", num_samples=50, cache=False)
    proc = subprocess.run([sys.executable, "-m", "gan_eval", "fid", "--gen", "builtin:mnist-train", "-n", "50",
                           "--real", str(path), "--extractor", "digits", "--no-cache"],
                          capture_output=True, text=True, env=cli_env(), timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "cannot read array file" in proc.stderr
