"""The shape of the code: one import name, no private imports across modules, layers, light start-up.

These read the source (syntax trees) and run small subprocesses; none of them needs a network or weights.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
#: repository folder -> installed package name (pyproject's package-dir)
PACKAGE_ROOTS = {ROOT / "gan_eval": "gan_eval", ROOT / "generators": "gan_eval.generators",
                 ROOT / "reports": "gan_eval.reports"}
HEAVY = ("torch", "torch_fidelity", "torchvision", "scipy.stats", "sklearn", "pandas", "matplotlib", "skimage", "jinja2")
#: The evaluation core: it must import neither the generators nor the report writers.
CORE = ("sources", "extractors", "statistics", "metrics", "intervals", "side", "pipeline", "cache", "result",
        "options", "registry", "api", "compare", "conditional", "sweep", "audit", "gate", "attributes")


def _modules() -> dict[str, Path]:
    """Installed module name -> file, for every Python file of the three mapped folders."""
    found: dict[str, Path] = {}
    for folder, package in PACKAGE_ROOTS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def _imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import statement, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def test_pyproject_installs_one_top_level_name_and_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = config["tool"]["setuptools"]
    packages = set(tool["packages"])
    assert {p.split(".")[0] for p in packages} == {"gan_eval"}
    assert "py-modules" not in tool
    on_disk = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert packages == on_disk, f"pyproject packages differ from the package folders: {packages ^ on_disk}"
    assert tool["package-dir"] == {"gan_eval.generators": "generators", "gan_eval.reports": "reports"}
    assert config["project"]["scripts"]["gan-eval"] == "gan_eval.cli:main"


def test_a_users_own_generators_package_does_not_shadow_ours(tmp_path: Path) -> None:
    # The report: a project with its own generators/ (and reports/, cli.py) beside the script.
    for name in ("generators", "reports"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user package was imported')\n")
    (tmp_path / "cli.py").write_text("raise ImportError('the user cli was imported')\n")
    script = ("import gan_eval, json; from gan_eval.cli import main; "
              "x = gan_eval.sample_images('builtin:dcgan', 4, device='cpu'); "
              "print(json.dumps([list(x.shape), gan_eval.generators.__file__, gan_eval.reports.__file__]))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    shape, generators_file, reports_file = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shape == [4, 3, 28, 28]
    assert Path(generators_file).parent == ROOT / "generators" and Path(reports_file).parent == ROOT / "reports"


def test_python_dash_m_reaches_the_same_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "gan_eval", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "gan-eval" in proc.stdout, proc.stderr


def test_no_module_imports_another_modules_private_names() -> None:
    offences = []
    for module, path in _modules().items():
        for target, names, line in _imports(path, module):
            private_module = [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
            private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private_module or private_names:
                offences.append(f"{path.relative_to(ROOT)}:{line}: {target} {private_names}")
    assert not offences, "imports of private names across modules:\n" + "\n".join(offences)


def test_core_imports_neither_generators_nor_reports() -> None:
    offences = []
    for module, path in _modules().items():
        parts = module.split(".")
        if parts[0] != "gan_eval" or len(parts) < 2 or parts[1] not in CORE:
            continue
        for target, names, line in _imports(path, module):
            full = [target, *(f"{target}.{n}" for n in names)]
            if any(t.startswith(("gan_eval.generators", "gan_eval.reports")) for t in full) \
                    or (target == "gan_eval" and {"generators", "reports"} & set(names)):
                offences.append(f"{path.relative_to(ROOT)}:{line}: imports {target} {names}")
    assert not offences, "the core imports a higher layer:\n" + "\n".join(offences)


def _loaded_after(code: str, env: dict[str, str] | None = None) -> dict:
    probe = (f"import sys, json\n{code}\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_gan_eval_is_light() -> None:
    assert _loaded_after("import gan_eval, gan_eval.options, gan_eval.registry, gan_eval.result") == []


def _commands() -> list[list[str]]:
    import click

    from gan_eval.cli import main

    paths: list[list[str]] = [[]]

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(main, [])
    return paths


def test_every_help_is_light() -> None:
    # One subprocess renders every command's --help in turn, then reports what was imported.
    commands = _commands()
    assert len(commands) > 10
    code = ("from click.testing import CliRunner\nfrom gan_eval.cli import main\n"
            f"for path in {commands!r}:\n"
            "    r = CliRunner().invoke(main, [*path, '--help'])\n"
            "    assert r.exit_code == 0 and 'Usage' in r.output, (path, r.output)\n")
    assert _loaded_after(code) == []


def test_gate_and_baseline_never_import_torch(tmp_path: Path) -> None:
    doc = {"schema": "gan-eval/result/1", "metrics": {"fid": 10.0},
           "provenance": {"extractor": "digits", "weights_sha256": "x", "n_gen": 10, "n_real": 10}}
    run, base = tmp_path / "run.json", tmp_path / "base.json"
    run.write_text(json.dumps(doc))
    code = ("import sys\nfrom click.testing import CliRunner\nfrom gan_eval.cli import main\n"
            f"r = CliRunner().invoke(main, ['baseline', 'update', {str(run)!r}, '-o', {str(base)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            f"r = CliRunner().invoke(main, ['gate', {str(run)!r}, '--baseline', {str(base)!r}])\n"
            "assert r.exit_code == 0, r.output\n")
    assert _loaded_after(code) == []


@pytest.mark.slow
def test_help_starts_in_a_fraction_of_torchs_import_time() -> None:
    import time

    def seconds(args: list[str]) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(args, capture_output=True, check=True, timeout=120)
            best = min(best, time.perf_counter() - started)
        return best

    torch_import = seconds([sys.executable, "-c", "import torch"])
    help_time = seconds([sys.executable, "-m", "gan_eval", "--help"])
    # The target is a quarter; the margin absorbs a noisy shared machine.
    assert help_time <= 0.4 * torch_import, (help_time, torch_import)
