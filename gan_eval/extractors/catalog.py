"""Light facts about each registered extractor — feature size, input size, weights file — for listing.

``gan-eval extractors`` reads these without importing torch or building a network. The extractor
modules take their :class:`~gan_eval.weights.WeightsFile` from here, so each file's name, URL and
hash live in one place. A plug-in may add its own entry with :func:`register_extractor_info`;
plug-ins without one are listed with "?".

Hashes are the publishers' own: OpenAI's CLIP hashes as torch-fidelity 0.4.0 lists them
(``feature_extractor_clip.MODEL_METADATA``; tests check they agree), torchvision's VGG16 file name
carries its SHA-256 prefix. Meta publishes no hash for the DINOv2 checkpoints, so those files are
"unverified": found and used, never called official.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gan_eval.errors import GanEvalError
from gan_eval.weights import ResolvedWeights, WeightsFile, inception_spec


@dataclass(frozen=True)
class ExtractorInfo:
    """What ``gan-eval extractors`` shows for one extractor."""

    feature_dim: int
    input_size: int
    #: the official weights file, or a function returning it (resolved when listed), or None (bundled)
    weights: WeightsFile | Callable[[], WeightsFile] | None = None
    note: str = ""  # e.g. "bundled", "needs gan-eval[encoders]"

    def weights_file(self) -> WeightsFile | None:
        """The official weights file, if the extractor has one."""
        return self.weights() if callable(self.weights) else self.weights


_CLIP_BASE_URL = "https://openaipublic.azureedge.net/clip/models"
_CLIP_SHA256 = {
    "clip-vit-b-32": ("ViT-B-32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
    "clip-vit-l-14": ("ViT-L-14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"),
}


def _clip(name: str, title: str) -> WeightsFile:
    stem, digest = _CLIP_SHA256[name]
    # torch-fidelity's cache file name, so a file it downloaded is found and reused
    return WeightsFile(f"CLIP {title}", f"{name}-{digest}.pt", f"{_CLIP_BASE_URL}/{digest}/{stem}.pt", digest,
                       _env(name))


def _env(name: str) -> str:
    """The weights variable of extractor ``name``: ``clip-vit-b-32`` -> ``GAN_EVAL_WEIGHTS_CLIP_VIT_B_32``."""
    return "GAN_EVAL_WEIGHTS_" + name.upper().replace("-", "_")


def _dinov2(name: str, title: str) -> WeightsFile:
    short = "vit" + name.split("-")[2] + "14"  # dinov2-vit-s-14 -> vits14, Meta's naming
    filename = f"dinov2_{short}_pretrain.pth"
    return WeightsFile(f"DINOv2 {title}", filename, f"https://dl.fbaipublicfiles.com/dinov2/dinov2_{short}/{filename}",
                       "", _env(name))


VGG16_WEIGHTS = WeightsFile("VGG16 (torchvision IMAGENET1K_V1)", "vgg16-397923af.pth",
                            "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af",
                            _env("vgg16"))
CLIP_WEIGHTS = {"clip-vit-b-32": _clip("clip-vit-b-32", "ViT-B/32"), "clip-vit-l-14": _clip("clip-vit-l-14", "ViT-L/14")}
DINOV2_WEIGHTS = {
    "dinov2-vit-s-14": _dinov2("dinov2-vit-s-14", "ViT-S/14"),
    "dinov2-vit-b-14": _dinov2("dinov2-vit-b-14", "ViT-B/14"),
    "dinov2-vit-l-14": _dinov2("dinov2-vit-l-14", "ViT-L/14"),
}
_ENCODERS_NOTE = 'no published SHA-256: unverified; needs timm: pip install "gan-eval[encoders]"'

#: name -> facts, for built-ins and plug-ins that declare them.
EXTRACTOR_INFO: dict[str, ExtractorInfo] = {
    "digits": ExtractorInfo(128, 28, None, "weights ship with gan-eval"),
    "inception-v3-compat": ExtractorInfo(2048, 299, inception_spec),
    "vgg16": ExtractorInfo(4096, 224, VGG16_WEIGHTS),
    "clip-vit-b-32": ExtractorInfo(512, 224, CLIP_WEIGHTS["clip-vit-b-32"]),
    "clip-vit-l-14": ExtractorInfo(768, 224, CLIP_WEIGHTS["clip-vit-l-14"]),
    "dinov2-vit-s-14": ExtractorInfo(384, 224, DINOV2_WEIGHTS["dinov2-vit-s-14"], _ENCODERS_NOTE),
    "dinov2-vit-b-14": ExtractorInfo(768, 224, DINOV2_WEIGHTS["dinov2-vit-b-14"], _ENCODERS_NOTE),
    "dinov2-vit-l-14": ExtractorInfo(1024, 224, DINOV2_WEIGHTS["dinov2-vit-l-14"], _ENCODERS_NOTE),
}


def register_extractor_info(name: str, info: ExtractorInfo) -> None:
    """Declare a plug-in extractor's facts for ``gan-eval extractors`` (optional)."""
    EXTRACTOR_INFO[name] = info


