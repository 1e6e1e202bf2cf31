"""Attribute extractors for bias audits: a registry of named extractors mapping images to attributes.

Bundled: ``digits`` (the shipped digit classifier; categorical, 10 levels; differentiable),
``morphometry`` (Morpho-MNIST stroke measurements; continuous; not differentiable) and
``classifier:PATH`` (a checkpoint from ``gan-eval train classifier``; multi-label or multiclass;
differentiable). Register your own with :func:`register_attribute_extractor` or the
``gan_eval.attributes`` entry-point group. Importing this package is light: the built-ins are
registered by name and imported (with torch) when one is built.
"""

from gan_eval.attributes.base import (
    ATTRIBUTES,
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

__all__ = ["ATTRIBUTES", "AttributeExtractor", "AttributeSet", "AttributeSpec", "ValidationSet", "available_attribute_extractors",
           "create_attribute_extractor", "create_attribute_set", "register_attribute_extractor",
           "unregister_attribute_extractor"]
