"""Offscreen Qt fixtures for the viewer tests: a small asymmetric chest-like volume, a fake
explanation result whose maps sit on a left-lung lesion, and a main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from viewer_case import make_volume  # noqa: E402

from engine.volume import CTVolume  # noqa: E402


@pytest.fixture
def volume() -> CTVolume:
    return make_volume()


@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6 import QtCore

    from viewer.qt.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings, run_model=False, with_3d=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.runner.wait_all(5000)
    win.close()
