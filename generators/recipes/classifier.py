"""``classifier``: the course's multi-label attribute classifier for bias audits, as a recipe.

``gan-eval train classifier --data DIR --labels labels.csv -o attrs.safetensors`` trains
:func:`gan_eval.attributes.classifier.train_classifier` (GANs course C2W2 recipe: BCE-with-logits,
Adam lr 1e-3, betas (0.5, 0.999), batch 128, 3 epochs) and reports per-attribute held-out accuracy
next to the majority-class baseline. It trains no generator, so it is not a :class:`Recipe` subclass,
but it is registered and run like every other recipe: its ``--set`` settings are :attr:`defaults`,
read from ``train_classifier``'s own signature so the two never drift.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

from gan_eval.generators.training import (
    TrainingOutcome,
    TrainingRequest,
    register_recipe,
)

from gan_eval.attributes.classifier import train_classifier
from gan_eval.errors import GanEvalError

#: The settings ``--set`` may change, in the order the "valid:" message lists them.
SETTINGS = ("epochs", "lr", "image_size", "channels", "hidden_dim", "val_fraction")
DEFAULT_BATCH_SIZE = inspect.signature(train_classifier).parameters["batch_size"].default


def _settings_defaults() -> dict[str, Any]:
    params = inspect.signature(train_classifier).parameters
    return {name: params[name].default for name in SETTINGS}


@register_recipe
class ClassifierRecipe:
    """Multi-label attribute classifier from an image folder and a 0/1 labels CSV."""

    name: ClassVar[str] = "classifier"
    defaults: ClassVar[dict[str, Any]] = _settings_defaults()

    @classmethod
    def settings(cls, hparams: dict[str, Any]) -> dict[str, Any]:
        """``--set`` values checked against :attr:`defaults` and converted to each default's type."""
        out: dict[str, Any] = {}
        for key, value in hparams.items():
            if key not in cls.defaults:
                raise GanEvalError(f"unknown classifier setting {key!r}; valid: {', '.join(cls.defaults)}")
            try:
                out[key] = type(cls.defaults[key])(value)
            except (TypeError, ValueError):
                raise GanEvalError(f"--set {key}= expects a number, got {value!r}") from None
        return out

    @classmethod
    def run(cls, request: TrainingRequest) -> TrainingOutcome:
        """Train on ``request.data`` (a folder) with ``request.labels``; other request fields are unused."""
        from gan_eval.pipeline import resolve_device

        if request.labels is None or str(request.data).startswith("builtin:"):
            raise GanEvalError("train classifier needs --data DIR (images) and --labels labels.csv (0/1 attribute columns)")
        hparams = cls.settings(request.hparams)
        summary = train_classifier(request.data, request.labels, request.output,
                                   batch_size=request.batch_size or DEFAULT_BATCH_SIZE, seed=request.seed,
                                   device=resolve_device(request.device), progress=request.progress is not False,
                                   **hparams)
        report = [f"held-out accuracy per attribute ({summary['n_heldout']} images; majority-class baseline in brackets):"]
        report += [f"  {name:<24} {100 * v['accuracy']:6.2f} %  [{100 * v['majority_baseline']:.2f} %]"
                   for name, v in summary["heldout"].items()]
        report.append(f"wrote {summary['path']}")
        return TrainingOutcome(Path(summary["path"]), report, summary)
