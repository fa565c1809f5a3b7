"""3D exports (PNG screenshot, turntable GIF) rendered in a separate process.

A full-quality frame takes one to two seconds with software OpenGL, so a 36-frame turntable
drawn on the GUI thread froze the window for about a minute.  Here the scene is *replayed*
in a child process from the 3D view's call log (the same coalesced list of ``Scene3D``
calls the view uses when it exports while hidden) into an :class:`OffscreenRenderer` of
the view's size with the view's camera, so the export shows what the user sees.  The GUI
thread only runs a generator (in a worker) that relays the child's progress; Cancel
terminates the child at once, and the output file appears only when complete (written to a
temporary name, then renamed), so a cancelled export leaves nothing behind.

``export_spec(view)`` snapshots what to draw on the GUI thread; ``export_job(spec, kind,
path, ...)`` is the generator the viewer's :class:`~viewer.qt.workers.JobRunner` runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import Cancelled, CTCamError
from engine.results import Progress
from viewer.render3d.camera import apply_camera_state, camera_state


@dataclass
class ExportSpec:
    """Everything the child needs to redraw the 3D view (plain picklable data)."""

    calls: list  # [(Scene3D method name, args, kwargs)], coalesced, in order
    camera: dict  # position, focal_point, view_up, view_angle
    size: tuple[int, int]
    max_dim: int


def export_spec(view) -> ExportSpec:
    """Snapshot a :class:`viewer.render3d.widget.Render3DView` (call on the GUI thread)."""
    return ExportSpec(
        calls=list(view._history.calls), camera=camera_state(view.camera),
        size=(max(64, view.width()), max(64, view.height())), max_dim=view._max_dim)


def mp4_available() -> bool:
    """Whether MP4 turntables can be written (the optional package imageio-ffmpeg, which
    ships its own ffmpeg: ``pip install 'ctcam[video]'``)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _check_path(path: Path, kind: str) -> None:
    suffix = path.suffix.lower()
    if kind == "turntable" and suffix not in (".gif", ".mp4"):
        raise CTCamError(f"The turntable is written as an animated GIF or an MP4 video: {path} "
                         "should end in .gif or .mp4.")
    if kind == "turntable" and suffix == ".mp4" and not mp4_available():
        raise CTCamError(f"Cannot write {path}: MP4 needs the optional package imageio-ffmpeg "
                         "(pip install 'ctcam[video]'); save the turntable as .gif instead.")
    if not path.parent.is_dir():
        raise CTCamError(f"Cannot write {path}: the folder {path.parent} does not exist. Choose another folder.")


def render_export(spec: ExportSpec, kind: str, path, n_frames: int = 36, fps: float = 12.0,
                  report=None) -> Path:
    """Replay ``spec`` offscreen and write the PNG (``kind="screenshot"``) or turntable GIF.

    ``report(done, total)`` is called after each frame.  Runs in the export process (or
    directly, in tests)."""
    from PIL import Image

    from viewer.render3d.offscreen import OffscreenRenderer

    path = Path(path)
    _check_path(path, kind)
    r = OffscreenRenderer(tuple(spec.size), max_dim=spec.max_dim)
    try:
        for name, args, kwargs in spec.calls:
            getattr(r, name)(*args, **kwargs)
        apply_camera_state(r.camera, spec.camera)
        total = 1 if kind == "screenshot" else max(2, int(n_frames))
        frames = []
        for n in range(total):
            frames.append(Image.fromarray(r.capture()))
            if report is not None:
                report(n + 1, total)
            r.camera.Azimuth(360.0 / total)
            r.camera.OrthogonalizeViewUp()
    finally:
        r.close()
    tmp = path.with_name(f".{path.name}.part")
    try:
        if kind == "screenshot":
            frames[0].save(tmp, format="PNG")
        elif path.suffix.lower() == ".mp4":
            _write_mp4(frames, tmp, fps)
        else:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(round(1000.0 / fps)), loop=0)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CTCamError(f"Could not write {path}: {exc}. Choose a writable folder.") from exc
    return path


def _write_mp4(frames, path: Path, fps: float) -> None:
    """H.264 (yuv420p, the format every player and PowerPoint reads); odd sizes are padded by
    one black pixel row/column (the encoder needs even dimensions)."""
    import imageio_ffmpeg
    import numpy as np

    w, h = frames[0].size
    ew, eh = w + w % 2, h + h % 2
    writer = imageio_ffmpeg.write_frames(str(path), (ew, eh), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", macro_block_size=1,
                                         output_params=["-f", "mp4"])
    writer.send(None)
    try:
        for im in frames:
            a = np.zeros((eh, ew, 3), np.uint8)
            a[:h, :w] = np.asarray(im.convert("RGB"))
            writer.send(np.ascontiguousarray(a))
    finally:
        writer.close()


def _child(spec, kind, path, n_frames, fps, q) -> None:
    try:
        out = render_export(spec, kind, path, n_frames, fps,
                            report=lambda done, total: q.put(("progress", (done, total))))
        q.put(("result", str(out)))
    except CTCamError as exc:
        q.put(("error", str(exc)))
    except BaseException as exc:  # a bug: report its type; the viewer logs it
        import traceback

        q.put(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def export_job(spec: ExportSpec, kind: str, path, n_frames: int = 36, fps: float = 12.0, cancel=None):
    """Generator for the JobRunner: runs :func:`render_export` in a child process, yields
    ``Progress``, returns ``[path]``; ``cancel()`` true terminates the child."""
    import multiprocessing as mp
    import queue

    path = Path(path)
    _check_path(path, kind)
    what = "3D screenshot" if kind == "screenshot" else "turntable"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(spec, kind, str(path), n_frames, fps, q), daemon=True)
    yield Progress("export", 0.0, f"{what}: starting the renderer")
    proc.start()
    try:
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            try:
                tag, payload = q.get(timeout=0.05)
            except queue.Empty:
                if not proc.is_alive():
                    raise CTCamError(f"The 3D export process stopped unexpectedly (exit code {proc.exitcode}) "
                                     f"while writing {path}; try a smaller 3D view.") from None
                continue
            if tag == "progress":
                done, total = payload
                yield Progress("export", 0.05 + 0.9 * done / total, f"{what}: frame {done}/{total}")
            elif tag == "result":
                yield Progress("export", 1.0, f"{what}: written")
                return [payload]
            elif tag == "error":
                raise CTCamError(payload)
            else:
                raise RuntimeError(f"3D export process failed: {payload}")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=2)
        q.close()
        tmp = path.with_name(f".{path.name}.part")
        tmp.unlink(missing_ok=True)
