"""The generator checkpoint format (v1) and its strict, safe loader.

A checkpoint is a ``.safetensors`` file: the generator's state dict (buffers included) plus string
metadata — ``format``, ``format_version``, ``arch``, ``arch_version`` and JSON strings ``config``
(exact constructor kwargs), ``io`` (kind, z_dim, classes, output shape and range, truncation kind),
``training`` (recipe and hyper-parameters) and ``provenance``. A ``.pt`` file holding the same
fields as a dict is read with ``torch.load(weights_only=True)`` only. Pickles are refused, and never
executed, unless the caller passes ``trust_pickle=True``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from gan_eval.generators.model import GeneratorHandle
from gan_eval.generators.registry import ArchSpec, get_arch

from gan_eval import __version__
from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path

FORMAT = "gan-eval/generator"
FORMAT_VERSION = "1"
JSON_FIELDS = ("config", "io", "sampling", "training", "provenance")
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pkl", ".pickle")


def io_contract(spec: ArchSpec, module: torch.nn.Module) -> dict[str, Any]:
    """The I/O contract an evaluator needs, read off a built module."""
    return {
        "kind": spec.kind,
        "z_dim": int(getattr(module, "z_dim", 0)),
        "num_classes": int(getattr(module, "num_classes", 0)),
        "cond_encoding": "one_hot" if spec.kind == "conditional" else None,
        "out_shape": list(module.out_shape),
        "output_range": list(module.output_range),
        "truncation": spec.truncation,
        "layout": "NCHW",
    }


def build_metadata(spec: ArchSpec, module: torch.nn.Module, config: dict[str, Any],
                   training: dict[str, Any] | None = None, source: str = "trained") -> dict[str, str]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": spec.name,
        "arch_version": str(spec.version),
        "config": json.dumps(config, sort_keys=True),
        "io": json.dumps(io_contract(spec, module), sort_keys=True),
        "sampling": json.dumps({"truncation": {"kind": spec.truncation, "default": None}, "eval_mode": True}),
        "training": json.dumps(training or {}, sort_keys=True),
        "provenance": json.dumps({"gan_eval_version": __version__, "torch_version": torch.__version__,
                                  "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "source": source}, sort_keys=True),
    }


def save_generator(path: str | os.PathLike, arch: str, module: torch.nn.Module, config: dict[str, Any],
                   training: dict[str, Any] | None = None, source: str = "trained") -> Path:
    """Write ``module``'s state dict and metadata to ``path`` (``.safetensors``) atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise GanEvalError(f"generator checkpoints are written as .safetensors (got {path.name})")
    spec = get_arch(arch)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=build_metadata(spec, module, config, training, source))
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded metadata of a ``.safetensors`` checkpoint, without loading tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
        raise GanEvalError(f"cannot read {path} as safetensors: {str(exc).splitlines()[0]}") from None
    return _decode(raw, path)


