"""The rendered course (tools/build_course.py, ``make course``): built from the stored notebooks,
every notebook has its page, the navigation links resolve, the figures are embedded, and every
script comes from the site itself: MathJax from its copy in mathjax/, nothing from the web.
tests/browser/site.mjs (``make test-browser``) checks that the equations are typeset offline."""

import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from course_lstm.layout import notebook_files

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("build_course", ROOT / "tools" / "build_course.py")
build_course = importlib.util.module_from_spec(SPEC)
sys.modules["build_course"] = build_course  # dataclasses look their module up there
SPEC.loader.exec_module(build_course)

SOURCES = notebook_files(ROOT / "notebooks", ".ipynb")


class Links(HTMLParser):
    """Every <a> (href and rel, and whether inside the course's <nav>), <img src>, stylesheet <link>
    and <script> (its src, else its text) of a page."""

    def __init__(self, page: Path):
        super().__init__()
        self.anchors, self.images, self.title, self._in_nav, self._in_title = [], [], "", False, False
        self.scripts, self.stylesheets, self._script = [], [], None
        self.feed(page.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav" and "course-nav" in (attrs.get("class") or ""):
            self._in_nav = True
        elif tag == "a":
            self.anchors.append((attrs.get("rel"), attrs.get("href"), self._in_nav))
        elif tag == "img":
            self.images.append(attrs.get("src") or "")
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets.append(attrs.get("href") or "")
        elif tag == "script":
            self._script = {"src": attrs.get("src"), "type": attrs.get("type"), "text": ""}
            self.scripts.append(self._script)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_nav = self._in_nav and tag != "nav"
        self._in_title = False
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._script is not None:
            self._script["text"] += data

    def nav(self, rel):
        return sorted({href for r, href, in_nav in self.anchors if in_nav and r == rel})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = build_course.build(build_course.course_notebooks(), out, profile=None)
    return out, pages


def test_every_notebook_has_a_page_and_the_index_links_them_in_order(site):
    out, pages = site
    assert SOURCES, "no notebooks found"
    assert [p.source for p in pages] == SOURCES
    for source in SOURCES:
        assert (out / source.with_suffix(".html").name).is_file()
        assert (out / source.name).is_file(), "the notebook itself, to download"
    index = Links(out / "index.html")
    linked = [href for rel, href, _ in index.anchors if rel is None]
    assert linked == [s.with_suffix(".html").name for s in SOURCES]


@pytest.mark.parametrize("number", range(len(SOURCES)), ids=[s.stem for s in SOURCES])
def test_page_has_its_title_navigation_and_embedded_figures(site, number):
    out, _pages = site
    source = SOURCES[number]
    page = Links(out / source.with_suffix(".html").name)
    notebook = nbformat.read(source, as_version=4)
    assert page.title == build_course.title_of(notebook, "?") != "?"
    # The bar is at the top and the bottom: both copies point to the same places.
    expected_prev = [SOURCES[number - 1].with_suffix(".html").name] if number > 0 else []
    expected_next = [SOURCES[number + 1].with_suffix(".html").name] if number + 1 < len(SOURCES) else []
    assert page.nav("prev") == expected_prev
    assert page.nav("next") == expected_next
    assert page.nav("index") == ["index.html"]
    for rel, href, in_nav in page.anchors:
        if in_nav:
            assert (out / href).is_file(), f"{rel} link {href} does not resolve"
    figures = sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert len(page.images) >= figures, "a figure of the notebook is missing"
    assert all(src.startswith("data:image/png;base64,") for src in page.images), "figures embedded, not linked"
    assert build_course.WIDGET_VIEW not in (out / source.with_suffix(".html").name).read_text(encoding="utf-8")


PAGES = [s.with_suffix(".html").name for s in SOURCES]
WEB = re.compile(r"^(https?:)?//", re.IGNORECASE)


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_mathjax_from_the_copy_in_the_site(site, name):
    out, _pages = site
    sources = [script["src"] for script in Links(out / name).scripts if script["src"]]
    mathjax = [src for src in sources if src.split("?")[0].endswith("MathJax.js")]
    assert len(mathjax) == 1, f"expected one MathJax script, found {mathjax}"
    url = urlsplit(mathjax[0])
    assert not url.scheme and not url.netloc and not url.path.startswith("/"), f"{mathjax[0]} is not relative"
    assert url.path == f"{build_course.MATHJAX_FOLDER}/MathJax.js"
    assert (out / url.path).is_file()
    # Each configuration named in ?config= is a file of the copy, as MathJax will ask for it.
    configs = parse_qs(url.query)["config"][0].split(",")
    assert configs and "Safe" in configs, "the Safe extension: notebook markdown may hold HTML"
    for config in configs:
        assert (out / build_course.MATHJAX_FOLDER / "config" / f"{config}.js").is_file(), config


@pytest.mark.parametrize("name", [*PAGES, "index.html"])
def test_no_page_loads_a_script_or_a_stylesheet_from_the_web(site, name):
    out, _pages = site
    page = Links(out / name)
    for script in page.scripts:
        assert not WEB.match(script["src"] or ""), f"a script from the web: {script['src']}"
        # An inline loader (nbconvert's require.js, Mermaid or widgets blocks) would fetch one too.
        assert not re.search(r"https?://", script["text"]), f"a script names a URL: {script['text'][:200]}"
        if script["src"]:
            assert (out / urlsplit(script["src"]).path).is_file(), f"{script['src']} is not in the site"
    assert not any(WEB.match(href) for href in page.stylesheets), page.stylesheets


def test_the_mathjax_copy_is_small_and_named_on_the_index(site):
    out, _pages = site
    folder = out / build_course.MATHJAX_FOLDER
    files = [path for path in folder.rglob("*") if path.is_file()]
    # What the pages need, not the package's 12 MB: the STIX-Web fonts are half of it.
    assert 1_000_000 < sum(path.stat().st_size for path in files) < 4_000_000
    assert (folder / "LICENSE").is_file(), "MathJax's licence travels with it"
    assert any(path.suffix == ".woff" for path in files), "the HTML-CSS output's web fonts"
    version = build_course.mathjax_version(folder)
    assert re.fullmatch(r"2\.\d+\.\d+", version), "nbconvert's MathJax configuration is MathJax 2's"
    assert f"typeset offline, by the MathJax {version}" in (out / "index.html").read_text(encoding="utf-8")
    # A second build replaces the copy: the same files, nothing left over.
    (folder / "stale.js").write_text("")
    assert build_course.copy_mathjax(out) == sum(path.stat().st_size for path in files)
    assert sorted(path for path in folder.rglob("*") if path.is_file()) == sorted(files)


def test_the_mathjax_copy_needs_its_package(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="expected MathJax files LICENSE in"):
        build_course.copy_mathjax(tmp_path / "site", source=tmp_path)
    monkeypatch.setattr(build_course, "MATHJAX_PACKAGE", "no_such_mathjax_package")
    with pytest.raises(LookupError, match="expected the no_such_mathjax_package package"):
        build_course.mathjax_source()


def test_a_widget_becomes_its_saved_figure():
    notebook = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    figure = {build_course.WIDGET_VIEW: {"model_id": "m"}, "image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    progress = {build_course.WIDGET_VIEW: {"model_id": "p"}}
    outputs = [nbformat.v4.new_output("display_data", data=data) for data in (figure, progress)]
    notebook.cells = [nbformat.v4.new_code_cell(outputs=outputs)]
    build_course.static_widgets(notebook)
    assert "widgets" not in notebook.metadata
    kept = [sorted(output.data) for output in notebook.cells[0].outputs]
    assert kept == [["image/png", "text/plain"], [build_course.WIDGET_VIEW]]


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="got none"):
        build_course.build([], tmp_path, profile=None)
    with pytest.raises(ValueError, match="expected a profile among ci, cpu, gpu, got 'laptop'"):
        build_course.build(SOURCES[:1], tmp_path, profile="laptop")
    with pytest.raises(ValueError, match="found none"):
        build_course.course_notebooks(tmp_path)
