"""torch.distributed scale-out: two gloo processes, started as torchrun starts them, give one process's numbers.

Each test runs ``python -m gan_eval ...`` (or a small script) twice with the env:// variables torchrun sets
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE=2, RANK, LOCAL_RANK), and compares with the same command run once.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli_env

from gan_eval.distributed import Shard, current_shard, is_writer
from gan_eval.testing import write_digits

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")

TIMEOUT = 120
EXACT = ("precision", "recall", "density", "coverage")
#: Provenance fields that differ between any two runs (times), besides world_size.
TIMES = ("created", "wall_time_s", "extract_seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], cwd: Path, world: int = 2, timeout: int = TIMEOUT) -> list[subprocess.CompletedProcess]:
    """Start ``world`` processes of ``args`` as torchrun would (gloo on CPU), wait for all, return them by rank."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = cli_env()
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                   LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world), GAN_EVAL_DIST_TIMEOUT="30",
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return done


def single(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = cli_env()
    env.update(OMP_NUM_THREADS="1")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def evaluate_args(gen: str, json_path: str, n: str = "300") -> list[str]:
    return [sys.executable, "-m", "gan_eval", "evaluate", "--gen", gen, "--real", "builtin:mnist-heldout",
            "--num-real", "300", "-n", n, "--extractor", "digits", "--no-cache", "--metrics", "fid,is,kid,pr,dc",
            "--kid-subset-size", "100", "--batch-size", "64", "--json", json_path]


def strip_times(value):
    if isinstance(value, dict):
        return {k: strip_times(v) for k, v in value.items() if k not in TIMES}
    return value


def assert_same_result(one: dict, two: dict) -> None:
    assert one["metrics"].keys() == two["metrics"].keys()
    for key, value in one["metrics"].items():
        if key in EXACT:
            assert two["metrics"][key] == value, key
        else:
            assert math.isclose(two["metrics"][key], value, rel_tol=1e-9, abs_tol=1e-12), key
    p1, p2 = strip_times(one["provenance"]), strip_times(two["provenance"])
    assert p1.pop("world_size") == 1 and p2.pop("world_size") == 2
    assert p1 == p2


def check_two_vs_one(gen: str, tmp_path: Path) -> None:
    ref = single(evaluate_args(gen, "one.json"), tmp_path)
    assert ref.returncode == 0, ref.stderr
    rank0, rank1 = launch(evaluate_args(gen, "two.json"), tmp_path)
    assert rank0.returncode == 0 and rank1.returncode == 0, rank0.stderr + rank1.stderr
    assert_same_result(json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text()))
    # Only rank 0 prints and writes: one JSON, the same table as one process, nothing from rank 1.
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["one.json", "two.json"]
    assert rank0.stdout.splitlines()[:10] == ref.stdout.splitlines()[:10]
    assert rank1.stdout == "" and rank1.stderr == ""


def test_shard_batches_are_strided_and_disjoint():
    shards = [Shard(r, 3) for r in range(3)]
    owned = [list(s.batch_indices(700, 64)) for s in shards]
    assert owned[0] == [0, 3, 6, 9] and owned[1] == [1, 4, 7, 10] and owned[2] == [2, 5, 8]
    assert sorted(sum(owned, [])) == list(range(11))
    assert list(shards[1].own_batches("abcdefg")) == ["b", "e"]
    assert current_shard() == Shard() and is_writer()
    with pytest.raises(ValueError):
        Shard(2, 2)


