"""The image viewer widget: one radiograph, its overlays, window/level, zoom and pan.

Display follows ADR 0001 (``imageAxisOrder='row-major'``, set once in ``app.main``):
the image item holds the modality values ``Radiograph.pixels`` and window/level only
changes its levels; invert swaps the grey lookup table. MONOCHROME1 images start
inverted so bones are bright.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.overlays import OVERLAY_CLASSES, Overlay
from app.overlays.landmarks import LandmarkOverlay
from app.overlays.proposal import ProposalPreview
from app.theme import MUTED, VIEW_BACKGROUND
from app.viewer import windowing
from app.viewer.coords import image_to_item, item_to_image
from app.viewer.dragging import LandmarkDragger
from app.viewer.frame import Frame
from app.viewer.viewbox import ViewerBox

def _num(value: float) -> str:
    """Window values: whole numbers for 12-16 bit data, three digits for normalised data."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


_GREY = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
ZOOM_STEP = 1.25


NO_PROJECT_TEXT = "Open a project (Ctrl+O) or images (Ctrl+I) to start"
EMPTY_PROJECT_TEXT = ("This project has no images yet.\nAdd radiographs with File → Open Image(s) (Ctrl+I):\n"
                      "DICOM, PNG, JPEG, TIFF or BMP; the model predicts them at once.")


