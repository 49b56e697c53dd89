"""Result files: names built only from safe fields, and ``load`` as strict as ``save``."""

import json
import re

import pytest

from course_lstm import results


def a_result(experiment="clipping", profile="ci", rows=None):
    return {
        "schema": results.SCHEMA_VERSION,
        "experiment": experiment,
        "config": {},
        "rows": [{"task": "adding", "lag": 5, "label": "RNN", "status": "ok"}] if rows is None else rows,
        "provenance": results.provenance(profile, "cpu", 1.0, "a test", "unknown", results.now()),
    }


def write(path, result):
    path.write_text(json.dumps(result))
    return path


# --- file names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("experiment", "../../escaped"),
        ("experiment", "a/b"),
        ("experiment", "..\\up"),
        ("experiment", ""),
        ("experiment", ".hidden"),
        ("experiment", "two words"),
        ("profile", "../ci"),
        ("profile", "ci/x"),
    ],
)
def test_save_refuses_a_field_that_is_not_a_file_name(tmp_path, field, value):
    result = a_result(**{field: value})
    out = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match=rf"'{field}'.*{re.escape(repr(value))}"):
        results.save(result, out)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_tag_must_be_a_file_name_too(tmp_path):
    with pytest.raises(ValueError, match=r"'tag'.*'\.\./x'"):
        results.save(a_result(), tmp_path, tag="../x")
    assert results.save(a_result(), tmp_path, tag="steps200").name == "clipping-ci-steps200.json"


def test_shipped_refuses_a_path(monkeypatch, tmp_path):
    monkeypatch.setattr(results, "SHIPPED", tmp_path / "shipped")
    with pytest.raises(ValueError, match="'experiment'"):
        results.shipped("../../etc/passwd")
    assert results.shipped("clipping", "ci") is None


def test_load_refuses_a_file_whose_fields_are_not_file_names(tmp_path):
    path = write(tmp_path / "x.json", a_result(experiment="../up"))
    with pytest.raises(ValueError, match=r"x\.json.*'experiment'"):
        results.load(path)


# --- never replaced silently -------------------------------------------------------------------


def test_save_never_replaces_a_file_unless_told(tmp_path):
    path = results.save(a_result(), tmp_path)
    earlier = path.read_text()
    with pytest.raises(FileExistsError, match=r"clipping-ci\.json.*overwrite=True"):
        results.save(a_result(rows=[]), tmp_path)
    assert path.read_text() == earlier
    assert results.save(a_result(rows=[]), tmp_path, overwrite=True) == path
    assert results.load(path)["rows"] == []


# --- load is as strict as save -----------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_load_refuses_what_save_refuses_nan_and_infinity(tmp_path, constant):
    text = json.dumps(a_result()).replace('"lag": 5', f'"lag": {constant}')
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"nan\.json.*{constant}"):
        results.load(path)
    broken = a_result()
    broken["rows"][0]["final_loss"] = float(constant.lower().replace("infinity", "inf"))
    with pytest.raises(ValueError, match="NaN or infinity"):
        results.save(broken, tmp_path)


@pytest.mark.parametrize("field", ["task", "lag", "label", "status"])
def test_load_refuses_a_row_without_a_required_field(tmp_path, field):
    result = a_result()
    del result["rows"][0][field]
    path = write(tmp_path / "rows.json", result)
    with pytest.raises(ValueError, match=rf"rows\.json: row 0 has no field '{field}'"):
        results.load(path)
    with pytest.raises(ValueError, match=f"row 0 has no field '{field}'"):
        results.save(result, tmp_path)


def test_load_refuses_a_mistyped_row_field(tmp_path):
    path = write(
        tmp_path / "rows.json", a_result(rows=[{"task": "adding", "lag": "5", "label": "RNN", "status": "ok"}])
    )
    with pytest.raises(ValueError, match=r"rows\.json: row 0: field 'lag' should be int, got str"):
        results.load(path)


def test_bench_rows_need_their_own_fields(tmp_path):
    ok = a_result(experiment="bench", profile="cpu", rows=[{"variant": "nn.LSTM", "size": "tiny", "status": "ok"}])
    results.validate(ok)
    del ok["rows"][0]["variant"]
    with pytest.raises(ValueError, match="row 0 has no field 'variant'"):
        results.validate(ok)


def test_load_names_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(a_result()).replace("a test", "caf\u00e9").encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.json: not UTF-8 text"):
        results.load(path)


def test_round_trip_and_the_shipped_results(tmp_path):
    result = a_result()
    assert results.load(results.save(result, tmp_path)) == result
    for path in results.SHIPPED.glob("*.json"):
        results.load(path)


def test_the_provenance_line_keeps_a_dirty_tree_visible():
    provenance = {
        "profile": "cpu",
        "device": "CPU (x86_64, 1 thread)",
        "torch": "2.13.0+cpu",
        "date": "2026-12-02T00:00:00+00:00",
    }
    clean = {"provenance": {**provenance, "git_commit": "8558353" + "0" * 33}}
    dirty = {"provenance": {**provenance, "git_commit": "8558353" + "0" * 33 + "+dirty"}}
    assert results.provenance_line(clean).endswith("commit 8558353")
    assert results.provenance_line(dirty).endswith("commit 8558353+dirty")