def test_sharded_sources_give_the_single_process_batches(tmp_path):
    """Arrays, folders and generators: the ranks' batches, put back in global order, are one process's."""
    from gan_eval.mnist import load_mnist
    from gan_eval.sources import (
        ArraySource,
        DirectorySource,
        iter_own_batches,
        open_source,
    )

    images = load_mnist("heldout")[0][:150]
    folder = write_digits(tmp_path / "d", "heldout", 70)
    sources = [ArraySource(images, "array"), DirectorySource(folder), open_source("builtin:dcgan")]
    for source, n in zip(sources, (150, 70, 150)):
        whole = list(source.iter_batches(n, 32, 7))
        parts = [list(iter_own_batches(source, n, 32, 7, Shard(r, 2))) for r in range(2)]
        merged = [parts[i % 2][i // 2] for i in range(len(whole))]
        assert sum(len(p) for p in parts) == len(whole)
        for a, b in zip(whole, merged):
            assert torch.equal(a, b), source.description


@pytest.mark.slow
def test_evaluate_generator_two_processes_equal_one(tmp_path):
    check_two_vs_one("builtin:dcgan", tmp_path)


@pytest.mark.slow
def test_evaluate_folder_two_processes_equal_one(tmp_path):
    write_digits(tmp_path / "gen", "train", 300, mode="L")  # grey PNGs: conversions are counted over the ranks
    check_two_vs_one(str(tmp_path / "gen"), tmp_path)


@pytest.mark.slow
def test_a_failing_rank_fails_every_rank_without_hanging(tmp_path):
    args = evaluate_args("dist_toys:fails_on_rank_1", "out.json", n="200")
    rank0, rank1 = launch(args, tmp_path, timeout=90)
    assert rank0.returncode != 0 and rank1.returncode != 0
    assert "rank 1: RuntimeError: the rank-one generator broke on purpose" in rank0.stderr
    assert "rank 1:" in rank1.stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_evaluator_two_processes_equal_one(tmp_path):
    script = [sys.executable, str(Path(__file__).parent / "dist_toys.py"), str(tmp_path / "ev")]
    ref = single([*script[:2], str(tmp_path / "one")], tmp_path)
    assert ref.returncode == 0, ref.stderr
    ranks = launch([*script, "17"], tmp_path)
    assert all(r.returncode == 0 for r in ranks), "".join(r.stderr for r in ranks)
    one = json.loads((tmp_path / "one.0").read_text())
    for rank in range(2):
        two = json.loads((tmp_path / f"ev.{rank}").read_text())
        assert two["world_size"] == 2 and two["n_gen"] == one["n_gen"] == 230
        for doc in (two["metrics"], two["again"]):
            for key, value in one["metrics"].items():
                if key in EXACT:
                    assert doc[key] == value, key
                else:
                    assert math.isclose(doc[key], value, rel_tol=1e-9, abs_tol=1e-12), key


@pytest.mark.slow
def test_stats_and_sweep_two_processes_equal_one(tmp_path):
    common = ["--extractor", "digits", "--no-cache"]
    stats = [sys.executable, "-m", "gan_eval", "stats", "--real", "builtin:mnist-heldout", "-n", "300", *common]
    assert single([*stats, "-o", "one.npz"], tmp_path).returncode == 0
    assert [p.returncode for p in launch([*stats, "-o", "two.npz"], tmp_path)] == [0, 0]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert np.array_equal(one["features"], two["features"]) and np.array_equal(one["logits"], two["logits"])
    assert np.allclose(one["sigma"], two["sigma"], rtol=1e-9, atol=0) and np.allclose(one["mu"], two["mu"], rtol=1e-12)

    sweep = [sys.executable, "-m", "gan_eval", "sweep", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout",
             "--psi", "0.5,none", "-n", "128", "--num-real", "200", "-m", "fid,pr", "--strip", "0", *common]
    assert single([*sweep, "-o", "s1"], tmp_path).returncode == 0
    rank0, rank1 = launch([*sweep, "-o", "s2"], tmp_path)
    assert rank0.returncode == 0 and rank1.returncode == 0, rank0.stderr + rank1.stderr
    rows = [json.loads((tmp_path / d / "sweep.json").read_text())["rows"] for d in ("s1", "s2")]
    for a, b in zip(*rows):
        assert a["metrics"]["precision"] == b["metrics"]["precision"] and a["metrics"]["recall"] == b["metrics"]["recall"]
        assert math.isclose(a["metrics"]["fid"], b["metrics"]["fid"], rel_tol=1e-9)
