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

    ctcam train --out resources/model --cache ~/.cache/ctcam --workers 2 --threads 1
    ctcam train --out resources/model/base --stem axialnet_base --no-mask-loss ...   (same)
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.labels import LABELS, ORGAN_CODES
from engine.model.batches import batch_tensors, dataset_mean, predict
from engine.model.channel_sets import channel_set, channel_set_name
from engine.model.checkpoint import load_checkpoint, save_checkpoint
from engine.model.dataset import (
    PHANTOM_FOV_MM,
    PHANTOM_SPACING,
    SPLIT_SEED_BASE,
    ArrayDataset,
    cache_cell_shape,
    cached_phantom_dataset,
    folder_dataset,
)
from engine.model.evidence import is_evidence
from engine.model.loading import hardware_string, new_card, save_model, select_device
from engine.model.losses import DEFAULT_LAMBDA
from engine.model.metrics import auroc_per_label
from engine.model.net import AxialNet
from engine.model.preprocess import windows_in_input_units
from engine.train_step import step_losses

DEFAULT_PREPROCESSING: dict[str, Any] = {
    "shape": [96, 96, 48],
    "spacing_mm": [4.0, 4.0, 7.5],
    "hu_window": [-1000, 800],
    "mean": None,  # filled in from the training data
    "centre": "body",
    "interpolation": "footprint",  # or "trilinear" (model 2.0; engine/model/footprint.py)
    "outside_hu": -1000,
}
@dataclass
class TrainConfig:
    out: str
    data: str | None = None
    n_train: int = 1600
    n_val: int = 200
    epochs: int = 10
    steps: int | None = 4200  # model 3.4: 3000 (3.3) left validation still rising
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    mask_loss: bool = True
    mask_lambda: float = DEFAULT_LAMBDA
    mask_evidence: str = "positive"  # engine.model.losses.MASK_EVIDENCE ("signed": model <= 3.0)
    shift_cells: int = 1
    shift_voxels: bool = False  # roll by any number of voxels (up to shift_cells cells), not whole cells
    seed: int = 0
    shape: list[int] = field(default_factory=lambda: list(DEFAULT_PREPROCESSING["shape"]))
    spacing_mm: list[float] = field(default_factory=lambda: list(DEFAULT_PREPROCESSING["spacing_mm"]))
    stem_width: int = 16
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    strides: list[int] = field(default_factory=lambda: [2, 2, 1])
    reduce_widths: list[int] = field(default_factory=lambda: [32, 16])
    input_windows_hu: list[list[float]] = field(default_factory=list)  # e.g. [[-1000, -700]]
    head_lr_mult: float = 20.0  # learning-rate multiplier of the linear head
    input_maxima: bool = True  # per-cell input maxima in the target layer (engine.model.net)
    # leading input channels the backbone sees; None: all but the evidence channels (those
    # reach the head through the input maxima)
    backbone_channels: int | None = None
    channels: list[dict[str, Any]] = field(default_factory=lambda: channel_set("evidence_bronchogram"))
    pooling: str = "lse"
    temperature: float = 1.0  # of the log-sum-exp pooling
    lesion_balanced: bool = False  # lesion loss: mean over lesion cells + mean over the others
    lesion_weight: float = 1.0  # weight of the per-cell lesion loss (phantoms only); 0 = off
    lesion_pos_weight: float = 50.0
    phantom_spacing: list[float] = field(default_factory=lambda: list(PHANTOM_SPACING))
    interpolation: str = DEFAULT_PREPROCESSING["interpolation"]  # footprint: each model voxel's own scan voxels
    stem: str = "axialnet"
    name: str = "ctcam-axialnet"
    version: str = "3.4"  # of the model card: 3 = organ-gated evidence channels + input maxima;
    # 3.1 = mask loss on the positive evidence outside the organ; 3.2 = + nodule evidence;
    # 3.3 = + air-bronchogram evidence (engine.model.bronchogram_evidence); 3.4 = 4200 steps
    cache: str | None = None
    workers: int = 1
    threads: int | None = None
    device: str | None = None
    resume: bool = False


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
    sp = tuple(cfg.phantom_spacing)
    # organ and lesion cells are cached on a fine cell grid (4 x 4 voxels x 3 slices) and
    # pooled to the model's map grid, so models with coarser maps share one cache
    cell_shape = cache_cell_shape(prep["shape"], map_shape)
    train = cached_phantom_dataset(cfg.cache, "train", cfg.n_train, prep, cell_shape, labels,
                                   ORGAN_CODES, workers=cfg.workers, log=log, spacing=sp)
    # validation cached with its organ maps, as ctcam evaluate reads it (not rendered twice)
    val = cached_phantom_dataset(cfg.cache, "val", cfg.n_val, prep, cell_shape, labels,
                                 ORGAN_CODES, keep_organs=True, workers=cfg.workers, log=log,
                                 spacing=sp)
    val.organs = val.lesion_bits = None  # not used in training
    for ds in (train, val):
        ds.pool_to(map_shape)
    from engine.phantom.generate import GENERATOR_VERSION

    info = {
        "data": (f"synthetic chest CT phantoms (engine.phantom.generate version "
                 f"{GENERATOR_VERSION}) rendered at {' x '.join(f'{v:g}' for v in sp)} mm and "
                 "preprocessed like a scan"),
        "n_train": cfg.n_train, "n_val": cfg.n_val,
        "seeds": {"train": [SPLIT_SEED_BASE["train"], SPLIT_SEED_BASE["train"] + cfg.n_train - 1],
                  "val": [SPLIT_SEED_BASE["val"], SPLIT_SEED_BASE["val"] + cfg.n_val - 1],
                  "test": f"from {SPLIT_SEED_BASE['test']} (held out; ctcam evaluate)"},
        "organ_codes": dict(ORGAN_CODES),
        # what the scans looked like (the suitability check compares a user's scan with it)
        "slice_spacing_mm": [sp[2], sp[2]],
        "field_of_view_mm": list(PHANTOM_FOV_MM),
    }
    return train, val, labels, info


