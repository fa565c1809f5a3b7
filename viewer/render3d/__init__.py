"""The 3D view (VTK): CT volume rendering with heat maps, organ surfaces, cursor and clipping.

Modules, from the Qt widget down to plain arrays:

* ``widget``    :class:`Render3DView`, the Qt widget the main window embeds (PySide6 + VTK)
* ``canvas``    the image canvas of the widget's "image" backend (PySide6)
* ``export``    3D PNG / turntable GIF exports rendered in a separate process
* ``render_thread`` :class:`RenderThread`, a scene owned by one worker thread ("thread" backend)
* ``call_log``  the coalesced record of scene calls (deferred while hidden; export replay)
* ``offscreen`` :class:`OffscreenRenderer`, a scene in its own offscreen (EGL) window
* ``scene``     :class:`Scene3D`, everything drawn (CT, cursor, clip plane, camera), with
  ``layers`` (organ surfaces, heat-map panes) as its base class
* ``pane``      one viewport's renderer and props; the orientation cube
* ``frames``    capture, PNG screenshot and turntable GIF of a scene
* ``surfaces``  pure array -> ``vtkPolyData`` builders (iso-surfaces, organs, cursor)
* ``camera``    named view directions and anatomical direction letters
* ``data``      exact block downsampling and numpy -> VTK conversion
* ``style``     CT transfer-function presets and colour tables (numpy only)

Everything below ``widget`` and ``canvas`` is Qt-free (an import-linter contract in
``pyproject.toml`` checks it) and is tested headless (``tests/render``).
Importing this package imports nothing: import the module you need.

Public API (stable; the main window embeds this)
------------------------------------------------
``Render3DView(parent=None, *, max_dim=160, cursor_render_delay_ms=150, backend=None,
frame_budget_s=0.2)`` -- a ``QWidget``.  Frames that overrun ``frame_budget_s`` (software
OpenGL) are ray cast at coarser pixel spacing so the GUI never stalls for seconds; exports
are always full quality.  ``backend``: "thread" (the default on Linux: the scene lives in
``render_thread``'s worker thread, which owns the OpenGL context; frames come back as images,
so the GUI thread never waits for OpenGL -- on software OpenGL a frame takes 0.1-1.5 s),
"native" (VTK draws into the Qt window: the default on Windows and macOS) or "image"
(offscreen frames drawn on the GUI thread and painted as images); the image backends rotate,
zoom and pan with the mouse.  Default from ``choose_backend()`` (env ``CTCAM_3D_BACKEND``
overrides).  ``camera`` is the camera the view is drawn with; move it and call ``render()``.

Data (all geometry in patient RAS+ mm; arrays in canonical (i, j, k) order):

* ``set_volume(vol: CTVolume)`` -- the scan, block-averaged to <= ``max_dim`` voxels per axis;
  fits the camera (keeps the current view direction).  ``clear_volume()``.
* ``set_preset(name)`` -- CT transfer function, one of ``PRESETS`` (``"soft tissue chest"``,
  ``"lung"``, ``"bone"``, ``"MIP"``).
* ``set_organs(labelmap, names: dict[int, str], colors: dict[int, (r, g, b)], affine=None)`` --
  uint8 organ map on the scan grid (``affine`` defaults to the scan's); colours as floats in
  [0, 1] or ints in [0, 255].  ``set_organ_visible(code, visible)``,
  ``set_organ_opacity(alpha)``, ``clear_organs()``.
* ``set_map(values, map_affine, *, vmin=None, vmax=None, colormap=None, signed=False,
  levels=(0.5, 0.75), title="")`` -- one raw map (mi, mj, mk) with its own voxel -> RAS
  affine, drawn as nested iso-surfaces at ``levels`` of the display range, coloured like the
  2D overlay (default ``"inferno"``; ``"RdBu_r"`` when ``signed``; any name in
  ``COLORMAPS`` or an (N, 3|4) lookup table).  Switches to a single pane.  ``clear_map()``.
* ``set_maps_side_by_side(left, right)`` -- two panes with ONE shared camera; each side is a
  ``MapLayer``, a dict of ``set_map``'s keywords plus ``values``/``affine``, ``(values,
  affine)`` or ``(values, affine, {keywords})``.  ``set_single()`` goes back (keeps left).
* ``set_cursor(ras_xyz | None)`` -- small 3-axis cursor at the crosshair.
* ``set_clip(axis | None, fraction=0.5, keep="below")`` -- cut the CT and organs with a plane
  normal to ``"x"|"y"|"z"`` (or ``"sagittal"|"coronal"|"axial"``); maps stay whole.
* ``reset_camera(view="anterior")`` -- ``VIEWS``: anterior (radiological: camera in front of
  the patient, head up, patient's left on the screen's right), posterior, left, right,
  superior, inferior.

Drawing and export:

* ``render()`` -- request a frame.  The view renders only on demand, at most once per
  event-loop turn; cursor moves are debounced by ``cursor_render_delay_ms`` so slice
  scrolling never waits for 3D frames.  While the widget is hidden every call is queued
  (later calls replace earlier ones of the same kind) and nothing is computed or drawn; the
  queue is applied and one frame drawn when it is shown.
* ``screenshot(path) -> Path`` (PNG) and ``turntable(path, n_frames=36, fps=12) -> Path``
  (animated GIF, 360 degrees about the view-up axis).  When hidden, both replay the state
  into an offscreen renderer of the widget's size.
* ``shutdown()`` -- release the OpenGL context (also done on ``closeEvent``).
* ``scene`` -- the underlying Qt-free :class:`Scene3D` (advanced use only; None with the
  "thread" backend, whose scene belongs to its thread).
* Signals ``rendered(float)`` -- seconds the last frame took; ``failed(str)`` -- a call
  deferred while hidden failed when applied (immediate calls raise ``Render3DError``).

Headless: ``OffscreenRenderer(size=(w, h), max_dim=160)`` has the same data/camera methods
plus ``render()``, ``capture() -> (H, W, 3) uint8``, ``screenshot``, ``turntable``, ``close``;
it renders through EGL when there is no X display.
"""
