"""Image sources: everything that can be evaluated, turned into batches of ``uint8`` ``N×3×H×W`` images.

Kinds: a directory of images (recursive), a ``.npz``/``.npy`` uint8 array, ``builtin:NAME``, a
``package.module:function`` returning a generator object, and — from Python — in-memory tensors,
arrays and DataLoaders. :func:`open_source` resolves a spec through the source-resolver registry
(:data:`SOURCE_RESOLVERS`, entry-point group :data:`GENERATORS_GROUP`), tried in priority order. The
core registers the kinds above; generator checkpoints (``.safetensors``, ``.pt``, ``builtin:dcgan``,
…) arrive from the generators package, which registers its own resolver through that entry-point
group — the core never imports it. A resolver may return a :class:`Source` or an
:class:`OpenedGenerator`, which the core wraps (image-to-image models around their ``--source``).

Conversions, recorded in ``Source.conversions``: grey is repeated to RGB, an alpha channel is
dropped (as PIL's ``convert("RGB")`` and torch-fidelity do). Mixed image sizes are allowed: each
image reaches the extractor at its native size and the extractor resizes it (no crop); a batch is
cut where the size changes, so results do not depend on how sizes are mixed. Image folders are
decoded through a ``DataLoader`` (``--workers N`` processes, 0: the main process); the batches do
not depend on N.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import re
import stat
import warnings
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from gan_eval.distributed import Shard
from gan_eval.errors import GanEvalError
from gan_eval.models import Generator, draw_labels, generator_kind, has_latents
from gan_eval.registry import Registry

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Extensions of lossy-compressed images, warned about once per folder (torch-fidelity's ``samples_ext_lossy``).
LOSSY_EXTENSIONS = (".jpg", ".jpeg")
DEFAULT_GENERATOR_SAMPLES = 10_000
BUILTINS = {"mnist": "all", "mnist-train": "train", "mnist-heldout": "heldout"}

#: What ``package.module:function`` must return (see :mod:`gan_eval.models`); the old name, kept.
SampleableGenerator = Generator


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] | None) -> torch.Tensor:
    """Quantise images to ``uint8`` (round to nearest, clamp) and bring them to ``N×3×H×W``.

    ``value_range`` is required for float input; ``uint8`` input must not pass one other than (0, 255).
    NaN or infinite values are an error, never silently clamped.
    """
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise GanEvalError(f"expected images N×C×H×W, got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise GanEvalError(f"images must be uint8 or float, got {images.dtype}")
        if value_range is None:
            raise GanEvalError("float images need a declared value range, e.g. value_range=(-1, 1)")
        if not torch.isfinite(images).all():
            bad = int((~torch.isfinite(images)).sum())
            raise GanEvalError(f"generator output contains {bad} NaN or infinite values")
        lo, hi = float(value_range[0]), float(value_range[1])
        if not hi > lo:
            raise GanEvalError(f"invalid value range {value_range}")
        images = ((images.float() - lo) * (255.0 / (hi - lo))).round_().clamp_(0, 255).to(torch.uint8)
    channels = images.shape[1]
    if channels == 1:
        images = images.expand(-1, 3, -1, -1)
    elif channels == 4:
        images = images[:, :3]
    elif channels != 3:
        raise GanEvalError(f"images have {channels} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA)")
    return images.contiguous()


class Source(ABC):
    """A finite or endless supply of images.

    ``length`` is ``None`` for endless sources (generators). ``content_hash`` identifies the exact
    pixels for caching, or is ``None`` when the source cannot be hashed (generators, loaders).
    """

    description: str = ""
    kind: str = ""

    def __init__(self) -> None:
        self.conversions: Counter[str] = Counter()
        self.skipped_files: list[str] = []

    @property
    @abstractmethod
    def length(self) -> int | None: ...

    @abstractmethod
    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        """Yield ``uint8`` ``N×3×H×W`` batches, ``num_samples`` images in all.

        ``workers`` (processes decoding files ahead of the caller) and ``pin_memory`` (page-locked
        batches for a CUDA extractor) are hints for sources that decode files (directories); the
        others accept and ignore them. Neither may change the images. ``shard`` (several processes,
        :mod:`gan_eval.distributed`): yield only this rank's global batches ``rank, rank+world, …``, in
        order, each exactly the batch one process would make (None: every batch).
        """

    def content_hash(self) -> str | None:
        return None

    def resolve_num_samples(self, num_samples: int | None) -> int:
        """The number of images to draw; all of a finite source by default."""
        if self.length is None:
            n = DEFAULT_GENERATOR_SAMPLES if num_samples is None else int(num_samples)
        elif num_samples is None:
            n = self.length
        elif num_samples > self.length:
            raise GanEvalError(f"--num-samples {num_samples} is larger than {self.description}, which has {self.length} images")
        else:
            n = int(num_samples)
        if n < 2:
            raise GanEvalError(f"{self.description} gives {n} image(s); at least 2 are needed")
        return n


class ArraySource(Source):
    """Images held in memory: ``N×H×W`` grey, ``N×H×W×C`` or ``N×C×H×W`` (C in 1, 3, 4)."""

    kind = "array"

    def __init__(self, array: np.ndarray | torch.Tensor, description: str, value_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        if isinstance(array, np.ndarray):
            array = np.array(array) if not array.flags.writeable else np.ascontiguousarray(array)
        tensor = array if isinstance(array, torch.Tensor) else torch.from_numpy(array)
        tensor = tensor.detach()  # stays on its device: CUDA batches reach a CUDA extractor without a round trip
        if tensor.dim() == 4 and tensor.shape[-1] in (1, 3, 4) and tensor.shape[1] not in (1, 3, 4):
            tensor = tensor.permute(0, 3, 1, 2)  # NHWC -> NCHW
        elif tensor.dim() not in (3, 4):
            raise GanEvalError(f"{description}: expected images N×H×W, N×H×W×C or N×C×H×W, got shape {tuple(tensor.shape)}")
        if tensor.dtype != torch.uint8 and value_range is None:
            raise GanEvalError(f"{description}: arrays must be uint8 (got {tensor.dtype}); pass a value range for float images")
        channels = tensor.shape[1] if tensor.dim() == 4 else 1
        if channels not in (1, 3, 4):
            raise GanEvalError(f"{description}: images have {channels} channels; expected 1, 3 or 4")
        if channels == 1:
            self.conversions["grey->rgb"] = int(tensor.shape[0])
        elif channels == 4:
            self.conversions["rgba->rgb (alpha dropped)"] = int(tensor.shape[0])
        self.tensor = tensor
        self.value_range = value_range
        self.description = description

    @property
    def length(self) -> int:
        return int(self.tensor.shape[0])

    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        for index in (shard or Shard()).batch_indices(num_samples, batch_size):
            start = index * batch_size
            yield to_uint8(self.tensor[start : min(start + batch_size, num_samples)], self.value_range)

    def content_hash(self) -> str:
        digest = hashlib.sha256(f"array:{tuple(self.tensor.shape)}:{self.tensor.dtype}:{self.value_range}".encode())
        digest.update(self.tensor.cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


@dataclass
class _ImageFile:
    path: Path
    rel: str


#: What PIL raises for a file it cannot read (UnidentifiedImageError is an OSError); anything else is a bug.
#: :class:`ImageTooLargeError` and :class:`PixelValueError` are ValueErrors, so they are among them.
UNREADABLE_IMAGE_ERRORS = (OSError, ValueError, SyntaxError)

#: The most pixels (width × height) an image file may have: PIL's own decompression-bomb limit
#: (``PIL.Image.MAX_IMAGE_PIXELS``' default), checked from the header before any pixel is decoded.
MAX_IMAGE_PIXELS = 89_478_485

#: PIL modes read as 16-bit integers: values ``0..65535`` scaled to ``0..255`` (``value * 255 / 65535``, rounded).
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;16LS", "I;16BS")


class ImageTooLargeError(ValueError):
    """An image whose header claims more than :data:`MAX_IMAGE_PIXELS` pixels (a decompression bomb)."""


class PixelValueError(ValueError):
    """A 16-bit or float image with values outside the range gan-eval scales from (never clipped)."""


def rgb_pixels(img: Any) -> np.ndarray:
    """A PIL image as a writable ``uint8`` ``H×W×3`` array, by the per-mode rules of the README table.

    16-bit modes (:data:`SIXTEEN_BIT_MODES`) are scaled from ``0..65535`` and float (``F``) from
    ``0..1`` to ``0..255`` with rounding, never clipped: a value outside that range raises
    :class:`PixelValueError`, since any fixed clip or guess would silently change the pixels. Every
    other mode (``1``, ``L``, ``LA``, ``P``, ``PA``, ``RGBA``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, …)
    goes through PIL's ``convert("RGB")``: grey repeated, alpha dropped, palettes looked up, the
    colour spaces converted by PIL's formulas.
    """
    mode = img.mode
    if mode in SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(img)
        if mode == "F":
            grey = values.astype(np.float64)
            finite = np.isfinite(grey)
            if not finite.all() or grey.min() < 0 or grey.max() > 1:
                raise PixelValueError(f"float (mode F) pixel values must lie in [0, 1]; this image has "
                                      f"{_value_span(grey, finite)} (they are scaled, never clipped)")
            grey = np.rint(grey * 255.0).astype(np.uint8)
        else:
            wide = values.astype(np.int64)
            if wide.min() < 0 or wide.max() > 65535:
                raise PixelValueError(f"16-bit (mode {mode}) pixel values must lie in 0..65535; this image has "
                                      f"{int(wide.min())}..{int(wide.max())} (they are scaled, never clipped)")
            grey = ((wide * 255 + 32767) // 65535).astype(np.uint8)  # value * 255 / 65535, rounded (no ties)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.array(img if mode == "RGB" else img.convert("RGB"))  # a writable copy, owned by the caller


def _value_span(values: np.ndarray, finite: np.ndarray) -> str:
    if not finite.any():
        return "no finite values"
    span = f"{values[finite].min():g}..{values[finite].max():g}"
    return span if finite.all() else f"{span} and {int((~finite).sum())} NaN or infinite value(s)"


def decode_image_file(path: str | os.PathLike) -> tuple[torch.Tensor, str]:
    """One image file as ``uint8`` ``3×H×W`` (converted by :func:`rgb_pixels`) and its PIL mode.

    The size in the header is checked against :data:`MAX_IMAGE_PIXELS` before decoding
    (:class:`ImageTooLargeError`). Raises what PIL raises for an unreadable file (see
    :data:`UNREADABLE_IMAGE_ERRORS`).
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit, checked below
        try:
            img = Image.open(path)
        except Image.DecompressionBombError as exc:
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(claimed.group(1)):,} pixels" if claimed else "too many pixels"
            raise ImageTooLargeError(f"image has {size}, over the limit of {MAX_IMAGE_PIXELS:,} "
                                     f"(a decompression bomb?)") from None
    with img:
        width, height = img.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLargeError(f"image is {width}×{height} = {width * height:,} pixels, over the limit of "
                                     f"{MAX_IMAGE_PIXELS:,} (a decompression bomb?)")
        mode = img.mode
        array = rgb_pixels(img)
    return torch.from_numpy(array).permute(2, 0, 1), mode


