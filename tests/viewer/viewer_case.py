"""A small asymmetric chest-like volume and a fake explanation result whose maps sit on a
left-lung lesion (shared by the viewer tests; named uniquely so that running tests/viewer and
tests/render in one session cannot pick up the other directory's module)."""

from __future__ import annotations

import numpy as np

from engine.results import ExplainResult, LabelInfo
from engine.volume import CTVolume

SHAPE = (48, 40, 24)
SPACING = (1.5, 1.5, 3.0)
ORIGIN = (-36.0, -30.0, -36.0)
LESION_IJK = (14, 20, 12)  # small i = patient's LEFT (i grows toward the patient's right)
ORGANS = {"right_lung": 1, "heart": 2, "left_lung": 3}


def make_volume() -> CTVolume:
    aff = np.diag([*SPACING, 1.0])
    aff[:3, 3] = ORIGIN
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    hu = np.full(SHAPE, -1000, dtype=np.int16)
    body = ((i - 24) / 22) ** 2 + ((j - 20) / 17) ** 2 <= 1
    hu[body] = 40
    organs = np.zeros(SHAPE, dtype=np.uint8)
    right = (((i - 34) / 8) ** 2 + ((j - 20) / 11) ** 2 <= 1) & (k > 2) & (k < 21)
    left = (((i - 14) / 8) ** 2 + ((j - 20) / 11) ** 2 <= 1) & (k > 2) & (k < 21)
    heart = (((i - 24) / 4) ** 2 + ((j - 26) / 5) ** 2 <= 1) & (k > 4) & (k < 14)
    hu[right | left] = -850
    organs[right], organs[left], organs[heart] = 1, 3, 2
    hu[heart] = 45
    li, lj, lk = LESION_IJK
    lesion = ((i - li) ** 2 + (j - lj) ** 2 + ((k - lk) * 2) ** 2) <= 9
    hu[lesion] = 30
    vol = CTVolume(hu, aff, {"source_path": "synthetic"})
    vol.meta["organs"] = organs
    return vol


def make_result(vol: CTVolume, identical: bool = False) -> ExplainResult:
    """Maps on a coarse grid (factor 2 in-plane, 1 in k) with a HiResCAM peak on the lesion and a
    broader Grad-CAM blob shifted toward the heart."""
    names = [("left_lung", "nodule"), ("right_lung", "nodule"), ("heart", "cardiomegaly")]
    labels = [LabelInfo(f"{o}/{a}", o, a, ORGANS[o]) for o, a in names]
    f = np.array([2, 2, 1])
    mshape = tuple(int(n) for n in np.array(SHAPE) // f)
    maff = vol.affine @ np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in mshape], indexing="ij")
    centre = (np.array(LESION_IJK) - np.array([0.5, 0.5, 0])) / f
    d2 = (ii - centre[0]) ** 2 + (jj - centre[1]) ** 2 + (kk - centre[2]) ** 2
    hires = np.zeros((3,) + mshape, np.float32)
    grad = np.zeros_like(hires)
    hires[0] = np.exp(-d2 / 4.0) - 0.05
    grad[0] = 0.6 * np.exp(-((ii - centre[0] - 3) ** 2 + (jj - centre[1]) ** 2 + (kk - centre[2]) ** 2) / 12.0)
    hires[1] = np.exp(-((ii - 17) ** 2 + (jj - 10) ** 2 + (kk - 12) ** 2) / 6.0)
    grad[1] = hires[1] * 0.8
    hires[2] = np.exp(-((ii - 12) ** 2 + (jj - 13) ** 2 + (kk - 9) ** 2) / 6.0)
    grad[2] = hires[2]
    if identical:
        grad = hires.copy()
    card = {"name": "test model", "version": "0", "organ_codes": dict(ORGANS),
            "labels": [{"name": lab.name, "organ": lab.organ, "abnormality": lab.abnormality} for lab in labels],
            "synthetic_data_statement": "This model was trained only on synthetic chest CT phantoms."}
    return ExplainResult(labels=labels, probabilities=np.array([0.9, 0.2, 0.4]), logits=np.array([2.2, -1.4, -0.4]),
                         biases=np.zeros(3), maps={"hirescam": hires, "gradcam": grad}, map_affine=maff,
                         organ_map=vol.meta["organs"], card=card, device="cpu", methods_identical=identical)
