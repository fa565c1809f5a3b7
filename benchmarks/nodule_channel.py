"""The nodule channel (engine/model/nodule_evidence.py): what it costs and what it separates.

1. Preprocessing of the demo with the bundled card's channels, the same without the two
   nodule channels, and with the scales in one thread instead of two, side by side (best of
   ``--repeats``).
2. With ``--n N``: N validation phantoms (seeds 2000000+, rendered like the training data),
   the channel's maximum in each lung as a case-level score for "a nodule in this lung":
   AUROC per lung, and among lungs without a mass, consolidation or atelectasis.

Usage: python benchmarks/nodule_channel.py [--repeats 3] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from unittest import mock

import numpy as np

from engine.io import load
from engine.model import nodule_evidence
from engine.model.dataset import PHANTOM_SPACING, SPLIT_SEED_BASE
from engine.model.metrics import auroc
from engine.model.preprocess import preprocess
from engine.resources import bundled_model_paths

ROOT = Path(__file__).resolve().parent.parent
CONFOUNDERS = ("mass", "consolidation", "atelectasis")


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timing(card: dict, repeats: int) -> None:
    import nibabel as nib

    vol = load(ROOT / "resources/demo/case.nii.gz")
    organs = np.asarray(nib.load(ROOT / "resources/demo/organs.nii.gz").dataobj).astype(np.uint8)
    prep = card["preprocessing"]
    keep = [i for i, ch in enumerate(prep["channels"]) if ch.get("feature") != "lung_nodule"]
    without = dict(card, preprocessing=dict(prep, channels=[prep["channels"][i] for i in keep],
                                            mean=[prep["mean"][i] for i in keep]))
    t_with = _best(lambda: preprocess(vol, card, organs), repeats)
    t_without = _best(lambda: preprocess(vol, without, organs), repeats)
    with mock.patch.object(nodule_evidence, "BALLNESS_THREADS", 1):
        t_one = _best(lambda: preprocess(vol, card, organs), repeats)
    print(f"demo preprocessing without the nodule channels   {t_without:.2f} s")
    print(f"with them, scales in two threads (shipped)      {t_with:.2f} s  ({t_with / t_without:.2f}x)")
    print(f"with them, scales in one thread                 {t_one:.2f} s  ({t_one / t_without:.2f}x)")


def separation(card: dict, n: int) -> None:
    from engine.phantom import generate

    prep = card["preprocessing"]
    idx = {ch["organ"]: i for i, ch in enumerate(prep["channels"]) if ch.get("feature") == "lung_nodule"}
    rows = {side: ([], [], []) for side in ("right", "left")}
    for k in range(n):
        case = generate(SPLIT_SEED_BASE["val"] + k, size="model", spacing=PHANTOM_SPACING)
        x, _ = preprocess(case.volume, card, case.organs)
        x = x[0].numpy() + np.asarray(prep["mean"], np.float32).reshape(-1, 1, 1, 1)
        for side, (y, score, clean) in rows.items():
            y.append(case.labels[f"{side}_lung/nodule"])
            score.append(float(x[idx[f"{side}_lung"]].max()))
            clean.append(not any(case.labels[f"{side}_lung/{c}"] for c in CONFOUNDERS))
    for side, (y, score, clean) in rows.items():
        y_, s_, c_ = np.array(y), np.array(score), np.array(clean)
        print(f"{side} lung: nodule case AUROC {auroc(y_, s_):.3f} ({y_.sum()} of {n}); without a "
              f"mass, consolidation or atelectasis there {auroc(y_[c_], s_[c_]):.3f} ({c_.sum()} lungs)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=0, help="validation phantoms for the separation")
    a = p.parse_args()
    card = json.loads(bundled_model_paths()[1].read_text(encoding="utf-8"))
    timing(card, a.repeats)
    if a.n:
        separation(card, a.n)


if __name__ == "__main__":
    main()
