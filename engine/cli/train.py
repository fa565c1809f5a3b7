"""``ctcam train --out DIR [--data FOLDER] ...``: train an AxialNet and write its model card
(docs/training.md).  The training itself is :func:`engine.train.train`."""

from __future__ import annotations

import argparse
import sys

from engine import train as training
from engine.errors import CTCamError
from engine.model import channel_sets
from engine.model.losses import MASK_EVIDENCE


def parse_args(argv: list[str]) -> training.TrainConfig:
    d = training.TrainConfig(out="")
    p = argparse.ArgumentParser(prog="ctcam train", description=training.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder for weights, card, log, checkpoint")
    p.add_argument("--data", help="user dataset folder (default: phantoms)")
    p.add_argument("--n-train", type=int, default=d.n_train)
    p.add_argument("--n-val", type=int, default=d.n_val)
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training cases (instead of --steps)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"total optimiser steps (default {d.steps} unless --epochs is given)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--mask-loss", dest="mask_loss", action="store_true", default=True)
    p.add_argument("--no-mask-loss", dest="mask_loss", action="store_false")
    p.add_argument("--mask-lambda", type=float, default=d.mask_lambda)
    p.add_argument("--mask-evidence", choices=MASK_EVIDENCE, default=d.mask_evidence,
                   help="what the mask loss penalises outside the organ: the positive evidence "
                        "(default) or the signed sum (models up to 3.0)")
    p.add_argument("--shift-cells", type=int, default=d.shift_cells,
                   help="augment: roll each case by up to N map cells along every axis")
    p.add_argument("--shift-voxels", action="store_true",
                   help="roll by any whole number of voxels up to --shift-cells cells, not by whole "
                        "cells only (the network learns to read a finding alike at every offset)")
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
    p.add_argument("--input-maxima", action=argparse.BooleanOptionalAction, default=d.input_maxima,
                   help="add each map cell's maximum of every input channel (batch-normalised) "
                        "to the target layer, so a one-voxel calcification reaches the head "
                        "directly (default; docs/training.md)")
    p.add_argument("--backbone-channels", type=int, default=d.backbone_channels, metavar="K",
                   help="the backbone sees only the first K input channels (with --input-maxima "
                        "the others reach the head through the per-cell maxima alone)")
    p.add_argument("--pooling", choices=("lse", "mean"), default=d.pooling,
                   help="pooling of the per-cell scores: log-sum-exp over all cells (default) or "
                        "the paper's mean over slice groups (engine.model.head)")
    p.add_argument("--channels", choices=channel_sets.CHANNEL_SETS, default="evidence_bronchogram",
                   help="model input: mean, max and HU-band fractions per block plus organ-gated "
                        "evidence channels (evidence; engine.model.evidence; needs an "
                        "organ map, which inference makes), the same plus a multi-scale ball-ness "
                        "read finer than the model grid inside each lung (evidence_nodule; "
                        "engine.model.nodule_evidence), the same plus air enclosed by solid "
                        "lung read on that grid (evidence_bronchogram, default; "
                        "engine.model.bronchogram_evidence), the same plus the depth of solid "
                        "lung (evidence_depth; engine.model.solid_depth_evidence), the first four alone (bands, "
                        "model 2.0) or the block mean alone (model 1.0)")
    p.add_argument("--interpolation", choices=("footprint", "trilinear"), default=d.interpolation,
                   help="how channels reach the model grid: statistics over each model voxel's "
                        "footprint (default; keeps a one-block spot) or block statistics sampled "
                        "trilinearly (model 2.0; docs/training.md)")
    p.add_argument("--lesion-weight", type=float, default=d.lesion_weight,
                   help="weight of the per-cell lesion loss on phantoms (0 = off)")
    p.add_argument("--lesion-pos-weight", type=float, default=d.lesion_pos_weight)
    p.add_argument("--lesion-balanced", action="store_true",
                   help="lesion loss per map: mean over its lesion cells + mean over the others")
    p.add_argument("--temperature", type=float, default=d.temperature,
                   help="temperature of the log-sum-exp pooling (lower = closer to the maximum)")
    p.add_argument("--phantom-spacing", type=float, nargs=3, default=d.phantom_spacing,
                   help="voxel size (mm) the training phantoms are rendered at")
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
    if not 1e-3 <= a.temperature <= 1e3:
        p.error("--temperature must lie in [0.001, 1000]")
    return training.TrainConfig(pooling=a.pooling, lesion_weight=a.lesion_weight,
                       temperature=a.temperature, lesion_balanced=a.lesion_balanced,
                       lesion_pos_weight=a.lesion_pos_weight,
                       phantom_spacing=list(a.phantom_spacing), interpolation=a.interpolation,
                       channels=channel_sets.channel_set(a.channels),
                       input_windows_hu=win, head_lr_mult=a.head_lr_mult, input_maxima=a.input_maxima,
                       backbone_channels=a.backbone_channels, out=a.out, data=a.data, n_train=a.n_train, n_val=a.n_val, epochs=a.epochs or d.epochs,
                       steps=a.steps if a.steps else (None if a.epochs else d.steps),
                       batch_size=a.batch_size, lr=a.lr, mask_loss=a.mask_loss,
                       mask_lambda=a.mask_lambda, mask_evidence=a.mask_evidence, shift_cells=a.shift_cells, shift_voxels=a.shift_voxels, seed=a.seed, shape=list(a.shape),
                       spacing_mm=list(a.spacing), stem_width=a.stem_width, widths=list(a.widths),
                       strides=list(a.strides), reduce_widths=list(a.reduce_widths), stem=a.stem,
                       name=a.name, cache=a.cache, workers=a.workers, threads=a.threads,
                       device=a.device, resume=a.resume)


def check_card_ahead(cfg: training.TrainConfig) -> None:
    """Validate the card this run will write, before any data is made: a recipe the card
    format refuses (e.g. more input channels than a card may declare) fails in seconds, not
    after an hour of caching and training.  Raises ModelCardError."""
    from engine.labels import LABELS, ORGAN_CODES
    from engine.model.card import validate_card
    from engine.model.loading import new_card
    from engine.model.preprocess import windows_in_input_units

    prep, _ = training.data_grid(cfg)
    prep["mean"] = [0.0] * len(prep.get("channels") or [None])
    model = training.new_model(cfg, len(LABELS), windows_in_input_units(cfg.input_windows_hu, prep))
    card = new_card(model, LABELS, ORGAN_CODES, prep, name=cfg.name, version=cfg.version)
    card["weights"] = {"file": f"{cfg.stem}.safetensors", "sha256": "0" * 64}
    validate_card(card, f"{cfg.out}/{cfg.stem}.json (before training)")


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if not cfg.data:
            check_card_ahead(cfg)
        training.train(cfg)
    except CTCamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
