"""Fallback display for the 3D view when VTK cannot draw into a native Qt window.

With Qt platforms that have no native windowing VTK can use ("offscreen", "minimal",
"wayland", ...), the scene renders into an offscreen VTK window and each frame is shown here
as an image.  Mouse: left-drag rotates the shared camera (azimuth/elevation about the focal
point), right-drag or wheel zooms, middle-drag pans.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ImageCanvas(QWidget):
    """Paints the last rendered RGB frame; turns mouse drags into camera moves."""

    camera_changed = Signal()
    resized = Signal(int, int)

    def __init__(self, camera, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._camera = camera
        self._image: QImage | None = None
        self._message = ""
        self._last: QPointF | None = None
        self._button = Qt.MouseButton.NoButton
        self.setSizePolicy(QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding))
        self.setMinimumSize(64, 64)

    def set_frame(self, rgb: np.ndarray) -> None:
        rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
        h, w, _ = rgb.shape
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def set_message(self, text: str) -> None:
        """Text shown instead of a frame (e.g. why the 3D view cannot draw)."""
        self._message = str(text)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._message:
            painter.setPen(Qt.GlobalColor.white)
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._message)
        elif self._image is not None:
            painter.drawImage(self.rect(), self._image)
        painter.end()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.resized.emit(max(64, self.width()), max(64, self.height()))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._last = event.position()
        self._button = event.button()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._last = None
        self._button = Qt.MouseButton.NoButton

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._last is None:
            return
        pos = event.position()
        dx, dy = pos.x() - self._last.x(), pos.y() - self._last.y()
        self._last = pos
        cam = self._camera
        if self._button == Qt.MouseButton.LeftButton:
            cam.Azimuth(-dx * 0.5)
            cam.Elevation(dy * 0.5)
            cam.OrthogonalizeViewUp()
        elif self._button == Qt.MouseButton.RightButton:
            cam.Dolly(1.01 ** (-dy))
        elif self._button == Qt.MouseButton.MiddleButton:
            # Pan: move camera and focal point along the screen axes.
            fp, pos3 = np.array(cam.GetFocalPoint()), np.array(cam.GetPosition())
            up = np.array(cam.GetViewUp())
            right = np.cross(np.array(cam.GetDirectionOfProjection()), up)
            scale = np.linalg.norm(pos3 - fp) / max(1, self.height())
            shift = (-dx * right + dy * up) * scale
            cam.SetFocalPoint(*(fp + shift))
            cam.SetPosition(*(pos3 + shift))
        else:
            return
        self.camera_changed.emit()

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._camera.Dolly(1.1**steps)
            self.camera_changed.emit()