def train(cfg: TrainConfig) -> tuple[Path, Path]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _log_to(out / "train.log")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = select_device(cfg.device)
    prep, map_shape = data_grid(cfg)
    t0 = time.perf_counter()
    train_ds, val_ds, labels, data_info = load_data(cfg, prep, map_shape, log)
    data_time = time.perf_counter() - t0
    log(f"data ready: {len(train_ds)} train, {len(val_ds)} val cases in {data_time:.0f} s")
    organ_codes = data_info.pop("organ_codes")
    label_organ = label_organ_index(labels, organ_codes, device)
    prep["mean"] = dataset_mean(train_ds)
    mean0 = prep["mean"][0] if isinstance(prep["mean"], list) else prep["mean"]

    torch.manual_seed(cfg.seed)
    windows = windows_in_input_units(cfg.input_windows_hu, prep, mean0)  # HU -> mean-channel units
    model = new_model(cfg, len(labels), windows).to(device)
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
        state = load_checkpoint(out, model, opt)
        prep["mean"] = state["mean"]
        log(f"resumed at step {state['step']} (epoch {state['epoch']})")
    mean = prep["mean"]
    use_lesions = cfg.lesion_weight > 0 and train_ds.lesion_cells is not None
    log(f"training {sum(p.numel() for p in model.parameters())} parameters for {total} steps "
        f"({steps_per_epoch}/epoch, batch {cfg.batch_size}) on {device}, "
        f"mask loss {f'on, lambda={cfg.mask_lambda:.3g}' if cfg.mask_loss else 'off'}, "
        f"lesion loss {f'on, weight {cfg.lesion_weight:g}' if use_lesions else 'off'}")

    while state["step"] < total:
        epoch = state["epoch"]
        rng = np.random.default_rng([cfg.seed, epoch])
        perm = rng.permutation(len(train_ds))
        t_ep = time.perf_counter()
        model.train()
        sums = np.zeros(3)
        n_b = 0
        first = (state["step"] - epoch * steps_per_epoch) if state["step"] > epoch * steps_per_epoch else 0
        for b in range(first, steps_per_epoch):
            if state["step"] >= total:
                break
            idx = np.sort(perm[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            batch = batch_tensors(train_ds, idx, mean, device, cfg.shift_cells, rng, cfg.shift_voxels)
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], total, cfg) * g["lr_mult"]
            loss, loss_c, loss_m, loss_l = step_losses(model, batch, label_organ, cfg, use_lesions)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["step"] += 1
            sums += [float(loss_c.detach()), float(loss_m.detach()), float(loss_l.detach())]
            n_b += 1
            if state["step"] % 50 == 0:
                log(f"step {state['step']}/{total} bce {sums[0] / n_b:.4f} mask {sums[1] / n_b:.4f}"
                    f" lesion {sums[2] / n_b:.4f}")
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
        save_checkpoint(out, model, opt, state)

    scores = predict(model, val_ds, mean, device)
    aucs = auroc_per_label(val_ds.y, scores)
    card = new_card(
        model, labels, organ_codes, prep, name=cfg.name, version=cfg.version,
        training={
            **data_info,
            "seed": cfg.seed, "epochs": state["epoch"], "steps": state["step"],
            "batch_size": cfg.batch_size, "optimizer": f"AdamW lr {cfg.lr} wd {cfg.weight_decay}, cosine"
                         + (f", head lr x{cfg.head_lr_mult:g}" if cfg.head_lr_mult != 1 else ""),
            "mask_loss": cfg.mask_loss,
            "augmentation": (f"random roll by up to {cfg.shift_cells} map cell(s) per axis"
                             + (", in whole voxels" if cfg.shift_voxels else "") if cfg.shift_cells else "none"),
            "mask_lambda": cfg.mask_lambda if cfg.mask_loss else None,
            "mask_evidence": cfg.mask_evidence if cfg.mask_loss else None,
            "lesion_loss": ({"weight": cfg.lesion_weight, "pos_weight": cfg.lesion_pos_weight,
                             "balanced": cfg.lesion_balanced} if use_lesions else None),
            "pooling": cfg.pooling,
            "recipe": " ".join(recipe_args(cfg)),
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


def data_grid(cfg: TrainConfig) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """The preprocessing of ``cfg``'s model input (its mean still unset) and its map grid."""
    probe = AxialNet(1, cfg.shape, cfg.stem_width, cfg.widths, cfg.strides, cfg.reduce_widths)
    prep = dict(DEFAULT_PREPROCESSING, shape=list(cfg.shape), spacing_mm=list(cfg.spacing_mm),
                interpolation=cfg.interpolation)
    if cfg.channels:
        prep["channels"] = [dict(c) for c in cfg.channels]
    return prep, (*probe.feature_shape[1:], probe.n_groups)


def label_organ_index(labels: list[str], organ_codes: dict[str, int], device=None) -> torch.Tensor:
    """Per label, the index of its organ in ``organ_codes`` (the mask loss's organ cells)."""
    names = list(organ_codes)
    return torch.tensor([names.index(lab.partition("/")[0]) for lab in labels], device=device)


def new_model(cfg: TrainConfig, n_labels: int, windows: list[list[float]] | None = None) -> AxialNet:
    """The untrained network of ``cfg`` (``windows``: its input windows in model-input units)."""
    return AxialNet(n_labels, cfg.shape, cfg.stem_width, cfg.widths, cfg.strides,
                    cfg.reduce_widths, input_windows=windows or [],
                    in_channels=len(cfg.channels) if cfg.channels else 1,
                    pooling=cfg.pooling, temperature=cfg.temperature,
                    input_maxima=cfg.input_maxima, backbone_channels=backbone_channels(cfg))


def backbone_channels(cfg: TrainConfig) -> int | None:
    """The channels the backbone sees: ``cfg.backbone_channels``, or with the input maxima all
    but the evidence channels (None: all)."""
    if cfg.backbone_channels is not None or not cfg.input_maxima:
        return cfg.backbone_channels
    n = sum(1 for c in cfg.channels if not is_evidence(c))
    return n if 0 < n < len(cfg.channels) else None


def recipe_args(cfg: TrainConfig) -> list[str]:
    """The ``ctcam train`` options that reproduce ``cfg`` (written into the model card)."""
    a = ["--n-train", cfg.n_train, "--n-val", cfg.n_val, "--batch-size", cfg.batch_size,
         "--lr", cfg.lr, "--seed", cfg.seed, "--shape", *cfg.shape, "--spacing", *cfg.spacing_mm,
         "--stem-width", cfg.stem_width, "--widths", *cfg.widths, "--strides", *cfg.strides,
         "--reduce-widths", *cfg.reduce_widths, "--pooling", cfg.pooling,
         "--temperature", cfg.temperature,
         "--channels", channel_set_name(cfg.channels),
         "--lesion-weight", cfg.lesion_weight, "--lesion-pos-weight", cfg.lesion_pos_weight,
         "--phantom-spacing", *cfg.phantom_spacing, "--shift-cells", cfg.shift_cells,
         "--interpolation", cfg.interpolation]
    a += ["--steps", cfg.steps] if cfg.steps else ["--epochs", cfg.epochs]
    a += (["--mask-lambda", cfg.mask_lambda, "--mask-evidence", cfg.mask_evidence] if cfg.mask_loss
          else ["--no-mask-loss"])
    if cfg.input_windows_hu:
        a += ["--input-windows-hu", *[v for w in cfg.input_windows_hu for v in w]]
    if cfg.lesion_balanced:
        a.append("--lesion-balanced")
    if cfg.shift_voxels:
        a.append("--shift-voxels")
    if cfg.head_lr_mult != 1:
        a += ["--head-lr-mult", cfg.head_lr_mult]
    a.append("--input-maxima" if cfg.input_maxima else "--no-input-maxima")
    if cfg.backbone_channels is not None:
        a += ["--backbone-channels", cfg.backbone_channels]
    return [f"{v:g}" if isinstance(v, float) else str(v) for v in a]
