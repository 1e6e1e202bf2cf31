"""Where an extractor's weights come from, whether they are the official ones, and reading them safely.

Resolution order (design notes), the same for every extractor: ``--weights PATH``, then the extractor's
environment variable (``$GAN_EVAL_WEIGHTS`` for InceptionV3), then the torch hub checkpoint cache
(``$TORCH_HOME/hub/checkpoints``, where torch-fidelity, torchvision and torch.hub keep the same files),
then a download verified by SHA-256 when the machine is online. Offline with no weights,
:class:`WeightsUnavailableError` names the file, the URL, the ``--weights`` flag and the variable.

A :class:`WeightsFile` describes one official file; it is plain data (no torch import), so the
extractor catalogue and ``gan-eval extractors`` can list files and their state cheaply.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_eval.errors import GanEvalError, WeightsUnavailableError
from gan_eval.files import atomic_path, sha256_file

if TYPE_CHECKING:
    import torch

INCEPTION_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILENAME
# torch.hub's convention: the hex digits after the last '-' in the file name are the SHA-256 prefix.
INCEPTION_SHA256_PREFIX = "6726825d"
ENV_WEIGHTS = "GAN_EVAL_WEIGHTS"
ENV_OFFLINE = "GAN_EVAL_OFFLINE"
ENV_URL = "GAN_EVAL_INCEPTION_URL"  # mirrors and tests; defaults to INCEPTION_URL
DOWNLOAD_TIMEOUT_S = 20.0
#: safetensors metadata keys written by ``gan-eval weights convert``.
META_SOURCE_SHA256 = "gan_eval.source_sha256"
META_SOURCE_NAME = "gan_eval.source_file"


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file: what it is, where it is cached and downloaded from, and its hash.

    ``sha256`` is the full hex digest or a prefix of at least 8 hex digits; empty when the publisher
    gives none (the file is then "unverified": used, but never called official).
    """

    name: str  # what it is, e.g. "DINOv2 ViT-L/14"
    filename: str  # file name in the cache folder ($TORCH_HOME/hub/checkpoints)
    url: str  # official URL
    sha256: str  # full hex digest (or a prefix of >= 8 hex digits); "" when none is published
    env: str  # environment variable, e.g. GAN_EVAL_WEIGHTS_DINOV2_VIT_L_14
    hint: str = ""  # appended to the missing-weights message

    def matches(self, digest: str) -> bool:
        """True when ``digest`` is this file's published hash (never for an unverified file)."""
        return bool(self.sha256) and digest.startswith(self.sha256)

    @property
    def converted_filename(self) -> str:
        """Name of the safetensors copy ``gan-eval weights convert`` writes into the cache folder."""
        return Path(self.filename).stem + ".safetensors"


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file on disk, how it was found, and its SHA-256."""

    path: Path
    origin: str  # "--weights", "$GAN_EVAL_WEIGHTS", "torch hub cache", "download"
    sha256: str
    expected_sha256: str = INCEPTION_SHA256_PREFIX
    #: for a file made by ``gan-eval weights convert``: the SHA-256 of the file it was converted from
    source_sha256: str = ""

    @property
    def official(self) -> bool | None:
        """True when the file (or the official file it was converted from) has the published hash;
        None when no hash is published to check against (DINOv2)."""
        if not self.expected_sha256:
            return None
        return (self.source_sha256 or self.sha256).startswith(self.expected_sha256)

    @property
    def provenance_sha256(self) -> str:
        """The hash results name: the official source's for a converted file (same tensors), else the file's."""
        return self.source_sha256 or self.sha256


def torch_home() -> Path:
    """``$TORCH_HOME`` as torch resolves it, without importing torch unless it is already loaded."""
    if "torch" in sys.modules:
        import torch

        return Path(torch.hub.get_dir()).parent
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(os.path.expanduser(env))
    return Path(os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache"))) / "torch"


def checkpoints_dir() -> Path:
    """The torch hub checkpoint cache, ``$TORCH_HOME/hub/checkpoints``."""
    return torch_home() / "hub" / "checkpoints"


def inception_url() -> str:
    return os.environ.get(ENV_URL, INCEPTION_URL)


def inception_spec() -> WeightsFile:
    """The official torch-fidelity InceptionV3 file (its URL may be redirected by ``$GAN_EVAL_INCEPTION_URL``)."""
    return WeightsFile("InceptionV3", INCEPTION_FILENAME, inception_url(), INCEPTION_SHA256_PREFIX, ENV_WEIGHTS,
                       hint="offline, --extractor digits needs no download")


def hub_cache_path(spec: WeightsFile | None = None) -> Path:
    """Where torch hub (and torch-fidelity) keep ``spec``'s official file (default: InceptionV3's)."""
    return checkpoints_dir() / (spec or inception_spec()).filename


def _missing_message(spec: WeightsFile, reason: str) -> str:
    hint = f"; {spec.hint}" if spec.hint else ""
    return (f"{spec.name} weights not found ({reason}): put {spec.filename} from {spec.url} at {hub_cache_path(spec)}, "
            f"or pass --weights PATH (or set {spec.env}){hint}")


def offline() -> bool:
    """True when ``$GAN_EVAL_OFFLINE`` forbids downloads."""
    return os.environ.get(ENV_OFFLINE, "") not in ("", "0")


def resolve_weights(spec: WeightsFile, weights: str | os.PathLike | None = None,
                    allow_download: bool = True) -> ResolvedWeights:
    """Find ``spec``'s weights following the documented order; download only as a last resort.

    A file in the cache folder must carry the published hash (a converted safetensors copy must
    record it as its source); a file passed explicitly is used as it is and only reported.
    """
    if weights is not None:
        return _existing(spec, Path(weights), "--weights")
    env = os.environ.get(spec.env)
    if env:
        return _existing(spec, Path(env), f"${spec.env}")
    converted = checkpoints_dir() / spec.converted_filename
    if spec.filename != spec.converted_filename and converted.is_file():
        resolved = _existing(spec, converted, "torch hub cache")
        if spec.sha256 and not resolved.official:
            raise GanEvalError(f"{converted} was not converted from the official {spec.filename} "
                               f"(SHA-256 {spec.sha256[:16]}…); delete it")
        return resolved
    cached = hub_cache_path(spec)
    if cached.is_file():
        return _verified(spec, cached, "torch hub cache")
    if not allow_download or offline():
        raise WeightsUnavailableError(_missing_message(spec, "offline mode, no download attempted"))
    return download_weights(spec)


def resolve_inception_weights(weights: str | os.PathLike | None = None, allow_download: bool = True) -> ResolvedWeights:
    """Find the InceptionV3 weights following the documented order; download only as a last resort."""
    return resolve_weights(inception_spec(), weights, allow_download)


def _existing(spec: WeightsFile, path: Path, origin: str) -> ResolvedWeights:
    if not path.is_file():
        raise GanEvalError(f"weights file {path} (from {origin}) does not exist")
    return ResolvedWeights(path, origin, sha256_file(path), spec.sha256, converted_source_sha256(path))


def _verified(spec: WeightsFile, path: Path, origin: str) -> ResolvedWeights:
    digest = sha256_file(path)
    if spec.sha256 and not spec.matches(digest):
        raise GanEvalError(
            f"{path} has SHA-256 {digest[:16]}…, not the official prefix {spec.sha256[:16]}: the file is "
            f"corrupt or truncated; delete it and run `gan-eval weights download`"
        )
    return ResolvedWeights(path, origin, digest, spec.sha256)


def download_weights(spec: WeightsFile, dest: Path | None = None) -> ResolvedWeights:
    """Download ``spec``'s official file to the hub cache, verifying its SHA-256 before it lands.

    Written by hand rather than with ``torch.hub.download_url_to_file`` because that call has no
    network timeout (an offline machine with a black-holed route would hang) and we also want the
    full digest for provenance.
    """
    dest = dest or hub_cache_path(spec)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            if spec.sha256 and not spec.matches(digest.hexdigest()):
                raise GanEvalError(
                    f"downloaded {spec.url} but its SHA-256 {digest.hexdigest()[:16]}… does not start with "
                    f"{spec.sha256[:16]}; nothing was saved"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsUnavailableError(_missing_message(spec, f"download failed: {reason}")) from None
    return ResolvedWeights(dest, "download", digest.hexdigest(), spec.sha256)


def download_inception_weights(dest: Path | None = None) -> ResolvedWeights:
    """Download the official InceptionV3 file to the hub cache, verifying its SHA-256 prefix before it lands."""
    return download_weights(inception_spec(), dest)


def weights_state(spec: WeightsFile) -> tuple[str, Path | None]:
    """``(state, path)`` of ``spec``'s file without reading it fully when avoidable.

    state: "verified" (in the cache with the published hash, or converted from such a file),
    "found" (present from the flag's variable or without a published hash to check), "mismatch"
    (in the cache with another hash) or "missing".
    """
    env = os.environ.get(spec.env)
    if env:
        path = Path(env)
        if not path.is_file():
            return "missing", path
        return ("verified" if spec.matches(converted_source_sha256(path) or sha256_file(path)) else "found"), path
    converted = checkpoints_dir() / spec.converted_filename
    if spec.filename != spec.converted_filename and converted.is_file():
        if not spec.sha256:
            return "found", converted
        return ("verified" if spec.matches(converted_source_sha256(converted)) else "mismatch"), converted
    cached = hub_cache_path(spec)
    if not cached.is_file():
        return "missing", None
    if not spec.sha256:
        return "found", cached
    return ("verified" if spec.matches(sha256_file(cached)) else "mismatch"), cached


# --------------------------------------------------------------------------- reading weights safely


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict safely, never unpickling arbitrary objects.

    Accepts safetensors, a torch file read with ``weights_only=True``, and a TorchScript archive
    (OpenAI's CLIP files), whose tensors only are read by :func:`read_torchscript_tensors`.
    """
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if is_torchscript_archive(path):
            return read_torchscript_tensors(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except GanEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the same user error
        raise GanEvalError(f"cannot read weights file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanEvalError(f"weights file {path} does not hold a plain state dict of tensors")
    return state


def converted_source_sha256(path: str | os.PathLike) -> str:
    """The official source hash a ``weights convert`` output records ("" for any other file)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return ""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # noqa: BLE001 - an unreadable file is reported when it is loaded
        return ""
    return str(meta.get(META_SOURCE_SHA256, ""))


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """True for a zip archive written by ``torch.jit.save`` (it carries a ``code/`` folder)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())


class _Opaque:
    """Stands for any class a TorchScript ``data.pkl`` names: keeps the state it is given, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


_STORAGE_DTYPES = {"FloatStorage": "float32", "HalfStorage": "float16", "DoubleStorage": "float64",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The parameters and tensor attributes of a TorchScript archive, by dotted name, without running it.

    Why this is safe: ``torch.jit.load`` would compile and keep the archive's ``code/`` (TorchScript
    programs) and unpickle ``data.pkl`` with every global it names; here ``code/`` is never read, and
    ``data.pkl`` goes through an unpickler whose ``find_class`` returns only inert stand-ins
    (:class:`_Opaque`, ``OrderedDict``, a tensor rebuilder of ours and dtype markers) — no callable
    from the file is ever looked up, so no code in it can run. Tensor bytes are read from the
    archive's ``data/`` entries. The names agree with the loaded module's ``state_dict()`` (plus any
    plain tensor attributes, which callers ignore).
    """
    import collections

    import torch

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise GanEvalError(f"{path} is not a TorchScript archive (no single data.pkl)")
        root = pickles[0][: -len("data.pkl")]
        order = archive.read(root + "byteorder").decode().strip() if root + "byteorder" in names else "little"
        if order != "little":
            raise GanEvalError(f"{path} stores {order}-endian tensors; only little-endian archives are read")

        class Marker:
            def __init__(self, dtype: torch.dtype) -> None:
                self.dtype = dtype

        def rebuild(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
            return storage.as_strided(tuple(size), tuple(stride), offset).clone()

        class Reader(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
                    return rebuild
                if module == "collections" and name == "OrderedDict":
                    return collections.OrderedDict
                if module == "torch" and name in _STORAGE_DTYPES:
                    return Marker(getattr(torch, _STORAGE_DTYPES[name]))
                return _Opaque

            def persistent_load(self, pid: Any) -> torch.Tensor:
                if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], Marker)):
                    raise GanEvalError(f"{path}: unexpected persistent id in data.pkl")
                raw = bytearray(archive.read(f"{root}data/{pid[2]}"))
                return torch.frombuffer(raw, dtype=pid[1].dtype) if raw else torch.empty(0, dtype=pid[1].dtype)

        obj = Reader(io.BytesIO(archive.read(pickles[0]))).load()
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any, prefix: str) -> None:
        state = node.state if isinstance(node, _Opaque) else None
        if not isinstance(state, dict):
            return
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[prefix + str(key)] = value
            elif isinstance(value, _Opaque):
                walk(value, f"{prefix}{key}.")

    walk(obj, "")
    if not tensors:
        raise GanEvalError(f"{path} holds no tensors")
    return tensors


def convert_to_safetensors(src: str | os.PathLike, dest: str | os.PathLike, source_sha256: str | None = None) -> Path:
    """Write the tensors of ``src`` (any format :func:`load_state_dict` reads) to ``dest`` as safetensors.

    The SHA-256 of ``src`` is recorded in the metadata (``gan_eval.source_sha256``) so that results
    computed from the copy name the official file's hash.
    """
    from safetensors.torch import save_file

    src, dest = Path(src), Path(dest)
    state = {k: v.contiguous() for k, v in load_state_dict(src).items()}
    meta = {META_SOURCE_SHA256: source_sha256 or sha256_file(src), META_SOURCE_NAME: src.name,
            "gan_eval.keys": json.dumps(len(state))}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=meta)
    return dest
