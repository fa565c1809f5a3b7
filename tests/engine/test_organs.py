"""Organ maps: phantom truth, label-map files (presets, orientations, resampling), classical
segmentation (Dice on a phantom, touching lungs, no lungs, cancellation)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from engine.errors import Cancelled
from engine.organs import MAPPINGS, OrganMapError, from_labelmap, from_phantom, segment
from engine.phantom import generate
from engine.volume import CTVolume


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else 1.0


@pytest.fixture(scope="module")
def case():
    return generate(8, "model", prevalence=0.0)


def _save(path, data, affine):
    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    nib.save(img, str(path))


def test_from_phantom_is_the_truth(case):
    m = from_phantom(case)
    assert np.array_equal(m, case.organs) and m is not case.organs


def test_from_labelmap_array_and_ctcam_file(case, tmp_path):
    assert np.array_equal(from_labelmap(case.organs, case.volume), case.organs)
    _save(tmp_path / "o.nii.gz", case.organs, case.volume.affine)
    assert np.array_equal(from_labelmap(tmp_path / "o.nii.gz", case.volume), case.organs)


def test_from_labelmap_lps_file_lands_in_place(case, tmp_path):
    """A map stored in LPS order (x and y flipped) is read back onto the RAS grid exactly."""
    aff = case.volume.affine.copy()
    n = case.organs.shape
    lps = case.organs[::-1, ::-1, :]
    aff2 = aff.copy()
    aff2[:, 0] = -aff[:, 0]
    aff2[:, 1] = -aff[:, 1]
    aff2[:3, 3] = aff[:3, 3] + aff[:3, 0] * (n[0] - 1) + aff[:3, 1] * (n[1] - 1)
    _save(tmp_path / "lps.nii.gz", np.ascontiguousarray(lps), aff2)
    assert np.array_equal(from_labelmap(tmp_path / "lps.nii.gz", case.volume), case.organs)


def test_totalsegmentator_preset(case, tmp_path):
    ts = np.zeros(case.organs.shape, np.uint8)
    j = np.arange(case.organs.shape[1])[None, :, None]
    rl, ll = case.organs == 1, case.organs == 3
    ts[rl & (j % 3 == 0)] = 12  # upper lobe right
    ts[rl & (j % 3 == 1)] = 13  # middle lobe right
    ts[rl & (j % 3 == 2)] = 14  # lower lobe right
    ts[ll & (j % 2 == 0)] = 10
    ts[ll & (j % 2 == 1)] = 11
    ts[case.organs == 2] = 51  # heart
    ts[(case.organs == 0) & (case.volume.hu > 300)] = 92  # a rib: unmapped -> 0
    _save(tmp_path / "ts.nii.gz", ts, case.volume.affine)
    assert np.array_equal(from_labelmap(tmp_path / "ts.nii.gz", case.volume, "totalsegmentator"), case.organs)
    assert set(MAPPINGS["totalsegmentator_v1"].values()) == {1, 2, 3}


def test_coarser_labelmap_is_resampled_nearest(case, tmp_path):
    coarse = case.organs[::2, ::2, ::2]
    aff = case.volume.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    _save(tmp_path / "c.nii.gz", np.ascontiguousarray(coarse), aff)
    m = from_labelmap(tmp_path / "c.nii.gz", case.volume)
    assert set(np.unique(m)) <= {0, 1, 2, 3}
    for code in (1, 2, 3):
        assert dice(m == code, case.organs == code) > 0.85


def test_labelmap_errors(case, tmp_path):
    with pytest.raises(OrganMapError, match="unknown label-map mapping"):
        from_labelmap(case.organs, case.volume, "lungmask")
    with pytest.raises(OrganMapError, match="shape"):
        from_labelmap(case.organs[:-1], case.volume)
    with pytest.raises(OrganMapError, match="no such file"):
        from_labelmap(tmp_path / "missing.nii.gz", case.volume)
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(OrganMapError, match="not a readable NIfTI"):
        from_labelmap(tmp_path / "junk.nii.gz", case.volume)
    with pytest.raises(OrganMapError, match="3D"):
        from_labelmap(np.zeros((4, 4)), case.volume)
    with pytest.raises(OrganMapError, match="whole numbers"):
        from_labelmap(np.full(case.volume.shape, 1.5), case.volume)


def test_segment_phantom_dice():
    c = generate(1, "small", prevalence=0.0)
    res = segment(c.volume)
    assert dice(res.labelmap == 1, c.organs == 1) >= 0.95
    assert dice(res.labelmap == 3, c.organs == 3) >= 0.95
    assert dice(res.labelmap == 2, c.organs == 2) >= 0.80
    assert "right lung" in res.message


def _box_volume(hu: np.ndarray) -> CTVolume:
    aff = np.diag([2.0, 2.0, 4.0, 1.0])
    aff[:3, 3] = (-hu.shape[0], -hu.shape[1], 0.0)
    return CTVolume(hu.astype(np.int16), aff)


def test_touching_lungs_are_split_and_sided():
    """Two air blobs joined by a bridge: split by erosion, sides from world x."""
    hu = np.full((80, 60, 30), -1000.0)
    i, j, k = np.ogrid[:80, :60, :30]
    hu[np.broadcast_to(((i - 40) / 38) ** 2 + ((j - 30) / 28) ** 2 <= 1, hu.shape)] = 40  # body
    left = ((i - 22) / 13) ** 2 + ((j - 30) / 18) ** 2 + ((k - 15) / 11) ** 2 <= 1  # small i = patient left
    right = ((i - 58) / 15) ** 2 + ((j - 30) / 18) ** 2 + ((k - 15) / 11) ** 2 <= 1
    hu[left | right] = -850
    hu[34:47, 28:32, 13:17] = -850  # bridge
    res = segment(_box_volume(hu))
    lm = res.labelmap
    assert dice(lm == 3, left) > 0.9 and dice(lm == 1, right) > 0.9


def test_no_lungs_returns_empty_map_with_message():
    hu = np.full((40, 40, 20), -1000.0)
    i, j = np.ogrid[:40, :40]
    hu[(i - 20) ** 2 + (j - 20) ** 2 <= 300, :] = 40
    res = segment(_box_volume(hu))
    assert not res.labelmap.any() and res.labelmap.dtype == np.uint8
    assert "No lungs found" in res.message
    res = segment(_box_volume(np.full((20, 20, 10), -1000.0)))
    assert not res.labelmap.any() and "No lungs found" in res.message


def test_segment_cancels(case):
    with pytest.raises(Cancelled):
        segment(case.volume, cancel=lambda: True)


def test_an_offset_labelmap_lands_on_the_nearest_scan_voxel(tmp_path):
    """A label map whose voxel centres are not on scan voxel centres (shifted by -0.6 voxel):
    each scan voxel takes the label of the nearest label voxel (rounding), never of the one
    below it (floor would move the organ by a voxel)."""
    vol = CTVolume(np.zeros((10, 10, 10), np.int16), np.eye(4))
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[5, 5, 5] = 2  # centre at world (4.4, 4.4, 4.4): nearest scan voxel (4, 4, 4)
    aff = np.eye(4)
    aff[:3, 3] = -0.6
    _save(tmp_path / "offset.nii.gz", lab, aff)
    m = from_labelmap(tmp_path / "offset.nii.gz", vol)
    assert m[4, 4, 4] == 2 and int((m == 2).sum()) == 1
