"""The reference-feature cache: hits return identical numbers, any changed image misses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import write_digits
from PIL import Image

import gan_eval
from gan_eval.cache import FeatureCache


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


# -- a cache that cannot lie: damaged entries warn once, are recomputed and rewritten -----------------

def _damage_random_bytes(entry, other):
    entry.write_bytes(np.random.default_rng(0).bytes(entry.stat().st_size))


def _damage_truncate(entry, other):
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])


def _damage_swap(entry, other):
    a, b = entry.read_bytes(), other.read_bytes()
    entry.write_bytes(b)
    other.write_bytes(a)


def _damage_nan(entry, other):
    # A NaN in an entry whose key and digest are consistent (as a buggy writer would leave it): the
    # value checks, not only the digest, must refuse it.
    from gan_eval.cache import content_digest

    with np.load(entry) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["sum"] = arrays["sum"].copy()
    arrays["sum"][3] = np.nan
    arrays["digest"] = np.array(content_digest(arrays))
    np.savez(entry, **arrays)


@pytest.mark.parametrize("damage, reason", [
    (_damage_random_bytes, "unreadable"), (_damage_truncate, "unreadable"),
    (_damage_swap, "made for key"), (_damage_nan, "non-finite"),
])
def test_damaged_entry_is_recomputed_and_rewritten(tmp_path, damage, reason):
    gen = write_digits(tmp_path / "gen", "train", 60)
    real = write_digits(tmp_path / "real", "heldout", 60)
    other = write_digits(tmp_path / "other", "train", 40)
    cache_dir = tmp_path / "cache"
    truth = _run(gen, real, tmp_path / "unused", cache=False)
    _run(gen, real, cache_dir)
    real_entry = set((cache_dir / "features").glob("*.npz"))
    _run(gen, other, cache_dir)
    (entry,) = real_entry
    (other_entry,) = set((cache_dir / "features").glob("*.npz")) - real_entry
    damage(entry, other_entry)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(gen, real, cache_dir)
    damaged = [str(w.message) for w in caught if "cache entry" in str(w.message)]
    assert len(damaged) == 1 and reason in damaged[0] and "recomputing" in damaged[0] and "\n" not in damaged[0]
    assert result.provenance["real"]["cache"] == "miss"
    assert result.metrics == truth.metrics

    key = entry.stem  # the entry is rewritten valid: read directly, no warning, and then a hit
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="cache entry")
        assert FeatureCache(cache_dir).load(key, torch.device("cpu")) is not None
        again = _run(gen, real, cache_dir)
    assert again.provenance["real"]["cache"] == "hit" and again.metrics == truth.metrics
    assert not list((cache_dir / "features").glob(".*"))  # no temporary file left behind


def test_entry_records_its_key_and_digest(tmp_path):
    real = write_digits(tmp_path / "real", "heldout", 30)
    _run(real, real, tmp_path / "cache")
    (entry,) = (tmp_path / "cache" / "features").glob("*.npz")
    from gan_eval.cache import content_digest

    with np.load(entry) as data:
        arrays = {name: data[name] for name in data.files}
    assert str(arrays["key"]) == entry.stem
    assert str(arrays["digest"]) == content_digest(arrays)
    arrays["features"][0, 0] += 1.0  # any change to the content changes the digest
    assert str(arrays["digest"]) != content_digest(arrays)
