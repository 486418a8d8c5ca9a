"""After training: the before/after report (adopt or keep) and the model versions (restore).

Both only ask (STYLE.md "Ask, then do"): the report's ``decision`` is ``"adopt"``,
``"force"`` or ``"keep"``; the versions dialog's ``chosen`` is the version to restore.
The window then runs ``anatomark adopt`` and reloads the predictor.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.theme import ACCENT, MUTED

BETTER = "#3ddc84"
WORSE = "#ff6b6b"
UNSURE = "#ffb347"  # an inconclusive verdict: adoptable, but the evidence is thin


def _fmt(value, digits: int = 2, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}{unit}"


def _sdr(metrics: dict) -> dict[str, float]:
    """SDR as {radius label: percent}: the engine may give a dict of radii or one number."""
    sdr = metrics.get("sdr")
    if isinstance(sdr, dict):
        unit = metrics.get("sdr_unit", "")
        return {f"SDR @ {r} {unit}".strip(): v for r, v in sdr.items()}
    return {"SDR": sdr} if isinstance(sdr, (int, float)) else {}


def _item(text: str, colour: str | None = None, align_right: bool = True, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if colour:
        item.setForeground(QColor(colour))
    if bold:
        font = QFont()
        font.setBold(True)
        item.setFont(font)
    return item


def _table(headers: list[str], stretch: int = 0) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    header = table.horizontalHeader()
    for column in range(len(headers)):
        mode = QHeaderView.ResizeMode.Stretch if column == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)
    return table


def _change_row(table: QTableWidget, name: str, before, after, lower_is_better: bool, digits: int = 2, unit: str = "") -> None:
    row = table.rowCount()
    table.insertRow(row)
    table.setItem(row, 0, _item(name, align_right=False))
    table.setItem(row, 1, _item(_fmt(before, digits, unit)))
    table.setItem(row, 2, _item(_fmt(after, digits, unit), bold=True))
    if isinstance(before, (int, float)) and isinstance(after, (int, float)) and math.isfinite(before) and math.isfinite(after):
        delta = after - before
        better = delta < 0 if lower_is_better else delta > 0
        colour = None if abs(delta) < 10 ** -digits else (BETTER if better else WORSE)
        table.setItem(row, 3, _item(f"{delta:+.{digits}f}{unit}", colour))
    else:
        table.setItem(row, 3, _item("—"))


def not_adoptable_reason(result: dict) -> str:
    """Why the engine refuses to adopt this version automatically (one line)."""
    if result.get("reason"):
        return str(result["reason"])
    before, after = result.get("before") or {}, result.get("after") or {}
    b, a = before.get("mre_px"), after.get("mre_px")
    if isinstance(b, (int, float)) and isinstance(a, (int, float)):
        return f"it is worse on the locked validation set (MRE {b:.2f} → {a:.2f} px)"
    return "it is not better than the current model on the locked validation set"


def verdict_html(result: dict) -> str:
    """The report's verdict line: ``core.learning.verdict`` outcome with its reason and 95 % interval."""
    verdict = result.get("verdict") or {}
    outcome, text = verdict.get("outcome"), verdict.get("text", "")
    detail = text.split(": ", 1)[1] if ": " in text else text
    if outcome == "better":
        return (f"<span style='color:{BETTER}'>✔ Better than the current model</span> ({detail}). "
                "Adopt it to use it for new predictions.")
    if outcome == "inconclusive":
        return (f"<span style='color:{UNSURE}'>◐ Inconclusive</span>: {detail}. Not worse on the validation "
                "images, but the difference may be chance: adopt it only if the report convinces you.")
    if outcome == "first":
        return f"<span style='color:{BETTER}'>✔ The project's first model</span> ({detail})."
    if outcome == "worse":
        return f"<span style='color:{WORSE}'>✖ Not adopted automatically:</span> worse: {detail}."
    if result.get("adoptable"):  # an engine without verdicts
        return f"<span style='color:{BETTER}'>✔ Better than the current model.</span> Adopt it to use it for new predictions."
    return f"<span style='color:{WORSE}'>✖ Not adopted automatically:</span> {not_adoptable_reason(result)}."


