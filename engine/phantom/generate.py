"""``generate(seed, size)``: one synthetic chest CT with exact ground truth.

Random streams (numpy ``SeedSequence(seed).spawn``) are separate for the label draw, the
anatomy, the grid, the lesions, the vessel trees, the scanner style and the noise, so a
seed gives the same patient and the same findings at every size; only the grid, lesion
minimum sizes (findings must stay visible at the model resolution) and noise differ.

Sizes (in-plane matrix x slices; spacing follows the patient's field of view):

* ``"model"``: 96 x 96 x 64 (about 3.4-4.4 mm in-plane, 4-6 mm slices), for training on
  the fly (< 0.3 s per case on one core);
* ``"small"``: 256 x 256 at 2.5 or 3 mm slices (about 90-140 slices), tests and the demo;
* ``"full"``: 512 x 512 at a clinical slice spacing drawn from 0.625-5 mm.

``shape`` and/or ``spacing`` override the size's grid: with one of them the other is
derived so the grid covers the patient's field of view and scan range.
"""

from __future__ import annotations

import math

import numpy as np

from engine.labels import LABELS, split_label
from engine.volume import CTVolume

from .anatomy import Anatomy
from .body_parts import BodyParts
from .case import PhantomCase
from .geometry import Grid
from .lesions import LesionSampler
from .render import Style, render
from .vessels import airway_from_vessels, grow_tree

SIZES = ("model", "small", "full")
# Bump whenever a seed would render differently (anatomy, lesions, scanner): cached training
# data (engine.model.dataset) is keyed on it, so old phantoms are never silently reused.
GENERATOR_VERSION = 3
MODEL_SHAPE = (96, 96, 64)
FULL_SLICE_SPACINGS = (0.625, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0)


def _prevalence_vector(prevalence) -> np.ndarray:
    if isinstance(prevalence, dict):
        unknown = set(prevalence) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown labels in prevalence: {sorted(unknown)}; labels are {list(LABELS)}")
        p = np.array([float(prevalence.get(lab, 0.0)) for lab in LABELS])
    else:
        p = np.full(len(LABELS), float(prevalence))
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("prevalence must lie in [0, 1]")
    return p


def make_grid(anat: Anatomy, size: str, rng: np.random.Generator, shape=None, spacing=None, parts=None) -> Grid:
    """The scan's voxel grid: FOV around the body and arms, z from below the lung bases to above the apices."""
    half = max(anat.body.a, anat.body.b) if parts is None else parts.half_width
    fov = 2 * half + rng.uniform(10, 40)
    centre = np.array([rng.uniform(-12, 12), anat.body.cy + rng.uniform(-20, 8), 0.5 * (anat.z_lo + anat.z_hi)])
    cover = np.array([fov, fov, anat.z_hi - anat.z_lo])
    u_sz = rng.random()
    if shape is None and spacing is None:
        if size == "model":
            shape = MODEL_SHAPE
        elif size == "small":
            sxy = fov / 256
            sz = 2.5 if u_sz < 0.5 else 3.0
            spacing = (sxy, sxy, sz)
            shape = (256, 256, int(math.ceil(cover[2] / sz)) + 1)
        elif size == "full":
            sxy = fov / 512
            sz = FULL_SLICE_SPACINGS[min(int(u_sz * len(FULL_SLICE_SPACINGS)), len(FULL_SLICE_SPACINGS) - 1)]
            spacing = (sxy, sxy, sz)
            shape = (512, 512, int(math.ceil(cover[2] / sz)) + 1)
        else:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if spacing is None:
        spacing = tuple(float(c / n) for c, n in zip(cover, shape))
    if shape is None:
        shape = tuple(int(math.ceil(c / s)) + 1 for c, s in zip(cover, spacing))
    shape = tuple(int(n) for n in shape)
    spacing = tuple(float(s) for s in spacing)
    if len(shape) != 3 or min(shape) < 8 or len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"bad phantom grid: shape {shape}, spacing {spacing}")
    origin = tuple(float(c - (n - 1) / 2 * s) for c, n, s in zip(centre, shape, spacing))
    return Grid(shape, spacing, origin)


def generate(
    seed: int,
    size: str = "small",
    *,
    prevalence: float | dict[str, float] = 0.3,
    shape: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] | None = None,
    body_parts: bool = True,
) -> PhantomCase:
    """A synthetic chest CT with its organ map, lesion masks and 19-label vector.

    ``prevalence`` is the probability that each label is present (one number for all, or a
    dict label -> probability with missing labels at 0).  Lung labels are drawn
    independently for each side.  ``body_parts=False`` leaves out the arms, shoulders,
    abdominal organs and table (same grid, same lungs, heart and findings; for tests).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    p = _prevalence_vector(prevalence)
    streams = np.random.SeedSequence(int(seed)).spawn(8)
    r_lab, r_anat, r_grid, r_les, r_tree, r_style, r_noise, r_body = (np.random.default_rng(s) for s in streams)
    present = r_lab.random(len(LABELS)) < p
    labels = {lab: int(v) for lab, v in zip(LABELS, present)}

    anat = Anatomy(r_anat)
    parts = BodyParts(anat, r_body)
    grid = make_grid(anat, size, r_grid, shape, spacing, parts)
    res = grid.h
    cm_u, eff_u = r_les.random(2)
    scale = 1.2 + 0.2 * cm_u if labels["heart/cardiomegaly"] else 1.0
    eff_lo = max(6.0, 2.0 * res)
    eff = eff_lo + (max(20.0, eff_lo + 4) - eff_lo) * eff_u if labels["heart/pericardial_effusion"] else 0.0
    anat.finish(r_anat, scale, eff)

    trees = {}
    for side in ("right", "left"):
        vessels = []
        art, gen = grow_tree(r_tree, anat.pa_ends[side], anat.sample_lung_points(r_tree, side, 320, 5.0), 6.5)
        vessels.append(art)
        vein, _ = grow_tree(r_tree, anat.vein_roots[side], anat.sample_lung_points(r_tree, side, 260, 5.0), 6.0)
        vessels.append(vein)
        trees[side] = {"vessels": vessels, "airways": airway_from_vessels(art, gen, r_tree)}

    sampler = LesionSampler(anat, r_les, res)
    lesions = []
    for lab in LABELS:
        organ, abn = split_label(lab)
        if not labels[lab] or organ == "heart":
            continue
        lesions.append(sampler.lung(organ.split("_")[0], abn))
    if labels["heart/coronary_calcification"]:
        lesions.append(sampler.coronary_calcification())

    style = Style.draw(r_style, grid)
    hu, organs, masks = render(anat, trees, lesions, grid, style, r_noise, parts if body_parts else None)
    # A label whose mask came out empty (e.g. clipped away) is dropped from the truth.
    for lab in list(masks):
        if not masks[lab].any():
            del masks[lab]
            labels[lab] = 0
    for lab, v in labels.items():
        if v and lab not in masks:
            labels[lab] = 0
    meta = {
        "source_path": None,
        "source_format": "phantom",
        "source_orientation": "RAS",
        "modality": "CT",
        "phantom_seed": int(seed),
        "phantom_size": size,
    }
    vol = CTVolume(hu, grid.affine, meta)
    return PhantomCase(volume=vol, organs=organs, masks=masks, labels=labels, seed=int(seed), size=size)
