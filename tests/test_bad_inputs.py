"""Every bad input ends in one line naming it, the right exit code, no traceback and nothing written (issue 11).

One table of cases. Each case builds its bad input inside its own folder from small valid fixtures
(a 12-digit image folder, a tiny DCGAN checkpoint, a digits statistics file, a result JSON, a labelled
folder and a tiny attribute classifier), runs the CLI in-process with click's CliRunner, and checks:

* the exit code: 1, or 2 for ``gate`` / ``baseline`` and for click's own usage errors;
* stderr holds exactly one line besides ``gan-eval: warning:`` lines, ``gan-eval: error: ...`` (click's
  usage errors: its ``Error: ...`` line), and it carries the expected words and names the input;
* no traceback, no ``internal error`` (a bug);
* nothing written: the files under the case's folder and under the shared fixtures are the same
  before and after (no output, no temp file, no folder made).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_digits
from safetensors.torch import load_file, save_file

from gan_eval import cli

DIGITS = ["--extractor", "digits", "--no-cache"]


# --------------------------------------------------------------------------- shared valid fixtures


@dataclasses.dataclass
class Base:
    """Small valid inputs, made once per module; cases copy or alter them in their own folder."""

    root: Path
    img: Path  # 12 digit PNGs
    ckpt: Path  # tiny DCGAN checkpoint
    ckpt_state: dict[str, torch.Tensor]
    ckpt_meta: dict[str, str]
    stats: Path  # digits statistics of img
    run: Path  # a valid result JSON
    labelled: Path  # 12 digit PNGs named 0000.png ...
    labels: Path  # labels.csv for labelled (file, odd)
    classifier_state: dict[str, torch.Tensor]
    classifier_meta: dict[str, str]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    import gan_eval
    from gan_eval.attributes.classifier import FORMAT, AttributeClassifier
    from gan_eval.generators.checkpoint import save_generator
    from gan_eval.generators.registry import get_arch

    root = tmp_path_factory.mktemp("bad-inputs-base")
    img = write_digits(root / "img", "heldout", 12)
    spec = get_arch("dcgan")
    config = dataclasses.asdict(spec.make_config(spec.tiny))
    ckpt = save_generator(root / "g.safetensors", "dcgan", spec.build(config), config, source="test")
    from safetensors import safe_open

    with safe_open(str(ckpt), framework="pt") as fh:
        ckpt_meta = dict(fh.metadata())
    stats = root / "ref.npz"
    gan_eval.compute_statistics(str(img), stats, extractor="digits", cache=False)
    run = root / "run.json"
    run.write_text(json.dumps({"schema": "gan-eval/result/1", "metrics": {"fid": 10.0}, "provenance": {}}))
    labelled = write_digits(root / "labelled", "train", 12)
    labels = root / "labels.csv"
    labels.write_text("file,odd\n" + "".join(f"{i:04d}.png,{i % 2}\n" for i in range(12)))
    torch.manual_seed(0)
    classifier = AttributeClassifier(2, channels=3, hidden_dim=4, image_size=64)
    classifier_meta = {"format": FORMAT, "format_version": "1", "mode": "multilabel", "attributes": '["a", "b"]',
                       "config": json.dumps({"channels": 3, "hidden_dim": 4, "image_size": 64}), "heldout": "{}"}
    return Base(root, img, ckpt, load_file(str(ckpt)), ckpt_meta, stats, run, labelled, labels,
                {k: v.contiguous() for k, v in classifier.state_dict().items()}, classifier_meta)


@dataclasses.dataclass
class Ctx:
    base: Base
    tmp: Path  # the case's own folder (inputs and outputs)
    monkeypatch: pytest.MonkeyPatch

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def a_file(self) -> Path:
        """An existing plain file, to be used where a folder is expected."""
        return self.file("plain-file", "x")


# --------------------------------------------------------------------------- input builders


def checkpoint(ctx: Ctx, state: dict[str, torch.Tensor] | None = None, **meta: Any) -> Path:
    """The tiny DCGAN checkpoint with metadata fields replaced (values that are not strings become JSON)."""
    fields = {**ctx.base.ckpt_meta, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    fields = {k: v for k, v in fields.items() if v is not None}
    path = ctx.tmp / "bad.safetensors"
    save_file(state if state is not None else ctx.base.ckpt_state, str(path), metadata=fields)
    return path


def config_with(ctx: Ctx, **fields: Any) -> str:
    return json.dumps({**json.loads(ctx.base.ckpt_meta["config"]), **fields})


def fid_gen(path: Any) -> list[str]:
    return ["fid", "--gen", str(path), "-n", "8", "--real", "{img}", *DIGITS]


def fid_real(path: Any, *extra: str) -> list[str]:
    return ["fid", "--gen", "{img}", "--real", str(path), *extra]


def stats_with(ctx: Ctx, **arrays: Any) -> Path:
    """The valid statistics file with arrays replaced (None removes one)."""
    with np.load(ctx.base.stats) as data:
        content = {k: data[k] for k in data.files}
    content.update(arrays)
    path = ctx.tmp / "bad_stats.npz"
    np.savez(path, **{k: v for k, v in content.items() if v is not None})
    return path


def npy_header_only(shape: tuple[int, ...], dtype: str = "|u1", payload: bytes = b"\0" * 64) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width``×``height`` grey pixels (the bytes behind it are a few hundred)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 256)) + chunk(b"IEND", b"")


def folder_with(ctx: Ctx, name: str, content: bytes, keep_digits: int = 0) -> Path:
    folder = write_digits(ctx.tmp / "imgs", "heldout", keep_digits) if keep_digits else ctx.tmp / "imgs"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(content)
    return folder


def user_module(ctx: Ctx, name: str, source: str) -> str:
    (ctx.tmp / f"{name}.py").write_text(source)
    ctx.monkeypatch.syspath_prepend(str(ctx.tmp))
    ctx.monkeypatch.delitem(__import__("sys").modules, name, raising=False)
    return name


def labelled_copy(ctx: Ctx) -> Path:
    """A private copy of the labelled folder (so a case may add a link or a file to it)."""
    folder = ctx.tmp / "data"
    folder.mkdir()
    for path in ctx.base.labelled.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def labels_with(ctx: Ctx, last_row: str | bytes, *, encoding: str = "utf-8") -> Path:
    head = "file,odd\n" + "".join(f"{i:04d}.png,{i % 2}\n" for i in range(11))
    tail = last_row if isinstance(last_row, bytes) else (last_row + "\n").encode(encoding)
    return ctx.file("labels.csv", head.encode() + tail)


def train_classifier(data: Any, labels: Any, *extra: str) -> list[str]:
    return ["train", "classifier", "--data", str(data), "--labels", str(labels), "-o", "{out}/attrs.safetensors",
            "--set", "epochs=1", *extra]


def classifier_file(ctx: Ctx, **meta: Any) -> Path:
    fields = {**ctx.base.classifier_meta, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    path = ctx.tmp / "attrs.safetensors"
    save_file(ctx.base.classifier_state, str(path), metadata=fields)
    return path


def audit(*extra: str) -> list[str]:
    return ["audit", "--gen", "{img}", "--no-walks", "-a", "digits", "-o", "{out}", *extra]


def digit_weights(ctx: Ctx, change: Callable[[dict[str, torch.Tensor]], None], suffix: str = ".pt") -> Path:
    from gan_eval.extractors.digits_net import DigitNet

    state = DigitNet().state_dict()
    change(state)
    path = ctx.tmp / f"digits{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def gate_rules(ctx: Ctx, text: str) -> Path:
    return ctx.file("rules.toml", text)


# --------------------------------------------------------------------------- the cases

Setup = Callable[[Ctx], list[str]]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    code: int = 1
    words: tuple[str, ...] = ()
    usage: bool = False  # click's own usage error (exit 2, "Error: ..." line)


def _pickle_only_pt(ctx: Ctx) -> list[str]:
    import datetime

    torch.save({"format": "gan-eval/generator", "when": datetime.date(2020, 1, 1)}, ctx.tmp / "needs_pickle.pt")
    return fid_gen(ctx.tmp / "needs_pickle.pt")


def _other_config_tensors(ctx: Ctx) -> list[str]:
    from gan_eval.generators.registry import get_arch

    bigger = {k: v.contiguous() for k, v in get_arch("dcgan").build({"z_dim": 8, "hidden_dim": 6}).state_dict().items()}
    return fid_gen(checkpoint(ctx, state=bigger))


def _symlink_out_of_data(ctx: Ctx) -> list[str]:
    data = labelled_copy(ctx)
    (data / "escape.png").symlink_to(ctx.base.img / "0000.png")
    return train_classifier(data, labels_with(ctx, "escape.png,1"))


def _bombs(ctx: Ctx, count: int) -> Path:
    for i in range(count):
        folder = folder_with(ctx, f"bomb{i}.png", png_claiming(60_000, 60_000))
    return folder


def _symlink_loop_in_data(ctx: Ctx) -> list[str]:
    data = labelled_copy(ctx)
    (data / "loop.png").symlink_to(data / "loop.png")
    return train_classifier(data, labels_with(ctx, "loop.png,1"))


def _stats_made_with_digits(ctx: Ctx) -> list[str]:
    ctx.monkeypatch.delenv("GAN_EVAL_WEIGHTS", raising=False)
    return fid_real(ctx.base.stats, "--no-cache")


CASES: list[Case] = [
    # ---- sources: image folders, arrays, module:function, builtin
    Case("folder-missing", lambda c: fid_gen(c.tmp / "nowhere"), words=("nowhere",)),
    Case("folder-empty", lambda c: fid_gen(c.tmp), words=("no images",)),
    Case("folder-no-images", lambda c: fid_gen(folder_with(c, "notes.txt", b"hello")), words=("no images",)),
    Case("folder-corrupt-png", lambda c: fid_gen(folder_with(c, "0000a.png", b"\x89PNG\r\n\x1a\nnot really", 10)),
         words=("0000a.png", "--skip-bad-files")),
    Case("folder-decompression-bomb", lambda c: fid_gen(folder_with(c, "0000a.png", png_claiming(60_000, 60_000), 10)),
         words=("0000a.png", "pixels")),
    Case("folder-only-bombs-skipped",
         lambda c: ["fid", "--gen", str(_bombs(c, 3)), "--real", "{img}", *DIGITS, "--skip-bad-files"],
         words=("imgs", "0 readable")),
    Case("npy-zero-images", lambda c: fid_gen(c.file("zero.npy", npy_header_only((0, 28, 28), payload=b""))),
         words=("zero.npy",)),
    Case("npy-zero-width", lambda c: fid_gen(c.file("flat.npy", npy_header_only((5, 0, 28), payload=b""))),
         words=("flat.npy",)),
    Case("npy-one-image-2d", lambda c: fid_gen(c.file("plane.npy", npy_header_only((28, 28), payload=b"\0" * 784))),
         words=("plane.npy",)),
    Case("npy-header-claims-terabytes",
         lambda c: fid_gen(c.file("huge.npy", npy_header_only((1_000_000, 3, 1024, 1024)))), words=("huge.npy",)),
    Case("npz-header-claims-terabytes",
         lambda c: fid_gen(_zip(c, "huge.npz", {"images.npy": npy_header_only((1_000_000, 3, 1024, 1024))})),
         words=("huge.npz",)),
    Case("npy-truncated", lambda c: fid_gen(c.file("short.npy", npy_header_only((10, 28, 28), payload=b"\0" * 100))),
         words=("short.npy",)),
    Case("npy-object-dtype", lambda c: fid_gen(c.file("obj.npy", npy_header_only((2, 28, 28), "|O"))),
         words=("obj.npy",)),
    Case("npy-float-images", lambda c: fid_gen(c.file("float.npy", npy_header_only((2, 4, 4), "<f4", b"\0" * 128))),
         words=("float.npy", "uint8")),
    Case("npz-not-a-zip", lambda c: fid_gen(c.file("junk.npz", b"PK\x03\x04 then garbage")), words=("junk.npz",)),
    Case("npz-empty", lambda c: fid_gen(_zip(c, "empty.npz", {})), words=("empty.npz",)),
    Case("npz-several-arrays", lambda c: fid_gen(_zip(c, "two.npz", {"a.npy": npy_header_only((1, 2, 2), payload=b"\0" * 4),
                                                                    "b.npy": npy_header_only((1, 2, 2), payload=b"\0" * 4)})),
         words=("two.npz", "several arrays")),
    Case("text-file-as-source", lambda c: fid_gen(c.file("notes.txt", "hello")), words=("notes.txt",)),
    Case("builtin-unknown", lambda c: fid_gen("builtin:nope"), words=("nope",)),
    Case("function-module-missing", lambda c: fid_gen("no_such_module_xyz:make"), words=("no_such_module_xyz",)),
    Case("function-name-missing", lambda c: fid_gen(f"{user_module(c, 'badgen_empty', 'X = 1')}:make"),
         words=("badgen_empty",)),
    Case("function-import-raises", lambda c: fid_gen(f"{user_module(c, 'badgen_boom', 'raise RuntimeError(1 / 0)')}:make"),
         words=("badgen_boom",)),
    Case("function-factory-raises",
         lambda c: fid_gen(f"{user_module(c, 'badgen_factory', 'def make():  raise KeyError(7)')}:make"),
         words=("badgen_factory",)),
    Case("function-returns-no-generator",
         lambda c: fid_gen(f"{user_module(c, 'badgen_none', 'def make():  return 42')}:make"), words=("badgen_none",)),
    # ---- checkpoints
    Case("ckpt-z-dim-1e9", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim=10**9))),
         words=("bad.safetensors", "z_dim", "65536")),
    Case("ckpt-img-size-2-20", lambda c: fid_gen(checkpoint(c, arch="stylegan2", config={"img_size": 2**20})),
         words=("bad.safetensors", "img_size")),
    Case("ckpt-z-dim-bool", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim=True))),
         words=("bad.safetensors", "z_dim")),
    Case("ckpt-z-dim-string", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim="8"))),
         words=("bad.safetensors", "z_dim")),
    Case("ckpt-z-dim-float", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim=8.5))),
         words=("bad.safetensors", "z_dim")),
    Case("ckpt-z-dim-negative", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim=-3))),
         words=("bad.safetensors", "z_dim")),
    Case("ckpt-z-dim-huge-int", lambda c: fid_gen(checkpoint(c, config=config_with(c, z_dim=10**400))),
         words=("bad.safetensors", "z_dim")),
    Case("ckpt-hidden-dim-too-many-parameters", lambda c: fid_gen(checkpoint(c, config=config_with(c, hidden_dim=65536))),
         words=("bad.safetensors", "parameters")),
    Case("ckpt-num-classes-1e7", lambda c: fid_gen(checkpoint(c, arch="cond_dcgan", config={"num_classes": 10**7})),
         words=("bad.safetensors", "num_classes")),
    Case("ckpt-config-is-a-list", lambda c: fid_gen(checkpoint(c, config=[1, 2])), words=("bad.safetensors", "config")),
    Case("ckpt-config-not-json", lambda c: fid_gen(checkpoint(c, config="{z_dim: 8")), words=("bad.safetensors", "config")),
    Case("ckpt-config-unknown-key", lambda c: fid_gen(checkpoint(c, config=config_with(c, hiden_dim=4))),
         words=("bad.safetensors", "hiden_dim")),
    Case("ckpt-io-is-a-list", lambda c: fid_gen(checkpoint(c, io=[1])), words=("bad.safetensors", "io")),
    Case("ckpt-io-range-reversed",
         lambda c: fid_gen(checkpoint(c, io={**json.loads(c.base.ckpt_meta["io"]), "output_range": [1, -1]})),
         words=("bad.safetensors", "output_range")),
    Case("ckpt-provenance-is-a-string", lambda c: fid_gen(checkpoint(c, provenance='"x"')),
         words=("bad.safetensors", "provenance")),
    Case("ckpt-training-is-a-list", lambda c: fid_gen(checkpoint(c, training=[])), words=("bad.safetensors", "training")),
    Case("ckpt-arch-unknown", lambda c: fid_gen(checkpoint(c, arch="nope")), words=("bad.safetensors", "nope")),
    Case("ckpt-arch-version", lambda c: fid_gen(checkpoint(c, arch_version="99")), words=("bad.safetensors", "99")),
    Case("ckpt-not-gan-eval", lambda c: fid_gen(checkpoint(c, format=None)), words=("bad.safetensors", "import")),
    Case("ckpt-tensors-of-another-config", _other_config_tensors, words=("bad.safetensors", "does not match")),
    Case("ckpt-garbage-bytes", lambda c: fid_gen(c.file("junk.safetensors", b"\xff" * 64)), words=("junk.safetensors",)),
    Case("ckpt-pickle-refused", _pickle_only_pt, words=("needs_pickle.pt", "--trust-pickle")),
    Case("ckpt-bare-state-dict", lambda c: (torch.save({"w": torch.zeros(2)}, c.tmp / "bare.pt"), fid_gen(c.tmp / "bare.pt"))[1],
         words=("bare.pt", "gan-eval import")),
    Case("sample-ckpt-z-dim-1e9",
         lambda c: ["sample", "--gen", str(checkpoint(c, config=config_with(c, z_dim=10**9))), "-n", "2", "-o", "{out}/s.png"],
         words=("bad.safetensors", "z_dim")),
    Case("train-gen-config-z-dim-1e9",
         lambda c: ["train", "dcgan", "--steps", "1", "-o", "{out}/g.safetensors", "--gen-config", '{"z_dim": 1000000000}'],
         words=("z_dim", "65536")),
    Case("import-config-hidden-dim-too-many-parameters",
         lambda c: (torch.save({"gen": c.base.ckpt_state}, c.tmp / "course.pth"),
                    ["import", str(c.tmp / "course.pth"), "--arch", "dcgan", "-o", "{out}/g.safetensors",
                     "--config", '{"hidden_dim": 65536}'])[1],
         words=("course.pth", "parameters")),
    # ---- statistics files
    Case("stats-nan", lambda c: fid_real(stats_with(c, mu=np.full(128, np.nan)), *DIGITS), words=("bad_stats.npz",)),
    Case("stats-wrong-sigma-shape", lambda c: fid_real(stats_with(c, sigma=np.eye(3)), *DIGITS), words=("bad_stats.npz",)),
    Case("stats-meta-not-an-object", lambda c: fid_real(stats_with(c, meta=np.array("[1, 2]")), *DIGITS),
         words=("bad_stats.npz",)),
    Case("stats-meta-wrong-type", lambda c: fid_real(stats_with(c, meta=np.array(json.dumps({
        "format": "gan-eval/statistics", "format_version": 1, "extractor": "digits", "feature_dim": "128"}))), *DIGITS),
         words=("bad_stats.npz",)),
    Case("stats-truncated", lambda c: fid_real(c.file("cut.npz", c.base.stats.read_bytes()[:300]), *DIGITS),
         words=("cut.npz",)),
    Case("stats-made-with-digits-used-with-inception", _stats_made_with_digits, words=("--extractor digits",)),
    # ---- the cache
    Case("cache-dir-is-a-file", lambda c: ["fid", "--gen", "{img}", "-n", "8", "--real", "{img}", "--extractor", "digits",
                                           "--cache-dir", str(c.a_file())], code=2, usage=True,
         words=("plain-file",)),
    # ---- output paths
    Case("json-parent-is-a-file", lambda c: [*fid_gen("{img}"), "--json", f"{c.a_file()}/r.json"], words=("plain-file",)),
    Case("json-is-a-folder", lambda c: [*fid_gen("{img}"), "--json", str(c.tmp)], code=2, usage=True,
         words=("is a directory",)),
    Case("json-unwritable-folder", lambda c: [*fid_gen("{img}"), "--json", "/proc/gan-eval-test/r.json"],
         words=("/proc", "not writable")),
    Case("stats-output-parent-is-a-file",
         lambda c: ["stats", "--real", "{img}", *DIGITS, "-o", f"{c.a_file()}/s.npz"], words=("plain-file",)),
    Case("sample-output-parent-is-a-file",
         lambda c: ["sample", "--gen", "builtin:dcgan", "-n", "2", "-o", f"{c.a_file()}/s.png"], words=("plain-file",)),
    Case("train-output-parent-is-a-file",
         lambda c: ["train", "dcgan", "--steps", "1", "-o", f"{c.a_file()}/g.safetensors"], words=("plain-file",)),
    Case("import-output-parent-is-a-file",
         lambda c: ["import", str(c.base.ckpt), "--arch", "dcgan", "-o", f"{c.a_file()}/g.safetensors"],
         words=("plain-file",)),
    Case("compare-json-unwritable",
         lambda c: ["compare", "--gen", "{img}", "--gen", "{img}", "--real", "{img}", *DIGITS, "--json", "/proc/x/c.json"],
         words=("/proc",)),
    Case("sweep-output-under-a-file",
         lambda c: ["sweep", "--gen", "builtin:dcgan", "--real", "{img}", "--psi", "0.5", *DIGITS, "-n", "8",
                    "-o", f"{c.a_file()}/sweep"], words=("plain-file",)),
    Case("audit-output-is-a-file", lambda c: ["audit", "--gen", "{img}", "-o", str(c.a_file())], code=2, usage=True,
         words=("plain-file",)),
    Case("demo-output-under-a-file", lambda c: ["demo", "-o", f"{c.a_file()}/demo"], words=("plain-file",)),
    # ---- gate and baseline files (exit 2)
    Case("gate-run-missing", lambda c: ["gate", str(c.tmp / "nope.json")], code=2, words=("nope.json",)),
    Case("gate-run-not-json", lambda c: ["gate", str(c.file("run.json", "{oops"))], code=2, words=("run.json",)),
    Case("gate-run-a-list", lambda c: ["gate", str(c.file("run.json", "[1]"))], code=2, words=("run.json",)),
    Case("gate-run-nested-deeply", lambda c: ["gate", str(c.file("run.json", "[" * 100_000))], code=2, words=("run.json",)),
    Case("gate-run-not-utf8", lambda c: ["gate", str(c.file("run.json", b'{"schema": "\xff"}'))], code=2,
         words=("run.json",)),
    Case("gate-baseline-missing", lambda c: ["gate", "{run}", "--baseline", str(c.tmp / "base.json")], code=2,
         words=("base.json",)),
    Case("gate-rules-huge-integer",
         lambda c: ["gate", "{run}", "--rules", str(gate_rules(c, '[[rule]]\nmetric = "fid"\nmax = ' + "9" * 400))],
         code=2, words=("rules.toml",)),
    Case("gate-rules-wrong-type",
         lambda c: ["gate", "{run}", "--rules", str(gate_rules(c, '[[rule]]\nmetric = "fid"\nmax = "low"\n'))],
         code=2, words=("rules.toml",)),
    Case("gate-rules-not-toml", lambda c: ["gate", "{run}", "--rules", str(gate_rules(c, "[[rule\n"))], code=2,
         words=("rules.toml",)),
    Case("gate-junit-under-a-file", lambda c: ["gate", "{run}", "--junit", f"{c.a_file()}/j.xml"], code=2,
         words=("plain-file",)),
    Case("baseline-update-run-missing", lambda c: ["baseline", "update", str(c.tmp / "nope.json"), "-o", "{out}/b.json"],
         code=2, words=("nope.json",)),
    Case("baseline-update-run-invalid",
         lambda c: ["baseline", "update", str(c.file("run.json", '{"schema": "x"}')), "-o", "{out}/b.json"],
         code=2, words=("run.json",)),
    Case("baseline-update-output-under-a-file",
         lambda c: ["baseline", "update", "{run}", "-o", f"{c.a_file()}/b.json"], code=2, words=("plain-file",)),
    # ---- audit inputs
    Case("audit-val-labels-not-utf8",
         lambda c: audit("--val-data", "{labelled}", "--val-labels", str(labels_with(c, "caf\xe9.png,1", encoding="latin-1"))),
         words=("labels.csv", "line 13", "UTF-8")),
    Case("audit-val-labels-outside-data",
         lambda c: audit("--val-data", "{labelled}", "--val-labels", str(labels_with(c, "../img/0000.png,1"))),
         words=("labels.csv", "line 13", "outside")),
    Case("audit-classifier-unknown-config-key",
         lambda c: audit("--classifier", str(classifier_file(c, config={"channels": 3, "hidden_dim": 4, "image_size": 64,
                                                                           "depth": 9}))),
         words=("attrs.safetensors", "'depth'", "hidden_dim")),
    Case("audit-classifier-config-a-list", lambda c: audit("--classifier", str(classifier_file(c, config=[3, 4]))),
         words=("attrs.safetensors", "config")),
    Case("audit-classifier-hidden-dim-1e9",
         lambda c: audit("--classifier", str(classifier_file(c, config={"channels": 3, "hidden_dim": 10**9}))),
         words=("attrs.safetensors", "hidden_dim")),
    Case("audit-classifier-heldout-a-list", lambda c: audit("--classifier", str(classifier_file(c, heldout=[1]))),
         words=("attrs.safetensors", "heldout")),
    Case("audit-classifier-attributes-a-string", lambda c: audit("--classifier", str(classifier_file(c, attributes='"ab"'))),
         words=("attrs.safetensors", "attribute names")),
    Case("audit-classifier-missing", lambda c: audit("--classifier", str(c.tmp / "none.safetensors")),
         words=("none.safetensors",)),
    Case("audit-reference-not-json", lambda c: audit("--reference", str(c.file("ref.json", "{no"))), words=("ref.json",)),
    Case("audit-unknown-attribute", lambda c: ["audit", "--gen", "{img}", "-a", "digits,nope", "-o", "{out}"],
         words=("nope",)),
    # ---- train classifier
    Case("train-labels-not-utf8",
         lambda c: train_classifier(c.base.labelled, labels_with(c, "caf\xe9.png,1", encoding="latin-1")),
         words=("labels.csv", "line 13", "UTF-8")),
    Case("train-labels-dotdot-escape", lambda c: train_classifier(c.base.labelled, labels_with(c, "../img/0000.png,1")),
         words=("labels.csv", "line 13", "../img/0000.png")),
    Case("train-labels-absolute-path",
         lambda c: train_classifier(c.base.labelled, labels_with(c, f"{c.base.img / '0000.png'},1")),
         words=("labels.csv", "line 13", "outside")),
    Case("train-labels-symlink-out", _symlink_out_of_data, words=("labels.csv", "line 13", "escape.png")),
    Case("train-labels-name-too-long", lambda c: train_classifier(c.base.labelled, labels_with(c, "x" * 5000 + ".png,1")),
         words=("labels.csv", "line 13")),
    Case("train-labels-symlink-loop", _symlink_loop_in_data, words=("labels.csv", "line 13", "loop.png")),
    Case("train-labels-nul-byte", lambda c: train_classifier(c.base.labelled, labels_with(c, b"0011.png,\x001\n")),
         words=("labels.csv", "line 13")),
    Case("train-labels-short-row", lambda c: train_classifier(c.base.labelled, labels_with(c, "0011.png")),
         words=("labels.csv", "line 13")),
    Case("train-classifier-unknown-setting", lambda c: train_classifier(c.base.labelled, c.base.labels, "--set", "depth=3"),
         words=("depth", "hidden_dim")),
    Case("train-classifier-hidden-dim-1e9",
         lambda c: train_classifier(c.base.labelled, c.base.labels, "--set", "hidden_dim=1000000000"),
         words=("hidden_dim",)),
    # ---- digit-network weights
    Case("digits-weights-other-network",
         lambda c: fid_real("{img}", *DIGITS, "--weights", str(_save(c, "other.pt", {"fc.weight": torch.zeros(3, 3)}))),
         words=("other.pt", "missing")),
    Case("digits-weights-wrong-shape",
         lambda c: fid_real("{img}", *DIGITS, "--weights", str(digit_weights(c, lambda s: s.update({"classifier.weight": torch.zeros(5, 128)})))),
         words=("digits.pt", "classifier.weight")),
    Case("digits-weights-extra-key",
         lambda c: fid_real("{img}", *DIGITS, "--weights", str(digit_weights(c, lambda s: s.update({"extra": torch.zeros(1)}), ".safetensors"))),
         words=("digits.safetensors", "extra")),
    Case("digits-weights-missing-key",
         lambda c: fid_real("{img}", *DIGITS, "--weights", str(digit_weights(c, lambda s: s.pop("classifier.bias")))),
         words=("digits.pt", "classifier.bias")),
    Case("digits-weights-not-tensors", lambda c: fid_real("{img}", *DIGITS, "--weights", str(_save(c, "list.pt", [1, 2]))),
         words=("list.pt",)),
    Case("digits-weights-garbage", lambda c: fid_real("{img}", *DIGITS, "--weights", str(c.file("junk.pt", b"\x00junk"))),
         words=("junk.pt",)),
]


def _zip(ctx: Ctx, name: str, members: dict[str, bytes]) -> Path:
    path = ctx.tmp / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def _save(ctx: Ctx, name: str, obj: Any) -> Path:
    torch.save(obj, ctx.tmp / name)
    return ctx.tmp / name


# --------------------------------------------------------------------------- the test


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every path below ``roots`` (hidden and temp files included) with its size and mtime."""
    found = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                info = os.lstat(path)
                # A folder's mtime moves when a temp file comes and goes; only files' own times count.
                found[path] = (0, 0) if os.path.isdir(path) else (info.st_size, info.st_mtime_ns)
    return found