def scoring_note(after: dict) -> str:
    """How the validation images scored (ADR 0005), when the engine says: how many hold points the
    person moved or placed, and the radius within which an accepted point counts as right."""
    n, informative, radius = after.get("n_images"), after.get("n_informative"), after.get("accept_radius_px")
    if n is None or informative is None or radius is None:
        return ""
    return (f"{informative} of the {n} validation image{'s' if n != 1 else ''} hold points you moved or placed (scored in full); "
            f"a point you accepted as predicted counts as right within {radius:.1f} px (2 mm, or 1 % of the image without a pixel spacing), for both models.")


class ReportDialog(QDialog):
    """Before/after validation metrics of a training run, with Adopt and Keep current."""

    def __init__(self, result: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.decision = "keep"
        version = result.get("version", "new version")
        self.setWindowTitle(f"Training report — {version}")
        self.setObjectName("training-report")
        before, after = result.get("before") or {}, result.get("after") or {}
        adoptable = bool(result.get("adoptable"))
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        title = QLabel(f"<b style='font-size:13pt'>{version}</b>&nbsp;&nbsp;"
                       f"<span style='color:{MUTED}'>measured on the project's locked validation images</span>")
        layout.addWidget(title)
        verdict = QLabel()
        verdict.setWordWrap(True)
        verdict.setText(verdict_html(result))
        layout.addWidget(verdict)
        self.verdict = verdict
        self.scoring = QLabel(scoring_note(after))
        self.scoring.setWordWrap(True)
        self.scoring.setStyleSheet(f"color: {MUTED};")
        self.scoring.setVisible(bool(self.scoring.text()))
        layout.addWidget(self.scoring)

        self.summary = _table(["metric", "before", "after", "change"])
        _change_row(self.summary, "MRE (px)", before.get("mre_px"), after.get("mre_px"), True)
        if before.get("mre_mm") is not None or after.get("mre_mm") is not None:
            _change_row(self.summary, "MRE (mm)", before.get("mre_mm"), after.get("mre_mm"), True)
        sdr_before, sdr_after = _sdr(before), _sdr(after)
        for key in list(dict.fromkeys([*sdr_before, *sdr_after])):
            _change_row(self.summary, f"{key} (%)", sdr_before.get(key), sdr_after.get(key), False, 1)
        rows = sum(self.summary.rowHeight(i) for i in range(self.summary.rowCount()))
        self.summary.setFixedHeight(self.summary.horizontalHeader().sizeHint().height() + rows + 2 * self.summary.frameWidth() + 2)
        self.summary.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.summary)

        layout.addWidget(self._heading("Per landmark (MRE, px)"))
        self.landmarks = _table(["landmark", "before", "after", "change"])
        rows_before = {r.get("name"): r for r in before.get("per_landmark", [])}
        for row in after.get("per_landmark", []):
            name = row.get("name", "?")
            _change_row(self.landmarks, name, rows_before.get(name, {}).get("mre_px"), row.get("mre_px"), True)
        layout.addWidget(self.landmarks, 1)

        worse = result.get("worse_images") or []
        layout.addWidget(self._heading(f"Images that got worse ({len(worse)})"))
        self.worse = QListWidget()
        for entry in worse:
            self.worse.addItem(_describe_image(entry))
        if not worse:
            self.worse.addItem("none")
        self.worse.setMaximumHeight(72)
        layout.addWidget(self.worse)

        self.force = QCheckBox("Adopt anyway: I have checked the report")
        self.force.setVisible(not adoptable)
        self.force.toggled.connect(self._update_adopt)
        layout.addWidget(self.force)
        buttons = QDialogButtonBox()
        self.adopt_button = QPushButton("Adopt")
        self.adopt_button.setStyleSheet(f"QPushButton {{ background: {ACCENT}; color: white; border-radius: 4px; padding: 5px 16px; "
                                        "font-weight: 600; } QPushButton:disabled { background: #2f343b; color: #5c626b; }")
        self.keep_button = QPushButton("Keep current")
        buttons.addButton(self.adopt_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.adopt_button.clicked.connect(self._adopt)
        self.keep_button.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self._update_adopt()
        self.resize(580, 760)

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet(f"color: {MUTED}; font-weight: 600; margin-top: 4px;")
        return label

    def _update_adopt(self) -> None:
        adoptable = bool(self.result.get("adoptable"))
        self.adopt_button.setEnabled(adoptable or self.force.isChecked())
        self.adopt_button.setText("Adopt" if adoptable else "Adopt anyway")
        self.adopt_button.setToolTip("" if adoptable else f"Disabled: {not_adoptable_reason(self.result)}")

    def _adopt(self) -> None:
        if not self.adopt_button.isEnabled():
            return
        self.decision = "adopt" if self.result.get("adoptable") else "force"
        self.accept()


def _describe_image(entry) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    name = entry.get("name") or entry.get("image") or entry.get("id") or "?"
    b = entry.get("before_px", entry.get("before_mre_px", entry.get("before")))
    a = entry.get("after_px", entry.get("after_mre_px", entry.get("after")))
    if isinstance(b, (int, float)) and isinstance(a, (int, float)):
        return f"{name}   MRE {b:.2f} → {a:.2f} px"
    return str(name)


def version_rows(listing) -> list[dict]:
    """The versions of ``anatomark models --project P --json``, as dicts with a ``current`` flag."""
    if isinstance(listing, dict):
        current = listing.get("current")
        rows = list(listing.get("versions") or [])
        for row in rows:
            row.setdefault("current", row.get("version") == current)
        return rows
    return list(listing or [])


class VersionsDialog(QDialog):
    """The project's model versions; Restore makes the selected one current."""

    def __init__(self, listing, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model versions")
        self.chosen: str | None = None
        self.chosen_path: str | None = None
        self.rows = version_rows(listing)
        layout = QVBoxLayout(self)
        note = QLabel("Every training run is kept. Restore makes an earlier version the one that predicts.")
        note.setStyleSheet(f"color: {MUTED};")
        layout.addWidget(note)
        self.table = _table(["version", "status", "parent / origin", "created", "val. MRE (px)", "title"], stretch=5)
        for row in self.rows:
            metrics = row.get("after") or row.get("metrics") or {}
            r = self.table.rowCount()
            self.table.insertRow(r)
            current = bool(row.get("current"))
            self.table.setItem(r, 0, _item(str(row.get("version", "?")), align_right=False, bold=current))
            self.table.setItem(r, 1, _item("current" if current else "", BETTER if current else None, align_right=False))
            # An installed model used through Model ▸ Use Bundled Model has no parent: say which it is.
            origin = f"installed {row['imported']}" if row.get("imported") else str(row.get("parent") or "—")
            self.table.setItem(r, 2, _item(origin, align_right=False))
            created = row.get("date") or row.get("created") or "—"
            self.table.setItem(r, 3, _item(str(created)[:16].replace("T", " "), align_right=False))
            mre = _item(_fmt(row.get("val_mre_px", metrics.get("mre_px"))))
            by = row.get("val_measured_by")
            measured = f"measured in the run that trained {by}" if by else ""
            # core.learning.verdict: outcome, 95 % interval; and which run measured the figure (v0's: its child's)
            mre.setToolTip("\n".join(t for t in (str(row.get("verdict") or ""), measured) if t))
            self.table.setItem(r, 4, mre)
            self.table.setItem(r, 5, _item(str(row.get("title") or ""), MUTED, align_right=False))
        self.table.itemSelectionChanged.connect(self._update)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(self._restore)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self._update()
        self.resize(780, 360)

    def selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _update(self) -> None:
        row = self.selected()
        self.restore_button.setEnabled(row is not None and not row.get("current"))

    def _restore(self) -> None:
        row = self.selected()
        if row is not None and not row.get("current"):
            self.chosen = str(row.get("version"))
            self.chosen_path = row.get("path") or row.get("model_path")
            self.accept()
