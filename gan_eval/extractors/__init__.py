"""Feature extractors: a registry of named networks that map uint8 images to features (and logits).

Importing this package is light: the built-ins (``digits``, ``inception-v3-compat``, ``vgg16``,
``clip-vit-*``, ``dinov2-vit-*``) are registered by name and imported when one is built; their sizes
and weights files are plain data in :mod:`gan_eval.extractors.catalog` (``gan-eval extractors``).
"""

from gan_eval.extractors.base import (
    EXTRACTORS,
    FeatureExtractor,
    available_extractors,
    create_extractor,
    register_extractor,
)

__all__ = ["EXTRACTORS", "FeatureExtractor", "available_extractors", "create_extractor", "register_extractor"]