def _decode(raw: dict[str, Any], path: Any) -> dict[str, Any]:
    if raw.get("format") != FORMAT:
        raise GanEvalError(f"{path} is not a gan-eval generator checkpoint (format {raw.get('format')!r}); "
                           f"course-style files convert with `gan-eval import --arch ARCH FILE -o OUT.safetensors`")
    if str(raw.get("format_version")) != FORMAT_VERSION:
        raise GanEvalError(f"{path} has checkpoint format version {raw.get('format_version')}; "
                           f"this gan-eval reads version {FORMAT_VERSION}")
    meta = dict(raw)
    for key in JSON_FIELDS:
        value = meta.get(key, "{}")
        try:
            meta[key] = json.loads(value) if isinstance(value, str) else value
        except (json.JSONDecodeError, RecursionError):
            raise GanEvalError(f"{path}: metadata field {key!r} is not valid JSON") from None
        if not isinstance(meta[key], dict):
            raise GanEvalError(f"{path}: metadata field {key!r} must be a JSON object, "
                               f"got {type(meta[key]).__name__}")
    for key in ("arch", "arch_version"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise GanEvalError(f"{path}: metadata lacks {key!r} (a non-empty string)")
    io = meta["io"]
    if not io.get("output_range") or not io.get("out_shape"):
        raise GanEvalError(f"{path}: metadata io must declare output_range and out_shape")
    low_high, shape = io["output_range"], io["out_shape"]
    if not (isinstance(low_high, list) and len(low_high) == 2 and all(_is_number(v) for v in low_high)
            and low_high[0] < low_high[1]):
        raise GanEvalError(f"{path}: metadata io output_range must be [low, high] with low < high, got {low_high!r}"[:300])
    if not (isinstance(shape, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise GanEvalError(f"{path}: metadata io out_shape must be a list of positive integers, got {shape!r}"[:300])
    return meta


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def state_dict_diff(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], config: dict[str, Any],
                    limit: int = 6) -> str:
    """A short, readable description of how a state dict differs from what the config builds."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [k for k in sorted(set(expected) & set(found)) if tuple(expected[k].shape) != tuple(found[k].shape)]
    lines = [f"config {json.dumps(config, sort_keys=True)} does not match the tensors:"]
    for key in shapes[:limit]:
        lines.append(f"{key}: file has {list(found[key].shape)}, config builds {list(expected[key].shape)}")
    if missing:
        lines.append(f"missing from file ({len(missing)}): {', '.join(missing[:limit])}{' …' if len(missing) > limit else ''}")
    if unexpected:
        lines.append(f"unexpected in file ({len(unexpected)}): {', '.join(unexpected[:limit])}"
                     f"{' …' if len(unexpected) > limit else ''}")
    return f"{lines[0]} {'; '.join(lines[1:])}"  # one line, as every error


def build_strict(arch: str, config: dict[str, Any], state: dict[str, torch.Tensor], path: Any = "") -> tuple[ArchSpec, torch.nn.Module]:
    """Build ``arch`` from ``config`` and load ``state`` strictly; a mismatch raises the readable diff."""
    spec = get_arch(arch)
    try:
        # Shapes only (meta device): a config that does not fit the file, or is out of bounds, allocates nothing.
        expected = spec.build(config, device="meta").state_dict()
    except GanEvalError as exc:
        raise GanEvalError(f"{path}: {exc}" if path else str(exc)) from None
    diff_free = set(expected) == set(state) and all(tuple(expected[k].shape) == tuple(state[k].shape) for k in state)
    if not diff_free:
        message = state_dict_diff(expected, state, config)
        infer = getattr(spec.module_cls, "infer_config", None)
        if callable(infer):
            try:
                message += f"; the tensors look like config {json.dumps(infer(state), sort_keys=True)}"
            except Exception:  # noqa: BLE001 - inference is only a hint
                pass
        raise GanEvalError(f"{path or arch}: {message}")
    module = spec.build(config)
    module.load_state_dict(state, strict=True)
    return spec, module


def load_generator(path: str | os.PathLike, *, device: str | torch.device = "cpu", trust_pickle: bool = False,
                   truncation: float | None = None, label: int | None = None) -> GeneratorHandle:
    """Open a generator checkpoint (``.safetensors``, or ``.pt`` with ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise GanEvalError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        meta = read_metadata(path)
        state = load_file(str(path))
    else:
        meta, state = _load_torch_container(path, trust_pickle)
    try:
        spec = get_arch(meta["arch"])
    except GanEvalError as exc:
        raise GanEvalError(f"{path}: {exc}") from None
    if str(spec.version) != str(meta["arch_version"]):
        raise GanEvalError(f"{path}: {spec.name} version {meta['arch_version']} in the file, this gan-eval builds "
                           f"version {spec.version}")
    spec, module = build_strict(meta["arch"], meta["config"], state, path)
    module.to(device)
    handle = GeneratorHandle(module, spec, meta["config"], meta, truncation=truncation, label=label)
    return handle


def _load_torch_container(path: Path, trust_pickle: bool) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - weights_only refusal or corrupt file
        if not trust_pickle:
            raise GanEvalError(f"{path} is not a plain tensor file (it needs pickle to load, which can run "
                               f"arbitrary code); refused. Pass --trust-pickle only for files you trust") from None
        warnings.warn(f"loading {path} with full pickle because --trust-pickle was given")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)  # user opted in: --trust-pickle
        except Exception as inner:  # noqa: BLE001
            raise GanEvalError(f"cannot read {path}: {str(inner).splitlines()[0]}") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT and isinstance(obj.get("state_dict"), dict):
        if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj["state_dict"].items()):
            raise GanEvalError(f"{path}: state_dict must map names to tensors")
        raw = {k: (v if isinstance(v, str) else json.dumps(v, default=repr)) for k, v in obj.items() if k != "state_dict"}
        return _decode(raw, path), obj["state_dict"]
    if isinstance(obj, dict) and ("gen" in obj or all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise GanEvalError(f"{path} holds a bare state dict without architecture metadata; convert it once with "
                           f"`gan-eval import --arch ARCH {path} -o {path.stem}.safetensors`")
    raise GanEvalError(f"{path} is not a gan-eval generator checkpoint")


def import_state_dict(path: str | os.PathLike, arch: str, output: str | os.PathLike, config: dict[str, Any] | None = None,
                      key: str | None = None) -> Path:
    """Convert a course-style checkpoint (``{"gen": state_dict}`` or a bare state dict) to our format.

    ``config`` overrides what the architecture infers from tensor shapes (``infer_config``); fields
    neither gives take the course defaults. A mismatch raises the readable diff.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise GanEvalError(f"cannot read {path} with weights_only=True ({str(exc).splitlines()[0]}); "
                           f"only plain tensor checkpoints can be imported") from None
    if not isinstance(obj, dict):
        raise GanEvalError(f"{path} does not hold a dict of tensors")
    if key is None:
        key = "gen" if "gen" in obj else None
    state = obj[key] if key is not None else obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = ", ".join(k for k, v in obj.items() if isinstance(v, dict))
        raise GanEvalError(f"{path}: no generator state dict found (dict entries: {keys or 'none'}); pass --key NAME")
    spec = get_arch(arch)
    infer = getattr(spec.module_cls, "infer_config", None)
    inferred = infer(state) if callable(infer) else {}
    config = dataclasses.asdict(spec.make_config({**inferred, **(config or {})}))
    spec, module = build_strict(arch, config, state, path)
    return save_generator(output, arch, module, config, training={"recipe": "imported"}, source=f"imported:{Path(path).name}")
