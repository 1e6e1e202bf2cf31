"""The keys that per-class evaluation of a conditional generator writes (:mod:`gan_eval.conditional`).

They are not computed by ``--metrics``: ``gan-eval per-class`` writes them, one per class. This
record describes them like any other metric's keys, so tables, gates and comparisons read their
labels, directions and ranges from one place. ``{}`` stands for the class.
"""

from __future__ import annotations

import math

from gan_eval.metrics.base import MetricKey, MetricSpec

SPEC = MetricSpec(
    name="per_class",
    keys=(
        MetricKey("fid_class_mean", "intra-class FID (mean over classes)", direction=-1, range=(0.0, math.inf),
                  short="intra-FID"),
        MetricKey("fid_class_{}", "FID of class {}", direction=-1, range=(0.0, math.inf), short="FID {}"),
        MetricKey("class_accuracy_{}", "conditioning accuracy, class {}", direction=1, range=(0.0, 1.0),
                  short="acc {}"),
        # More of one class is not better: a share has no direction.
        MetricKey("class_share_{}", "share read as class {}", range=(0.0, 1.0), short="share {}"),
        MetricKey("class_balance_tv", "class balance: TV distance from uniform", direction=-1, range=(0.0, 1.0),
                  short="TV"),
    ),
    needs=("features", "logits"),
    convention="intra-class FID against the real images the classifier reads as each class; Wilson intervals "
               "for accuracies and shares; bootstrap interval for the TV distance",
)
