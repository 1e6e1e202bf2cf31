"""The console script, run as a user runs it: a subprocess with exit codes and stderr."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import cli_env, write_digits

GAN_EVAL = shutil.which("gan-eval")


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    assert GAN_EVAL, "the gan-eval console script is not installed (pip install -e .)"
    return subprocess.run([GAN_EVAL, *args], capture_output=True, text=True, timeout=timeout, env=cli_env())


def test_evaluate_prints_table_and_writes_json(tmp_path):
    out = tmp_path / "run.json"
    proc = run("evaluate", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout", "--extractor", "digits",
               "-n", "300", "--num-real", "300", "--kid-subset-size", "100", "--metrics", "fid,is,kid,pr,dc",
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    for label in ("FID", "Inception Score (mean)", "KID (mean)", "Precision", "Recall", "Density", "Coverage"):
        assert label in proc.stdout
    doc = json.loads(out.read_text())
    assert set(doc["metrics"]) == {"fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall",
                                   "density", "coverage"}
    assert doc["provenance"]["n_gen"] == 300
    assert "Traceback" not in proc.stderr


def test_offline_without_weights_fails_in_one_line(tmp_path):
    proc = run("fid", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout", "-n", "10",
               "--json", str(tmp_path / "never.json"), timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    message = lines[0]
    assert "weights-inception-2015-12-05-6726825d.pth" in message
    assert "https://github.com/toshas/torch-fidelity/releases" in message and "--weights" in message
    assert not (tmp_path / "never.json").exists()


def test_download_failure_is_reported_without_hang(monkeypatch):
    # Port 9 on loopback refuses connections: this exercises the real download path with no network use.
    monkeypatch.setenv("GAN_EVAL_OFFLINE", "0")
    monkeypatch.setenv("GAN_EVAL_INCEPTION_URL", "http://127.0.0.1:9/weights-inception-2015-12-05-6726825d.pth")
    proc = run("weights", "download", timeout=60)
    assert proc.returncode == 1 and "download failed" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_image_and_empty_dir_errors(tmp_path):
    real = write_digits(tmp_path / "real", "heldout", 5)
    (real / "0003.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    common = ["--extractor", "digits", "--no-cache"]
    proc = run("fid", "--gen", str(tmp_path / "empty"), "--real", str(real), *common)
    assert proc.returncode == 1 and "contains no images" in proc.stderr
    proc = run("fid", "--gen", "builtin:mnist-train", "-n", "20", "--real", str(real), *common)
    assert proc.returncode == 1 and "0003.png" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("fid", "--gen", "builtin:mnist-train", "-n", "20", "--real", str(real), "--skip-bad-files", *common)
    assert proc.returncode == 0 and "skipped 1 unreadable" in proc.stderr and "N=4" in proc.stdout


def test_stats_then_reuse(tmp_path):
    stats = tmp_path / "ref.npz"
    proc = run("stats", "--real", "builtin:mnist-heldout", "-n", "300", "-o", str(stats), "--extractor", "digits")
    assert proc.returncode == 0 and stats.is_file(), proc.stderr
    proc = run("fid", "--gen", "builtin:mnist-train", "-n", "300", "--real", str(stats), "--extractor", "digits")
    assert proc.returncode == 0 and "FID" in proc.stdout, proc.stderr


def test_generator_function_and_nan_output():
    proc = run("fid", "--gen", "toy_generators:resample_digits", "-n", "200", "--real", "builtin:mnist-heldout",
               "--num-real", "200", "--extractor", "digits", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    proc = run("fid", "--gen", "toy_generators:nan_generator", "-n", "20", "--real", "builtin:mnist-heldout",
               "--extractor", "digits", "--no-cache")
    assert proc.returncode == 1 and "NaN" in proc.stderr


def test_weights_verify_flags_unofficial_file(inception_weights):
    proc = run("weights", "verify", inception_weights)
    assert proc.returncode == 1 and "MISMATCH" in proc.stderr
    proc = run("weights", "path")
    assert proc.returncode == 1 and "--weights" in proc.stderr


def test_help_lists_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("fid", "evaluate", "stats", "weights"):
        assert command in proc.stdout
