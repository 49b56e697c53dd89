"""The portability matrix's tools: assert margins recorded without changing what a cell does,
the settings it runs, and the thread override it relies on."""

import ast
import builtins
import json
from pathlib import Path

import pytest
import torch

from course_lstm.profiles import PROFILES, THREADS_VARIABLE, threads_wanted
from tools import assert_margins, portability


def run_recorded(source: str, records: Path, namespace: dict | None = None) -> dict:
    """Execute source with its asserts instrumented, as the kernel would."""
    tree = ast.fix_missing_locations(assert_margins.RecordAsserts().visit(ast.parse(source)))
    setattr(builtins, assert_margins.RECORDER, assert_margins.record(str(records)))
    try:
        namespace = {} if namespace is None else namespace
        exec(compile(tree, "<cell>", "exec"), namespace)
    finally:
        delattr(builtins, assert_margins.RECORDER)
    return namespace


def read(records: Path) -> list[dict]:
    return [json.loads(line) for line in records.read_text().splitlines()] if records.exists() else []


def pairs_of(test: str) -> list[tuple[str, str, str]]:
    node = ast.parse(test, mode="eval").body
    return [(ast.unparse(a), op.__name__, ast.unparse(b)) for a, op, b in assert_margins.comparisons(node)]


def test_comparisons_split_chains_and_skip_comprehensions_and_masks():
    assert pairs_of("0.8 < r / rho < 1.05 and all(x > 0 for x in xs) and a == b") == [
        ("0.8", "Lt", "r / rho"),
        ("r / rho", "Lt", "1.05"),
    ]
    assert pairs_of("delta[steps < t1].abs().max() == 0") == []
    assert pairs_of("not torch.all(x <= b) or (y > 2).all()") == [("x", "LtE", "b"), ("y", "Gt", "2")]


@pytest.mark.parametrize(
    "op, left, right, expected",
    [
        ("Lt", 1.0, 4.0, 0.75),
        ("Gt", 4.0, 1.0, 0.75),
        ("LtE", 2.0, 2.0, 0.0),
        ("Lt", 3.0, 2.0, -1 / 3),
        ("GtE", torch.tensor([3.0, 1.5]), 1.0, 1 / 3),
        ("Lt", "a", "b", None),
    ],
)
def test_slack_is_the_relative_room_left(op, left, right, expected):
    value = assert_margins.slack(op, left, right)
    assert value == pytest.approx(expected) if expected is not None else value is None


def test_recorded_asserts_behave_as_before_and_log_their_slack(tmp_path):
    records = tmp_path / "asserts.jsonl"
    namespace = run_recorded("r = 0.9\nfor k in (1, 2):\n    assert k * r < 2, 'msg'\n", records)
    assert namespace["r"] == 0.9
    logged = read(records)
    assert [entry["key"] for entry in logged] == ["k * r < 2, 'msg'"] * 2
    assert [entry["slack"] for entry in logged] == pytest.approx([0.55, 0.1])
    with pytest.raises(AssertionError, match="too big"):
        run_recorded("assert 3 < 2, 'too big'\n", records)
    assert read(records)[-1]["slack"] == pytest.approx(-1 / 3)


def test_a_side_that_cannot_be_evaluated_is_skipped(tmp_path):
    records = tmp_path / "asserts.jsonl"
    run_recorded("x = None\nassert x is None or x > 1\n", records)
    assert read(records) == []


def test_summary_maps_asserts_to_notebooks_and_keeps_the_smallest_slack(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "03_demo.py").write_text("# %%\nrate = 0.5\nassert rate < 0.6, 'rate'\n")
    for setting, values in {"default": [0.5, 0.2], "sse41": [0.1]}.items():
        path = tmp_path / f"{setting}.jsonl"
        path.write_text(
            "".join(json.dumps({"key": "rate < 0.6, 'rate'", "op": "Lt", "slack": v}) + "\n" for v in values)
        )
    rows = assert_margins.summarise({s: tmp_path / f"{s}.jsonl" for s in ("default", "sse41")}, notebooks)
    assert rows == [{"assert": "03: rate < 0.6", "slack": {"default": 0.2, "sse41": 0.1}, "min": 0.1}]
    assert "| `03: rate < 0.6` | 0.2 | 0.1 |" in assert_margins.markdown(rows, ["default", "sse41"])


def test_the_matrix_has_the_settings_the_course_promises():
    assert {"default", "sse41", "avx2", "threads2"} <= set(portability.SETTINGS)
    assert portability.SETTINGS["sse41"] == {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_CBWR": "COMPATIBLE",
    }
    with pytest.raises(SystemExit):  # refused before anything runs
        portability.main(["--settings", "sse41,bogus"])


def test_threads_override(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert threads_wanted(PROFILES["ci"]) == PROFILES["ci"].threads == 1
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert threads_wanted(PROFILES["ci"]) == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_VARIABLE, bad)
        with pytest.raises(ValueError, match=f"{THREADS_VARIABLE} must be a positive integer, got '{bad}'"):
            threads_wanted(PROFILES["ci"])