def weights_file_for(name: str) -> WeightsFile | None:
    """The official weights file of the extractor ``name`` (None: bundled, or a plug-in without facts)."""
    info = EXTRACTOR_INFO.get(name)
    return info.weights_file() if info is not None else None


def describe_extractors() -> list[dict[str, object]]:
    """One row per registered extractor (plug-ins included, none imported): sizes, weights file, state, URL.

    ``state``: "bundled", "verified" (the published hash), "found (unverified)" (no hash published),
    "found" (a file named by the environment variable that is not the official one), "mismatch" (the cache
    holds a file with another hash), "missing", or "?" for a plug-in that declares no facts.
    """
    from gan_eval.extractors.base import available_extractors
    from gan_eval.weights import weights_state

    rows: list[dict[str, object]] = []
    for name in available_extractors():
        info = EXTRACTOR_INFO.get(name)
        row: dict[str, object] = {"name": name, "feature_dim": "?", "input_size": "?", "weights_file": "?",
                                  "state": "?", "path": None, "url": None, "env": None, "note": ""}
        if info is not None:
            row.update(feature_dim=info.feature_dim, input_size=info.input_size, note=info.note)
            spec = info.weights_file()
            if spec is None:
                row.update(weights_file="-", state="bundled")
            else:
                state, path = weights_state(spec)
                if state == "found" and not spec.sha256:
                    state = "found (unverified)"
                row.update(weights_file=spec.filename, state=state, path=str(path) if path else None, url=spec.url,
                           env=spec.env)
        rows.append(row)
    return rows


def convert_extractor_weights(name: str, src: str, dest: str | None = None) -> ResolvedWeights:
    """``gan-eval weights convert``: ``src`` (extractor ``name``'s file) to safetensors at ``dest``.

    ``dest`` defaults to the cache folder, under the name the resolver looks for; only the official file
    (by its published hash) may go there, so the cache never holds an unofficial copy.
    """
    from gan_eval.files import sha256_file
    from gan_eval.weights import checkpoints_dir, convert_to_safetensors

    spec = weights_file_for(name)
    if spec is None:
        raise GanEvalError(f"extractor {name!r} has no downloadable weights file to convert")
    digest = sha256_file(src)
    if dest is None:
        if spec.sha256 and not spec.matches(digest):
            raise GanEvalError(f"{src} is not the official {spec.filename} (SHA-256 {digest[:16]}…); "
                               f"give a DEST path to convert it anyway")
        dest = str(checkpoints_dir() / spec.converted_filename)
    path = convert_to_safetensors(src, dest, source_sha256=digest)
    return ResolvedWeights(path, "weights convert", sha256_file(path), spec.sha256, digest)
