"""Evaluation metrics (engine/model/metrics.py) beyond those tested with training."""

from __future__ import annotations

import numpy as np

from engine.model.metrics import label_confusion


def test_label_confusion_names_the_finding_an_output_really_detects():
    rng = np.random.default_rng(0)
    n = 400
    labels = ["right_lung/mass", "right_lung/consolidation", "right_lung/nodule", "heart/cardiomegaly"]
    y = (rng.random((n, 4)) < 0.4).astype(np.uint8)
    s = rng.normal(size=(n, 4))
    s[:, 1] += 3.0 * y[:, 0] + 3.0 * y[:, 1]  # the consolidation output also fires on masses
    s[:, 3] += 3.0 * y[:, 0]  # another organ's label is never the confuser
    got = label_confusion(y, s, labels)
    assert got["right_lung/consolidation"]["raised_by"] == "right_lung/mass"
    assert got["right_lung/consolidation"]["auroc"] > 0.9
    assert got["right_lung/mass"]["auroc"] < 0.65  # the mass output ignores the others
    assert got["heart/cardiomegaly"] == {"raised_by": None, "auroc": None}  # no other heart label