def test_at_least_sixty_distinct_cases() -> None:
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case: Case, base: Base, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAN_EVAL_DEBUG", raising=False)
    ctx = Ctx(base, tmp_path, monkeypatch)
    argv = case.setup(ctx)
    fill = {"img": str(base.img), "run": str(base.run), "labelled": str(base.labelled), "out": str(ctx.out)}
    for key, value in fill.items():
        argv = [arg.replace("{" + key + "}", value) for arg in argv]
    before = _snapshot(tmp_path, base.root)

    result = CliRunner().invoke(cli.main, argv)

    stderr = result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert result.exit_code == case.code, stderr
    if case.usage:
        lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    else:
        lines = [line for line in stderr.strip().splitlines() if not line.startswith("gan-eval: warning:")]
        assert all(line.startswith("gan-eval: error: ") for line in lines), stderr
    assert len(lines) == 1, stderr
    for word in case.words:
        assert word in lines[0], (word, lines[0])
    assert _snapshot(tmp_path, base.root) == before, "a failing command wrote or changed files"
    assert not ctx.out.exists()


# --------------------------------------------------------------------------- the rules behind the cases


def test_every_architecture_size_field_has_bounds_and_the_bounds_hold() -> None:
    from gan_eval.errors import GanEvalError
    from gan_eval.generators.registry import CONFIG_LIMITS, available_archs, get_arch

    for name in available_archs():
        spec = get_arch(name)
        if not spec.config_cls.__module__.startswith("gan_eval.generators."):
            continue  # toy architectures other tests register; plug-ins rely on the meta-device size check
        numeric = [f.name for f in dataclasses.fields(spec.config_cls) if f.type in ("int", "float", int, float)]
        assert numeric and set(numeric) <= set(CONFIG_LIMITS), (name, set(numeric) - set(CONFIG_LIMITS))
        spec.make_config(spec.tiny)  # the presets and the defaults sit inside the bounds
        spec.make_config()
    dcgan = get_arch("dcgan")
    assert dcgan.make_config({"z_dim": 65536}).z_dim == 65536
    for value in (65537, 0, True, 8.0, "8", None, [8]):
        with pytest.raises(GanEvalError, match="z_dim"):
            dcgan.make_config({"z_dim": value})
    with pytest.raises(GanEvalError, match="JSON object"):
        dcgan.make_config([("z_dim", 8)])  # type: ignore[arg-type]


