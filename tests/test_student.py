"""Student copies: solutions become stubs with their signature and docstring, nothing of the
solution survives, and each copy runs up to its first exercise and stops there."""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lstm import cli
from course_lstm.checks import check
from course_lstm.layout import notebook_files
from course_lstm.student import EXERCISE_TAG, SOLUTION_TAG, stub_source, student_copy, write_student_copies

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = notebook_files(NOTEBOOKS, ".ipynb")


def tagged(notebook, tag):
    return [i for i, cell in enumerate(notebook.cells) if tag in cell.metadata.get("tags", [])]


def function_of(source):
    (function,) = ast.parse(source).body
    return function


def body_lines(source):
    """The solution's own lines: everything after the signature and docstring, stripped."""
    function = function_of(source)
    body = function.body[1:] if ast.get_docstring(function) is not None else function.body
    lines = source.splitlines()[body[0].lineno - 1 : function.end_lineno]
    return {line.strip() for line in lines if line.strip()}


def checked_name(notebook, function_name):
    """The exercise name in the notebook's ``check("name", function_name)`` call."""
    call = re.compile(rf"""check\(\s*["'](\w+)["']\s*,\s*{function_name}\s*\)""")
    for index, cell in enumerate(notebook.cells):
        match = call.search(cell.source) if cell.cell_type == "code" else None
        if match:
            return index, match.group(1)
    raise AssertionError(f'no check("...", {function_name}) cell for the exercise {function_name}')


# --- the stub of one solution cell -----------------------------------------------------------


SOLUTION = '''# a comment above is kept
def step(
    x: torch.Tensor,  # (N, I)
    table: dict[str, int] = {"a": 1},
    f=lambda y: y,
) -> tuple[torch.Tensor, int]:
    """Docstring with a shape: x (N, I) -> (N, H). Unicode · kept."""
    # a hint inside the body is part of the solution
    hidden = x * 2
    return hidden, 1
# a comment after the function
'''


def test_stub_keeps_signature_and_docstring_and_drops_the_body():
    stub = stub_source(SOLUTION)
    assert stub.startswith("# a comment above is kept\ndef step(\n    x: torch.Tensor,  # (N, I)\n")
    assert '    """Docstring with a shape: x (N, I) -> (N, H). Unicode · kept."""\n' in stub
    for gone in ("hint", "hidden", "return", "comment after"):
        assert gone not in stub
    original, stubbed = function_of(SOLUTION), function_of(stub)
    assert ast.dump(stubbed.args) == ast.dump(original.args)
    assert ast.dump(stubbed.returns) == ast.dump(original.returns)
    assert ast.get_docstring(stubbed) == ast.get_docstring(original)
    assert [type(s) for s in stubbed.body] == [ast.Expr, ast.Expr, ast.Raise]


def test_stub_raises_not_implemented_error_naming_the_exercise():
    namespace = {"torch": torch}
    exec(stub_source(SOLUTION), namespace)
    with pytest.raises(NotImplementedError, match="write step"):
        namespace["step"](torch.zeros(1, 1))


@pytest.mark.parametrize(
    "solution, expected",
    [
        (
            "def f(x): return x + 1\n",
            'def f(x):\n    ...  # your code here\n    raise NotImplementedError("exercise: write f")\n',
        ),
        (
            'def f(x): """Doc."""; return x\n',
            'def f(x):\n    """Doc."""\n    ...  # your code here\n'
            '    raise NotImplementedError("exercise: write f")\n',
        ),
        (
            "@decorator\ndef f(x):\n\treturn x\n",
            '@decorator\ndef f(x):\n\t...  # your code here\n\traise NotImplementedError("exercise: write f")\n',
        ),
        (
            "async def f(x):\n    return await x\n",
            'async def f(x):\n    ...  # your code here\n    raise NotImplementedError("exercise: write f")\n',
        ),
    ],
)
def test_stub_of_unusual_layouts(solution, expected):
    assert stub_source(solution) == expected


@pytest.mark.parametrize(
    "source, message",
    [
        ("def f():\n    return 1\n\ndef g():\n    return 2\n", "FunctionDef, FunctionDef"),
        ("class A:\n    pass\n", "ClassDef"),
        ("x = 1\n", "Assign"),
        ("", "nothing"),
        ("def f(:\n", "syntax error"),
    ],
)
def test_a_solution_cell_must_hold_one_function(source, message):
    with pytest.raises(ValueError, match=message):
        stub_source(source)


def test_student_copy_refuses_what_is_not_a_notebook():
    with pytest.raises(TypeError, match="NotebookNode, got dict"):
        student_copy({"cells": []})


