"""The bundled demo case: files agree with labels.json, findings sit where they should,
and tools/make_demo.py regenerates it exactly."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from engine.io import load
from engine.labels import LABELS, organ_code, split_label
from engine.resources import demo_case_path, demo_organs_path

DEMO = demo_case_path().parent


@pytest.fixture(scope="module")
def demo():
    if not demo_case_path().exists():
        pytest.fail(f"bundled demo case missing at {demo_case_path()}; run python tools/make_demo.py")
    vol = load(demo_case_path())
    organs = np.asarray(nib.load(str(demo_organs_path())).dataobj)
    doc = json.loads((DEMO / "labels.json").read_text())
    masks = {lab: np.asarray(nib.load(str(DEMO / rel)).dataobj).astype(bool) for lab, rel in doc["masks"].items()}
    return vol, organs, doc, masks


def test_demo_files_match_labels_json(demo):
    vol, organs, doc, masks = demo
    assert list(doc["labels"]) == list(LABELS)
    present = {k for k, v in doc["labels"].items() if v}
    assert set(masks) == present
    for label in LABELS:
        assert (DEMO / "masks" / f"{label}.nii.gz").exists() == (label in present)
    assert organs.shape == vol.shape
    for label, m in masks.items():
        assert m.shape == vol.shape and m.any()
        assert np.all(organs[m] == organ_code(label)), label


def test_demo_findings_and_size(demo):
    vol, organs, doc, masks = demo
    present = [k for k, v in doc["labels"].items() if v]
    assert len(present) >= 3
    assert {split_label(k)[0] for k in present} == {"right_lung", "left_lung", "heart"}
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 15e6


def test_left_only_finding_is_on_patient_left(demo):
    vol, organs, doc, masks = demo
    labels = doc["labels"]
    left_only = [k for k in LABELS if k.startswith("left_lung/") and labels[k] and not labels["right_lung/" + k.split("/")[1]]]
    assert left_only, "the demo needs a finding in the left lung only"
    body = vol.hu > -500
    body_x = vol.world(np.argwhere(body).mean(0))[0]
    for label in left_only:
        x = vol.world(np.argwhere(masks[label]).mean(0))[0]
        assert x < body_x - 20, (label, x, body_x)  # RAS: the patient's left has smaller x


def test_demo_regenerates_exactly(demo):
    from engine.phantom import generate
    from engine.phantom.demo import DEMO_PREVALENCE, DEMO_SEED, DEMO_SIZE

    vol, organs, doc, masks = demo
    case = generate(DEMO_SEED, DEMO_SIZE, prevalence=DEMO_PREVALENCE)
    assert case.labels == doc["labels"], "generator changed: run python tools/make_demo.py"
    assert np.array_equal(case.organs, organs)
    # the HU are floats rounded to whole numbers: another numpy build or CPU (SIMD path) may
    # round a value lying at .5 the other way (numpy 2.4.6 on an AVX2 EPYC: 113 of 7.1 M
    # voxels by 1 HU); a changed generator moves far more, and by more
    diff = np.abs(case.volume.hu.astype(np.int32) - vol.hu.astype(np.int32))
    assert diff.max() <= 1 and np.count_nonzero(diff) < 1e-4 * diff.size, \
        (int(diff.max()), int(np.count_nonzero(diff)), "generator changed: run python tools/make_demo.py")
