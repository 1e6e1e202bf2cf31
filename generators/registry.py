"""Registry of generator architectures, validated like torch-fidelity's registry.

An architecture is a ``torch.nn.Module`` class whose constructor takes only JSON-primitive keyword
arguments described by a config dataclass. Registration records the arch version (bumped on any
state-dict-key or semantics change), the I/O kind and a ``tiny`` preset for CPU tests.

:data:`ARCHITECTURES` is a :class:`gan_eval.registry.Registry` (one name rule, one unknown-name
error, one failing-plug-in policy). Its entry-point group ``gan_eval.generators`` is the generators'
plug-in group: each entry point names a ``register()`` function taking no arguments that registers
architectures (:func:`register_arch`) and any other generator entries (recipes, ...). Plug-ins are
loaded when a name that is not built in is asked for, or when the names are listed; one that fails
to load is a warning and the built-ins keep working.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from gan_eval.errors import GanEvalError
from gan_eval.registry import Registry, check_name

KINDS = ("unconditional", "conditional", "image2image")
TRUNCATION_KINDS = (None, "z_truncnorm", "w_avg_lerp")
ENTRY_POINT_GROUP = "gan_eval.generators"


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
        """Validate ``config`` (unknown keys are an error; missing keys take the course defaults).

        Every field named in :data:`CONFIG_LIMITS` is checked for type and bounds before the config
        class (and so before any module) is built.
        """
        if config is not None and not isinstance(config, dict):
            raise GanEvalError(f"{self.name}: the config must be a JSON object of constructor arguments, "
                               f"got {type(config).__name__}")
        config = dict(config or {})
        fields = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise GanEvalError(f"{self.name}: unknown config key(s) {', '.join(unknown)}; "
                               f"valid keys: {', '.join(sorted(fields))}")
        for name, value in config.items():
            check_config_field(self.name, name, value)
        try:
            return self.config_cls(**config)
        except (TypeError, ValueError) as exc:
            raise GanEvalError(f"{self.name}: invalid config: {exc}") from None

    def build(self, config: dict[str, Any] | None = None, device: str | torch.device | None = None) -> torch.nn.Module:
        """Build the module from a validated config, after checking its size on the meta device.

        ``device="meta"`` returns the shapes-only module (nothing allocated): enough to compare a
        checkpoint's tensors with what the config builds.
        """
        kwargs = dataclasses.asdict(self.make_config(config))
        try:
            with torch.device("meta"):
                meta_module: torch.nn.Module | None = self._construct(kwargs)
        except GanEvalError:
            raise
        except Exception:  # noqa: BLE001 - a plug-in that cannot be built on the meta device: its fields were still checked
            meta_module = None
        if meta_module is not None:
            elements = sum(t.numel() for t in meta_module.state_dict().values())
            if elements > MAX_ELEMENTS:
                raise GanEvalError(f"{self.name}: config {json.dumps(kwargs, sort_keys=True, default=repr)} builds "
                                   f"{elements:,} parameters and buffers, more than the {MAX_ELEMENTS:,} gan-eval allows")
            if str(device) == "meta":
                return meta_module
        return self._construct(kwargs)

    def _construct(self, kwargs: dict[str, Any]) -> torch.nn.Module:
        try:
            return self.module_cls(**kwargs)
        except (TypeError, ValueError) as exc:  # a constructor's own validation of its arguments
            raise GanEvalError(f"{self.name}: invalid config: {exc}") from None


#: Sane bounds for architecture config fields, by field name: ``(smallest, largest)``. A field named
#: here is checked (type and range) for every architecture, plug-ins included, before anything is
#: built, so a checkpoint whose config claims z_dim 10⁹ is a one-line error, not a terabyte allocation.
#: Finer rules (a power of two, the sizes a layout supports) stay in each architecture's config class.
CONFIG_LIMITS: dict[str, tuple[int, int] | tuple[float, float]] = {
    **dict.fromkeys(("z_dim", "w_dim"), (1, 65536)),
    **dict.fromkeys(("im_chan", "in_chan", "out_chan", "in_channels", "out_channels"), (1, 65536)),
    **dict.fromkeys(("hidden_dim", "hidden_chan", "hidden_channels", "channels", "map_hidden_dim"), (1, 65536)),
    "num_classes": (1, 1_000_000),
    "img_size": (1, 4096),
    "n_res": (0, 1024),
    "depth": (1, 12),  # U-Net halvings: 2**12 = 4096, the largest image size
    "num_blocks": (1, 11),  # StyleGAN resolutions 4·2**(k-1): 11 blocks reach 4096
    "num_mapping_layers": (1, 64),
    "kernel_size": (1, 63),
    "alpha": (0.0, 1.0),
}
#: Parameters and buffers a built generator may hold (2**31 float32 values are 8 GiB).
MAX_ELEMENTS = 1 << 31


def check_config_field(arch: str, name: str, value: Any) -> None:
    """Raise a one-line GanEvalError when ``value`` is the wrong JSON type or outside :data:`CONFIG_LIMITS`."""
    if name not in CONFIG_LIMITS:
        return
    low, high = CONFIG_LIMITS[name]
    if isinstance(low, int):
        kind_ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an integer"
    else:
        kind_ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and not (isinstance(value, float) and not math.isfinite(value))
        kind = "a number"
    if not kind_ok:
        raise GanEvalError(f"{arch}: config field {name} must be {kind} in [{low}, {high}], got {_short(value)}")
    if not low <= value <= high:
        raise GanEvalError(f"{arch}: config field {name} = {_short(value)} is outside the bounds [{low}, {high}]")


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def require_positive_ints(config: Any, *names: str) -> None:
    """Config validation shared by the architectures: each named field is an int ≥ 1 (bools refused)."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_spec(name: str, entry: Any) -> None:
    if not isinstance(entry, ArchSpec):
        raise TypeError(f"{name!r} is not an architecture: a gan_eval.generators plug-in publishes a register() "
                        f"function that calls register_arch")