def test_write_student_copies_needs_notebooks(tmp_path):
    with pytest.raises(ValueError, match="found none"):
        write_student_copies(tmp_path, tmp_path / "student")


# --- the student copies of the course ---------------------------------------------------------


@pytest.fixture(scope="module")
def student_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert cli.main(["student", "--notebooks", str(NOTEBOOKS), "--out", str(out)]) == 0
    return out


def read_pair(source, student_folder):
    return nbformat.read(source, as_version=4), nbformat.read(student_folder / source.name, as_version=4)


def test_one_student_copy_per_notebook(student_folder):
    assert SOURCES, "no notebooks found"
    assert sorted(p.name for p in student_folder.glob("*.ipynb")) == [p.name for p in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
class TestStudentCopy:
    def test_only_solutions_change_and_outputs_are_cleared(self, source, student_folder):
        original, student = read_pair(source, student_folder)
        assert len(student.cells) == len(original.cells)
        assert tagged(student, EXERCISE_TAG) == tagged(original, SOLUTION_TAG)
        assert not tagged(student, SOLUTION_TAG)
        for index, (ours, theirs) in enumerate(zip(original.cells, student.cells, strict=True)):
            if index not in tagged(original, SOLUTION_TAG):
                assert theirs.source == ours.source
            if theirs.cell_type == "code":
                assert theirs.outputs == [] and theirs.execution_count is None
        assert "jupytext" not in student.metadata

    def test_stubs_keep_signature_and_docstring(self, source, student_folder):
        original, student = read_pair(source, student_folder)
        for index in tagged(original, SOLUTION_TAG):
            solution, stub = function_of(original.cells[index].source), function_of(student.cells[index].source)
            assert (stub.name, ast.dump(stub.args), ast.dump(stub.returns) if stub.returns else None) == (
                solution.name,
                ast.dump(solution.args),
                ast.dump(solution.returns) if solution.returns else None,
            )
            assert ast.get_docstring(stub) == ast.get_docstring(solution)

    def test_no_line_of_a_solution_survives(self, source, student_folder):
        original, student = read_pair(source, student_folder)
        # A line that the notebook also shows outside its solutions (say `return outputs`) is not a giveaway.
        shown = {
            line.strip()
            for i, cell in enumerate(original.cells)
            if i not in tagged(original, SOLUTION_TAG)
            for line in cell.source.splitlines()
        }
        solutions = [original.cells[i].source for i in tagged(original, SOLUTION_TAG)]
        secret = set().union(*map(body_lines, solutions)) - shown
        assert secret, "a solution with no line of its own?"
        text = "\n".join(cell.source for cell in student.cells)
        leaked = sorted(line for line in secret if line in text)
        assert not leaked, f"solution lines in the student copy: {leaked}"

    def test_checker_answers_the_stub_kindly_and_passed_the_solution(self, source, student_folder):
        original, student = read_pair(source, student_folder)
        for index in tagged(student, EXERCISE_TAG):
            name = function_of(student.cells[index].source).name
            check_cell, exercise = checked_name(original, name)
            namespace = {"torch": torch}
            # Annotations stay strings, so a stub needs nothing the notebook defined before it.
            stub = "from __future__ import annotations\n" + student.cells[index].source
            exec(compile(stub, name, "exec"), namespace)
            verdict = check(exercise, namespace[name])
            assert not verdict.passed and repr(verdict).startswith("Not written yet"), repr(verdict)
            assert "Traceback" not in repr(verdict)
            stored = "".join(o.get("data", {}).get("text/plain", "") for o in original.cells[check_cell].outputs)
            assert stored.startswith("Correct"), f"the solution of {name} should pass its check: {stored!r}"

    def test_stops_at_the_first_exercise(self, source, student_folder):
        """Without executing the copy a second time: up to the first exercise its cells are the
        source's (which nbval runs), the stub raises NotImplementedError when called (tested
        above), and so the copy stops at the first cell after the exercise that uses the learner's
        function outside ``check``. That cell must come after the check, before the next exercise."""
        student = nbformat.read(student_folder / source.name, as_version=4)
        exercises = tagged(student, EXERCISE_TAG)
        name = function_of(student.cells[exercises[0]].source).name
        check_cell, _ = checked_name(student, name)
        users = [
            i
            for i, cell in enumerate(student.cells)
            if i > exercises[0] and cell.cell_type == "code" and uses_outside_check(cell.source, name)
        ]
        assert users, f"no cell after the exercise calls {name}: the student copy would run on"
        following = exercises[1] if len(exercises) > 1 else len(student.cells)
        assert exercises[0] < check_cell < users[0] < following, (exercises, check_cell, users)


def uses_outside_check(source: str, name: str) -> bool:
    """Does this cell's code use ``name`` other than as the function handed to ``check(...)``?"""
    tree = ast.parse(source)
    handed_to_check = {
        id(call.args[1])
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "check"
        and len(call.args) > 1
    }
    return any(
        isinstance(node, ast.Name)
        and node.id == name
        and isinstance(node.ctx, ast.Load)
        and id(node) not in handed_to_check
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("check('x', f)\n", False),
        ("y = f(1)\n", True),
        ("check('x', f)\nprint(helper(f))\n", True),
        ("g = 1\n", False),
    ],
)
def test_uses_outside_check(source, expected):
    assert uses_outside_check(source, "f") == expected


