"""Build the course as a static HTML site (``make course``): one page per notebook, and an index.

Usage: python -m tools.build_course [--profile ci|cpu|gpu | --no-execute] [--out _build]
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbclient.exceptions import CellExecutionError

# nbconvert rather than Jupyter Book: it is already in the pinned environment (jupyterlab's server
# needs it), it builds offline, and it adds no Sphinx dependency tree to CI's install.
from nbconvert import HTMLExporter

from course_lstm.layout import NOTEBOOK_STEM, notebook_files
from course_lstm.profiles import ENVIRONMENT_VARIABLE, PROFILES
from tools.execute_notebooks import run

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATTERN = NOTEBOOK_STEM + ".ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Navigation bar and a marker on solution cells; nbconvert gives each cell a celltag_<tag> class.
STYLE = """<style>
.course-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 1em;
  margin: 0 0 1em 0; background: #f3f5f7; border-bottom: 1px solid #d0d7de; font: 14px sans-serif; }
.course-nav a { text-decoration: none; }
.celltag_solution { border-left: 4px solid #d4a017; }
.celltag_solution::before { content: "solution"; font: 11px sans-serif; color: #8a6d0b; padding-left: 4px; }
</style>
"""
# MathJax 2 from the pinned jupyter-server-mathjax package, copied into the site: nbconvert's template
# is written for MathJax 2 (its MathJax.Hub.Config block), and would fetch it from a CDN. The package
# has no CommonHTML output, so the pages use the HTML-CSS output with its STIX-Web fonts.
MATHJAX_PACKAGE = "jupyter_server_mathjax"
MATHJAX_FOLDER = "mathjax"
MATHJAX_URL = f"{MATHJAX_FOLDER}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
# What the pages load, now or on demand (a TeX extension, a glyph, the menu), out of the package's 12 MB:
# left out are other languages, the SVG output's fonts, MathML input, and the a11y menu's explorer.
MATHJAX_FILES = (
    "LICENSE",
    "MathJax.js",
    "config/TeX-AMS-MML_HTMLorMML-full.js",  # TeX input, HTML-CSS output, menus and their extensions
    "config/Safe.js",
    "extensions/*.js",
    "extensions/HTML-CSS/*.js",
    "extensions/TeX/**/*.js",
    "jax/element/mml/optable/*.js",
    "jax/output/HTML-CSS/**/*.js",
    "fonts/HTML-CSS/STIX-Web/woff/*.woff",
    "localization/en/*.js",
)
# nbconvert's lab template with nothing fetched from the web: no require.js (no page has widget state
# or JavaScript outputs), no Mermaid loader (no notebook has a diagram), and MathJax told to use the
# fonts the package has: the hidden MathML it adds for screen readers would ask for its TeX fonts.
TEMPLATE_NAME = "course_lstm.html.j2"
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}},
    AssistiveMML: {styles: {".MJX_Assistive_MathML *": {"font-family": "inherit!important"}}}
});
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
"""


@dataclass(frozen=True)
class Page:
    """One notebook of the course: its file, title, the learner's time, and how long it executed."""

    source: Path
    title: str
    minutes: int | None
    seconds: float | None

    @property
    def html_name(self) -> str:
        return self.source.with_suffix(".html").name


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks, NN_name.ipynb, in course order; ValueError when there are none."""
    found = notebook_files(folder, ".ipynb")
    if not found:
        raise ValueError(f"expected notebooks named {PATTERN} in {folder}, found none")
    return found


def title_of(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading of the notebook ("00 · Start here"), else ``fallback``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return fallback


def minutes_of(notebook: nbformat.NotebookNode) -> int | None:
    """The learner's time the opening cell states ("about 40 minutes"), if it states one."""
    match = re.search(r"(\d+)\s+minutes", notebook.cells[0].source) if notebook.cells else None
    return int(match.group(1)) if match else None


def static_widgets(notebook: nbformat.NotebookNode) -> None:
    """Show each widget as the fallback saved with it (its figure, or its text), in place.

    A widget needs a kernel to do anything, and its embedded form loads JavaScript from a CDN;
    the fallback is what the widget showed when the notebook ran, and it works offline.
    """
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]


def navigation(pages: list[Page], index: int) -> str:
    """The bar on page ``index``: previous notebook, the course index, next notebook."""

    def link(rel: str, target: str, text: str) -> str:
        return f'<a rel="{rel}" href="{html.escape(target)}">{html.escape(text)}</a>'

    previous = link("prev", pages[index - 1].html_name, f"← {pages[index - 1].title}") if index > 0 else "<span></span>"
    following = (
        link("next", pages[index + 1].html_name, f"{pages[index + 1].title} →")
        if index + 1 < len(pages)
        else "<span></span>"
    )
    middle = (
        link("index", "index.html", "Course index")
        + " · "
        + link("alternate", pages[index].source.name, "download this notebook")
    )
    return f'<nav class="course-nav">{previous}<span>{middle}</span>{following}</nav>\n'


def with_navigation(page_html: str, nav: str) -> str:
    """``page_html`` with the style in its head and ``nav`` at the top and bottom of its body."""
    body = re.search(r"<body[^>]*>", page_html)
    end = page_html.rfind("</body>")
    if body is None or end < body.end():
        raise ValueError("expected a full HTML page with a <body> element from nbconvert")
    head_end = page_html.find("</head>")
    return (
        page_html[:head_end]
        + STYLE
        + page_html[head_end : body.end()]
        + "\n"
        + nav
        + page_html[body.end() : end]
        + nav
        + page_html[end:]
    )


def mathjax_source() -> Path:
    """The MathJax folder of the installed jupyter-server-mathjax; LookupError when it is missing."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"expected the {MATHJAX_PACKAGE} package (make setup installs it), found none")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def mathjax_version(folder: Path) -> str:
    """The version MathJax.js in ``folder`` states ("2.7.9")."""
    match = re.search(r'MathJax\.version="([^"]+)"', (folder / "MathJax.js").read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"expected MathJax.version in {folder / 'MathJax.js'}")
    return match.group(1)


def copy_mathjax(out: Path, source: Path | None = None) -> int:
    """Replace ``out``/mathjax with the MATHJAX_FILES of ``source``; returns the bytes copied."""
    source = mathjax_source() if source is None else source
    target = out / MATHJAX_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    size = 0
    for pattern in MATHJAX_FILES:
        found = sorted(path for path in source.glob(pattern) if path.is_file())
        if not found:
            raise FileNotFoundError(f"expected MathJax files {pattern} in {source}, found none")
        for path in found:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            size += path.stat().st_size
    return size


def index_html(pages: list[Page], profile: str | None, mathjax: str) -> str:
    """The course's front page: every notebook with its learner time and execution time; ``mathjax``
    is the version of the MathJax in the site."""
    ran = (
        f"executed in the <code>{html.escape(profile)}</code> profile by <code>make course</code>"
        if profile
        else "outputs as committed (executed in the <code>ci</code> profile)"
    )
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(p.html_name)}">{html.escape(p.title)}</a></td>'
        f"<td>{f'{p.minutes} min' if p.minutes else ''}</td>"
        f"<td>{f'{p.seconds:.0f} s' if p.seconds is not None else ''}</td></tr>"
        for p in pages
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>course-lstm</title>
<style>body {{ font: 16px/1.5 sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 0.3em 1em; border-bottom: 1px solid #ddd; text-align: left; }}</style>
</head><body>
<h1>course-lstm</h1>
<p>An LSTM built from its gates, and the claims about LSTMs tested against a vanilla RNN.
Each page is a notebook, {ran}; equations are typeset offline, by the MathJax {html.escape(mathjax)} in
<code>{MATHJAX_FOLDER}/</code>.</p>
<table><tr><th>notebook</th><th>your time</th><th>executes in</th></tr>
{rows}
</table>
<p><a rel="next" href="{html.escape(pages[0].html_name)}">Start: {html.escape(pages[0].title)} →</a></p>
</body></html>
"""


def build(sources: list[Path], out: Path, profile: str | None, timeout: int = 1800) -> list[Page]:
    """Render ``sources`` into the site in ``out``; execute them first in ``profile`` unless None.

    Writes index.html, NN_name.html (figures embedded, prev / index / next links), the executed
    NN_name.ipynb and mathjax/ (the pages' MathJax); None renders the stored outputs (the ci
    profile's). Returns the pages in course order. Raises ValueError for no sources or an unknown
    profile, LookupError when jupyter-server-mathjax is not installed.
    """
    if not sources:
        raise ValueError("expected at least one notebook to build, got none")
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"expected a profile among {', '.join(PROFILES)}, got {profile!r}")
    if profile is not None:
        os.environ[ENVIRONMENT_VARIABLE] = profile  # the kernels inherit it
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out)  # first: a missing package fails before any notebook runs
    notebooks, pages = [], []
    for source in sources:
        notebook = nbformat.read(source, as_version=4)
        seconds = None
        if profile is not None:
            try:
                seconds = run(notebook, source.parent, timeout)
            except CellExecutionError as error:
                raise RuntimeError(f"{source.name} failed in the {profile} profile:\n{error}") from None
            print(f"{source.name:<32} {seconds:6.1f} s", flush=True)
        notebooks.append(notebook)
        pages.append(Page(source, title_of(notebook, source.stem), minutes_of(notebook), seconds))
    # embed_images: a markdown image becomes a data URI too, so the site is self-contained.
    exporter = HTMLExporter(
        template_name="lab",
        template_file=TEMPLATE_NAME,
        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
        mathjax_url=MATHJAX_URL,
        embed_images=True,
    )
    for number, (notebook, page) in enumerate(zip(notebooks, pages, strict=True)):
        nbformat.write(notebook, out / page.source.name)  # with its widgets, for JupyterLab
        static_widgets(notebook)
        resources = {"metadata": {"name": page.title, "path": str(page.source.parent)}}
        body, _ = exporter.from_notebook_node(notebook, resources=resources)
        (out / page.html_name).write_text(with_navigation(body, navigation(pages, number)), encoding="utf-8")
    (out / "index.html").write_text(index_html(pages, profile, mathjax_version(out / MATHJAX_FOLDER)), encoding="utf-8")
    return pages


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=list(PROFILES), default="ci", help="profile to execute in (default: ci)")
    parser.add_argument("--no-execute", action="store_true", help="render the stored outputs, execute nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "_build", help="site folder (default: _build/)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run (default: 1800)")
    args = parser.parse_args(argv)
    pages = build(course_notebooks(), args.out, None if args.no_execute else args.profile, args.timeout)
    print(f"{len(pages)} notebook pages and index.html in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
