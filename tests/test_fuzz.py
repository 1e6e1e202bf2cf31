"""Property-based fuzzing of every file the tool reads (issue 11): random inputs end in exit 0 or one line.

Image bytes, ``.npy``/``.npz`` headers and payloads, generator-checkpoint metadata, gate rule files
and result documents, and label CSVs are generated or mutated by hypothesis and fed to the CLI in
process (click's ``CliRunner``). The property: exit 0, or a ``GanEvalError`` (exit 1; 2 for ``gate``
and ``baseline``) printed as one ``gan-eval: error:`` line; never a traceback, never an internal error
(exit 3), never a hang (a SIGALRM guard per example). Examples are derandomized with no database, so
CI runs the same inputs every time; each property is bounded to a few dozen examples.
"""

from __future__ import annotations

import io
import json
import math
import signal
import struct
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_digits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_eval import cli

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
HANG_SECONDS = 30


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so neither the CLI's boundary nor CliRunner swallows it."""


@contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*args: str, codes: tuple[int, ...] = (0, 1)):
    """Invoke the CLI in process and assert the property: an allowed exit code, one error line, no traceback."""
    with no_hang():
        result = CliRunner().invoke(cli.main, [str(a) for a in args])
    stderr = result.stderr
    assert result.exit_code in codes, (result.exit_code, stderr[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-2000:]
    if result.exit_code != 0 and not (args[0] == "gate" and result.exit_code == 1):  # gate exit 1 = a rule failed
        errors = [line for line in stderr.splitlines() if line.startswith("gan-eval: error:")]
        assert len(errors) == 1, stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def ref_stats(tmp_path_factory) -> Path:
    """Digit statistics of 40 held-out digits: the real side of every evaluation here, extracted once."""
    path = tmp_path_factory.mktemp("ref") / "ref.npz"
    run_cli("stats", "--real", "builtin:mnist-heldout", "-n", "40", "--extractor", "digits", "-o", path, "--no-cache",
            "--quiet", codes=(0,))
    return path


def evaluate_args(gen: Path, ref: Path, *extra: str) -> list[str]:
    return ["evaluate", "--gen", gen, "--real", ref, "--extractor", "digits", "-m", "fid", "--no-cache", "--quiet",
            *extra]


# --------------------------------------------------------------------------- image bytes

def _encoded_digit(fmt: str, index: int) -> bytes:
    from PIL import Image

    from gan_eval.mnist import load_mnist

    buf = io.BytesIO()
    Image.fromarray(load_mnist("heldout")[0][index]).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {fmt: _encoded_digit(fmt, i) for i, fmt in enumerate(("PNG", "JPEG", "BMP"))}
SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp"}


@st.composite
def image_bytes(draw) -> tuple[str, bytes]:
    """A valid small image of some format, mutated: bytes flipped, cut short, spliced, or replaced."""
    fmt = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[fmt])
    how = draw(st.sampled_from(["flip", "truncate", "splice", "random", "header"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif how == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "splice":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif how == "random":
        data = bytearray(draw(st.binary(max_size=512)))
    else:  # a plausible header claiming other sizes: width/height fields of PNG's IHDR or BMP's info header
        width, height = draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1))
        if fmt == "PNG":
            data[16:24] = struct.pack(">II", width, height)
        elif fmt == "BMP":
            data[18:26] = struct.pack("<ii", width, height)
        else:
            data[-20:] = draw(st.binary(min_size=20, max_size=20))
    return SUFFIX[fmt], bytes(data)


@pytest.fixture(scope="module")
def good_digits(tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("good"), "train", 3)


@FUZZ
@given(case=image_bytes(), skip=st.booleans())
def test_random_image_bytes_end_cleanly(case, skip, tmp_path_factory, good_digits, ref_stats):
    suffix, data = case
    folder = tmp_path_factory.mktemp("images")
    for png in good_digits.iterdir():
        (folder / png.name).write_bytes(png.read_bytes())
    (folder / f"fuzzed{suffix}").write_bytes(data)
    result = run_cli(*evaluate_args(folder, ref_stats, *(["--skip-bad-files"] if skip else [])))
    if skip:  # three good images remain: the run goes through, the bad file at most skipped
        assert result.exit_code == 0, result.stderr


# --------------------------------------------------------------------------- .npy / .npz

def _npy(header: str, payload: bytes, major: int = 1) -> bytes:
    head = header.encode("latin1", "replace")
    pad = (-(len(head) + 10 + (2 if major > 1 else 0) + 1) % 64)
    head = head + b" " * pad + b"\n"
    size = struct.pack("<H", len(head)) if major == 1 else struct.pack("<I", len(head))
    return b"\x93NUMPY" + bytes([major, 0]) + size + head + payload


dims = st.one_of(st.integers(0, 40), st.integers(-5, -1), st.integers(2**31, 2**62), st.just(28))
header_dicts = st.fixed_dictionaries({
    "descr": st.one_of(st.sampled_from(["|u1", "<u1", "<f4", "<f8", ">u2", "<i8", "|b1", "O", "<U3", "V8", "<c8"]),
                       st.text(max_size=6)),
    "fortran_order": st.one_of(st.booleans(), st.integers(-1, 2), st.none()),
    "shape": st.one_of(st.lists(dims, max_size=5).map(tuple), st.text(max_size=4), st.integers(0, 9)),
})


@st.composite
def npy_bytes(draw) -> bytes:
    how = draw(st.sampled_from(["dict", "dict", "dict", "text", "valid"]))
    if how == "valid":  # a real uint8 array, its payload cut or padded
        array = draw(st.sampled_from([np.zeros((4, 28, 28), np.uint8), np.full((3, 3, 8, 8), 7, np.uint8),
                                      np.ones((2, 8, 8, 3), np.uint8), np.zeros((0, 28, 28), np.uint8)]))
        buf = io.BytesIO()
        np.save(buf, array)
        data = buf.getvalue()
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.binary(max_size=16))
    if how == "text":
        header = draw(st.text(max_size=80))
    else:
        fields = draw(header_dicts)
        header = repr(fields)
    payload = draw(st.one_of(st.binary(max_size=256), st.just(bytes(4 * 28 * 28))))
    return _npy(header, payload, major=draw(st.sampled_from([1, 1, 2, 3])))


