"""The notebook naming rule, in one place, and the version from the package's metadata."""

from importlib.metadata import version

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
