"""``--workers N``: image folders decoded through a DataLoader, with the same batches and results for any N."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import gan_eval
from gan_eval import cli
from gan_eval.errors import GanEvalError
from gan_eval.options import SHARED, Options, default_workers
from gan_eval.sources import ArraySource, DirectorySource, SourceOptions, open_source
from gan_eval.testing import write_digits


def batches(source: DirectorySource, n: int, batch_size: int, workers: int) -> list[torch.Tensor]:
    return list(source.iter_batches(n, batch_size, 0, workers=workers))


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 digits in three sub-folders and three PIL modes (grey, RGB, RGBA)."""
    root = tmp_path_factory.mktemp("digits")
    write_digits(root / "a", "train", 100, mode="L")
    write_digits(root / "b", "train", 100, start=100)
    write_digits(root / "c", "heldout", 100, mode="RGBA")
    return root


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mixed sizes inside and across batches, and two unreadable files."""
    root = tmp_path_factory.mktemp("awkward")
    write_digits(root, "train", 50)
    for i in (3, 4, 17, 40):  # a lone odd size, two in a row, one more
        Image.new("RGB", (10 + i, 12), (i, 0, 255 - i)).save(root / f"{i:04d}.png")
    (root / "0020.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "0033.png").write_bytes(b"")
    return root


def reference_decoding(root: Path, n: int) -> list[np.ndarray]:
    """What the folder holds, decoded plainly with PIL in sorted order, bad files left out."""
    images = []
    for path in sorted(root.rglob("*.png"), key=lambda p: p.relative_to(root).as_posix()):
        try:
            with Image.open(path) as img:
                images.append(np.array(img.convert("RGB")).transpose(2, 0, 1))
        except OSError:
            continue
        if len(images) == n:
            break
    return images


def test_batches_are_the_same_for_any_worker_count(digits: Path) -> None:
    expected = torch.from_numpy(np.stack(reference_decoding(digits, 250)))
    runs = {}
    for workers in (0, 1, 2):
        source = DirectorySource(digits)
        got = batches(source, 250, 64, workers)
        assert [b.shape[0] for b in got] == [64, 64, 64, 58], workers
        assert all(b.dtype == torch.uint8 and b.is_contiguous() for b in got)
        assert torch.equal(torch.cat(got), expected), workers
        runs[workers] = (got, dict(source.conversions))
    assert runs[0][1] == runs[2][1] == {"L->RGB": 100, "RGBA->RGB": 50}  # only the images used are counted


def test_mixed_sizes_and_skipped_files_keep_their_batching(awkward: Path) -> None:
    results = {}
    for workers in (0, 2):
        source = DirectorySource(awkward, skip_bad_files=True)
        with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\).*0020.png, 0033.png"):
            got = batches(source, 45, 8, workers)
        results[workers] = got
        assert source.skipped_files == ["0020.png", "0033.png"]
        assert sum(b.shape[0] for b in got) == 45  # two files past the 45th are read to make up for the skipped
    shapes = [tuple(b.shape) for b in results[0]]
    assert shapes == [tuple(b.shape) for b in results[2]]
    # a batch is cut where the size changes: 3 alone, 4 alone (their own sizes), 17 alone, 40 alone
    assert shapes[:4] == [(3, 3, 28, 28), (1, 3, 12, 13), (1, 3, 12, 14), (8, 3, 28, 28)]
    assert (1, 3, 12, 27) in shapes and (1, 3, 12, 50) in shapes
    assert all(torch.equal(a, b) for a, b in zip(results[0], results[2]))
    flat = [img.numpy() for b in results[0] for img in b]
    assert all(np.array_equal(a, b) for a, b in zip(flat, reference_decoding(awkward, 45), strict=True))


def test_features_and_fid_do_not_depend_on_workers(digits: Path, tmp_path: Path) -> None:
    from gan_eval.extractors import create_extractor
    from gan_eval.metrics import MetricOptions
    from gan_eval.pipeline import extract_features

    fe = create_extractor("digits", device=torch.device("cpu"))
    sets = [extract_features(DirectorySource(digits), fe, 300, batch_size=50, workers=w, progress=False)
            for w in (0, 2)]
    assert torch.equal(sets[0].features, sets[1].features)
    assert sets[0].meta["conversions"] == sets[1].meta["conversions"] == {"L->RGB": 100, "RGBA->RGB": 100}

    gen = write_digits(tmp_path / "gen", "train", 150, transform=lambda a: np.roll(a, 2, axis=0))
    results = [gan_eval.evaluate(str(gen), str(digits), ["fid", "kid"], extractor="digits", cache=False,
                                 workers=w, metric_options=MetricOptions(kid_subset_size=100)) for w in (0, 2)]
    assert results[0].metrics == results[1].metrics  # bit for bit: fid, kid_mean, kid_std
    assert results[0]["fid"] > 0


@pytest.mark.filterwarnings("ignore:FID from 40 samples")
def test_workflows_pass_the_worker_count_to_both_sides(digits: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []
    original = DirectorySource.iter_batches

    def recording(self, *args, **kwargs):
        seen.append((self.root.name, kwargs.get("workers", 0)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DirectorySource, "iter_batches", recording)
    gen = write_digits(tmp_path / "gen", "train", 40)
    gan_eval.evaluate(str(gen), str(digits), ["fid"], extractor="digits", cache=False, workers=3, num_real=40)
    assert sorted(seen) == sorted([("gen", 3), (digits.name, 3)])
    seen.clear()
    gan_eval.compute_statistics(str(digits), tmp_path / "s.npz", extractor="digits", cache=False, workers=0,
                                num_samples=40)
    assert seen == [(digits.name, 0)]


def test_unreadable_file_is_the_same_one_line_error(awkward: Path) -> None:
    messages = []
    for workers in (0, 2):
        source = DirectorySource(awkward)
        seen = []
        with pytest.raises(GanEvalError) as caught:
            for batch in source.iter_batches(50, 8, 0, workers=workers):
                seen.append(batch.shape[0])
        messages.append(str(caught.value))
        assert seen == [3, 1, 1, 8, 4, 1], workers  # raised where the file is reached, after the batches before it
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"cannot read image {awkward / '0020.png'}: ")
    assert messages[0].endswith("(use --skip-bad-files to skip unreadable files)") and "\n" not in messages[0]


def test_a_crashing_worker_ends_in_one_error_not_a_hang(awkward: Path) -> None:
    script = textwrap.dedent(f"""
        import os, sys
        import gan_eval.sources as sources
        from gan_eval.errors import GanEvalError

        decode = sources.decode_image_file
        def crash_on_one(path):
            if str(path).endswith("0010.png"):
                os._exit(7)  # as a segfault or the OOM killer would end it
            return decode(path)
        sources.decode_image_file = crash_on_one  # workers are forked from here, so they see it
        try:
            for _ in sources.DirectorySource({str(awkward)!r}).iter_batches(12, 4, 0, workers=2):
                pass
        except GanEvalError as exc:
            print("ERROR", exc)
            sys.exit(0)
        sys.exit(5)
    """)
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the crash is injected through fork")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(f"ERROR an image-decoding worker process stopped while reading {awkward} (DataLoader worker")
    assert line.endswith("rerun with --workers 0 to decode in the main process")


def test_stopping_early_shuts_the_workers_and_leaves_the_global_rng(digits: Path) -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    iterator = DirectorySource(digits).iter_batches(300, 10, 0, workers=2)
    first = next(iterator)
    iterator.close()
    assert first.shape == (10, 3, 28, 28)
    assert multiprocessing.active_children() == []
    assert torch.equal(torch.get_rng_state(), state)  # the DataLoader draws from its own generator


def test_other_sources_ignore_workers(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)
    source = ArraySource(images, "array")
    assert torch.equal(torch.cat(list(source.iter_batches(10, 4, 0, workers=3))), torch.from_numpy(images))
    generated = open_source("toy_generators:resample_digits", SourceOptions())
    a = torch.cat(list(generated.iter_batches(8, 4, 1, workers=2)))
    assert torch.equal(a, torch.cat(list(generated.iter_batches(8, 4, 1))))


def test_workers_option_default_validation_and_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert Options().workers == SHARED["workers"].default == default_workers()
    assert default_workers() == max(1, min(4, len(os.sched_getaffinity(0))))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert default_workers() == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert default_workers() == 1
    for bad in (-1, 1.5, True):
        with pytest.raises(GanEvalError, match="--workers"):
            Options(workers=bad)
    assert Options.split(None, {"workers": 0})[0].workers == 0

    for command in ("evaluate", "fid", "stats", "compare", "sweep", "audit"):
        assert "--workers" in CliRunner().invoke(cli.main, [command, "--help"]).output, command
    calls = {}

    def fake(real, output, options, **kwargs):
        calls["options"] = options
        raise GanEvalError("captured")

    monkeypatch.setattr("gan_eval.api.compute_statistics", fake)
    out = CliRunner().invoke(cli.main, ["stats", "--real", "r", "-o", "s.npz", "--workers", "3"])
    assert out.exit_code == 1 and calls["options"].workers == 3
    out = CliRunner().invoke(cli.main, ["stats", "--real", "r", "-o", "s.npz", "--workers", "-1"])
    assert out.exit_code == 2 and "--workers" in out.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batches_are_pinned_and_results_unchanged(digits: Path) -> None:
    from gan_eval.extractors import create_extractor
    from gan_eval.pipeline import extract_features

    got = list(DirectorySource(digits).iter_batches(100, 32, 0, workers=2, pin_memory=True))
    assert all(b.is_pinned() for b in got)
    fe = create_extractor("digits", device=torch.device("cuda"))
    sets = [extract_features(DirectorySource(digits), fe, 300, batch_size=64, workers=w, progress=False)
            for w in (0, 2)]
    assert sets[0].features.device.type == "cuda" and torch.equal(sets[0].features, sets[1].features)
    stats = json.dumps(sets[0].meta["conversions"])
    assert stats == json.dumps(sets[1].meta["conversions"])