def test_a_student_copy_runs_up_to_its_exercise_and_stops_there(tmp_path):
    """The whole path once, in a real kernel, on a three-cell notebook: the stub is answered
    kindly by check, and the first cell that calls it stops the notebook."""
    source = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                'def double(x):\n    """x -> 2 x."""\n    return 2 * x\n', metadata={"tags": [SOLUTION_TAG]}
            ),
            nbformat.v4.new_code_cell("from course_lstm.checks import check\ncheck('to_time_major', double)"),
            nbformat.v4.new_code_cell("double(1)"),
            nbformat.v4.new_code_cell("print('not reached')"),
        ]
    )
    student = student_copy(source)
    with pytest.raises(CellExecutionError) as raised:
        NotebookClient(
            student, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    assert raised.value.ename == "NotImplementedError" and "write double" in raised.value.evalue
    verdict = "".join(o.get("data", {}).get("text/plain", "") for o in student.cells[1].outputs)
    assert verdict.startswith("Not written yet"), verdict
    assert [bool(cell.outputs) for cell in student.cells] == [False, True, True, False]


# --- a student copy never replaces its source ---------------------------------------------------


def small_course(folder):
    """A folder with two tiny course notebooks, each with one solution cell and an output."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("01_one.ipynb", "02_two.ipynb"):
        cell = nbformat.v4.new_code_cell("def f(x):\n    return x\n", metadata={"tags": [SOLUTION_TAG]})
        cell.outputs = [nbformat.v4.new_output("stream", text="an output\n")]
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / name)
    return {path.name: path.read_bytes() for path in folder.glob("*.ipynb")}


def unchanged(folder, before):
    return {path.name: path.read_bytes() for path in folder.glob("*.ipynb")} == before


@pytest.mark.parametrize("out", [".", "./", "../course/."])
def test_student_copies_refuse_their_own_source_folder(tmp_path, capsys, out, monkeypatch):
    course = tmp_path / "course"
    before = small_course(course)
    monkeypatch.chdir(course)
    with pytest.raises(ValueError, match="would overwrite the source notebooks"):
        write_student_copies(course, Path(out))
    with pytest.raises(SystemExit, match="would overwrite the source notebooks") as stopped:
        cli.main(["student", "--notebooks", ".", "--out", out])
    assert stopped.value.code not in (0, None) and "\n" not in str(stopped.value.code)
    assert unchanged(course, before)


def test_student_copies_refuse_a_target_that_is_a_source_file(tmp_path):
    course = tmp_path / "course"
    before = small_course(course)
    out = tmp_path / "student"
    out.mkdir()
    (out / "02_two.ipynb").symlink_to(course / "02_two.ipynb")  # writing it would write the source
    with pytest.raises(ValueError, match=r"02_two\.ipynb is the source notebook"):
        write_student_copies(course, out)
    assert unchanged(course, before)
    assert not (out / "01_one.ipynb").exists(), "nothing is written when one target is refused"


def test_student_copies_refuse_to_replace_notebooks_with_solutions(tmp_path):
    # The reverse mistake: --notebooks student --out notebooks would stub out the real course.
    course, student = tmp_path / "course", tmp_path / "student"
    before = small_course(course)
    write_student_copies(course, student)
    with pytest.raises(ValueError, match="holds solution cells"):
        write_student_copies(student, course)
    assert unchanged(course, before)
    write_student_copies(course, student)  # replacing earlier student copies is what make student does


def test_student_copies_name_a_bad_notebook_and_write_nothing(tmp_path):
    course = tmp_path / "course"
    small_course(course)
    (course / "03_broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match=r"03_broken\.ipynb"):
        write_student_copies(course, tmp_path / "student")
    assert not (tmp_path / "student").exists()


@pytest.mark.parametrize("make", [lambda path: None, lambda path: path.write_text("")])
def test_student_copies_need_a_folder_that_exists(tmp_path, make):
    missing = tmp_path / "nonexistent"
    make(missing)
    with pytest.raises(ValueError, match=rf"expected a folder of notebooks.*{missing.name}"):
        write_student_copies(missing, tmp_path / "student")
