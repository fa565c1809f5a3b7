"""Does a model with evidence channels read a scan as well with the classical organ map?

The evidence channels (engine/model/evidence.py) are read inside an organ map: in training
the phantom's true organs, at inference the map shipped with a scan or the classical
segmentation (engine.organs).  This renders held-out test phantoms (seeds 3000000+), reads
each through the model twice — gated by the true organ map and by the classical
segmentation — and prints AUROC per label and macro side by side, plus the mean absolute
change of the logits.

Usage: python benchmarks/organ_gating.py [--n 100] [--weights W.safetensors]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from heldout import model_and_options

from engine.model import preprocess
from engine.model.dataset import PHANTOM_SPACING, SPLIT_SEED_BASE
from engine.model.metrics import auroc_per_label


def _case(seed: int, card: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from engine.organs import segment
    from engine.phantom import generate

    case = generate(seed, size="model", spacing=PHANTOM_SPACING)
    truth, _ = preprocess(case.volume, card, case.organs)
    seg, _ = preprocess(case.volume, card, segment(case.volume).labelmap)
    y = np.array([int(case.labels[lab["name"]]) for lab in card["labels"]], np.uint8)
    return truth.numpy(), seg.numpy(), y


def main(argv: list[str] | None = None) -> int:
    a, lm = model_and_options(__doc__, argv, n=100)
    card = lm.card
    seeds = [SPLIT_SEED_BASE["test"] + i for i in range(a.n)]
    t0 = time.perf_counter()
    import multiprocessing as mp
    from functools import partial

    with mp.get_context("fork").Pool(a.workers) as pool:
        rows = pool.map(partial(_case, card=card), seeds, chunksize=2)
    print(f"{a.n} test phantoms read twice in {time.perf_counter() - t0:.0f} s")
    y = np.stack([r[2] for r in rows])
    logits = {}
    with torch.no_grad():
        for k, name in ((0, "true organs"), (1, "classical segmentation")):
            logits[name] = np.concatenate(
                [lm.model(torch.from_numpy(r[k])).numpy() for r in rows])
    au = {name: auroc_per_label(y, z) for name, z in logits.items()}
    names = [lab["name"] for lab in card["labels"]]
    print(f"{'label':42s} {'true organs':>12s} {'classical':>10s}")
    for i, n in enumerate(names):
        print(f"{n:42s} {au['true organs'][i]:12.3f} {au['classical segmentation'][i]:10.3f}")
    print(f"{'macro':42s} {np.nanmean(au['true organs']):12.3f} "
          f"{np.nanmean(au['classical segmentation']):10.3f}")
    d = np.abs(logits["true organs"] - logits["classical segmentation"])
    print(f"mean abs logit change {d.mean():.3f} (max {d.max():.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
