"""One training step of the bundled recipe (``engine.train_step``) on real phantoms, and the
batch's assembly before it two ways side by side, the same batches in one run: the float
batch rolled (the shift augmentation up to model 3.4) against the uint8 volume rolled before
the conversion (``engine.model.batches.batch_tensors`` now; the same numbers).

Both under glibc's default heap policy, then again after
``engine.heap_policy.keep_freed_memory()`` (what ``ctcam train`` and ``ctcam evaluate`` do):
per policy the median assembly time of each way, their ratio, whether their tensors are
equal, and the median forward + backward + update time of a step after two warm-up steps.

Usage: python benchmarks/train_step.py [--channels evidence_bronchogram] [--threads 2] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from engine.heap_policy import keep_freed_memory
from engine.labels import ORGAN_CODES
from engine.model.batches import batch_tensors, centring, dataset_mean
from engine.model.channel_sets import channel_set
from engine.train import TrainConfig, data_grid, label_organ_index, load_data, new_model
from engine.train_step import step_losses


def float_rolled(ds, idx, mean, shift_cells, rng):
    """The batch as model 3.4 was trained on it: converted first, then rolled per case."""
    x = torch.from_numpy(ds.x[idx]).float().div_(255.0).sub_(centring(mean, ds.x.ndim, torch.device("cpu")))
    cells = torch.from_numpy(ds.organ_cells[idx])
    block = [x.shape[-3 + d] // cells.shape[d + 2] for d in range(3)]
    for b in range(len(idx)):
        s = rng.integers(-shift_cells, shift_cells + 1, size=3).tolist()
        x[b] = torch.roll(x[b], [s[d] * block[d] for d in range(3)], dims=(1, 2, 3))
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", default="evidence_bronchogram")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = TrainConfig(out="unused", n_train=8, n_val=1, channels=channel_set(a.channels), workers=2)
    prep, map_shape = data_grid(cfg)
    t = time.perf_counter()
    train_ds, _, labels, _ = load_data(cfg, prep, map_shape, lambda m: None)
    print(f"{len(train_ds)} phantoms with {len(cfg.channels)} channels ready in "
          f"{time.perf_counter() - t:.0f} s; {a.threads} thread(s)")
    mean = dataset_mean(train_ds, every=1)
    idx = np.arange(len(train_ds))
    for policy in ("glibc's default", "keep freed memory"):
        if policy == "keep freed memory" and not keep_freed_memory():
            print("keep freed memory: not available here (not glibc)")
            break
        old, new, same = [], [], True
        for step in range(a.steps):
            t = time.perf_counter()
            ref = float_rolled(train_ds, idx, mean, cfg.shift_cells, np.random.default_rng(step))
            old.append(time.perf_counter() - t)
            t = time.perf_counter()
            x = batch_tensors(train_ds, idx, mean, torch.device("cpu"), cfg.shift_cells,
                              np.random.default_rng(step))[0]
            new.append(time.perf_counter() - t)
            same &= torch.equal(x, ref)
            del ref, x
        steps = step_times(cfg, train_ds, labels, mean, idx, a.steps)
        print(f"{policy}: batch of {len(idx)} float rolled {statistics.median(old):.3f} s, uint8 "
              f"rolled {statistics.median(new):.3f} s ({statistics.median(new) / statistics.median(old):.2f}x, "
              f"equal tensors: {same}); step (forward, backward, update) median "
              f"{statistics.median(steps):.3f} s, best {min(steps):.3f} s")


def step_times(cfg, train_ds, labels, mean, idx, n):
    """Seconds of each of ``n`` steps after two warm-up steps, from the same start weights."""
    label_organ = label_organ_index(labels, ORGAN_CODES)
    torch.manual_seed(0)
    model = new_model(cfg, len(labels))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(0)
    times = []
    for step in range(n + 2):
        batch = batch_tensors(train_ds, idx, mean, torch.device("cpu"), cfg.shift_cells, rng)
        t = time.perf_counter()
        loss = step_losses(model, batch, label_organ, cfg, train_ds.lesion_cells is not None)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t)
    return times


if __name__ == "__main__":
    main()
