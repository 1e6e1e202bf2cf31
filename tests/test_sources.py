"""Image sources: kinds, conversions, and clear errors on bad input (nothing half-written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.sources import ArraySource, DirectorySource, SourceOptions, open_source, to_uint8

from conftest import write_digits


def _collect(source, n=None, batch=16):
    n = source.resolve_num_samples(n)
    return torch.cat(list(source.iter_batches(n, batch, seed=0)))


def test_directory_is_recursive_sorted_and_converts_modes(tmp_path):
    write_digits(tmp_path / "a", "train", 3, mode="L")
    write_digits(tmp_path / "b" / "deeper", "train", 2, mode="RGBA")
    (tmp_path / "notes.txt").write_text("not an image")
    source = DirectorySource(tmp_path)
    assert [f.rel for f in source.files][:2] == ["a/0000.png", "a/0001.png"]
    images = _collect(source)
    assert images.shape == (5, 3, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 2])  # grey repeated to RGB
    assert source.conversions == {"L->RGB": 3, "RGBA->RGB": 2}


def test_mixed_sizes_keep_native_resolution_per_image(tmp_path):
    Image.new("RGB", (10, 12), (255, 0, 0)).save(tmp_path / "0.png")
    Image.new("RGB", (20, 20), (0, 255, 0)).save(tmp_path / "1.png")
    Image.new("RGB", (20, 20), (0, 0, 255)).save(tmp_path / "2.png")
    batches = list(DirectorySource(tmp_path).iter_batches(3, 64, 0))
    assert [tuple(b.shape) for b in batches] == [(1, 3, 12, 10), (2, 3, 20, 20)]


def test_arrays_in_nhwc_and_nchw_give_the_same_images(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 9, 9, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", images=images)
    np.save(tmp_path / "nchw.npy", images.transpose(0, 3, 1, 2))
    a = _collect(open_source(str(tmp_path / "nhwc.npz")))
    b = _collect(open_source(str(tmp_path / "nchw.npy")))
    assert torch.equal(a, b) and torch.equal(a, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_builtin_mnist_splits():
    assert open_source("builtin:mnist").length == 10_000
    train, held = open_source("builtin:mnist-train"), open_source("builtin:mnist-heldout")
    assert train.length == held.length == 5_000 and train.content_hash() != held.content_hash()
    with pytest.raises(GanEvalError, match="unknown builtin"):
        open_source("builtin:cifar10")


def test_generator_function_spec_is_seeded_and_quantised():
    source = open_source("toy_generators:resample_digits")
    first = torch.cat(list(source.iter_batches(10, 4, seed=5)))
    again = torch.cat(list(source.iter_batches(10, 4, seed=5)))
    other = torch.cat(list(source.iter_batches(10, 4, seed=6)))
    assert first.shape == (10, 3, 28, 28) and torch.equal(first, again) and not torch.equal(first, other)
    assert source.resolve_num_samples(None) == 10_000  # documented default for endless sources


def test_float_to_uint8_rounds_and_rejects_nan():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    assert to_uint8(x, (-1, 1))[0, 0].flatten().tolist() == [0, 128, 255, 255]
    with pytest.raises(GanEvalError, match="NaN or infinite"):
        _collect(open_source("toy_generators:nan_generator"), 4)
    with pytest.raises(GanEvalError, match="value range"):
        to_uint8(torch.zeros(1, 3, 2, 2), None)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "contains no images"),
])
def test_missing_or_empty_directory(tmp_path, make, message):
    with pytest.raises(GanEvalError, match=message):
        open_source(str(make(tmp_path)))


def test_corrupt_image_is_named_or_skipped(tmp_path):
    write_digits(tmp_path, "train", 4)
    (tmp_path / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(GanEvalError, match="0002.png.*--skip-bad-files"):
        _collect(open_source(str(tmp_path)))
    source = open_source(str(tmp_path), SourceOptions(skip_bad_files=True))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        images = _collect(source)
    assert images.shape[0] == 3 and source.skipped_files == ["0002.png"]


def test_too_few_images_and_too_many_requested(tmp_path):
    write_digits(tmp_path / "one", "train", 1)
    with pytest.raises(GanEvalError, match="at least 2"):
        open_source(str(tmp_path / "one")).resolve_num_samples(None)
    with pytest.raises(GanEvalError, match="larger than"):
        open_source("builtin:mnist-train").resolve_num_samples(6000)


def test_bad_channel_counts_and_dtypes(tmp_path):
    with pytest.raises(GanEvalError, match="channels"):
        ArraySource(np.zeros((4, 2, 8, 8), np.uint8), "two-channel array")
    np.save(tmp_path / "float.npy", np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(GanEvalError, match="uint8"):
        open_source(str(tmp_path / "float.npy"))


def test_pickle_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    payload = tmp_path / "model.pkl"
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GanEvalError, match="pickle"):
        open_source(str(payload))
    assert not marker.exists()


def test_in_memory_tensors_and_loaders_evaluate_like_arrays():
    images = torch.from_numpy(gan_eval.mnist.load_mnist("heldout")[0][:150].copy())
    as_float = images.float() / 127.5 - 1  # what a training loop has in hand
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(as_float[:, None]), batch_size=10)
    a = gan_eval.evaluate(images[:, None], "builtin:mnist-train", ["fid"], extractor="digits", num_real=200, cache=False)
    b = gan_eval.evaluate(loader, "builtin:mnist-train", ["fid"], extractor="digits", num_real=200,
                          value_range=(-1, 1), cache=False)
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-6)
