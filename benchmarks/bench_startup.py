"""Start-up time of the CLI and the package, next to ``import torch`` and torch-fidelity's ``fidelity --help``.

``python benchmarks/bench_startup.py [--before DIR] [--rounds 7]`` times, in one run and interleaved (so the
machine's load hits every command alike), the best and the median of ``--rounds`` runs of:

- ``python -c "import torch"`` and ``fidelity --help`` (the anchors);
- ``gan-eval --help``, ``gan-eval gate RUN --baseline BASE`` on two small JSON files, ``python -c "import gan_eval"``;
- with ``--before DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/before 647947f``) the same
  three commands run from that checkout's source (its folder first on ``sys.path``; the old layout had a
  top-level ``cli`` module).

Prints a Markdown table for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(command: list[str], cwd: str | None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="checkout of an older commit to time from source")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gan-eval-startup-"))
    doc = {"schema": "gan-eval/result/1", "metrics": {"fid": 10.0, "precision": 0.8},
           "provenance": {"extractor": "digits", "weights_sha256": "0" * 64, "n_gen": 100, "n_real": 100}}
    run, base = work / "run.json", work / "base.json"
    run.write_text(json.dumps(doc))
    base.write_text(json.dumps(doc))
    py = sys.executable
    gate_args = ["gate", str(run), "--baseline", str(base)]
    commands: dict[str, tuple[list[str], str | None]] = {
        'python -c "import torch"': ([py, "-c", "import torch"], None),
        "fidelity --help (torch-fidelity)": ([shutil.which("fidelity") or "fidelity", "--help"], None),
        "gan-eval --help": ([py, "-m", "gan_eval", "--help"], str(work)),
        "gan-eval gate RUN --baseline BASE": ([py, "-m", "gan_eval", *gate_args], str(work)),
        'python -c "import gan_eval"': ([py, "-c", "import gan_eval"], str(work)),
    }
    if args.before:
        before = str(Path(args.before).resolve())
        cli = "import sys; sys.argv = ['gan-eval', *sys.argv[1:]]; import cli; cli.main()"
        commands.update({
            "before: gan-eval --help": ([py, "-c", cli, "--help"], before),
            "before: gan-eval gate RUN --baseline BASE": ([py, "-c", cli, *gate_args], before),
            'before: python -c "import gan_eval"': ([py, "-c", "import gan_eval"], before),
        })
    for command, cwd in commands.values():  # warm the file cache once
        _time(command, cwd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (command, cwd) in commands.items():
            times[name].append(_time(command, cwd))
    torch_best = min(times['python -c "import torch"'])
    print(f"{args.rounds} rounds, interleaved; Python {sys.version.split()[0]}\n")
    print("| command | best (s) | median (s) | best / `import torch` |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {min(values) / torch_best:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
