"""The dark theme (radiology reading rooms are dark) and the colours that carry meaning.

Landmark states must be told apart at a glance, by shape *and* colour (colour alone
fails for colour-blind readers): predicted = amber circle, corrected = cyan diamond,
verified = green square, absent = grey cross; every marker has a dot at its exact point.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from core.project.records import LandmarkState

BACKGROUND = "#1b1d21"
PANEL = "#23262b"
BASE = "#15171a"
TEXT = "#d7dae0"
MUTED = "#8b919c"
ACCENT = "#3d8fd6"
VIEW_BACKGROUND = "#000000"


@dataclass(frozen=True)
class StateStyle:
    """How a landmark in one state is drawn and listed."""

    title: str
    colour: str
    shape: str  # "circle", "diamond", "square", "cross"


STATE_STYLES: dict[LandmarkState, StateStyle] = {
    LandmarkState.PREDICTED: StateStyle("predicted", "#ffb020", "circle"),
    LandmarkState.CORRECTED: StateStyle("corrected", "#33c7ff", "diamond"),
    LandmarkState.VERIFIED: StateStyle("verified", "#3ddc84", "square"),
    LandmarkState.ABSENT: StateStyle("absent", "#9aa0a6", "cross"),
    LandmarkState.MISSING: StateStyle("missing", "#ff5c5c", "circle"),
}

#: An image that may not show the project's anatomy (core.anatomy): the image list's warning sign.
MISFIT_COLOUR = "#ff8a3d"

IMAGE_STATUS_COLOURS: dict[str, str] = {
    "new": MUTED,
    "predicted": "#ffb020",
    "in review": "#33c7ff",
    "verified": "#3ddc84",
}

SOFT_ARGMAX_COLOUR = "#ff6ad5"
REFINED_COLOUR = "#b4ff39"
DISPLACEMENT_COLOUR = "#ffe14d"
PROPOSAL_COLOUR = "#4df0ff"  # re-prediction preview (ghosts and arrows)
EDGE_COLOUR = "#6fb7ff"
LABEL_COLOUR = "#f2f4f7"
UNCERTAINTY_COLOUR = "#c39bff"  # calibrated uncertainty ellipses (violet: apart from the amber markers)
MASK_COLOURS = ("#ff5a5a", "#4da3ff", "#ffd24d", "#62e07a", "#c77dff", "#ff9f43", "#2ee6d6")


def state_style(state: LandmarkState) -> StateStyle:
    return STATE_STYLES.get(state, STATE_STYLES[LandmarkState.MISSING])  # a str enum: "absent" finds it too


def confidence_colour(value: float) -> str:
    """Red below 0.1, amber below 0.3, green above: how much to trust a predicted point."""
    if value < 0.1:
        return "#ff6b6b"
    if value < 0.3:
        return "#ffb020"
    return "#3ddc84"


_STYLESHEET = f"""
QMainWindow, QDockWidget {{ background: {BACKGROUND}; }}
QDockWidget::title {{ background: {PANEL}; padding: 5px 8px; color: {MUTED};
    text-transform: uppercase; font-weight: 600; }}
QToolBar {{ background: {PANEL}; border: none; spacing: 2px; padding: 2px 4px; }}
QToolBar::separator {{ background: #3a3f47; width: 1px; margin: 4px 6px; }}
QToolButton {{ border: 1px solid transparent; border-radius: 4px; padding: 3px; }}
QToolButton:hover {{ background: #2f343b; border-color: #3a3f47; }}
QToolButton:checked {{ background: #2b3f55; border-color: {ACCENT}; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {TEXT}; padding: 0 6px; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none;
    border-bottom: 1px solid #33373e; padding: 4px 6px; }}
QTableView, QListView, QTreeView {{ background: {BASE}; alternate-background-color: #1a1c20;
    gridline-color: #2a2e34; border: none; selection-background-color: #26476b; }}
QTableView::item {{ padding: 2px 4px; }}
QGroupBox {{ border: 1px solid #33373e; border-radius: 4px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
QProgressBar {{ border: 1px solid #3a3f47; border-radius: 3px; background: {BASE};
    text-align: center; color: {TEXT}; max-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; }}
QSlider::groove:horizontal {{ height: 4px; background: #3a3f47; border-radius: 2px; }}
QSlider::handle:horizontal {{ width: 12px; margin: -5px 0; border-radius: 6px; background: {TEXT}; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QCheckBox::indicator {{ width: 12px; height: 12px; border: 1px solid #6b717c; border-radius: 3px;
    background: {BASE}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: #3a3f47; background: {BACKGROUND}; }}
QCheckBox:disabled {{ color: #5c626b; }}
QMenu::separator {{ height: 1px; background: #3a3f47; margin: 4px 8px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and a small stylesheet on ``app``."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: "#1a1c20",
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#26476b",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c626b"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLESHEET)
