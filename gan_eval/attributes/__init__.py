"""Attribute extractors for bias audits: a registry of named extractors mapping images to attributes.

Bundled: ``digits`` (the shipped digit classifier; categorical, 10 levels; differentiable),
``morphometry`` (Morpho-MNIST stroke measurements; continuous; not differentiable) and
``classifier:PATH`` (a checkpoint from ``gan-eval train classifier``; multi-label or multiclass;
differentiable). Register your own with :func:`register_attribute_extractor` or the
``gan_eval.attributes`` entry-point group.
"""

from gan_eval.attributes import classifier as _classifier  # noqa: F401  (registers "classifier")
from gan_eval.attributes import digits as _digits  # noqa: F401  (registers "digits")
from gan_eval.attributes import morphometry as _morphometry  # noqa: F401  (registers "morphometry")
from gan_eval.attributes.base import (
    AttributeExtractor,
    AttributeSet,
    AttributeSpec,
    ValidationSet,
    available_attribute_extractors,
    create_attribute_extractor,
    create_attribute_set,
    register_attribute_extractor,
    unregister_attribute_extractor,
)

__all__ = ["AttributeExtractor", "AttributeSet", "AttributeSpec", "ValidationSet", "available_attribute_extractors",
           "create_attribute_extractor", "create_attribute_set", "register_attribute_extractor",
           "unregister_attribute_extractor"]
