"""The viewer's Qt-free model: what is shown and the display data derived from it.

Nothing here imports PySide6, pyqtgraph or VTK (an import-linter contract in
``pyproject.toml`` checks it), so every module runs and is tested without a display:

* ``state``            :class:`ViewerState`, the one evented record of what is shown
* ``overlay``          heat-map and organ-outline pixels for the slice views
* ``geometry``         which array axes a slice view shows and how they map to the screen
* ``findings``         the findings table (probability, peak, in-organ share per method)
* ``sampling_adapter`` the viewer's one door to the engine's map sampling
* ``colormaps``        colour tables of the colormaps the views offer
* ``jobs``             the plain functions the Qt workers run off the GUI thread

See docs/architecture.md for where this package sits among the others.
"""
