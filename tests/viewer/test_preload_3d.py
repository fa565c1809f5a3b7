"""The 3D modules are imported by one thread per process; whoever asks is told when they are
in, once (viewer/qt/preload_3d.py, issue 17)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from viewer.qt import preload_3d


def test_one_import_thread_and_each_caller_told_once():
    calls = []
    done = threading.Event()
    preload_3d.start_import_3d(then=lambda: calls.append("a"))
    first = preload_3d._thread
    preload_3d.start_import_3d(then=lambda: (calls.append("b"), done.set()))
    assert preload_3d._thread is first  # not a second thread
    assert done.wait(60)
    first.join(60)
    assert sorted(calls) == ["a", "b"]
    assert all(name in sys.modules for name in preload_3d.QT_FREE_3D_MODULES)
    preload_3d.start_import_3d(then=lambda: calls.append("c"))  # already done: at once
    assert calls[-1] == "c" and preload_3d._thread is first


def test_the_import_thread_never_imports_qt():
    """PySide6 sets its types up lazily and not safely from two threads: with the Qt-side 3D
    modules in the import thread one start-up in a few failed while the window built its
    pyqtgraph views ("QGraphicsObject isn't a direct base class of ChildGroup") or crashed.
    In a fresh interpreter, an import hook records every Qt module the thread imports."""
    code = textwrap.dedent("""
        import sys, threading
        bad = []

        class Watch:
            def find_spec(self, name, path=None, target=None):
                root = name.split(".")[0]
                if root in ("PySide6", "shiboken6", "pyqtgraph", "superqt") and \\
                        threading.current_thread() is not threading.main_thread():
                    bad.append(name)
                return None

        sys.meta_path.insert(0, Watch())
        from viewer.qt import preload_3d
        preload_3d.start_import_3d()
        assert preload_3d.wait_for_import_3d(120)
        missing = [m for m in preload_3d.QT_FREE_3D_MODULES if m not in sys.modules]
        print("BAD", sorted(set(bad)), "MISSING", missing)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "BAD [] MISSING []" in out.stdout, out.stdout + out.stderr
