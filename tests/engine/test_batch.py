"""Batch ``ctcam explain INPUT... --out DIR``: inputs, layout, errors.csv, resume, exit codes.

A tiny saved model (not the bundled one) and small synthetic scans; organ maps are skipped
(``--organs none``) or given per scan, so nothing depends on the classical segmentation.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.batch import BatchOptions, is_complete, run_batch
from engine.batch import scan as batch_mod
from engine.batch.inputs import BatchInputError, ScanJob, expand_inputs, is_single_scan, safe_id
from engine.batch.progress import BatchProgress
from engine.batch.scan import explain_scan_job
from engine.cli import main as ctcam
from engine.io.dicom import write_dicom_series
from engine.io.nifti import write_nifti
from engine.labels import LABELS, ORGAN_CODES
from engine.model import AxialNet, new_card, save_model
from engine.results import ExplainResult
from engine.summary_png import key_slice, render_summary
from engine.volume import CTVolume

PREP = {"shape": [32, 32, 12], "spacing_mm": [10.0, 10.0, 20.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body", "interpolation": "trilinear", "outside_hu": -1000}
ARCH = dict(stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(4,))


def make_tiny_model(directory) -> str:
    torch.manual_seed(1)
    net = AxialNet(len(LABELS), PREP["shape"], **ARCH).eval()
    with torch.no_grad():
        net.head.bias.copy_(torch.linspace(-1, 1, len(LABELS)))
    w, _ = save_model(net, new_card(net, LABELS, ORGAN_CODES, PREP), directory)
    return str(w)


def make_scan(seed: int = 0, shape=(40, 36, 30)) -> tuple[CTVolume, np.ndarray]:
    """Body ellipse (40 HU), two lungs (-850 HU), a 200 HU blob in the left lung; organ map."""
    rng = np.random.default_rng(seed)
    hu = np.full(shape, -1000, np.int16)
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    body = ((ii - shape[0] / 2) / (shape[0] * 0.42)) ** 2 + ((jj - shape[1] / 2) / (shape[1] * 0.4)) ** 2 < 1
    hu[body] = 40
    hu[6:18, 8:28, 5:25] = -850
    hu[22:34, 8:28, 5:25] = -850
    c = 9 + seed % 5
    hu[c - 2:c + 2, 15:19, 12:16] = 200
    hu = (hu + rng.integers(-10, 11, shape)).astype(np.int16)
    aff = np.diag([8.0, 8.0, 10.0, 1.0])
    aff[:3, 3] = [-160, -140, -150]
    organs = np.zeros(shape, np.uint8)
    organs[6:18, 8:28, 5:25] = ORGAN_CODES["left_lung"]
    organs[22:34, 8:28, 5:25] = ORGAN_CODES["right_lung"]
    return CTVolume(hu, aff, {"source_path": f"synthetic-{seed}"}), organs


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Two good NIfTI scans and one damaged NIfTI file in a folder (organ maps beside it:
    a label map inside the folder would count as a scan)."""
    d = tmp_path_factory.mktemp("data") / "scans"
    for s in range(2):
        vol, organs = make_scan(s)
        write_nifti(d / f"case{s}.nii.gz", vol.hu, vol.affine)
        write_nifti(d.parent / "organs" / f"case{s}_organs.nii.gz", organs, vol.affine)
    (d / "broken.nii.gz").write_bytes(b"\x1f\x8bnot really gzip")
    return d


