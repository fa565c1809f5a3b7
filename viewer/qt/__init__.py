"""The viewer's Qt layer: widgets and windows that only wire the model to the screen.

Each widget observes :class:`viewer.model.state.ViewerState` and writes user input back
into it; none of them computes anything the model or the engine could (the numbers come
from ``viewer.model``, the 3D drawing from ``viewer.render3d``):

* ``main_window``     :class:`MainWindow`: docks, status bar, opening scans, running the
  model; its menus (``window_menus``) and exports (``window_exports``) are its base classes
* ``view_area``       the slice-view grid (quad, single, side-by-side comparison)
* ``slice_view``      one axial / coronal / sagittal slice view (pyqtgraph)
* ``findings_panel``  the findings table
* ``controls``        overlay controls (method, opacity, threshold, colormap, colour bar)
* ``view3d_panel``    the 3D view's toolbar; ``view3d_link`` keeps the 3D view in step
  with the state
* ``export_dialog``, ``model_dialog``  dialogs
* ``workers``         :class:`JobRunner`: runs ``viewer.model.jobs`` off the GUI thread

See docs/architecture.md for the layers and where a new panel goes.
"""