@settings(FUZZ, max_examples=40)
@given(data=npy_bytes(), as_npz=st.booleans(), side=st.sampled_from(["gen", "real"]))
def test_random_array_files_end_cleanly(data, as_npz, side, tmp_path_factory, good_digits, ref_stats):
    folder = tmp_path_factory.mktemp("arrays")
    if as_npz:
        path = folder / "fuzzed.npz"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("arr_0.npy", data)
    else:
        path = folder / "fuzzed.npy"
        path.write_bytes(data)
    if side == "gen":
        run_cli(*evaluate_args(path, ref_stats, "-n", "4"))
    else:  # as a real side: an image array or (an .npz) a statistics file
        run_cli(*evaluate_args(good_digits, path, "--num-real", "4"))


# --------------------------------------------------------------------------- checkpoint metadata

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def checkpoint_parts() -> tuple[dict, dict]:
    """The bundled DCGAN's tensors and metadata: the seed every fuzzed checkpoint is made from."""
    from importlib import resources

    from safetensors import safe_open

    path = resources.files("gan_eval.generators.assets") / "dcgan.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())


@st.composite
def metadata_mutation(draw, metadata: dict) -> dict:
    """The real metadata with one JSON field (or one key inside it) replaced, removed or made invalid."""
    meta = dict(metadata)
    key = draw(st.sampled_from(sorted(meta) + ["extra"]))
    how = draw(st.sampled_from(["value", "inner", "inner", "drop", "garbage"]))
    if how == "value":
        meta[key] = json.dumps(draw(json_values))
    elif how == "inner" and key in meta:
        try:
            inner = json.loads(meta[key])
        except json.JSONDecodeError:
            inner = None
        if isinstance(inner, dict) and inner:
            field = draw(st.sampled_from(sorted(inner)))
            inner[field] = draw(json_values)
            meta[key] = json.dumps(inner)
        else:
            meta[key] = json.dumps(draw(json_values))
    elif how == "drop":
        meta.pop(key, None)
    else:
        meta[key] = draw(st.text(max_size=20))
    return meta


@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_random_checkpoint_metadata_ends_cleanly(data, checkpoint_parts, tmp_path_factory, ref_stats):
    from safetensors.torch import save_file

    tensors, metadata = checkpoint_parts
    meta = data.draw(metadata_mutation(metadata))
    path = tmp_path_factory.mktemp("ckpt") / "fuzzed.safetensors"
    save_file(tensors, str(path), metadata=meta)
    run_cli(*evaluate_args(path, ref_stats, "-n", "4"))


# --------------------------------------------------------------------------- gate rules and results

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


rule_keys = st.sampled_from(["metric", "min", "max", "max_regression", "max_regression_abs", "judge", "severity",
                             "name", "unknown"])
rule_values = st.one_of(
    st.sampled_from(["fid", "precision", "kid", "is", "nope", "point", "interval", "warn", "fail", ""]),
    st.floats(), st.integers(-2**80, 2**80), st.booleans(), st.text(max_size=10),
    st.lists(st.integers(-3, 3), max_size=3))


@st.composite
def rule_documents(draw) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=200))  # anything at all, TOML or not
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        lines.append(draw(st.sampled_from(["[[rule]]", "[[rule]]", "[rule]", "[[rules]]"])))
        for key, value in draw(st.dictionaries(rule_keys, rule_values, max_size=5)).items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


metric_values = st.one_of(st.floats(), st.integers(-2**70, 2**70), st.none(), st.text(max_size=4),
                          st.lists(st.floats(), max_size=3))


