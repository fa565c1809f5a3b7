"""``summary.png``: key axial slices of a scan's top findings, both methods side by side.

One row per finding (highest probability first); columns: the CT slice alone (lung window,
organ outline of the finding's allowed region when an organ map is known), then the slice
with each method's heat map over it.  Drawn with Pillow only (no Qt, no matplotlib).

* Key slice: the axial slice through the peak of the label's positive evidence, both methods
  combined: ``argmax(relu(H)/max relu(H) + relu(G)/max relu(G))`` over the map voxels inside
  the scan (inside the label's organ when an organ map is known and holds evidence there),
  mapped to the scan grid through world coordinates.  With an organ map each method's panel
  also gives the share of its positive evidence inside the organ (threshold-free, design
  section 8): a faint overlay with a low share means the model looked elsewhere.
* Colours: ReLU of the raw map, divided by the label's peak over *both* methods
  (``joint_methods`` normalisation, so the comparison is fair); opacity grows with the
  value; the colour bar runs 0 -> 1 of that peak.
* Radiological convention: the patient's right on the image's left, anterior up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.results import METHODS, ExplainResult
from engine.volume import CTVolume

PANEL_W = 220
MAX_PANEL_H = 300
LUNG_WINDOW = (-600.0, 1500.0)  # level, width
METHOD_TITLES = {"hirescam": "HiResCAM", "gradcam": "Grad-CAM"}
_BG = (18, 18, 22)
_FG = (235, 235, 235)
_OUTLINE = (0, 210, 255)

# "hot"-like colour map anchors: value -> RGB
_ANCHORS = np.array([0.0, 0.35, 0.7, 1.0])
_COLOURS = np.array([[80, 0, 0], [230, 30, 0], [255, 200, 0], [255, 255, 220]], dtype=np.float64)


def colour_map(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB float (..., 3) in 0..255."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return np.stack([np.interp(v, _ANCHORS, _COLOURS[:, c]) for c in range(3)], axis=-1)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _screen(a: np.ndarray) -> np.ndarray:
    """Scan-order axial slice (I, J) -> screen rows/cols: patient right left, anterior up."""
    return np.ascontiguousarray(a[::-1, ::-1].T)


def key_slice(result: ExplainResult, volume: CTVolume, label: int,
              methods: Sequence[str] = METHODS, organ_codes: np.ndarray | None = None) -> int:
    """Axial index (scan grid) through the peak of the label's combined positive evidence.

    Only map voxels whose centres lie inside the scan count; with ``organ_codes`` (organ code
    per map voxel) only those in the label's organ, when it holds any positive evidence.
    """
    combined = None
    for m in methods:
        pos = np.maximum(np.asarray(result.maps[m][label], dtype=np.float64), 0.0)
        peak = pos.max()
        if peak > 0:
            combined = pos / peak if combined is None else combined + pos / peak
    if combined is None:
        return volume.shape[2] // 2
    idx = np.indices(combined.shape).reshape(3, -1).T.astype(np.float64)
    world = idx @ result.map_affine[:3, :3].T + result.map_affine[:3, 3]
    ijk = np.rint(volume.index(world)).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.array(volume.shape)), axis=1)
    score = np.where(inside, combined.ravel(), 0.0)
    if organ_codes is not None:
        in_organ = organ_codes.ravel() == result.labels[label].organ_code
        if np.any(score[in_organ] > 0):
            score = np.where(in_organ, score, 0.0)
    if not np.any(score > 0):
        return volume.shape[2] // 2
    k = int(ijk[int(np.argmax(score)), 2])
    return min(max(k, 0), volume.shape[2] - 1)


def _panel_size(volume: CTVolume) -> tuple[int, int]:
    si, sj, _ = volume.spacing
    ni, nj, _ = volume.shape
    h = PANEL_W * (nj * sj) / max(ni * si, 1e-6)
    if h > MAX_PANEL_H:
        return max(1, round(PANEL_W * MAX_PANEL_H / h)), MAX_PANEL_H
    return PANEL_W, max(1, round(h))


def _outline(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask)


def _rows(result: ExplainResult, labels: Sequence[int] | None, top: int) -> list[int]:
    order = np.argsort(-np.asarray(result.probabilities), kind="stable")
    allowed = set(range(len(result.labels))) if labels is None else set(labels)
    return [int(i) for i in order if int(i) in allowed][:top]


def render_summary(result: ExplainResult, volume: CTVolume, *, title: str = "",
                   methods: Sequence[str] = METHODS, labels: Sequence[int] | None = None,
                   top: int = 3) -> Image.Image:
    """The summary figure as a Pillow RGB image (see the module docstring)."""
    from engine.cam.sampling import display_scale, sample_slice

    methods = [m for m in methods if m in result.maps]
    rows = _rows(result, labels, top)
    pw, ph = _panel_size(volume)
    big, small = _font(15), _font(12)
    pad, head_h, row_title_h, foot_h = 8, 30, 22, 42
    bar_w = 14
    n_cols = 1 + len(methods)
    width = max(pad + n_cols * (pw + pad) + bar_w + 30, 640)
    height = head_h + max(1, len(rows)) * (row_title_h + ph + pad) + foot_h
    img = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(img)
    draw.text((pad, 8), title or "ctcam summary", fill=_FG, font=big)

    level, win = LUNG_WINDOW
    lo = level - win / 2
    codes = None
    if result.organ_map is not None and result.organ_map.shape == volume.shape:
        from engine.cam.localisation import mass_in_organ, organ_codes_on_map_grid

        codes = organ_codes_on_map_grid(result.organ_map, volume.affine, result.map_affine,
                                        next(iter(result.maps.values())).shape[1:])
    y = head_h
    if not rows:
        draw.text((pad, y + 4), "no findings to show", fill=_FG, font=small)
    for li in rows:
        lab = result.labels[li]
        k = key_slice(result, volume, li, methods, codes)
        where = f"peak in {lab.organ}" if codes is not None else "peak"
        draw.text((pad, y + 3),
                  f"{lab.name}   p = {float(result.probabilities[li]):.3f}   axial slice {k + 1}/"
                  f"{volume.shape[2]} ({where})", fill=_FG, font=small)
        y += row_title_h
        gray = np.clip((volume.hu[:, :, k].astype(np.float64) - lo) / win, 0, 1) * 255
        gray = np.repeat(_screen(gray)[..., None], 3, axis=2)
        outline = None
        if result.organ_map is not None:
            outline = _screen(_outline(result.organ_map[:, :, k] == lab.organ_code))
        scale = display_scale(result.maps, methods[0], li, mode="relu",
                              normalisation="joint_methods") if methods else None
        panels = [(gray, "CT (lung window)")]
        for m in methods:
            raw = sample_slice(result.maps[m][li], result.map_affine, volume.affine,
                               volume.shape, axis=2, index=k)
            v = _screen(np.clip(np.maximum(raw, 0) / scale.divisor, 0, 1))
            alpha = (0.75 * np.clip((v - 0.05) / 0.95, 0, 1))[..., None]
            name = METHOD_TITLES.get(m, m)
            if codes is not None:
                share = mass_in_organ(result.maps[m][li], codes, lab.organ_code)
                name += f"\n{share:.0%} of + evidence in organ"
            panels.append((gray * (1 - alpha) + colour_map(v) * alpha, name))
        x = pad
        for arr, name in panels:
            rgb = arr.copy()
            if outline is not None:
                rgb[outline] = _OUTLINE
            tile = Image.fromarray(rgb.astype(np.uint8), "RGB").resize((pw, ph), Image.BILINEAR)
            img.paste(tile, (x, y))
            draw.text((x + 3, y + 2), name, fill=_FG, font=small)
            draw.text((x + 3, y + ph // 2 - 6), "R", fill=_FG, font=small)
            draw.text((x + pw - 10, y + ph // 2 - 6), "L", fill=_FG, font=small)
            x += pw + pad
        if methods:  # colour bar for this row
            ramp = colour_map(np.linspace(1, 0, ph))[:, None, :].repeat(bar_w, axis=1)
            img.paste(Image.fromarray(ramp.astype(np.uint8), "RGB"), (x, y))
            draw.text((x + bar_w + 3, y - 2), "1", fill=_FG, font=small)
            draw.text((x + bar_w + 3, y + ph - 12), "0", fill=_FG, font=small)
        y += ph + pad
    note = ("Heat maps: ReLU, scaled by the label's peak over both methods (fair comparison). "
            "Patient's right on the left.")
    if result.methods_identical:
        note += " The two methods are identical for this model."
    draw.text((pad, y + 4), note, fill=_FG, font=small)
    draw.text((pad, y + 20), "Outline: the finding's organ (allowed region), where known.",
              fill=_FG, font=small)
    return img


def write_summary_png(result: ExplainResult, volume: CTVolume, path: str | Path, **kw) -> Path:
    """Render :func:`render_summary` and save it as PNG at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_summary(result, volume, **kw).save(path, format="PNG")
    return path
