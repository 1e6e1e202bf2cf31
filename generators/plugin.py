"""How generator checkpoints reach the core: a source resolver, registered through the entry point.

``pyproject.toml`` publishes :func:`register` in the ``gan_eval.generators`` entry-point group; the core
(:data:`gan_eval.sources.SOURCE_RESOLVERS`) loads it from there, so ``gan_eval`` itself never imports
this package. The resolver answers

- checkpoint files: ``.safetensors``, ``.pt``/``.pth`` (read with ``weights_only=True``), and pickles
  when the caller passed ``trust_pickle`` (without it the core's path resolver refuses them);
- ``builtin:NAME`` for every checkpoint bundled in ``generators/assets`` (``builtin:dcgan``, …).

It returns the loaded :class:`~gan_eval.generators.model.GeneratorHandle` as an
:class:`~gan_eval.sources.OpenedGenerator`; the core decides how to sample it. Importing this module is
light: safetensors and the architectures are imported when a checkpoint is opened.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from gan_eval.generators.checkpoint import CHECKPOINT_SUFFIXES

from gan_eval.sources import (
    PRIORITY_CHECKPOINT,
    OpenedGenerator,
    SourceOptions,
    register_source_resolver,
)

#: The resolver's name in the source registry.
RESOLVER_NAME = "checkpoint"
PICKLE_SUFFIXES = (".pkl", ".pickle")
ASSETS = "gan_eval.generators.assets"


def bundled_generator_path(name: str) -> Path | None:
    """The shipped checkpoint ``generators/assets/NAME.safetensors``, if there is one."""
    path = Path(str(resources.files(ASSETS).joinpath(f"{name}.safetensors")))
    return path if path.is_file() else None


def bundled_generators() -> list[str]:
    """Names usable as ``builtin:NAME`` generators."""
    folder = resources.files(ASSETS)
    return sorted(p.name[: -len(".safetensors")] for p in folder.iterdir() if p.name.endswith(".safetensors"))


def checkpoint_path(spec: Any, options: SourceOptions) -> Path | None:
    """The checkpoint file ``spec`` names (a bundled ``builtin:NAME`` or an existing file), else None."""
    if isinstance(spec, str) and spec.startswith("builtin:"):
        return bundled_generator_path(spec.split(":", 1)[1])
    if not isinstance(spec, (str, os.PathLike)):
        return None
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES or not path.is_file():
        return None
    if suffix in PICKLE_SUFFIXES and not options.trust_pickle:
        return None  # the core's path resolver refuses it with the pickle warning
    return path


def resolve_checkpoint(spec: Any, options: SourceOptions) -> OpenedGenerator | None:
    """Open a generator checkpoint with the options' device, truncation and class; None if not one."""
    path = checkpoint_path(spec, options)
    if path is None:
        return None
    from gan_eval.generators.checkpoint import load_generator

    handle = load_generator(path, device=options.device, trust_pickle=options.trust_pickle,
                            truncation=options.truncation, label=options.label)
    return OpenedGenerator(handle, f"{handle.spec.name} {path.name}", path)


def register() -> None:
    """Register the checkpoint resolver (idempotent: the entry point may be loaded more than once)."""
    register_source_resolver(RESOLVER_NAME, resolve_checkpoint, priority=PRIORITY_CHECKPOINT,
                             builtin_names=bundled_generators, replace=True)
