"""The ladder of checks behind docs/training.md: where does learning break?

Runs on cached training phantoms (``ctcam train --cache DIR`` fills the cache) and prints
one block of numbers per rung:

1. alignment: lesion cells vs. the input after the shift augmentation (calcium in the
   lesion cell of a calcified granuloma / coronary calcification, before and after a roll);
2. signal in the model input: AUROC of one hand feature per label, computed from the
   block-mean channel alone (what the old one-channel input kept) and from the channels
   (mean, max, HU-band shares) inside the label's organ cells;
3. a single batch over-fitted (BCE after N steps on 8 cases);
4. gradient norms per layer at initialisation;
5. with ``--model``: per-cell scores of present findings (rank of the lesion cell among all
   cells of the label, distance from the best cell to the lesion in cells).

Usage: python tools/training_ladder.py --cache DIR [--n-train 400] [--model W.safetensors]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from engine.labels import LABELS, ORGAN_CODES
from engine.model.batches import batch_tensors, dataset_mean
from engine.model.losses import classification_loss, lesion_loss
from engine.model.metrics import auroc
from engine.model.net import AxialNet
from engine.train import DEFAULT_PREPROCESSING, TrainConfig, load_data

HU_LO, HU_HI = DEFAULT_PREPROCESSING["hu_window"]


def _hu(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32) / 255.0 * (HU_HI - HU_LO) + HU_LO


def _organ_voxels(cells: np.ndarray, code_index: int, shape, full: float = 0.99,
                  erode: int = 0) -> np.ndarray:
    """Model voxels whose map cell lies (almost) wholly in the organ, ``erode`` cells away
    from its edge (ribs overlap the lung's edge cells)."""
    from scipy import ndimage

    c = cells[code_index].astype(np.float32) / 255.0 >= full
    if erode:
        c = ndimage.binary_erosion(c, iterations=erode)
    reps = [s // m for s, m in zip(shape, c.shape)]
    return np.kron(c, np.ones(reps, bool)).astype(bool)


def hand_feature(x: np.ndarray, inside: np.ndarray, abn: str, channels: bool) -> float:
    """One number per (case, label): the feature a radiologist would look at."""
    mean = _hu(x[0] if channels else x)[inside]
    if not len(mean):
        return 0.0
    if not channels:  # the old one-channel input: all there is is the block mean
        if abn == "emphysema":
            return float((mean < -930).mean())
        if abn in ("calcified_granuloma", "coronary_calcification"):
            return float(mean.max())
        return float(np.percentile(mean, 99))
    mx, air, calc = _hu(x[1])[inside], x[2][inside] / 255.0, x[3][inside] / 255.0
    if abn == "emphysema":
        return float(air.mean())
    if abn in ("calcified_granuloma", "coronary_calcification"):
        return float(calc.sum() + (mx.max() > 300))
    if abn in ("nodule", "mass"):
        return float(np.percentile(mx, 99.5))
    return float(np.percentile(mean, 99))


def rung_signal(ds, labels) -> None:
    print("\n## 2. signal in the model input: AUROC of one hand feature per label")
    print("label | block mean only | channels")
    codes = list(ORGAN_CODES)
    shape = ds.x.shape[-3:]
    for c, lab in enumerate(labels):
        organ, abn = lab.split("/")
        k = codes.index(organ)
        f_old, f_new = [], []
        for i in range(len(ds)):
            inside = _organ_voxels(ds.organ_cells[i], k, shape, 0.5 if organ == "heart" else 0.99,
                                   erode=0 if organ == "heart" else 1)
            f_old.append(hand_feature(ds.x[i][0], inside, abn, False))
            f_new.append(hand_feature(ds.x[i], inside, abn, True))
        print(f"{lab} | {auroc(ds.y[:, c], np.array(f_old)):.3f} | {auroc(ds.y[:, c], np.array(f_new)):.3f}")


def rung_alignment(ds, labels) -> None:
    print("\n## 1. alignment after the shift augmentation")
    rng = np.random.default_rng(0)
    for lab in ("left_lung/calcified_granuloma", "heart/coronary_calcification"):
        c = labels.index(lab)
        idx = np.flatnonzero(ds.y[:, c])[:40]
        hits = {"before": [], "after": []}
        for name, shift in (("before", 0), ("after", 2)):
            x, _, _, _, les = batch_tensors(ds, idx, 0.0, torch.device("cpu"), shift, rng)
            calc = x[:, 3].numpy()
            les = les[:, c].numpy()
            for b in range(len(idx)):
                cells = np.argwhere(les[b])
                if not len(cells):
                    continue
                bi, bj, bk = (s // m for s, m in zip(calc.shape[1:], les.shape[1:]))
                v = [calc[b, i * bi:(i + 1) * bi, j * bj:(j + 1) * bj, k * bk:(k + 1) * bk].max()
                     for i, j, k in cells]
                hits[name].append(max(v) > 0)
        print(f"{lab}: cases with calcium (>= 200 HU) in a lesion cell: before "
              f"{np.mean(hits['before']):.2f}, after a random roll {np.mean(hits['after']):.2f} "
              f"({len(hits['before'])} cases)")


def _small_model(n_labels, in_channels):
    torch.manual_seed(0)
    return AxialNet(n_labels, DEFAULT_PREPROCESSING["shape"], 16, (16, 32, 48), (2, 1, 1),
                    (32, 16), in_channels=in_channels, pooling="lse")


def rung_overfit_and_gradients(ds, steps: int) -> None:
    mean = dataset_mean(ds)
    model = _small_model(ds.y.shape[1], ds.x.shape[1])
    x, y, _, _, les = batch_tensors(ds, np.arange(8), mean, torch.device("cpu"))
    print("\n## 4. gradient norms per layer at initialisation (one batch of 8)")
    z = model.head.cell_scores(model.features(x))
    loss = classification_loss(model.head.pool(z), y) + lesion_loss(z.permute(0, 1, 3, 4, 2), les)
    loss.backward()
    for name, p in model.named_parameters():
        if p.dim() > 1 or name.startswith("head"):
            print(f"{name} {tuple(p.shape)} |grad| {float(p.grad.norm()):.3e} |w| {float(p.norm()):.3e}")
    print(f"\n## 3. one batch of 8 over-fitted ({steps} steps, classification loss only)")
    model = _small_model(ds.y.shape[1], ds.x.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for s in range(steps):
        loss = classification_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s in (0, steps // 2, steps - 1):
            print(f"step {s + 1}: BCE {float(loss):.4f}")


@torch.no_grad()
def rung_cells(ds, labels, weights: str) -> None:
    from engine.model import load_model

    lm = load_model(weights, device="cpu")
    mean = lm.card["preprocessing"]["mean"]
    print("\n## 5. per-cell scores of present findings (trained model)")
    print("label | cases | lesion cell ranked first | median rank | median distance best cell - lesion (cells)")
    ranks: dict[int, list] = {}
    dist: dict[int, list] = {}
    for s in range(0, len(ds), 8):
        idx = np.arange(s, min(len(ds), s + 8))
        x, y, _, _, les = batch_tensors(ds, idx, mean, torch.device("cpu"))
        z = lm.model.head.cell_scores(lm.model.features(x)).permute(0, 1, 3, 4, 2)  # B L mi mj mk
        for b in range(len(idx)):
            for c in np.flatnonzero(y[b].numpy()):
                m = les[b, c].numpy() > 0
                if not m.any():
                    continue
                zz = z[b, c].numpy()
                order = np.argsort(-zz, axis=None)
                rank = int(np.flatnonzero(m.reshape(-1)[order])[0]) + 1
                best = np.array(np.unravel_index(order[0], zz.shape))
                d = np.sqrt(((np.argwhere(m) - best) ** 2).sum(1)).min()
                ranks.setdefault(c, []).append(rank)
                dist.setdefault(c, []).append(d)
    for c in sorted(ranks):
        r = np.array(ranks[c])
        print(f"{labels[c]} | {len(r)} | {np.mean(r == 1):.2f} | {np.median(r):.0f} | {np.median(dist[c]):.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", required=True)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--model", help="trained weights for rung 5 (scored on the validation cases)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cfg = TrainConfig(out="", n_train=a.n_train, n_val=a.n_val, cache=a.cache)
    prep = dict(DEFAULT_PREPROCESSING, channels=cfg.channels)
    model = _small_model(len(LABELS), len(cfg.channels))
    map_shape = (*model.feature_shape[1:], model.n_groups)
    train, val, labels, _ = load_data(cfg, prep, map_shape, lambda m: None)
    rung_alignment(train, labels)
    rung_signal(train, labels)
    rung_overfit_and_gradients(train, a.steps)
    if a.model:
        rung_cells(val, labels, a.model)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
