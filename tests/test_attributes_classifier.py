"""`gan-eval train classifier` (the course's multi-label recipe) and auditing with its checkpoint."""

from __future__ import annotations

import csv
import json

import pytest
from safetensors import safe_open
from test_cli import run

from gan_eval.attributes.classifier import read_labels
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist
from gan_eval.testing import write_digits


def _dataset(folder, n: int = 400):
    write_digits(folder, "train", n)
    labels = load_mnist("train")[1][:n]
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "is_one", "has_loop"])
        for i, lab in enumerate(labels):
            writer.writerow([f"{i:04d}.png", int(lab == 1), int(lab in (0, 6, 8, 9))])
    return folder


@pytest.mark.slow
def test_train_classifier_then_audit_with_target(tmp_path):
    data = _dataset(tmp_path / "data")
    ckpt = tmp_path / "attrs.safetensors"
    proc = run("train", "classifier", "--data", str(data), "--labels", str(data / "labels.csv"), "-o", str(ckpt),
               "--batch-size", "32", "--set", "epochs=4", "--set", "hidden_dim=8", "-q")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert set(lines) == {"is_one", "has_loop"}
    with safe_open(str(ckpt), framework="pt") as fh:
        meta = fh.metadata()
    assert json.loads(meta["attributes"]) == ["is_one", "has_loop"] and meta["mode"] == "multilabel"
    heldout = json.loads(meta["heldout"])
    # held out: 40 digits never trained on; "has a loop" must beat always guessing the majority class
    assert heldout["has_loop"]["accuracy"] > heldout["has_loop"]["majority_baseline"] + 0.1
    assert f"{100 * heldout['is_one']['accuracy']:6.2f} %" in lines["is_one"]

    out = tmp_path / "audit"
    proc = run("audit", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout", "--attributes", "digits",
               "--classifier", str(ckpt), "--target", "has_loop", "-n", "200", "--num-real", "300", "--bootstrap", "40",
               "--walk-images", "8", "--walk-steps", "2", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {"tv_is_one", "tv_has_loop", "tv_digit", "walk_max_abs_corr_has_loop"} <= set(summary["metrics"])
    walks = (out / "walks.csv").read_text().splitlines()
    assert walks[1].startswith("has_loop,") and ",gradient," in walks[1]


def test_labels_csv_is_validated(tmp_path):
    data = write_digits(tmp_path / "d", "train", 12)
    bad = tmp_path / "labels.csv"
    bad.write_text("file,smiling\n" + "".join(f"{i:04d}.png,{'yes' if i == 3 else 1}\n" for i in range(12)))
    with pytest.raises(GanEvalError, match="line 5, column 'smiling': expected 0/1"):
        read_labels(data, bad)
    bad.write_text("file,smiling\nmissing.png,1\n")
    with pytest.raises(GanEvalError, match="does not exist"):
        read_labels(data, bad)
    out = tmp_path / "never.safetensors"
    proc = run("train", "classifier", "--data", str(data), "-o", str(out))
    assert proc.returncode == 1 and "--labels" in proc.stderr and not out.exists()


def test_course_classifier_imports_unchanged(tmp_path):
    """A course-style {"classifier": state_dict} file (CelebA's 40 logits) becomes an attribute checkpoint
    whose logits equal the course model's on the same images."""
    import torch

    from gan_eval.attributes import create_attribute_extractor
    from gan_eval.attributes.classifier import (
        CELEBA_ATTRIBUTES,
        AttributeClassifier,
        import_course_classifier,
    )

    torch.manual_seed(0)
    course = AttributeClassifier(40, channels=3, hidden_dim=8).eval()
    torch.save({"classifier": course.state_dict()}, tmp_path / "pretrained_classifier.pth")
    out = import_course_classifier(tmp_path / "pretrained_classifier.pth", tmp_path / "celeba.safetensors")
    ex = create_attribute_extractor(f"classifier:{out}")
    assert ex.score_names == list(CELEBA_ATTRIBUTES) and ex.score_names[20] == "Male" and ex.differentiable
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        expected = course(x * 2 - 1)  # the course normalises to [-1, 1]
    assert torch.allclose(ex.score_images(x), expected, atol=1e-5)
    assert ex.confusion_counts()[0] == {}  # nothing to correct with: audits say so
    with pytest.raises(GanEvalError, match="40 outputs but 2"):
        import_course_classifier(tmp_path / "pretrained_classifier.pth", tmp_path / "x.safetensors", ["a", "b"])
