"""A folder with JPEGs gets one one-line warning that lossy compression shifts FID, with the count of JPEGs."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

import gan_eval
from gan_eval.sources import DirectorySource


def _folder(path, pngs: int, jpegs: int):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(pngs + jpegs):
        image = Image.fromarray(rng.integers(0, 256, size=(28, 28), dtype=np.uint8))
        image.save(path / (f"{i:02d}.png" if i < pngs else f"{i:02d}.JPG" if i % 2 else f"{i:02d}.jpeg"))
    return path


def _lossy(messages):
    return [m for m in messages if "lossy compression" in m]


def test_one_warning_per_run_with_the_count(tmp_path):
    mixed = _folder(tmp_path / "mixed", pngs=2, jpegs=5)
    png = _folder(tmp_path / "png", pngs=6, jpegs=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = gan_eval.evaluate(mixed, png, "fid,kid", extractor="digits", batch_size=2, workers=0,
                                   metric_options=gan_eval.metrics.MetricOptions(kid_subset_size=3), cache=False)
    lossy = _lossy(result.warnings)
    assert len(lossy) == 1, result.warnings  # 7 images in 4 batches, two metrics: still one warning
    assert lossy[0].startswith(f"5 of 7 images in {mixed} are JPEG: lossy compression shifts FID")
    assert "\n" not in lossy[0]
    assert len(_lossy(str(w.message) for w in caught)) == 1  # shown once too
    assert _lossy(result.provenance["warnings"]) == lossy


def test_lossless_folders_are_not_warned_about(tmp_path):
    png = _folder(tmp_path / "png", pngs=3, jpegs=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DirectorySource(png)
    assert not _lossy(str(w.message) for w in caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DirectorySource(_folder(tmp_path / "jpeg", pngs=0, jpegs=1))
    assert next(str(w.message) for w in caught).startswith("1 of 1 images")
