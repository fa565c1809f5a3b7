"""Would gating the nodule ball-ness by the solid structure it sits on remove a mass's
lobulated edge from the nodule channel, without losing nodules?  (docs/training.md,
"Retraining", the probe of stop 18.)

Per lung of ``--n`` validation phantoms (seeds 2000000+, rendered at the training grid's
2 x 2 x 2.5 mm), inside the lung's box: the multi-scale ball-ness of
``engine.model.nodule_evidence`` as shipped, and the same with every voxel set to zero that
lies in, or within 2 voxels of, a connected solid component (> -300 HU inside the lung)
that is "too big for a nodule": its deepest point more than 12 or 15 mm from its edge
(``engine.model.solid_depth_evidence``; nodules are 4-30 mm across), or its bounding box 35
or 45 mm or more across.  Each lung's maximum as a score for "a nodule in this lung": AUROC
over all lungs, over lungs without a mass, consolidation or atelectasis, over lungs with
one, and nodule lungs against nodule-free mass lungs (the demo's confusion); and how many
nodules the gate hides completely.

Usage: python benchmarks/nodule_gate.py [--n 120]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from engine.labels import ORGAN_CODES
from engine.model.bronchogram_evidence import SOLID_HU
from engine.model.dataset import PHANTOM_SPACING, SPLIT_SEED_BASE
from engine.model.metrics import auroc
from engine.model.nodule_evidence import ballness
from engine.model.solid_depth_evidence import solid_depth
from engine.phantom.generate import generate

GATES = {"depth > 15 mm": ("depth", 15.0), "depth > 12 mm": ("depth", 12.0),
         "extent >= 35 mm": ("extent", 35.0), "extent >= 45 mm": ("extent", 45.0)}


def lung_scores(hu: np.ndarray, lung: np.ndarray, spacing, nodule: np.ndarray | None) -> dict:
    """{gate: (the lung's maximum, nodule fully hidden)} for the plain ball-ness and each gate."""
    ball = ballness(hu, spacing, lung)
    lab, n = ndimage.label(lung & (hu > SOLID_HU))
    depth = ndimage.maximum(solid_depth(hu, lung, spacing), lab, index=np.arange(1, n + 1)) if n else np.zeros(0)
    extent = np.array([max((s.stop - s.start) * spacing[a] for a, s in enumerate(o))
                       for o in ndimage.find_objects(lab)]) if n else np.zeros(0)
    near = ndimage.grey_dilation(lab, size=(5, 5, 5)) if n else lab  # each voxel's component, +2 voxels
    out = {"plain": (float(ball.max()), False)}
    for name, (kind, limit) in GATES.items():
        big = np.concatenate([[False], (depth > limit) if kind == "depth" else (extent >= limit)])[near]
        hidden = bool(nodule is not None and nodule.any() and big[nodule].all())
        out[name] = (float(np.where(big, 0.0, ball).max()), hidden)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120)
    a = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    for seed in range(SPLIT_SEED_BASE["val"], SPLIT_SEED_BASE["val"] + a.n):
        case = generate(seed, size="model", spacing=PHANTOM_SPACING)
        hu = case.volume.hu.astype(np.float32)
        spacing = tuple(float(v) for v in np.linalg.norm(case.volume.affine[:3, :3], axis=0))
        for lung in ("right_lung", "left_lung"):
            full = case.organs == ORGAN_CODES[lung]
            box = tuple(slice(max(s.start - 8, 0), s.stop + 8)
                        for s in ndimage.find_objects(full.astype(np.uint8))[0])
            present = {f: bool(case.labels[f"{lung}/{f}"]) for f in ("nodule", "mass", "consolidation", "atelectasis")}
            mask = case.masks.get(f"{lung}/nodule")
            scores = lung_scores(hu[box], full[box], spacing,
                                 mask[box] > 0 if present["nodule"] and mask is not None else None)
            rows.append((present, scores))
    y = np.array([p["nodule"] for p, _ in rows])
    confounded = np.array([p["mass"] or p["consolidation"] or p["atelectasis"] for p, _ in rows])
    mass_or_nodule = np.array([p["nodule"] or p["mass"] for p, _ in rows])
    print(f"{len(rows)} lungs of {a.n} phantoms in {time.perf_counter() - t0:.0f} s: {y.sum()} with a "
          f"nodule, {confounded.sum()} with a mass, consolidation or atelectasis")
    print("ball-ness | all lungs | clean lungs | confounded lungs | nodule vs nodule-free mass lungs | nodules hidden")
    for name in ["plain", *GATES]:
        s = np.array([sc[name][0] for _, sc in rows])
        hidden = sum(sc[name][1] for _, sc in rows)
        print(f"{name} | {auroc(y, s):.3f} | {auroc(y[~confounded], s[~confounded]):.3f} | "
              f"{auroc(y[confounded], s[confounded]):.3f} | "
              f"{auroc(y[mass_or_nodule], s[mass_or_nodule]):.3f} | {hidden}")


if __name__ == "__main__":
    main()
