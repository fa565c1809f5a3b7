"""The probe's text, Qt-free: what lies under the mouse (or the cursor) in world coordinates.

RAS mm, voxel index, HU, organ, both methods' displayed map values and the map cell that
holds the point (``viewer.model.sampling_adapter.cell_at``).  Used by the status bar for the
crosshair and, throttled, for the live probe that follows the mouse.
"""

from __future__ import annotations

import numpy as np

from viewer.model.findings import pretty


def probe_text(state, overlay, ras=None, prefix: str = "") -> str:
    """Status-bar text for a world point (default: the cursor); "" without a scan or outside it."""
    vol = state.volume
    if vol is None:
        return ""
    ras = state.cursor if ras is None else np.asarray(ras, float)
    ijk = np.floor(vol.index(ras) + 0.5).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(vol.shape)):
        return f"{prefix}outside the scan"
    x, y, z = ras
    hu = int(vol.hu[tuple(ijk)])
    parts = [f"{prefix}RAS ({x:.1f}, {y:.1f}, {z:.1f}) mm", f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})", f"{hu} HU"]
    organ = overlay.organ_at(ijk) if overlay is not None else ""
    if organ:
        parts.append(pretty(organ))
    vals = overlay.values_at(ras) if overlay is not None else {}
    if vals:
        from viewer.model.sampling_adapter import cell_at

        cell = cell_at(state.result, ras)
        where = f"  (map cell {cell[0]}, {cell[1]}, {cell[2]})" if cell is not None else ""
        parts.append(f"HiResCAM {vals['hirescam']:.3g}  Grad-CAM {vals['gradcam']:.3g}{where}")
    return "   |   ".join(parts)
