"""Student copies of the course notebooks: each ``solution`` cell becomes a stub to fill in.

One source for both: ``python -m course_lstm student`` (``make student``) rewrites notebooks/ into student/.
"""

from __future__ import annotations

import ast
import copy
import io
import tokenize
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_lstm.layout import NOTEBOOK_STEM, notebook_files

SOLUTION_TAG = "solution"
# The stub keeps a tag of its own, so tools (and the tests) can find the exercises in a student copy.
EXERCISE_TAG = "exercise"
NOTEBOOK_PATTERN = NOTEBOOK_STEM + ".ipynb"


def _the_function(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The one function a solution cell defines; ValueError naming what the cell holds instead."""
    try:
        module = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"a solution cell must hold one Python function; got a syntax error: {error}") from None
    statements = module.body
    if len(statements) != 1 or not isinstance(statements[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        found = ", ".join(type(node).__name__ for node in statements) or "nothing"
        raise ValueError(f"a solution cell must hold exactly one function definition, got: {found}")
    return statements[0]


def _signature_end(source: str, function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Offset in ``source`` just past the colon that ends the function's signature.

    Found with the tokenizer, counting brackets, because a colon may also sit inside the
    signature (a default ``lambda x: x``, an annotation ``dict[str, int]`` slice).
    """
    line_starts = [0]
    for line in io.StringIO(source).readlines():
        line_starts.append(line_starts[-1] + len(line))
    depth, seen_def = 0, False
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if not seen_def:
            seen_def = token.type == tokenize.NAME and token.string == "def" and token.start[0] == function.lineno
            continue
        if token.type == tokenize.OP and token.string in {"(", "[", "{"}:
            depth += 1
        elif token.type == tokenize.OP and token.string in {")", "]", "}"}:
            depth -= 1
        elif token.type == tokenize.OP and token.string == ":" and depth == 0:
            row, column = token.end
            return line_starts[row - 1] + column
    raise ValueError(f"could not find the end of the signature of {function.name}")


def _docstring_node(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def stub_source(source: str) -> str:
    """The student's version of a solution cell: same signature and docstring, no body.

    ``source`` holds exactly one function (text before it, such as comments or decorators, is
    kept); the body becomes ``...`` and ``raise NotImplementedError``, which
    ``course_lstm.checks.check`` answers with "Not written yet". Raises ValueError otherwise.
    """
    function = _the_function(source)
    header = source[: _signature_end(source, function)]
    first = function.body[0]
    # The stub's indentation is the body's own, unless the body started on the signature's line.
    if first.lineno > header.count("\n") + 1:
        line = source.split("\n")[first.lineno - 1]  # as the parser counts lines
        indent = line[: len(line) - len(line.lstrip())]
    else:
        indent = " " * (function.col_offset + 4)
    lines = [header]
    docstring = _docstring_node(function)
    if docstring is not None:
        # The docstring as written (quotes, escapes); unparsed only where positions are missing.
        lines.append(indent + (ast.get_source_segment(source, docstring) or ast.unparse(docstring)))
    lines.append(f"{indent}...  # your code here")
    lines.append(f'{indent}raise NotImplementedError("exercise: write {function.name}")')
    return "\n".join(lines) + "\n"


def student_copy(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` with every ``solution`` cell stubbed and every output cleared.

    Solution cells are retagged ``exercise``; widget state and jupytext pairing are dropped (the
    copy pairs with no .py source). ``notebook`` itself is left unchanged.
    """
    if not isinstance(notebook, NotebookNode):
        raise TypeError(f"expected an nbformat NotebookNode, got {type(notebook).__name__}")
    student = copy.deepcopy(notebook)
    for key in ("jupytext", "widgets"):
        student.metadata.pop(key, None)
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags", [])
        if SOLUTION_TAG in tags:
            cell.source = stub_source(cell.source).rstrip("\n")
            cell.metadata["tags"] = [EXERCISE_TAG if tag == SOLUTION_TAG else tag for tag in tags]
    return student


def exercise_count(notebook: NotebookNode) -> int:
    """How many cells of ``notebook`` are tagged ``solution``."""
    return sum(SOLUTION_TAG in cell.metadata.get("tags", []) for cell in notebook.cells)


def _holds_solutions(path: Path) -> bool:
    """Does the notebook at ``path`` have a ``solution`` cell (is it a source, not a copy)?"""
    try:
        return exercise_count(nbformat.read(path, as_version=4)) > 0
    except Exception:  # not a readable notebook: not a source of this course either
        return False


def _same_file(target: Path, source: Path) -> bool:
    """Is writing ``target`` writing ``source`` (the same path, a link to it, a hard link)?"""
    return target.resolve() == source.resolve() or (target.exists() and target.samefile(source))


def write_student_copies(notebooks: Path, out: Path) -> list[tuple[Path, int]]:
    """Write the student copy of every ``NN_name.ipynb`` in ``notebooks`` into ``out``.

    Returns (path written, exercises stubbed) for each notebook, in course order. Everything is
    checked before anything is written; raises ValueError when ``notebooks`` is not a folder or
    holds no course notebook, when a notebook cannot be read or stubbed, and when a copy would
    be written over a source notebook (``out`` is ``notebooks``, a target is a source file) or
    over a notebook that holds solution cells (a source, not an earlier student copy).
    """
    notebooks, out = Path(notebooks), Path(out)
    if not notebooks.is_dir():
        found = "a file" if notebooks.exists() else "it does not exist"
        raise ValueError(f"expected a folder of notebooks named {NOTEBOOK_PATTERN}, got {notebooks}: {found}")
    sources = notebook_files(notebooks, ".ipynb")
    if not sources:
        raise ValueError(f"expected notebooks named {NOTEBOOK_PATTERN} in {notebooks}, found none")
    if out.resolve() == notebooks.resolve():
        raise ValueError(
            f"{out} is the notebooks folder itself: the student copies would overwrite the source "
            "notebooks (their solutions and outputs); choose another folder for them"
        )
    copies = []
    for source in sources:
        target = out / source.name
        clash = next((s for s in sources if _same_file(target, s)), None)
        if clash is not None:
            raise ValueError(
                f"{target} is the source notebook {clash}: writing a student copy there would "
                "overwrite the source notebooks; choose another folder"
            )
        if target.exists() and _holds_solutions(target):
            raise ValueError(
                f"{target} holds solution cells: it is a source notebook, not a student copy; "
                "refusing to replace it (choose another folder)"
            )
        try:
            notebook = nbformat.read(source, as_version=4)
        except Exception as error:  # nbformat raises several kinds for a broken file
            reason = (str(error).splitlines() or [""])[0]
            raise ValueError(f"{source}: not a readable notebook ({type(error).__name__}: {reason})") from None
        try:
            copies.append((target, student_copy(notebook), exercise_count(notebook)))
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
    out.mkdir(parents=True, exist_ok=True)
    for target, notebook_copy, _ in copies:
        nbformat.write(notebook_copy, target)
    return [(target, exercises) for target, _, exercises in copies]
