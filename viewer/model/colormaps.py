"""Colour tables of the colormaps the viewer offers, without pyqtgraph.

The tables are pyqtgraph's (``pg.colormap.get(name).getLookupTable(0, 1, 256)``), stored in
``colormaps.json`` beside this module so the Qt-free model can colour heat maps without
importing a GUI library.  ``tests/viewer/test_colormaps.py`` checks them against pyqtgraph
and rewrites the file with ``CTCAM_WRITE_COLORMAPS=1``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TABLES_PATH = Path(__file__).with_name("colormaps.json")
DIVERGING_CMAP = "CET-D1A"

_LUTS: dict[str, np.ndarray] = {}


def _load() -> dict[str, str]:
    return json.loads(TABLES_PATH.read_text(encoding="utf-8"))["tables"]


def names() -> list[str]:
    """Every colormap with a table (the sequential ones and the diverging one)."""
    return list(_load())


def lookup_table(name: str) -> np.ndarray:
    """(256, 3) uint8 colour table of a colormap."""
    if name not in _LUTS:
        tables = _load()
        if name not in tables:
            raise KeyError(f"no colour table for colormap {name!r}; known: {', '.join(tables)}")
        raw = bytes.fromhex(tables[name])
        lut = np.frombuffer(raw, dtype=np.uint8).reshape(256, 3).copy()
        _LUTS[name] = lut
    return _LUTS[name]
