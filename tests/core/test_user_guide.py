"""The user guide renders to HTML with every link and image in place (user_guide/build_html.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("markdown", reason="the dev extra's markdown package renders the guide: pip install -e .[dev]")

GUIDE = Path(__file__).resolve().parents[2] / "user_guide"
BUILDER = GUIDE / "build_html.py"


def run_builder(out: Path, guide: Path = GUIDE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILDER), "--out", str(out), "--guide", str(guide)],
                          capture_output=True, text=True, timeout=60)


def test_every_page_renders_with_working_links_and_images(tmp_path):
    out = tmp_path / "html"
    done = run_builder(out)
    assert done.returncode == 0, done.stderr
    pages = sorted(p.stem for p in GUIDE.glob("*.md"))
    assert sorted(p.stem for p in out.glob("*.html")) == pages
    for page in out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert text.count('<nav>') == 1 and all(f'href="{name}.html"' in text for name in pages)  # the sidebar
        for ref in re.findall(r'(?:href|src)="([^"]+)"', text):
            parts = urlsplit(ref)
            if parts.scheme or not parts.path:
                continue
            assert (out / unquote(parts.path)).is_file(), f"{page.name}: {ref} does not resolve"
        assert ".md\"" not in text and ".md#" not in text, f"{page.name} still links to Markdown"


def test_broken_links_and_missing_images_fail_the_build(tmp_path):
    guide = tmp_path / "guide"
    guide.mkdir()
    (guide / "index.md").write_text("# Home\n\nSee [the page](page.md#usage) and [gone](gone.md).\n", encoding="utf-8")
    (guide / "page.md").write_text("# Page\n\n## Setup\n\n![shot](images/missing.png)\n[home](index.md#home)\n",
                                   encoding="utf-8")
    done = run_builder(tmp_path / "html", guide)
    assert done.returncode == 1
    problems = [line.strip() for line in done.stderr.splitlines()[1:]]
    assert len(problems) == 3, done.stderr
    assert any("page.md#usage" in p and "section" in p for p in problems)
    assert any("gone.md" in p or "gone.html" in p for p in problems)
    assert any("images/missing.png" in p for p in problems)
