"""Help > Model card: what the model is, what it was trained on (synthetic data), its metrics."""

from __future__ import annotations

import html
import json

from PySide6 import QtWidgets

from viewer.model.findings import pretty


def _key(k) -> str:
    """"left_lung/nodule" -> "Left lung — nodule"; "macro_auroc" -> "Macro auroc"."""
    k = str(k)
    if "/" in k:
        organ, _, abn = k.partition("/")
        return f"{pretty(organ)} — {abn.replace('_', ' ')}"
    return pretty(k)


def _value_html(v, depth: int = 0) -> str:
    """Card values as HTML: numbers rounded to 4 significant digits, dicts as (nested) tables."""
    e = html.escape
    if isinstance(v, bool) or v is None:
        return e(str(v).lower() if isinstance(v, bool) else "—")
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and depth < 4:
        rows = "".join(f"<tr><td style='padding-right:12px'><b>{e(_key(k))}</b></td>"
                       f"<td>{_value_html(x, depth + 1)}</td></tr>" for k, x in v.items())
        return f"<table cellspacing='0'>{rows}</table>"
    if isinstance(v, (list, tuple)) and all(not isinstance(x, (dict, list)) for x in v):
        items = [_value_html(x) if isinstance(x, float) else e(str(x)) for x in v]
        long = any(len(str(x)) > 40 for x in v)  # sentences (notes) one per line
        return ("<br>" if long else ", ").join(items)
    return e(v if isinstance(v, str) else json.dumps(v))


def card_html(card: dict) -> str:
    e = html.escape
    out = [f"<h2>{e(str(card.get('name', 'Model')))} <small>{e(str(card.get('version', '')))}</small></h2>"]
    statement = card.get("synthetic_data_statement") or (
        "Trained on synthetic data." if "synthetic" in json.dumps(card.get("training", {})).lower() else "")
    if statement:
        out.append(f"<p style='color:#c0392b'><b>{e(statement)}</b></p>")
    shifts = card.get("test_time_shifts") or []
    members = card.get("ensemble_members") or []
    inference = []
    if members:
        inference.append(f"The model is an ensemble of {len(members) + 1} networks trained by the same "
                         "recipe with other seeds (" + e(", ".join([str(card.get("weights", {}).get("file")),
                                                                    *(str(m.get("file")) for m in members)])) + ").")
    if len(shifts) > 1:
        listed = ", ".join("(" + ", ".join(str(v) for v in sh) + ")" for sh in shifts)
        who = "Each network reads the scan" if members else "Each scan is read"
        inference.append(f"{who} {len(shifts)} times, its input rolled by {e(listed)} model voxels "
                         "(test-time shifts).")
    if inference:
        out.append("<h3>Inference</h3><p>" + " ".join(inference) + " The probabilities and heat maps "
                   "are the means of the runs (docs/methods.md).</p>")
    tr = card.get("training") or {}
    if tr:
        out.append("<h3>Training</h3>" + _value_html(tr))
    metrics = card.get("metrics") or {}
    if metrics:
        out.append("<h3>Metrics</h3>" + _value_html(metrics))
    labels = card.get("labels") or []
    if labels:
        out.append(f"<h3>Labels ({len(labels)})</h3><ul>")
        out += [f"<li>{e(pretty(lab.get('organ', '')))} — {e(pretty(lab.get('abnormality', '')))}</li>" for lab in labels]
        out.append("</ul>")
    for key in ("target_layer", "licence"):
        if card.get(key):
            out.append(f"<p><b>{e(pretty(key))}:</b> {e(str(card[key]))}</p>")
    return "".join(out)


class ModelCardDialog(QtWidgets.QDialog):
    def __init__(self, card: dict, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model card")
        self.resize(640, 720)
        tabs = QtWidgets.QTabWidget(self)
        self.summary = QtWidgets.QTextBrowser(self)
        self.summary.setHtml(card_html(card))
        raw = QtWidgets.QPlainTextEdit(json.dumps(card, indent=2), self)
        raw.setReadOnly(True)
        tabs.addTab(self.summary, "Summary")
        tabs.addTab(raw, "JSON")
        bb = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        bb.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(tabs)
        lay.addWidget(bb)