def list_image_files(root: Path) -> tuple[list[_ImageFile], list[str]]:
    """The image files under ``root`` to read, sorted by relative path, and the image names skipped.

    Only regular files are listed; an image-named FIFO, socket, device file, broken link or link
    loop is never opened (it could block forever) and is returned in the second list, by relative
    path. Symbolic links are followed, but each real file and each real directory is visited once
    (by device and inode), so a link to a folder already seen, or a loop, adds nothing; of several
    names for one file the first in sorted order is kept. Hidden files (``.name``) are ignored.
    """
    def is_image(name: str) -> bool:
        return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")

    root_stat = os.stat(root)
    seen_dirs = {(root_stat.st_dev, root_stat.st_ino)}
    found: list[tuple[str, Path, tuple[int, int]]] = []
    skipped: list[str] = []
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            skipped.append(prefix or ".")  # an unreadable folder: counted, not silently empty
            continue
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                info = entry.stat()  # follows links, never opens the file
            except OSError:  # a broken link, or a link loop (ELOOP)
                if is_image(entry.name):
                    skipped.append(rel)
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key not in seen_dirs:
                    seen_dirs.add(key)
                    subdirs.append((Path(entry.path), rel + "/"))
            elif is_image(entry.name):
                if stat.S_ISREG(info.st_mode):
                    found.append((rel, Path(entry.path), (info.st_dev, info.st_ino)))
                else:
                    skipped.append(rel)
        pending.extend(reversed(subdirs))  # depth first, in name order
    files: list[_ImageFile] = []
    seen_files: set[tuple[int, int]] = set()
    for rel, path, key in sorted(found):
        if key not in seen_files:
            seen_files.add(key)
            files.append(_ImageFile(path, rel))
    return files, sorted(skipped)


