"""Ground truth: reading a truth folder and masks into the scan frame, refusing masks of another
scan with a message naming the file, and the readouts by hand."""

import json

import numpy as np
import pytest

from engine.io.nifti import write_nifti
from engine.truth import (
    TruthError,
    distance_to_mask,
    find_truth_folder,
    label_from_name,
    lesion_fraction,
    mass_in_lesion,
    read_truth,
    resample_nearest,
)
from engine.volume import CTVolume


def volume(shape=(20, 16, 10), spacing=(1.0, 1.0, 2.5)):
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = (-10, -8, -12)
    return CTVolume(np.zeros(shape, np.int16), aff)


def test_truth_folder_reads_present_labels_and_masks(tmp_path):
    vol = volume()
    mask = np.zeros(vol.shape, np.uint8)
    mask[3:6, 4:8, 2:4] = 1
    (tmp_path / "masks/left_lung").mkdir(parents=True)
    write_nifti(tmp_path / "masks/left_lung/nodule.nii.gz", mask, vol.affine)
    write_nifti(tmp_path / "case.nii.gz", vol.hu, vol.affine)
    (tmp_path / "labels.json").write_text(json.dumps(
        {"labels": {"left_lung/nodule": 1, "heart/cardiomegaly": 0},
         "masks": {"left_lung/nodule": "masks/left_lung/nodule.nii.gz"}}))
    assert find_truth_folder(tmp_path / "case.nii.gz") == tmp_path
    t = read_truth(tmp_path, vol)
    assert t.present == {"left_lung/nodule": True, "heart/cardiomegaly": False}
    np.testing.assert_array_equal(t.masks["left_lung/nodule"], mask.astype(bool))


def test_resample_uses_world_coordinates():
    vol = volume()
    data = np.zeros((10, 8, 5), np.uint8)  # twice as coarse in every axis, same origin corner
    data[2, 3, 1] = 7
    aff = vol.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = vol.world(np.array([0.5, 0.5, 0.5]))
    out = resample_nearest(data, aff, vol)
    # coarse voxel (2, 3, 1) covers fine voxels 4..5, 6..7, 2..3
    assert set(map(tuple, np.argwhere(out == 7))) == {(i, j, k) for i in (4, 5) for j in (6, 7) for k in (2, 3)}


def test_mask_outside_the_scan_or_empty_is_refused(tmp_path):
    vol = volume()
    aff = vol.affine.copy()
    aff[:3, 3] += 400
    m = np.ones(vol.shape, np.uint8)
    write_nifti(tmp_path / "wrong.nii.gz", m, aff)
    with pytest.raises(TruthError, match="wrong.nii.gz.*none of its"):
        read_truth(tmp_path / "wrong.nii.gz", vol)
    write_nifti(tmp_path / "empty.nii.gz", 0 * m, vol.affine)
    with pytest.raises(TruthError, match="empty.nii.gz.*empty"):
        read_truth(tmp_path / "empty.nii.gz", vol)
    (tmp_path / "bad.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(TruthError, match="bad.nii.gz"):
        read_truth(tmp_path / "bad.nii.gz", vol)


def test_label_map_with_sidecar(tmp_path):
    vol = volume()
    lm = np.zeros(vol.shape, np.uint8)
    lm[1:3, 1:3, 1] = 1
    lm[10:12, 10:12, 5] = 2
    write_nifti(tmp_path / "lesions.nii.gz", lm, vol.affine)
    (tmp_path / "lesions.json").write_text(json.dumps({"1": "left_lung/nodule"}))
    t = read_truth(tmp_path / "lesions.nii.gz", vol)
    assert sorted(t.masks) == ["left_lung/nodule", "lesion 2"] and t.masks["lesion 2"].sum() == 4


def test_label_names():
    from pathlib import Path

    assert label_from_name(Path("x/masks/left_lung/nodule.nii.gz")) == "left_lung/nodule"
    assert label_from_name(Path("right_lung__mass.nii")) == "right_lung/mass"
    assert label_from_name(Path("mine.nii.gz")) == "mine"


def test_readouts_by_hand():
    vol = volume()
    # cells of 2 x 2 x 1 scan voxels: cell (a, b, c) holds scan voxels 2a..2a+1, 2b..2b+1, c
    map_aff = vol.affine @ np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    mask = np.zeros(vol.shape, bool)
    mask[4:6, 4:6, 3] = True  # exactly map cell (2, 2, 3)
    mask[6, 4, 3] = True  # a quarter of cell (3, 2, 3)
    frac = lesion_fraction(mask, vol.affine, map_aff, (10, 8, 10))
    np.testing.assert_allclose([frac[2, 2, 3], frac[3, 2, 3], frac.sum()], [1.0, 0.25, 1.25])
    m = np.zeros((10, 8, 10))
    m[2, 2, 3], m[3, 2, 3], m[0, 0, 0] = 2.0, 4.0, 2.0
    m[5, 5, 5] = -10  # negative evidence does not count
    assert np.isclose(mass_in_lesion(m, frac), (2.0 + 0.25 * 4.0) / 8.0)
    assert mass_in_lesion(-m.clip(0), frac) is None
    inside = vol.world(np.array([5, 5, 3.0]))
    assert distance_to_mask(inside, mask, vol.affine) == 0.0
    far = vol.world(np.array([5, 5, 7.0]))  # 4 slices of 2.5 mm above the lesion
    assert np.isclose(distance_to_mask(far, mask, vol.affine), 10.0)


def test_shipped_organ_map_only_in_a_phantom_folder(tmp_path):
    from engine.resources import demo_case_path, demo_organs_path
    from engine.truth import shipped_organ_map

    if demo_organs_path().exists():
        assert shipped_organ_map(demo_case_path()) == str(demo_organs_path())
    (tmp_path / "organs.nii.gz").write_bytes(b"")
    assert shipped_organ_map(tmp_path / "scan.nii.gz") is None  # no labels.json: not ours
    (tmp_path / "labels.json").write_text("{}")
    assert shipped_organ_map(tmp_path / "scan.nii.gz") == str(tmp_path / "organs.nii.gz")
    assert shipped_organ_map(None) is None


def test_mask_voxels_is_argwhere_searched_in_the_bounding_box():
    from engine.truth import mask_voxels

    rng = np.random.default_rng(4)
    for _ in range(20):
        m = np.zeros((30, 25, 12), bool)
        n = int(rng.integers(0, 6))
        for ijk in rng.integers(0, (30, 25, 12), size=(n, 3)):
            m[tuple(ijk)] = True
        m[0, 0, 0] = m[0, 0, 0] or n == 5  # a corner voxel now and then
        got = mask_voxels(m)
        assert got.shape == (int(m.sum()), 3) and np.array_equal(got, np.argwhere(m))
