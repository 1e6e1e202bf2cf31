"""Registry of generator architectures, validated like torch-fidelity's registry.

An architecture is a ``torch.nn.Module`` class whose constructor takes only JSON-primitive keyword
arguments described by a config dataclass. Registration records the arch version (bumped on any
state-dict-key or semantics change), the I/O kind and a ``tiny`` preset for CPU tests. Third-party
architectures register through the ``gan_eval.generators`` entry-point group: each entry point is
a callable run (lazily, when an unknown arch is asked for) that calls :func:`register_arch`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

import torch

from gan_eval.errors import GanEvalError

KINDS = ("unconditional", "conditional", "image2image")
TRUNCATION_KINDS = (None, "z_truncnorm", "w_avg_lerp")
ENTRY_POINT_GROUP = "gan_eval.generators"
_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)?$")


@dataclass(frozen=True)
class ArchSpec:
    """What the registry knows about one architecture."""

    name: str
    version: int
    module_cls: type[torch.nn.Module]
    config_cls: type
    kind: str
    truncation: str | None
    tiny: dict[str, Any]
    description: str = ""

    def make_config(self, config: dict[str, Any] | None = None) -> Any:
        """Validate ``config`` (unknown keys are an error; missing keys take the course defaults)."""
        config = dict(config or {})
        fields = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise GanEvalError(f"{self.name}: unknown config key(s) {', '.join(unknown)}; "
                               f"valid keys: {', '.join(sorted(fields))}")
        try:
            return self.config_cls(**config)
        except (TypeError, ValueError) as exc:
            raise GanEvalError(f"{self.name}: invalid config: {exc}") from None

    def build(self, config: dict[str, Any] | None = None) -> torch.nn.Module:
        cfg = self.make_config(config)
        return self.module_cls(**dataclasses.asdict(cfg))


def require_positive_ints(config: Any, *names: str) -> None:
    """Config validation shared by the architectures: each named field is an int ≥ 1 (bools refused)."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


_ARCHS: dict[str, ArchSpec] = {}
_entry_points_loaded = False


def register_arch(name: str, *, version: int, config_cls: type, kind: str, truncation: str | None = None,
                  tiny: dict[str, Any] | None = None, description: str = "") -> Callable[[type], type]:
    """Class decorator registering a generator architecture under ``name``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid generator arch name {name!r}: lower_snake_case, plug-ins 'package/name'")
    if kind not in KINDS:
        raise ValueError(f"invalid kind {kind!r}; one of {KINDS}")
    if truncation not in TRUNCATION_KINDS:
        raise ValueError(f"invalid truncation kind {truncation!r}; one of {TRUNCATION_KINDS}")
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError("config_cls must be a dataclass")
    if not isinstance(version, int) or version < 1:
        raise ValueError("version must be a positive integer")

    def decorator(module_cls: type) -> type:
        _import_builtins()  # so a plug-in can never take a built-in's name first
        if name in _ARCHS:
            raise ValueError(f"generator arch {name!r} is already registered")
        if not (isinstance(module_cls, type) and issubclass(module_cls, torch.nn.Module)):
            raise TypeError(f"{name}: an architecture must be a torch.nn.Module subclass")
        summary = description or next(iter((module_cls.__doc__ or "").strip().splitlines()), "")
        _ARCHS[name] = ArchSpec(name, version, module_cls, config_cls, kind, truncation, dict(tiny or {}), summary)
        return module_cls

    return decorator


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register = ep.load()
            register()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break built-ins
            import warnings

            warnings.warn(f"generator plug-in {ep.name!r} failed to load: {exc}")


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture: built-ins first, then plug-ins from entry points."""
    _import_builtins()
    if name not in _ARCHS:
        _load_entry_points()
    if name not in _ARCHS:
        raise GanEvalError(f"unknown generator architecture {name!r}; available: {', '.join(available_archs())}")
    return _ARCHS[name]


def available_archs() -> list[str]:
    _import_builtins()
    return sorted(_ARCHS)


def _import_builtins() -> None:
    import gan_eval.generators.architectures  # noqa: F401  (registers the built-in architectures)
