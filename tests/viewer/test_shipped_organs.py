"""The viewer uses the organ map that ships with a scan (the demo's, a phantom folder's)
instead of segmenting; a scan without one, or an explicit map, is left as given."""

from __future__ import annotations

import json

from viewer_helpers import open_and_wait, write_case


def test_phantom_folder_uses_its_organ_map_and_others_segment(qtbot, window, volume, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    scan = write_case(folder, volume)
    (folder / "labels.json").write_text(json.dumps({}))
    write_case(folder, volume, name="organs.nii.gz")  # any NIfTI will do: only its path is checked
    open_and_wait(qtbot, window, scan)
    assert window.state.organs == str(folder / "organs.nii.gz")

    plain = write_case(tmp_path, volume, name="plain.nii.gz")  # no labels.json beside: segment
    open_and_wait(qtbot, window, plain)
    assert window.state.organs is None

    window.open_path(str(scan), organs="mine.nii.gz")  # an explicit map wins
    assert window.state.organs == "mine.nii.gz"
    qtbot.waitUntil(lambda: not window.runner.is_busy("load"), timeout=10000)


def test_demo_opens_with_its_shipped_organ_map(qtbot, window):
    from engine.resources import demo_case_path, demo_organs_path

    window.open_demo()
    assert window.state.organs == (str(demo_organs_path()) if demo_organs_path().exists() else None)
    window.open_path(str(demo_case_path()))  # e.g. from the command line or a drop: same
    assert window.state.organs == (str(demo_organs_path()) if demo_organs_path().exists() else None)
    qtbot.waitUntil(lambda: not window.runner.is_busy("load"), timeout=20000)
