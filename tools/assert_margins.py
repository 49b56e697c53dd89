"""How far each notebook assert is from failing: the operands of its comparisons, recorded live.

Installed in a kernel (by an IPython startup file that tools/portability.py writes), it rewrites
every ``assert`` of every later cell so that, just before the assert runs, the two sides of each
comparison in it (``a < b``, ``0.8 < r < 1.05``, ``torch.all(x <= bound)``) are evaluated and
appended to a JSON-lines file. The notebook's outputs are untouched. ``summarise`` then reads
the records of several runs (one per hardware setting) and gives each assert its smallest
relative slack, the fraction by which the tighter side would have to move for it to fail.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import os
from collections import defaultdict
from pathlib import Path

from course_lstm.layout import notebook_files

RECORDER = "__course_lstm_record_assert__"
ORDERINGS = {ast.Lt: -1, ast.LtE: -1, ast.Gt: 1, ast.GtE: 1}  # sign of (left - right) when it holds


def assert_key(node: ast.Assert) -> str:
    """The text that names an assert in the records and in the notebook sources alike."""
    return ast.unparse(node.test) + (f", {ast.unparse(node.msg)}" if node.msg is not None else "")


def comparisons(test: ast.expr) -> list[tuple[ast.expr, type, ast.expr]]:
    """The ordering comparisons (left, op, right) that an assert's verdict rests on, a chain split
    into pairs: the test itself, the parts of ``and`` / ``or`` / ``not``, and what ``all``,
    ``any``, ``torch.all`` or ``.all()`` reduce. Not a comparison used as a value inside
    them (a mask in ``x[steps < t1]``), nor one inside a lambda or comprehension, whose
    variables are not bound where the assert stands."""
    found = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            found.extend(
                (a, type(op), b) for a, op, b in zip(sides, node.ops, sides[1:], strict=False) if type(op) in ORDERINGS
            )
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                walk(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            walk(node.operand)
        elif isinstance(node, ast.Call) and _reduces(node.func):
            for argument in node.args:
                walk(argument)
            if isinstance(node.func, ast.Attribute) and not node.args:
                walk(node.func.value)  # (a < b).all()

    walk(test)
    return found


def _reduces(function: ast.expr) -> bool:
    """all(...), any(...), torch.all(...), torch.any(...), x.all(), x.any()."""
    name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
    return name in {"all", "any"}


class RecordAsserts(ast.NodeTransformer):
    """Put a call to the recorder before each assert: ``RECORDER(key, [(op, lambda: a, lambda: b)])``."""

    def visit_Assert(self, node: ast.Assert):
        pairs = comparisons(node.test)
        if not pairs:
            return node
        thunks = [
            ast.Tuple(
                elts=[
                    ast.Constant(op.__name__),
                    ast.Lambda(args=_no_arguments(), body=left),
                    ast.Lambda(args=_no_arguments(), body=right),
                ],
                ctx=ast.Load(),
            )
            for left, op, right in pairs
        ]
        call = ast.Expr(
            ast.Call(
                func=ast.Name(RECORDER, ast.Load()),
                args=[ast.Constant(assert_key(node)), ast.List(thunks, ast.Load())],
                keywords=[],
            )
        )
        return [ast.copy_location(call, node), node]


def _no_arguments() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def slack(op: str, left, right) -> float | None:
    """Relative slack of ``left op right``: (right - left) / max(|left|, |right|) for < and <=,
    the mirror for > and >=; the smallest over the elements of tensors. Negative: it fails.
    None where the sides are not numbers."""
    import torch

    try:
        a = torch.as_tensor(left, dtype=torch.float64)
        b = torch.as_tensor(right, dtype=torch.float64)
        gap = (b - a) if ORDERINGS[getattr(ast, op)] < 0 else (a - b)
        scale = torch.maximum(a.abs(), b.abs()).clamp(min=1e-300)
        value = (gap / scale).min().item()
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def record(path: str):
    """The recorder function: evaluate each pair's sides, append one JSON line per pair."""

    def recorder(key: str, pairs: list) -> None:
        with open(path, "a", encoding="utf-8") as out:
            for op, left, right in pairs:
                try:
                    value = slack(op, left(), right())
                except Exception:  # a side guarded by `and`/`or` may not evaluate: skip it
                    continue
                if value is not None:
                    out.write(json.dumps({"key": key, "op": op, "slack": value}) + "\n")

    return recorder


def install(path: str | None = None) -> None:
    """Record the asserts of every cell the current IPython kernel runs from now on."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("assert_margins.install() needs an IPython kernel")
    path = path or os.environ["COURSE_LSTM_MARGINS"]
    open(path, "a", encoding="utf-8").close()  # its existence shows the kernel installed us
    setattr(builtins, RECORDER, record(path))
    shell.ast_transformers.append(RecordAsserts())


def asserts_in_notebooks(folder: Path) -> dict[str, str]:
    """key -> "NN_name.py:line" for every assert with a comparison in the notebook sources."""
    import jupytext

    where = {}
    for source in notebook_files(folder, ".py"):
        notebook = jupytext.read(source)
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Assert) and comparisons(node.test):
                    where.setdefault(assert_key(node), f"{source.stem[:2]}: {ast.unparse(node.test)}")
    return where


def summarise(records: dict[str, Path], notebooks: Path) -> list[dict]:
    """One row per assert: its smallest slack in each setting (records: setting -> JSONL file)."""
    smallest: dict[str, dict[str, float]] = defaultdict(dict)
    for setting, path in records.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            seen = smallest[entry["key"]].get(setting, math.inf)
            smallest[entry["key"]][setting] = min(seen, entry["slack"])
    where = asserts_in_notebooks(notebooks)
    rows = [
        {"assert": where.get(key, key), "slack": per_setting, "min": min(per_setting.values())}
        for key, per_setting in smallest.items()
    ]
    return sorted(rows, key=lambda row: (row["min"], row["assert"]))


def markdown(rows: list[dict], settings: list[str]) -> str:
    """The margins table: smallest relative slack per setting, tightest asserts first."""
    lines = ["| assert | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for row in rows:
        cells = [f"{row['slack'][s]:.3g}" if s in row["slack"] else "-" for s in settings]
        text = row["assert"].replace("|", "\\|")
        lines.append(f"| `{text[:110]}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
