"""The rendered course (tools/build_course.py, ``make course``): built from the stored notebooks,
every notebook has its page, the navigation links resolve, the figures are embedded."""

import importlib.util
import sys
from html.parser import HTMLParser
from pathlib import Path

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
    """Every <a> (href and rel, and whether inside the course's <nav>) and <img src> of a page."""

    def __init__(self, page: Path):
        super().__init__()
        self.anchors, self.images, self.title, self._in_nav, self._in_title = [], [], "", False, False
        self.feed(page.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav" and "course-nav" in (attrs.get("class") or ""):
            self._in_nav = True
        elif tag == "a":
            self.anchors.append((attrs.get("rel"), attrs.get("href"), self._in_nav))
        elif tag == "img":
            self.images.append(attrs.get("src") or "")
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_nav = self._in_nav and tag != "nav"
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data

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
