"""Where the InceptionV3 weights come from, and whether they are the official ones.

Resolution order (design notes): ``--weights PATH``, then ``$GAN_EVAL_WEIGHTS``, then the torch hub
checkpoint cache, then a download verified by SHA-256 when the machine is online. Offline with no
weights, :class:`WeightsUnavailableError` names the file, the URL and the ``--weights`` flag.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_eval.errors import GanEvalError, WeightsUnavailableError
from gan_eval.files import atomic_path, sha256_file

INCEPTION_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILENAME
# torch.hub's convention: the hex digits after the last '-' in the file name are the SHA-256 prefix.
INCEPTION_SHA256_PREFIX = "6726825d"
ENV_WEIGHTS = "GAN_EVAL_WEIGHTS"
ENV_OFFLINE = "GAN_EVAL_OFFLINE"
ENV_URL = "GAN_EVAL_INCEPTION_URL"  # mirrors and tests; defaults to INCEPTION_URL
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file on disk, how it was found, and its SHA-256."""

    path: Path
    origin: str  # "--weights", "$GAN_EVAL_WEIGHTS", "torch hub cache", "download"
    sha256: str

    @property
    def official(self) -> bool:
        """True when the file's hash carries the official Inception prefix."""
        return self.sha256.startswith(INCEPTION_SHA256_PREFIX)


def hub_cache_path() -> Path:
    """Where torch hub (and torch-fidelity) keep the official file: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILENAME


def inception_url() -> str:
    return os.environ.get(ENV_URL, INCEPTION_URL)


def _missing_message(reason: str) -> str:
    return (
        f"InceptionV3 weights not found ({reason}): put {INCEPTION_FILENAME} from {inception_url()} at "
        f"{hub_cache_path()}, or pass --weights PATH (or set {ENV_WEIGHTS}); offline, --extractor digits needs no download"
    )


def resolve_inception_weights(weights: str | os.PathLike | None = None, allow_download: bool = True) -> ResolvedWeights:
    """Find the InceptionV3 weights following the documented order; download only as a last resort."""
    if weights is not None:
        return _existing(Path(weights), "--weights")
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        return _existing(Path(env), f"${ENV_WEIGHTS}")
    cached = hub_cache_path()
    if cached.is_file():
        return _verified(cached, "torch hub cache")
    if not allow_download or os.environ.get(ENV_OFFLINE, "") not in ("", "0"):
        raise WeightsUnavailableError(_missing_message("offline mode, no download attempted"))
    return download_inception_weights()


def _existing(path: Path, origin: str) -> ResolvedWeights:
    if not path.is_file():
        raise GanEvalError(f"weights file {path} (from {origin}) does not exist")
    return ResolvedWeights(path, origin, sha256_file(path))


def _verified(path: Path, origin: str) -> ResolvedWeights:
    digest = sha256_file(path)
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise GanEvalError(
            f"{path} has SHA-256 {digest[:16]}…, not the official prefix {INCEPTION_SHA256_PREFIX}: the file is "
            f"corrupt or truncated; delete it and run `gan-eval weights download`"
        )
    return ResolvedWeights(path, origin, digest)


def download_inception_weights(dest: Path | None = None) -> ResolvedWeights:
    """Download the official file to the hub cache, verifying its SHA-256 prefix before it lands.

    Written by hand rather than with ``torch.hub.download_url_to_file`` because that call has no
    network timeout (an offline machine with a black-holed route would hang) and we also want the
    full digest for provenance.
    """
    dest = dest or hub_cache_path()
    url = inception_url()
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            if not digest.hexdigest().startswith(INCEPTION_SHA256_PREFIX):
                raise GanEvalError(
                    f"downloaded {url} but its SHA-256 {digest.hexdigest()[:16]}… does not start with "
                    f"{INCEPTION_SHA256_PREFIX}; nothing was saved"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsUnavailableError(_missing_message(f"download failed: {reason}")) from None
    return ResolvedWeights(dest, "download", digest.hexdigest())


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict safely: safetensors, or a torch file with ``weights_only=True`` (never pickle)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the same user error
        raise GanEvalError(f"cannot read weights file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanEvalError(f"weights file {path} does not hold a plain state dict of tensors")
    return state
