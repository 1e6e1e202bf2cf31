"""Ten evaluations in a training loop: one held ``Evaluator`` against ten ``evaluate()`` calls.

``python benchmarks/bench_evaluator.py [--extractor digits|inception-v3-compat] [--weights PATH] [--n 1000]``

Each round scores ``--n`` generated images (a float tensor in [-1, 1], as a generator returns it)
against the held-out half of MNIST with FID and precision/recall. ``evaluate()`` builds and verifies the
extractor, opens the reference and reads it from the cache on every call; the evaluator does that once
and then only embeds the new images. Both paths run interleaved in one process, after one warm-up round
that fills the reference cache (so neither pays the first extraction); the numbers are checked equal.
With ``inception-v3-compat`` a seeded random-weight InceptionV3 file is built (the real weights are not
available offline) unless ``--weights`` is given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolate_environment, machine_info, print_machine, random_weights  # noqa: E402

import gan_eval  # noqa: E402
from gan_eval.mnist import load_mnist  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extractor", default="digits")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--n", type=int, default=500, help="images per round (10 rounds fit in the 5,000 training digits)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--num-real", type=int, default=None, help="reference images [default: all 5,000]")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gan-eval-bench-evaluator-"))
    isolate_environment(work)
    print_machine(machine_info())
    weights = args.weights
    if args.extractor != "digits" and weights is None:
        weights = random_weights(work / "inception-random.pth")
    train, _ = load_mnist("train")
    fakes = [torch.from_numpy(train[i * args.n:(i + 1) * args.n].copy()).float().unsqueeze(1) / 127.5 - 1
             for i in range(args.rounds)]
    options = gan_eval.Options(extractor=args.extractor, weights=weights, device="cpu", cache_dir=work / "cache",
                               progress=False, num_real=args.num_real)
    real = "builtin:mnist-heldout"
    warnings.filterwarnings("ignore", message="FID from")  # small N on purpose: the cost is what is measured
    gan_eval.evaluate(fakes[0], real, "fid,pr", options, value_range=(-1, 1))  # warm-up: fills the cache

    started = time.perf_counter()
    ev = gan_eval.Evaluator("fid,pr", real=real, options=options, value_range=(-1, 1))
    setup = time.perf_counter() - started
    held, called, same = [], [], True
    for fake in fakes:
        t = time.perf_counter()
        ev.reset()
        for start in range(0, len(fake), 100):
            ev.update(fake[start:start + 100])
        a = ev.compute()
        held.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = gan_eval.evaluate(fake, real, "fid,pr", options, value_range=(-1, 1))
        called.append(time.perf_counter() - t)
        same &= all(abs(a[k] - b[k]) <= 1e-10 * max(1.0, abs(b[k])) for k in b.metrics)
    print(f"\n{args.rounds} rounds of {args.n} generated images vs {real}, fid + pr, extractor {args.extractor}; "
          f"numbers equal: {same}\n")
    print("| path | setup (s) | per round, median (s) | ten rounds (s) |")
    print("|---|---:|---:|---:|")
    print(f"| one `Evaluator`: reset, update() in batches of 100, compute | {setup:.2f} | {statistics.median(held):.2f} | "
          f"{setup + sum(held):.2f} |")
    print(f"| `evaluate()` each round | – | {statistics.median(called):.2f} | {sum(called):.2f} |")
    print(f"\nratio, ten rounds: evaluate / evaluator = {sum(called) / (setup + sum(held)):.2f}")


if __name__ == "__main__":
    main()
