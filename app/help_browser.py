"""Help ▸ User Guide and Help ▸ Keyboard Shortcuts: the guide's own pages, read inside the app.

The guide is Markdown (``user_guide/*.md``, ``core.resources.user_guide_dir``); Qt renders
Markdown itself, so the pages, their links to each other and their screenshots work offline
and in the bundle without the HTML build or a web browser. The shortcuts page is made from the
live menus (``app.shortcuts.shortcuts_table``), so it is always the keys this window has.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from core.resources import user_guide_dir

GUIDE_INDEX = "index.md"


class GuideBrowser(QDialog):
    """A small reader for the guide: Back, Home, and links between pages; web links open outside."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Anatomark user guide")
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)  # we decide: guide pages inside, the web outside
        self.browser.anchorClicked.connect(self.follow)
        self.browser.sourceChanged.connect(lambda _url: self._title())
        back, home, close = QPushButton("Back"), QPushButton("Contents"), QPushButton("Close")
        back.clicked.connect(self.browser.backward)
        home.clicked.connect(self.home)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (back, home):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addLayout(buttons)
        self.resize(900, 760)

    def home(self) -> None:
        self.open_page(GUIDE_INDEX)

    def open_page(self, name: str) -> bool:
        """Show ``user_guide/<name>`` (``page.md`` or ``page.md#section``); False when it is not there."""
        page, _, fragment = name.partition("#")
        path = user_guide_dir() / page
        if not path.is_file():
            self.browser.setMarkdown(f"# The user guide is not installed\n\n`{path.name}` was not found in `{path.parent}`.")
            return False
        url = QUrl.fromLocalFile(str(path))
        if fragment:
            url.setFragment(fragment)
        self.browser.setSource(url, QTextDocument.ResourceType.MarkdownResource)
        return True

    def show_markdown(self, title: str, text: str) -> None:
        """Show generated Markdown (the shortcuts table); images and links resolve in the guide folder."""
        self.browser.setSearchPaths([str(user_guide_dir())])
        self.browser.setMarkdown(text)
        self.setWindowTitle(title)

    def follow(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
            return
        target = self.browser.source().resolved(url) if url.isRelative() else url
        if target.isLocalFile() and target.toLocalFile().endswith(".md"):
            self.browser.setSource(target, QTextDocument.ResourceType.MarkdownResource)
        elif target.fragment() and not target.path():
            self.browser.scrollToAnchor(target.fragment())
        else:
            QDesktopServices.openUrl(target)

    def _title(self) -> None:
        title = self.browser.documentTitle() or self.browser.source().fileName()
        self.setWindowTitle(f"Anatomark user guide — {title}" if title else "Anatomark user guide")
