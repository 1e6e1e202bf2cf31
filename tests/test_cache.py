"""The reference-feature cache: hits return identical numbers, any changed image misses."""

from __future__ import annotations

import numpy as np
from conftest import write_digits
from PIL import Image

import gan_eval


def _run(gen, real, cache_dir, **kw):
    return gan_eval.evaluate(str(gen), str(real), ["fid", "kid", "pr"], extractor="digits", cache_dir=cache_dir,
                             metric_options=gan_eval.metrics.MetricOptions(kid_subset_size=50), **kw)


def test_hit_then_invalidation_on_changed_file(tmp_path):
    gen = write_digits(tmp_path / "gen", "train", 150)
    real = write_digits(tmp_path / "real", "heldout", 150)
    cache_dir = tmp_path / "cache"
    first = _run(gen, real, cache_dir)
    second = _run(gen, real, cache_dir)
    assert first.provenance["real"]["cache"] == "miss" and second.provenance["real"]["cache"] == "hit"
    assert first.metrics == second.metrics
    assert len(list((cache_dir / "features").glob("*.npz"))) == 1

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(real / "0007.png")  # change one pixel set
    third = _run(gen, real, cache_dir)
    assert third.provenance["real"]["cache"] == "miss"
    assert third["fid"] != first["fid"]
    assert len(list((cache_dir / "features").glob("*.npz"))) == 2


def test_no_cache_writes_nothing(tmp_path):
    gen = write_digits(tmp_path / "gen", "train", 20)
    real = write_digits(tmp_path / "real", "heldout", 20)
    result = gan_eval.evaluate(str(gen), str(real), ["fid"], extractor="digits", cache=False, cache_dir=tmp_path / "c")
    assert result.provenance["real"]["cache"] == "off"
    assert not (tmp_path / "c").exists()


def test_other_sample_count_or_extractor_weights_miss(tmp_path):
    cache_dir = tmp_path / "cache"
    a = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", ["fid"], extractor="digits",
                          num_samples=300, num_real=300, cache_dir=cache_dir)
    b = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", ["fid"], extractor="digits",
                          num_samples=300, num_real=400, cache_dir=cache_dir)
    assert a.provenance["real"]["cache"] == b.provenance["real"]["cache"] == "miss"


def test_generated_side_is_never_cached(tmp_path):
    gen = write_digits(tmp_path / "gen", "train", 20)
    result = gan_eval.evaluate(str(gen), "builtin:mnist-heldout", ["fid"], extractor="digits", num_real=200,
                               cache_dir=tmp_path / "cache")
    result = gan_eval.evaluate(str(gen), "builtin:mnist-heldout", ["fid"], extractor="digits", num_real=200,
                               cache_dir=tmp_path / "cache")
    assert "cache" not in result.provenance["gen"] or result.provenance["gen"]["cache"] == "off"
    assert result.provenance["real"]["cache"] == "hit"
