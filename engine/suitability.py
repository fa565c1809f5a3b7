"""Is this a scan the model can speak to?  A verdict with a named reason per failed check.

:func:`assess` returns ``{"ok": bool, "reasons": [str, ...], "checks": {name: check}}`` where
each check is ``{"ok": True | False | None, "value": ..., "expected": str, "reason": str |
None}`` (``ok`` None: could not be checked, e.g. no modality recorded in a NIfTI file).  The
scan is suitable when no check failed.  The checks:

* ``modality``: CT when the file records it (DICOM Modality; NIfTI records none);
* ``body_part``: DICOM BodyPartExamined, when present, is not a non-chest region;
* ``lungs``: two air-filled lungs of plausible volume, mean HU near -850, one each side of
  the body's midline;
* ``heart``: soft tissue of plausible volume between the lungs;
* ``coverage``: the scan runs from above the lung apices to below the bases (the lungs do
  not fill its top or bottom slice);
* ``acquisition``: slice spacing and in-plane field of view within what the model card's
  ``training`` section says it was trained on (``slice_spacing_mm`` and
  ``field_of_view_mm``, each ``[lo, hi]``, widened by :data:`CARD_TOLERANCE`), else
  :data:`DEFAULT_SLICE_MM` and :data:`DEFAULT_FOV_MM`;
* ``hu``: HU statistics of a chest: enough lung-like air (-950..-600 HU), soft tissue and
  some (not too much) bone among the voxels denser than -950 HU.

The thresholds were calibrated on phantoms (``tools/suitability_calibration.py``, numbers in
``docs/suitability.md``): every phantom chest and the demo pass with a wide margin, while
abdomen-only, neck-only, water-filled-lung, MR-like and tiny crops fail.  The lung and heart
checks use the organ map the pipeline made (classical segmentation, a phantom's truth or a
user's label map); without one, the lungs and heart are segmented here for the check only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.labels import ORGAN_CODES
from engine.volume import CTVolume

UNSUITABLE = "Not a chest CT this model can read"
LUNG_ML = (250.0, 6000.0)  # each lung
LUNG_MEAN_HU = (-950.0, -650.0)
HEART_ML = (100.0, 2500.0)
TOP_SLICE_SHARE = 0.15  # lung area in the scan's top slice / the largest lung slice
BOTTOM_SLICE_SHARE = 0.30  # bases: the costophrenic recesses are the lowest, small parts
DEFAULT_SLICE_MM = (0.3, 10.0)
DEFAULT_FOV_MM = (200.0, 800.0)  # the smaller in-plane extent of the scan
MIN_AXIAL_MM = 100.0  # the scan's length along the body
CARD_TOLERANCE = 1.5  # a card's trained range [lo, hi] is accepted as [lo / 1.5, hi * 1.5]
AIR_SHARE_MIN = 0.08  # lung-like air among the voxels denser than -950 HU
SOFT_SHARE_MIN = 0.25  # soft tissue (-150..150 HU) among the voxels denser than -500 HU
BONE_SHARE = (0.003, 0.25)  # bone (> 300 HU) among the voxels denser than -500 HU
NON_CHEST_PARTS = ("HEAD", "BRAIN", "SKULL", "FACE", "SINUS", "ORBIT", "NECK", "ABDOMEN",
                   "PELVIS", "KNEE", "ANKLE", "FOOT", "HAND", "WRIST", "ELBOW", "HIP", "LEG",
                   "ARM", "EXTREMITY", "IAC", "EAR")
CHEST_PARTS = ("CHEST", "THORAX", "LUNG", "HEART", "CARDIAC", "TRUNK", "WHOLEBODY", "WHOLE BODY",
               "TORSO", "CAP", "BODY")


def _check(ok: bool | None, value: Any, expected: str, reason: str | None = None) -> dict:
    return {"ok": ok, "value": value, "expected": expected, "reason": reason if ok is False else None}


def _modality(volume: CTVolume) -> dict:
    m = volume.meta.get("modality")
    if not m:
        return _check(None, None, "CT", None)
    m = str(m).strip().upper()
    return _check(m == "CT", m, "CT", f"the series is {m}, not CT; the model reads CT in HU")


def _body_part(volume: CTVolume) -> dict:
    part = volume.meta.get("body_part")
    if not part:
        return _check(None, None, "a chest region (or not recorded)")
    p = str(part).strip().upper().replace("_", " ")
    chest = any(c in p for c in CHEST_PARTS)
    other = [n for n in NON_CHEST_PARTS if n in p]
    ok = chest or not other
    return _check(ok, str(part), "a chest region (or not recorded)",
                  f"BodyPartExamined is {part!r}, not the chest")


def _range(card: dict[str, Any], key: str, default: tuple[float, float]) -> tuple[tuple[float, float], str]:
    trained = (card.get("training") or {}).get(key)
    try:
        lo, hi = (float(v) for v in trained)
        return (lo / CARD_TOLERANCE, hi * CARD_TOLERANCE), f"model card (trained {lo:g}-{hi:g})"
    except (TypeError, ValueError):
        return default, "default"


def _acquisition(volume: CTVolume, card: dict[str, Any]) -> dict:
    (slo, shi), s_src = _range(card, "slice_spacing_mm", DEFAULT_SLICE_MM)
    (flo, fhi), f_src = _range(card, "field_of_view_mm", DEFAULT_FOV_MM)
    sp = np.asarray(volume.spacing, float)
    extent = np.asarray(volume.shape, float) * sp
    fov = float(min(extent[0], extent[1]))
    value = {"slice_mm": round(float(sp[2]), 3), "fov_mm": round(fov, 1), "length_mm": round(float(extent[2]), 1)}
    expected = (f"slices {slo:.2g}-{shi:.3g} mm ({s_src}), field of view {flo:.0f}-{fhi:.0f} mm "
                f"({f_src}), at least {MIN_AXIAL_MM:.0f} mm long")
    problems = []
    if not slo <= sp[2] <= shi:
        problems.append(f"slice spacing {sp[2]:.2g} mm is outside {slo:.2g}-{shi:.3g} mm")
    if not flo <= fov <= fhi:
        problems.append(f"field of view {extent[0]:.0f} x {extent[1]:.0f} mm is outside {flo:.0f}-{fhi:.0f} mm")
    if extent[2] < MIN_AXIAL_MM:
        problems.append(f"it covers only {extent[2]:.0f} mm along the body (a chest is about 250-350 mm)")
    return _check(not problems, value, expected, "; ".join(problems))


def _hu(volume: CTVolume) -> dict:
    hu = volume.hu
    step = max(1, int(round((hu.size / 4e6) ** (1 / 3))))  # about 4 M voxels are enough
    sub = np.asarray(hu[::step, ::step, ::step])
    dense = int(np.count_nonzero(sub >= -950))
    tissue = int(np.count_nonzero(sub >= -500))
    value = {"air_share": 0.0, "soft_share": 0.0, "bone_share": 0.0}
    expected = (f"lung-like air >= {AIR_SHARE_MIN:.0%}, soft tissue >= {SOFT_SHARE_MIN:.0%}, bone "
                f"{BONE_SHARE[0]:.1%}-{BONE_SHARE[1]:.0%}")
    if tissue == 0:
        return _check(False, value, expected, "the scan holds no tissue denser than -500 HU")
    value["air_share"] = round(int(np.count_nonzero((sub >= -950) & (sub < -600))) / max(dense, 1), 4)
    value["soft_share"] = round(int(np.count_nonzero((sub >= -150) & (sub <= 150))) / tissue, 4)
    value["bone_share"] = round(int(np.count_nonzero(sub > 300)) / tissue, 4)
    problems = []
    if value["air_share"] < AIR_SHARE_MIN:
        problems.append(f"only {value['air_share']:.1%} of it is lung-like air (-950 to -600 HU)")
    if value["soft_share"] < SOFT_SHARE_MIN:
        problems.append(f"only {value['soft_share']:.0%} of its tissue is soft tissue (-150 to 150 HU)")
    if not BONE_SHARE[0] <= value["bone_share"] <= BONE_SHARE[1]:
        problems.append(f"{value['bone_share']:.1%} of its tissue is bone (> 300 HU)")
    return _check(not problems, value, expected, "HU are not those of a chest: " + "; ".join(problems))


def _organ_geometry(volume: CTVolume, organ_map: np.ndarray) -> dict[str, Any]:
    """Volumes (mL), centroids (RAS mm), mean HU and per-slice areas of the lungs and heart."""
    voxel_ml = float(np.prod(volume.spacing)) / 1000.0
    out: dict[str, Any] = {}
    for name in ("right_lung", "left_lung", "heart"):
        mask = organ_map == ORGAN_CODES[name]
        n = int(np.count_nonzero(mask))
        info = {"ml": n * voxel_ml, "x": None, "mean_hu": None}
        if n:
            idx = np.argwhere(mask[::2, ::2, ::2]) * 2 if n > 20000 else np.argwhere(mask)
            info["x"] = float(volume.world(idx.mean(0))[0])
            info["mean_hu"] = float(volume.hu[mask].mean())
        out[name] = info
    lungs = (organ_map == ORGAN_CODES["right_lung"]) | (organ_map == ORGAN_CODES["left_lung"])
    out["lung_area"] = lungs.sum((0, 1))
    tissue = volume.hu[::2, ::2, :] >= -500
    ii = np.nonzero(tissue.any((1, 2)))[0]
    mid = np.array([0.0, (volume.shape[1] - 1) / 2, (volume.shape[2] - 1) / 2])
    out["body_x"] = float(volume.world(mid + [ii.mean() * 2, 0, 0])[0]) if len(ii) else None
    return out


def _lungs(g: dict[str, Any]) -> dict:
    r, lft = g["right_lung"], g["left_lung"]
    value = {"right_ml": round(r["ml"], 1), "left_ml": round(lft["ml"], 1),
             "mean_hu": None if not (r["ml"] + lft["ml"]) else round(
                 ((r["mean_hu"] or 0) * r["ml"] + (lft["mean_hu"] or 0) * lft["ml"]) / (r["ml"] + lft["ml"]), 1)}
    expected = (f"two lungs of {LUNG_ML[0]:.0f}-{LUNG_ML[1]:.0f} mL, mean {LUNG_MEAN_HU[0]:.0f} to "
                f"{LUNG_MEAN_HU[1]:.0f} HU, either side of the midline")
    problems = []
    for side, info in (("right", r), ("left", lft)):
        if info["ml"] == 0:
            problems.append(f"no {side} lung found")
        elif not LUNG_ML[0] <= info["ml"] <= LUNG_ML[1]:
            problems.append(f"the {side} 'lung' found is {info['ml']:.0f} mL (a lung is "
                            f"{LUNG_ML[0]:.0f}-{LUNG_ML[1]:.0f} mL)")
    if value["mean_hu"] is not None and not LUNG_MEAN_HU[0] <= value["mean_hu"] <= LUNG_MEAN_HU[1]:
        problems.append(f"the lungs' mean is {value['mean_hu']:.0f} HU (air-filled lung is about -850)")
    bx = g["body_x"]
    if r["x"] is not None and lft["x"] is not None and bx is not None and not r["x"] > bx > lft["x"]:
        problems.append("the two lungs are not on either side of the body's midline")
    return _check(not problems, value, expected, "; ".join(problems))


def _heart(g: dict[str, Any]) -> dict:
    h, r, lft = g["heart"], g["right_lung"], g["left_lung"]
    value = {"ml": round(h["ml"], 1)}
    expected = f"{HEART_ML[0]:.0f}-{HEART_ML[1]:.0f} mL between the lungs"
    if h["ml"] == 0:
        return _check(False, value, expected, "no heart found between the lungs")
    if not HEART_ML[0] <= h["ml"] <= HEART_ML[1]:
        return _check(False, value, expected, f"the 'heart' found is {h['ml']:.0f} mL")
    if r["x"] is not None and lft["x"] is not None and not r["x"] >= h["x"] >= lft["x"]:
        return _check(False, value, expected, "the heart found is not between the lungs")
    return _check(True, value, expected)


def _coverage(g: dict[str, Any]) -> dict:
    area = np.asarray(g["lung_area"], float)
    expected = (f"lungs in the top slice <= {TOP_SLICE_SHARE:.0%} and in the bottom slice <= "
                f"{BOTTOM_SLICE_SHARE:.0%} of the largest lung slice")
    if area.max(initial=0) == 0:
        return _check(None, None, expected)
    top, bottom = float(area[-1] / area.max()), float(area[0] / area.max())
    value = {"top_share": round(top, 3), "bottom_share": round(bottom, 3)}
    problems = []
    if top > TOP_SLICE_SHARE:
        problems.append("the scan starts below the lung apices")
    if bottom > BOTTOM_SLICE_SHARE:
        problems.append("the scan ends above the lung bases")
    return _check(not problems, value, expected,
                  " and ".join(problems) + " (the lungs fill its edge slices); open the whole chest")


def assess(volume: CTVolume, organ_map: np.ndarray | None, card: dict[str, Any]) -> dict[str, Any]:
    """The suitability verdict of ``volume`` for the model of ``card`` (module docstring).

    ``organ_map``: ctcam organ codes on the scan grid, or None to segment here."""
    if organ_map is None or organ_map.shape != volume.shape:
        from engine.organs import segment

        organ_map = segment(volume).labelmap
    checks = {"modality": _modality(volume), "body_part": _body_part(volume)}
    g = _organ_geometry(volume, organ_map)
    checks["lungs"] = _lungs(g)
    checks["heart"] = _heart(g)
    checks["coverage"] = _coverage(g)
    checks["acquisition"] = _acquisition(volume, card)
    checks["hu"] = _hu(volume)
    reasons = [str(c["reason"]) for c in checks.values() if c["ok"] is False]
    return {"ok": not reasons, "reasons": reasons, "checks": checks}


def banner_text(suitability: dict[str, Any] | None) -> str | None:
    """"Not a chest CT this model can read: reason; reason", or None when suitable/unknown."""
    if not suitability or suitability.get("ok", True):
        return None
    return f"{UNSUITABLE}: " + "; ".join(suitability.get("reasons", [])) + "."
