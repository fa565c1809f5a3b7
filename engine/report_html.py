"""A per-scan report as one self-contained HTML file (images inlined); written by the viewer
(File > Export > Report) and by ``ctcam explain --report`` (one scan or each scan of a batch).

Scan and model identification, the suitability verdict, every finding with its probability,
operating point, in-organ shares and (when the truth is known) the truth and the maps'
agreement with the true lesion, the key image (an annotated screenshot) and the model card's
caveat about synthetic training data.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from engine.findings import pretty


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.0f}%"


def report_html(*, source: str | None, card: dict, findings, suitability: dict | None,
                truth_status: dict[str, str] | None = None, truth_stats: dict | None = None,
                images: list[tuple[str, bytes]] = ()) -> str:
    """``truth_status``: label name -> "present" / "absent" where the truth is known."""
    e = html.escape
    rows = []
    with_truth = bool(truth_status) or bool(truth_stats)  # truth columns only when known
    for f in sorted(findings, key=lambda f: (not f.positive, -f.probability)):  # positives first
        status = (truth_status or {}).get(f.name, "")
        st = (truth_stats or {}).get(f.name, {})
        lesion = "; ".join(f"{t} {_pct(st[m].get('in_lesion'))}, peak {st[m]['peak_mm']:.1f} mm"
                           for m, t in (("hirescam", "HiResCAM"), ("gradcam", "Grad-CAM")) if m in st)
        call = "—" if f.positive is None else (
            f"POSITIVE (≥ {100 * f.threshold:.0f}%)" if f.positive else f"negative (< {100 * f.threshold:.0f}%)")
        truth_cells = f"<td>{e(status)}</td><td>{e(lesion)}</td>" if with_truth else ""
        bold = ("<b>", "</b>") if f.positive else ("", "")
        rows.append(f"<tr><td>{bold[0]}{e(pretty(f.organ))} — {e(pretty(f.abnormality))}{bold[1]}</td>"
                    f"<td>{100 * f.probability:.1f}%</td>"
                    f"<td>{e(call)}</td><td>{_pct(f.organ_share.get('hirescam'))}</td>"
                    f"<td>{_pct(f.organ_share.get('gradcam'))}</td>{truth_cells}</tr>")
    truth_head = "<th>Truth</th><th>Map mass in the true lesion, peak distance</th>" if with_truth else ""
    verdict = "not assessed" if not suitability else ("suitable" if suitability.get("ok") else "NOT suitable")
    reasons = "".join(f"<li>{e(str(r))}</li>" for r in (suitability or {}).get("reasons", []) or [])
    figs = "".join(f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{e(cap)}">'
                   f"<figcaption>{e(cap)}</figcaption></figure>" for cap, png in images)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>ctcam report — {e(Path(str(source or 'scan')).name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:14px}}td,th{{border:1px solid #bbb;padding:3px 6px}}
th{{background:#eee}}img{{max-width:100%}}.caveat{{background:#fff3cd;padding:8px}}</style></head>
<body><h1>ctcam report</h1>
<p>Scan: <code>{e(str(source))}</code><br>Model: {e(str(card.get('name')))} version {e(str(card.get('version')))}</p>
<p>Suitability: <b>{verdict}</b></p><ul>{reasons}</ul>
<h2>Findings</h2>
<table><tr><th>Finding</th><th>Probability</th><th>Call (operating point)</th><th>In organ HiResCAM</th>
<th>In organ Grad-CAM</th>{truth_head}</tr>{''.join(rows)}</table>
<h2>Key image</h2>{figs}
<p class="caveat">{e(str(card.get('synthetic_data_statement') or 'Research tool; not a medical device.'))}</p>
</body></html>
"""


def write_report(result, volume, path: str | Path, *, source: str | None, methods=None,
                 labels=None, top: int = 3) -> Path:
    """``ctcam explain --report``: the report with the summary figure (key axial slice of the
    top findings, CT | HiResCAM | Grad-CAM on one shared scale; engine/summary_png.py)."""
    import io

    from engine.findings import summarise
    from engine.results import METHODS
    from engine.summary_png import render_summary

    findings = summarise(result, volume.affine)
    positive = [f.index for f in findings if f.positive and (labels is None or f.index in labels)]
    buf = io.BytesIO()  # the key slices show the positive findings when there are any
    render_summary(result, volume, methods=methods or METHODS, labels=positive or labels, top=top,
                   title=f"{Path(str(source or 'scan')).name}   model {result.card.get('name')} "
                         f"{result.card.get('version')}").save(buf, format="PNG")
    truth_status, truth_stats = _truth_beside(source, result, volume)
    text = report_html(source=source, card=result.card, findings=findings,
                       truth_status=truth_status, truth_stats=truth_stats,
                       suitability=result.suitability or None,
                       images=[(f"Key slices of the {'positive' if positive else 'most probable'} "
                                f"findings (at most {top}): CT, HiResCAM, Grad-CAM (one colour scale "
                                "per finding, shared by both methods)",
                                buf.getvalue())])
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def _truth_beside(source, result, volume) -> tuple[dict[str, str] | None, dict | None]:
    """The truth of a scan that has one beside it (a ``ctcam phantom`` folder, the demo:
    ``labels.json`` and its masks): label -> "present"/"absent" and the maps' agreement with
    each true lesion (engine.truth.readouts); (None, None) when there is none or it cannot be
    read (the report then has no truth columns)."""
    from engine.truth import TruthError, find_truth_folder, read_truth_folder, readouts

    folder = find_truth_folder(source)
    if folder is None:
        return None, None
    try:
        truth = read_truth_folder(folder, volume)
    except TruthError:
        return None, None
    status = {name: "present" if present else "absent" for name, present in truth.present.items()}
    return status, readouts(result, truth, volume.affine)
