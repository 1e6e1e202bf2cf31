"""Feature extractors: a registry of named networks that map uint8 images to features (and logits)."""

from gan_eval.extractors.base import FeatureExtractor, available_extractors, create_extractor, register_extractor
from gan_eval.extractors import digits as _digits  # noqa: F401  (registers "digits")
from gan_eval.extractors import inception as _inception  # noqa: F401  (registers "inception-v3-compat")

__all__ = ["FeatureExtractor", "available_extractors", "create_extractor", "register_extractor"]
