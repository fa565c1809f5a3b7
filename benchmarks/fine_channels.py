"""The channels read finer than the model grid (engine/model/fine_evidence.py): the nodule's
ball-ness and the air bronchogram, what they cost and what they separate.

1. Preprocessing of the demo with the chosen channel set, the same without each fine feature,
   and with the ball-ness scales in one thread instead of two, side by side (best of
   ``--repeats``).
2. With ``--n N``: N validation phantoms (seeds 2000000+, rendered like the training data),
   each channel's per-lung case score as a score for its finding: the nodule channel's
   maximum for "a nodule in this lung" (also among lungs without a mass, consolidation or
   atelectasis), the bronchogram channel's sum for "a consolidation in this lung" (also
   among lungs that hold a mass or atelectasis and no consolidation: the confusion it is for).

Usage: python benchmarks/fine_channels.py [--channels evidence_bronchogram] [--repeats 3] [--n 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import numpy as np

from engine.io import load
from engine.labels import ORGAN_CODES
from engine.model import nodule_evidence
from engine.model.channel_sets import CHANNEL_SETS, channel_set
from engine.model.dataset import PHANTOM_SPACING, SPLIT_SEED_BASE
from engine.model.fine_evidence import FINE_FEATURES
from engine.model.metrics import auroc
from engine.model.preprocess import preprocess
from engine.train import DEFAULT_PREPROCESSING

ROOT = Path(__file__).resolve().parent.parent
NODULE_CONFOUNDERS = ("mass", "consolidation", "atelectasis")
CODES = {o: ORGAN_CODES[o] for o in ("right_lung", "left_lung", "heart")}  # the cards' codes


def _card(channels: list[dict]) -> dict:
    prep = dict(DEFAULT_PREPROCESSING, channels=channels, mean=[0.0] * len(channels),
                interpolation="footprint")
    return {"preprocessing": prep, "organ_codes": CODES}


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timing(channels: list[dict], repeats: int) -> None:
    import nibabel as nib

    vol = load(ROOT / "resources/demo/case.nii.gz")
    organs = np.asarray(nib.load(ROOT / "resources/demo/organs.nii.gz").dataobj).astype(np.uint8)
    card = _card(channels)
    t_all = _best(lambda: preprocess(vol, card, organs), repeats)
    base = _card([ch for ch in channels if ch.get("feature") not in FINE_FEATURES])
    t_base = _best(lambda: preprocess(vol, base, organs), repeats)
    print(f"demo preprocessing without the fine channels           {t_base:.2f} s")
    for f in FINE_FEATURES:
        if any(ch.get("feature") == f for ch in channels):
            only = _card([ch for ch in channels if ch.get("feature") != f])
            t = _best(lambda: preprocess(vol, only, organs), repeats)  # noqa: B023
            print(f"without {f:18}                            {t:.2f} s")
    print(f"all of them, ball-ness scales in two threads (shipped) {t_all:.2f} s  ({t_all / t_base:.2f}x)")
    with mock.patch.object(nodule_evidence, "BALLNESS_THREADS", 1):
        t_one = _best(lambda: preprocess(vol, card, organs), repeats)
    print(f"all of them, ball-ness scales in one thread            {t_one:.2f} s  ({t_one / t_base:.2f}x)")


def separation(channels: list[dict], n: int) -> None:
    from engine.phantom import generate

    card = _card(channels)
    idx = {(ch["feature"], ch["organ"]): i for i, ch in enumerate(channels)
           if ch.get("feature") in FINE_FEATURES}
    rows: dict[tuple[str, str], tuple[list, list, list]] = {}
    for k in range(n):
        case = generate(SPLIT_SEED_BASE["val"] + k, size="model", spacing=PHANTOM_SPACING)
        x = preprocess(case.volume, card, case.organs)[0][0].numpy()
        for (feature, organ), c in idx.items():
            side = organ.split("_")[0]
            has = {f: case.labels[f"{side}_lung/{f}"] for f in ("nodule", *NODULE_CONFOUNDERS)}
            y, score, subset = rows.setdefault((feature, side), ([], [], []))
            if feature == "lung_nodule":
                y.append(has["nodule"])
                score.append(float(x[c].max()))
                subset.append(not any(has[f] for f in NODULE_CONFOUNDERS))
            else:
                y.append(has["consolidation"])
                score.append(float(x[c].sum()))
                subset.append(bool(has["consolidation"] or has["mass"] or has["atelectasis"]))
    for (feature, side), (y, score, subset) in sorted(rows.items()):
        y_, s_, c_ = np.array(y), np.array(score), np.array(subset)
        finding, among = (("nodule", "without a mass, consolidation or atelectasis")
                          if feature == "lung_nodule" else
                          ("consolidation", "with a consolidation, a mass or atelectasis"))
        print(f"{feature} {side} lung: {finding} case AUROC {auroc(y_, s_):.3f} ({y_.sum()} of {n}); "
              f"lungs {among}: {auroc(y_[c_], s_[c_]):.3f} ({c_.sum()} lungs)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", choices=CHANNEL_SETS, default="evidence_bronchogram")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=0, help="validation phantoms for the separation")
    a = p.parse_args()
    channels = channel_set(a.channels)
    timing(channels, a.repeats)
    if a.n:
        separation(channels, a.n)


if __name__ == "__main__":
    main()
