"""Scale-out over ``torch.distributed`` (torchrun): which batches this process owns, and how results merge.

Under ``torchrun`` (env:// rendezvous: ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``) every command that extracts features shards the work and gives the numbers of one
process:

- **The sharding unit is one batch** of ``batch_size`` images: rank ``r`` of ``W`` handles the global
  batches ``r, r+W, r+2W, …`` (:class:`Shard`). Every forward pass is then the single-process one, so
  features are bit-identical. Finite sources read only their own batches; generator sources draw every
  batch's noise from the one seeded stream, in order, and decode only their own.
- **Merging:** the float64 sums (``n``, ``Σx``, ``XᵀX``) are all-reduced (:func:`all_reduce_sum`);
  kept features and logits are gathered in global batch order (:func:`gather_batches`), so KID subsets,
  IS splits and the k-NN metrics see the single-process arrays.
- **Only rank 0 writes** (:func:`is_writer`): results, JSON, statistics files, sweep folders, the cache.
- **No hang on failure** (:func:`guard`): every collective here first exchanges each rank's status; a
  rank that raises joins that exchange from its exception handler, so every rank ends with a
  :class:`~gan_eval.errors.GanEvalError` naming the failing rank (``rank 1: ...``). A rank that dies
  outright is noticed when the collective times out (``GAN_EVAL_DIST_TIMEOUT`` seconds, default 120).

Light on purpose: torch is imported inside the functions, so ``import gan_eval`` and ``--help`` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from gan_eval.errors import GanEvalError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

#: Seconds a collective may wait for the other ranks before the run fails (env ``GAN_EVAL_DIST_TIMEOUT``).
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: rank ``rank`` of ``world`` (``Shard()``: one process, everything)."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"invalid shard: rank {self.rank} of {self.world}")

    @property
    def is_single(self) -> bool:
        return self.world == 1

    def owns(self, batch_index: int) -> bool:
        """True when global batch ``batch_index`` is this rank's (``index ≡ rank mod world``)."""
        return batch_index % self.world == self.rank

    def batch_indices(self, num_samples: int, batch_size: int) -> range:
        """This rank's global batch indices among the ``ceil(num_samples / batch_size)`` batches."""
        return range(self.rank, -(-num_samples // batch_size), self.world)

    def own_batches(self, batches: Iterable[T]) -> Iterator[T]:
        """The items of ``batches`` (numbered 0, 1, …) this rank owns: a source that cannot skip reads all."""
        for index, batch in enumerate(batches):
            if self.owns(index):
                yield batch


def _dist() -> Any:
    """``torch.distributed`` when it is usable and initialised here, else None (never imports torch itself)."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def current_shard() -> Shard:
    """The shard of this process: from an initialised ``torch.distributed`` group, else one process."""
    dist = _dist()
    if dist is None:
        return Shard()
    return Shard(dist.get_rank(), dist.get_world_size())


def world_size() -> int:
    """The number of processes sharing the work (1 without ``torch.distributed``)."""
    return current_shard().world


def is_writer() -> bool:
    """True on the process that writes outputs, prints results and fills the cache (rank 0)."""
    return current_shard().rank == 0


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (torchrun sets it), 1 when unset or invalid."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def timeout_seconds() -> float:
    """The collective timeout: ``GAN_EVAL_DIST_TIMEOUT`` seconds, default :data:`DEFAULT_TIMEOUT_S`."""
    raw = os.environ.get("GAN_EVAL_DIST_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise GanEvalError(f"GAN_EVAL_DIST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise GanEvalError(f"GAN_EVAL_DIST_TIMEOUT must be positive, got {raw!r}")
    return value


def init_from_env(device: Any = "cpu") -> Shard:
    """Join the process group torchrun describes in the environment, when ``WORLD_SIZE`` > 1.

    Backend ``nccl`` when ``device`` is CUDA (after ``torch.cuda.set_device(LOCAL_RANK)``), else
    ``gloo``; the timeout is :func:`timeout_seconds`. Does nothing (returns the current shard) with one
    process or when a group is already initialised (a training script's own).
    """
    if env_world_size() <= 1 or _dist() is not None:
        return current_shard()
    import datetime

    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise GanEvalError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT", "RANK") if not os.environ.get(k)]
    if missing:
        raise GanEvalError(f"WORLD_SIZE > 1 but {', '.join(missing)} not set; start the command with torchrun")
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://",
                                timeout=datetime.timedelta(seconds=timeout_seconds()))
    except (RuntimeError, ValueError) as exc:
        raise GanEvalError(f"cannot join the torch.distributed group: {_first_line(exc)}") from None
    return current_shard()


def shutdown() -> None:
    """Leave the process group (when there is one); safe to call more than once."""
    dist = _dist()
    if dist is not None:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


# --------------------------------------------------------------------------- the failure protocol


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Failed(GanEvalError):
    """Raised on every rank once a status exchange shows that some rank failed."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _exchange(status: Any) -> list[Any]:
    """All ranks' status objects (None: fine; ``(message, exit_code)``: failed), or an error on timeout."""
    dist = _dist()
    gathered: list[Any] = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(gathered, status)
    except Exception as exc:  # noqa: BLE001 - a dead peer or a timeout: one line, never a hang
        raise GanEvalError(f"rank {dist.get_rank()}: lost contact with the other processes within "
                           f"{timeout_seconds():g} s (GAN_EVAL_DIST_TIMEOUT): {_first_line(exc)}") from None
    return gathered


def _raise_if_failed(statuses: list[Any]) -> None:
    failed = [(rank, s) for rank, s in enumerate(statuses) if s is not None]
    if failed:
        rank, (message, code) = failed[0]
        raise _Failed(message if message.startswith("rank ") else f"rank {rank}: {message}", code)


def check_peers() -> None:
    """Exchange "still fine" with every rank; raise the first failing rank's message if one failed.

    Called before every collective, so a rank that failed (and joined from :func:`guard`) never leaves
    the others waiting inside a collective it will not enter.
    """
    if _dist() is not None:
        _raise_if_failed(_exchange(None))


def report_failure(exc: BaseException) -> GanEvalError:
    """From an exception handler: tell the other ranks this one failed; the error every rank then raises.

    The other ranks are (or will be) in :func:`check_peers` or the final exchange of :func:`guard`.
    """
    if isinstance(exc, _Failed):
        return exc
    dist = _dist()
    message = _first_line(exc)
    if isinstance(exc, GanEvalError):
        code = exc.exit_code
    elif callable(getattr(exc, "format_message", None)):  # click's usage errors
        message, code = _first_line(exc.format_message()), int(getattr(exc, "exit_code", 2) or 2)
    else:
        code = 3
        message = f"{type(exc).__name__}: {message}"
    if dist is None:
        return GanEvalError(message)
    rank = dist.get_rank()
    try:
        _raise_if_failed(_exchange((f"rank {rank}: {message}", code)))
    except GanEvalError as err:
        return err
    return GanEvalError(f"rank {rank}: {message}")  # pragma: no cover - the exchange always shows this failure


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Run a block on every rank so that one rank's failure fails all, with its message, without a hang.

    On success every rank meets the others once more at the end (so a rank failing late is still heard);
    on an exception the rank reports it (see :func:`report_failure`) and raises a
    :class:`GanEvalError` saying ``rank R: <message>``. Without ``torch.distributed`` it does nothing.
    """
    if _dist() is None:
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the other ranks
        if isinstance(exc, SystemExit) and not exc.code:
            check_peers()
            raise
        raise report_failure(exc) from exc
    check_peers()


def run_step(fn: Callable[[], T]) -> T:
    """``fn()`` under :func:`guard`: if any rank raises, every rank raises the failing rank's message."""
    with guard():
        return fn()


# --------------------------------------------------------------------------- collectives


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` with one process."""
    dist = _dist()
    if dist is None:
        return [obj]
    check_peers()
    return _exchange(obj)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks, in place (and returned); unchanged with one process."""
    dist = _dist()
    if dist is None:
        return tensor
    check_peers()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def agree(flag: bool) -> bool:
    """True only when ``flag`` is true on every rank (e.g. a cache hit everywhere)."""
    return all(all_gather_object(bool(flag)))


def gather_batches(chunks: list[tuple[int, torch.Tensor]], device: Any = None) -> torch.Tensor | None:
    """Concatenate every rank's ``(global batch index, rows)`` chunks in global batch order.

    Each rank's chunks are joined, padded to the largest rank's row count and all-gathered as one
    tensor (on ``device``: the chunks' own, CUDA with NCCL), then cut back and re-ordered, so the result
    is the array one process would have built. None when no rank has any rows.
    """
    import torch

    local = torch.cat([t for _, t in chunks]) if chunks else None
    info = (
        [(index, int(t.shape[0])) for index, t in chunks],
        tuple(local.shape[1:]) if local is not None else None,
        str(local.dtype).replace("torch.", "") if local is not None else None,
    )
    infos = all_gather_object(info)
    if len(infos) == 1:
        return local
    shaped = next((i for i in infos if i[1] is not None), None)
    if shaped is None:
        return None
    trailing, dtype = shaped[1], getattr(torch, shaped[2])
    device = torch.device(device) if device is not None else (local.device if local is not None else torch.device("cpu"))
    rows = [sum(r for _, r in i[0]) for i in infos]
    most = max(rows)
    if local is None:
        local = torch.zeros((0, *trailing), dtype=dtype, device=device)
    padded = torch.zeros((most, *trailing), dtype=dtype, device=device)
    padded[: local.shape[0]] = local.to(device)
    gathered = [torch.empty_like(padded) for _ in infos]
    _dist().all_gather(gathered, padded)
    pieces: list[tuple[int, torch.Tensor]] = []
    for (indexed, _, _), part in zip(infos, gathered):
        start = 0
        for index, count in indexed:
            pieces.append((index, part[start:start + count]))
            start += count
    pieces.sort(key=lambda p: p[0])
    return torch.cat([p for _, p in pieces])
