"""Help > Model card: what the model is, what it was trained on (synthetic data), its metrics."""

from __future__ import annotations

import html
import json

from PySide6 import QtWidgets

from viewer.findings import pretty


def card_html(card: dict) -> str:
    e = html.escape
    out = [f"<h2>{e(str(card.get('name', 'Model')))} <small>{e(str(card.get('version', '')))}</small></h2>"]
    statement = card.get("synthetic_data_statement") or (
        "Trained on synthetic data." if "synthetic" in json.dumps(card.get("training", {})).lower() else "")
    if statement:
        out.append(f"<p style='color:#c0392b'><b>{e(statement)}</b></p>")
    tr = card.get("training") or {}
    if tr:
        out.append("<h3>Training</h3><table>")
        for k, v in tr.items():
            out.append(f"<tr><td><b>{e(pretty(str(k)))}</b></td><td>{e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>")
        out.append("</table>")
    metrics = card.get("metrics") or {}
    if metrics:
        out.append("<h3>Metrics</h3><pre>" + e(json.dumps(metrics, indent=1)) + "</pre>")
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
