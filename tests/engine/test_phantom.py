"""Synthetic chest CT generator: determinism, truth consistency, HU, geometry, writer, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli.phantom import main as phantom_main
from engine.labels import LABELS, ORGAN_CODES, organ_code, split_label
from engine.phantom import PhantomCase, generate

ALL = 1.0  # prevalence: every label present


@pytest.fixture(scope="module")
def small_all() -> PhantomCase:
    """One small case with all 19 labels present (HU checks need the finer grid)."""
    return generate(11, "small", prevalence=ALL)


@pytest.fixture(scope="module")
def small_healthy() -> PhantomCase:
    return generate(4, "small", prevalence=0.0)


def _centroid_x(case: PhantomCase, mask: np.ndarray) -> float:
    return float(case.volume.world(np.argwhere(mask).mean(0))[0])


def test_same_seed_same_case():
    a = generate(5, "model")
    b = generate(5, "model")
    assert np.array_equal(a.volume.hu, b.volume.hu)
    assert np.array_equal(a.volume.affine, b.volume.affine)
    assert np.array_equal(a.organs, b.organs)
    assert a.labels == b.labels
    assert a.masks.keys() == b.masks.keys()
    for k in a.masks:
        assert np.array_equal(a.masks[k], b.masks[k])


def test_seeds_vary_patient_and_scanner():
    cases = [generate(s, "model", prevalence=0.0) for s in range(4)]
    spacings = {c.volume.spacing for c in cases}
    assert len(spacings) == 4  # field of view / slice spacing differ
    lung_ml = [float((c.organs == 1).sum() * np.prod(c.volume.spacing)) / 1000 for c in cases]
    heart_ml = [float((c.organs == 2).sum() * np.prod(c.volume.spacing)) / 1000 for c in cases]
    assert max(lung_ml) - min(lung_ml) > 0.1
    assert max(heart_ml) - min(heart_ml) > 0.02
    small = [generate(s, "small", prevalence=0.0, shape=(64, 64, 40)).volume.spacing for s in range(2)]
    assert small[0] != small[1]


def test_model_size_grid_and_types():
    c = generate(2, "model")
    assert c.volume.shape == (96, 96, 64)
    assert c.volume.hu.dtype == np.int16 and c.organs.dtype == np.uint8
    assert c.volume.axcodes == ("R", "A", "S")
    sx, sy, sz = c.volume.spacing
    assert 4.0 < sx < 7.5 and sx == pytest.approx(sy)  # the field of view holds the arms and 3.5 < sz < 7.0
    assert set(np.unique(c.organs)) == {0, 1, 2, 3}


def test_label_vector_and_masks_agree():
    for seed in range(3):
        c = generate(seed, "model", prevalence=0.4)
        assert list(c.labels) == list(LABELS)
        assert set(c.labels.values()) <= {0, 1}
        present = {k for k, v in c.labels.items() if v}
        assert set(c.masks) == present
        for m in c.masks.values():
            assert m.dtype == bool and m.shape == c.volume.shape and m.any()


def test_all_findings_visible_at_model_size():
    """Every label survives on the coarse training grid (minimum sizes in voxels)."""
    for seed in range(3):
        c = generate(seed, "model", prevalence=ALL)
        assert sum(c.labels.values()) == 19, [k for k, v in c.labels.items() if not v]


def test_masks_lie_inside_their_organ():
    for seed in range(3):
        c = generate(seed, "model", prevalence=ALL)
        for label, m in c.masks.items():
            assert np.all(c.organs[m] == organ_code(label)), label


def test_prevalence_zero_and_dict():
    c = generate(1, "model", prevalence=0.0)
    assert sum(c.labels.values()) == 0 and c.masks == {}
    c = generate(1, "model", prevalence={"left_lung/nodule": 1.0})
    assert [k for k, v in c.labels.items() if v] == ["left_lung/nodule"]
    with pytest.raises(ValueError, match="unknown labels"):
        generate(1, "model", prevalence={"left_lung/tumour": 1.0})
    with pytest.raises(ValueError):
        generate(1, "model", prevalence=1.5)
    with pytest.raises(ValueError, match="size"):
        generate(1, "huge")


def test_left_lesions_on_patient_left():
    for seed in range(4):
        c = generate(seed, "model", prevalence={"left_lung/nodule": 1.0, "right_lung/mass": 1.0})
        body_x = float(c.volume.world(np.argwhere(c.volume.hu > -500).mean(0))[0])
        assert _centroid_x(c, c.masks["left_lung/nodule"]) < body_x
        assert _centroid_x(c, c.masks["right_lung/mass"]) > body_x
        assert _centroid_x(c, c.organs == ORGAN_CODES["left_lung"]) < body_x < _centroid_x(c, c.organs == ORGAN_CODES["right_lung"])
        assert _centroid_x(c, c.organs == ORGAN_CODES["heart"]) < body_x  # heart sits left of midline
    # right lung larger than the left (the heart takes room on the left)
    c = generate(3, "model", prevalence=0.0)
    assert (c.organs == 1).sum() > (c.organs == 3).sum()


def test_shape_and_spacing_overrides():
    c = generate(3, "full", shape=(48, 40, 30))
    assert c.volume.shape == (48, 40, 30)
    c = generate(3, "model", spacing=(6.0, 6.0, 8.0))
    assert c.volume.spacing == pytest.approx((6.0, 6.0, 8.0))
    assert 70 < c.volume.shape[0] < 115


def _median(case, mask):
    return float(np.median(case.volume.hu[mask]))


def test_tissue_hu(small_healthy):
    c = small_healthy
    hu = c.volume.hu
    assert np.median(hu[:8, :8, :]) < -950  # air outside the body
    lungs = (c.organs == 1) | (c.organs == 3)
    assert -900 < _median(c, lungs) < -760
    heart = c.organs == 2
    assert 10 < _median(c, heart) < 70
    bone = hu > 400
    assert 0.002 < bone.mean() < 0.08  # ribs, spine, sternum
    assert hu.max() > 700
    body = hu > -500
    fat = body & (hu < -50) & (hu > -150)
    assert fat.mean() > 0.02  # subcutaneous and mediastinal fat
    # noise: soft-tissue standard deviation like a scanner's, not zero
    core = heart.copy()
    for _ in range(3):
        core[1:-1] &= core[:-2] & core[2:]
    assert 3 < np.std(hu[core]) < 40


@pytest.mark.parametrize(
    "abn, lo, hi",
    [
        ("mass", -20, 70),
        ("ground_glass_opacity", -760, -330),
        ("consolidation", -120, 80),
        ("pleural_effusion", -20, 35),
        ("emphysema", -1024, -900),
        ("atelectasis", -10, 90),
    ],
)
def test_lung_lesion_hu(small_all, abn, lo, hi):
    from scipy import ndimage

    for side in ("right_lung", "left_lung"):
        label = f"{side}/{abn}"
        mask = small_all.masks[label]
        core = ndimage.binary_erosion(mask, structure=np.ones((3, 3, 1), bool))  # away from partial volume
        med = _median(small_all, core if core.sum() >= 20 else mask)
        assert lo <= med <= hi, (label, med)


def test_dense_and_heart_findings_hu(small_all):
    c = small_all
    for side in ("right_lung", "left_lung"):
        # a nodule is solid: at least its core is far denser than lung (small ones blur)
        assert c.volume.hu[c.masks[f"{side}/nodule"]].max() > -400
    for side in ("right_lung", "left_lung"):
        # denser than any soft tissue even when a 4 mm spot is averaged over 3 mm slices
        assert c.volume.hu[c.masks[f"{side}/calcified_granuloma"]].max() > 130
    assert c.volume.hu[c.masks["heart/coronary_calcification"]].max() > 130  # Agatston threshold
    assert -15 < _median(c, c.masks["heart/pericardial_effusion"]) < 40
    # cardiomegaly: the heart region is bigger than the same patient's normal heart
    normal = generate(11, "small", prevalence={k: (1.0 if split_label(k)[0] != "heart" else 0.0) for k in LABELS})
    assert (c.organs == 2).sum() > 1.3 * (normal.organs == 2).sum()
    # the effusion replaces lung parenchyma inside the lung region, posteriorly (dependent)
    for side, code in (("right_lung", 1), ("left_lung", 3)):
        eff = c.masks[f"{side}/pleural_effusion"]
        lung = c.organs == code
        assert c.volume.world(np.argwhere(eff).mean(0))[1] < c.volume.world(np.argwhere(lung).mean(0))[1]


def test_write_and_read_back(tmp_path):
    from engine.io import load

    c = generate(7, "model", prevalence=0.5)
    c.write(tmp_path)
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert doc["labels"] == c.labels and list(doc["labels"]) == list(LABELS)
    vol = load(tmp_path / "case.nii.gz")
    assert np.array_equal(vol.hu, c.volume.hu)
    assert np.allclose(vol.affine, c.volume.affine, atol=1e-4)
    import nibabel as nib

    org = np.asarray(nib.load(str(tmp_path / "organs.nii.gz")).dataobj)
    assert np.array_equal(org, c.organs)
    for label in LABELS:
        f = tmp_path / "masks" / f"{label}.nii.gz"
        assert f.exists() == bool(c.labels[label])
        if f.exists():
            assert doc["masks"][label] == f"masks/{label}.nii.gz"
            assert np.array_equal(np.asarray(nib.load(str(f)).dataobj).astype(bool), c.masks[label])


def test_cli_writes_case_and_dicom(tmp_path, capsys):
    from engine.io import load

    out = tmp_path / "case"
    assert phantom_main(["--seed", "3", "--out", str(out), "--size", "model", "--prevalence", "0.5", "--dicom"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [96, 96, 64]
    labels = json.loads((out / "labels.json").read_text())["labels"]
    assert [k for k, v in labels.items() if v] == info["present"]
    nii = load(out / "case.nii.gz")
    dcm = load(out / "dicom")
    assert np.array_equal(nii.hu, dcm.hu)
    assert np.allclose(nii.affine, dcm.affine, atol=1e-3)


def test_ctcam_dispatches_phantom(tmp_path, capsys):
    from engine.cli import main as ctcam

    assert ctcam(["phantom", "--seed", "2", "--out", str(tmp_path), "--size", "model", "--prevalence", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["present"] == []
    assert (tmp_path / "case.nii.gz").exists() and (tmp_path / "organs.nii.gz").exists()
    assert not (tmp_path / "masks").exists() or not any((tmp_path / "masks").rglob("*.nii.gz"))


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        phantom_main(["--seed", "1", "--out", "x", "--prevalence", "2"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        phantom_main(["--out", "x"])  # no seed
    assert "seed" in capsys.readouterr().err


def _parts(seed):
    from engine.phantom.anatomy import Anatomy
    from engine.phantom.body_parts import BodyParts

    streams = np.random.SeedSequence(seed).spawn(8)
    anat = Anatomy(np.random.default_rng(streams[1]))
    return anat, BodyParts(anat, np.random.default_rng(streams[7]))


def _at(case, p, r=1):
    ijk = np.rint(case.volume.index(np.asarray(p, float)) if hasattr(case.volume, "index") else
                  (np.asarray(p, float) - case.volume.affine[:3, 3]) / np.diag(case.volume.affine)[:3]).astype(int)
    sl = tuple(slice(max(0, i - r), i + r + 1) for i in ijk)
    return case.volume.hu[sl], case.organs[sl]


def test_body_parts_arms_abdomen_table(small_healthy):
    """Arms with a humerus beside the chest, liver under the right dome, air in the stomach,
    a table under the patient: all organ code 0."""
    c = small_healthy
    anat, parts = _parts(4)
    z = 0.3 * anat.H
    for side in (1, -1):
        xc = float(parts.arm_centre_x(np.float32(z), side)) + side * parts.hum_dx
        hu, org = _at(c, (xc, parts.arm_y + 2, z), r=int(parts.hum_r / c.volume.spacing[0]) + 1)
        assert hu.max() > 500 and np.all(org == 0)  # humeral cortex
        gap_x = side * (anat.body.a * float(anat.body.scale(np.float32(z))) + 0.5 * parts.gap)
        assert _at(c, (gap_x, parts.arm_y + parts.rb + 25, z), r=0)[0].max() < -900  # outside air in front
    x = 0.45 * anat.cav_a
    zl = float(anat.dome(np.float32(x), np.float32(anat.ycc))) - 25
    hu, org = _at(c, (x, anat.ycc, max(zl, c.volume.affine[2, 3] + 6)))
    assert 35 < np.median(hu) < 85 and np.all(org == 0)  # liver
    sc, ss = parts.stomach_c, parts.stomach_s
    hu, org = _at(c, (sc[0], sc[1] + 0.7 * ss[1], sc[2]), r=0)
    assert hu.max() < -700 and np.all(org == 0)  # gastric air, anterior (supine)
    hu, org = _at(c, (0.0, parts.table_y - 0.5 * parts.table_t, 0.5 * anat.H), r=int(parts.table_t / 2 / c.volume.spacing[1]) + 2)
    assert hu.max() > -300 and np.all(org == 0)  # table shell (3 mm, blurred)
    gap, _ = _at(c, (0.0, parts.table_y + 0.5 * parts.table_gap, 0.5 * anat.H), r=0)
    assert gap.max() < -500  # the table does not touch the patient


def test_body_parts_leave_lungs_and_findings_in_place():
    a = generate(11, "small", prevalence=ALL)
    b = generate(11, "small", prevalence=ALL, body_parts=False)
    assert np.array_equal(a.organs, b.organs) and a.labels == b.labels
    for k in a.masks:
        assert np.array_equal(a.masks[k], b.masks[k]), k
    from scipy import ndimage

    lungs = ndimage.binary_erosion((a.organs == 1) | (a.organs == 3), iterations=2)
    assert np.array_equal(a.volume.hu[lungs], b.volume.hu[lungs])
    assert -900 < np.median(a.volume.hu[lungs]) < -760
