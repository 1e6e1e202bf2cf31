"""Truncation sweeps: the trade-off on a toy with a known answer, both truncation kinds end to end,
agreement with ``gan_eval.evaluate``, a self-contained and escaped HTML page, and clean refusals."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re

import pandas as pd
import pytest
import sweep_toys
import torch
from click.testing import CliRunner
from gan_eval.generators.checkpoint import save_generator
from gan_eval.generators.registry import get_arch
from test_cli import run

import gan_eval
from gan_eval.sweep import parse_psis, sweep

N_GEN, N_REAL = 60, 100
METRICS = ["fid", "pr", "dc", "is"]


def tiny_checkpoint(path, arch: str, seed: int = 0):
    """An untrained tiny model of ``arch`` built from the registry with a fixed seed, saved as a checkpoint."""
    spec = get_arch(arch)
    config = dataclasses.asdict(spec.make_config(spec.tiny))
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_generator(path, arch, spec.build(config), config, source="test")


@pytest.mark.parametrize("kind, psis", [("w_avg_lerp", [0.2, 0.35, 0.5, 0.7]), ("z_truncnorm", [0.5, 1.0, 1.5, 2.5])])
def test_truncation_trades_recall_for_precision(kind, psis):
    # sweep_toys explains why: shrinking psi removes the tail artefacts (precision up) and shrinks the
    # support of the good samples (recall down); each step moves both by >= 0.05 here, so no tolerance.
    real = sweep_toys.reference_images(500)
    result = sweep(sweep_toys.handle(kind), real, psis, ["pr"], extractor="digits", num_samples=500,
                   device="cpu", cache=False, progress=False, strip=4)
    assert result.truncation_kind == kind and [r.psi for r in result.rows] == psis
    precision = [r.metrics["precision"] for r in result.rows]
    recall = [r.metrics["recall"] for r in result.rows]
    assert all(a > b for a, b in itertools.pairwise(precision)), precision  # psi up: precision down
    assert all(a < b for a, b in itertools.pairwise(recall)), recall  # psi up: recall up
    assert precision[0] > 0.85 and recall[0] < 0.35 and recall[-1] > 0.85
    assert all(r.strip.shape == (4, 3, 28, 28) and r.strip.dtype == torch.uint8 for r in result.rows)


@pytest.fixture(scope="module")
def dcgan_sweep(tmp_path_factory):
    """One CLI sweep of a tiny DCGAN saved under a hostile path (reused by several tests)."""
    root = tmp_path_factory.mktemp("sweep")
    ckpt = tiny_checkpoint(root / "<script>alert(1)</script>.safetensors", "dcgan")
    out = root / "out"
    proc = run("sweep", "--gen", str(ckpt), "--real", "builtin:mnist-heldout", "--psi", "0.5,1,none", "-o", str(out),
               "--extractor", "digits", "-n", str(N_GEN), "--num-real", str(N_REAL), "--no-cache", "--strip", "5",
               "--metrics", ",".join(METRICS), "--quiet")
    assert proc.returncode == 0, proc.stderr
    return ckpt, out, proc


def _check_outputs(out, labels: list[str], kind: str) -> None:
    for name in ("sweep.csv", "sweep.json", "sweep.png", "sweep.svg", "index.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "strips").iterdir()) == sorted(f"psi_{label}.png" for label in labels)
    frame = pd.read_csv(out / "sweep.csv")
    assert [str(v) if v == "none" else f"{float(v):g}" for v in frame["psi"]] == labels
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["schema"] == "gan-eval/sweep/1" and doc["truncation"]["kind"] == kind
    assert doc["provenance"]["truncation_kind"] == kind and doc["provenance"]["same_seed_per_psi"] is True
    assert not list(out.rglob(".*.tmp")) and not list(out.rglob(".*.png"))


def test_z_truncnorm_checkpoint_end_to_end(dcgan_sweep):
    _ckpt, out, proc = dcgan_sweep
    _check_outputs(out, ["0.5", "1", "none"], "z_truncnorm")
    assert "z_truncnorm" in proc.stdout and "FID" in proc.stdout and "Prec" in proc.stdout
    frame = pd.read_csv(out / "sweep.csv")
    assert list(frame.columns) == ["psi", "fid", "precision", "recall", "density", "coverage", "is_mean", "is_std",
                                   "n_gen", "wall_time_s"]
    assert (frame["n_gen"] == N_GEN).all()


def test_w_avg_lerp_checkpoint_end_to_end(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "stylegan.safetensors", "stylegan")
    out = tmp_path / "out"
    proc = run("sweep", "--gen", str(ckpt), "--real", "builtin:mnist-heldout", "--psi", "0,0.5,1,off", "-o", str(out),
               "--extractor", "digits", "-n", "40", "--num-real", "80", "--metrics", "fid,pr", "--strip", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    _check_outputs(out, ["0", "0.5", "1", "none"], "w_avg_lerp")
    doc = json.loads((out / "sweep.json").read_text())
    by_label = {row["label"]: row["metrics"] for row in doc["rows"]}
    # psi = 1 leaves w unchanged: the same latents give the same images as no truncation (up to float rounding).
    assert by_label["1"]["fid"] == pytest.approx(by_label["none"]["fid"], rel=1e-4, abs=1e-6)
    assert by_label["0"]["recall"] <= by_label["none"]["recall"]  # psi = 0: every sample is the average image


def test_tables_agree_with_evaluate(dcgan_sweep):
    ckpt, out, _proc = dcgan_sweep
    frame = pd.read_csv(out / "sweep.csv")
    doc = json.loads((out / "sweep.json").read_text())
    for psi, label in ((0.5, "0.5"), (None, "none")):
        direct = gan_eval.evaluate(str(ckpt), "builtin:mnist-heldout", METRICS, extractor="digits", device="cpu",
                                   num_samples=N_GEN, num_real=N_REAL, truncation=psi, cache=False, progress=False)
        row = next(r for r in doc["rows"] if r["label"] == label)
        csv_row = frame[frame["psi"].astype(str).map(lambda v: v if v == "none" else f"{float(v):g}") == label].iloc[0]
        for key, value in direct.metrics.items():
            assert row["metrics"][key] == pytest.approx(value, rel=1e-12, abs=1e-12), (label, key)
            assert csv_row[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (label, key)


def test_html_is_self_contained_and_escaped(dcgan_sweep):
    _ckpt, out, _proc = dcgan_sweep
    html = (out / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "&lt;script&gt;" in html  # the hostile checkpoint name, escaped
    assert "<link" not in html.lower() and "url(" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(re.findall(r'alt="samples at psi ', html)) == 3  # one strip per psi
    for label in ("0.5", "1", "none"):
        assert f"ψ = {label}</span>" in html


def test_intervals_reach_tables(tmp_path):
    from gan_eval.reports.sweep_report import write_sweep

    ckpt = tiny_checkpoint(tmp_path / "dcgan.safetensors", "dcgan")
    result = sweep(str(ckpt), "builtin:mnist-heldout", [0.5, None], ["fid", "pr"], extractor="digits", device="cpu",
                   num_samples=N_GEN, num_real=N_REAL, cache=False, progress=False, strip=2, ci=0.9, bootstrap=20)
    assert result.ci_level == 0.9
    for row in result.rows:
        assert set(row.ci) >= {"fid", "precision", "recall"}
        assert all(lo <= hi for lo, hi in row.ci.values())
    write_sweep(result, tmp_path / "out")
    frame = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert {"fid_ci_lo", "fid_ci_hi", "precision_ci_lo", "recall_ci_hi"} <= set(frame.columns)
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert doc["ci_level"] == 0.9 and doc["rows"][0]["ci"]["fid"] == result.rows[0].ci["fid"]


def _invoke(args: list[str]):
    from gan_eval.cli import main

    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("psi, message", [
    ("0,0.5", "threshold must be > 0"),
    ("-1", "threshold must be > 0"),
    ("0.5,0.5", "twice"),
    ("0.5,abc", "not a number"),
    ("nan", "not a finite number"),
    ("", "at least one value"),
])
def test_bad_psi_list_fails_and_writes_nothing(tmp_path, psi, message):
    ckpt = tiny_checkpoint(tmp_path / "dcgan.safetensors", "dcgan")
    out = tmp_path / "never"
    result = _invoke(["sweep", "--gen", str(ckpt), "--real", "builtin:mnist-heldout", "--psi", psi, "-o", str(out),
                      "--extractor", "digits", "-n", "10"])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not out.exists()


def test_models_without_truncation_fail_and_write_nothing(tmp_path):
    pix2pix = tiny_checkpoint(tmp_path / "pix2pix.safetensors", "pix2pix_unet")
    out = tmp_path / "never"
    proc = run("sweep", "--gen", str(pix2pix), "--real", "builtin:mnist-heldout", "--psi", "0.5,1", "-o", str(out),
               "--extractor", "digits", "-n", "10")
    assert proc.returncode == 1 and "image-to-image" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    for gen in ("builtin:mnist-train", "toy_generators:resample_digits"):
        result = _invoke(["sweep", "--gen", gen, "--real", "builtin:mnist-heldout", "--psi", "0.5,1", "-o", str(out),
                          "--extractor", "digits"])
        assert result.exit_code == 1 and "not a generator checkpoint" in result.output, result.output
    assert not out.exists()


def test_parse_psis():
    assert parse_psis("0.2, 0.5,none,1") == [0.2, 0.5, None, 1.0]
    assert parse_psis([0.5, "off"]) == [0.5, None]
    with pytest.raises(gan_eval.GanEvalError):
        parse_psis("none,off")
