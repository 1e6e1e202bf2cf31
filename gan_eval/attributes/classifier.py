"""Attribute classifier checkpoints: the course's CelebA classifier, its training, and loading.

Architecture (GANs course C2W2 "pretrained CelebA 40-attribute classifier"): four conv blocks with
kernel 4 — stride 2, 2, 3 with BatchNorm + LeakyReLU(0.2), then a plain conv to one channel per
attribute — giving raw logits (no sigmoid). At the course's 64×64 input the last map is 1×1; an
average pool makes other sizes work too. Training follows the course's optional recipe:
``BCEWithLogitsLoss`` over all labels, Adam lr 1e-3, betas (0.5, 0.999), batch 128, 3 epochs.

A checkpoint is a ``.safetensors`` file (tensors only, never pickle) with string metadata:
``format`` = ``gan-eval/attribute-classifier``, ``mode`` (``multilabel``: one binary attribute per
output, logit > 0; or ``multiclass``: one categorical attribute, argmax), ``attributes`` (JSON list
of names, index order = output order), ``attribute`` (multiclass: the attribute's name),
``config`` (JSON: channels, hidden_dim, image_size), ``heldout`` (JSON: per attribute accuracy and
the held-out confusion counts, which the audit uses to correct proportions) and ``training``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval import __version__
from gan_eval.attributes.base import (
    AttributeExtractor,
    AttributeSpec,
)
from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path, sha256_file

CPU = torch.device("cpu")

FORMAT = "gan-eval/attribute-classifier"
MODES = ("multilabel", "multiclass")


def _block(cin: int, cout: int, stride: int, final: bool = False) -> nn.Sequential:
    if final:
        return nn.Sequential(nn.Conv2d(cin, cout, 4, stride))
    return nn.Sequential(nn.Conv2d(cin, cout, 4, stride), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))


class AttributeClassifier(nn.Module):
    """The course's attribute classifier: ``N×C×S×S`` in ``[-1, 1]`` → ``N×n_classes`` logits."""

    def __init__(self, n_classes: int, channels: int = 3, hidden_dim: int = 64, image_size: int = 64) -> None:
        super().__init__()
        if image_size < 58:
            raise GanEvalError(f"image_size {image_size} is too small for the course classifier (use ≥ 58; the course uses 64)")
        self.image_size = image_size
        self.channels = channels
        self.disc = nn.Sequential(
            _block(channels, hidden_dim, 2),
            _block(hidden_dim, hidden_dim * 2, 2),
            _block(hidden_dim * 2, hidden_dim * 4, 3),
            _block(hidden_dim * 4, n_classes, 2, final=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.disc(x).mean(dim=(2, 3))


#: The classifier's config fields and their sane bounds, checked before a model is built from a file.
CONFIG_LIMITS: dict[str, tuple[int, int]] = {"channels": (1, 3), "hidden_dim": (1, 4096), "image_size": (58, 4096)}
#: Parameters and buffers a classifier may hold (2**28 float32 values are 1 GiB).
MAX_ELEMENTS = 1 << 28


def check_classifier_config(config: Any, where: Any, n_outputs: int = 1) -> None:
    """One line naming ``where`` and the field when ``config`` has unknown keys, wrong types, sizes out of
    bounds, or would build a model too large to be real (counted on the meta device: nothing allocated)."""
    if not isinstance(config, dict):
        raise GanEvalError(f"{where}: metadata field 'config' must be a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_LIMITS))
    if unknown:
        raise GanEvalError(f"{where}: unknown classifier config key(s) {', '.join(map(repr, unknown))}; "
                           f"known: {', '.join(CONFIG_LIMITS)}")
    for name, value in config.items():
        low, high = CONFIG_LIMITS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high \
                or (name == "channels" and value == 2):
            shown = json.dumps(value, default=repr)
            shown = shown if len(shown) <= 40 else shown[:40] + "…"
            rule = "1 (grey) or 3 (RGB)" if name == "channels" else f"an integer in [{low}, {high}]"
            raise GanEvalError(f"{where}: classifier config {name} must be {rule}, got {shown}")
    with torch.device("meta"):
        elements = sum(t.numel() for t in AttributeClassifier(n_outputs, **config).state_dict().values())
    if elements > MAX_ELEMENTS:
        raise GanEvalError(f"{where}: classifier config {json.dumps(config, sort_keys=True)} with {n_outputs} outputs "
                           f"builds {elements:,} parameters, more than the {MAX_ELEMENTS:,} gan-eval allows")


def preprocess(images: torch.Tensor, channels: int, image_size: int) -> torch.Tensor:
    """Float ``[0, 1]`` ``N×3×H×W`` → the classifier's input (channels, size, ``[-1, 1]``), differentiably."""
    x = images.float()
    if channels == 1:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return x * 2.0 - 1.0


class ClassifierAttributes(AttributeExtractor):
    """Attributes from a classifier checkpoint; differentiable."""

    name = "classifier"
    differentiable = True

    def __init__(self, path: str, device: torch.device = CPU) -> None:
        super().__init__()
        from safetensors import safe_open
        from safetensors.torch import load_file

        p = Path(path)
        if not p.is_file():
            raise GanEvalError(f"classifier checkpoint {p} does not exist")
        try:
            with safe_open(str(p), framework="pt") as fh:
                meta = fh.metadata() or {}
            state = load_file(str(p))
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the same user error
            raise GanEvalError(f"cannot read classifier checkpoint {p}: {exc}".splitlines()[0]) from None
        if meta.get("format") != FORMAT:
            raise GanEvalError(f"{p} is not an attribute classifier (format {meta.get('format')!r}); "
                               f"train one with `gan-eval train classifier`")
        try:
            names = json.loads(meta["attributes"])
            config = json.loads(meta["config"])
            self.heldout = json.loads(meta.get("heldout", "{}"))
        except (KeyError, json.JSONDecodeError) as exc:
            raise GanEvalError(f"{p}: broken metadata ({exc})") from None
        self.mode = meta.get("mode", "multilabel")
        if self.mode not in MODES or not isinstance(names, list) or not names \
                or not all(isinstance(n, str) and n for n in names):
            raise GanEvalError(f"{p}: metadata needs a mode in {MODES} and a non-empty list of attribute names")
        if not isinstance(self.heldout, dict):
            raise GanEvalError(f"{p}: metadata field 'heldout' must be a JSON object, got {type(self.heldout).__name__}")
        check_classifier_config(config, p, len(names))
        self.model = AttributeClassifier(len(names), **config)
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise GanEvalError(f"{p}: tensors do not match its config: {str(exc).splitlines()[0]}") from None
        self.model.to(device).eval().requires_grad_(False)
        self.device = device
        self.config = config
        self.weights_sha256 = sha256_file(p)
        self.path = str(p)
        if self.mode == "multilabel":
            self.attributes = [AttributeSpec(n, "binary", ("0", "1"), description="classifier logit > 0") for n in names]
            self.score_names = list(names)
        else:
            attr = meta.get("attribute") or "class"
            self.attributes = [AttributeSpec(attr, "categorical", tuple(names), description="classifier argmax")]
            self.score_names = [f"{attr}={n}" for n in names]
            self.score_groups = {s: attr for s in self.score_names}

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        x = preprocess(images.to(self.device), self.config.get("channels", 3), self.config.get("image_size", 64))
        return self.model(x)

    def decode(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        if self.mode == "multilabel":
            return {spec.name: (scores[:, i] > 0).astype(np.int64) for i, spec in enumerate(self.attributes)}
        return {self.attributes[0].name: scores.argmax(axis=1).astype(np.int64)}

    def confusion_counts(self) -> tuple[dict[str, np.ndarray], str]:
        counts = {name: np.asarray(v["confusion"], dtype=np.int64) for name, v in self.heldout.items()
                  if isinstance(v, dict) and "confusion" in v}
        return counts, ("held-out split stored in the checkpoint at training time" if counts
                        else "checkpoint stores no held-out confusion counts")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "path": self.path, "mode": self.mode}


def create(arg: str | None = None, device: torch.device = CPU) -> AttributeExtractor:
    """The registry's factory for ``classifier`` (registered by name in :mod:`gan_eval.attributes.base`)."""
    if not arg:
        raise GanEvalError("the classifier attribute extractor needs a checkpoint: classifier:PATH.safetensors "
                           "(or --classifier PATH)")
    return ClassifierAttributes(arg, device)


# --- training --------------------------------------------------------------------------------------


FILE_COLUMNS = ("file", "filename", "image", "image_id")


def read_labels_table(data: str | os.PathLike, labels_csv: str | os.PathLike, what: str = "--labels"
                      ) -> tuple[list[str], int, list[list[str]], list[Path]]:
    """Read a labels CSV next to an image folder: ``(header, file column, data rows, image paths)``.

    The file column is ``file``, ``filename``, ``image`` or ``image_id`` (else the first column); names
    are relative to ``data``. Every row must have the header's width and name an existing image inside
    ``data`` (no absolute paths, ``..`` escapes or symlinks pointing out: the first such row is refused).
    The file must be UTF-8 (a byte-order mark is allowed); anything else is refused naming the line.
    """
    data, labels_csv = Path(data), Path(labels_csv)
    if not data.is_dir():
        raise GanEvalError(f"{data} is not a directory")
    if not labels_csv.is_file():
        raise GanEvalError(f"{what} {labels_csv} does not exist")
    rows = _read_csv_rows(labels_csv)
    root = data.resolve()
    if len(rows) < 2 or len(rows[0]) < 2:
        raise GanEvalError(f"{labels_csv}: needs a header (file column + attribute columns) and at least one row")
    header = [h.strip() for h in rows[0]]
    file_col = next((i for i, h in enumerate(header) if h.lower() in FILE_COLUMNS), 0)
    files: list[Path] = []
    for r, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise GanEvalError(f"{labels_csv} line {r + 2}: {len(row)} fields, header has {len(header)}")
        path = data / row[file_col].strip()
        try:
            inside, exists = path.resolve().is_relative_to(root), path.is_file()
        except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, name too long, link loop (RuntimeError < 3.13)
            raise GanEvalError(f"{labels_csv} line {r + 2}: unusable file name {row[file_col].strip()[:80]!r} "
                               f"({exc})") from None
        if not inside:
            raise GanEvalError(f"{labels_csv} line {r + 2}: {row[file_col].strip()!r} is outside {data}; "
                               f"name images by their path inside that folder")
        if not exists:
            raise GanEvalError(f"{labels_csv} line {r + 2}: image {path} does not exist")
        files.append(path)
    return header, file_col, rows[1:], files


def _read_csv_rows(path: Path) -> list[list[str]]:
    """The rows of a UTF-8 CSV; undecodable bytes or a malformed row are one line naming the file and line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise GanEvalError(f"{path} line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                           f"save the CSV as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise GanEvalError(f"{path} line {reader.line_num}: not a valid CSV row ({exc})") from None


def read_labels(data: str | os.PathLike, labels_csv: str | os.PathLike) -> tuple[list[Path], list[str], np.ndarray]:
    """Validate and read ``labels.csv``: a file-name column then one 0/1 column per attribute.

    ``-1`` is read as 0 (CelebA's ``list_attr_celeba`` convention).
    """
    if not Path(data).is_dir():
        raise GanEvalError(f"--data {data} is not a directory")
    header, file_col, rows, files = read_labels_table(data, labels_csv)
    attr_cols = [i for i in range(len(header)) if i != file_col]
    names = [header[i] for i in attr_cols]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise GanEvalError(f"{labels_csv}: attribute column names must be unique and non-empty")
    values = np.zeros((len(rows), len(attr_cols)), dtype=np.float32)
    for r, row in enumerate(rows):
        for j, c in enumerate(attr_cols):
            cell = row[c].strip()
            if cell not in ("0", "1", "-1"):
                raise GanEvalError(f"{labels_csv} line {r + 2}, column {header[c]!r}: expected 0/1 (or -1), got {cell!r}")
            values[r, j] = 1.0 if cell == "1" else 0.0
    if len(files) < 10:
        raise GanEvalError(f"{labels_csv}: {len(files)} labelled images; at least 10 are needed to train and hold out")
    return files, names, values


def _load_images(files: list[Path], channels: int, image_size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    out = torch.empty(len(files), channels, image_size, image_size)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise GanEvalError(f"cannot read image {path}: {exc}".splitlines()[0]) from None
        x = torch.from_numpy(arr).permute(2, 0, 1)[None]
        out[i] = preprocess(x, channels, image_size)[0]
    return out


def train_classifier(data: str | os.PathLike, labels: str | os.PathLike, output: str | os.PathLike, *,
                     epochs: int = 3, batch_size: int = 128, lr: float = 1e-3, image_size: int = 64,
                     channels: int = 3, hidden_dim: int = 64, val_fraction: float = 0.1, seed: int = 0,
                     device: str | torch.device = "cpu", progress: bool = False) -> dict[str, Any]:
    """Train the course's multi-label attribute classifier and write it to ``output`` (atomically).

    Returns a summary with per-attribute held-out accuracy (and the majority-class baseline, so a
    user sees whether the classifier learned anything beyond the base rate).
    """
    output = Path(output)
    if output.suffix != ".safetensors":
        raise GanEvalError(f"classifier checkpoints are written as .safetensors (got {output.name})")
    if not 0.0 < val_fraction < 1.0:
        raise GanEvalError("--val-fraction must be between 0 and 1")
    check_classifier_config({"channels": channels, "hidden_dim": hidden_dim, "image_size": image_size}, "--set")
    files, names, values = read_labels(data, labels)
    device = torch.device(device)
    torch.manual_seed(seed)
    x = _load_images(files, channels, image_size)
    y = torch.from_numpy(values)
    perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(len(files) * val_fraction))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    model = AttributeClassifier(len(names), channels, hidden_dim, image_size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    loss_fn = nn.BCEWithLogitsLoss()
    rng = torch.Generator().manual_seed(seed + 1)
    start = time.time()
    from gan_eval.pipeline import progress_lines

    lines = progress_lines(epochs * len(train_idx), "train classifier", None if progress else False)  # a log: every 10 s
    for epoch in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=rng)]
        total = 0.0
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            if lines is not None:
                lines.update(len(idx))
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            opt.zero_grad()
            loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: train loss {total / max(1, len(order)):.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([(model(x[val_idx[b : b + 256]].to(device)) > 0).cpu() for b in range(0, n_val, 256)]).numpy()
    truth = values[val_idx.numpy()].astype(np.int64)
    heldout: dict[str, Any] = {}
    for j, name in enumerate(names):
        conf = np.bincount(truth[:, j] * 2 + pred[:, j].astype(np.int64), minlength=4).reshape(2, 2)
        base = max(truth[:, j].mean(), 1 - truth[:, j].mean())
        heldout[name] = {"accuracy": float(np.trace(conf) / n_val), "majority_baseline": float(base),
                         "n": int(n_val), "confusion": conf.tolist()}
    meta = {
        "format": FORMAT, "format_version": "1", "mode": "multilabel", "attributes": json.dumps(names),
        "config": json.dumps({"channels": channels, "hidden_dim": hidden_dim, "image_size": image_size}),
        "heldout": json.dumps(heldout),
        "training": json.dumps({"recipe": "course-c2w2-classifier", "epochs": epochs, "batch_size": batch_size,
                                "lr": lr, "betas": [0.5, 0.999], "loss": "BCEWithLogits", "seed": seed,
                                "n_train": len(train_idx), "n_heldout": int(n_val), "data": str(data),
                                "labels": str(labels), "wall_s": round(time.time() - start, 2),
                                "gan_eval_version": __version__}),
    }
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(output, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=meta)
    return {"path": str(output), "attributes": names, "heldout": heldout, "n_train": len(train_idx),
            "n_heldout": int(n_val)}


# --- the course's pretrained classifier ------------------------------------------------------------

#: CelebA's 40 attributes in the course's index order (C2W2: ``Male`` is 20, ``WearingEarrings`` 34).
CELEBA_ATTRIBUTES = (
    "5oClockShadow", "ArchedEyebrows", "Attractive", "BagsUnderEyes", "Bald", "Bangs", "BigLips", "BigNose",
    "BlackHair", "BlondHair", "Blurry", "BrownHair", "BushyEyebrows", "Chubby", "DoubleChin", "Eyeglasses", "Goatee",
    "GrayHair", "HeavyMakeup", "HighCheekbones", "Male", "MouthSlightlyOpen", "Mustache", "NarrowEyes", "NoBeard",
    "OvalFace", "PaleSkin", "PointyNose", "RecedingHairline", "RosyCheeks", "Sideburn", "Smiling", "StraightHair",
    "WavyHair", "WearingEarrings", "WearingHat", "WearingLipstick", "WearingNecklace", "WearingNecktie", "Young",
)


def import_course_classifier(path: str | os.PathLike, output: str | os.PathLike, names: list[str] | None = None,
                             key: str = "classifier", image_size: int = 64) -> Path:
    """Convert the course's ``{"classifier": state_dict}`` file (e.g. ``pretrained_classifier.pth``) into an
    attribute-classifier checkpoint, read with ``weights_only=True`` (never unpickled).

    The course's layer names (``disc.N.M.*``) are this module's, so the tensors load unchanged; the
    attribute names default to CelebA's 40 in the course's order. The file has no held-out confusion
    counts, so audits with it report uncorrected proportions (and say so).
    """
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refusal or corrupt file: the same user error
        raise GanEvalError(f"cannot read {path} as a plain tensor file: {exc}".splitlines()[0]) from None
    state = obj.get(key, obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanEvalError(f"{path} holds no state dict under {key!r}")
    final = [k for k in state if k.startswith("disc.3.0.weight")]
    if not final:
        raise GanEvalError(f"{path}: not the course classifier (no disc.3.0.weight)")
    n_classes, hidden4 = state[final[0]].shape[:2]
    channels = int(state["disc.0.0.weight"].shape[1])
    names = list(names) if names is not None else list(CELEBA_ATTRIBUTES)
    if len(names) != n_classes:
        raise GanEvalError(f"{path} has {n_classes} outputs but {len(names)} attribute names were given")
    model = AttributeClassifier(n_classes, channels, hidden4 // 4, image_size)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GanEvalError(f"{path}: tensors do not match the course classifier: {str(exc).splitlines()[0]}") from None
    meta = {"format": FORMAT, "format_version": "1", "mode": "multilabel", "attributes": json.dumps(names),
            "config": json.dumps({"channels": channels, "hidden_dim": hidden4 // 4, "image_size": image_size}),
            "heldout": "{}", "training": json.dumps({"recipe": "imported", "source": str(path)})}
    from safetensors.torch import save_file

    output = Path(output)
    with atomic_path(output, suffix=".safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)
    return output


if __name__ == "__main__":  # python -m gan_eval.attributes.classifier course.pth attrs.safetensors
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m gan_eval.attributes.classifier pretrained_classifier.pth attrs.safetensors")
    try:
        print(f"wrote {import_course_classifier(sys.argv[1], sys.argv[2])}")
    except GanEvalError as exc:
        sys.exit(f"error: {exc}")
