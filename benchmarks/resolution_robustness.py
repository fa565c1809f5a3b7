"""Does the model read a scan the same at other voxel sizes?  (AUROC side by side.)

Renders the same held-out test phantoms (seeds 3000000+) at several voxel sizes, passes each
through the model's own preprocessing (block statistics, then the model grid) and prints
macro AUROC and the AUROC of the small findings per voxel size, plus the mean absolute
change of the logits against the training resolution.  The model was trained on phantoms
rendered at 2 x 2 x 2.5 mm; a scan at 0.8 mm or 5 mm slices should give the same answer.

Usage: python benchmarks/resolution_robustness.py [--n 40] [--weights W.safetensors]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from heldout import model_and_options

from engine.model.batches import predict
from engine.model.dataset import cache_cell_shape, phantom_dataset
from engine.model.metrics import auroc_per_label

SPACINGS = [(2.0, 2.0, 2.5), (1.0, 1.0, 1.25), (2.0, 2.0, 5.0), (0.8, 0.8, 5.0)]
SMALL = ("nodule", "calcified_granuloma", "coronary_calcification", "emphysema",
         "ground_glass_opacity")


def main(argv: list[str] | None = None) -> int:
    a, lm = model_and_options(__doc__, argv, n=40)
    prep = lm.card["preprocessing"]
    m = lm.model
    cells = cache_cell_shape(prep["shape"], (*m.feature_shape[1:], m.n_groups))
    labels = lm.label_names
    small = [i for i, lab in enumerate(labels) if lab.split("/")[1] in SMALL]
    ref = None
    print("voxel size (mm) | macro AUROC | small findings AUROC | mean |logit change| | s per case")
    for sp in SPACINGS:
        t0 = time.perf_counter()
        ds = phantom_dataset("test", a.n, prep, cells, labels, lm.card["organ_codes"],
                             workers=a.workers, spacing=sp)
        dt = (time.perf_counter() - t0) / a.n
        s = predict(m, ds, prep["mean"], torch.device("cpu"))
        auc = auroc_per_label(ds.y, s)
        ref = s if ref is None else ref
        print(f"{' x '.join(f'{v:g}' for v in sp)} | {np.nanmean(auc):.3f} | "
              f"{np.nanmean(auc[small]):.3f} | {np.abs(s - ref).mean():.3f} | {dt:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
