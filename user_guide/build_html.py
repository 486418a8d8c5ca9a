#!/usr/bin/env python3
"""Render the user guide (every ``user_guide/*.md``) into HTML pages with a navigation sidebar.

    python3 user_guide/build_html.py               # into user_guide/html/
    python3 user_guide/build_html.py --out DIR     # elsewhere

Links between pages (``page.md``, ``page.md#section``) become links between the HTML pages;
images are copied beside them. A link to a page or a section that does not exist, a link out of
the guide that cannot work from the HTML folder, or a missing image fails the build: the
problems are listed and the exit status is 1, so the guide cannot ship broken. Needs the
``markdown`` package (``pip install -e .[dev]``).
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

GUIDE = Path(__file__).resolve().parent
EXTENSIONS = ["tables", "fenced_code", "toc", "sane_lists"]
EXTERNAL = ("http", "https", "mailto")


@dataclass
class Page:
    source: Path
    title: str
    body: str = ""
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)  # href values, after .md → .html
    images: list[str] = field(default_factory=list)  # src values

    @property
    def name(self) -> str:
        return self.source.stem + ".html"


class _Refs(HTMLParser):
    """Collects the ids, link targets and image sources of one rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href") is not None:
            self.links.append(values["href"])
        if tag == "img" and values.get("src") is not None:
            self.images.append(values["src"])


def _title(text: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else fallback


def _md_links_to_html(rendered: str) -> str:
    """``href="page.md#x"`` → ``href="page.html#x"`` for relative links (absolute URLs untouched)."""
    return re.sub(r'href="(?![a-z]+:)([^"#]*?)\.md(#[^"]*)?"', lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', rendered)


def _as_written(href: str) -> str:
    """A rendered relative link as the author wrote it in Markdown (``page.html#x`` → ``page.md#x``)."""
    return re.sub(r"^([^:#]*?)\.html(?=#|$)", r"\1.md", href)


def render(source: Path) -> Page:
    import markdown

    text = source.read_text(encoding="utf-8")
    body = _md_links_to_html(markdown.markdown(text, extensions=EXTENSIONS, output_format="html"))
    refs = _Refs()
    refs.feed(body)
    return Page(source, _title(text, source.stem.replace("_", " ").capitalize()), body, refs.ids, refs.links, refs.images)


def page_order(pages: dict[str, Page]) -> list[Page]:
    """The index first, then the pages in the order the index links them, then the rest by name."""
    ordered = [pages["index.html"]] if "index.html" in pages else []
    for href in ordered[0].links if ordered else []:
        target = urlsplit(href).path
        if target in pages and pages[target] not in ordered:
            ordered.append(pages[target])
    ordered += [p for name, p in sorted(pages.items()) if p not in ordered]
    return ordered


def check(pages: dict[str, Page], guide: Path) -> list[str]:
    """Every problem that would break a reader's click or picture, one line each."""
    problems = []
    for page in pages.values():
        where = page.source.name
        for href in page.links:
            parts, shown = urlsplit(href), _as_written(href)
            if parts.scheme in EXTERNAL:
                continue
            if parts.scheme:
                problems.append(f"{where}: link {shown!r} uses an unsupported scheme")
                continue
            target = pages.get(unquote(parts.path)) if parts.path else page
            if target is None:
                problems.append(f"{where}: link {shown!r} points to no page of the guide")
            elif parts.fragment and parts.fragment not in target.ids:
                problems.append(f"{where}: link {shown!r} points to a section {target.source.name} does not have")
        for src in page.images:
            parts = urlsplit(src)
            if parts.scheme:
                problems.append(f"{where}: image {src!r} is not a file of the guide")
                continue
            path = (guide / unquote(parts.path)).resolve()
            if not path.is_relative_to(guide) or not path.is_file():
                problems.append(f"{where}: image {src!r} is missing")
    return problems


STYLE = """
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2125;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;box-sizing:border-box;width:250px;flex:none;
padding:20px 16px;background:#23272e;color:#d7dae0}
nav a{display:block;color:#d7dae0;text-decoration:none;padding:5px 8px;border-radius:4px;font-size:15px}
nav a:hover{background:#343a43}nav a.here{background:#3d6fb4;color:#fff}
nav .brand{font-weight:600;font-size:18px;margin:0 0 12px 8px;color:#fff}
main{max-width:920px;padding:24px 40px 60px;box-sizing:border-box;min-width:0}
img{max-width:100%;border:1px solid #ccd;border-radius:4px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #d0d4da;padding:5px 9px;vertical-align:top}
th{background:#eef1f4}code{background:#eef1f4;padding:1px 4px;border-radius:3px;font-size:90%}
pre{background:#23272e;color:#e6e6e6;padding:12px;border-radius:5px;overflow:auto}pre code{background:none;color:inherit}
h1{margin-top:8px}a{color:#1f5fa8}
"""


def html_page(page: Page, order: list[Page]) -> str:
    here = ' class="here"'
    links = "\n".join(f'<a href="{p.name}"{here if p is page else ""}>{html.escape(p.title)}</a>' for p in order)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(page.title)} — Anatomark user guide</title><style>{STYLE}</style></head>\n"
            f'<body><nav><div class="brand">Anatomark guide</div>\n{links}\n</nav>\n<main>\n{page.body}\n</main></body></html>\n')


def build(out: Path, guide: Path = GUIDE) -> list[str]:
    """Render ``guide/*.md`` into ``out``; returns the problems (empty: the guide is whole)."""
    sources = sorted(guide.glob("*.md"))
    if not sources:
        return [f"no Markdown pages in {guide}"]
    pages = {p.name: p for p in map(render, sources)}
    problems = check(pages, guide.resolve())
    out.mkdir(parents=True, exist_ok=True)
    order = page_order(pages)
    for page in order:
        (out / page.name).write_text(html_page(page, order), encoding="utf-8")
        for src in page.images:
            source = (guide / unquote(urlsplit(src).path)).resolve()
            if source.is_file() and source.is_relative_to(guide.resolve()):
                target = out / unquote(urlsplit(src).path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Render the user guide into HTML; fail on broken links or images.")
    parser.add_argument("--out", type=Path, default=GUIDE / "html", help="output folder (default: user_guide/html)")
    parser.add_argument("--guide", type=Path, default=GUIDE, help="folder of the Markdown pages (default: this one)")
    args = parser.parse_args(argv)
    try:
        import markdown  # noqa: F401
    except ImportError:
        print("build_html: needs the markdown package: python3 -m pip install -e '.[dev]'", file=sys.stderr)
        return 2
    problems = build(args.out, args.guide)
    if problems:
        print(f"build_html: {len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"build_html: {len(list(args.guide.glob('*.md')))} pages in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
