"""Bad or unusual inputs found by trying the tool as a newcomer: each ends clearly, nothing hangs."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import torch
from conftest import cli_env, write_digits

import gan_eval
from gan_eval.generators import noise


def test_statistics_made_with_another_extractor_name_it_before_loading_any_network(tmp_path):
    stats = tmp_path / "ref_digits.npz"
    gan_eval.compute_statistics("builtin:mnist-heldout", stats, extractor="digits", num_samples=200, cache=False)
    env = {**cli_env(), "GAN_EVAL_OFFLINE": "1"}
    env.pop("GAN_EVAL_WEIGHTS", None)
    proc = subprocess.run([sys.executable, "-m", "gan_eval", "fid", "--gen", "builtin:mnist-train", "-n", "50",
                           "--real", str(stats), "--no-cache"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "made with extractor 'digits'" in proc.stderr and "pass --extractor digits" in proc.stderr
    assert "weights" not in proc.stderr.lower()  # not the Inception weights error


def test_audit_of_a_small_folder_uses_all_its_images(tmp_path):
    folder = write_digits(tmp_path / "gen", "train", 120)
    result = gan_eval.audit(str(folder), "builtin:mnist-heldout", "digits", num_real=200, bootstrap=20, walks=False,
                            extractor="digits", cache=False)
    assert result.summary["provenance"]["n_gen"] == 120


def test_truncation_near_zero_ends_quickly_and_stays_exact():
    g = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    z = noise.truncated_normal(1000, 128, 1e-6, g)
    assert time.perf_counter() - started < 5
    assert z.abs().max() <= 1e-6 and z.shape == (1000, 128)
    # On [-t, t] with t << 1 the truncated normal is uniform: mean 0, sd t/sqrt(3).
    assert abs(z.mean().item()) < 0.01e-6 and math.isclose(z.std().item(), 1e-6 / math.sqrt(3), rel_tol=0.01)
    wider = noise.truncated_normal(200_000, 1, 0.04, g)  # below the rejection threshold: inverse CDF
    assert wider.abs().max() <= 0.04 and math.isclose(wider.std().item(), 0.04 / math.sqrt(3), rel_tol=0.01)
    # The usual thresholds keep the rejection sampler (the same latents as before for the same seed).
    a = noise.truncated_normal(64, 8, 0.5, torch.Generator().manual_seed(1))
    g2 = torch.Generator().manual_seed(1)
    b = torch.randn(64, 8, generator=g2)
    inside = b.abs() <= 0.5
    assert torch.equal(a[inside], b[inside])


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**cli_env(), "PYTHONPATH": str(cwd) if cwd else ""}
    return subprocess.run([sys.executable, "-m", "gan_eval", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def test_gate_rule_with_a_huge_integer_is_a_user_error(tmp_path):
    run = tmp_path / "run.json"
    run.write_text('{"schema": "gan-eval/result/1", "metrics": {"fid": 1.0}, "provenance": {}}')
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nmetric = "fid"\nmax = ' + "9" * 400 + "\n")
    proc = _cli("gate", str(run), "--rules", str(rules))
    assert proc.returncode == 2 and "must be a finite number" in proc.stderr
    assert "internal error" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_user_generator_code_that_raises_is_a_one_line_error(tmp_path):
    (tmp_path / "usergen.py").write_text(
        "import torch\n"
        "def broken_factory():\n    raise RuntimeError('factory boom')\n"
        "class Bad:\n    output_range = (-1, 1)\n"
        "    def sample(self, n, generator):\n        raise ValueError('sample boom')\n"
        "def bad_sampler():\n    return Bad()\n")
    (tmp_path / "brokenmod.py").write_text("raise RuntimeError('import boom')\n")
    common = ["-n", "20", "--real", "builtin:mnist-heldout", "--num-real", "50", "--extractor", "digits", "--no-cache"]
    for spec, message in (("usergen:broken_factory", "factory boom"), ("usergen:bad_sampler", "sample boom"),
                          ("brokenmod:make", "import boom")):
        proc = _cli("fid", "--gen", spec, *common, cwd=tmp_path)
        assert proc.returncode == 1, (spec, proc.stderr)
        assert message in proc.stderr and spec.split(":")[0] in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
