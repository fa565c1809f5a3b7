"""Evidence channels read from the scan on a grid finer than the model's, inside the exact
organ map: the nodule's ball-ness (:mod:`engine.model.nodule_evidence`, card feature
``lung_nodule``), the air bronchogram (:mod:`engine.model.bronchogram_evidence`,
``lung_bronchogram``) and the solid depth (:mod:`engine.model.solid_depth_evidence`,
``lung_solid_depth``).

The fine grid subdivides each model voxel into ``FINE_FACTORS`` voxels (2 x 2 x 2.5 mm on the
bundled 4 x 4 x 7.5 mm grid, the training phantoms' own grid).  The scan is resampled onto
it once, in the box around the requested organs, and each feature goes back to the model
voxels: ball-ness and depth as the maximum over a model voxel's fine voxels, the bronchogram
as the count of its enclosed-air fine voxels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.model.bronchogram_evidence import BRONCHOGRAM_UNIT, enclosed_air
from engine.model.nodule_evidence import NODULE_SCALES_MM, NODULE_UNIT, ballness
from engine.model.solid_depth_evidence import DEPTH_UNIT_MM, solid_depth
from engine.truth import mask_box

FINE_FACTORS = (2, 2, 3)  # fine voxels per model voxel along each axis
FINE_FEATURES = ("lung_nodule", "lung_bronchogram", "lung_solid_depth")
_MARGIN = 3.0  # sigmas of the largest ball-ness scale around the organs' box


def fine_affine(model_affine: np.ndarray, factors: tuple[int, int, int] = FINE_FACTORS) -> np.ndarray:
    """The fine grid subdividing each model voxel into ``factors`` voxels (same extent):
    fine index a sits at model index (a + 1/2) / f - 1/2."""
    f = np.asarray(factors, dtype=np.float64)
    t = np.eye(4)
    t[:3, :3] = np.diag(1.0 / f)
    t[:3, 3] = 0.5 / f - 0.5
    return np.asarray(model_affine, dtype=np.float64) @ t


def _organ_box(organs_model: np.ndarray, codes: list[int], shape: tuple[int, int, int],
               spacing_fine: tuple[float, float, float]) -> tuple[slice, ...] | None:
    """The fine-grid box around the organs (model-grid map) with room for the filters."""
    box = mask_box(np.isin(organs_model, codes))
    if box is None:
        return None
    pad = [int(np.ceil(_MARGIN * max(NODULE_SCALES_MM) / s)) for s in spacing_fine]
    return tuple(slice(max(b.start * f - p, 0), min(b.stop * f + p, n * f))
                 for b, f, p, n in zip(box, FINE_FACTORS, pad, shape))


def fine_evidence(sample: Callable, organ_sample: Callable, organs_model: np.ndarray,
                  organ_codes: dict[str, int], wanted: Sequence[tuple[str, str]],
                  model_affine: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """{(feature, organ): (X, Y, Z) float32 in [0, 1]} on the model grid for each requested
    pair (feature in :data:`FINE_FEATURES`).

    ``sample(affine, shape)`` returns the scan's HU on a grid (trilinear, air outside);
    ``organ_sample(affine, shape)`` the organ map on it (nearest) — the exact map, not the
    model-grid one, so the lung's edge is where the scan has it; ``organs_model`` (the model-
    grid organ map) only bounds the work."""
    for feature, _ in wanted:
        if feature not in FINE_FEATURES:
            raise ValueError(f"unknown fine-grid feature {feature!r} (known: {FINE_FEATURES})")
    shape = organs_model.shape
    fine = fine_affine(model_affine)
    spacing = tuple(float(np.linalg.norm(fine[:3, a])) for a in range(3))
    organs = sorted({o for _, o in wanted})
    codes = [int(organ_codes[o]) for o in organs]
    out = {w: np.zeros(shape, np.float32) for w in wanted}
    box = _organ_box(organs_model, codes, shape, spacing)  # type: ignore[arg-type]
    if box is None:
        return out
    sub = fine.copy()
    sub[:3, 3] = fine[:3, :3] @ np.array([b.start for b in box], float) + fine[:3, 3]
    sub_shape = tuple(b.stop - b.start for b in box)
    hu = sample(sub, sub_shape)
    org = organ_sample(sub, sub_shape)
    # back to model voxels: pad the box to whole model voxels, then reduce each block
    m0 = [b.start // f for b, f in zip(box, FINE_FACTORS)]
    m1 = [-(-b.stop // f) for b, f in zip(box, FINE_FACTORS)]
    off = [b.start - a * f for b, a, f in zip(box, m0, FINE_FACTORS)]
    region = tuple(slice(o, o + n) for o, n in zip(off, sub_shape))
    blocks = (m1[0] - m0[0], FINE_FACTORS[0], m1[1] - m0[1], FINE_FACTORS[1], m1[2] - m0[2], FINE_FACTORS[2])
    target = (slice(m0[0], m1[0]), slice(m0[1], m1[1]), slice(m0[2], m1[2]))

    def model_blocks(values: np.ndarray) -> np.ndarray:
        """Fine-box values -> (model voxels, fine voxels per model voxel) blocks, zero-padded."""
        padded = np.zeros(tuple(n * f for n, f in zip(blocks[::2], FINE_FACTORS)), values.dtype)
        padded[region] = values
        return padded.reshape(blocks)

    nodule_organs = [o for f, o in wanted if f == "lung_nodule"]
    if nodule_organs:  # one ball-ness over the lungs asked for, each lung's own maximum
        ball = model_blocks(ballness(hu, spacing, np.isin(org, [organ_codes[o] for o in nodule_organs])))
        labels = model_blocks(org)
        for o in nodule_organs:
            v = np.where(labels == organ_codes[o], ball, 0.0).max(axis=(1, 3, 5)) / NODULE_UNIT
            out["lung_nodule", o][target] = np.clip(v, 0.0, 1.0)
    for o in (o for f, o in wanted if f == "lung_bronchogram"):  # the solid share inside that lung
        v = model_blocks(enclosed_air(hu, org == organ_codes[o])).sum(axis=(1, 3, 5)) / BRONCHOGRAM_UNIT
        out["lung_bronchogram", o][target] = np.clip(v, 0.0, 1.0)
    for o in (o for f, o in wanted if f == "lung_solid_depth"):  # the deepest solid point
        v = model_blocks(solid_depth(hu, org == organ_codes[o], spacing)).max(axis=(1, 3, 5)) / DEPTH_UNIT_MM
        out["lung_solid_depth", o][target] = np.clip(v, 0.0, 1.0)
    return out
