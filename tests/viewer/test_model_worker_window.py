"""The window's warm model process: killed in the middle of a scan's job, the window says
so, and the next scan is explained by a new process."""

from __future__ import annotations

import os
import signal

from PySide6 import QtCore, QtWidgets
from viewer_helpers import write_case

from engine.phantom import generate


def test_killed_model_process_is_reported_and_the_next_scan_works(qtbot, tmp_path, monkeypatch):
    from viewer.qt.main_window import MainWindow

    monkeypatch.setattr(QtWidgets.QMessageBox, "show", lambda self: None)  # keep the error box off-screen
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings, run_model=True, device="cpu", with_3d=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model_worker.alive(), timeout=10000)  # started after the first paint
    path = write_case(tmp_path, generate(5, "small", prevalence=0.0).volume)
    killed = []

    def kill_on_first_progress(kind, *args):
        if kind == "explain" and not killed:
            killed.append(win.model_worker.pid)
            os.kill(win.model_worker.pid, signal.SIGKILL)

    win.runner.progress.connect(kill_on_first_progress)
    win.open_path(str(path))
    qtbot.waitUntil(lambda: "model process stopped unexpectedly" in win.last_message, timeout=60000)
    assert win.state.result is None
    win.runner.progress.disconnect(kill_on_first_progress)

    win.open_path(str(path))  # the next scan: a new process explains it
    qtbot.waitUntil(lambda: win.state.result is not None, timeout=90000)
    assert win.model_worker.pid != killed[0] and win.model_worker.starts == 2
    win.runner.wait_all(5000)
    win.close()
    assert not win.model_worker.alive()
