"""Where the course's notebooks are and how they are named: ``NN_name`` (two digits, in order)."""

from __future__ import annotations

from pathlib import Path

NOTEBOOK_STEM = "[0-9][0-9]_*"
"""The glob a course notebook's name matches, without its suffix: 00_start_here, 01_..."""


def notebook_files(folder: str | Path, suffix: str) -> list[Path]:
    """The course notebooks in ``folder`` with ``suffix`` (".ipynb" or ".py"), in course order."""
    if suffix not in (".ipynb", ".py"):
        raise ValueError(f"suffix must be '.ipynb' or '.py', got {suffix!r}")
    return sorted(Path(folder).glob(NOTEBOOK_STEM + suffix))
