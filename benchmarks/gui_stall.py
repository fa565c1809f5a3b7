"""Longest GUI event-loop stall while the viewer loads a scan and runs the full pipeline.

A QTimer ticks every 10 ms on the GUI thread; the largest gap between ticks (minus the 10 ms
period) is the longest time the interface could not respond.  Target: < 100 ms.  Also
prints the time to a shown window (target < 2 s) and the wall time of load and inference.

    python benchmarks/gui_stall.py                      # demo case + bundled model
    python benchmarks/gui_stall.py --case scan.nii.gz --organs organs.nii.gz --model m.safetensors
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

T0 = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help="scan (default: the demo case)")
    p.add_argument("--organs", help="organ map of the scan (default: the demo's)")
    p.add_argument("--model", help="weights (default: bundled)")
    p.add_argument("--device", default=None)
    p.add_argument("--with-3d", action="store_true", help="include the VTK 3D view (needs a display)")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--verbose", action="store_true", help="list progress and stalls over 60 ms in time")
    p.add_argument("--events", type=float, metavar="MS",
                   help="also list every event the GUI thread took longer than MS to handle "
                        "(receiver, event type, nesting): where a stall's time goes")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6 import QtCore

    slow_events = _timed_application(args.events / 1000) if args.events else []
    collections = _timed_collections()

    from engine.resources import demo_case_path, demo_organs_path
    from viewer.app import create_window, parse_args

    app_args = parse_args(["--no-3d"] if not args.with_3d else [])
    app_args.model, app_args.device = args.model, args.device
    app_args.path = args.case or str(demo_case_path())
    organs = args.organs or (str(demo_organs_path()) if not args.case else None)
    app_args.organs = organs
    app, win = create_window(app_args)
    app.processEvents()
    t_shown = time.perf_counter() - T0

    gaps: list[float] = []
    last = [time.perf_counter()]

    events: list[tuple[float, str]] = []  # (time, what): progress and long gaps, for --verbose

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        if args.verbose and now - last[0] > 0.06:
            events.append((now, f"stall {(now - last[0]) * 1000:.0f} ms ending here"))
        last[0] = now

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(10)
    marks: dict[str, float] = {}
    t_start = time.perf_counter()
    win.state.events.connect("volume", lambda v: marks.setdefault("scan shown", time.perf_counter() - t_start))
    win.state.events.connect("result", lambda r: marks.setdefault("result shown", time.perf_counter() - t_start))
    if args.verbose:
        win.runner.progress.connect(lambda k, f, m: events.append((time.perf_counter(), f"{k} {f:.2f} {m}")))
        for name in ("volume", "result", "label"):
            win.state.events.connect(name, lambda v, n=name: events.append((time.perf_counter(), f"state.{n} set")))
    errors: list[str] = []
    win.runner.failed.connect(lambda kind, msg: errors.append(msg))
    deadline = time.perf_counter() + args.timeout
    while "result shown" not in marks and not errors and time.perf_counter() < deadline:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
    settle = time.perf_counter() + 1.0  # the first redraws after the result count too
    while time.perf_counter() < settle:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
    timer.stop()
    # idle baseline: the same timer with nothing to do (scheduling noise of this machine)
    idle: list[float] = []
    last[0] = time.perf_counter()
    timer.timeout.disconnect(tick)
    timer.timeout.connect(lambda: (idle.append(time.perf_counter() - last[0]), last.__setitem__(0, time.perf_counter())))
    timer.start(10)
    settle = time.perf_counter() + 2.0
    while time.perf_counter() < settle:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
    timer.stop()
    # scrolling with the overlay on (a separate figure: stepping blocks the loop on purpose)
    ax = win.view_area.views["axial"]
    t_scroll = time.perf_counter()
    for _ in range(20):
        ax.step(1)
        app.processEvents()
    scroll_ms = (time.perf_counter() - t_scroll) / 20 * 1000
    win.runner.wait_all(5000)
    win.close()
    if errors:
        print("error:", errors[0])
        return 1
    if "result shown" not in marks:
        print("error: no result within the timeout")
        return 1
    events += [(t, f"event {dt * 1000:.0f} ms{'  ' * depth} {what}") for t, dt, depth, what in slow_events]
    for t, what in sorted(events):
        print(f"  {(t - t_start) * 1000:8.0f} ms  {what}")
    stalls = sorted((g - 0.010) * 1000 for g in gaps)
    worst = stalls[-1] if stalls else float("nan")
    print(f"window shown after          {t_shown * 1000:8.0f} ms  (target < 2000 ms)")
    print(f"scan shown after            {marks['scan shown'] * 1000:8.0f} ms from open")
    print(f"result shown after          {marks['result shown'] * 1000:8.0f} ms from open")
    print(f"device                      {win.device_label.text()}")
    print(f"timer ticks                 {len(gaps):8d}")
    print(f"longest event-loop stall    {worst:8.1f} ms  (target < 100 ms; ratio to target {worst / 100:.2f})")
    print(f"99th percentile stall       {stalls[int(0.99 * (len(stalls) - 1))]:8.1f} ms")
    idle_worst = (max(idle) - 0.010) * 1000 if idle else float("nan")
    print(f"idle baseline, longest gap  {idle_worst:8.1f} ms  (same timer, no work: machine noise)")
    print(f"axial step with overlay     {scroll_ms:8.1f} ms per slice")
    shown = [(gen, ms) for t, gen, ms in collections if t >= t_start]
    full = [ms for gen, ms in shown if gen == 2]
    print(f"garbage collections, shown  {len(shown):8d}  (longest {max((ms for _, ms in shown), default=0):.1f} ms; "
          f"{len(full)} full, longest {max(full, default=0):.1f} ms; {len(gc.get_objects())} objects "
          f"tracked, {gc.get_freeze_count()} frozen)")
    return 0


def _timed_collections() -> list[tuple[float, int, float]]:
    """(start time, generation, ms) of every garbage collection from now on: a full
    collection walks every tracked object and holds the GUI thread meanwhile."""
    out: list[tuple[float, int, float]] = []
    start: list[float] = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            start[0] = time.perf_counter()
        else:
            out.append((start[0], info["generation"], (time.perf_counter() - start[0]) * 1000))

    gc.callbacks.append(callback)
    return out


def _timed_application(threshold_s: float) -> list[tuple[float, float, int, str]]:
    """Make the QApplication one whose ``notify`` times every event it delivers; returns the
    list it fills with (end time, seconds, nesting depth, "receiver event-type") for events
    over ``threshold_s``."""
    from PySide6 import QtWidgets

    slow: list[tuple[float, float, int, str]] = []

    class TimedApplication(QtWidgets.QApplication):
        depth = 0

        def notify(self, receiver, event):  # noqa: N802 (Qt's name)
            t = time.perf_counter()
            TimedApplication.depth += 1
            try:
                return super().notify(receiver, event)
            finally:
                TimedApplication.depth -= 1
                dt = time.perf_counter() - t
                if dt > threshold_s:
                    kind = getattr(event.type(), "name", str(event.type()))
                    slow.append((t + dt, dt, TimedApplication.depth,
                                 f"{type(receiver).__name__}:{receiver.objectName()} {kind}"))

    TimedApplication(sys.argv[:1])  # create_window reuses QApplication.instance()
    return slow


if __name__ == "__main__":
    sys.exit(main())
