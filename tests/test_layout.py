"""The project's layout: the notebook naming rule in one place, the version from the package's
metadata, a package that imports without PyTorch, and tools/ run as modules."""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import course_lstm
from course_lstm.layout import notebook_files


def test_notebook_files_are_the_numbered_ones_in_order(tmp_path):
    for name in ("01_b.py", "00_a.py", "notes.py", "1_c.py", "02_d.ipynb"):
        (tmp_path / name).write_text("")
    assert [p.name for p in notebook_files(tmp_path, ".py")] == ["00_a.py", "01_b.py"]
    assert [p.name for p in notebook_files(tmp_path, ".ipynb")] == ["02_d.ipynb"]
    with pytest.raises(ValueError, match=r"suffix must be '\.ipynb' or '\.py', got 'ipynb'"):
        notebook_files(tmp_path, "ipynb")


def test_the_version_is_the_installed_metadata():
    assert course_lstm.__version__ == version("course-lstm")


ROOT = Path(__file__).resolve().parents[1]
PATH_EDIT = re.compile(r"sys\.path\.(insert|append|extend)\(|sys\.path\s*=")


def test_no_script_or_test_edits_sys_path():
    """tools/ is a package run with ``python -m tools.<name>``; nothing patches the import path."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tools", "tests", "course_lstm")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PATH_EDIT.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize("tool", ["execute_notebooks", "build_course", "portability"])
def test_each_tool_runs_as_a_module_from_the_root(tool):
    done = subprocess.run(
        [sys.executable, "-m", f"tools.{tool}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


def test_importing_the_package_needs_no_torch_and_its_names_resolve():
    code = (
        "import sys, course_lstm\n"
        "assert 'torch' not in sys.modules, 'import course_lstm imported torch'\n"
        "import torch\n"
        "for name in course_lstm.__all__: getattr(course_lstm, name)\n"
        "assert set(course_lstm.__all__) <= set(dir(course_lstm))\n"
        "from course_lstm import LSTM\n"
        "from course_lstm.layers import LSTM as defined\n"
        "assert LSTM is defined\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="module 'course_lstm' has no attribute 'Lstm'"):
        course_lstm.Lstm  # noqa: B018


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_the_layers_and_cells_document_args_inputs_and_outputs_as_torch_does(name):
    doc = getattr(course_lstm, name).__doc__ or ""
    assert all(heading in doc for heading in ("Args:", "Inputs:", "Outputs:")), doc
