"""Background jobs: stale results dropped, cancel, errors shown as human messages."""

import threading
import time

from PySide6 import QtWidgets
from viewer_case import make_result
from viewer_helpers import open_and_wait, show_result, write_case

from engine.errors import CTCamError
from engine.results import Progress


def _slow(value, seconds, gate: threading.Event | None = None):
    def gen():
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            yield Progress("test", (time.monotonic() - t0) / seconds, "working")
            time.sleep(0.01)
            if gate is not None and gate.is_set():
                break
        return value

    return gen


def _gated(value, started: threading.Event, release: threading.Event):
    def gen():  # one long step with no yield, like a forward pass: cannot stop early
        started.set()
        release.wait(10)
        return value
        yield  # noqa: B901 - makes this a generator

    return gen


def test_superseded_request_is_dropped(qtbot, window):
    runner, got = window.runner, []
    started, release = threading.Event(), threading.Event()
    runner.submit("explain", _gated("old", started, release), got.append, scan_id=None)
    assert started.wait(5)  # the old job is running (event, not a sleep)
    go = threading.Event()
    go.set()
    runner.submit("explain", _gated("new", threading.Event(), go), got.append, scan_id=None)
    release.set()  # the old job finishes after the new one was asked for
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=5000)
    assert got == ["new"]
    assert runner.dropped == 1


def test_result_for_another_scan_is_dropped(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    first_scan = window.state.scan_id
    result = make_result(volume)
    gate = threading.Event()

    def explain():
        while not gate.is_set():
            yield Progress("predict", 0.5)
            time.sleep(0.01)
        return result, []

    window.runner.submit("explain", explain, window._on_result, scan_id=first_scan)
    open_and_wait(qtbot, window, write_case(tmp_path, volume, "other.nii.gz"))  # the user opens another scan
    assert window.state.scan_id != first_scan
    gate.set()
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=5000)
    assert window.state.result is None  # the map of scan 1 is never drawn on scan 2
    assert window.runner.dropped >= 1
    assert window.view_area.views["axial"].overlay_item.image is None


def test_cancel_during_a_run(qtbot, window):
    got, cancelled = [], []
    window.runner.cancelled.connect(cancelled.append)
    stop = threading.Event()  # set only at the end: the job never finishes by itself
    job = window.runner.submit("explain", _slow("done", 600.0, stop), got.append, scan_id=None)
    qtbot.waitUntil(lambda: window.progress.isVisible() and window.progress.value() > 0, timeout=3000)
    assert window.cancel_button.isVisible()
    window.cancel_button.click()
    try:
        qtbot.waitUntil(lambda: job.done, timeout=5000)  # only cancelling can end it
    finally:
        stop.set()
    assert got == [] and cancelled == ["explain"]
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=1000)
    assert window.findChild(QtWidgets.QMessageBox) is None  # cancelling is not an error


def _failing(exc):
    def gen():
        yield Progress("load", 0.1)
        raise exc

    return gen


def test_engine_error_becomes_dialog_with_its_message(qtbot, window):
    messages = []
    window.runner.failed.connect(lambda kind, msg: messages.append(msg))
    window.runner.submit("load", _failing(CTCamError("scan.nii: truncated file. Re-export it.")),
                         lambda v: None, scan_id=None)
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert messages == ["scan.nii: truncated file. Re-export it."]
    box = window.findChild(QtWidgets.QMessageBox, "error_box")
    assert box is not None and box.text() == messages[0] and "Traceback" not in box.text()
    box.close()


def test_bug_in_a_job_is_reported_without_traceback(qtbot, window):
    messages = []
    window.runner.failed.connect(lambda kind, msg: messages.append(msg))
    # superqt would silently swallow a RuntimeError; the runner must still report it
    window.runner.submit("explain", _failing(RuntimeError("CUDA out of memory")), lambda v: None, scan_id=None)
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert "internal error" in messages[0] and "CUDA out of memory" in messages[0]
    assert "Traceback" not in messages[0]


def test_bad_file_shows_dialog_and_app_stays_usable(qtbot, window, volume, tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not a NIfTI file at all" * 10)
    window.open_path(str(bad))
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "error_box") is not None, timeout=5000)
    box = window.findChild(QtWidgets.QMessageBox, "error_box")
    assert "broken.nii.gz" in box.text() and "Traceback" not in box.text()
    box.close()
    assert window.state.volume is None
    open_and_wait(qtbot, window, write_case(tmp_path, volume))  # still works afterwards
    show_result(window, make_result(volume))
    assert window.state.result is not None


def test_model_process_reports_engine_errors(qtbot, window, volume, tmp_path):
    """The pipeline runs in its own process; its human error message still reaches the dialog."""
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    messages = []
    window.runner.failed.connect(lambda kind, msg: messages.append(msg))
    window.model = str(tmp_path / "missing.safetensors")
    window.run_explain()
    qtbot.waitUntil(lambda: bool(messages), timeout=60000)
    assert "missing.json" in messages[0] and "Traceback" not in messages[0]
    assert window.state.result is None and window.state.volume is not None


def test_the_window_itself_drops_a_result_for_a_scan_it_no_longer_shows(qtbot, window, volume, tmp_path):
    """The main window's own check, past the runner: a result delivered with scan A's id
    while scan B is open is never drawn (the runner's check is tested above)."""
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    first_scan = window.state.scan_id
    open_and_wait(qtbot, window, write_case(tmp_path, volume, "other.nii.gz"))
    window._on_result((make_result(volume), []), scan_id=first_scan, request_id=1)
    assert window.state.result is None
    assert window.view_area.views["axial"].overlay_item.image is None
    window._on_result((make_result(volume), []), scan_id=window.state.scan_id, request_id=2)
    assert window.state.result is not None  # the same path draws the current scan's result
