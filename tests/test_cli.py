"""The command line fails fast and plainly: every argument and the output folder are checked
before any work, a foreseeable mistake gives one clear line and a nonzero exit (never a
traceback), nothing is written over a source or an earlier result, and doctor imports what
the course needs."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from course_lstm import bench, cli, doctor, experiments, profiles, results, study, text_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_work(monkeypatch):
    """Any run that starts fails the test: the CLI must refuse before it."""

    def started(*args, **kwargs):
        raise AssertionError("the run started before the arguments were checked")

    for module, name in (
        (experiments, "run_experiment"),
        (bench, "run_bench"),
        (study, "run_study"),
        (text_study, "run_text_study"),
    ):
        monkeypatch.setattr(module, name, started)


def refusal(arguments, capsys):
    """(exit status, the message) of a command the CLI must refuse."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(arguments)
    code = stopped.value.code
    assert code not in (0, None)
    stderr = capsys.readouterr().err
    message = code if isinstance(code, str) else stderr.strip().splitlines()[-1]
    assert "Traceback" not in message + stderr
    assert len(message.strip().splitlines()) == 1, message
    return code, message


# --- 1. the output folder is checked before any work -------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["experiment", "clipping", "--profile", "ci"],
        ["bench", "--quick", "--device", "cpu"],
        ["study", "--protocol", "ci"],
    ],
)
def test_an_unwritable_out_is_refused_before_any_work(arguments, tmp_path, no_work, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    _, message = refusal([*arguments, "--out", str(blocker / "sub")], capsys)
    assert "cannot write results to" in message and str(blocker / "sub") in message


def test_an_unwritable_cache_is_refused_before_any_work(tmp_path, no_work, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    _, message = refusal(["study", "--protocol", "ci", "--cache", str(blocker), "--out", str(tmp_path)], capsys)
    assert "--cache" in message and str(blocker) in message


def test_the_out_folder_is_created_before_the_run(tmp_path, monkeypatch):
    out = tmp_path / "new" / "folder"

    def run(*args, **kwargs):
        assert out.is_dir(), "the folder is made (and probed) before the run"
        raise KeyboardInterrupt  # stop here: the check is what matters

    monkeypatch.setattr(experiments, "run_experiment", run)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["experiment", "clipping", "--profile", "ci", "--out", str(out)])
    assert list(out.iterdir()) == [], "the write probe is removed"


# --- 3. foreseeable mistakes: a clear line, a nonzero exit ------------------------------------


def test_the_gpu_profile_without_cuda(monkeypatch, tmp_path, no_work, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, message = refusal(["experiment", "clipping", "--profile", "gpu", "--out", str(tmp_path)], capsys)
    assert "'gpu' needs a CUDA GPU" in message and "is_available() is False" in message
    assert "--profile cpu" in message


def test_an_unknown_profile_in_the_environment(monkeypatch, tmp_path, no_work, capsys):
    monkeypatch.setenv(profiles.ENVIRONMENT_VARIABLE, "bogus")
    _, message = refusal(["experiment", "clipping", "--out", str(tmp_path)], capsys)
    assert "unknown profile 'bogus'" in message and profiles.ENVIRONMENT_VARIABLE in message
    assert "ci, cpu, gpu" in message


def test_a_bad_thread_count_in_the_environment(monkeypatch, tmp_path, no_work, capsys):
    monkeypatch.setenv(profiles.THREADS_VARIABLE, "two")
    _, message = refusal(["experiment", "clipping", "--profile", "ci", "--out", str(tmp_path)], capsys)
    assert profiles.THREADS_VARIABLE in message and "'two'" in message


@pytest.mark.parametrize(
    "arguments",
    [
        ["experiment", "clipping", "--profile", "ci", "--steps", "0"],
        ["experiment", "clipping", "--profile", "ci", "--steps", "-3"],
        ["experiment", "clipping", "--profile", "ci", "--steps", "many"],
        ["study", "--protocol", "ci", "--workers", "0"],
        ["bench", "--quick", "--threads", "-1"],
    ],
)
def test_counts_must_be_positive_whole_numbers(arguments, tmp_path, no_work, capsys):
    code, message = refusal([*arguments, "--out", str(tmp_path)], capsys)
    assert code == 2  # argparse's usage error
    flag = next(a for a in arguments if a.startswith("--") and a not in ("--profile", "--protocol", "--quick"))
    assert flag in message and "positive whole number" in message
    assert repr(arguments[-1]) in message


def test_an_unknown_bench_device(tmp_path, no_work, capsys):
    _, message = refusal(["bench", "--device", "tpu", "--out", str(tmp_path)], capsys)
    assert "'tpu'" in message and "cpu" in message


def test_cuda_bench_without_cuda(monkeypatch, tmp_path, no_work, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, message = refusal(["bench", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert "is_available() is False" in message and "--device cpu" in message


def test_student_from_a_folder_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    _, message = refusal(["student", "--notebooks", str(missing), "--out", str(tmp_path / "out")], capsys)
    assert str(missing) in message and "does not exist" in message
    assert not (tmp_path / "out").exists()


def test_a_bogus_profile_gives_one_line_and_no_traceback_in_a_process(tmp_path):
    environment = {**os.environ, profiles.ENVIRONMENT_VARIABLE: "bogus"}
    done = subprocess.run(
        [sys.executable, "-m", "course_lstm", "experiment", "clipping", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "python -m course_lstm experiment: unknown profile 'bogus' (from the environment variable "
        "COURSE_LSTM_PROFILE); expected one of ci, cpu, gpu"
    ]
    assert list(tmp_path.iterdir()) == []


# --- 5. smoke runs are named apart; nothing is replaced silently -------------------------------


def test_a_smoke_run_is_named_apart_and_replaces_nothing(tmp_path, capsys, monkeypatch):
    real = tmp_path / "clipping-ci.json"
    real.write_text("the real run")
    arguments = ["experiment", "clipping", "--profile", "ci", "--steps", "2", "--out", str(tmp_path)]
    assert cli.main(arguments) == 0
    assert real.read_text() == "the real run"
    smoke = results.load(tmp_path / "clipping-ci-steps2.json")
    assert smoke["config"]["steps"] == 2
    assert smoke["provenance"]["command"] == "python -m course_lstm " + " ".join(arguments)
    assert "clipping-ci-steps2.json" in capsys.readouterr().out

    before = (tmp_path / "clipping-ci-steps2.json").read_text()
    with monkeypatch.context() as patched:
        patched.setattr(experiments, "run_experiment", lambda *a, **k: pytest.fail("ran before refusing"))
        _, message = refusal(arguments, capsys)
    assert "clipping-ci-steps2.json" in message and "--overwrite" in message
    assert (tmp_path / "clipping-ci-steps2.json").read_text() == before


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (["experiment", "clipping", "--profile", "ci"], "clipping-ci.json"),
        (["bench", "--quick", "--device", "cpu"], "bench-cpu-quick.json"),
        (["study", "--protocol", "ci"], "study-ci.json"),
    ],
)
def test_an_existing_result_is_refused_before_any_work(arguments, name, tmp_path, no_work, capsys):
    (tmp_path / name).write_text("an earlier result")
    _, message = refusal([*arguments, "--out", str(tmp_path)], capsys)
    assert name in message and "--overwrite" in message
    assert (tmp_path / name).read_text() == "an earlier result"


def test_overwrite_replaces_an_earlier_result(tmp_path, monkeypatch, capsys):
    def fake_bench(device, quick, command):
        return {
            "schema": results.SCHEMA_VERSION,
            "experiment": "bench",
            "config": {},
            "rows": [{"variant": "nn.LSTM", "size": "tiny", "status": "ok"}],
            "provenance": results.provenance("cpu-quick", "cpu", 0.0, command, "unknown", results.now()),
        }

    monkeypatch.setattr(bench, "run_bench", fake_bench)
    monkeypatch.setattr(bench, "format_table", lambda result: "table")
    (tmp_path / "bench-cpu-quick.json").write_text("an earlier result")
    assert cli.main(["bench", "--quick", "--device", "cpu", "--out", str(tmp_path), "--overwrite"]) == 0
    assert results.load(tmp_path / "bench-cpu-quick.json")["rows"][0]["variant"] == "nn.LSTM"


def test_the_help_says_how_results_are_named(capsys):
    with pytest.raises(SystemExit):
        cli.main(["experiment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-steps" in text and "--overwrite" in text and "never replaced" in text


# --- 4. doctor imports what the course needs ---------------------------------------------------


@pytest.mark.parametrize("module", ["tqdm", "matplotlib", "numpy", "joblib", "jupytext", "nbval", "ipywidgets"])
def test_doctor_reports_a_piece_that_does_not_import(module, monkeypatch, capsys):
    doctor.doctor_report()  # everything imported once, so that only `module` is missing below
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    fixes = [line for line in out.splitlines() if line.startswith("FIX")]
    assert len(fixes) == 1 and module in fixes[0]
    assert "make setup" in fixes[0] and "-c constraints.txt" in fixes[0]
    assert "Everything the course needs is here" not in out


def test_doctor_checks_every_pinned_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["course"], "nbval", "pytest"]
    names = {re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in wanted}
    checked = {piece.distribution.lower().replace("_", "-") for piece in doctor.PIECES}
    assert names <= checked, f"doctor does not check {sorted(names - checked)}"


def test_doctor_runs_where_the_training_stack_does_not_import():
    # In a process of its own: the CLI module must not need tqdm to start.
    code = "import sys; sys.modules['tqdm'] = None\nfrom course_lstm import cli\nsys.exit(cli.main(['doctor']))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"^FIX +tqdm .*make setup", done.stdout, re.MULTILINE), done.stdout


BLOCK_TORCH = "raise ImportError('No module named torch (blocked by the test)')\n"


def _without_torch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m course_lstm ARGS`` where ``import torch`` fails, as before PyTorch is installed."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(BLOCK_TORCH)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "course_lstm", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def test_doctor_runs_where_torch_does_not_import(tmp_path):
    done = _without_torch(tmp_path, "doctor")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"^FIX +PyTorch .*make setup", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^FIX +Profile +cannot be checked until PyTorch imports", done.stdout, re.MULTILINE)
    assert re.search(r"^ok +NumPy", done.stdout, re.MULTILINE)


def test_another_command_without_torch_says_so_in_one_line(tmp_path):
    done = _without_torch(tmp_path, "experiment", "lag_sweep")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "python -m course_lstm: cannot start (No module named torch (blocked by the test)); "
        "`python -m course_lstm doctor` says what to install"
    ]


# --- the README's commands still parse ---------------------------------------------------------


def test_the_readmes_commands_parse():
    lines = re.findall(r"python -m course_lstm ([^\n#`]+)", (ROOT / "README.md").read_text())
    assert lines
    parser = cli.build_parser()
    for line in lines:
        parser.parse_args(line.split())


def test_several_thread_counts_run_one_process_each(monkeypatch, tmp_path, capsys):
    """--threads 1 all hands the counts to run_threads (one process each), which is faked here."""
    asked = {}

    def fake_run_threads(counts, device, quick, command):
        asked.update(counts=counts, device=device, quick=quick)
        raise ValueError("stop here")

    monkeypatch.setattr(bench, "all_threads", lambda: 3)
    monkeypatch.setattr(bench, "run_threads", fake_run_threads)
    _, message = refusal(
        ["bench", "--quick", "--device", "cpu", "--threads", "1", "all", "--out", str(tmp_path)], capsys
    )
    assert asked == {"counts": [1, 3], "device": "cpu", "quick": True} and "stop here" in message


def test_a_thread_count_that_is_neither_a_number_nor_all(tmp_path, no_work, capsys):
    code, message = refusal(["bench", "--threads", "some", "--out", str(tmp_path)], capsys)
    assert code == 2 and "positive whole number or 'all', got 'some'" in message


# --- the real-text study's command ---------------------------------------------------------------


def test_cli_refuses_an_unknown_text_protocol(tmp_path, no_work, capsys):
    _, message = refusal(["text", "--protocol", "nope", "--out", str(tmp_path)], capsys)
    assert "'nope'" in message and "ci, cpu" in message and message.startswith("python -m course_lstm text:")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", ["text-ci.json", "text-ci-lstm.pt"])
def test_cli_refuses_an_existing_text_result(existing, tmp_path, no_work, capsys):
    (tmp_path / existing).write_text("earlier")
    _, message = refusal(["text", "--protocol", "ci", "--out", str(tmp_path)], capsys)
    assert existing in message and "--overwrite" in message
    assert (tmp_path / existing).read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
