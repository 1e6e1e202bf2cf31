"""What a long run prints (issue 11): warnings once, one line each; progress lines in a log, none with --quiet.

Progress lines are forced with ``GAN_EVAL_PROGRESS_INTERVAL=0`` (a line per update) and stderr that is
not a terminal (pytest's capture, click's runner), so no test waits for the real 10 s interval.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from click.testing import CliRunner
from conftest import write_digits

import gan_eval
from gan_eval import cli
from gan_eval.sources import DirectorySource


def _folder_with_bad_files(tmp_path, good: int = 6, bad: int = 3):
    folder = write_digits(tmp_path / "mixed", "train", good)
    for i in range(bad):
        (folder / f"bad{i}.png").write_bytes(b"not a png" + bytes([i]))
    return folder


def test_several_bad_files_give_one_warning_line_with_count_and_first_reason(tmp_path):
    folder = _folder_with_bad_files(tmp_path)
    result = CliRunner().invoke(cli.main, ["evaluate", "--gen", str(folder), "--real", "builtin:mnist-heldout",
                                           "--num-real", "20", "--extractor", "digits", "-m", "fid", "--no-cache",
                                           "--skip-bad-files", "--batch-size", "2"])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "unreadable" in line]
    assert len(lines) == 1, result.stderr  # five batches, three bad files: one line
    assert lines[0].startswith("gan-eval: warning: skipped 3 unreadable file(s)")
    assert "bad0.png, bad1.png, bad2.png" in lines[0] and "(bad0.png: cannot identify image file" in lines[0]


def test_a_second_pass_over_the_same_folder_does_not_warn_again(tmp_path):
    source = DirectorySource(_folder_with_bad_files(tmp_path), skip_bad_files=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = torch.cat(list(source.iter_batches(100, 2, 0)))
        second = torch.cat(list(source.iter_batches(100, 2, 0)))
    assert torch.equal(first, second) and first.shape[0] == 6
    assert [str(w.message).split(" in ")[0] for w in caught] == ["skipped 3 unreadable file(s)"]


def test_per_class_real_counts_warn_in_one_line_each_kind():
    from gan_eval.conditional import _warn_few_real

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_few_real({0: 1, 1: 30, 2: 500, 3: 12, 4: 0, 5: 49})
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert messages[0].startswith("class(es) 0 (1), 4 (0): the classifier finds fewer than 2 real images")
    assert messages[1].startswith("class(es) 1 (30), 3 (12), 5 (49): fewer than 50 real images")


def _progress(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"gan-eval: {label}")]


def test_progress_lines_only_off_a_terminal_and_never_when_quiet(monkeypatch):
    from gan_eval import pipeline

    monkeypatch.setattr(pipeline.sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(pipeline.progress_lines(10, "x", None), pipeline.ProgressLines)
    assert isinstance(pipeline.progress_lines(10, "x", True), pipeline.ProgressLines)
    assert pipeline.progress_lines(10, "x", False) is None  # --quiet
    monkeypatch.setattr(pipeline.sys.stderr, "isatty", lambda: True, raising=False)
    assert pipeline.progress_lines(10, "x", None) is None  # a terminal gets a bar instead


@pytest.mark.parametrize("quiet", [False, True])
def test_training_prints_step_progress_lines_in_a_log(tmp_path, monkeypatch, capsys, quiet):
    from gan_eval.generators.training import train

    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "0")
    train("gan", tmp_path / "g.safetensors", steps=3, batch_size=8, limit=64, progress=False if quiet else None)
    lines = _progress(capsys.readouterr().err, "train gan:")
    if quiet:
        assert lines == []
    else:
        assert len(lines) == 3
        assert re.fullmatch(r"gan-eval: train gan: 1/3 steps, \S+ steps/s, ~\S+ left", lines[0]), lines
        assert lines[-1].startswith("gan-eval: train gan: 3/3 steps, ")


def test_per_class_prints_progress_lines_in_a_log(monkeypatch, capsys):
    from gan_eval.conditional import per_class

    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "0")
    per_class("builtin:cgan", "builtin:mnist-heldout", num_per_class=10, num_real=200, bootstrap=20,
              extractor="digits", cache=False)
    lines = _progress(capsys.readouterr().err, "per-class:")
    assert lines and all(re.fullmatch(r"gan-eval: per-class: .+: \d+/200 images, \d+ img/s(, ~\S+ left)?", x)
                         for x in lines), lines
    assert "200/200 images" in lines[-1]


def test_audit_prints_progress_lines_in_a_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "0")
    folder = write_digits(tmp_path / "gen", "train", 24)
    gan_eval.audit(str(folder), "builtin:mnist-heldout", "digits", num_real=40, bootstrap=20, walks=False,
                   batch_size=8, extractor="digits", cache=False)
    err = capsys.readouterr().err
    assert _progress(err, f"audit: directory {folder}: 24/24 images")
    assert _progress(err, "audit: scoring generated images: 24/24 images")
    assert _progress(err, "audit: scoring real images: 40/40 images")


def test_train_classifier_prints_progress_lines_in_a_log(tmp_path, monkeypatch, capsys):
    from gan_eval.attributes.classifier import train_classifier

    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "0")
    data = write_digits(tmp_path / "data", "train", 12)
    (tmp_path / "labels.csv").write_text("file,odd\n" + "".join(f"{i:04d}.png,{i % 2}\n" for i in range(12)))
    train_classifier(data, tmp_path / "labels.csv", tmp_path / "c.safetensors", epochs=2, batch_size=4,
                     channels=1, hidden_dim=4, progress=True)
    lines = _progress(capsys.readouterr().err, "train classifier:")
    assert lines[0].startswith("gan-eval: train classifier: 4/22 images")  # 11 training images (1 held out) × 2
    assert lines[-1].startswith("gan-eval: train classifier: 22/22 images")


def test_a_multi_line_warning_prints_as_one_line(capsys):
    from gan_eval.cli import _one_line_warnings

    _one_line_warnings("first line\n  second\tline", UserWarning, "x.py", 1)
    assert capsys.readouterr().err == "gan-eval: warning: first line second line\n"


def test_latent_walks_print_progress_lines_in_a_log(monkeypatch, capsys):
    from gan_eval.attributes.base import create_attribute_set
    from gan_eval.audit.walks import latent_model, run_walk
    from gan_eval.sources import SourceOptions, open_generator

    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "0")
    model = latent_model(open_generator("builtin:dcgan", SourceOptions()).model)
    attrs = create_attribute_set("digits")
    target = attrs.score_names[0]
    run_walk(model, attrs, target, n_images=4, steps=1, bootstrap=20)
    lines = _progress(capsys.readouterr().err, f"audit: walk along {target}:")
    assert [line.split(": ")[3].split(",")[0] for line in lines] == ["4/16 images", "8/16 images", "12/16 images",
                                                                      "16/16 images"]
    run_walk(model, attrs, target, n_images=4, steps=1, bootstrap=20, progress=False)
    assert _progress(capsys.readouterr().err, "audit: walk") == []
