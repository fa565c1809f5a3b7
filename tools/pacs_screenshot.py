"""Screenshots of File > Open from PACS against a real Orthanc (docs/screenshots/pacs_*.png).

Starts Orthanc with its DICOMweb plugin on a free localhost port (tests/support/
orthanc_server.py), stores the demo case there as a DICOM CT series, then runs the real
application under an X server: the dialog after a search, and the window after the series
was retrieved, opened and explained.

    python tools/pacs_screenshot.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from screenshots import SIZE, _compress, _pump, _shoot, under_xvfb  # noqa: E402


def run(out: Path, timeout: float) -> int:
    import pydicom
    from orthanc_server import orthanc

    from engine.io import load
    from engine.io.dicom import write_dicom_series
    from engine.pacs import PacsClient
    from engine.resources import demo_case_path

    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["CTCAM_PACS_CACHE"] = str(tmp / "cache")
        with orthanc(tmp / "orthanc") as url:
            vol = load(demo_case_path())
            files = write_dicom_series(tmp / "series", vol, patient_id="DEMO-0001",
                                       patient_name="Demo^Chest", series_description="demo chest CT")
            PacsClient(url).store([pydicom.dcmread(p) for p in files])
            from viewer.app import create_window, parse_args

            app, win = create_window(parse_args(["--pacs", url]))
            win.setGeometry(0, 0, *SIZE)
            deadline = time.perf_counter() + timeout
            _pump(app, 1.0)
            from viewer.qt.pacs_dialog import PacsDialog

            dlg = win.findChild(PacsDialog)
            dlg.name.setText("demo*")
            dlg.search_button.click()
            while dlg.series_table.rowCount() == 0 and time.perf_counter() < deadline:
                _pump(app, 0.05)
            _pump(app, 0.5)
            out.mkdir(parents=True, exist_ok=True)
            dlg.grab().save(str(out / "pacs_dialog.png"))
            _compress(out / "pacs_dialog.png")
            print("wrote", out / "pacs_dialog.png")
            dlg.open_button.click()
            while win.state.result is None and time.perf_counter() < deadline:
                _pump(app, 0.05)
            dlg.close()
            if win.state.result is None:
                print("error: no result before the timeout")
                return 1
            _shoot(app, win, out / "pacs_opened.png", settle=2.0)
            win.runner.wait_all(5000)
            win.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    rc = under_xvfb(__file__, argv)
    return run(Path(args.out), args.timeout) if rc is None else rc


if __name__ == "__main__":
    sys.exit(main())
