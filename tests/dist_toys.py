"""Helpers for tests/test_distributed.py, imported by the subprocesses it starts (tests/ is on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import sys

import torch


class RankOneFails:
    """A generator that works on every rank but rank 1, where ``sample`` raises."""

    output_range = (-1.0, 1.0)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if os.environ.get("RANK") == "1":
            raise RuntimeError("the rank-one generator broke on purpose")
        return torch.rand(n, 1, 28, 28, generator=generator) * 2 - 1


def fails_on_rank_1() -> RankOneFails:
    return RankOneFails()


def run_evaluator(out_path: str, update_size: int = 30) -> None:
    """Feed this rank's global batches of 50 MNIST digits to an Evaluator, in updates of ``update_size``,
    and write every rank's ``compute()`` to ``out_path`` with the rank appended."""
    import gan_eval
    from gan_eval import distributed
    from gan_eval.mnist import load_mnist

    shard = distributed.init_from_env("cpu")
    try:
        with distributed.guard():
            images, _ = load_mnist("train")
            images = torch.from_numpy(images[:230].copy())
            ev = gan_eval.Evaluator(["fid", "is", "kid", "pr", "dc"], extractor="digits", real="builtin:mnist-heldout",
                                    num_real=200, cache=False, batch_size=50, progress=False)
            mine = torch.cat([images[g * 50:(g + 1) * 50] for g in shard.batch_indices(230, 50)])
            for start in range(0, mine.shape[0], update_size):
                ev.update(mine[start:start + update_size])
            first = ev.compute()
            ev.reset()
            for start in range(0, mine.shape[0], update_size):
                ev.update(mine[start:start + update_size])
            second = ev.compute()
            doc = {"metrics": first.metrics, "again": second.metrics, "world_size": first.provenance["world_size"],
                   "n_gen": first.provenance["n_gen"]}
            with open(f"{out_path}.{shard.rank}", "w") as fh:
                json.dump(doc, fh)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    run_evaluator(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