def _run(args, capsys):
    rc = ctcam(["explain", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- inputs --------------------------------------------------------------------------------------
def test_folder_rules_nifti_collection_dicom_series_and_ignored_files(tmp_path):
    vol, _ = make_scan(0, shape=(12, 10, 6))
    root = tmp_path / "archive"
    write_nifti(root / "a.nii.gz", vol.hu, vol.affine)
    write_nifti(root / "patient 1" / "scan.nii", vol.hu, vol.affine)
    write_dicom_series(root / "patient2" / "ct", vol, uid_seed="p2")  # one series
    write_dicom_series(root / "two" / "x", vol, uid_seed="a", series_number=3)
    write_dicom_series(root / "two" / "x" / "more", vol, uid_seed="b", series_number=5)
    (root / "notes.txt").write_text("not a scan")
    (root / ".hidden.nii.gz").write_bytes(b"")
    jobs = expand_inputs([str(root)])
    ids = [j.id for j in jobs]
    assert ids == ["a", "patient_1__scan", "patient2__ct", "two__x_s3", "two__x_s5"]
    by_id = {j.id: j for j in jobs}
    assert by_id["patient2__ct"].path.endswith("ct") and by_id["patient2__ct"].series is None
    assert by_id["two__x_s3"].series != by_id["two__x_s5"].series is not None
    # one DICOM folder or one file is a single scan; a collection, a CSV or two inputs are not
    assert is_single_scan([str(root / "patient2" / "ct")])
    assert is_single_scan([str(root / "a.nii.gz")]) and is_single_scan([str(tmp_path / "missing.nii")])
    assert not is_single_scan([str(root)])
    assert not is_single_scan([str(root / "a.nii.gz")] * 2)
    # repeated derived ids get -2, -3 in input order
    twice = expand_inputs([str(root / "a.nii.gz"), str(root / "a.nii.gz"), str(root / "a.nii.gz")])
    assert [j.id for j in twice] == ["a", "a-2", "a-3"]


def test_csv_list_paths_relative_to_csv_ids_and_organs(tmp_path):
    lst = tmp_path / "lists" / "batch.csv"
    lst.parent.mkdir()
    lst.write_text("path,id,organs\n../s/one.nii.gz,first,../s/org.nii.gz\n/abs/two.nii,,none\n"
                   "three.nii.gz,,\n")
    jobs = expand_inputs([str(lst)])
    assert [j.id for j in jobs] == ["first", "two", "three"]
    assert jobs[0].path == str(tmp_path / "lists" / ".." / "s" / "one.nii.gz")
    assert jobs[0].organs == str(tmp_path / "lists" / ".." / "s" / "org.nii.gz")
    assert jobs[1].organs == "none" and jobs[2].organs is None
    assert jobs[1].path == "/abs/two.nii"
    bad = tmp_path / "bad.csv"
    bad.write_text("file\nx.nii\n")
    with pytest.raises(BatchInputError, match="'path' column"):
        expand_inputs([str(bad)])
    dup = tmp_path / "dup.csv"
    dup.write_text("path,id\na.nii,x\nb.nii,x\n")
    with pytest.raises(BatchInputError, match="repeated id"):
        expand_inputs([str(dup)])


def test_safe_ids():
    assert safe_id("../etc/passwd") == "_etc_passwd"
    assert safe_id("errors.csv") == "errors.csv_"
    assert safe_id("  ") == "scan" and safe_id("Case 7 (ax)") == "Case_7_ax_"


# -- end to end ----------------------------------------------------------------------------------
def test_batch_writes_layout_records_failures_and_exit_code_1(tiny_model, scans, tmp_path, capsys):
    out = tmp_path / "out"
    missing = tmp_path / "nowhere.nii.gz"
    rc, stdout, err = _run([scans, missing, "--out", out, "--model", tiny_model, "--organs", "none",
                            "--labels", "left_lung/nodule,heart/cardiomegaly", "--methods",
                            "hirescam,gradcam", "--raw", "--device", "cpu"], capsys)
    assert rc == 1
    errors = _rows(out / "errors.csv")
    assert {r["id"] for r in errors} == {"broken", "nowhere"}
    msg = {r["id"]: r["error"] for r in errors}
    assert "broken.nii.gz" in msg["broken"] and "nowhere.nii.gz" in msg["nowhere"]
    assert not any("unexpected error" in m for m in msg.values())
    for sid in ("case0", "case1"):
        d = out / sid
        data = json.loads((d / "findings.json").read_text())
        assert data["id"] == sid and len(data["labels"]) == len(LABELS)
        maps = sorted(p.relative_to(d / "maps").as_posix() for p in (d / "maps").rglob("*.nii.gz"))
        assert maps == ["gradcam/heart__cardiomegaly.nii.gz", "gradcam/left_lung__nodule.nii.gz",
                        "hirescam/heart__cardiomegaly.nii.gz", "hirescam/left_lung__nodule.nii.gz"]
        assert len(list((d / "raw").rglob("*.nii.gz"))) == 4  # --raw: model-grid maps too
        with Image.open(d / "summary.png") as im:
            assert im.format == "PNG" and im.width >= 640 and im.height > 200
    assert not (out / "broken").exists() and not list(out.glob(".partial-*"))
    scans_csv = {r["id"]: r for r in _rows(out / "scans.csv")}
    assert scans_csv["case0"]["status"] == "done" and float(scans_csv["case0"]["seconds"]) > 0
    assert scans_csv["case0"]["top_label"] in LABELS and scans_csv["broken"]["status"] == "failed"
    # one line per scan plus the closing summary on stderr; the output folder on stdout
    lines = err.strip().splitlines()
    assert len(lines) == 5 and lines[-1].startswith("4 scan(s): 2 explained, 0 already done, 2 failed")
    assert sum("FAILED" in ln for ln in lines) == 2 and sum(" ok " in ln for ln in lines) == 2
    assert stdout.strip() == str(out)


def test_resume_skips_complete_redoes_partial_and_retries_failed(tiny_model, scans, tmp_path, capsys):
    out = tmp_path / "out"
    args = [scans, "--out", out, "--model", tiny_model, "--organs", "none", "--methods", "hirescam",
            "--quiet"]
    assert _run(args, capsys)[0] == 1
    done_mtime = (out / "case0" / "findings.json").stat().st_mtime_ns
    # damage case1 as an interrupted non-atomic writer would; leave a stale temp folder
    (out / "case1" / "findings.json").unlink()
    (out / ".partial-case1-dead").mkdir()
    (out / ".partial-case1-dead" / "junk").write_text("x")
    # fix the broken input: it must be retried and now succeed
    vol, _ = make_scan(3)
    write_nifti(scans / "broken.nii.gz", vol.hu, vol.affine)
    try:
        rc, _, err = _run(args, capsys)
    finally:
        (scans / "broken.nii.gz").write_bytes(b"\x1f\x8bnot really gzip")
    assert rc == 0
    assert (out / "case0" / "findings.json").stat().st_mtime_ns == done_mtime
    assert is_complete(out / "case1") and is_complete(out / "broken")
    status = {r["id"]: r["status"] for r in _rows(out / "scans.csv")}
    assert status == {"broken": "done", "case0": "skipped", "case1": "done"}
    assert _rows(out / "errors.csv") == [] and not list(out.glob(".partial-*"))


def test_interrupted_scan_leaves_no_output_and_is_redone(tiny_model, scans, tmp_path, monkeypatch):
    out = tmp_path / "out"
    opts = BatchOptions(model=tiny_model, organs="none", methods=("gradcam",))
    jobs = [ScanJob("c0", str(scans / "case0.nii.gz")), ScanJob("c1", str(scans / "case1.nii.gz"))]
    real = batch_mod.os.rename
    calls = {"n": 0}

    def rename_then_die(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the second scan is killed just before its folder is published
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(batch_mod.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, out, opts)
    monkeypatch.setattr(batch_mod.os, "rename", real)
    assert is_complete(out / "c0") and not (out / "c1").exists()
    assert not list(out.glob(".partial-*"))
    report = run_batch(jobs, out, opts)
    assert [o.status for o in report.outcomes] == ["skipped", "done"] and report.exit_code == 0


def test_per_scan_organ_maps_from_csv_and_model_loaded_once(tiny_model, scans, tmp_path, capsys,
                                                             monkeypatch):
    import engine.model
    from engine import pipeline

    monkeypatch.setattr(pipeline, "_MODEL_CACHE", {})
    loads = []
    real_load = engine.model.load_model

    def counting_load(*a, **k):
        loads.append(a)
        return real_load(*a, **k)

    monkeypatch.setattr(engine.model, "load_model", counting_load)
    lst = tmp_path / "list.csv"
    lst.write_text("path,id,organs\n"
                   f"{scans / 'case0.nii.gz'},p0,{scans.parent / 'organs' / 'case0_organs.nii.gz'}\n"
                   f"{scans / 'case1.nii.gz'},p1,none\n"
                   f"{scans / 'case1.nii.gz'},p2,{scans.parent / 'organs' / 'missing.nii.gz'}\n")
    out = tmp_path / "out"
    rc, _, _ = _run([lst, "--out", out, "--model", tiny_model, "--organs", "none", "--quiet"],
                    capsys)
    assert rc == 1 and len(loads) == 1
    assert "organs" in json.loads((out / "p0" / "findings.json").read_text())["organ_map"]
    assert json.loads((out / "p1" / "findings.json").read_text())["organ_map"] == "organ map not requested"
    (err,) = _rows(out / "errors.csv")
    assert err["id"] == "p2" and "missing.nii.gz" in err["error"]


@pytest.mark.parametrize("extra, message", [
    (["--labels", "left_lung/tumour"], "unknown label"),
    (["--methods", "hirescam,lime"], "unknown method"),
    (["--organs", "/some/organs.nii.gz"], "'auto' or 'none'"),
    (["--series", "1.2.3"], "--series"),
    (["--workers", "0", "--cluster", "local"], "--workers"),
])
def test_bad_usage_exits_2_before_any_scan(tiny_model, scans, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    rc, _, err = _run([scans, "--out", out, "--model", tiny_model, "--quiet", *extra], capsys)
    assert rc == 2 and message in err and err.startswith("error:")
    assert not (out / "case0").exists()


def test_empty_folder_and_bad_model_exit_2(tiny_model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, _, err = _run([tmp_path / "empty", "--out", tmp_path / "o", "--model", tiny_model], capsys)
    assert rc == 2 and "no scans found" in err
    vol, _ = make_scan(0)
    write_nifti(tmp_path / "s" / "a.nii.gz", vol.hu, vol.affine)
    rc, _, err = _run([tmp_path / "s", "--out", tmp_path / "o", "--model", tmp_path / "no.safetensors"],
                      capsys)
    assert rc == 2 and "no.json" in err
    assert not (tmp_path / "o" / "errors.csv").exists()  # nothing written for a usage error


def test_single_scan_keeps_flat_layout_and_batch_flag_switches(tiny_model, scans, tmp_path, capsys):
    rc, _, _ = _run([scans / "case0.nii.gz", "--out", tmp_path / "flat", "--model", tiny_model,
                     "--organs", "none", "--quiet"], capsys)
    assert rc == 0 and (tmp_path / "flat" / "findings.json").is_file()
    assert not (tmp_path / "flat" / "summary.png").exists()
    rc, _, _ = _run([scans / "case0.nii.gz", "--batch", "--out", tmp_path / "b", "--model",
                     tiny_model, "--organs", "none", "--quiet"], capsys)
    assert rc == 0 and is_complete(tmp_path / "b" / "case0")
    assert (tmp_path / "b" / "case0" / "summary.png").is_file()


def test_unexpected_exception_is_recorded_not_raised(tiny_model, scans, tmp_path, monkeypatch):
    import engine.summary_png

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(engine.summary_png, "write_summary_png", boom)
    o = explain_scan_job(ScanJob("x", str(scans / "case0.nii.gz")), tmp_path,
                         BatchOptions(model=tiny_model, organs="none"))
    assert o.status == "failed" and "unexpected error (ZeroDivisionError" in o.error
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".partial-*"))


# -- progress display ------------------------------------------------------------------------------
def test_progress_live_bar_and_plain_log():
    live = io.StringIO()
    p = BatchProgress(3, live, live=True)
    p.scan_started("a")
    p.scan_progress("a", 0.5, "predict")
    assert "\r" in live.getvalue() and "16.7%" in live.getvalue() and "| a  50% predict" in live.getvalue()
    p.scan_finished("a", "done", 2.0)
    p.scan_started("b")
    p.scan_progress("b", 0.5, "load")
    assert "eta 3.0 s" in p.status_line()  # 1.5 scans left at 2 s each
    p.scan_finished("b", "failed", 0.1, "bad file")
    p.scan_finished("c", "skipped")
    summary = p.close("out/errors.csv")
    assert summary == ("3 scan(s): 1 explained, 1 already done, 1 failed in "
                       f"{summary.split(' in ')[1].split(',')[0]}, 2.0 s per scan; see out/errors.csv")
    plain = io.StringIO()
    q = BatchProgress(2, plain, live=False)
    q.scan_started("a")
    q.scan_progress("a", 0.3, "load")
    q.scan_finished("a", "done", 1.0)
    assert "\r" not in plain.getvalue() and plain.getvalue() == "[1/2] ok      a  1.0 s\n"


# -- summary.png -----------------------------------------------------------------------------------
def _fake_result(vol: CTVolume, peak_map_index, organ_map=None) -> ExplainResult:
    from engine.results import LabelInfo

    labels = [LabelInfo("left_lung/nodule", "left_lung", "nodule", 3),
              LabelInfo("heart/cardiomegaly", "heart", "cardiomegaly", 2)]
    maps = {m: np.zeros((2, 5, 5, 5), np.float32) for m in ("hirescam", "gradcam")}
    maps["hirescam"][0][peak_map_index] = 1.0
    maps["gradcam"][0][peak_map_index] = 0.5
    maps["hirescam"][1] = -1.0  # no positive evidence at all
    map_aff = np.diag([64.0, 57.6, 60.0, 1.0])  # 5 map voxels span the 40x36x30 scan
    map_aff[:3, 3] = vol.world(np.array([3.5, 3.1, 2.5]))
    return ExplainResult(labels, np.array([0.9, 0.2]), np.array([2.0, -1.4]), np.zeros(2), maps,
                         map_aff, organ_map, {"name": "fake"})


def test_summary_key_slice_and_radiological_orientation():
    vol, organs = make_scan(0)
    res = _fake_result(vol, (1, 2, 3), organs)
    world = res.map_affine[:3, :3] @ np.array([1, 2, 3]) + res.map_affine[:3, 3]
    k_expected = int(round(vol.index(world)[2]))
    assert key_slice(res, vol, 0) == k_expected
    assert key_slice(res, vol, 1) == vol.shape[2] // 2  # nothing positive: middle slice
    img = np.asarray(render_summary(res, vol, labels=[0], top=1)).astype(int)
    # the hot spot sits at map i=1 (patient's left): on the right half of the HiResCAM panel
    from engine.summary_png import _panel_size

    pw, ph = _panel_size(vol)
    y0, x_h = 30 + 22, 8 + pw + 8
    panel = img[y0:y0 + ph, x_h:x_h + pw]
    redness = panel[..., 0] - panel[..., 2]
    ys, xs = np.nonzero(redness > 80)
    assert xs.size > 0 and xs.mean() > pw / 2
    ct_panel = img[y0:y0 + ph, 8:8 + pw]
    assert (ct_panel[..., 0] - ct_panel[..., 2] > 80).sum() < xs.size / 10


def test_summary_key_slice_prefers_the_findings_organ():
    from engine.cam.localisation import organ_codes_on_map_grid

    vol, organs = make_scan(0)
    res = _fake_result(vol, (1, 2, 3), organs)  # peak in the left lung (code 3)
    for m in res.maps:
        res.maps[m][0][3, 2, 1] = 5.0  # a stronger peak in the right lung, another slice
    codes = organ_codes_on_map_grid(organs, vol.affine, res.map_affine, (5, 5, 5))
    assert codes[1, 2, 3] == ORGAN_CODES["left_lung"] and codes[3, 2, 1] == ORGAN_CODES["right_lung"]
    k_left = key_slice(res, vol, 0, organ_codes=codes)
    k_any = key_slice(res, vol, 0)
    world = lambda ijk: res.map_affine[:3, :3] @ np.array(ijk) + res.map_affine[:3, 3]  # noqa: E731
    assert k_left == int(round(vol.index(world((1, 2, 3)))[2]))
    assert k_any == int(round(vol.index(world((3, 2, 1)))[2])) and k_any != k_left


def test_scan_progress_covers_writing(tiny_model, scans, tmp_path):
    seen = []
    o = explain_scan_job(ScanJob("p", str(scans / "case0.nii.gz")), tmp_path,
                         BatchOptions(model=tiny_model, organs="none", methods=("hirescam",)),
                         progress=seen.append)
    assert o.status == "done" and set(o.timings) >= {"predict", "write", "summary"}
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and max(fractions) == 0.95
    messages = [p.message for p in seen]
    assert messages.index("writing heat maps") < messages.index("summary.png") == len(seen) - 1
