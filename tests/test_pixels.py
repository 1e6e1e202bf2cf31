"""Correct pixels for every PIL mode, and bounded folders and array files (issue 11, points 2 and 3).

Each mode's image is written with PIL and decoded as a folder's file would be; the expected ``uint8``
array is written out by hand from the README's table, not computed by the code under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist
from gan_eval.sources import (
    MAX_ARRAY_BYTES,
    MAX_IMAGE_PIXELS,
    DirectorySource,
    PixelValueError,
    SourceOptions,
    decode_image_file,
    load_image_array,
    open_source,
)
from gan_eval.testing import write_digits

REPO = Path(__file__).resolve().parents[1]


def rgb(grey: np.ndarray) -> np.ndarray:
    """A grey ``H×W`` array repeated to ``H×W×3``."""
    return np.repeat(np.asarray(grey, np.uint8)[:, :, None], 3, axis=2)


def decoded(path: Path) -> tuple[np.ndarray, str]:
    image, mode = decode_image_file(path)
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    return image.permute(1, 2, 0).numpy(), mode


# --- one case per mode: (file name, PIL image, expected H×W×3 uint8, tolerance) -------------------------

GREY = np.array([[0, 1, 127], [128, 254, 255]], np.uint8)
SIXTEEN = np.array([[0, 128, 129], [257 * 100, 65534, 65535]], np.uint16)  # 128/257 → 0, 129/257 → 1
SIXTEEN_AS_8 = np.array([[0, 0, 1], [100, 255, 255]], np.uint8)
PALETTE = [10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6)


def _palette_image(mode: str) -> Image.Image:
    img = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    img.putpalette(PALETTE)
    if mode == "PA":
        img = img.convert("PA")
        img.putalpha(Image.fromarray(np.array([[0, 50], [100, 255]], np.uint8), "L"))
    return img


def mode_cases() -> list:
    colours = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [12, 34, 56]]], np.uint8)
    alpha = np.array([[0, 10], [200, 255]], np.uint8)
    pal = np.array([[[10, 20, 30], [200, 100, 50]], [[200, 100, 50], [10, 20, 30]]], np.uint8)
    cmyk = np.array([[[255, 0, 0, 0], [0, 0, 0, 255]], [[0, 0, 0, 0], [100, 50, 0, 30]]], np.uint8)
    ycbcr = np.array([[[128, 128, 128], [255, 128, 128]], [[0, 128, 128], [100, 128, 200]]], np.uint8)
    lab = np.array([[[255, 0, 0], [0, 0, 0]]], np.uint8)  # as TIFF stores CIELab: a*, b* signed, 0 neutral
    return [
        pytest.param("one.png", Image.fromarray(np.array([[True, False], [False, True]])),
                     rgb([[255, 0], [0, 255]]), 0, id="1"),
        pytest.param("grey.png", Image.fromarray(GREY, "L"), rgb(GREY), 0, id="L"),
        pytest.param("la.png", Image.fromarray(np.stack([GREY, GREY[::-1]], axis=2), "LA"), rgb(GREY), 0, id="LA"),
        pytest.param("pal.png", _palette_image("P"), pal, 0, id="P"),
        pytest.param("pa.tiff", _palette_image("PA"), pal, 0, id="PA"),
        pytest.param("rgb.png", Image.fromarray(colours, "RGB"), colours, 0, id="RGB"),
        pytest.param("rgba.png", Image.fromarray(np.dstack([colours, alpha]), "RGBA"), colours, 0, id="RGBA"),
        # CMYK: PIL's formula, R = (255 - C)(255 - K) / 255, and so on
        pytest.param("cmyk.tiff", Image.fromarray(cmyk, "CMYK"),
                     np.array([[[0, 255, 255], [0, 0, 0]], [[255, 255, 255], [137, 181, 225]]], np.uint8), 0, id="CMYK"),
        # YCbCr: JPEG's full-range BT.601, R = Y + 1.402 (Cr - 128), G = Y - 0.714 (Cr - 128), B = Y
        pytest.param("ycbcr.tiff", Image.fromarray(ycbcr, "YCbCr"),
                     np.array([[[128, 128, 128], [255, 255, 255]], [[0, 0, 0], [201, 49, 100]]], np.uint8), 1,
                     id="YCbCr"),
        # LAB: L* 100 is white, L* 0 black (PIL's colorimetric conversion)
        pytest.param("lab.tiff", Image.fromarray(lab, "LAB"),
                     np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8), 1, id="LAB"),
        pytest.param("sixteen.png", Image.fromarray(SIXTEEN), rgb(SIXTEEN_AS_8), 0, id="I;16"),
        pytest.param("sixteen_be.tiff", Image.frombytes("I;16B", (3, 2), SIXTEEN.astype(">u2").tobytes()), rgb(SIXTEEN_AS_8), 0,
                     id="I;16B"),
        pytest.param("int32.tiff", Image.fromarray(SIXTEEN.astype(np.int32), "I"), rgb(SIXTEEN_AS_8), 0, id="I"),
        pytest.param("float.tiff", Image.fromarray(np.array([[0.0, 0.5], [0.001, 1.0]], np.float32), "F"),
                     rgb([[0, 128], [0, 255]]), 0, id="F"),
    ]


@pytest.mark.parametrize("name, image, expected, tolerance", mode_cases())
def test_each_mode_decodes_as_the_readme_table_says(tmp_path, name, image, expected, tolerance):
    path = tmp_path / name
    image.save(path)
    with Image.open(path) as reread:
        saved_mode = reread.mode
    assert saved_mode == image.mode  # the file really holds this mode
    got, mode = decoded(path)
    assert mode == saved_mode
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= tolerance, got


@pytest.mark.parametrize("name, image, message", [
    ("over.tiff", Image.fromarray(np.array([[0, 70000]], np.int32), "I"), r"0\.\.65535; this image has 0\.\.70000"),
    ("negative.tiff", Image.fromarray(np.array([[-5, 10]], np.int32), "I"), r"0\.\.65535"),
    ("bright.tiff", Image.fromarray(np.array([[0.0, 255.0]], np.float32), "F"), r"\[0, 1\]; this image has 0\.\.255"),
    ("nan.tiff", Image.fromarray(np.array([[0.0, np.nan]], np.float32), "F"), "NaN"),
])
def test_values_outside_the_scaled_range_are_refused_not_clipped(tmp_path, name, image, message):
    image.save(tmp_path / name)
    with pytest.raises(PixelValueError, match=message):
        decode_image_file(tmp_path / name)
    Image.fromarray(GREY).save(tmp_path / "ok.png")
    Image.fromarray(GREY).save(tmp_path / "ok2.png")
    with pytest.raises(GanEvalError, match=f"{name}.*never clipped.*--skip-bad-files"):
        torch.cat(list(DirectorySource(tmp_path).iter_batches(3, 8, 0)))


def test_sixteen_bit_folder_counts_its_conversions(tmp_path):
    for i in range(3):
        Image.fromarray(SIXTEEN).save(tmp_path / f"{i}.png")
    Image.fromarray(GREY).save(tmp_path / "3.png")
    source = DirectorySource(tmp_path)
    images = torch.cat(list(source.iter_batches(4, 2, 0)))
    assert torch.equal(images[0], torch.from_numpy(rgb(SIXTEEN_AS_8)).permute(2, 0, 1))
    assert source.conversions == {"I;16->RGB": 3, "L->RGB": 1}


def test_sixteen_bit_copy_of_digits_has_zero_fid(tmp_path):
    """The issue's case: 16-bit PNGs (value × 257) were clipped to white and gave FID 959."""
    eight = write_digits(tmp_path / "eight", "heldout", 200)
    sixteen = tmp_path / "sixteen"
    sixteen.mkdir()
    for i, digit in enumerate(load_mnist("heldout")[0][:200]):
        Image.fromarray(digit.astype(np.uint16) * 257).save(sixteen / f"{i:04d}.png")
    with Image.open(sixteen / "0000.png") as img:
        assert img.mode == "I;16"
    a = torch.cat(list(DirectorySource(eight).iter_batches(200, 100, 0)))
    b = torch.cat(list(DirectorySource(sixteen).iter_batches(200, 100, 0)))
    assert torch.equal(a, b)
    result = gan_eval.evaluate(str(sixteen), str(eight), ["fid"], extractor="digits", cache=False)
    assert abs(result["fid"]) < 1e-3


