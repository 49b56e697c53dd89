"""Execute the course notebooks in the ci profile and store their outputs (``make notebooks``).

The source of each notebook is its py:percent twin (notebooks/NN_name.py, reviewable as a
diff); this writes notebooks/NN_name.ipynb with fresh outputs, the file nbval compares.
Usage: python tools/execute_notebooks.py [notebooks/01_recurrent_step.py ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def run(notebook: nbformat.NotebookNode, folder: Path, timeout: int = 600) -> float:
    """Execute every cell of ``notebook`` in place, in ``folder``, with the python3 kernel and no
    timing metadata (the profile comes from the environment); return the seconds it took."""
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    return time.perf_counter() - start


def execute(source: Path) -> float:
    """Run one notebook from its .py source, write the .ipynb beside it; return the seconds."""
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"  # jupytext draws random ids: the diff would change every run
    seconds = run(notebook, source.parent)
    jupytext.write(notebook, source.with_suffix(".ipynb"))
    return seconds


def main(paths: list[str]) -> int:
    os.environ["COURSE_LSTM_PROFILE"] = "ci"
    sources = [Path(p).with_suffix(".py") for p in paths] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    for source in sources:
        print(f"{source.name:<32} {execute(source):6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
