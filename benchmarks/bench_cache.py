"""Reference-feature cache: the real side of ``gan_eval.evaluate`` cold (miss) vs warm (hit).

Run: ``python benchmarks/bench_cache.py`` (160 real + 16 gen PNG digits, 2 rounds, ~1-2 min on 2
cores) or ``--quick`` (48 + 8, 1 round). ``--weights PATH`` reuses an InceptionV3 file.

Setup: the seeded random-weight InceptionV3 file (official architecture), ``device="cpu"``,
``torch.set_num_threads(2)``, a real folder of held-out MNIST digits and a small gen folder of
training digits, FID only. Each round uses a fresh, empty cache directory: the first ``evaluate``
call is cold (real side ``cache == "miss"``: extract, then write the entry), the second is warm
(``"hit"``) against the same real folder and the same cache directory.

What is timed ("real-side step"): the wall time of gan_eval's internal per-side step for the
real side: :meth:`gan_eval.side.Side.features`, the same public object ``evaluate`` consumes (the script
opens both sides, times each side's extraction, then hands the opened sides to ``evaluate``, which reuses them). It is the same code region in both runs and covers everything the real side costs once
the network is loaded: hashing the folder's file bytes for the cache key, then either the cache
lookup + InceptionV3 extraction + writing the cache entry (cold) or the lookup + reading the
entry (warm). Listing the folder (done before, for validation) is not inside it. Also shown:
``provenance["real"]["extract_seconds"]`` (cold: the forward-pass loop alone) and the whole
``evaluate`` call, which includes loading the weights and the gen side and so gains much less.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    isolate_environment,
    loadavg,
    machine_info,
    markdown_table,
    median,
    print_machine,
    random_weights,
    write_digits,
)

import gan_eval  # noqa: E402
from gan_eval.side import Side, open_cache, open_extractor  # noqa: E402


def run(gen: Path, real: Path, weights: str, cache_dir: Path) -> dict[str, object]:
    started = time.perf_counter()
    opts = gan_eval.Options(weights=weights, device="cpu", cache=True, cache_dir=cache_dir, progress=False)
    extractor = open_extractor(opts)
    opts = opts.but(extractor=extractor)
    seconds: dict[str, float] = {}
    sides = {"real": Side.open(str(real), "real"), "gen": Side.open(str(gen), "gen")}
    for role, side in sides.items():
        step = time.perf_counter()
        side.features(extractor, need_features=False, cache=open_cache(opts), options=opts)
        seconds[role] = time.perf_counter() - step
    result = gan_eval.evaluate(sides["gen"], sides["real"], ["fid"], opts)  # reuses both sides' features
    wall = time.perf_counter() - started
    prov = result.provenance
    return {
        "cache": prov["real"]["cache"], "real_step": seconds["real"], "gen_step": seconds["gen"],
        "real_extract": prov["real"].get("extract_seconds"), "gen_extract": prov["gen"].get("extract_seconds"),
        "wall": wall, "fid": result["fid"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="48 real + 8 gen images, 1 round")
    parser.add_argument("--n-real", type=int, default=None, help="real images (default 160; quick 48)")
    parser.add_argument("--n-gen", type=int, default=None, help="generated images (default 16; quick 8)")
    parser.add_argument("--rounds", type=int, default=None, help="cold+warm rounds (default 2; quick 1)")
    parser.add_argument("--weights", default=None, help="InceptionV3 weights file (default: build the random one)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", message="FID from")  # N < 2049: expected here
    n_real = args.n_real or (48 if args.quick else 160)
    n_gen = args.n_gen or (8 if args.quick else 16)
    rounds = args.rounds or (1 if args.quick else 2)

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp_name:
        tmp = Path(tmp_name)
        isolate_environment(tmp)
        info = machine_info()
        print_machine(info)
        weights = random_weights(tmp / "inception-random.pth", args.weights)
        real = write_digits(tmp / "real", "heldout", n_real)
        gen = write_digits(tmp / "gen", "train", n_gen)
        print(f"real: {n_real} PNG digits, gen: {n_gen} PNG digits, FID, cpu, torch threads "
              f"{torch.get_num_threads()}, {rounds} round(s) of cold + warm\n", flush=True)
        run(gen, gen, weights, tmp / "cache-warmup")  # untimed: imports and first-call setup

        cold, warm = [], []
        for i in range(rounds):
            cache_dir = tmp / f"cache-{i}"
            c = run(gen, real, weights, cache_dir)
            w = run(gen, real, weights, cache_dir)
            assert c["cache"] == "miss" and w["cache"] == "hit", (c["cache"], w["cache"])
            assert c["fid"] == w["fid"], (c["fid"], w["fid"])
            cold.append(c)
            warm.append(w)
            print(f"  round {i + 1}: cold real step {c['real_step']:.3f} s, warm real step {w['real_step']:.4f} s "
                  f"(load {loadavg()})", flush=True)

        print()
        fmt = lambda v, p=3: "—" if v is None else f"{v:.{p}f}"  # noqa: E731
        rows = []
        for i, (c, w) in enumerate(zip(cold, warm)):
            for label, r in (("cold (miss)", c), ("warm (hit)", w)):
                rows.append([i + 1, label, fmt(r["real_step"], 4), fmt(r["real_extract"]), fmt(r["gen_step"]),
                             fmt(r["wall"])])
        print(markdown_table(["round", "run", "real-side step s", "real extract_seconds", "gen-side step s",
                              "whole evaluate s"], rows))
        print()
        cold_step, warm_step = median([c["real_step"] for c in cold]), median([w["real_step"] for w in warm])
        cold_extract = median([c["real_extract"] for c in cold])
        cold_wall, warm_wall = median([c["wall"] for c in cold]), median([w["wall"] for w in warm])
        print(markdown_table(["measure (median over rounds)", "cold s", "warm s", "cold / warm"], [
            ["real-side step (hash + extract + save vs hash + load)", f"{cold_step:.3f}", f"{warm_step:.4f}",
             f"**{cold_step / warm_step:.0f}×**"],
            ["cold `extract_seconds` vs warm real-side step", f"{cold_extract:.3f}", f"{warm_step:.4f}",
             f"{cold_extract / warm_step:.0f}×"],
            ["whole `evaluate` call (incl. weights load + gen side)", f"{cold_wall:.3f}", f"{warm_wall:.3f}",
             f"{cold_wall / warm_wall:.1f}×"],
        ]))
        print(f"\nFID (cold = warm): {cold[0]['fid']:.8g}; load average (1 min) at end: {loadavg()}")


if __name__ == "__main__":
    main()