# --- bounded folders ---------------------------------------------------------------------------------


@contextlib.contextmanager
def no_hang(seconds: int = 60):
    """Fail (instead of hanging the suite) if the body blocks, e.g. on opening a FIFO."""
    def fail(*_):
        raise AssertionError(f"blocked for {seconds} s")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def three_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.fromarray(np.full((4, 4), 60 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_only_regular_files_are_read_and_the_rest_counted(tmp_path):
    folder = three_images(tmp_path / "d")
    os.mkfifo(folder / "pipe.png")
    os.mkfifo(folder / "pipe-not-an-image")
    (folder / "zero.png").symlink_to("/dev/zero")  # a device file: reading it never ends
    (folder / "gone.png").symlink_to(folder / "missing.png")  # a broken link
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "sock.png"))
    except OSError:
        pass  # path too long for a socket on this machine: the other kinds still count
    with no_hang():
        with pytest.warns(UserWarning, match=r"skipped \d entries .* not regular files.*gone.png, pipe.png"):
            source = open_source(str(folder))
        assert [f.rel for f in source.files] == ["0.png", "1.png", "2.png"]
        assert {"pipe.png", "zero.png", "gone.png"} <= set(source.not_regular_files)
        assert "pipe-not-an-image" not in source.not_regular_files
        assert source.content_hash() == DirectorySource(three_images(tmp_path / "plain")).content_hash()
        assert torch.cat(list(source.iter_batches(3, 8, 0))).shape == (3, 3, 4, 4)
    sock.close()


