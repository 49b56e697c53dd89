"""Profiles, the named experiments, results with provenance, and the command line."""

import json

import pytest
import torch

from course_lstm import cli, doctor, experiments, profiles, results
from course_lstm.models import SequenceModel, parameter_count


class TestProfiles:
    def test_environment_variable_chooses(self, monkeypatch):
        monkeypatch.setenv(profiles.ENVIRONMENT_VARIABLE, "ci")
        assert profiles.active_profile().name == "ci"

    def test_default_follows_the_hardware(self, monkeypatch):
        monkeypatch.delenv(profiles.ENVIRONMENT_VARIABLE, raising=False)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert profiles.active_profile().name == "cpu"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        assert profiles.default_profile_name() == "gpu"

    def test_unknown_profile_is_named(self, monkeypatch):
        monkeypatch.setenv(profiles.ENVIRONMENT_VARIABLE, "laptop")
        with pytest.raises(ValueError, match=r"unknown profile 'laptop' .*COURSE_LSTM_PROFILE.*ci, cpu, gpu"):
            profiles.active_profile()

    def test_gpu_profile_without_a_gpu_says_so(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            profiles.get_profile("gpu")

    def test_profiles_grow(self):
        ci, cpu, gpu = (profiles.PROFILES[n] for n in ("ci", "cpu", "gpu"))
        assert max(ci.lags) < max(cpu.lags) < max(gpu.lags)
        assert max(gpu.lags) >= 400  # the gpu sweep reaches T = 400 on the adding problem
        assert ci.steps < cpu.steps < gpu.steps


@pytest.mark.parametrize("name", experiments.EXPERIMENTS)
def test_every_experiment_runs_and_validates(name):
    result = experiments.run_experiment(name, "ci", progress=False, steps=2, eval_every=1)
    results.validate(result)
    specs = experiments.EXPERIMENTS[name](profiles.get_profile("ci"))
    assert len(result["rows"]) == len(specs) > 0
    assert result["config"]["steps"] == 2  # overrides are recorded
    json.dumps(result, allow_nan=False)


def test_equal_budget_widens_the_rnn_to_the_lstm_count():
    profile = profiles.get_profile("cpu")
    specs = experiments.equal_budget(profile)
    wide = next(s for s in specs if s.label == "RNN (equal budget)").hidden_size
    lstm = parameter_count(SequenceModel("lstm", 2, profile.hidden_size, 1))
    assert parameter_count(SequenceModel("rnn", 2, wide, 1)) <= lstm
    assert parameter_count(SequenceModel("rnn", 2, wide + 1, 1)) > lstm


def test_forget_bias_runs_set_the_bias():
    spec = experiments.RunSpec("LSTM, bias 3", "lstm", "copy", 3, 0, 4, forget_bias=3.0)
    profile = profiles.get_profile("ci")
    row = experiments.train_run(spec, profile.__class__(**{**profile.to_dict(), "steps": 1}))
    assert row["forget_bias"] == 3.0 and row["steps"] == 1


def test_success_table_counts_over_seeds():
    def row(label, seed, solved_at):
        return {
            "task": "adding",
            "lag": 50,
            "label": label,
            "seed": seed,
            "parameters": 10,
            "solved": solved_at is not None,
            "solved_at": solved_at,
            "status": "finished",
            "final_accuracy": 0.5,
        }

    rows = [row("LSTM", 0, 300), row("LSTM", 1, 500), row("LSTM", 2, None), row("RNN", 0, None), row("RNN", 1, None)]
    table = {entry["model"]: entry for entry in experiments.success_table(rows)}
    assert table["LSTM"]["success_rate"] == pytest.approx(2 / 3)
    assert table["LSTM"]["median_steps_to_solve"] == 400  # the mean of the two middle values
    assert table["RNN"]["success_rate"] == 0 and table["RNN"]["seeds"] == 2
    text = experiments.format_table(list(table.values()))
    assert "2/3" in text and "0/2" in text


@pytest.mark.parametrize(
    ("steps", "median", "shown"),
    [
        ([100, 500], 300, " 300 "),
        ([100, 250], 175, " 175 "),
        ([100, 201], 150.5, " 150.5 "),
        ([500, 100, 300], 300, " 300 "),
        ([700], 700, " 700 "),
    ],
)
def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(steps, median, shown):
    rows = [
        {
            "task": "adding",
            "lag": 50,
            "label": "LSTM",
            "seed": seed,
            "parameters": 10,
            "solved": True,
            "solved_at": at,
            "status": "solved",
            "final_accuracy": 1.0,
        }
        for seed, at in enumerate(steps)
    ]
    (entry,) = experiments.success_table(rows)
    assert entry["median_steps_to_solve"] == median
    assert shown in experiments.format_table([entry]).splitlines()[2]


class TestResults:
    def result(self):
        return experiments.run_experiment("clipping", "ci", progress=False, steps=1, eval_every=1)

    def test_round_trip(self, tmp_path):
        result = self.result()
        path = results.save(result, tmp_path)
        assert path.name == "clipping-ci.json"
        assert results.load(path) == json.loads(json.dumps(result))

    def test_provenance(self):
        provenance = self.result()["provenance"]
        assert provenance["torch"] == torch.__version__
        assert provenance["device"].startswith("CPU")
        commit = provenance["git_commit"].removesuffix("+dirty")
        assert commit == "unknown" or len(commit) == 40
        hardware = provenance["hardware"]
        assert hardware["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert hardware["threads"] == torch.get_num_threads() and hardware["cpu"] == results.cpu_model()
        assert set(hardware) >= {"machine", "mkl", "onednn", "isa_limits"}

    def test_provenance_names_the_instruction_set_limits_it_ran_under(self, monkeypatch):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        for other in ("ATEN_CPU_CAPABILITY", "MKL_CBWR"):
            monkeypatch.delenv(other, raising=False)
        assert results.hardware()["isa_limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}

    def test_missing_field_is_named(self, tmp_path):
        result = self.result()
        del result["provenance"]["git_commit"]
        with pytest.raises(ValueError, match="missing field 'git_commit'"):
            results.validate(result)

    def test_mistyped_field_is_named(self):
        result = self.result()
        result["rows"] = "none"
        with pytest.raises(ValueError, match="field 'rows' should be list, got str"):
            results.validate(result)

    def test_not_json(self, tmp_path):
        path = tmp_path / "broken.json"
        path.write_text("{")
        with pytest.raises(ValueError, match="not valid JSON"):
            results.load(path)

    def test_shipped_results_validate(self):
        for path in results.SHIPPED.glob("*.json"):
            results.load(path)


def test_unknown_experiment():
    with pytest.raises(ValueError, match="unknown experiment 'adding'; expected one of gradient_flow, lag_sweep"):
        experiments.run_experiment("adding", "ci")


def test_cli_experiment_writes_json(tmp_path, capsys):
    code = cli.main(["experiment", "clipping", "--profile", "ci", "--steps", "2", "--out", str(tmp_path)])
    assert code == 0
    command = results.load(tmp_path / "clipping-ci-steps2.json")["provenance"]["command"]
    assert command == f"python -m course_lstm experiment clipping --profile ci --steps 2 --out {tmp_path}"
    assert "RNN, no clipping" in capsys.readouterr().out


def test_cli_doctor(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for what in ("Python", "PyTorch", "Device", "JupyterLab", "ipywidgets", "Profile"):
        assert what in out


def test_doctor_names_a_fix(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "_version", lambda package: None)
    assert cli.main(["doctor"]) == 1
    assert "FIX  JupyterLab" in capsys.readouterr().out


def test_gradient_flow_rows_hold_norms_per_step():
    result = experiments.run_experiment("gradient_flow", "ci", progress=False, steps=2, eval_every=1)
    lag = result["config"]["probe_lag"]
    for row in result["rows"]:
        assert len(row["grad_h_init"]) == len(row["grad_h_trained"]) == lag
        assert ("grad_c_init" in row) == (row["kind"] == "lstm")
        assert row["grad_h_init"] != row["grad_h_trained"]  # two steps of training moved them


def test_runs_use_the_profiles_implementation():
    profile = profiles.get_profile("ci")
    readable = profile.__class__(**{**profile.to_dict(), "implementation": "readable", "steps": 1})
    spec = experiments.lag_sweep(readable)[0]
    assert experiments.train_run(spec, readable)["implementation"] == "readable"
    ablation = next(s for s in experiments.gate_ablation(profile) if s.without_gate)  # pinned
    assert ablation.without_gate is not None and ablation.implementation is None
    fast = profile.__class__(**{**profile.to_dict(), "steps": 1})
    assert experiments.train_run(ablation, fast)["implementation"] == "torch"


def test_report_shipped_prints_the_result_or_the_command_that_makes_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "SHIPPED", tmp_path)
    assert experiments.report_shipped("clipping") is None
    said = capsys.readouterr().out
    assert "clipping: no gpu-profile result ships" in said
    assert "python -m course_lstm experiment clipping --profile gpu --out course_lstm/results" in said
    results.save(experiments.run_experiment("clipping", "ci", progress=False, steps=1, eval_every=1), tmp_path)
    shipped = experiments.report_shipped("clipping", "ci")
    said = capsys.readouterr().out
    assert shipped is not None and shipped["experiment"] == "clipping"
    assert "RNN, no clipping" in said and f"measured in the {results.provenance_line(shipped)}" in said
    with pytest.raises(ValueError, match="unknown experiment 'clip'"):
        experiments.report_shipped("clip")
