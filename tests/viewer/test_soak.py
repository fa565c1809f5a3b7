"""Short soak and stress of the offscreen viewer with the bundled model (the long run is
``benchmarks/soak.py``, whose drivers these are): scans opened in a row keep memory, threads
and child processes flat; scans opened every 100 ms end on the last scan's own result, and
no result is ever shown on another scan."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets
from viewer_case import make_volume

from engine.io.nifti import write_nifti
from engine.resources import bundled_model_paths

ROOT = Path(__file__).resolve().parents[2]
MISSING = [str(p) for p in bundled_model_paths() if not p.exists()]


def _soak_module():
    spec = importlib.util.spec_from_file_location("ctcam_soak", ROOT / "benchmarks" / "soak.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _scans(tmp_path, n):
    """n different files (the small asymmetric chest, shifted a little each time)."""
    vol = make_volume()
    out = []
    for k in range(n):
        aff = vol.affine.copy()
        aff[:3, 3] += (k % 3, 0, 0)
        case, organs = tmp_path / f"s{k:02d}.nii.gz", tmp_path / f"s{k:02d}_organs.nii.gz"
        write_nifti(case, vol.hu, aff)
        write_nifti(organs, vol.meta["organs"], aff, dtype=np.uint8)
        out.append((str(case), str(organs)))
    return out


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"bundled model missing: {MISSING}")
def test_soak_and_rapid_opens(qtbot, window, tmp_path):
    soak = _soak_module()
    app = QtWidgets.QApplication.instance()
    window.run_model = True
    scans = _scans(tmp_path, 15)
    # in a row, inference in the GUI process's worker thread (torch imported once: fast)
    window.model_process = False
    a = soak.soak(app, window, scans[:5], warmup=2, timeout=120, report=lambda _m: None)
    assert a["errors"] == [] and a["results_shown"] == 5 and a["wrong_results"] == 0
    assert a["native_threads_end"] <= a["native_threads_warm"] + 2  # no thread per scan
    assert a["py_threads_end"] <= a["py_threads_warm"]
    assert a["rss_growth"] < 0.25  # loose here (3 scans); the benchmark measures 50
    # every 100 ms, the real model process (superseded runs are terminated)
    window.model_process = True
    b = soak.rapid(app, window, scans[5:], interval_ms=100, timeout=120)
    assert b["opens"] == 10 and b["settled"] and b["errors"] == []
    assert b["shows_last_scan"] and b["result_is_last_scans"] and b["overlay_is_last_result"]
    assert b["wrong_results"] == 0 and b["children_end"] == 0
    assert b["results_shown"] >= 1 and b["dropped"] + b["results_shown"] >= 2