def test_each_real_file_is_read_once_through_links_and_loops(tmp_path):
    folder = three_images(tmp_path / "d")
    (folder / "loop").symlink_to(".")  # a loop: d/loop/loop/... is d again
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")  # a loop through a subfolder
    (folder / "alias.png").symlink_to("1.png")  # a second name for one file
    (folder / "self.png").symlink_to("self.png")  # a link to itself (ELOOP)
    with pytest.warns(UserWarning, match="1 entry .*self.png"):
        source = DirectorySource(folder)
    assert source.length == 3
    assert [f.rel for f in source.files] == ["0.png", "1.png", "2.png"]  # of two names, the first sorted
    assert source.resolve_num_samples(None) == 3


def test_a_link_to_an_outside_folder_is_followed_once(tmp_path):
    outside = three_images(tmp_path / "outside")
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a").symlink_to(outside)
    (folder / "b").symlink_to(outside)
    source = DirectorySource(folder)
    assert [f.rel for f in source.files] == ["a/0.png", "a/1.png", "a/2.png"]


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit grey PNG whose header claims ``width×height``: a few hundred bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(20000, 20000), (10000, 9000)])  # over PIL's 2× limit; just over 1×
def test_pixel_limit_is_one_line_naming_the_file_or_a_counted_skip(tmp_path, width, height):
    assert width * height > MAX_IMAGE_PIXELS
    folder = three_images(tmp_path / "d")
    (folder / "0-bomb.png").write_bytes(bomb_png(width, height))
    assert (folder / "0-bomb.png").stat().st_size < 1000
    with pytest.raises(GanEvalError) as info:
        torch.cat(list(open_source(str(folder)).iter_batches(4, 8, 0)))
    message = str(info.value)
    assert "\n" not in message and "0-bomb.png" in message and f"{MAX_IMAGE_PIXELS:,}" in message
    assert "--skip-bad-files" in message
    source = open_source(str(folder), SourceOptions(skip_bad_files=True))
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\).*bomb.png"):
        images = torch.cat(list(source.iter_batches(3, 8, 0)))
    assert images.shape[0] == 3 and source.skipped_files == ["0-bomb.png"]


def test_pixel_limit_from_the_command_line(tmp_path):
    folder = tmp_path / "d"
    write_digits(folder, "heldout", 20)
    (folder / "0-bomb.png").write_bytes(bomb_png(20000, 20000))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "gan_eval", "evaluate", "--gen", str(folder), "--real", "builtin:mnist-heldout",
            "--extractor", "digits", "--metrics", "fid", "--num-real", "100", "--no-cache"]
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "0-bomb.png" in proc.stderr and "limit" in proc.stderr
    proc = subprocess.run([*args, "--skip-bad-files"], check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 unreadable" in proc.stderr and "Traceback" not in proc.stderr


# --- array files: the header is checked before allocating -----------------------------------------------


def npy_bytes(shape: tuple[int, ...], dtype: str = "|u1", data: bytes = b"") -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def write_npz(path: Path, member: bytes, name: str = "images.npy") -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, member)
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
@pytest.mark.parametrize("shape, dtype, data, message", [
    ((1 << 40, 64, 64, 3), "|u1", b"", "over the limit of 8 GiB"),
    ((100_000, 3, 256, 256), "|u1", b"", "over the limit of 8 GiB"),  # 18 GiB
    ((10, 8, 8, 3), "|u1", b"\0" * 5, "truncated: its header claims 1,920 bytes of pixels, it holds 5"),
    ((0, 8, 8, 3), "|u1", b"", "empty"),
    ((4, 8, 8, 3), "<f4", b"\0" * 4 * 768, "must be uint8, got float32"),
    ((4, 8, 8, 3), "|O", b"", "must be uint8, got object"),
])
def test_array_headers_are_checked_before_allocating(tmp_path, suffix, shape, dtype, data, message):
    path = tmp_path / f"images{suffix}"
    member = npy_bytes(shape, dtype, data)
    path.write_bytes(member) if suffix == ".npy" else write_npz(path, member)
    with pytest.raises(GanEvalError, match=message) as info:
        open_source(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_array_limits_and_good_files(tmp_path):
    assert MAX_ARRAY_BYTES == 8 * 1024 ** 3
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    np.save(tmp_path / "f.npy", np.asfortranarray(images))
    np.savez_compressed(tmp_path / "c.npz", images=images)
    np.savez(tmp_path / "two.npz", a=images, b=images)
    assert np.array_equal(load_image_array(tmp_path / "f.npy"), images)
    assert np.array_equal(load_image_array(tmp_path / "c.npz"), images)
    with pytest.raises(GanEvalError, match="several arrays"):
        load_image_array(tmp_path / "two.npz")
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(GanEvalError, match="cannot read array file"):
        load_image_array(tmp_path / "junk.npy")
    write_npz(tmp_path / "junk.npz", b"garbage")
    with pytest.raises(GanEvalError, match="cannot read array file"):
        load_image_array(tmp_path / "junk.npz")
