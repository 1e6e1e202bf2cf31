"""One registry helper for every plug-in point: extractors, metrics, attributes, generators
(architectures and source resolvers), recipes.

A :class:`Registry` holds named entries with

- one name rule (:data:`NAME_RULE`): lower-case letters, digits, ``-``, ``_``, ``.``, and at most one
  ``/`` for a plug-in's own namespace (``mypkg/mygan``);
- one error for an unknown name (:class:`~gan_eval.errors.GanEvalError` listing the known names);
- lazy entries: a built-in may be registered as ``"package.module:attribute"`` so that listing the
  names (``--help``, ``--extractor`` choices) imports nothing heavy; the entry is imported on first use;
- one entry-point group per registry (``gan_eval.extractors``, ``gan_eval.metrics``,
  ``gan_eval.attributes``, ``gan_eval.generators``). An entry point's name is listed without importing it; it is
  loaded when that name is asked for, or when every entry is needed. Loading a plug-in means importing
  its object and, when that object is a function taking no arguments, calling it (so a plug-in may
  export either the entry itself or a ``register()`` function that registers entries).
- one policy for a plug-in that fails to load: a warning naming it, and the rest keeps working.

Modelled on torch-fidelity's ``registry.py`` (validated registration, one idiom for five registries),
with lazy entries added so that start-up stays light.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from gan_eval.errors import GanEvalError

T = TypeVar("T")

#: The one rule for every registered name.
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*(/[a-z0-9][a-z0-9_.\-]*)?$")

#: ``(group, name, value)`` of every plug-in ``register()`` hook already run. Several registries may
#: share a group (``gan_eval.generators`` feeds architectures, recipes and source resolvers); a hook
#: runs once per process whichever of them loads it first, so its registrations never collide.
_HOOKS_RUN: set[tuple[str, str, str]] = set()


class _Lazy:
    """A ``"package.module:attribute"`` reference, imported on first use."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        if ":" not in target:
            raise ValueError(f"lazy registry target {target!r} must look like 'package.module:attribute'")
        self.target = target

    def resolve(self) -> Any:
        module, _, attribute = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return obj


def check_name(kind: str, name: Any) -> str:
    """Return ``name`` if it follows :data:`NAME_RULE`, else raise ``ValueError`` naming the rule."""
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: use lower-case letters, digits, '-', '_', '.' "
                         f"(and one '/' after a plug-in's own prefix)")
    return name


class Registry(Generic[T]):
    """Named entries of one kind, with built-ins, lazy entries and an entry-point group.

    ``kind`` names the entries in messages ("extractor", "metric", ...). ``builtins`` is a module that
    registers the built-in entries when imported (imported on first lookup, so an import of the module
    that owns the registry stays light). ``group`` is the entry-point group plug-ins publish under.
    ``validate`` checks an entry when it is registered (or resolved, for lazy ones).
    """

    def __init__(self, kind: str, *, group: str | None = None, builtins: str | None = None,
                 validate: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._validate = validate
        self._entries: dict[str, Any] = {}
        self._builtins_loaded = builtins is None
        self._plugin_names: dict[str, Any] | None = None  # name -> EntryPoint, not yet loaded
        self._failed: set[str] = set()

    # -- registration ---------------------------------------------------------------------------
    def register(self, name: str, entry: Any = None, *, replace: bool = False) -> Any:
        """Register ``entry`` under ``name``; without ``entry``, return a decorator.

        ``entry`` may be a ``"package.module:attribute"`` string, imported on first use. A second
        registration of one name is an error unless ``replace`` is true.
        """
        check_name(self.kind, name)
        if entry is None:
            def decorator(obj: T) -> T:
                self.register(name, obj, replace=replace)
                return obj

            return decorator
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(entry, str):
            entry = _Lazy(entry)
        elif self._validate is not None:
            self._validate(name, entry)
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plug-ins replacing a built-in)."""
        self._entries.pop(name, None)

    # -- lookup ---------------------------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            importlib.import_module(self._builtins)

    def _plugins(self) -> dict[str, Any]:
        if self._plugin_names is None:
            self._plugin_names = {}
            if self.group:
                from importlib.metadata import entry_points

                for ep in entry_points(group=self.group):
                    self._plugin_names.setdefault(ep.name, ep)
        return self._plugin_names

    def _load_plugin(self, name: str) -> None:
        ep = self._plugins().pop(name, None)
        if ep is None or name in self._failed:
            return
        try:
            obj = ep.load()
            if inspect.isfunction(obj) and not inspect.signature(obj).parameters:
                hook = (self.group or "", ep.name, ep.value)
                if hook not in _HOOKS_RUN:  # a register() hook: it registers its own entries, once
                    _HOOKS_RUN.add(hook)
                    obj()
            elif name not in self._entries and obj is not None and not inspect.ismodule(obj):
                self.register(name, obj)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the others
            self._failed.add(name)
            warnings.warn(f"{self.kind} plug-in {name!r} ({ep.value}) failed to load and is skipped: "
                          f"{type(exc).__name__}: {exc}", stacklevel=3)

    def load_builtins(self) -> None:
        """Import the module that registers the built-in entries (once; a no-op while it is importing).

        A registration function calls this first when a plug-in must never take a built-in's name.
        """
        self._ensure_builtins()

    def refresh(self) -> None:
        """Forget the cached list of installed plug-ins (and which of them failed) so it is read again.

        Entries already registered stay. For a plug-in installed while the process runs, and for
        tests that publish a fake distribution (after ``importlib.invalidate_caches()``).
        """
        self._plugin_names = None
        self._failed.clear()

    def load_all(self) -> None:
        """Import the built-ins and every plug-in of the group (a failing plug-in is a warning)."""
        self._ensure_builtins()
        for name in list(self._plugins()):
            self._load_plugin(name)

    def names(self) -> list[str]:
        """Every known name, sorted, without importing any entry (plug-ins listed by their entry-point name)."""
        self._ensure_builtins()
        return sorted(set(self._entries) | (set(self._plugins()) - self._failed))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (imported now if lazy); an unknown name is a :class:`GanEvalError`."""
        self._ensure_builtins()
        if name not in self._entries and name in self._plugins():
            self._load_plugin(name)
        if name not in self._entries:
            known = ", ".join(self.names()) or "none"
            raise GanEvalError(f"unknown {self.kind} {name!r}; known: {known}")
        entry = self._entries[name]
        if isinstance(entry, _Lazy):
            entry = entry.resolve()
            if self._validate is not None:
                self._validate(name, entry)
            self._entries[name] = entry
        return entry

    def items(self) -> Iterator[tuple[str, T]]:
        """Every entry, resolved (plug-ins loaded), in name order."""
        self.load_all()
        for name in sorted(self._entries):
            yield name, self.get(name)
