"""The model's colour tables equal pyqtgraph's, so moving them out of pyqtgraph changed no pixel."""

from __future__ import annotations

import json
import os

import numpy as np
import pyqtgraph as pg

from viewer.model import colormaps
from viewer.model.state import COLORMAPS


def _pyqtgraph_lut(name: str) -> np.ndarray:
    lut = pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)
    return np.asarray(lut, dtype=np.uint8)[:, :3]


def test_every_offered_colormap_has_a_table():
    assert set(COLORMAPS) | {colormaps.DIVERGING_CMAP} <= set(colormaps.names())


def test_tables_equal_pyqtgraphs():
    if os.environ.get("CTCAM_WRITE_COLORMAPS"):
        data = json.loads(colormaps.TABLES_PATH.read_text(encoding="utf-8"))
        data["tables"] = {n: _pyqtgraph_lut(n).tobytes().hex() for n in data["tables"]}
        colormaps.TABLES_PATH.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        colormaps._LUTS.clear()
    for name in colormaps.names():
        lut = colormaps.lookup_table(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
        np.testing.assert_array_equal(lut, _pyqtgraph_lut(name), err_msg=name)
