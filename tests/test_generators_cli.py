"""Generator checkpoints end to end through the console script: train, sample, fid, import, refusal."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import run

TINY = json.dumps({"hidden_dim": 4, "z_dim": 8})


@pytest.fixture(scope="module")
def tiny_dcgan(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "dcgan.safetensors"
    proc = run("train", "dcgan", "--steps", "3", "--batch-size", "16", "--limit", "64", "--gen-config", TINY,
               "--set", "d_hidden_dim=4", "--sample-every", "2", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def test_train_writes_checkpoint_grids_and_resume_state(tiny_dcgan):
    assert tiny_dcgan.is_file() and tiny_dcgan.with_suffix(".train.pt").is_file()
    grids = sorted((tiny_dcgan.parent / "dcgan_samples").glob("*.png"))
    assert [g.name for g in grids] == ["step_000001.png", "step_000002.png"]


def test_sample_is_reproducible_and_respects_format(tiny_dcgan, tmp_path):
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        proc = run("sample", "--gen", str(tiny_dcgan), "-n", "6", "--seed", seed, "-o", str(path))
        assert proc.returncode == 0, proc.stderr
    load = lambda p: np.load(p)["images"]
    assert np.array_equal(load(a), load(b)) and load(a).shape == (6, 28, 28, 3)
    from gan_eval.generators.checkpoint import load_generator

    handle = load_generator(tiny_dcgan)  # 3 steps at width 4 is nearly constant after uint8 rounding: compare floats
    g = lambda seed: torch.Generator().manual_seed(seed)
    assert torch.equal(handle.sample(6, g(3)), handle.sample(6, g(3)))
    assert not torch.equal(handle.sample(6, g(3)), handle.sample(6, g(4)))
    proc = run("sample", "--gen", str(tiny_dcgan), "-n", "4", "--truncation", "0.5", "-o", str(tmp_path / "g.png"))
    assert proc.returncode == 0 and Image.open(tmp_path / "g.png").size[0] > 28


def test_fid_of_checkpoint_and_resume(tiny_dcgan, tmp_path):
    proc = run("fid", "--gen", str(tiny_dcgan), "-n", "200", "--real", "builtin:mnist-heldout", "--num-real", "200",
               "--extractor", "digits", "--no-cache", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["metrics"]["fid"] > 0 and doc["provenance"]["gen"]["kind"] == "generator"
    resumed = tmp_path / "resumed.safetensors"
    proc = run("train", "dcgan", "--resume", str(tiny_dcgan), "--steps", "1", "--batch-size", "16", "--limit", "64",
               "-o", str(resumed))
    assert proc.returncode == 0, proc.stderr
    from gan_eval.generators.checkpoint import read_metadata

    assert read_metadata(resumed)["training"]["steps"] == 4


def test_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"gen": Payload()}, evil)
    proc = run("fid", "--gen", str(evil), "--real", "builtin:mnist-heldout", "--extractor", "digits", "-n", "10")
    assert proc.returncode == 1 and "--trust-pickle" in proc.stderr and "Traceback" not in proc.stderr
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(Payload()))
    proc = run("sample", "--gen", str(raw), "-n", "2", "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 1 and "pickle" in proc.stderr
    assert not marker.exists()


def test_import_course_checkpoint_then_evaluate(tmp_path, tiny_dcgan):
    from gan_eval.generators.checkpoint import load_generator

    handle = load_generator(tiny_dcgan)
    course = tmp_path / "course.pth"
    torch.save({"gen": handle.module.state_dict(), "gen_opt": {}}, course)
    out = tmp_path / "imported.safetensors"
    proc = run("import", "--arch", "dcgan", str(course), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    imported = load_generator(out)
    assert imported.config["hidden_dim"] == 4 and imported.config["z_dim"] == 8
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(imported.sample(5, g()), handle.sample(5, g()))
    proc = run("import", "--arch", "dcgan", str(course), "--config", '{"hidden_dim": 8}', "-o", str(tmp_path / "bad.safetensors"))
    assert proc.returncode == 1 and "does not match the tensors" in proc.stderr
    assert not (tmp_path / "bad.safetensors").exists()


def test_bare_state_dict_points_to_import(tmp_path, tiny_dcgan):
    from gan_eval.generators.checkpoint import load_generator

    bare = tmp_path / "bare.pth"
    torch.save({"gen": load_generator(tiny_dcgan).module.state_dict()}, bare)
    proc = run("fid", "--gen", str(bare), "--real", "builtin:mnist-heldout", "--extractor", "digits", "-n", "10")
    assert proc.returncode == 1 and "gan-eval import" in proc.stderr


def test_image_to_image_fid_with_paired_metrics(tmp_path):
    from gan_eval.generators.data import derive_pair

    from gan_eval.mnist import load_mnist

    ckpt = tmp_path / "p2p.safetensors"
    tiny = json.dumps({"hidden_channels": 2, "depth": 2})
    proc = run("train", "pix2pix", "--task", "edges", "--steps", "2", "--batch-size", "4", "--limit", "32",
               "--gen-config", tiny, "-o", str(ckpt))
    assert proc.returncode == 0, proc.stderr
    digits = torch.from_numpy(load_mnist("heldout")[0][:40].copy())[:, None]
    sources, targets = derive_pair(digits, "edges")
    np.save(tmp_path / "a.npy", sources.numpy())
    np.save(tmp_path / "b.npy", targets.numpy())
    out = tmp_path / "r.json"
    proc = run("evaluate", "--gen", str(ckpt), "--source", str(tmp_path / "a.npy"), "--real", str(tmp_path / "b.npy"),
               "--paired", "--metrics", "fid", "--extractor", "digits", "--no-cache", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())["metrics"]
    assert set(metrics) == {"fid", "l1", "psnr", "ssim"} and 0 < metrics["l1"] < 1 and -1 <= metrics["ssim"] <= 1
    proc = run("fid", "--gen", str(ckpt), "--real", str(tmp_path / "b.npy"), "--extractor", "digits")
    assert proc.returncode == 1 and "--source" in proc.stderr


@pytest.mark.slow
def test_demo_evaluates_bundled_generators_offline(tmp_path):
    from gan_eval.generators.plugin import bundled_generators

    names = bundled_generators()
    assert {"gan", "dcgan", "wgan-gp", "cgan"} <= set(names)
    proc = run("demo", "-o", str(tmp_path / "demo"), "-n", "500", "--quiet", timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in [*names, "untrained-dcgan"]:
        assert name in proc.stdout
        assert (tmp_path / "demo" / f"{name}.png").is_file() and (tmp_path / "demo" / f"{name}.json").is_file()
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    fid = {name: entry["metrics"]["fid"] for name, entry in results.items()}
    # every trained model beats the untrained one by a wide margin
    for name in names:
        assert fid[name] < fid["untrained-dcgan"] / 3, fid
