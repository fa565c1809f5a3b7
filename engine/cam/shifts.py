"""Test-time shifts on the fast path: the model run on its input rolled by each shift, the
logits and the maps averaged (docs/methods.md, "Test-time shifts").

A shift s (model voxels along i, j, k) rolls the input, ``x_s[v] = x[v - s]``.  The map of
a run lies on the map grid of the *shifted* input; a shift that is not a whole number of
map cells moves that grid by part of a cell.  So each run's map (L, mi, mj, mk) is spread
evenly onto a common finer grid whose step along each axis is the greatest common divisor
of the map cell (in model voxels) and every shift (each fine cell gets its cell's value
divided by the fine cells per cell, so sums are kept), rolled back by -s, and averaged::

    y_c        = mean_s y_c(x_s)
    HiResCAM_c = mean_s roll(spread(HiResCAM_c(x_s)), -s)       (the same for Grad-CAM)

HiResCAM of the mean logit is the sum over runs of (d mean y / d A_s) A_s = the mean of the
runs' HiResCAMs, so it keeps its identity exactly:
``sum HiResCAM_c = y_c - b_c + mean_s tau (log N - H(pi_c,s))``
(:func:`identity_gap`).  Grad-CAM of the mean logit, with one target layer per run, is
likewise the mean of the runs' Grad-CAMs.  With the single shift (0, 0, 0) this is exactly
:func:`engine.cam.fast.batch_maps` on the map grid.

An ensemble (several networks of one architecture, :mod:`engine.model.members_card`) adds
one more mean, over the networks: every (network, shift) pair is one run, and the identity
reads ``sum HiResCAM_c = y_c - mean_n b_c,n + mean over runs of tau (log N - H)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from engine.cam.fast import batch_maps
from engine.model.net import SLICES_PER_GROUP, AxialNet
from engine.model.shifts_card import Shift


def roll_input(x: torch.Tensor, s: Shift) -> torch.Tensor:
    """The model input (..., X, Y, Z) rolled by ``s`` model voxels: ``out[v] = x[v - s]``."""
    return x if not any(s) else torch.roll(x, tuple(s), dims=(-3, -2, -1))


def map_cell(model: AxialNet) -> tuple[int, int, int]:
    """One map cell in model voxels along (i, j, k)."""
    X, Y, _ = model.input_shape
    h, w = model.feature_shape[1:]
    return (X // h, Y // w, SLICES_PER_GROUP)


def fine_step(cell: Sequence[int], shifts: Sequence[Shift]) -> tuple[int, int, int]:
    """Per axis, the gcd of the cell size and every shift: the common grid's step (voxels)."""
    return tuple(math.gcd(int(cell[d]), *[abs(int(s[d])) for s in shifts]) for d in range(3))  # type: ignore[return-value]


def fine_shape(model: AxialNet, shifts: Sequence[Shift]) -> tuple[int, int, int]:
    """The maps' grid (mi, mj, mk) under ``shifts``."""
    step = fine_step(map_cell(model), shifts)
    return tuple(int(n) // st for n, st in zip(model.input_shape, step))  # type: ignore[return-value]


def _spread(v: torch.Tensor, rep: Sequence[int]) -> torch.Tensor:
    """(B, L, mi, mj, mk) -> each cell split evenly into rep[0] x rep[1] x rep[2] fine cells."""
    for d, r in enumerate(rep):
        if r > 1:
            v = v.repeat_interleave(r, dim=2 + d)
    return v / float(rep[0] * rep[1] * rep[2])


def _networks(model: AxialNet | Sequence[AxialNet]) -> list[AxialNet]:
    nets = [model] if isinstance(model, AxialNet) else list(model)
    if not nets:
        raise ValueError("no network to run")
    first = nets[0]
    for n in nets[1:]:
        if (n.input_shape, n.feature_shape, n.n_groups) != (first.input_shape, first.feature_shape, first.n_groups):
            raise ValueError("the networks of an ensemble must share their input and map grids")
    return nets


@torch.no_grad()
def shifted_batch_maps(model: AxialNet | Sequence[AxialNet], x: torch.Tensor, shifts: Sequence[Shift],
                       methods: Sequence[str], before_run: Callable[[], None] | None = None
                       ) -> dict[str, torch.Tensor]:
    """Input (B, C, X, Y, Z) -> {"logits": (B, L), method: (B, L, mi, mj, mk)} on the common
    grid (:func:`fine_shape`), means over the runs (each network of ``model``, one or an
    ensemble's, under each shift); maps are in volume order (i, j, k).
    ``before_run`` is called before each run (a cancel check may raise there)."""
    if not shifts:
        raise ValueError("shifted_batch_maps needs at least one shift")
    nets = _networks(model)
    cell = map_cell(nets[0])
    step = fine_step(cell, shifts)
    rep = [cell[d] // step[d] for d in range(3)]
    out: dict[str, torch.Tensor] = {}
    for s in shifts:
        coarse: dict[str, torch.Tensor] = {}  # the networks' sum for this shift, on its own cell grid
        xs = roll_input(x, s)  # once per shift (a roll of the input costs about a forward pass)
        for net in nets:
            if before_run is not None:
                before_run()
            raw = batch_maps(net, net.features(xs), methods)
            for m, v in raw.items():
                coarse[m] = coarse.get(m, 0) + v
        out["logits"] = out.get("logits", 0) + coarse.pop("logits")
        for m, v in coarse.items():  # (B, L, G, h, w) -> (B, L, h, w, G) = (B, L, mi, mj, mk)
            fine = _spread(v.permute(0, 1, 3, 4, 2), rep)
            back = torch.roll(fine, tuple(-s[d] // step[d] for d in range(3)), dims=(2, 3, 4))
            out[m] = out.get(m, 0) + back
    return {k: v / (len(shifts) * len(nets)) for k, v in out.items()}


def mean_bias(model: AxialNet | Sequence[AxialNet]) -> torch.Tensor:
    """The head bias b_c of one network, or the mean over an ensemble's networks (L,)."""
    return torch.stack([n.head.bias.detach() for n in _networks(model)]).mean(0)


@torch.no_grad()
def identity_gap(model: AxialNet | Sequence[AxialNet], x: torch.Tensor, shifts: Sequence[Shift]) -> torch.Tensor:
    """sum(HiResCAM) - (y - b) under ``shifts`` (b: :func:`mean_bias`), (B, L): the mean of
    the runs' gaps."""
    gaps = [n.head.hirescam_identity_gap(n.head.cell_scores(n.features(roll_input(x, s))))
            for n in _networks(model) for s in shifts]
    return torch.stack(gaps).mean(0)
