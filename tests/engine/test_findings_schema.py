"""One findings schema (engine/findings.py) for ctcam explain, the batch and the viewer."""

from __future__ import annotations

import csv
import json

import numpy as np

from engine.findings import findings_dict, summarise, write_findings_csv
from engine.results import ExplainResult, LabelInfo


def _result():
    labels = [LabelInfo("left_lung/nodule", "left_lung", "nodule", 3),
              LabelInfo("heart/cardiomegaly", "heart", "cardiomegaly", 2)]
    maps = {m: np.zeros((2, 4, 4, 4), np.float32) for m in ("hirescam", "gradcam")}
    maps["hirescam"][0][1, 2, 3] = 2.0
    maps["gradcam"][0][3, 0, 0] = 1.0
    maps["hirescam"][1] = maps["gradcam"][1] = -1.0  # no positive evidence
    organ_map = np.zeros((4, 4, 4), np.uint8)
    organ_map[:2] = 3  # the left lung holds map cells with i < 2
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = (10.0, 20.0, 30.0)
    return ExplainResult(labels, np.array([0.9, 0.2]), np.array([2.2, -1.4]), np.array([0.1, 0.2]),
                         maps, aff, organ_map, {"name": "fake", "version": "0"}), aff


def test_peak_and_organ_share_per_method_in_findings_json():
    res, aff = _result()
    doc = json.loads(json.dumps(findings_dict(res, aff, input="scan.nii.gz")))
    lab = doc["labels"][0]
    assert {"name", "probability", "logit", "bias", "threshold", "positive"} <= set(lab)
    assert lab["peak"]["hirescam"] == {"cell": [1, 2, 3], "ras": [12.0, 24.0, 36.0]}
    assert lab["peak"]["gradcam"]["cell"] == [3, 0, 0]
    assert lab["organ_share"] == {"hirescam": 1.0, "gradcam": 0.0}
    assert doc["labels"][1]["organ_share"] == {"hirescam": None, "gradcam": None}
    assert doc["input"] == "scan.nii.gz" and doc["coordinates"].startswith("RAS mm")
    f = summarise(res, aff)[0]
    assert f.peak_ras == [12.0, 24.0, 36.0] and f.peak_cell == [1, 2, 3]


def test_findings_csv_has_each_methods_peak_and_share(tmp_path):
    res, aff = _result()
    rows = list(csv.DictReader(write_findings_csv(summarise(res, aff), tmp_path / "f.csv").open()))
    assert rows[0]["label"] == "left_lung/nodule" and rows[0]["peak_gradcam_x_mm"] == "16.00"
    assert rows[0]["organ_share_hirescam"] == "1.0000" and rows[1]["organ_share_gradcam"] == ""
