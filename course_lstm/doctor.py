"""``python -m course_lstm doctor``: whether the course will run here, and how to fix what is missing.

It needs only the standard library, so it runs (and says what to install) in an environment
where PyTorch, or anything else the course needs, does not import.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import shlex
import sys
from dataclasses import dataclass

PYTHON_FIX = "in the course folder run `make clean`, then `make setup PYTHON=/path/to/python3.11` (a new .venv)"


@dataclass(frozen=True)
class Piece:
    """One package the course needs: the name doctor prints, the module it imports, the
    distribution pip installs, and what it is for."""

    what: str
    module: str
    distribution: str
    role: str


PIECES = (
    Piece("PyTorch", "torch", "torch", "every notebook"),
    Piece("NumPy", "numpy", "numpy", "the notebooks and the explorers"),
    Piece("matplotlib", "matplotlib", "matplotlib", "every figure"),
    Piece("tqdm", "tqdm", "tqdm", "training and the experiments"),
    Piece("ipywidgets", "ipywidgets", "ipywidgets", "the explorers' sliders"),
    Piece("joblib", "joblib", "joblib", "the study's parallel, cached runs"),
    Piece("JupyterLab", "jupyterlab", "jupyterlab", "opening the notebooks"),
    Piece("widgets frontend", "jupyterlab_widgets", "jupyterlab_widgets", "showing the sliders in JupyterLab"),
    Piece("ipykernel", "ipykernel", "ipykernel", "running the notebooks"),
    Piece("Jupytext", "jupytext", "jupytext", "pairing each notebook with its .py"),
    Piece("nbformat", "nbformat", "nbformat", "the student copies"),
    Piece("nbclient", "nbclient", "nbclient", "make notebooks and make course"),
    Piece("nbconvert", "nbconvert", "nbconvert", "make course"),
    Piece("MathJax", "jupyter_server_mathjax", "jupyter-server-mathjax", "make course (equations typeset offline)"),
    Piece("pytest", "pytest", "pytest", "make test"),
    Piece("nbval", "nbval", "nbval", "make test (the notebooks)"),
    Piece("pytest-xdist", "xdist", "pytest-xdist", "make test on every core"),
    Piece("Hypothesis", "hypothesis", "hypothesis", "make test"),
    Piece("PyYAML", "yaml", "PyYAML", "make test"),
    Piece("expecttest", "expecttest", "expecttest", "make test (PyTorch's own module test inputs)"),
)
"""What pyproject.toml installs (dependencies, the course and test extras; not the maintainers'
lint tools); doctor imports each one."""


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _install_fix(piece: Piece) -> str:
    pip = f"{shlex.quote(sys.executable)} -m pip install -c constraints.txt {piece.distribution}"
    return f"fix: in the course folder, `{pip}` (or `make setup` for a new .venv)"


def _check_piece(piece: Piece) -> tuple[str, bool, str]:
    try:
        importlib.import_module(piece.module)
    except Exception as error:  # ImportError, or whatever a broken install raises
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        return (
            piece.what,
            False,
            f"{piece.module} does not import ({reason}); needed for {piece.role}; {_install_fix(piece)}",
        )
    version = _version(piece.distribution)
    if version is None:
        return (
            piece.what,
            False,
            f"{piece.distribution} is not installed; needed for {piece.role}; {_install_fix(piece)}",
        )
    return piece.what, True, version


def doctor_report() -> list[tuple[str, bool, str]]:
    """(what, ok, detail or fix) for everything the course needs: Python, each of ``PIECES``
    (imported, not only looked up), the device and the profile."""
    checks = []
    python = platform.python_version()
    right_python = sys.version_info[:2] == (3, 11) and sys.version_info[2] >= 5
    checks.append(
        ("Python", right_python, python if right_python else f"{python}; the course needs 3.11.5+: {PYTHON_FIX}")
    )
    for piece in PIECES:
        checks.append(_check_piece(piece))
        if piece.module == "torch" and checks[-1][1]:
            import torch

            if torch.cuda.is_available():
                device = f"CUDA GPU: {torch.cuda.get_device_name(0)}"
            elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                device = "Apple GPU (MPS)"
            else:
                device = "CPU only (fine: every notebook runs on a CPU in the cpu and ci profiles)"
            checks.append(("Device", True, device))
    try:
        from course_lstm import profiles  # it needs torch, which may be what is missing
    except ImportError as error:
        checks.append(("Profile", False, f"cannot be checked until PyTorch imports ({error}); see PyTorch above"))
        return checks
    try:
        profile = profiles.active_profile()
        profiles.threads_wanted(profile)
        checks.append(("Profile", True, f"{profile.name} (set {profiles.ENVIRONMENT_VARIABLE}=ci|cpu|gpu to change)"))
    except ValueError as error:
        checks.append(("Profile", False, str(error)))
    return checks


def doctor() -> int:
    """Print ``doctor_report()``; 0 when everything is there, 1 otherwise."""
    report = doctor_report()
    width = max(len(what) for what, _, _ in report)
    for what, ok, detail in report:
        print(f"{'ok ' if ok else 'FIX'}  {what:<{width}}  {detail}")
    missing = sum(not ok for _, ok, _ in report)
    print("Everything the course needs is here." if not missing else f"{missing} thing(s) to fix, see FIX above.")
    return 0 if not missing else 1
