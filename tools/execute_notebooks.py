"""Execute the course notebooks in the ci profile and store their outputs (``make notebooks``).

The source of each notebook is its py:percent twin (notebooks/NN_name.py, reviewable as a
diff); this writes notebooks/NN_name.ipynb with fresh outputs, the file nbval compares.
Usage: python -m tools.execute_notebooks [notebooks/01_recurrent_step.py ...]
       python -m tools.execute_notebooks --profile cpu --out _build/cpu [notebooks/06_rnn_vs_lstm.py]
(the second form times a larger profile and writes its notebooks to --out, leaving the committed
ci outputs alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from course_lstm.layout import notebook_files

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def run(notebook: nbformat.NotebookNode, folder: Path, timeout: int = 600) -> float:
    """Execute every cell of ``notebook`` in place, in ``folder``, with the python3 kernel and no
    timing metadata (the profile comes from the environment); return the seconds it took."""
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    return time.perf_counter() - start


def execute(source: Path, out_dir: Path | None = None) -> float:
    """Run one notebook from its .py source and write the .ipynb beside it (or into ``out_dir``);
    return the seconds it took."""
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"  # jupytext draws random ids: the diff would change every run
    seconds = run(notebook, source.parent)
    target = source.with_suffix(".ipynb") if out_dir is None else out_dir / f"{source.stem}.ipynb"
    jupytext.write(notebook, target)
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks (.py or .ipynb); default: all")
    parser.add_argument("--profile", default="ci", help="ci (default), cpu or gpu")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the executed notebooks here (needed "
        "unless the profile is ci: the committed outputs are the ci ones)",
    )
    args = parser.parse_args(argv)
    if args.profile != "ci" and args.out is None:
        parser.error("--out is required with a profile other than ci")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_LSTM_PROFILE"] = args.profile
    sources = [Path(p).with_suffix(".py") for p in args.paths] or notebook_files(NOTEBOOKS, ".py")
    for source in sources:
        print(f"{source.name:<32} {execute(source, args.out):6.1f} s  ({args.profile} profile)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
