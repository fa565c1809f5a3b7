"""PhantomCase: a generated scan with its ground truth, and how it is written to disk.

Files written by :meth:`PhantomCase.write` into ``out_dir``::

    case.nii.gz                      int16 HU, RAS, exact affine
    organs.nii.gz                    uint8: 0 background, 1 right lung, 2 heart, 3 left lung
    masks/<organ>/<abnormality>.nii.gz   uint8 0/1, one per PRESENT label
                                     (labels are "<organ>/<abnormality>", so the "/" of a
                                     label is a folder: masks/left_lung/nodule.nii.gz)
    labels.json                      {"labels": {"left_lung/nodule": 0 | 1, ... all 19},
                                      "masks": {label: relative path}, "seed": N, "size": ...}
    dicom/                           (dicom=True) the scan as a CT series, one file per slice
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.volume import CTVolume


def mask_relpath(label: str) -> str:
    """``"left_lung/nodule"`` -> ``"masks/left_lung/nodule.nii.gz"``."""
    return f"masks/{label}.nii.gz"


@dataclass
class PhantomCase:
    volume: CTVolume
    organs: np.ndarray  # uint8, same shape as volume.hu
    masks: dict[str, np.ndarray]  # present label -> bool array
    labels: dict[str, int]  # all 19 labels -> 0/1
    seed: int
    size: str = "small"

    @property
    def present(self) -> list[str]:
        return [lab for lab, v in self.labels.items() if v]

    def write(self, out_dir: str | Path, *, dicom: bool = False) -> None:
        """Write the case (see the module docstring for the layout)."""
        from engine.io.nifti import write_nifti

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        aff = self.volume.affine
        write_nifti(out / "case.nii.gz", self.volume.hu, aff, dtype=np.int16)
        write_nifti(out / "organs.nii.gz", self.organs, aff, dtype=np.uint8)
        rel = {}
        for label, m in sorted(self.masks.items()):
            rel[label] = mask_relpath(label)
            p = out / rel[label]
            p.parent.mkdir(parents=True, exist_ok=True)
            write_nifti(p, m, aff, dtype=np.uint8)
        doc = {"labels": dict(self.labels), "masks": rel, "seed": self.seed, "size": self.size,
               "organ_codes": {"right_lung": 1, "heart": 2, "left_lung": 3}}
        (out / "labels.json").write_text(json.dumps(doc, indent=1) + "\n")
        if dicom:
            from engine.io.dicom import write_dicom_series

            write_dicom_series(out / "dicom", self.volume, series_description=f"ctcam phantom seed {self.seed}",
                               uid_seed=f"ctcam-phantom-{self.seed}-{self.size}")
