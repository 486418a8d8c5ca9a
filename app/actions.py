"""The window's actions, menus and toolbar (icons from qtawesome's Material Design set).

Keyboard map (``user_guide/keyboard_shortcuts.md`` is generated from the menus by
``user_guide/shortcuts_page.py``; rerun it after changing a shortcut, a test compares them):
N / Shift+N next/previous landmark, PgDown / PgUp next/previous image, Q next to review, A accept,
X (or Delete) mark absent, V verify image, F fit, 1 one-to-one, I invert, W default
window, + / - zoom; layers: K landmarks, L labels, C confidence, R refined, S soft-argmax,
D displacement, E edges, H heatmaps (Shift+H: selected/all), M masks, U uncertainty regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qtawesome as qta
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QToolButton

from app.theme import TEXT
from app.viewer.windowing import PRESETS


def icon(name: str):
    return qta.icon(name, color=TEXT, color_disabled="#5c626b")


@dataclass
class Actions:
    new_project: QAction
    open_project: QAction
    open_images: QAction
    open_pacs: QAction
    save: QAction
    close_project: QAction
    import_dataset: QAction
    import_landmarks: QAction
    export: QAction
    store_pacs: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    accept: QAction
    mark_absent: QAction
    place: QAction
    calibrate_spacing: QAction
    verify: QAction
    next_landmark: QAction
    prev_landmark: QAction
    next_image: QAction
    prev_image: QAction
    next_review: QAction
    fit: QAction
    one_to_one: QAction
    zoom_in: QAction
    zoom_out: QAction
    invert: QAction
    default_window: QAction
    heatmap_mode: QAction
    predict: QAction
    predict_all: QAction
    cancel: QAction
    train: QAction
    versions: QAction
    cancel_training: QAction
    about: QAction
    user_guide: QAction
    shortcuts: QAction
    presets: dict[str, QAction] = field(default_factory=dict)
    layers: dict[str, QAction] = field(default_factory=dict)


def _action(window: QMainWindow, text: str, slot=None, shortcut=None, icon_name: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcut is not None:
        shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    action.setCheckable(checkable)
    key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip or text.replace('…', '')}" + (f" ({key})" if key else ""))
    action.setStatusTip(tip or text.replace("…", ""))
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    window.addAction(action)
    return action


def build_actions(w) -> Actions:
    """Actions wired to the window ``w`` (a ``MainWindow``)."""
    stack = w.doc.undo_stack
    undo = stack.createUndoAction(w, "Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    undo.setIcon(icon("mdi6.undo"))
    redo = stack.createRedoAction(w, "Redo")
    redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Y")])
    redo.setIcon(icon("mdi6.redo"))
    a = Actions(
        new_project=_action(w, "&New Project…", w.new_project_dialog, QKeySequence.StandardKey.New, "mdi6.folder-plus-outline"),
        open_project=_action(w, "&Open Project…", w.open_project_dialog, QKeySequence.StandardKey.Open, "mdi6.folder-open-outline"),
        open_images=_action(w, "Open &Image(s)…", w.open_images_dialog, "Ctrl+I", "mdi6.file-image-plus-outline", "Add DICOM or PNG/JPEG/TIFF/BMP images"),
        open_pacs=_action(w, "Open from &PACS…", lambda: w.pacs.show_open(), None, "mdi6.server-network",
                          "Search a PACS over DICOMweb and open a study's images"),
        save=_action(w, "&Save", w.save, QKeySequence.StandardKey.Save, "mdi6.content-save-outline", "Save now (edits are also saved automatically)"),
        close_project=_action(w, "&Close Project", w.close_project, QKeySequence.StandardKey.Close),
        import_dataset=_action(w, "Import &Dataset…", lambda: w.exchange.show_import_dataset(), None, "mdi6.folder-download-outline",
                               "A folder of images with COCO, labelme, ISBI or CSV annotations into this project"),
        import_landmarks=_action(w, "&Import Landmarks…", lambda: w.exchange.show_import(), None, "mdi6.import",
                                 "Landmarks for the project's images from a CSV, COCO, labelme or ISBI file"),
        export=_action(w, "&Export…", lambda: w.exchange.show_export(), "Ctrl+E", "mdi6.export",
                       "Write the landmarks as CSV, COCO, labelme, ISBI or DICOM SR (anonymised by default)"),
        store_pacs=_action(w, "Store Landmarks to P&ACS…", lambda: w.pacs.show_store(), None, "mdi6.cloud-upload-outline",
                           "Store each DICOM image's landmarks on a PACS as a DICOM SR measurement report"),
        quit=_action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit),
        undo=undo,
        redo=redo,
        accept=_action(w, "&Accept Landmark", w.editing.accept_landmark, "A", "mdi6.check-circle-outline", "Accept the selected point as it is"),
        mark_absent=_action(w, "Mark Landmark A&bsent", w.editing.mark_absent, ["X", "Delete"], "mdi6.eye-off-outline", "The selected landmark is not visible on this image"),
        place=_action(w, "&Place Landmark", w.editing.toggle_place_mode, "P", "mdi6.map-marker-plus-outline",
                      "The next click on the image puts the selected landmark there (also one marked absent)", checkable=True),
        calibrate_spacing=_action(w, "Calibrate &Spacing…", w.editing.toggle_calibration, None, "mdi6.ruler",
                                  "Click the two ends of a ruler (a known length) on the image, then type its length",
                                  checkable=True),
        verify=_action(w, "&Verify Image", w.editing.verify_image, "V", "mdi6.check-decagram", "Sign the image off: accepts its remaining predicted points"),
        next_landmark=_action(w, "Next Landmark", lambda: w.doc.step_landmark(1), "N"),
        prev_landmark=_action(w, "Previous Landmark", lambda: w.doc.step_landmark(-1), "Shift+N"),
        next_image=_action(w, "Next Image", lambda: w.doc.step_image(1), "PgDown", "mdi6.chevron-right"),
        prev_image=_action(w, "Previous Image", lambda: w.doc.step_image(-1), "PgUp", "mdi6.chevron-left"),
        next_review=_action(w, "Next to &Review", lambda: w.review_panel.next_item(), "Q", "mdi6.playlist-check",
                            "Go to the landmark the review queue ranks next"),
        fit=_action(w, "&Fit to Window", w.viewer.fit, "F", "mdi6.fit-to-screen-outline"),
        one_to_one=_action(w, "Actual Pixels (1:1)", w.viewer.one_to_one, "1", "mdi6.numeric-1-box-outline"),
        zoom_in=_action(w, "Zoom In", lambda: w.viewer.zoom_by(1.25), ["+", "="], "mdi6.magnify-plus-outline"),
        zoom_out=_action(w, "Zoom Out", lambda: w.viewer.zoom_by(0.8), "-", "mdi6.magnify-minus-outline"),
        invert=_action(w, "&Invert", w.viewer.set_inverted, "I", "mdi6.invert-colors", checkable=True),
        default_window=_action(w, "Default Window", lambda: w.viewer.apply_preset("default"), "W", "mdi6.contrast-box", "Back to the file's window (right-drag changes it)"),
        heatmap_mode=_action(w, "Heatmap: Selected / All", w.toggle_heatmap_mode, "Shift+H"),
        predict=_action(w, "&Predict Image", w.predict_current, "Ctrl+P", "mdi6.brain", "Predict the landmarks of this image in the background"),
        predict_all=_action(w, "Predict &All Images", w.predict_all, "Ctrl+Shift+P", "mdi6.play-box-multiple-outline"),
        cancel=_action(w, "&Cancel Prediction", w.jobs.cancel, "Esc", "mdi6.stop-circle-outline"),
        train=_action(w, "&Train Model…", w.show_train_panel, "Ctrl+T", "mdi6.school-outline", "Retrain the model on the reviewed images (in the background)"),
        versions=_action(w, "Model &Versions…", lambda: w.training.show_versions(), None, "mdi6.history", "Adopted and earlier model versions; restore one"),
        cancel_training=_action(w, "Cancel Training", lambda: w.training.cancel(), None, "mdi6.stop-circle-outline"),
        about=_action(w, "&About Anatomark", w.about),
        user_guide=_action(w, "&User Guide", w.show_user_guide, "F1", "mdi6.book-open-variant", "The user guide, inside the app"),
        shortcuts=_action(w, "&Keyboard Shortcuts", w.show_shortcuts, None, "mdi6.keyboard-outline", "Every key of this window"),
    )
    for preset in PRESETS:
        a.presets[preset.key] = _action(w, preset.title, lambda _=False, k=preset.key: w.viewer.apply_preset(k))
    for overlay in w.viewer.overlays:
        action = _action(w, overlay.title, overlay.set_visible, overlay.shortcut, tip=overlay.tooltip, checkable=True)
        action.setChecked(overlay.visible)
        a.layers[overlay.key] = action
    a.cancel.setEnabled(False)
    return a


def build_menus(w, a: Actions) -> None:
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a.new_project, a.open_project, a.open_images, a.open_pacs])
    file_menu.addSeparator()
    file_menu.addActions([a.save, a.close_project])
    file_menu.addSeparator()
    file_menu.addActions([a.import_dataset, a.import_landmarks, a.export, a.store_pacs])
    file_menu.addSeparator()
    file_menu.addAction(a.quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    edit.addSeparator()
    edit.addActions([a.accept, a.mark_absent, a.place, a.verify])
    edit.addSeparator()
    edit.addAction(a.calibrate_spacing)
    edit.addActions([w.repredict.enabled_action, w.repredict.apply_action, w.repredict.discard_action])
    edit.addSeparator()
    edit.addActions([a.next_landmark, a.prev_landmark, a.next_image, a.prev_image, a.next_review])
    view = bar.addMenu("&View")
    view.addActions([a.fit, a.one_to_one, a.zoom_in, a.zoom_out])
    view.addSeparator()
    view.addActions([a.invert, a.default_window])
    presets = view.addMenu("Window Presets")
    presets.addActions(list(a.presets.values()))
    view.addSeparator()
    layers = view.addMenu("Layers")
    layers.addActions(list(a.layers.values()))
    layers.addSeparator()
    layers.addAction(a.heatmap_mode)
    view.addSeparator()
    w.docks_menu = view.addMenu("Panels")
    model = bar.addMenu("&Model")
    model.addActions([a.predict, a.predict_all, a.cancel])
    model.addSeparator()
    model.addActions([a.train, a.cancel_training, a.versions])
    w.bundled_menu = model.addMenu("Use &Bundled Model")
    w.bundled_menu.setToolTipsVisible(True)
    w.bundled_menu.aboutToShow.connect(lambda: w.training.fill_bundled_menu(w.bundled_menu))
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.user_guide, a.shortcuts])
    help_menu.addSeparator()
    help_menu.addAction(a.about)


def build_toolbar(w, a: Actions) -> QToolBar:
    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    bar.setIconSize(bar.iconSize() * 1.0)
    for group in (
        [a.new_project, a.open_project, a.open_images, a.save],
        [a.undo, a.redo],
        [a.predict, a.predict_all, a.train],
        [a.prev_image, a.next_image, a.next_review],
        [a.accept, a.mark_absent, a.verify],
        [a.fit, a.one_to_one, a.zoom_in, a.zoom_out, a.invert],
    ):
        bar.addActions(group)
        bar.addSeparator()
    # Window/level: click for the file's window, hold or use the arrow for presets.
    presets = QMenu(w)
    presets.addActions(list(a.presets.values()))
    button = QToolButton()
    button.setDefaultAction(a.default_window)
    button.setMenu(presets)
    button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
    bar.addWidget(button)
    w.addToolBar(bar)
    return bar
