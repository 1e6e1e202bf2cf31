"""Built-in training recipes; importing this package registers them all."""

from gan_eval.generators.recipes import classifier, gan, image2image, stylegan  # noqa: F401