@dataclass
class DecodedChunk:
    """Consecutive files of a :class:`DirectorySource`, decoded together (in a worker process or not).

    ``modes`` and ``errors`` have one entry per file, in file order: the file's PIL mode, or None when
    it could not be read, with the first line of the reason in ``errors``. ``runs`` holds the readable
    images stacked ``N×3×H×W`` by runs of equal size, in file order: one tensor per run, so a worker
    hands over a few tensors (not one per image) and a folder of one size gives one per chunk.
    """

    runs: list[torch.Tensor]
    modes: list[str | None]
    errors: list[str | None]

    def pin_memory(self) -> DecodedChunk:
        """The same chunk with its images in page-locked memory (called by the DataLoader on CUDA)."""
        return DecodedChunk([run.pin_memory() for run in self.runs], self.modes, self.errors)


class DirectoryDecoding(torch.utils.data.Dataset):
    """A map-style dataset over image files in chunks: item ``k`` decodes files ``[k·chunk, (k+1)·chunk)``.

    Unreadable files are reported in the chunk, never raised, so :meth:`DirectorySource.iter_batches`
    raises (or skips) them in file order with the same message whichever process decoded them.
    """

    def __init__(self, paths: list[Path], chunk: int) -> None:
        self.paths = paths
        self.chunk = max(1, int(chunk))

    def __len__(self) -> int:
        return (len(self.paths) + self.chunk - 1) // self.chunk

    def __getitem__(self, index: int) -> DecodedChunk:
        runs: list[list[torch.Tensor]] = []
        modes: list[str | None] = []
        errors: list[str | None] = []
        for path in self.paths[index * self.chunk:(index + 1) * self.chunk]:
            try:
                image, mode = decode_image_file(path)
            except UNREADABLE_IMAGE_ERRORS as exc:
                modes.append(None)
                errors.append((str(exc).splitlines() or [""])[0] or type(exc).__name__)
                continue
            if not runs or runs[-1][0].shape != image.shape:
                runs.append([])
            runs[-1].append(image)
            modes.append(mode)
            errors.append(None)
        return DecodedChunk([_stack(run) for run in runs], modes, errors)


def _stack(images: list[torch.Tensor]) -> torch.Tensor:
    """Images of one size as one contiguous ``N×3×H×W`` tensor.

    In a worker, ``default_collate`` writes it straight into shared memory (one copy less on the way
    to the main process). In the main process numpy copies on one thread: torch's multi-threaded copy
    waits for cores that the forward pass (or another process) holds, 2-4× slower on a busy 2-core
    machine.
    """
    if torch.utils.data.get_worker_info() is not None:
        return torch.utils.data.default_collate(images)
    out = np.empty((len(images), *images[0].shape), dtype=np.uint8)  # C order: contiguous N×3×H×W
    return torch.from_numpy(np.stack([image.numpy() for image in images], out=out))


def _join(segments: list[tuple[torch.Tensor, int, int]], pin_memory: bool) -> torch.Tensor:
    """One batch from ``(run, start, stop)`` slices: a whole run as it is (already pinned), else a copy."""
    if len(segments) == 1:
        run, start, stop = segments[0]
        return run if start == 0 and stop == run.shape[0] else run[start:stop]
    batch = torch.cat([run[start:stop] for run, start, stop in segments])
    return batch.pin_memory() if pin_memory else batch


