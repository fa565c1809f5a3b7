"""Viewer soak and stress, offscreen (figures in docs/reliability.md).

1. *Soak*: open N scans one after the other (default 50), each with the full model run in the
   model process, waiting for every result.  Prints the viewer process's RSS after each scan,
   the growth from the end of the warm-up (default: the first 5 scans) to the end (target
   < 10 %), the live Python and native thread counts and leftover child processes (target:
   no growth, none left but the warm model process).
2. *Stress*: open a new scan every ``--interval`` ms (default 100 ms), M times (default 50),
   without waiting; then wait for the dust to settle.  The app must end showing the LAST
   scan with the last scan's result, and no result may ever have been shown on another
   scan: every time ``state.result`` changes the result's ``scan_id`` is compared with the
   scan on screen, and at the end the axial pane's overlay must be the last result's map.

The scans are synthetic phantoms (``engine.phantom.generate(seed, size="model")``) written
to a temporary folder: ``--distinct`` different ones, copied under new names so every open
is a different file and a different scan id.

    python benchmarks/soak.py                       # 50 + 50, bundled model
    python benchmarks/soak.py --scans 10 --rapid 20 --model m.safetensors
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; ru_maxrss elsewhere is a peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def native_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def make_scans(folder: Path, n_total: int, n_distinct: int, size: str = "model", seed0: int = 500):
    """``n_total`` (scan path, organ map path) pairs from ``n_distinct`` phantoms, each open
    a different file."""
    from engine.phantom import generate

    distinct = []
    for d in range(max(1, min(n_distinct, n_total))):
        out = folder / f"phantom{d}"
        generate(seed0 + d, size=size).write(out)
        distinct.append(out)
    scans = []
    for n in range(n_total):
        src = distinct[n % len(distinct)]
        case, organs = folder / f"scan{n:03d}.nii.gz", folder / f"scan{n:03d}_organs.nii.gz"
        shutil.copyfile(src / "case.nii.gz", case)
        shutil.copyfile(src / "organs.nii.gz", organs)
        scans.append((str(case), str(organs)))
    return scans


def pump_until(app, cond, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.005)
    app.processEvents()
    return bool(cond())


class Watch:
    """Records every result the window shows and whether it belonged to the scan on screen."""

    def __init__(self, win) -> None:
        self.win = win
        self.shown: list[tuple[str | None, str | None]] = []  # (result.scan_id, state.scan_id)
        self.errors: list[str] = []
        win.state.events.connect("result", self._on_result)
        win.runner.failed.connect(lambda kind, msg: self.errors.append(f"{kind}: {msg}"))

    def _on_result(self, result) -> None:
        if result is not None:
            self.shown.append((result.scan_id, self.win.state.scan_id))

    def wrong(self) -> list[tuple[str | None, str | None]]:
        return [(r, s) for r, s in self.shown if r != s]


def open_and_wait(app, win, scan, timeout: float) -> bool:
    before = win.state.scan_id
    win.open_path(scan[0], organs=scan[1])
    return pump_until(app, lambda: win.state.scan_id != before and win.state.result is not None
                      and win.state.result.scan_id == win.state.scan_id and not win.runner.is_busy(), timeout)


def soak(app, win, scans, warmup: int, timeout: float, report=print) -> dict:
    """Open the scans in a row, waiting for each result; memory and thread figures."""
    import multiprocessing as mp

    watch = Watch(win)
    rows = []
    t0 = time.perf_counter()
    for n, scan in enumerate(scans):
        if not open_and_wait(app, win, scan, timeout):
            raise RuntimeError(f"scan {n} ({scan[0]}) gave no result in {timeout} s: {watch.errors[-1:]}")
        gc.collect()
        app.processEvents()
        rows.append((rss_mb(), threading.active_count(), native_threads(), len(mp.active_children())))
        report(f"  scan {n + 1:3d}: RSS {rows[-1][0]:7.1f} MiB  python threads {rows[-1][1]:2d}  "
               f"native threads {rows[-1][2]:3d}  child processes {rows[-1][3]}")
    seconds = time.perf_counter() - t0
    w = min(max(1, warmup), len(rows)) - 1
    base, end = rows[w], rows[-1]
    after = rows[w:]
    return {
        "scans": len(rows), "seconds": seconds, "warmup": w + 1,
        "rss_first": rows[0][0], "rss_warm": base[0], "rss_end": end[0], "rss_max": max(r[0] for r in after),
        "rss_growth": (end[0] - base[0]) / base[0],
        "py_threads_warm": base[1], "py_threads_end": end[1], "py_threads_max": max(r[1] for r in after),
        "native_threads_warm": base[2], "native_threads_end": end[2],
        "native_threads_max": max(r[2] for r in after),
        "children_end": end[3], "wrong_results": len(watch.wrong()), "results_shown": len(watch.shown),
        "errors": list(watch.errors),
    }


def rapid(app, win, scans, interval_ms: int, timeout: float) -> dict:
    """Open a new scan every ``interval_ms`` without waiting; check what is shown at the end."""
    import multiprocessing as mp

    import numpy as np
    from PySide6 import QtCore

    watch = Watch(win)
    opened: list[str] = []
    queue = list(scans)

    def next_open() -> None:
        if not queue:
            timer.stop()
            return
        case, organs = queue.pop(0)
        opened.append(case)
        win.open_path(case, organs=organs)

    timer = QtCore.QTimer()
    timer.setInterval(int(interval_ms))
    timer.timeout.connect(next_open)
    t0 = time.perf_counter()
    timer.start()
    pump_until(app, lambda: not queue, timeout)
    t_opened = time.perf_counter() - t0
    last = scans[-1][0]

    def settled() -> bool:
        s = win.state
        return (s.volume is not None and Path(str(s.volume.meta.get("source_path", ""))).name == Path(last).name
                and s.result is not None and s.result.scan_id == s.scan_id and not win.runner.is_busy())

    ok = pump_until(app, settled, timeout)
    t_settled = time.perf_counter() - t0
    app.processEvents()
    s = win.state
    ax = win.view_area.views["axial"]
    ax.flush()
    expect = win.overlay.slice_rgba("axial", ax.slice_index, ax.method) if s.label is not None else None
    drawn = ax.overlay_item.image if ax.overlay_item.isVisible() else None
    overlay_is_last = (expect is None and drawn is None) or (
        expect is not None and drawn is not None and np.array_equal(expect, drawn))
    return {
        "opens": len(opened), "interval_ms": interval_ms, "seconds_opening": t_opened,
        "seconds_to_settle": t_settled, "settled": ok,
        "shows_last_scan": ok and Path(str(s.volume.meta.get("source_path", ""))).name == Path(last).name,
        "result_is_last_scans": s.result is not None and s.result.scan_id == s.scan_id,
        "overlay_is_last_result": bool(overlay_is_last), "results_shown": len(watch.shown),
        "wrong_results": len(watch.wrong()), "dropped": win.runner.dropped,
        "children_end": len(mp.active_children()), "errors": list(watch.errors),
    }


def make_window(model=None, model_process: bool = True):
    from PySide6 import QtCore, QtWidgets

    from viewer.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])

    def quiet(mode, context, message) -> None:  # the offscreen platform's per-window notice
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    QtCore.qInstallMessageHandler(quiet)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, imageAxisOrder="col-major")
    settings = QtCore.QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings, run_model=True, model=model, with_3d=False, model_process=model_process)
    win.resize(1200, 800)
    win.show()
    app.processEvents()
    return app, win


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=50, help="scans opened in a row with inference")
    p.add_argument("--warmup", type=int, default=5, help="scans before the memory baseline")
    p.add_argument("--rapid", type=int, default=50, help="scans opened every --interval ms")
    p.add_argument("--interval", type=int, default=100, help="ms between rapid opens")
    p.add_argument("--distinct", type=int, default=10, help="different phantoms behind the files")
    p.add_argument("--model", help="weights (default: bundled)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    p.add_argument("--in-thread", action="store_true",
                   help="run the model in a worker thread of the viewer process (torch in the "
                        "viewer's memory) instead of the model process")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ctcam-soak-") as tmp:
        t = time.perf_counter()
        scans = make_scans(Path(tmp), max(args.scans, args.rapid), args.distinct)
        print(f"{len(scans)} scan files from {args.distinct} phantoms in {time.perf_counter() - t:.1f} s")
        app, win = make_window(args.model, model_process=not args.in_thread)
        where = "worker thread" if args.in_thread else "model process"
        print(f"soak: {args.scans} scans in a row, each with inference ({where})")
        a = soak(app, win, scans[: args.scans], args.warmup, args.timeout)
        print(f"  {a['scans']} scans in {a['seconds']:.0f} s ({a['seconds'] / a['scans']:.1f} s per scan)")
        print(f"  RSS: first {a['rss_first']:.1f} MiB, after warm-up ({a['warmup']} scans) {a['rss_warm']:.1f} MiB, "
              f"end {a['rss_end']:.1f} MiB, max {a['rss_max']:.1f} MiB; growth after warm-up "
              f"{100 * a['rss_growth']:+.1f} % (target < 10 %)")
        print(f"  threads after warm-up / end / max: python {a['py_threads_warm']} / {a['py_threads_end']} / "
              f"{a['py_threads_max']}, native {a['native_threads_warm']} / {a['native_threads_end']} / "
              f"{a['native_threads_max']}; child processes left: {a['children_end']}")
        print(f"  results shown {a['results_shown']}, on the wrong scan {a['wrong_results']}, errors {len(a['errors'])}")
        print(f"stress: {args.rapid} opens every {args.interval} ms")
        b = rapid(app, win, scans[-args.rapid:], args.interval, args.timeout)
        print(f"  opened {b['opens']} in {b['seconds_opening']:.1f} s; settled after {b['seconds_to_settle']:.1f} s: "
              f"{b['settled']}")
        print(f"  shows the last scan: {b['shows_last_scan']}; its result: {b['result_is_last_scans']}; "
              f"overlay from that result: {b['overlay_is_last_result']}")
        print(f"  results shown {b['results_shown']}, on the wrong scan {b['wrong_results']}, stale results "
              f"dropped {b['dropped']}, child processes left {b['children_end']}, errors {len(b['errors'])}")
        for e in (a["errors"] + b["errors"])[:5]:
            print("  error:", e)
        win.runner.wait_all(10000)
        win.close()
        worker = getattr(win, "model_worker", None)
        warm = 1 if worker is not None else 0  # the warm model process stays for the next scan
        if worker is not None:
            print(f"  warm model process: started {worker.starts} time(s) in the session")
        ok = (a["rss_growth"] < 0.10 and a["wrong_results"] == 0 and a["children_end"] <= warm
              and a["py_threads_end"] <= a["py_threads_warm"] + 1 and b["shows_last_scan"]
              and b["result_is_last_scans"] and b["overlay_is_last_result"] and b["wrong_results"] == 0)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
