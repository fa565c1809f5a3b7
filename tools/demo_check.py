"""What a radiologist sees on the demo: every finding's probability beside the truth, and
for the present findings how far each method's map peak lies from the true lesion (mm).

The peak is the centre of the map cell with the largest value (world coordinates through
the result's map affine); the distance is to the nearest voxel of the lesion mask shipped
with the demo (resources/demo/masks), 0 when the peak cell centre lies in the lesion.

Usage: python tools/demo_check.py [--weights W.safetensors] [--case DIR] [--organs shipped|segment]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from engine import operating
from engine.pipeline import explain_scan, run
from engine.resources import resources_dir


def peak_world(m: np.ndarray, affine: np.ndarray) -> np.ndarray:
    ijk = np.array(np.unravel_index(int(np.argmax(m)), m.shape), dtype=float)
    return (affine @ [*ijk, 1.0])[:3]


def lesion_distance_mm(point: np.ndarray, mask_path: Path) -> float:
    img = nib.load(str(mask_path))
    vox = np.argwhere(np.asarray(img.dataobj) > 0)
    world = vox @ img.affine[:3, :3].T + img.affine[:3, 3]
    return float(np.sqrt(((world - point) ** 2).sum(1)).min())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None)
    p.add_argument("--case", default=str(resources_dir() / "demo"))
    p.add_argument("--organs", choices=("shipped", "segment"), default="shipped",
                   help="the case's own organ map (what the app uses, default) or the classical "
                        "segmentation (what ctcam explain uses without --organs)")
    a = p.parse_args(argv)
    case = Path(a.case)
    truth = json.loads((case / "labels.json").read_text(encoding="utf-8"))
    organs = case / "organs.nii.gz" if a.organs == "shipped" and (case / "organs.nii.gz").exists() else None
    res = run(explain_scan(case / "case.nii.gz", model=a.weights, organs=organs))
    print(f"organ map: {'shipped with the case (as the app uses it)' if organs else 'classical segmentation'}")
    names = [lab.name for lab in res.labels]
    order = np.argsort(-res.probabilities)
    absent_max = max(float(res.probabilities[i]) for i, n in enumerate(names)
                     if not truth["labels"].get(n))
    thr = operating.thresholds(res.card)
    print("finding | truth | probability | call (threshold) | rank | HiResCAM peak to lesion (mm) | "
          "Grad-CAM peak to lesion (mm)")
    for rank, i in enumerate(order, 1):
        n = names[i]
        present = bool(truth["labels"].get(n))
        d = {}
        if present and n in truth.get("masks", {}):
            for m in ("hirescam", "gradcam"):
                d[m] = lesion_distance_mm(peak_world(res.maps[m][i], res.map_affine),
                                          case / truth["masks"][n])
        dist = " | ".join(f"{d[m]:.1f}" if m in d else "" for m in ("hirescam", "gradcam"))
        call = operating.decide(res.probabilities[i], thr.get(n))
        call_s = ("no call" if n in operating.not_called(res.card) else "n/a") if call is None else f"{'POSITIVE' if call else 'negative'} ({thr[n]:.3f})"
        print(f"{n} | {'PRESENT' if present else ''} | {res.probabilities[i]:.3f} | {call_s} | {rank} | {dist}")
    print(f"highest absent finding: {absent_max:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