class ImageViewer(QWidget):
    """Signals: ``cursor_moved(object)`` (x, y) image px or None; ``window_changed(float, float)``;
    ``landmark_clicked(str)``; ``image_clicked(float, float)``; ``point_dragging(str, float, float)``
    and ``point_dropped(str, float, float)``; ``view_changed()`` (zoom/pan)."""

    cursor_moved = Signal(object)
    window_changed = Signal(float, float)
    landmark_clicked = Signal(str)
    image_clicked = Signal(float, float)
    point_dragging = Signal(str, float, float)
    point_dropped = Signal(str, float, float)
    edit_refused = Signal()
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(background=VIEW_BACKGROUND)
        self.box = ViewerBox()
        self.graphics.setCentralItem(self.box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setZValue(0)
        self.box.addItem(self.image_item)
        self.overlays: list[Overlay] = [cls(self.box) for cls in OVERLAY_CLASSES]
        self.landmarks: LandmarkOverlay = self.overlay("landmarks")
        self.proposal = ProposalPreview(self.box)  # re-prediction preview (app.repredict)
        self.dragger = LandmarkDragger(self)
        self.box.point_drag = self.dragger
        self.dragger.on_preview = self.point_dragging.emit
        self.dragger.on_drop = self.point_dropped.emit
        self.dragger.on_refused = self.edit_refused.emit

        self.radiograph = None
        self.spacing: tuple[float, float] | None = None
        self.frame: Frame | None = None
        self.window: windowing.Window | None = None
        self.user_invert = False
        self._value_range = (0.0, 1.0)

        self.placeholder = QLabel(NO_PROJECT_TEXT, self.graphics)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"color: {MUTED}; font-size: 15px; background: transparent;")
        # Corner annotations, as on a reading-room viewer: what the image is, how it is shown.
        self.corner = self._corner_label()
        self.title = self._corner_label()
        self.notice = self._corner_label("Research use — not for clinical decisions")
        self._ruler = None  # a spacing calibration's marks (show_ruler)
        self.warning = self._corner_label()  # e.g. the anatomy check's: this may not be a chest
        self.warning.setStyleSheet(self.warning.styleSheet().replace("color: #c9ced6", "color: #ff8a3d"))
        self.warning.hide()
        self.notice.setStyleSheet(f"color: {MUTED}; background: rgba(0, 0, 0, 150); border-radius: 3px; padding: 1px 4px;"
                                  f" font-size: 10px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.box.window_dragged.connect(self._on_window_drag)
        self.box.clicked.connect(self._on_click)
        self.box.double_clicked.connect(self.fit)
        self.box.sigRangeChanged.connect(lambda *_: self._on_range_changed())
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _corner_label(self, text: str = "") -> QLabel:
        label = QLabel(text, self.graphics)
        # On a dark backing: legible over a bright radiograph as over the black margin.
        label.setStyleSheet("color: #c9ced6; background: rgba(0, 0, 0, 150); border-radius: 3px; padding: 1px 4px;"
                            " font-size: 11px;")
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        return label

    # -- content ----------------------------------------------------------------------

    def overlay(self, key: str) -> Overlay:
        return next(o for o in self.overlays if o.key == key)

    def set_placeholder(self, text: str) -> None:
        """What the empty viewer says (no project, or a project without images)."""
        self.placeholder.setText(text)

    def show_ruler(self, points: list[tuple[float, float]]) -> None:
        """Marks (and the line between) of a spacing calibration in progress, image px; [] hides them."""
        if self._ruler is None:
            # Plain line pairs, no symbols: a scatter item would take the next click near a mark.
            self._ruler = pg.PlotCurveItem(pen=pg.mkPen("#ffe14d", width=2), connect="pairs")
            self._ruler.setZValue(50)
            self._ruler.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.box.addItem(self._ruler)
        arm = 8.0 / max(self.zoom(), 1e-6)  # a cross of 16 screen px on each mark
        xs, ys = [], []
        for x, y in points:
            xs += [x - arm, x + arm, x, x]
            ys += [y, y, y - arm, y + arm]
        if len(points) == 2:
            xs += [points[0][0], points[1][0]]
            ys += [points[0][1], points[1][1]]
        items = [image_to_item(x, y) for x, y in zip(xs, ys)]
        self._ruler.setData([p[0] for p in items], [p[1] for p in items])
        self._ruler.setVisible(bool(points))

    def set_spacing(self, spacing: tuple[float, float] | None) -> None:
        """A new pixel spacing for the shown image (a calibration): the corner and overlays in mm follow."""
        self.spacing = spacing
        self._update_corner()

    def set_warning(self, text: str) -> None:
        """A line under the image's title about the image itself (empty: none)."""
        self.warning.setText(text)
        self.warning.setVisible(bool(text))
        self._update_corner()

    def set_radiograph(self, radiograph, fit: bool = True, spacing: tuple[float, float] | None = None) -> None:
        """Show ``radiograph`` (or nothing for None) with its default window. ``spacing`` (x, y) mm
        overrides the file's own (the project may know it when the file does not)."""
        self.dragger.cancel()
        self.radiograph = radiograph
        self.spacing = spacing if spacing is not None else getattr(radiograph, "spacing", None)
        self.placeholder.setVisible(radiograph is None)
        if radiograph is None:
            self.image_item.clear()
            self.set_frame(None)
            self._update_corner()
            return
        self._value_range = windowing.data_range(radiograph.pixels)
        self.window = windowing.initial_window(radiograph.pixels, radiograph.window)
        self.image_item.setImage(radiograph.pixels, autoLevels=False, levels=windowing.levels(self.window))
        self._apply_lut()
        if fit:
            self.fit()
        self.window_changed.emit(*self.window)
        self._update_corner()

    def set_frame(self, frame: Frame | None) -> None:
        """New landmarks/prediction for the shown image: every overlay redraws."""
        self.dragger.cancel()
        self.frame = frame
        for overlay in self.overlays:
            overlay.set_frame(frame)

    def update_point(self, k: int, record) -> None:
        """A stored landmark changed: copy it into the frame and redraw that point."""
        if self.frame is None or self.dragger.active and self.dragger.k == k:
            return
        self.frame.update_record(k, record)
        for overlay in self.overlays:
            overlay.point_moved(self.frame, k)

    def preview_point(self, k: int, x: float, y: float) -> None:
        """Move point ``k`` on screen only (drag preview)."""
        self.frame.points[k] = (x, y)
        for overlay in self.overlays:
            if overlay.is_shown():
                overlay.point_moved(self.frame, k)

    def set_selected(self, name: str | None) -> None:
        if self.frame is None:
            return
        self.set_selected_index(self.frame.index(name))

    def set_selected_index(self, k: int | None) -> None:
        if self.frame is None or self.frame.selected == k:
            return
        self.frame.selected = k
        for overlay in self.overlays:
            overlay.selection_changed(self.frame)

    # -- window/level and invert ------------------------------------------------------

    def set_window(self, center: float, width: float) -> None:
        if self.radiograph is None:
            return
        self.window = (float(center), max(float(width), 1e-6))
        self.image_item.setLevels(windowing.levels(self.window))
        self.window_changed.emit(*self.window)
        self._update_corner()

    def apply_preset(self, key: str) -> None:
        if self.radiograph is not None:
            self.set_window(*windowing.preset_window(key, self.radiograph.pixels, self.radiograph.window))

    def set_inverted(self, inverted: bool) -> None:
        self.user_invert = bool(inverted)
        self._apply_lut()

    def _display_flipped(self) -> bool:
        return self.user_invert != bool(getattr(self.radiograph, "invert_display", False))

    def _apply_lut(self) -> None:
        self.image_item.setLookupTable(_GREY[::-1] if self._display_flipped() else _GREY)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        # Down always darkens what is on screen, whichever way the grey scale runs.
        if self.window is not None:
            dy = -dy if self._display_flipped() else dy
            self.set_window(*windowing.drag_window(self.window, dx, dy, self._value_range))

    # -- zoom and pan -----------------------------------------------------------------

    def fit(self) -> None:
        if self.radiograph is not None:
            h, w = self.radiograph.shape
            self.box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        (x0, x1), _ = self.box.viewRange()
        width = self.box.width()
        return float(width / (x1 - x0)) if x1 > x0 and width > 0 else 1.0

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, about the centre of the view."""
        self.zoom_by(1.0 / self.zoom())

    def zoom_by(self, factor: float) -> None:
        """Zoom in by ``factor`` (> 1 magnifies) about the centre of the view."""
        if self.radiograph is not None and factor > 0:
            self.box.scaleBy(s=(1.0 / factor, 1.0 / factor))

    def reveal(self, x: float, y: float, margin: float = 0.1) -> None:
        """Centre image point (x, y) when it is outside the view or within ``margin`` of its edge; zoom kept."""
        if self.radiograph is None:
            return
        u, v = image_to_item(x, y)
        (x0, x1), (y0, y1) = self.box.viewRange()
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        if not (x0 + mx <= u <= x1 - mx and y0 + my <= v <= y1 - my):
            self.box.translateBy(x=u - (x0 + x1) / 2, y=v - (y0 + y1) / 2)

    # -- mouse ------------------------------------------------------------------------

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.radiograph is None or not self.box.sceneBoundingRect().contains(scene_pos):
            self.cursor_moved.emit(None)
            return
        item = self.box.mapSceneToView(scene_pos)
        self.cursor_moved.emit(item_to_image(item.x(), item.y()))
        hit = self.landmarks.hit(scene_pos) is not None or self.dragger.active
        self.graphics.viewport().setCursor(Qt.CursorShape.OpenHandCursor if hit else Qt.CursorShape.CrossCursor)

    def _on_click(self, scene_pos: QPointF) -> None:
        if self.radiograph is None:
            return
        k = self.landmarks.hit(scene_pos)
        if k is not None and self.frame is not None:
            self.set_selected_index(k)
            self.landmark_clicked.emit(self.frame.names[k])
            return
        item = self.box.mapSceneToView(scene_pos)
        x, y = item_to_image(item.x(), item.y())
        h, w = self.radiograph.shape
        if -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5:
            self.image_clicked.emit(x, y)

    def _on_range_changed(self) -> None:
        self._update_corner()
        for overlay in self.overlays:
            overlay.view_changed()
        self.view_changed.emit()

    # -- geometry helpers (tests, screenshots) ----------------------------------------

    def image_to_viewport(self, x: float, y: float) -> QPoint:
        """Widget coordinates in ``graphics.viewport()`` of image point (x, y): data → scene → widget."""
        scene = self.box.mapViewToScene(QPointF(*image_to_item(x, y)))
        return self.graphics.mapFromScene(scene)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.placeholder.setGeometry(0, 0, self.graphics.width(), self.graphics.height())
        self._update_corner()

    def _update_corner(self) -> None:
        self.notice.setVisible(self.radiograph is not None)
        self.notice.adjustSize()
        self.notice.move(self.graphics.width() - self.notice.width() - 10, self.graphics.height() - self.notice.height() - 8)
        if self.radiograph is None or self.window is None:
            self.corner.clear()
            self.title.clear()
            return
        h, w = self.radiograph.shape
        c, wd = self.window
        spacing = self.spacing
        mm = f"{spacing[0]:.3f} × {spacing[1]:.3f} mm/px" if spacing else "spacing unknown"
        self.corner.setText(f"{w} × {h} px, {mm}    W {_num(wd)}  L {_num(c)}    zoom {self.zoom() * 100:.0f} %")
        self.corner.adjustSize()
        self.corner.move(10, self.graphics.height() - self.corner.height() - 8)
        if self.corner.geometry().right() + 12 > self.notice.x():  # a narrow viewer: the notice goes above
            self.notice.move(self.notice.x(), self.corner.y() - self.notice.height() - 4)
        meta = self.radiograph.metadata
        facts = [str(meta[k]) for k in ("modality", "body_part", "view_position", "photometric_interpretation") if meta.get(k)]
        name = self.radiograph.source.name if self.radiograph.source is not None else ""
        self.title.setText(f"<b>{name}</b><br>{' · '.join(facts) or meta.get('format', '')}")
        self.title.adjustSize()
        self.title.move(10, 8)
        self.warning.adjustSize()
        self.warning.move(10, self.title.geometry().bottom() + 4)
