"""The committed notebooks: in sync with their py:percent sources, executed, warning-free, and
built to the course's template (goals, prerequisites, time; summary, exercises, a checked one)."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from course_lstm.layout import notebook_files

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = notebook_files(NOTEBOOKS, ".py")
EXECUTED = notebook_files(NOTEBOOKS, ".ipynb")


def test_every_source_has_its_executed_notebook_and_back():
    assert SOURCES, "no notebooks found"
    assert [p.stem for p in SOURCES] == [p.stem for p in EXECUTED]


def cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
class TestNotebook:
    def executed(self, source):
        return nbformat.read(source.with_suffix(".ipynb"), as_version=4)

    def test_in_sync_with_source(self, source):
        """The .ipynb nbval checks is the .py that reviewers read: run `make notebooks` after an edit."""
        assert cells(jupytext.read(source)) == cells(self.executed(source))

    def test_executed_in_order_without_errors_or_warnings(self, source):
        code = [cell for cell in self.executed(source).cells if cell.cell_type == "code"]
        assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
        for cell in code:
            for output in cell.outputs:
                assert output.output_type != "error", cell.source
                assert not (output.output_type == "stream" and output.name == "stderr"), (
                    f"stderr (a warning?) in a stored output:\n{cell.source}\n{output.text}"
                )

    def test_template(self, source):
        notebook = self.executed(source)
        opening = notebook.cells[0].source
        for heading in ("What you will learn", "Prerequisites", "Time"):
            assert heading in opening, f"the first cell should state {heading!r}"
        assert re.search(r"\d+ minutes", opening), "the first cell should give a time in minutes"
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        assert "## Summary" in markdown and "## Exercises" in markdown
        solutions = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
        assert solutions, "at least one exercise with a solution cell tagged 'solution'"
        assert all(c.source.lstrip().startswith("def ") for c in solutions), (
            "a solution cell holds one function, so the student copy can keep its signature"
        )
        assert any("check(" in c.source for c in notebook.cells if c.cell_type == "code")


FIT_CALL = re.compile(r"\bfit\(\s*([A-Za-z_][A-Za-z_0-9]*)(\.to\(profile\.device\))?")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_model_trained_here_is_on_the_profiles_device(source):
    """``fit`` trains where the model is: a model left on the CPU makes the gpu profile train on
    the CPU for hours. Each ``fit(model, ...)`` is ``fit(model.to(profile.device), ...)``, or the
    model was moved (``model = ....to(profile.device)``) before."""
    text = source.read_text(encoding="utf-8")
    for match in FIT_CALL.finditer(text):
        name, moved = match.groups()
        before = text[: match.start()]
        assignments = list(re.finditer(rf"^\s*{name} = (.*?)(?=^\S|^\s*[A-Za-z_]+ = )", before, re.M | re.S))
        placed = moved or (assignments and "profile.device" in assignments[-1].group(1))
        assert placed, f"{source.name}: fit({name}, ...) trains a model that was never moved to profile.device"