@st.composite
def result_documents(draw) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=100))
    doc = {"schema": draw(st.sampled_from(["gan-eval/result/1", "gan-eval/result/1", "other", 1])),
           "metrics": draw(st.one_of(st.dictionaries(st.sampled_from(["fid", "precision", "kid_mean", "x"]),
                                                     metric_values, max_size=3), json_values)),
           "provenance": draw(st.one_of(st.just({"extractor": "digits", "n_gen": 10}), json_values))}
    if draw(st.booleans()):
        doc["ci"] = draw(st.one_of(st.dictionaries(st.sampled_from(["fid", "precision"]), metric_values, max_size=2),
                                   json_values))
    if draw(st.booleans()):
        doc["ci_info"] = draw(st.one_of(st.just({"level": 0.95}), json_values))
    return json.dumps(doc)


GOOD_RUN = json.dumps({"schema": "gan-eval/result/1", "metrics": {"fid": 3.0, "precision": 0.7},
                       "ci": {"fid": [2.5, 3.5]}, "ci_info": {"level": 0.95}, "provenance": {"extractor": "digits"}})


@settings(FUZZ, max_examples=40)
@given(rules=rule_documents(), run=st.one_of(st.just(GOOD_RUN), result_documents()),
       baseline=st.one_of(st.none(), st.just(GOOD_RUN), result_documents()))
def test_random_gate_files_end_cleanly(rules, run, baseline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    (folder / "rules.toml").write_text(rules, encoding="utf-8", errors="surrogatepass")
    (folder / "run.json").write_text(run, encoding="utf-8", errors="surrogatepass")
    args = ["gate", folder / "run.json", "--rules", folder / "rules.toml", "--junit", folder / "junit.xml",
            "--markdown", folder / "summary.md"]
    if baseline is not None:
        (folder / "baseline.json").write_text(baseline, encoding="utf-8", errors="surrogatepass")
        args += ["--baseline", folder / "baseline.json"]
    run_cli(*args, codes=(0, 1, 2))
    import xml.etree.ElementTree as ET

    ET.parse(folder / "junit.xml")  # written for every outcome (exit 2 included), always well-formed XML


@settings(FUZZ, max_examples=25)
@given(run=result_documents())
def test_random_results_for_baseline_update_end_cleanly(run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    (folder / "run.json").write_text(run, encoding="utf-8", errors="surrogatepass")
    run_cli("baseline", "update", folder / "run.json", "-o", folder / "baseline.json", codes=(0, 2))


# --------------------------------------------------------------------------- label CSVs

@pytest.fixture(scope="module")
def labelled_digits(tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("labelled"), "train", 12)


cells = st.one_of(st.sampled_from(["0", "1", "-1", "2", "", "yes", "0001.png", "../0001.png", "/etc/passwd",
                                   "0003.png", "digit", "file", "3"]), st.text(max_size=6))


@st.composite
def label_csvs(draw) -> bytes:
    how = draw(st.sampled_from(["table", "table", "text", "bytes"]))
    if how == "bytes":
        return draw(st.binary(max_size=300))
    if how == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    width = draw(st.integers(1, 4))
    header = [draw(st.sampled_from(["file", "filename", "digit", "Smiling", "thick", ""])) for _ in range(width)]
    rows = [",".join(header)]
    for i in range(draw(st.integers(0, 12))):
        row = [f"{i:04d}.png"] + [draw(cells) for _ in range(width - 1)]
        if draw(st.integers(0, 5)) == 0:
            row = [draw(cells) for _ in range(draw(st.integers(0, 5)))]
        rows.append(",".join(row))
    text = "\n".join(rows) + "\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, "replace")


@settings(FUZZ, max_examples=20)
@given(labels=label_csvs(), use=st.sampled_from(["train", "audit"]))
def test_random_label_csvs_end_cleanly(labels, use, labelled_digits, tmp_path_factory):
    """train classifier's --labels, and the audit's --val-labels as read against the digit attributes."""
    folder = tmp_path_factory.mktemp("labels")
    csv_path = folder / "labels.csv"
    csv_path.write_bytes(labels)
    if use == "train":
        run_cli("train", "classifier", "--data", labelled_digits, "--labels", csv_path, "-o", folder / "c.safetensors",
                "--set", "epochs=1", "--set", "image_size=8", "--set", "hidden_dim=4", "--set", "channels=1",
                "--quiet")
    else:  # the audit reads --val-labels before any image is scored; call that reader directly
        from gan_eval.attributes.base import create_attribute_set
        from gan_eval.audit.core import _read_validation_labels
        from gan_eval.errors import GanEvalError

        with no_hang():
            try:
                _read_validation_labels(create_attribute_set("digits"), labelled_digits, csv_path)
            except GanEvalError as exc:
                assert "\n" not in str(exc)


# --------------------------------------------------------------------------- regressions found by the fuzzing

def test_npy_header_that_numpy_cannot_tokenize_is_a_one_line_error(tmp_path, ref_stats):
    """Found by fuzzing: a header of ``)`` made numpy's tokenizer raise TokenError, an internal error (exit 3)."""
    path = tmp_path / "bad.npy"
    path.write_bytes(_npy(")", bytes(64)))
    result = run_cli(*evaluate_args(path, ref_stats, "-n", "4"), codes=(1,))
    assert "bad.npy" in result.stderr and "not a Python literal" in result.stderr
