"""The losses of one optimisation step of ``ctcam train`` (:func:`engine.train.train`), also
timed by ``benchmarks/train_step.py``: BCE on the pooled scores, plus lambda times the mask
loss on the HiResCAM maps, plus the lesion loss on the per-cell scores
(:mod:`engine.model.losses`).

Not used: channels-last memory format for the convolutions.  It made a step of the bundled
recipe 14-19 % faster on 2 CPU threads, but on torch 2.13.0+cpu the backward pass of the
small test networks (4-16 filters) aborted with "double free or corruption": heap
corruption, which could as well go unnoticed and change weights silently."""

from __future__ import annotations

from typing import Any

import torch

from engine.cam.registry import get_method
from engine.model.losses import classification_loss, lesion_loss, mask_loss
from engine.model.net import AxialNet

HIRESCAM = get_method("hirescam")  # the mask loss penalises HiResCAM evidence outside the organ


def step_losses(model: AxialNet, batch: tuple[Any, ...], label_organ: torch.Tensor, cfg: Any,
                use_lesions: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, classification, mask, lesion) loss of one batch ``(x, y, cells, has, les)``
    (:func:`engine.model.batches.batch_tensors`); ``cfg`` is a :class:`engine.train.TrainConfig`."""
    x, y, cells, has, les = batch
    a = model.features(x)
    z = model.head.cell_scores(a)  # (B, L, G, h, w)
    loss_c = classification_loss(model.head.pool(z), y)
    loss = loss_c
    loss_m = loss_l = torch.zeros(())
    if cfg.mask_loss:
        cams = HIRESCAM.head_maps(model.head, a, z).permute(0, 1, 3, 4, 2)  # (B, L, mi, mj, mk)
        loss_m = mask_loss(cams, y, cells, label_organ, has, cfg.mask_evidence)
        loss = loss + cfg.mask_lambda * loss_m
    if use_lesions:
        loss_l = lesion_loss(z.permute(0, 1, 3, 4, 2), les, cfg.lesion_pos_weight, cfg.lesion_balanced)
        loss = loss + cfg.lesion_weight * loss_l
    return loss, loss_c, loss_m, loss_l