#: Every generator architecture by name (entries are :class:`ArchSpec`).
ARCHITECTURES: Registry[ArchSpec] = Registry("generator architecture", group=ENTRY_POINT_GROUP,
                                             builtins="gan_eval.generators.architectures", validate=_check_spec)


def register_arch(name: str, *, version: int, config_cls: type, kind: str, truncation: str | None = None,
                  tiny: dict[str, Any] | None = None, description: str = "") -> Callable[[type], type]:
    """Class decorator registering a generator architecture under ``name``."""
    check_name("generator arch", name)
    if kind not in KINDS:
        raise ValueError(f"invalid kind {kind!r}; one of {KINDS}")
    if truncation not in TRUNCATION_KINDS:
        raise ValueError(f"invalid truncation kind {truncation!r}; one of {TRUNCATION_KINDS}")
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError("config_cls must be a dataclass")
    if not isinstance(version, int) or version < 1:
        raise ValueError("version must be a positive integer")

    def decorator(module_cls: type) -> type:
        ARCHITECTURES.load_builtins()  # so a plug-in can never take a built-in's name first
        if not (isinstance(module_cls, type) and issubclass(module_cls, torch.nn.Module)):
            raise TypeError(f"{name}: an architecture must be a torch.nn.Module subclass")
        summary = description or next(iter((module_cls.__doc__ or "").strip().splitlines()), "")
        ARCHITECTURES.register(name, ArchSpec(name, version, module_cls, config_cls, kind, truncation,
                                              dict(tiny or {}), summary))
        return module_cls

    return decorator


def load_plugins() -> None:
    """Run every installed ``gan_eval.generators`` plug-in's ``register()`` once (a failure is a warning)."""
    ARCHITECTURES.load_all()


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture: built-ins first, then plug-ins (an unknown name is a GanEvalError)."""
    if name not in ARCHITECTURES:
        load_plugins()  # a plug-in's register() may add any name, not only its entry point's
    return ARCHITECTURES.get(name)


def available_archs() -> list[str]:
    """Built-in and plug-in architecture names (loads the plug-ins: their entry points name hooks, not archs)."""
    load_plugins()
    return ARCHITECTURES.names()
