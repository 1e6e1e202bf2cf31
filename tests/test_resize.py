"""``--resize tf1|clean``: clean-fid's resizer pixel for pixel, and the mode in cache keys, provenance and checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gan_eval import __version__
from gan_eval.cache import cache_key
from gan_eval.errors import GanEvalError
from gan_eval.extractors import create_extractor
from gan_eval.extractors.resize import resize_images


@pytest.fixture(scope="module")
def inception_pair(inception_weights):
    """The random-weight Inception under ``tf1`` and under ``clean`` (built once for this module)."""
    return (create_extractor("inception-v3-compat", weights=inception_weights),
            create_extractor("inception-v3-compat", weights=inception_weights, resize="clean"))


@pytest.mark.parametrize("height,width", [(32, 32), (64, 48), (500, 400), (299, 299), (17, 45), (300, 1000)])
def test_clean_resize_is_clean_fid_pixel_for_pixel(height, width):
    """Up- and down-sizing, square and not: every float equals clean-fid's own ``make_resizer`` output."""
    from cleanfid.resize import make_resizer

    rng = np.random.default_rng(height * 1000 + width)
    images = rng.integers(0, 256, size=(2, 3, height, width), dtype=np.uint8)
    ours = resize_images(torch.from_numpy(images), 299, "clean")
    assert ours.dtype == torch.float32 and ours.shape == (2, 3, 299, 299)
    theirs = make_resizer("PIL", False, "bicubic", (299, 299))
    for i in range(2):
        expected = theirs(images[i].transpose(1, 2, 0))  # clean-fid takes H×W×3 uint8
        assert np.array_equal(ours[i].numpy().transpose(1, 2, 0), expected)
    # Bicubic overshoots at edges; the clip keeps [0, 255] and the values are not re-quantised.
    assert float(ours.min()) >= 0 and float(ours.max()) <= 255
    if (height, width) != (299, 299):
        assert not torch.equal(ours, ours.round())


def test_tf1_resize_is_torch_fidelity_bilinear():
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    images = torch.randint(0, 256, (2, 3, 40, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    expected = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
    assert torch.equal(resize_images(images, 299, "tf1"), expected)
    assert not torch.equal(resize_images(images, 299, "clean"), expected)


def test_unsupported_and_unknown_modes_are_one_line_errors():
    with pytest.raises(GanEvalError, match=r"^extractor 'digits' does not support --resize clean \(it supports: tf1\)$"):
        create_extractor("digits", resize="clean")
    with pytest.raises(GanEvalError, match="--resize must be one of tf1, clean"):
        create_extractor("digits", resize="lanczos")
    from gan_eval.options import Options

    with pytest.raises(GanEvalError, match="--resize must be one of"):
        Options(resize="bilinear")
    assert create_extractor("digits").describe()["resize"] == "tf1"


@pytest.mark.slow
def test_clean_inception_features_are_torch_fidelitys_network_on_clean_fid_pixels(inception_weights, inception_pair):
    """Under ``clean`` the network is torch-fidelity's own, fed clean-fid's resized float pixels."""
    from cleanfid.resize import make_resizer

    from gan_eval.extractors.inception import build_tfi_inception
    from gan_eval.weights import load_state_dict

    images = torch.randint(0, 256, (3, 3, 48, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    tf1, clean = inception_pair
    ours = clean(images)
    resizer = make_resizer("PIL", False, "bicubic", (299, 299))
    pixels = torch.stack([torch.from_numpy(resizer(im.numpy().transpose(1, 2, 0)).transpose(2, 0, 1).copy())
                          for im in images])
    reference = build_tfi_inception(load_state_dict(inception_weights)).eval()
    with torch.no_grad():  # torch-fidelity's layers after its resize step, run by hand: (x-128)/128 then the net
        x = (pixels - 128) / 128
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool"):
            x = getattr(reference, name)(x)
        features = torch.flatten(x, 1)
    # Our module runs channels-last (faster on CPU): equal up to float rounding, not bit for bit.
    assert float((ours["features"] - features).norm() / features.norm()) < 1e-5
    assert not torch.allclose(tf1(images)["features"], ours["features"], rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_resize_mode_is_in_cache_key_provenance_and_checks(tmp_path, inception_pair):
    from gan_eval.api import compute_statistics, evaluate

    tf1, clean = inception_pair
    assert tf1.describe()["preprocessing"] == "tf1-bilinear-299,(x-128)/128"  # unchanged: old cache entries still hit
    assert clean.describe()["preprocessing"] == "clean-pil-bicubic-antialias-f32-299,(x-128)/128"
    assert (tf1.describe()["resize"], clean.describe()["resize"]) == ("tf1", "clean")
    assert cache_key("c", 4, tf1.describe(), __version__) != cache_key("c", 4, clean.describe(), __version__)

    images = np.random.default_rng(3).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    stats = tmp_path / "ref.npz"
    meta = compute_statistics(images, stats, extractor=clean, batch_size=4)
    assert meta["resize"] == "clean" and meta["preprocessing"].startswith("clean-")
    # A reference made with clean is refused under tf1, before any network is loaded (extractor by name) ...
    with pytest.raises(GanEvalError, match=r"was computed with --resize clean, not tf1; pass --resize clean"):
        evaluate(images, stats, "fid", extractor="inception-v3-compat", weights="/nonexistent")
    # ... and with an extractor object, after.
    with pytest.raises(GanEvalError, match=r"was computed with --resize clean, not tf1"):
        evaluate(images, stats, "fid", extractor=tf1, batch_size=4)
    with pytest.warns(UserWarning, match="rank-deficient"):
        result = evaluate(images, stats, "fid", extractor=clean, batch_size=4)
    assert result.provenance["resize"] == "clean" and result["fid"] == pytest.approx(0.0, abs=1e-3)

    # The command line: the default (tf1) is refused against this file; --resize reaches the extractor.
    from gan_eval.cli import main

    np.save(tmp_path / "gen.npy", images)
    run = CliRunner().invoke(main, ["fid", "--gen", str(tmp_path / "gen.npy"), "--real", str(stats),
                                    "--weights", "/nonexistent", "--quiet"])
    assert run.exit_code == 1, run.output
    assert "was computed with --resize clean, not tf1; pass --resize clean" in run.output
    run = CliRunner().invoke(main, ["fid", "--gen", "builtin:mnist-heldout", "--real", "builtin:mnist-heldout",
                                    "--extractor", "digits", "--resize", "clean", "--quiet"])
    assert run.exit_code == 1 and "extractor 'digits' does not support --resize clean" in run.output