def test_size_check_runs_on_the_meta_device() -> None:
    """Each field in bounds, 6.3e11 parameters in all: refused from shapes alone (building it would need 2.5 TB)."""
    from gan_eval.errors import GanEvalError
    from gan_eval.generators.registry import MAX_ELEMENTS, get_arch

    spec = get_arch("dcgan")
    with pytest.raises(GanEvalError, match=r"builds 627,087,441,924 parameters and buffers"):
        spec.build({"z_dim": 8, "hidden_dim": 65536})
    meta = spec.build(spec.tiny, device="meta")
    assert all(t.is_meta for t in meta.state_dict().values())
    real = spec.build(spec.tiny).state_dict()
    assert {k: t.shape for k, t in meta.state_dict().items()} == {k: t.shape for k, t in real.items()}
    assert MAX_ELEMENTS == 2**31


def test_file_names_that_are_not_utf8_are_read_and_shown_escaped(base: Base, tmp_path: Path) -> None:
    folder = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/gen\xff"))
    write_digits(folder, "heldout", 10)
    os.rename(folder / "0001.png", os.fsencode(str(folder)) + b"/\xfe\xfd.png")
    (folder / "0009.png").write_bytes(b"not an image")
    os.rename(folder / "0009.png", os.fsencode(str(folder)) + b"/\xfe\xff.png")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli.main, ["fid", "--gen", str(folder), "--real", str(base.img), *DIGITS,
                                           "--skip-bad-files", "--json", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "skipped 1 unreadable file(s)" in result.stderr and "\\udcfe\\udcff.png" in result.stderr
    assert "gen\\udcff" in result.stdout  # the table names the folder, escaped
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["provenance"]["n_gen"] == 9 and doc["provenance"]["gen"]["source"].endswith("gen\udcff")


def test_output_path_check_creates_nothing(tmp_path: Path) -> None:
    from gan_eval.files import UnwritablePathError, atomic_path, check_output_path

    check_output_path(tmp_path / "a" / "b" / "r.json")  # missing folders are fine ...
    check_output_path(tmp_path / "report", folder=True)
    assert list(tmp_path.iterdir()) == []  # ... and nothing is made, not even the probe
    (tmp_path / "f").write_text("x")
    for path, folder, words in ((tmp_path, False, "is a folder"), (tmp_path / "f", True, "not a folder"),
                                (tmp_path / "f" / "x" / "r.json", False, "is a file, not a folder"),
                                (Path("/proc/gan-eval-test/r.json"), False, "not writable")):
        with pytest.raises(UnwritablePathError, match=words):
            check_output_path(path, folder=folder)
    with pytest.raises(OSError, match="cannot write"), atomic_path(tmp_path / "f" / "r.json"):
        pass  # the gate turns OSErrors into exit 2, so the error is one too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_labels_csv_with_a_byte_order_mark_and_inner_symlinks_are_fine(base: Base, tmp_path: Path) -> None:
    from gan_eval.attributes.classifier import read_labels

    data = tmp_path / "data"
    data.mkdir()
    for path in base.labelled.iterdir():
        (data / path.name).write_bytes(path.read_bytes())
    (data / "sub").mkdir()
    (data / "sub" / "link.png").symlink_to(data / "0000.png")  # points inside: allowed
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"\xef\xbb\xbffile,odd\n" + "".join(f"{i:04d}.png,{i % 2}\n" for i in range(11)).encode()
                       + b"sub/link.png,1\n")
    files, names, values = read_labels(data, labels)
    assert names == ["odd"] and files[-1] == data / "sub" / "link.png" and values[:, 0].tolist() == [0, 1] * 5 + [0, 1]