class DirectorySource(Source):
    """Every image file under a directory (recursive, sorted by relative path, symlinks followed).

    The listing (:func:`list_image_files`) holds regular files only, each real file once; the rest
    is in ``not_regular_files`` (relative paths), with one warning.

    Files are decoded through a ``torch.utils.data.DataLoader``: with ``workers=N`` in N processes
    that decode the next chunks while the caller runs the forward pass, with ``workers=0`` in this
    process. Batches are formed here, in file order, from the decoded chunks, so the batches (and
    every result) are the same for any N.
    """

    kind = "directory"

    def __init__(self, root: str | os.PathLike, skip_bad_files: bool = False) -> None:
        super().__init__()
        self.root = Path(root)
        self.description = f"directory {self.root}"
        if not self.root.is_dir():
            raise GanEvalError(f"{self.root} is not a directory")
        self.skip_bad_files = skip_bad_files
        self.skip_reasons: dict[str, str] = {}  # relative path -> why it could not be read (first line)
        self._skips_warned: set[str] = set()
        self.files, self.not_regular_files = list_image_files(self.root)
        if self.not_regular_files:
            names = self.not_regular_files
            warnings.warn(f"skipped {len(names)} entr{'y' if len(names) == 1 else 'ies'} in {self.root} that "
                          f"are not regular files (FIFO, socket, device, broken link or link loop): "
                          f"{', '.join(names[:5])}{' …' if len(names) > 5 else ''}")
        if not self.files:
            raise GanEvalError(f"{self.root} contains no images ({', '.join(IMAGE_EXTENSIONS)})")
        lossy = sum(item.path.suffix.lower() in LOSSY_EXTENSIONS for item in self.files)
        if lossy:
            # One warning per folder, not per file: JPEG artefacts move features (clean-fid measured FID
            # changing with JPEG quality alone), so numbers are comparable only between the same formats.
            warnings.warn(f"{lossy} of {len(self.files)} images in {self.root} are JPEG: lossy compression shifts "
                          f"FID and the other feature metrics; compare only numbers computed from the same format "
                          f"(PNG for generated samples)")

    @property
    def length(self) -> int:
        return len(self.files)

    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        """Batches of up to ``batch_size`` images in file order, cut where the image size changes.

        With a ``shard`` of several processes this rank reads only its files: the index ranges
        ``[g·batch_size, (g+1)·batch_size)`` of the sorted list for its global batches ``g``. For a
        folder of one image size without unreadable files the batches are exactly one process's;
        with mixed sizes the cuts may fall elsewhere (features equal up to float rounding), and with
        ``skip_bad_files`` a skipped file is not replaced by a later one.

        ``workers`` decoding processes (0: this one) and ``pin_memory`` (page-locked batches, for
        CUDA) change how fast the batches come, never what they hold. An unreadable file raises a
        :class:`GanEvalError` naming it, or with ``skip_bad_files`` is skipped and counted.
        """
        # Without skipping, a bad file ends the run, so no file past the first num_samples is needed.
        files = self.files if self.skip_bad_files else self.files[:num_samples]
        if shard is not None and not shard.is_single:
            files = [item for g in shard.batch_indices(num_samples, batch_size)
                     for item in self.files[g * batch_size:min((g + 1) * batch_size, num_samples)]]
            num_samples = len(files)
            if not files:
                return
        dataset = DirectoryDecoding([item.path for item in files], batch_size)
        # One chunk leaves nothing to decode ahead of the forward pass: a worker would only add its start-up.
        workers = max(0, min(int(workers), len(dataset))) if len(dataset) > 1 else 0
        with warnings.catch_warnings():
            # More workers than cores was asked for explicitly; PyTorch's multi-line advice is noise here.
            warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=None, shuffle=False, num_workers=workers,
                pin_memory=pin_memory, generator=torch.Generator(),  # own generator: leave the global RNG alone
            )
            chunks = self._chunks(iter(loader))
        pending: list[tuple[torch.Tensor, int, int]] = []  # (run, start, stop) slices of the next batch
        pending_n = 0
        try:
            for run, position in self._images(chunks, files, dataset.chunk, num_samples):
                if pending and (pending_n >= batch_size or pending[-1][0].shape[1:] != run.shape[1:]):
                    yield _join(pending, pin_memory)
                    pending, pending_n = [], 0
                if pending and pending[-1][0] is run and pending[-1][2] == position:
                    pending[-1] = (run, pending[-1][1], position + 1)
                else:
                    pending.append((run, position, position + 1))
                pending_n += 1
        finally:
            chunks.close()  # stops the workers: enough images, an error, or the caller stopped early
        if pending:
            yield _join(pending, pin_memory)
        self._warn_skipped()

    def _warn_skipped(self) -> None:
        """One warning for the files skipped that no earlier pass warned about: the count, up to five names
        and the first one's reason (never a line per file or per batch, nor again on a second pass)."""
        new = [rel for rel in dict.fromkeys(self.skipped_files) if rel not in self._skips_warned]
        if not new:
            return
        self._skips_warned.update(new)
        warnings.warn(f"skipped {len(new)} unreadable file(s) in {self.root}: {', '.join(new[:5])}"
                      f"{' …' if len(new) > 5 else ''} ({new[0]}: {self.skip_reasons.get(new[0], 'unreadable')})")

    def _images(self, chunks: Iterator[DecodedChunk], files: list[_ImageFile], chunk_size: int,
                num_samples: int) -> Iterator[tuple[torch.Tensor, int]]:
        """``(run, index)`` of each image to use, in file order, until ``num_samples``.

        Unreadable files are raised or skipped here, and conversions counted here, for the images used
        only, so both are the same whichever process decoded them.
        """
        accepted = 0
        for index, chunk in enumerate(chunks):
            run_index = position = 0
            for offset, mode in enumerate(chunk.modes):
                if accepted >= num_samples:
                    return
                item = files[index * chunk_size + offset]
                if mode is None:
                    if self.skip_bad_files:
                        self.skipped_files.append(item.rel)
                        self.skip_reasons.setdefault(item.rel, chunk.errors[offset] or "unreadable")
                        continue
                    raise GanEvalError(f"cannot read image {item.path}: {chunk.errors[offset]} "
                                       f"(use --skip-bad-files to skip unreadable files)")
                if mode != "RGB":
                    self.conversions[f"{mode}->RGB"] += 1
                run = chunk.runs[run_index]
                yield run, position
                accepted += 1
                position += 1
                if position == run.shape[0]:
                    run_index, position = run_index + 1, 0
            if accepted >= num_samples:
                return  # before waiting for a chunk that is not needed

    def _chunks(self, iterator: Iterator[DecodedChunk]) -> Iterator[DecodedChunk]:
        """The loader's chunks in order; a worker process that dies is a one-line error, not a hang."""
        try:
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                except RuntimeError as exc:
                    if "DataLoader worker" not in str(exc):
                        raise
                    raise GanEvalError(f"an image-decoding worker process stopped while reading {self.root} "
                                       f"({str(exc).splitlines()[0]}); rerun with --workers 0 to decode in "
                                       f"the main process") from None
                yield chunk
        finally:
            del iterator  # shuts the worker processes down now, also when the caller stops early

    def content_hash(self) -> str:
        """SHA-256 over every file's relative path and bytes: any changed, added or removed image changes it."""
        digest = hashlib.sha256(b"directory-v1")
        for item in self.files:
            digest.update(item.rel.encode() + b"\0")
            with open(item.path, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            digest.update(b"\0")
        return digest.hexdigest()


class GeneratorSource(Source):
    """An object with ``sample(n, generator)`` and ``output_range``; endless, seeded, never cached."""

    kind = "generator"

    def __init__(self, model: Any, description: str) -> None:
        super().__init__()
        if not callable(getattr(model, "sample", None)):
            raise GanEvalError(f"{description} has no sample(n, generator) method")
        self.model = model
        self.value_range = getattr(model, "output_range", None)
        self.description = description

    @property
    def length(self) -> None:
        return None

    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        return sample_batches(self.model, num_samples, batch_size, seed, value_range=self.value_range,
                              description=self.description, shard=shard)


def sample_batches(model: Any, num_samples: int, batch_size: int, seed: int, *, label: int | None = None,
                   value_range: tuple[float, float] | None = None, description: str = "generator",
                   shard: Shard | None = None) -> Iterator[torch.Tensor]:
    """The one sampling loop: ``uint8`` ``N×3×H×W`` batches of ``model.sample``, seeded, without gradients.

    All randomness comes from one CPU ``torch.Generator`` seeded with ``seed``, so a seed and a batch
    size give the same images on every run. ``label`` asks a conditional model (``sample(n, generator,
    labels=...)``) for that class only. ``value_range`` defaults to the model's ``output_range``.
    :class:`GeneratorSource` and the per-class workflow both sample through this one loop.

    ``shard`` (several processes): every global batch still draws its noise (and random classes) from
    the one seeded stream, in order, so the union of all ranks' images is exactly one process's; only
    this rank's batches are decoded. Other ranks' draws are skipped with ``latents(n, generator)`` (and
    ``labels(n, generator)`` for a conditional model drawing its own classes) when the model has
    ``latents`` and ``decode``; a model with only ``sample(n, generator)`` is sampled for every batch
    and the others' images discarded — the same images, but no speed-up.
    """
    rng = torch.Generator().manual_seed(seed)
    shard = shard or Shard()
    value_range = getattr(model, "output_range", None) if value_range is None else value_range
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            if not shard.owns(start // batch_size):
                if _skip_draws(model, n, rng, label):
                    continue
                model.sample(n, rng) if label is None else model.sample(
                    n, rng, labels=torch.full((n,), int(label), dtype=torch.long))
                continue
            try:
                if label is None:
                    images = model.sample(n, rng)
                else:
                    images = model.sample(n, rng, labels=torch.full((n,), int(label), dtype=torch.long))
            except (GanEvalError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - the model's own code failed: name it in one line
                raise GanEvalError(f"{description}: sample({n}, generator) raised {type(exc).__name__}: "
                                   f"{(str(exc).splitlines() or [''])[0]}") from None
            if not isinstance(images, torch.Tensor) or images.shape[0] != n:
                raise GanEvalError(f"{description}: sample({n}, generator) must return a tensor of {n} images")
            # Quantised where the model ran: on CUDA the images stay on the device for the extractor.
            yield to_uint8(images.detach(), None if images.dtype == torch.uint8 else value_range)


def _skip_draws(model: Any, n: int, rng: torch.Generator, label: int | None) -> bool:
    """Advance ``rng`` past another rank's batch of ``n`` as ``sample`` would, without decoding.

    False when the model has no ``latents``/``decode`` (the caller then samples and discards).
    """
    if not has_latents(model):
        return False
    model.latents(n, rng)
    if label is None and generator_kind(model) == "conditional":
        labels = getattr(model, "labels", None)
        labels(n, rng) if callable(labels) else draw_labels(model, n, rng)
    return True


def iter_own_batches(source: Source, num_samples: int, batch_size: int, seed: int, shard: Shard | None = None,
                     **hints: Any) -> Iterator[torch.Tensor]:
    """``source``'s batches for ``shard``: through its ``shard`` argument, or (a source of a plug-in
    that has none) every batch read and only this rank's kept — the same batches, no speed-up."""
    import inspect

    if shard is None or shard.is_single:
        return source.iter_batches(num_samples, batch_size, seed, **hints)
    if "shard" in inspect.signature(source.iter_batches).parameters:
        return source.iter_batches(num_samples, batch_size, seed, shard=shard, **hints)
    return shard.own_batches(source.iter_batches(num_samples, batch_size, seed, **hints))


class LoaderSource(Source):
    """Batches from any iterable (e.g. a ``DataLoader``); a batch may be a tensor or ``(images, labels)``."""

    kind = "loader"

    def __init__(self, loader: Iterable, description: str = "data loader", value_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.loader = loader
        self.value_range = value_range
        self.description = description
        try:
            self._length: int | None = len(loader.dataset)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            self._length = None

    @property
    def length(self) -> int | None:
        return self._length

    def resolve_num_samples(self, num_samples: int | None) -> int:
        if num_samples is None and self._length is None:
            raise GanEvalError(f"{self.description} has no known length; pass num_samples")
        return super().resolve_num_samples(num_samples)

    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        """The loader's batches in order; with a ``shard`` every batch is read and only this rank's
        (numbered as the loader gives them) yielded."""
        if shard is not None and not shard.is_single:
            yield from shard.own_batches(self.iter_batches(num_samples, batch_size, seed))
            return
        seen = 0
        for batch in self.loader:
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            batch = to_uint8(batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch)),
                             None if getattr(batch, "dtype", None) == torch.uint8 else self.value_range)
            batch = batch[: num_samples - seen]
            seen += batch.shape[0]
            yield batch
            if seen >= num_samples:
                return
        if seen < num_samples:
            raise GanEvalError(f"{self.description} ran out after {seen} images; {num_samples} were requested")


class TranslatedSource(Source):
    """An image-to-image generator applied to every image of another source (``--source DIR``)."""

    kind = "image2image"

    def __init__(self, model: Any, inputs: Source, description: str) -> None:
        super().__init__()
        self.model = model
        self.inputs = inputs
        self.description = f"{description} applied to {inputs.description}"
        self.conversions = inputs.conversions
        self.skipped_files = inputs.skipped_files

    @property
    def length(self) -> int | None:
        return self.inputs.length

    def iter_batches(self, num_samples: int, batch_size: int, seed: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: Shard | None = None) -> Iterator[torch.Tensor]:
        for batch in iter_own_batches(self.inputs, num_samples, batch_size, seed, shard, workers=workers):
            yield to_uint8(self.model.translate(batch).detach(), self.model.output_range)


# --- resolving user specs ----------------------------------------------------------------------------

_FUNCTION_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass
class SourceOptions:
    """User choices that affect how a spec is opened."""

    skip_bad_files: bool = False
    trust_pickle: bool = False
    value_range: tuple[float, float] | None = None
    truncation: float | None = None  # generator checkpoints: ψ (w_avg_lerp) or threshold (z_truncnorm)
    label: int | None = None  # conditional checkpoints: generate only this class
    translate: Any = None  # image-to-image checkpoints: the source images to translate (a spec)
    device: Any = "cpu"  # where generator checkpoints run


@dataclass
class OpenedGenerator:
    """A generator object a resolver opened: the model, how to name it, and the file it came from.

    The core turns it into a :class:`GeneratorSource` (or, for an image-to-image model, a
    :class:`TranslatedSource` over ``SourceOptions.translate``); workflows that need the model itself
    (sweep, per-class) get it from :func:`open_generator`. ``path`` (a checkpoint file, when there is
    one) lets them hash what was evaluated.
    """

    model: Any
    description: str
    path: Path | None = None


@dataclass(frozen=True)
class SourceResolver:
    """One entry of :data:`SOURCE_RESOLVERS`.

    ``resolve(spec, options)`` returns a :class:`Source`, an :class:`OpenedGenerator`, or None for
    "not mine" (it raises :class:`GanEvalError` for a spec that is its kind but unusable). Resolvers
    are tried by ascending ``priority``, then name. ``builtin_names()`` lists the ``builtin:NAME``
    names this resolver answers, so an unknown builtin's error can list them all.
    """

    resolve: Callable[[Any, SourceOptions], Any]
    priority: int = 50
    builtin_names: Callable[[], list[str]] | None = None


def _check_resolver(name: str, entry: Any) -> None:
    if not isinstance(entry, SourceResolver) or not callable(entry.resolve):
        raise TypeError(f"source resolver {name!r} must be a gan_eval.sources.SourceResolver with a callable resolve")


#: The entry-point group generator plug-ins publish under (the generators package's own ``register()`` too).
GENERATORS_GROUP = "gan_eval.generators"
#: Every source resolver; plug-ins publish a ``register()`` in :data:`GENERATORS_GROUP`.
SOURCE_RESOLVERS: Registry[SourceResolver] = Registry("source", group=GENERATORS_GROUP, validate=_check_resolver)

#: Priorities of the core's resolvers: in-memory objects, MNIST builtins, files and folders, functions.
#: Generator checkpoints (the generators package) sit at 30, before paths (which refuse pickles).
PRIORITY_OBJECTS, PRIORITY_BUILTIN, PRIORITY_CHECKPOINT, PRIORITY_PATH, PRIORITY_FUNCTION = 0, 10, 30, 50, 90


def register_source_resolver(name: str, resolve: Callable[[Any, SourceOptions], Any], *, priority: int = 20,
                             builtin_names: Callable[[], list[str]] | None = None,
                             replace: bool = False) -> SourceResolver:
    """Register ``resolve(spec, options) -> Source | OpenedGenerator | None`` under ``name``.

    The default priority (20) tries it after in-memory objects and MNIST builtins, before generator
    checkpoints, files and ``package.module:function``. ``replace`` re-registers a name (a plug-in's
    ``register()`` may run more than once).
    """
    if not callable(resolve):
        raise TypeError("a source resolver must be callable")
    entry = SourceResolver(resolve, int(priority), builtin_names)
    SOURCE_RESOLVERS.register(name, entry, replace=replace)
    return entry


def source_resolvers() -> list[tuple[str, SourceResolver]]:
    """Every resolver (plug-ins loaded; a failing one is a warning), in the order they are tried."""
    return sorted(SOURCE_RESOLVERS.items(), key=lambda item: (item[1].priority, item[0]))


def builtin_names() -> list[str]:
    """Every ``builtin:NAME`` name the resolvers answer (MNIST splits first, then generators)."""
    names: list[str] = []
    for _name, resolver in source_resolvers():
        if resolver.builtin_names is not None:
            names += [n for n in resolver.builtin_names() if n not in names]
    return names


def resolve_spec(spec: Any, options: SourceOptions | None = None) -> Source | OpenedGenerator:
    """Ask the resolvers, in order, to open ``spec``; the first answer wins."""
    options = options or SourceOptions()
    for _name, resolver in source_resolvers():
        opened = resolver.resolve(spec, options)
        if opened is not None:
            return opened
    if _is_builtin(spec):
        raise GanEvalError(f"unknown builtin {spec.split(':', 1)[1]!r}; available: "
                           f"{', '.join('builtin:' + b for b in builtin_names())}")
    raise GanEvalError(
        f"cannot use {spec!r} as an image source: expected a directory, a .npz/.npy array, builtin:NAME "
        f"({', '.join(BUILTINS)}), or package.module:function"
    )


def open_source(spec: Any, options: SourceOptions | None = None) -> Source:
    """Turn a user spec (string, path, array, tensor, loader, generator object) into a :class:`Source`."""
    options = options or SourceOptions()
    opened = resolve_spec(spec, options)
    if isinstance(opened, Source):
        return opened
    return generator_source(opened, options)


def open_generator(spec: Any, options: SourceOptions | None = None) -> OpenedGenerator | None:
    """The generator object behind ``spec`` (a checkpoint, ``builtin:NAME``, a function, an object), or
    None when ``spec`` is images rather than a generator. Image-to-image models are returned as they
    are (no ``--source`` needed), so a workflow can say why it cannot use them."""
    opened = resolve_spec(spec, options or SourceOptions())
    if isinstance(opened, OpenedGenerator):
        return opened
    if isinstance(opened, GeneratorSource):
        return OpenedGenerator(opened.model, opened.description)
    return None


def generator_source(opened: OpenedGenerator, options: SourceOptions) -> Source:
    """Wrap an opened generator: image-to-image models translate ``options.translate``, others sample."""
    kind = generator_kind(opened.model)
    if kind == "image2image":
        if options.translate is None:
            raise GanEvalError(f"{opened.path or opened.description} is an image-to-image model: pass --source DIR "
                               f"with the images to translate")
        inputs = open_source(options.translate, SourceOptions(skip_bad_files=options.skip_bad_files))
        return TranslatedSource(opened.model, inputs, opened.description)
    if options.translate is not None:
        name = opened.path.name if opened.path is not None else opened.description
        raise GanEvalError(f"--source is only for image-to-image models; {name} is {kind}")
    return GeneratorSource(opened.model, opened.description)


def _resolve_objects(spec: Any, options: SourceOptions) -> Source | OpenedGenerator | None:
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, (torch.Tensor, np.ndarray)):
        return ArraySource(spec, f"in-memory array {tuple(spec.shape)}", options.value_range)
    if isinstance(spec, torch.utils.data.DataLoader):
        return LoaderSource(spec, value_range=options.value_range)
    if not isinstance(spec, (str, os.PathLike)) and callable(getattr(spec, "sample", None)):
        return OpenedGenerator(spec, type(spec).__name__)
    return None


def _is_builtin(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith("builtin:")


def _resolve_builtin(spec: Any, options: SourceOptions) -> Source | None:
    if not _is_builtin(spec):
        return None
    name = spec.split(":", 1)[1]
    if name not in BUILTINS:
        return None  # maybe a plug-in's (a bundled generator); open_source reports unknown names
    from gan_eval.mnist import load_mnist

    images, _labels = load_mnist(BUILTINS[name])
    source = ArraySource(images, spec)
    source.kind = "builtin"
    return source


def _resolve_path(spec: Any, options: SourceOptions) -> Source | None:
    if not isinstance(spec, (str, os.PathLike)) or _is_builtin(spec):
        return None
    path = Path(spec)
    if path.is_dir():
        return DirectorySource(path, skip_bad_files=options.skip_bad_files)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        if not path.is_file():
            raise GanEvalError(f"{path} does not exist")
        return ArraySource(load_image_array(path), f"array file {path}")
    if suffix in (".pkl", ".pickle") and path.is_file() and not options.trust_pickle:
        raise GanEvalError(f"{path} is a pickle, which can run arbitrary code when loaded; it was not opened "
                           f"(pass --trust-pickle only for files you trust)")
    if isinstance(spec, str) and _FUNCTION_SPEC.match(spec) and not path.exists():
        return None  # package.module:function, handled below
    if not path.exists():
        raise GanEvalError(f"{path} does not exist")
    return None


#: The largest image array a ``.npy``/``.npz`` file may hold (its header is checked before allocating).
MAX_ARRAY_BYTES = 8 * 1024 ** 3


def read_npy_header(fp: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The ``(shape, dtype)`` an ``.npy`` stream's header declares, reading the header only.

    ``fp`` is left at the first data byte. Raises ``ValueError`` for a stream that is not ``.npy``.
    """
    import tokenize

    from numpy.lib import format as npy_format

    version = npy_format.read_magic(fp)
    try:
        if version == (1, 0):
            shape, _fortran, dtype = npy_format.read_array_header_1_0(fp)
        else:  # 2.0 and 3.0 share the header layout (3.0 allows UTF-8 field names, absent from plain arrays)
            shape, _fortran, dtype = npy_format.read_array_header_2_0(fp)
    except (tokenize.TokenError, RecursionError, MemoryError) as exc:  # numpy tokenizes the header text first
        raise ValueError(f"the .npy header is not a Python literal ({type(exc).__name__})") from None
    return tuple(int(d) for d in shape), np.dtype(dtype)


def check_array_header(path: Path, shape: tuple[int, ...], dtype: np.dtype, data_bytes: int) -> None:
    """Refuse, before allocating, an image array that is not uint8, empty, over :data:`MAX_ARRAY_BYTES`,
    or longer than the ``data_bytes`` the file holds after its header (truncated)."""
    if dtype != np.uint8:
        raise GanEvalError(f"{path}: image arrays must be uint8, got {dtype}")
    if any(d < 0 for d in shape) or 0 in shape or not shape:
        raise GanEvalError(f"{path}: the image array is empty (shape {shape})")
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise GanEvalError(f"{path}: its header claims an array of shape {shape} ({size / 1024 ** 3:,.1f} GiB), "
                           f"over the limit of {MAX_ARRAY_BYTES // 1024 ** 3} GiB")
    if size > data_bytes:
        raise GanEvalError(f"{path} is truncated: its header claims {size:,} bytes of pixels, it holds {data_bytes:,}")


def load_image_array(path: Path) -> np.ndarray:
    """The uint8 image array of a ``.npy`` file or of the single (or ``images``/``arr_0``) entry of a ``.npz``.

    The header's shape and dtype are checked (:func:`check_array_header`) before the array is read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
            fh.seek(0)
            if not is_zip:
                shape, dtype = read_npy_header(fh)
                check_array_header(path, shape, dtype, os.fstat(fh.fileno()).st_size - fh.tell())
                fh.seek(0)
                return np.lib.format.read_array(fh, allow_pickle=False)
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            keys = list(members)
            key = next((k for k in ("images", "arr_0", "x") if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise GanEvalError(f"{path} holds several arrays ({', '.join(keys)}); name one 'images'"
                                   if keys else f"{path} holds no arrays")
            with archive.open(members[key]) as member:
                shape, dtype = read_npy_header(member)
                check_array_header(path, shape, dtype, archive.getinfo(members[key]).file_size - member.tell())
            with archive.open(members[key]) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
    except GanEvalError:
        raise
    except (ValueError, TypeError, SyntaxError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise GanEvalError(f"cannot read array file {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    if array.dtype != np.uint8:
        raise GanEvalError(f"{path}: image arrays must be uint8, got {array.dtype}")
    return array


def _resolve_function(spec: Any, options: SourceOptions) -> Source | OpenedGenerator | None:
    if not (isinstance(spec, str) and _FUNCTION_SPEC.match(spec)) or _is_builtin(spec):
        return None
    module_name, func_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GanEvalError(f"cannot import {module_name!r} for {spec}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing: their error, one line
        raise GanEvalError(f"importing {module_name!r} for {spec} failed: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise GanEvalError(f"{spec}: {module_name} has no callable {func_name!r}")
    try:
        model = factory()
    except GanEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's factory failed: their error, one line
        raise GanEvalError(f"{spec}() raised {type(exc).__name__}: {exc}") from None
    if isinstance(model, Source):
        return model
    return OpenedGenerator(model, spec)


register_source_resolver("objects", _resolve_objects, priority=PRIORITY_OBJECTS)
register_source_resolver("mnist", _resolve_builtin, priority=PRIORITY_BUILTIN, builtin_names=lambda: list(BUILTINS))
register_source_resolver("path", _resolve_path, priority=PRIORITY_PATH)
register_source_resolver("function", _resolve_function, priority=PRIORITY_FUNCTION)
