"""What the findings panel says about the ground truth of a finding, Qt-free."""

from __future__ import annotations

TITLES = (("hirescam", "HiResCAM"), ("gradcam", "Grad-CAM"))


def truth_status(truth, label: str) -> str | None:
    """"present" | "absent" | None (this truth does not know the label)."""
    if truth is None or label not in truth.present:
        return None
    return "present" if truth.present[label] else "absent"


def readout_html(truth, stats: dict | None, label: str) -> str:
    """One or two lines for the finding's readout; "" without truth for the label."""
    status = truth_status(truth, label)
    if status is None:
        return ""
    if status == "absent":
        return "Truth: <b>absent</b> in this scan (no lesion to compare the maps with)."
    if label not in truth.masks:
        return "Truth: <b>present</b> (no lesion mask given)."
    if stats is None or label not in stats:
        return "Truth: <b>present</b>; comparing the maps with the lesion…"
    parts = []
    for m, title in TITLES:
        st = stats[label].get(m, {})
        share = st.get("in_lesion")
        d = st.get("peak_mm")
        where = "peak in the lesion" if d == 0 else f"peak {d:.1f} mm from it"
        parts.append(f"{title} {'—' if share is None else f'{100 * share:.0f}%'} ({where})")
    return ("Truth: <b>present</b>. Positive map mass inside the true lesion: " + "; ".join(parts))
