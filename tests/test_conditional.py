"""Per-class metrics of conditional generators, on a toy whose conditioning accuracy and label
proportions are planted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.conditional import per_class
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist


class PlantedConditional:
    """Returns a real training digit of the requested class with probability ``accuracy[c]``, else
    one of another class; unlabelled draws pick classes with probabilities ``label_probs``."""

    num_classes = 10

    def __init__(self, accuracy, label_probs) -> None:
        images, labels = load_mnist("train")
        self.pools = [torch.from_numpy(images[labels == c].copy()) for c in range(10)]
        self.accuracy = torch.tensor(accuracy, dtype=torch.float64)
        self.label_probs = torch.tensor(label_probs, dtype=torch.float64)

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = torch.multinomial(self.label_probs, n, replacement=True, generator=generator)
        keep = torch.rand(n, generator=generator, dtype=torch.float64) < self.accuracy[labels]
        other = (labels + torch.randint(1, 10, (n,), generator=generator)) % 10
        shown = torch.where(keep, labels, other)
        out = [self.pools[c][torch.randint(0, len(self.pools[c]), (1,), generator=generator)] for c in shown.tolist()]
        return torch.cat(out)[:, None]  # N×1×28×28 uint8


ACCURACY = [1.0] * 10
ACCURACY[3] = 0.3
PROBS = [1 / 9] * 10
PROBS[7] = 0.0


@pytest.fixture(scope="module")
def planted():
    model = PlantedConditional(ACCURACY, PROBS)
    return per_class(model, "builtin:mnist-heldout", extractor="digits", num_per_class=200, bootstrap=40,
                     progress=False)


def test_planted_conditioning_accuracy_is_recovered(planted):
    # The digit classifier itself errs on ~1.5 % of real digits, hence the tolerance.
    for c in range(10):
        lo, hi = planted.ci[f"class_accuracy_{c}"]
        assert lo - 0.03 <= ACCURACY[c] <= hi + 0.03, (c, lo, hi)
    assert planted["class_accuracy_3"] < 0.45


def test_planted_class_balance_and_a_class_never_generated(planted):
    # What a perfect classifier reads: class c shown when c is drawn and kept, or when another class
    # is drawn, not kept, and c is the substitute (1 of 9).
    acc, probs = np.array(ACCURACY), np.array(PROBS)
    expected = probs * acc + ((probs * (1 - acc)).sum() - probs * (1 - acc)) / 9
    for c in range(10):
        lo, hi = planted.ci[f"class_share_{c}"]
        assert lo - 0.02 <= expected[c] <= hi + 0.02, (c, expected[c], lo, hi)
    assert planted["class_share_7"] < 0.03  # never asked for: only substitutes and classifier errors
    lo, hi = planted.ci["class_balance_tv"]
    tv = 0.5 * np.abs(expected - 0.1).sum()
    assert lo - 0.02 <= tv <= hi + 0.02, (tv, lo, hi)


def test_intra_class_fid_singles_out_the_badly_conditioned_class(planted):
    fids = {c: planted[f"fid_class_{c}"] for c in range(10)}
    assert max(fids, key=fids.get) == 3
    assert fids[3] > 3 * np.median(list(fids.values()))
    assert planted.ci["fid_class_3"][0] > max(planted.ci[f"fid_class_{c}"][1] for c in range(10) if c != 3)
    assert planted.to_dict()["schema"] == "gan-eval/result/1"


def test_unconditional_models_are_refused():
    with pytest.raises(GanEvalError, match="not a conditional"):
        per_class("builtin:dcgan", "builtin:mnist-heldout", extractor="digits", num_per_class=20, progress=False)


def test_cli_per_class_merges_into_the_result(tmp_path):
    import json

    from test_cli import run

    out = tmp_path / "run.json"
    proc = run("evaluate", "--gen", "builtin:cgan", "--real", "builtin:mnist-heldout", "--extractor", "digits",
               "-n", "300", "-m", "fid", "--per-class", "--per-class-samples", "40", "--bootstrap", "20",
               "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert {f"fid_class_{c}" for c in range(10)} <= set(doc["ci"]) and "class_balance_tv" in doc["metrics"]
    assert doc["provenance"]["per_class"]["samples_per_class"] == 40 and "FID of class 9" in proc.stdout
    bad = run("evaluate", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout", "--extractor", "digits",
              "-n", "50", "-m", "fid", "--per-class")
    assert bad.returncode == 1 and "not a conditional" in bad.stderr
