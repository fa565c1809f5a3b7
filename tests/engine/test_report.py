"""``ctcam explain --report``: a self-contained HTML report per scan (one scan and a batch)."""

from __future__ import annotations

import base64
import io
import json
import re

from PIL import Image
from test_batch import make_scan, make_tiny_model

from engine.cli import main as ctcam
from engine.findings import pretty
from engine.io.nifti import write_nifti


def _check_report(path, doc):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "</html>" in text
    for rec in doc["labels"]:  # every finding with its probability
        assert f"{100 * rec['probability']:.1f}%" in text
        assert pretty(rec["abnormality"]) in text
    assert "synthetic" in text.lower() or "not a medical device" in text.lower()  # the caveat
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(imgs) == 1  # the key-slice figure, inlined
    with Image.open(io.BytesIO(base64.b64decode(imgs[0]))) as im:
        assert im.width >= 640 and im.height > 200
    assert "http://" not in text and "https://" not in text  # nothing fetched when opened


def test_single_scan_and_batch_reports(tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    for s in range(3):
        vol, _ = make_scan(s)
        write_nifti(tmp_path / "scans" / f"case{s}.nii.gz", vol.hu, vol.affine)
    out = tmp_path / "one"
    assert ctcam(["explain", str(tmp_path / "scans" / "case0.nii.gz"), "--out", str(out),
                  "--model", model, "--organs", "none", "--quiet", "--report"]) == 0
    _check_report(out / "report.html", json.loads((out / "findings.json").read_text()))
    batch = tmp_path / "batch"
    assert ctcam(["explain", str(tmp_path / "scans"), "--out", str(batch), "--model", model,
                  "--organs", "none", "--quiet", "--report"]) == 0
    for s in range(3):
        d = batch / f"case{s}"
        _check_report(d / "report.html", json.loads((d / "findings.json").read_text()))
        assert json.loads((d / "findings.json").read_text())["provenance"]["report"] is True
    capsys.readouterr()


def test_a_phantom_report_has_its_truth(tmp_path, capsys):
    """A scan with a truth beside it (``ctcam phantom`` output) gets the truth columns: each
    label present/absent and, for present lesions, each method's share in the lesion."""
    model = make_tiny_model(tmp_path / "model")
    assert ctcam(["phantom", "--seed", "3", "--out", str(tmp_path / "case"), "--size", "model"]) == 0
    assert ctcam(["explain", str(tmp_path / "case" / "case.nii.gz"), "--out", str(tmp_path / "o"),
                  "--model", model, "--organs", "none", "--quiet", "--report"]) == 0
    capsys.readouterr()
    text = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    labels = json.loads((tmp_path / "case" / "labels.json").read_text())["labels"]
    assert "<th>Truth</th>" in text
    assert text.count("<td>present</td>") == sum(1 for v in labels.values() if v)
    assert text.count("<td>absent</td>") == sum(1 for v in labels.values() if not v)
    assert "peak" in text and " mm" in text
