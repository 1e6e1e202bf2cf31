"""Shared fixtures: offline, isolated cache, a random-weight InceptionV3 file, small image folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gan_eval.testing import write_digits  # noqa: F401  (re-exported for the test modules)

TESTS_DIR = Path(__file__).parent


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No test may download anything or write into the user's cache or torch hub directory."""
    monkeypatch.setenv("GAN_EVAL_OFFLINE", "1")
    monkeypatch.setenv("GAN_EVAL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
    monkeypatch.delenv("GAN_EVAL_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> str:
    """A seeded random-weight InceptionV3 file with the official architecture and keys (design notes)."""
    from gan_eval.testing import build_random_inception_weights

    return build_random_inception_weights(tmp_path_factory.mktemp("weights") / "inception-random.pth", seed=0)


@pytest.fixture
def digit_dirs(tmp_path) -> tuple[Path, Path]:
    """(generated, real): 60 shifted training digits vs 60 held-out digits, as PNG folders."""
    gen = write_digits(tmp_path / "gen", "train", 60, transform=lambda a: np.roll(a, 3, axis=1))
    real = write_digits(tmp_path / "real", "heldout", 60)
    return gen, real


def cli_env() -> dict[str, str]:
    """Environment for running the console script in a subprocess (toy generators importable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    return env
