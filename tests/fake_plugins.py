"""Publish a fake installed distribution with entry points, for plug-in tests.

:func:`publish` writes ``NAME-0.1.dist-info/{METADATA,entry_points.txt}`` and the plug-in's modules
into a folder, puts the folder on ``sys.path`` and makes the given registries read their plug-in
lists again, so ``importlib.metadata.entry_points`` finds the plug-in exactly as if it were
pip-installed. The returned cleanup removes every name the plug-in registered and its modules; the
:func:`fake_plugin` fixture (import it into a test module) runs it after the test.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gan_eval.registry import Registry


def publish(folder: Path, monkeypatch, dist: str, entry_points: dict[str, dict[str, str]],
            modules: dict[str, str], registries: list[Registry]) -> Callable[[], None]:
    """Install distribution ``dist`` into ``folder`` and return a cleanup function.

    ``entry_points`` maps group -> {entry name: "module:attribute"}; ``modules`` maps module name ->
    source. Module names must be unique per test (a module stays importable under its name).
    """
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines: list[str] = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    for registry in registries:
        registry.load_builtins()
    before = {id(r): set(r.names()) for r in registries}
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    for registry in registries:
        registry.refresh()

    def cleanup() -> None:
        for registry in registries:
            for name in set(registry.names()) - before[id(registry)]:
                registry.unregister(name)
            registry.refresh()  # re-read lazily, after monkeypatch has taken the folder off sys.path
        for module in modules:
            sys.modules.pop(module, None)

    return cleanup


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """``fake_plugin(dist, entry_points, modules, registries)`` publishes a distribution for this test only."""
    cleanups: list[Callable[[], None]] = []

    def make(dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str],
             registries: list[Registry]) -> None:
        cleanups.append(publish(tmp_path / dist, monkeypatch, dist, entry_points, modules, registries))

    yield make
    for cleanup in reversed(cleanups):
        cleanup()
