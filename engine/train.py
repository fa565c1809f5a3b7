"""``ctcam train``: train the AxialNet-style classifier, with or without the mask loss.

Data: seeded phantoms (``engine.phantom.generate``; disjoint seed ranges per split, see
:mod:`engine.model.dataset`) preprocessed once onto the model grid and optionally cached
as .npz (``--cache DIR``), or a user dataset folder (``--data FOLDER``, format in
:mod:`engine.model.dataset` and docs/training.md).

Loss: BCE over labels + lambda * mask loss (:mod:`engine.model.losses`); AdamW with a
linear warm-up and cosine decay per step.  After every epoch the validation AUROC is logged
and a checkpoint is written (``OUT/checkpoint.safetensors`` with model and optimiser
tensors + ``OUT/checkpoint.json`` with the counters; no pickle), so ``--resume`` continues
an interrupted run.  The result is ``OUT/<stem>.safetensors`` + ``OUT/<stem>.json`` (model
card with data, seeds, time, hardware and validation metrics).

Example (the bundled model)::

    ctcam train --out resources/model --cache ~/.cache/ctcam --n-train 2400 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import CTCamError
from engine.labels import LABELS, ORGAN_CODES
from engine.model.dataset import (
    SPLIT_SEED_BASE,
    ArrayDataset,
    cached_phantom_dataset,
    folder_dataset,
    pool_cells,
)
from engine.model.loading import hardware_string, new_card, save_model, select_device
from engine.model.losses import DEFAULT_LAMBDA, classification_loss, mask_loss
from engine.model.metrics import auroc_per_label
from engine.model.net import AxialNet

DEFAULT_PREPROCESSING: dict[str, Any] = {
    "shape": [96, 96, 48],
    "spacing_mm": [4.0, 4.0, 7.5],
    "hu_window": [-1000, 800],
    "mean": None,  # filled in from the training data
    "centre": "body",
    "interpolation": "trilinear",
    "outside_hu": -1000,
}


@dataclass
class TrainConfig:
    out: str
    data: str | None = None
    n_train: int = 2400
    n_val: int = 200
    epochs: int = 10
    steps: int | None = None
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    mask_loss: bool = True
    mask_lambda: float = DEFAULT_LAMBDA
    shift_cells: int = 0
    seed: int = 0
    shape: list[int] = field(default_factory=lambda: list(DEFAULT_PREPROCESSING["shape"]))
    spacing_mm: list[float] = field(default_factory=lambda: list(DEFAULT_PREPROCESSING["spacing_mm"]))
    stem_width: int = 16
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    strides: list[int] = field(default_factory=lambda: [2, 2, 1])
    reduce_widths: list[int] = field(default_factory=lambda: [32, 16])
    input_windows_hu: list[list[float]] = field(default_factory=list)  # e.g. [[-1000, -700]]
    head_lr_mult: float = 1.0  # learning-rate multiplier of the linear head
    stem: str = "axialnet"
    name: str = "ctcam-axialnet"
    cache: str | None = None
    workers: int = 1
    threads: int | None = None
    device: str | None = None
    resume: bool = False


class TrainingError(CTCamError):
    """Training cannot start or continue (bad checkpoint, bad data)."""


def _log_to(path: Path):
    fh = path.open("a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=sys.stderr, flush=True)
        fh.write(line + "\n")
        fh.flush()

    return log


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def batch_tensors(ds: ArrayDataset, idx: np.ndarray, mean: float, device: torch.device,
                  shift_cells: int = 0, rng: np.random.Generator | None = None):
    """Batch as tensors; with ``shift_cells`` > 0 each case is rolled by a random whole
    number of map cells (up to ``shift_cells``) along i, j and k, volume and organ
    coverage together, so the organ cells stay exactly aligned (augmentation)."""
    x = torch.from_numpy(ds.x[idx]).to(device=device, dtype=torch.float32).div_(255.0).sub_(mean)
    y = torch.from_numpy(ds.y[idx]).to(device=device, dtype=torch.float32)
    cells = torch.from_numpy(ds.organ_cells[idx]).to(device)
    has = torch.from_numpy(ds.has_organs[idx]).to(device)
    if shift_cells and rng is not None:
        block = [x.shape[d + 1] // cells.shape[d + 2] for d in range(3)]
        for b in range(len(idx)):
            s = rng.integers(-shift_cells, shift_cells + 1, size=3).tolist()
            x[b] = torch.roll(x[b], [s[d] * block[d] for d in range(3)], dims=(0, 1, 2))
            cells[b] = torch.roll(cells[b], s, dims=(1, 2, 3))
    return x, y, cells, has


@torch.no_grad()
def predict(model: AxialNet, ds: ArrayDataset, mean: float, device: torch.device,
            batch_size: int = 16) -> np.ndarray:
    model.eval()
    out = []
    for s in range(0, len(ds), batch_size):
        x, *_ = batch_tensors(ds, np.arange(s, min(len(ds), s + batch_size)), mean, device)
        out.append(model(x).float().cpu().numpy())
    return np.concatenate(out)


def _save_checkpoint(out: Path, model: AxialNet, opt: torch.optim.Optimizer,
                     state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for name, t in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(t).detach().cpu().contiguous()
    tmp = out / "checkpoint.tmp.safetensors"
    save_file(tensors, str(tmp))
    tmp.replace(out / "checkpoint.safetensors")
    (out / "checkpoint.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


def _load_checkpoint(out: Path, model: AxialNet, opt: torch.optim.Optimizer) -> dict[str, Any]:
    from safetensors.torch import load_file

    path, spath = out / "checkpoint.safetensors", out / "checkpoint.json"
    if not path.is_file() or not spath.is_file():
        raise TrainingError(f"--resume: no checkpoint in {out} (checkpoint.safetensors/.json); "
                            "start without --resume.")
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if st:
            opt.state[p] = st
    return json.loads(spath.read_text(encoding="utf-8"))


def load_data(cfg: TrainConfig, prep: dict[str, Any], map_shape: tuple[int, int, int],
              log) -> tuple[ArrayDataset, ArrayDataset, list[str], dict[str, Any]]:
    if cfg.data:
        organ_codes = dict(ORGAN_CODES)
        codes_file = Path(cfg.data) / "organ_codes.json"
        if codes_file.is_file():
            organ_codes = json.loads(codes_file.read_text(encoding="utf-8"))
        train, labels = folder_dataset(cfg.data, prep, map_shape, organ_codes, "train", log=log)
        val, _ = folder_dataset(cfg.data, prep, map_shape, organ_codes, "val", log=log)
        info = {"data": f"user dataset folder {cfg.data}", "n_train": len(train),
                "n_val": len(val), "organ_codes": organ_codes}
        return train, val, labels, info
    labels = list(LABELS)
    # organ coverage is cached on a fine cell grid (8 x 8 voxels x 3 slices) and pooled to
    # the model's map grid, so models with coarser maps share one cache
    cell_shape = (prep["shape"][0] // 8, prep["shape"][1] // 8, prep["shape"][2] // 3)
    if any(c % m for c, m in zip(cell_shape, map_shape)):
        cell_shape = map_shape
    train = cached_phantom_dataset(cfg.cache, "train", cfg.n_train, prep, cell_shape, labels,
                                   ORGAN_CODES, workers=cfg.workers, log=log)
    val = cached_phantom_dataset(cfg.cache, "val", cfg.n_val, prep, cell_shape, labels,
                                 ORGAN_CODES, workers=cfg.workers, log=log)
    train.organ_cells = pool_cells(train.organ_cells, map_shape)
    val.organ_cells = pool_cells(val.organ_cells, map_shape)
    info = {
        "data": "synthetic chest CT phantoms (engine.phantom.generate, size='model')",
        "n_train": cfg.n_train, "n_val": cfg.n_val,
        "seeds": {"train": [SPLIT_SEED_BASE["train"], SPLIT_SEED_BASE["train"] + cfg.n_train - 1],
                  "val": [SPLIT_SEED_BASE["val"], SPLIT_SEED_BASE["val"] + cfg.n_val - 1],
                  "test": f"from {SPLIT_SEED_BASE['test']} (held out; ctcam evaluate)"},
        "organ_codes": dict(ORGAN_CODES),
    }
    return train, val, labels, info


def train(cfg: TrainConfig) -> tuple[Path, Path]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _log_to(out / "train.log")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = select_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = AxialNet(1, cfg.shape, cfg.stem_width, cfg.widths, cfg.strides, cfg.reduce_widths)
    map_shape = (*model.feature_shape[1:], model.n_groups)
    prep = dict(DEFAULT_PREPROCESSING, shape=list(cfg.shape), spacing_mm=list(cfg.spacing_mm))
    t0 = time.perf_counter()
    train_ds, val_ds, labels, data_info = load_data(cfg, prep, map_shape, log)
    data_time = time.perf_counter() - t0
    log(f"data ready: {len(train_ds)} train, {len(val_ds)} val cases in {data_time:.0f} s")
    organ_codes = data_info.pop("organ_codes")
    organ_names = list(organ_codes)
    label_organ = torch.tensor([organ_names.index(lab.partition("/")[0]) for lab in labels],
                               device=device)
    mean = float(np.mean([train_ds.x[i].mean() for i in range(0, len(train_ds), 7)]) / 255.0)
    prep["mean"] = round(mean, 6)

    torch.manual_seed(cfg.seed)
    lo, hi = (float(v) for v in prep["hu_window"])
    windows = [[round((w_lo - lo) / (hi - lo) - mean, 6), round((w_hi - lo) / (hi - lo) - mean, 6)]
               for w_lo, w_hi in cfg.input_windows_hu]  # HU -> model-input units
    model = AxialNet(len(labels), cfg.shape, cfg.stem_width, cfg.widths, cfg.strides,
                     cfg.reduce_widths, input_windows=windows).to(device)
    head = list(model.head.parameters())
    rest = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    opt = torch.optim.AdamW([{"params": rest, "lr_mult": 1.0},
                             {"params": head, "lr_mult": float(cfg.head_lr_mult)}],
                            lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(train_ds) // cfg.batch_size)
    total = cfg.steps if cfg.steps else cfg.epochs * steps_per_epoch
    state: dict[str, Any] = {"step": 0, "epoch": 0, "train_time_s": 0.0, "history": [],
                             "config": asdict(cfg), "mean": prep["mean"]}
    if cfg.resume:
        state = _load_checkpoint(out, model, opt)
        prep["mean"] = state["mean"]
        log(f"resumed at step {state['step']} (epoch {state['epoch']})")
    mean = float(prep["mean"])
    log(f"training {sum(p.numel() for p in model.parameters())} parameters for {total} steps "
        f"({steps_per_epoch}/epoch, batch {cfg.batch_size}) on {device}, "
        f"mask loss {f'on, lambda={cfg.mask_lambda:.3g}' if cfg.mask_loss else 'off'}")
    from engine.cam.fast import hirescam_batch

    while state["step"] < total:
        epoch = state["epoch"]
        rng = np.random.default_rng([cfg.seed, epoch])
        perm = rng.permutation(len(train_ds))
        t_ep = time.perf_counter()
        model.train()
        sums = np.zeros(2)
        n_b = 0
        first = (state["step"] - epoch * steps_per_epoch) if state["step"] > epoch * steps_per_epoch else 0
        for b in range(first, steps_per_epoch):
            if state["step"] >= total:
                break
            idx = np.sort(perm[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            x, y, cells, has = batch_tensors(train_ds, idx, mean, device, cfg.shift_cells, rng)
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], total, cfg) * g["lr_mult"]
            a = model.features(x)
            logits = model.classify(a)
            loss_c = classification_loss(logits, y)
            loss = loss_c
            loss_m = torch.zeros(())
            if cfg.mask_loss:
                cams = hirescam_batch(model, a).permute(0, 1, 3, 4, 2)  # (B, L, mi, mj, mk)
                loss_m = mask_loss(cams, y, cells, label_organ, has)
                loss = loss + cfg.mask_lambda * loss_m
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["step"] += 1
            sums += [float(loss_c.detach()), float(loss_m.detach())]
            n_b += 1
            if state["step"] % 50 == 0:
                log(f"step {state['step']}/{total} bce {sums[0] / n_b:.4f} mask {sums[1] / n_b:.4f}")
        state["train_time_s"] += time.perf_counter() - t_ep
        scores = predict(model, val_ds, mean, device)
        aucs = auroc_per_label(val_ds.y, scores)
        macro = float(np.nanmean(aucs))
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "step": state["step"],
                                 "bce": sums[0] / max(1, n_b), "mask": sums[1] / max(1, n_b),
                                 "val_macro_auroc": macro, "time_s": state["train_time_s"]})
        log(f"epoch {epoch + 1}: bce {sums[0] / max(1, n_b):.4f} mask {sums[1] / max(1, n_b):.4f} "
            f"val macro AUROC {macro:.4f} ({state['train_time_s']:.0f} s training so far)")
        _save_checkpoint(out, model, opt, state)

    scores = predict(model, val_ds, mean, device)
    aucs = auroc_per_label(val_ds.y, scores)
    card = new_card(
        model, labels, organ_codes, prep, name=cfg.name,
        training={
            **data_info,
            "seed": cfg.seed, "epochs": state["epoch"], "steps": state["step"],
            "batch_size": cfg.batch_size, "optimizer": f"AdamW lr {cfg.lr} wd {cfg.weight_decay}, cosine"
                         + (f", head lr x{cfg.head_lr_mult:g}" if cfg.head_lr_mult != 1 else ""),
            "mask_loss": cfg.mask_loss,
            "augmentation": (f"random roll by up to {cfg.shift_cells} map cell(s) per axis"
                             if cfg.shift_cells else "none"),
            "mask_lambda": cfg.mask_lambda if cfg.mask_loss else None,
            **({"input_windows_hu": cfg.input_windows_hu} if cfg.input_windows_hu else {}),
            "train_time_s": round(state["train_time_s"], 3),
            "data_time_s": round(data_time, 1),
            "hardware": hardware_string() + f", device {device}",
        },
        metrics={"validation": {
            "n_cases": len(val_ds),
            "macro_auroc": round(float(np.nanmean(aucs)), 4),
            "auroc": {lab: (None if np.isnan(v) else round(float(v), 4)) for lab, v in zip(labels, aucs)},
        }},
    )
    wpath, cpath = save_model(model, card, out, cfg.stem)
    log(f"wrote {wpath} and {cpath}; val macro AUROC {np.nanmean(aucs):.4f}")
    return wpath, cpath


def parse_args(argv: list[str]) -> TrainConfig:
    d = TrainConfig(out="")
    p = argparse.ArgumentParser(prog="ctcam train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder for weights, card, log, checkpoint")
    p.add_argument("--data", help="user dataset folder (default: phantoms)")
    p.add_argument("--n-train", type=int, default=d.n_train)
    p.add_argument("--n-val", type=int, default=d.n_val)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--mask-loss", dest="mask_loss", action="store_true", default=True)
    p.add_argument("--no-mask-loss", dest="mask_loss", action="store_false")
    p.add_argument("--mask-lambda", type=float, default=d.mask_lambda)
    p.add_argument("--shift-cells", type=int, default=d.shift_cells,
                   help="augment: roll each case by up to N map cells along every axis")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--shape", type=int, nargs=3, default=d.shape)
    p.add_argument("--spacing", type=float, nargs=3, default=d.spacing_mm)
    p.add_argument("--stem-width", type=int, default=d.stem_width)
    p.add_argument("--widths", type=int, nargs="+", default=d.widths)
    p.add_argument("--strides", type=int, nargs="+", default=d.strides)
    p.add_argument("--reduce-widths", type=int, nargs="+", default=d.reduce_widths)
    p.add_argument("--input-windows-hu", type=float, nargs="+", default=[], metavar="HU",
                   help="extra fixed window channels for the stem as LOW HIGH pairs in HU, e.g. "
                        "-1000 -700 -900 -300 -150 250 (lung, parenchyma, mediastinum)")
    p.add_argument("--head-lr-mult", type=float, default=d.head_lr_mult,
                   help="learning-rate multiplier of the linear head (the output is a mean over "
                        "slice groups, so a focal finding moves it by 1/groups of its group logit)")
    p.add_argument("--stem", default=d.stem, help="file stem of the written model")
    p.add_argument("--name", default=d.name)
    p.add_argument("--cache", help="folder for cached preprocessed phantoms (.npz)")
    p.add_argument("--workers", type=int, default=d.workers, help="processes generating phantoms")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.*")
    a = p.parse_args(argv)
    if len(a.input_windows_hu) % 2:
        p.error("--input-windows-hu takes LOW HIGH pairs")
    win = [[a.input_windows_hu[i], a.input_windows_hu[i + 1]]
           for i in range(0, len(a.input_windows_hu), 2)]
    if any(lo >= hi for lo, hi in win):
        p.error("--input-windows-hu: each LOW must be below its HIGH")
    return TrainConfig(input_windows_hu=win, head_lr_mult=a.head_lr_mult, out=a.out, data=a.data, n_train=a.n_train, n_val=a.n_val, epochs=a.epochs,
                       steps=a.steps, batch_size=a.batch_size, lr=a.lr, mask_loss=a.mask_loss,
                       mask_lambda=a.mask_lambda, shift_cells=a.shift_cells, seed=a.seed, shape=list(a.shape),
                       spacing_mm=list(a.spacing), stem_width=a.stem_width, widths=list(a.widths),
                       strides=list(a.strides), reduce_widths=list(a.reduce_widths), stem=a.stem,
                       name=a.name, cache=a.cache, workers=a.workers, threads=a.threads,
                       device=a.device, resume=a.resume)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        train(cfg)
    except CTCamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
