"""Training / evaluation data as compact arrays on the model grid.

Phantom splits (seeded, disjoint): case ``n`` of split ``s`` is ``engine.phantom.generate``
with seed ``SPLIT_SEED_BASE[s] + n``:

    train  1_000_000 + n      val  2_000_000 + n      test  3_000_000 + n

(the demo case and unit tests use seeds below 1_000_000, so they never overlap).

Per case we keep:

* ``x``           uint8 (X, Y, Z), or (C, X, Y, Z) for a card with input ``channels``: the
                  model input in [0, 1] times 255 (7 HU steps for the mean; the network
                  subtracts the card's mean after dividing by 255);
* ``y``           uint8 (L,): label vector in card order;
* ``organ_cells`` uint8 (n_organs, mi, mj, mk): fraction (x255) of each map cell covered
                  by each organ (order of ``organ_codes``), used by the mask loss;
* ``organs``      uint8 (X, Y, Z): organ label map on the model grid (evaluation only);
* ``lesion_cells`` uint8 (L, mi, mj, mk), phantoms only: 1 where a cell of the map grid holds
                  a voxel of the label's lesion mask (the per-cell lesion loss uses it);
* ``lesion_bits`` uint32 (X, Y, Z), phantoms kept for evaluation only: bit c set where label
                  c's lesion mask has a voxel in the model voxel (peak distance to the lesion).

Phantoms are rendered at ``phantom_spacing`` (default 2 x 2 x 2.5 mm, near scan resolution)
and pass through the same preprocessing as a user's scan, so the model trains on what it
sees at inference.

User dataset folder (``ctcam train --data FOLDER``)::

    FOLDER/labels.csv          one row per case: case,<label>,<label>,...  (0/1 values),
                               optional column split = train | val | test
                               (without it: every 7th case, in file order, is validation)
    FOLDER/volumes/<case>.nii.gz   the CT (any orientation/spacing; HU)
    FOLDER/organs/<case>.nii.gz    optional organ label map on the same grid
                                   (codes: 1 right lung, 2 heart, 3 left lung, or the
                                   codes in FOLDER/organ_codes.json); needed for the mask
                                   loss and OrganIoU, cases without one get no mask loss.

Label columns must be ``<organ>/<abnormality>`` with a known organ.  Arrays are cached as
``.npz`` (``allow_pickle=False``) so repeated runs skip generation and preprocessing.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CTCamError
from engine.model.cache_key import phantom_cache_tag
from engine.model.evidence import has_evidence
from engine.model.preprocess import model_grid_affine, model_input_array, resample_labelmap
from engine.volume import CTVolume, canonicalize

SPLIT_SEED_BASE = {"train": 1_000_000, "val": 2_000_000, "test": 3_000_000}
PHANTOM_SPACING = (2.0, 2.0, 2.5)
# In-plane field of view of the training phantoms (body, arms and a margin), measured over
# training seeds 1000000-1000199 with engine.phantom.generate.make_grid.
PHANTOM_FOV_MM = (466.0, 606.0)


class DatasetError(CTCamError):
    """A training/evaluation dataset folder is malformed."""


@dataclass
class ArrayDataset:
    x: np.ndarray  # uint8 (N, X, Y, Z)
    y: np.ndarray  # uint8 (N, L)
    organ_cells: np.ndarray  # uint8 (N, n_organs, mi, mj, mk)
    has_organs: np.ndarray  # bool (N,)
    ids: np.ndarray  # str (N,)
    organs: np.ndarray | None = None  # uint8 (N, X, Y, Z)
    lesion_cells: np.ndarray | None = None  # uint8 (N, L, mi, mj, mk)
    lesion_bits: np.ndarray | None = None  # uint32 (N, X, Y, Z)

    def pool_to(self, map_shape: Sequence[int]) -> None:
        """Pool organ cells (mean coverage) and lesion cells (any) to a coarser map grid."""
        self.organ_cells = pool_cells(self.organ_cells, map_shape)
        if self.lesion_cells is not None:
            self.lesion_cells = pool_cells(self.lesion_cells, map_shape, reduce="max")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def save(self, path: str | Path) -> None:
        arrays = dict(x=self.x, y=self.y, organ_cells=self.organ_cells,
                      has_organs=self.has_organs, ids=self.ids.astype("U"))
        if self.organs is not None:
            arrays["organs"] = self.organs
        for k in ("lesion_cells", "lesion_bits"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)
        tmp = Path(str(path) + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> ArrayDataset:
        with np.load(path, allow_pickle=False) as z:
            return cls(x=z["x"], y=z["y"], organ_cells=z["organ_cells"],
                       has_organs=z["has_organs"], ids=z["ids"],
                       organs=z["organs"] if "organs" in z else None,
                       lesion_cells=z["lesion_cells"] if "lesion_cells" in z else None,
                       lesion_bits=z["lesion_bits"] if "lesion_bits" in z else None)

    @classmethod
    def concat(cls, parts: Sequence[ArrayDataset], x: np.ndarray | None = None) -> ArrayDataset:
        """One dataset of ``parts`` (``x``: their inputs, already stacked)."""
        organs = None
        if all(p.organs is not None for p in parts):
            organs = np.concatenate([p.organs for p in parts])  # type: ignore[misc]
        extra = {}
        for k in ("lesion_cells", "lesion_bits"):
            if all(getattr(p, k) is not None for p in parts):
                extra[k] = np.concatenate([getattr(p, k) for p in parts])
        return cls(**extra,
            x=np.concatenate([p.x for p in parts]) if x is None else x,
            y=np.concatenate([p.y for p in parts]),
            organ_cells=np.concatenate([p.organ_cells for p in parts]),
            has_organs=np.concatenate([p.has_organs for p in parts]),
            ids=np.concatenate([p.ids for p in parts]), organs=organs)


def organ_cell_fractions(organs: np.ndarray, codes: Sequence[int],
                         map_shape: Sequence[int]) -> np.ndarray:
    """(X, Y, Z) label map -> uint8 (n_organs, mi, mj, mk) coverage fraction x255."""
    X, Y, Z = organs.shape
    mi, mj, mk = map_shape
    di, dj, dk = X // mi, Y // mj, Z // mk
    out = np.empty((len(codes), mi, mj, mk), dtype=np.uint8)
    for n, c in enumerate(codes):
        frac = (organs == c).reshape(mi, di, mj, dj, mk, dk).mean(axis=(1, 3, 5))
        out[n] = np.rint(frac * 255).astype(np.uint8)
    return out


def cache_cell_shape(model_shape: Sequence[int], map_shape: Sequence[int]) -> tuple[int, int, int]:
    """The cell grid cached data use: 4 x 4 voxels x 3 slices when the map grid nests in it."""
    fine = (int(model_shape[0]) // 4, int(model_shape[1]) // 4, int(model_shape[2]) // 3)
    if any(f % m for f, m in zip(fine, map_shape)):
        return tuple(int(m) for m in map_shape)  # type: ignore[return-value]
    return fine


def pool_cells(cells: np.ndarray, map_shape: Sequence[int], reduce: str = "mean") -> np.ndarray:
    """Cell values (..., n, ci, cj, ck) on a finer cell grid -> ``map_shape``.

    ``reduce="mean"`` for organ coverage (exact when the fine cells nest in the coarse ones:
    the fraction of a block is the mean of its sub-blocks' fractions), ``"max"`` for
    lesion cells (a coarse cell holds the lesion when any of its sub-cells does)."""
    fine = cells.shape[-3:]
    if tuple(fine) == tuple(map_shape):
        return cells
    f = [a // b for a, b in zip(fine, map_shape)]
    if any(a % b for a, b in zip(fine, map_shape)):
        raise ValueError(f"cell grid {fine} does not nest in map grid {tuple(map_shape)}")
    lead = cells.shape[:-3]
    r = cells.reshape(*lead, map_shape[0], f[0], map_shape[1], f[1], map_shape[2], f[2])
    if reduce == "max":
        return r.max(axis=(-5, -3, -1))
    return np.rint(r.astype(np.float32).mean(axis=(-5, -3, -1))).astype(np.uint8)


def mask_cells(mask: np.ndarray, mask_affine: np.ndarray, model_affine: np.ndarray,
               model_shape: Sequence[int], map_shape: Sequence[int]) -> np.ndarray:
    """bool (mi, mj, mk): map cells that contain the world position of any mask voxel."""
    out = np.zeros(tuple(map_shape), bool)
    box = []
    for ax in range(3):  # bounding box first: argwhere over the full grid is slow
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))
        if len(hit) == 0:
            return out
        box.append(slice(hit[0], hit[-1] + 1))
    ijk = np.argwhere(mask[tuple(box)]) + np.array([b.start for b in box])
    t = np.linalg.inv(model_affine) @ np.asarray(mask_affine, dtype=np.float64)
    idx = ijk @ t[:3, :3].T + t[:3, 3]  # model-grid index of each voxel centre
    block = np.asarray(model_shape, float) / np.asarray(map_shape, float)
    cell = np.floor((idx + 0.5) / block).astype(np.int64)
    ok = np.all((cell >= 0) & (cell < np.asarray(map_shape)), axis=1)
    cell = cell[ok]
    out[cell[:, 0], cell[:, 1], cell[:, 2]] = True
    return out


def case_arrays(volume: CTVolume, organs: np.ndarray | None, organs_affine: np.ndarray | None,
                prep: dict[str, Any], map_shape: Sequence[int], organ_codes: dict[str, int]
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(x uint8, organs on model grid or None, organ cell fractions) for one case.  Evidence
    channels (if the card has them) are read inside the case's own organ map."""
    shape = tuple(int(s) for s in prep["shape"])
    codes = list(organ_codes.values())
    aff = model_grid_affine(volume, prep)
    org = None
    exact = None  # the organ map on its own grid (channels read finer than the model grid)
    if organs is not None:
        exact = (organs, organs_affine if organs_affine is not None else volume.affine)
        org = resample_labelmap(*exact, aff, shape)
    gate = org
    if org is None and has_evidence(prep.get("channels")):
        from engine.labels import ORGAN_CODES
        from engine.organs import segment  # what inference does for a scan without a map

        lut = np.zeros(256, np.uint8)  # the segmentation's codes -> this dataset's codes
        for name, code in organ_codes.items():
            if name in ORGAN_CODES:
                lut[ORGAN_CODES[name]] = code
        seg = lut[segment(volume).labelmap]
        gate = resample_labelmap(seg, volume.affine, aff, shape)
        exact = (seg, volume.affine)
    x = np.rint(model_input_array(volume, aff, prep, gate, organ_codes, exact) * 255).astype(np.uint8)
    if org is None:
        return x, None, np.zeros((len(codes), *map_shape), np.uint8)
    return x, org, organ_cell_fractions(org, codes, map_shape)


def _phantom_case(args: tuple) -> tuple:
    seed, prep, map_shape, codes, labels, keep_organs, spacing = args
    from engine.phantom import generate

    case = generate(seed, size="model", spacing=tuple(spacing))
    x, org, cells = case_arrays(case.volume, case.organs, None, prep, map_shape, codes)
    y = np.array([int(case.labels[lab]) for lab in labels], dtype=np.uint8)
    aff = model_grid_affine(case.volume, prep)
    les = np.zeros((len(labels), *map_shape), np.uint8)
    bits = np.zeros(tuple(prep["shape"]), np.uint32) if keep_organs else None
    for n, lab in enumerate(labels):
        if lab in case.masks and y[n]:
            m = case.masks[lab]
            les[n] = mask_cells(m, case.volume.affine, aff, prep["shape"], map_shape)
            if bits is not None and n < 32:
                on = mask_cells(m, case.volume.affine, aff, prep["shape"], prep["shape"])
                bits |= on.astype(np.uint32) << np.uint32(n)
    return x, (org if keep_organs else None), cells, y, les, bits


def phantom_dataset(split: str, n: int, prep: dict[str, Any], map_shape: Sequence[int],
                    labels: Sequence[str], organ_codes: dict[str, int], keep_organs: bool = False,
                    workers: int = 1, start: int = 0,
                    log: Callable[[str], None] | None = None,
                    spacing: Sequence[float] = PHANTOM_SPACING) -> ArrayDataset:
    """Generate ``n`` phantoms of ``split`` (seeds base+start .. base+start+n-1)."""
    seeds = [SPLIT_SEED_BASE[split] + start + i for i in range(n)]
    jobs = [(s, prep, tuple(map_shape), dict(organ_codes), list(labels), keep_organs, tuple(spacing))
            for s in seeds]
    t0 = time.perf_counter()
    results = []
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for i, r in enumerate(pool.imap(_phantom_case, jobs, chunksize=4)):
                results.append(r)
                if log and (i + 1) % 50 == 0:
                    log(f"{split}: {i + 1}/{n} phantoms ({time.perf_counter() - t0:.0f} s)")
    else:
        for i, job in enumerate(jobs):
            results.append(_phantom_case(job))
            if log and (i + 1) % 50 == 0:
                log(f"{split}: {i + 1}/{n} phantoms ({time.perf_counter() - t0:.0f} s)")
    return ArrayDataset(
        x=np.stack([r[0] for r in results]), y=np.stack([r[3] for r in results]),
        organ_cells=np.stack([r[2] for r in results]), has_organs=np.ones(n, bool),
        ids=np.array([f"phantom-{s}" for s in seeds]),
        organs=np.stack([r[1] for r in results]) if keep_organs else None,
        lesion_cells=np.stack([r[4] for r in results]),
        lesion_bits=np.stack([r[5] for r in results]) if keep_organs else None)


def cached_phantom_dataset(cache_dir: str | Path | None, split: str, n: int, prep: dict[str, Any],
                           map_shape: Sequence[int], labels: Sequence[str],
                           organ_codes: dict[str, int], keep_organs: bool = False,
                           workers: int = 1, log: Callable[[str], None] | None = None,
                           spacing: Sequence[float] = PHANTOM_SPACING) -> ArrayDataset:
    """:func:`phantom_dataset`, stored in / read from ``cache_dir`` (chunks of 100 cases).

    The cache key holds everything a case depends on, the generator's version included."""
    if cache_dir is None:
        return phantom_dataset(split, n, prep, map_shape, labels, organ_codes, keep_organs,
                               workers, log=log, spacing=spacing)
    tag = phantom_cache_tag(prep, map_shape, labels, organ_codes, spacing)
    d = Path(cache_dir) / f"{split}-{tag}"
    d.mkdir(parents=True, exist_ok=True)
    parts = []
    chunk = 100
    x = None  # every chunk's inputs copied into one array as it comes (peak memory ~1x, not 2x)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        f = d / f"{start:06d}-{m}{'-organs' if keep_organs else ''}.npz"
        if f.exists():
            part = ArrayDataset.load(f)
        else:
            part = phantom_dataset(split, m, prep, map_shape, labels, organ_codes, keep_organs,
                                   workers, start=start, log=None, spacing=spacing)
            part.save(f)
            if log:
                log(f"{split}: cached {start + m}/{n} phantoms in {d}")
        if x is None:
            x = np.empty((n, *part.x.shape[1:]), part.x.dtype)
        x[start:start + m] = part.x
        part.x = x[start:start + m]
        parts.append(part)
    return ArrayDataset.concat(parts, x=x)


def _read_labelmap(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for bad files
        raise DatasetError(f"{path}: cannot read the organ label map ({exc}).") from exc
    if data.ndim != 3:
        raise DatasetError(f"{path}: organ label map must be 3D, got shape {data.shape}.")
    arr, aff = canonicalize(np.rint(data).astype(np.uint8), img.affine)
    return arr, aff


def folder_dataset(folder: str | Path, prep: dict[str, Any], map_shape: Sequence[int],
                   organ_codes: dict[str, int], split: str, keep_organs: bool = False,
                   log: Callable[[str], None] | None = None) -> tuple[ArrayDataset, list[str]]:
    """Read the ``split`` cases of a user dataset folder (format in the module docstring)."""
    from engine.io import load

    folder = Path(folder)
    csv_path = folder / "labels.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path} not found: a dataset folder needs labels.csv "
                           "(see docs/training.md).")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "case" not in rows[0]:
        raise DatasetError(f"{csv_path}: needs a header with a 'case' column and label columns.")
    labels = [c for c in rows[0] if c not in ("case", "split")]
    for lab in labels:
        organ, _, abn = lab.partition("/")
        if not abn or organ not in organ_codes:
            raise DatasetError(f"{csv_path}: column {lab!r} is not '<organ>/<abnormality>' with "
                               f"a known organ ({', '.join(organ_codes)}).")
    chosen = []
    for i, row in enumerate(rows):
        s = row.get("split") or ("val" if i % 7 == 6 else "train")
        if s not in SPLIT_SEED_BASE:
            raise DatasetError(f"{csv_path}: case {row['case']!r} has split {s!r}; "
                               "use train, val or test.")
        if s == split:
            chosen.append(row)
    xs, ys, cells, has, orgs, ids = [], [], [], [], [], []
    for n, row in enumerate(chosen):
        case = row["case"]
        vol_path = folder / "volumes" / f"{case}.nii.gz"
        if not vol_path.exists():
            vol_path = folder / "volumes" / f"{case}.nii"
        vol = load(vol_path)
        org_path = folder / "organs" / f"{case}.nii.gz"
        organs, oaff = _read_labelmap(org_path) if org_path.exists() else (None, None)
        x, org, cell = case_arrays(vol, organs, oaff, prep, map_shape, organ_codes)
        try:
            y = np.array([int(float(row[lab])) for lab in labels], dtype=np.uint8)
        except ValueError as exc:
            raise DatasetError(f"{csv_path}: case {case!r} has a non-0/1 label ({exc}).") from exc
        xs.append(x)
        ys.append(y)
        cells.append(cell)
        has.append(organs is not None)
        ids.append(case)
        orgs.append(org if org is not None else np.zeros(x.shape[-3:], np.uint8))
        if log and (n + 1) % 20 == 0:
            log(f"{split}: read {n + 1}/{len(chosen)} cases")
    if not xs:
        raise DatasetError(f"{csv_path}: no cases in split {split!r}.")
    ds = ArrayDataset(x=np.stack(xs), y=np.stack(ys), organ_cells=np.stack(cells),
                      has_organs=np.array(has), ids=np.array(ids),
                      organs=np.stack(orgs) if keep_organs else None)
    return ds, labels
