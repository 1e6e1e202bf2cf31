"""Built-in generator architectures; importing this package registers them all."""

from gan_eval.generators.architectures import (  # noqa: F401
    cond_dcgan,
    cyclegan,
    dcgan,
    mlp_gan,
    pix2pix,
    stylegan,
    stylegan2,
)
