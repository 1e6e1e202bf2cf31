"""Attribute extractors: bundled digits classifier, morphometry on planted shapes, plug-ins, registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audit_toys import BlockAttributes
from scipy import ndimage

from gan_eval.attributes import (
    create_attribute_extractor,
    create_attribute_set,
    register_attribute_extractor,
    unregister_attribute_extractor,
)
from gan_eval.attributes.morphometry import measure_digit
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist


def _rgb(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))[:, None].expand(-1, 3, -1, -1).contiguous()


def test_digits_extractor_is_differentiable_and_validated():
    ex = create_attribute_extractor("digits")
    assert ex.differentiable and ex.score_names[3] == "digit=3" and ex.attributes[0].levels[9] == "9"
    x = torch.rand(4, 3, 28, 28, requires_grad=True)
    ex.score_images(x)[:, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    counts, source = ex.confusion_counts()
    conf = counts["digit"]
    assert conf.sum() == 5000 and np.trace(conf) / conf.sum() == pytest.approx(0.9856)  # the README's held-out accuracy
    assert "held-out" in source
    images, labels = load_mnist("heldout")
    decoded = ex.decode(ex.measure(_rgb(images[:200])))
    assert (decoded["digit"] == labels[:200]).mean() > 0.95


def test_morphometry_on_planted_shapes():
    bar = np.zeros((28, 28))
    bar[9:19, 12:16] = 255.0  # 4 px wide, 10 px tall
    thickness, slant, width, height, area, _length = measure_digit(bar)
    assert area == pytest.approx(40, rel=0.1)
    assert width == pytest.approx(4, abs=1) and height == pytest.approx(10, abs=1)
    assert thickness == pytest.approx(4, abs=0.8) and abs(slant) < 0.05
    # shear the bar: top to the right → positive slant (Morpho-MNIST sign convention: arctan(−μ11/μ02))
    sheared = ndimage.affine_transform(bar, [[1, 0], [0.4, 1]], offset=[0, -5.6], order=1)
    assert measure_digit(sheared)[1] > 0.25
    # thicker strokes: dilation raises thickness and area of real digits, keeps their length about the same
    images, _ = load_mnist("heldout")
    thin = np.array([measure_digit(a) for a in images[:40]])
    thick = np.array([measure_digit(ndimage.grey_dilation(a, size=(3, 3))) for a in images[:40]])
    assert (thick[:, 0] > thin[:, 0]).mean() > 0.9 and (thick[:, 4] > thin[:, 4]).all()
    morph = create_attribute_extractor("morphometry")
    assert not morph.differentiable and morph.score_names == ["thickness", "slant", "width", "height", "area", "length"]
    assert morph.measure(_rgb(np.zeros((2, 28, 28), np.uint8))).shape == (2, 6)  # blank images do not crash


def test_plugin_registration_and_errors():
    register_attribute_extractor("blocks-test")(lambda arg, device: BlockAttributes())
    try:
        attrs = create_attribute_set("blocks-test,digits")
        assert attrs.score_names[:4] == ["b0", "b1", "b2", "b3"] and attrs.score_group("digit=4") == "digit"
        with pytest.raises(ValueError, match="already registered"):
            register_attribute_extractor("blocks-test")(lambda arg, device: BlockAttributes())
        with pytest.raises(GanEvalError, match="two attribute extractors"):
            create_attribute_set("blocks-test,blocks-test")
    finally:
        unregister_attribute_extractor("blocks-test")
    with pytest.raises(GanEvalError, match="unknown attribute extractor 'nope'"):
        create_attribute_set("nope")
    with pytest.raises(GanEvalError, match="classifier:PATH"):
        create_attribute_set("classifier")
