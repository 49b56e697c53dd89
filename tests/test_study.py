"""The study: its statistics against independent computations, the sweep runner (same rows
whatever the workers, resumable from its cache), the protocol's fairness, the command line."""

import itertools
import math
import random
from dataclasses import FrozenInstanceError, replace

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from course_lstm import cli, plots, results, stats, study, sweep
from course_lstm.experiments import RunSpec

# --- statistics ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, n, expected",
    [
        (0, 5, (0.0, 0.4345)),
        (5, 5, (0.5655, 1.0)),
        (3, 5, (0.2307, 0.8824)),
        (10, 20, (0.2993, 0.7007)),
    ],
)
def test_wilson_interval_matches_published_values(k, n, expected):
    low, high = stats.wilson_interval(k, n)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_interval_covers_about_95_percent():
    """An independent check: simulate, count how often the interval holds the true rate."""
    rng = random.Random(0)
    for p in (0.2, 0.5):
        n, trials = 20, 4000
        covered = sum(
            stats.wilson_interval(k, n)[0] <= p <= stats.wilson_interval(k, n)[1]
            for k in (sum(rng.random() < p for _ in range(n)) for _ in range(trials))
        )
        assert 0.92 < covered / trials < 0.99


def brute_force_fisher(k1, n1, k2, n2):
    """Every way to choose which of the n1 + n2 runs hold the k1 + k2 successes, counted."""
    runs = range(n1 + n2)
    tables = list(itertools.combinations(runs, k1 + k2))
    return sum(sum(i < n1 for i in chosen) >= k1 for chosen in tables) / len(tables)


@pytest.mark.parametrize("k1, n1, k2, n2", [(5, 5, 0, 5), (4, 5, 1, 5), (2, 5, 2, 5), (0, 5, 5, 5), (3, 4, 1, 6)])
def test_fisher_exact_against_brute_force(k1, n1, k2, n2):
    assert stats.fisher_exact_greater(k1, n1, k2, n2) == pytest.approx(brute_force_fisher(k1, n1, k2, n2))


def test_fisher_five_of_five_against_none_is_one_in_252():
    assert stats.fisher_exact_greater(5, 5, 0, 5) == pytest.approx(1 / math.comb(10, 5))


@pytest.mark.parametrize(
    "k, n, error",
    [(6, 5, ValueError), (-1, 5, ValueError), (0, 0, ValueError), (1.0, 5, TypeError), (True, 5, TypeError)],
)
def test_bad_counts_are_refused(k, n, error):
    with pytest.raises(error, match="k"):
        stats.wilson_interval(k, n)


# --- the protocol --------------------------------------------------------------------------------


def test_every_model_gets_the_same_tuning_budget_and_the_same_learning_rates():
    assert len(study.GRIDS["rnn"]) == len(study.GRIDS["lstm"])
    for grid in study.GRIDS.values():
        assert sorted({c.lr for c in grid}) == sorted(study.LEARNING_RATES)
    assert {c.recurrent_init for c in study.GRIDS["rnn"]} == {None, "orthogonal", "identity"}
    assert {(c.forget_bias, c.chrono) for c in study.GRIDS["lstm"]} == {(0.0, False), (1.0, False), (None, True)}
    protocol = study.PROTOCOLS["cpu"]
    specs = study.tuning_specs(protocol)
    per_cell = {}
    for spec in specs:
        per_cell.setdefault((spec.task, spec.lag, spec.label), []).append(spec)
    assert len({len(runs) for runs in per_cell.values()}) == 1


def test_tuning_and_evaluation_seeds_are_apart_and_there_are_at_least_five():
    for protocol in study.PROTOCOLS.values():
        assert not set(protocol.tuning_seeds) & set(protocol.evaluation_seeds)
        assert len(protocol.evaluation_seeds) >= 5


def test_the_cpu_protocol_reaches_lag_100_and_gives_the_rnn_the_lstm_budget():
    protocol = study.PROTOCOLS["cpu"]
    assert max(dict(protocol.tasks)["adding"]) >= 100
    specs = study.tuning_specs(protocol)
    width = {spec.label: spec.hidden_size for spec in specs if (spec.task, spec.lag) == ("adding", 100)}
    assert width["RNN"] == width["LSTM"] < width["RNN (equal budget)"]


def row(config, solved, loss):
    return {"config": config, "solved": solved, "final_loss": loss, "baseline": 1.0}


def test_choose_prefers_solving_then_a_lower_loss_then_the_grid_order():
    grid = study.GRIDS["rnn"]
    rows = [row(c.name, False, 0.9) for c in grid]
    assert study.choose(rows, "rnn") == grid[0]
    rows[3] = row(grid[3].name, False, 0.5)
    assert study.choose(rows, "rnn") == grid[3]
    rows[5] = row(grid[5].name, True, 0.95)
    assert study.choose(rows, "rnn") == grid[5]
    with pytest.raises(ValueError, match="no tuning runs"):
        study.choose(rows[:2], "rnn")


# --- the runner ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    profile = study.PROTOCOLS["ci"].training()
    specs = [RunSpec("LSTM", "lstm", "adding", 5, seed, 8, forget_bias=1.0, lr=1e-2, test_size=64) for seed in range(3)]
    return profile, specs


def test_rows_are_identical_whatever_the_number_of_workers(small):
    profile, specs = small
    one = sweep.run_specs(specs, profile, workers=1, progress=False)
    two = sweep.run_specs(specs, profile, workers=2, progress=False)
    assert [sweep.without_timings(r) for r in one] == [sweep.without_timings(r) for r in two]
    assert [r["seed"] for r in two] == [0, 1, 2]


def test_an_interrupted_sweep_resumes_from_its_cache(small, tmp_path, monkeypatch):
    profile, specs = small
    first = sweep.run_specs(specs[:2], profile, cache=tmp_path, progress=False)
    trained = []
    monkeypatch.setattr(sweep, "train_run", lambda spec, profile: trained.append(spec.seed) or {"seed": spec.seed})
    again = sweep.run_specs(specs, profile, cache=tmp_path, progress=False)
    assert trained == [2], "only the run that had not finished is trained again"
    assert again[:2] == first


def test_the_runner_refuses_bad_arguments(small):
    profile, specs = small
    with pytest.raises(ValueError, match="workers must be a positive whole number, got 0"):
        sweep.run_specs(specs, profile, workers=0)
    with pytest.raises(TypeError, match="RunSpec"):
        sweep.run_specs([{"seed": 0}], profile)


# --- the whole study, at toy scale --------------------------------------------------------------


@pytest.fixture(scope="module")
def ci_study():
    return study.run_study("ci", workers=1, progress=False)


def test_the_study_tunes_then_evaluates_the_chosen_configuration(ci_study):
    rows = ci_study["rows"]
    protocol = study.PROTOCOLS["ci"]
    tuning = [r for r in rows if r["phase"] == "tuning"]
    evaluation = [r for r in rows if r["phase"] == "evaluation"]
    assert {r["seed"] for r in tuning} == set(protocol.tuning_seeds)
    assert {r["seed"] for r in evaluation} == set(protocol.evaluation_seeds)
    for entry in ci_study["summary"]:
        mine = [r for r in tuning if r["label"] == entry["model"]]
        kind = mine[0]["kind"]
        assert entry["config"] == study.choose(mine, kind).name
        assert {r["config"] for r in evaluation if r["label"] == entry["model"]} == {entry["config"]}
        assert entry["interval"] == list(stats.wilson_interval(entry["solved"], entry["seeds"]))
        assert entry["tuning_runs"] == len(study.GRIDS[kind]) * len(protocol.tuning_seeds)
    assert all(r["solved_threshold"] == pytest.approx(protocol.solved_fraction * r["baseline"]) for r in rows)


def test_the_study_saves_with_its_protocol_and_provenance(ci_study, tmp_path):
    path = results.save(ci_study, tmp_path)
    loaded = results.load(path)
    assert path.name == "study-ci.json"
    assert loaded["config"]["evaluation_seeds"] == list(study.PROTOCOLS["ci"].evaluation_seeds)
    assert loaded["provenance"]["hardware"]["cpu_capability"] and loaded["provenance"]["workers"] == 1
    assert "RNN" in study.format_summary(loaded["summary"])
    assert loaded["comparisons"][0]["against"] == "RNN"


def test_cli_refuses_an_unwritable_folder_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match="cannot write results to"):
        cli.main(["study", "--protocol", "ci", "--out", str(blocker / "sub")])
    with pytest.raises(SystemExit, match="unknown --protocol 'huge'"):
        cli.main(["study", "--protocol", "huge", "--out", str(tmp_path)])


def test_protocols_are_frozen():
    with pytest.raises(FrozenInstanceError):
        study.PROTOCOLS["cpu"].steps = 1  # type: ignore[misc]
    assert replace(study.PROTOCOLS["cpu"]).to_dict()["grids"]["rnn"][0]["lr"] == study.LEARNING_RATES[0]


def test_the_study_figures_show_every_model_and_refuse_a_missing_task(ci_study):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lstm import plots

    summary = study.summarise(ci_study["rows"])
    figure = plots.study_figure(summary, "adding", "title", note="where it came from")
    _rates, losses = figure.axes
    assert [text.get_text() for text in figure.legends[0].get_texts()] == [
        "RNN (5 seeds)",
        "LSTM (5 seeds)",
        "solved",
        "memoryless baseline",
    ]
    assert losses.get_yscale() == "log"
    assert study.headline(summary, "adding") == "at T = 5, solved: " + ", ".join(
        f"{e['model']} {e['solved']}/{e['seeds']}" for e in summary
    )
    plt.close(figure)
    figure = plots.budget_figure(ci_study["rows"], "adding", 5, "title")
    assert len(figure.axes[0].get_lines()) == 2
    plt.close(figure)
    with pytest.raises(ValueError, match="no entries for task 'copy'"):
        plots.study_figure(summary, "copy", "title")
    with pytest.raises(ValueError, match="no evaluation runs at 'adding', T = 50"):
        plots.budget_figure(ci_study["rows"], "adding", 50, "title")


def test_recurrent_inits_are_what_they_say():
    import torch

    from course_lstm.experiments import _init_recurrent
    from course_lstm.models import SequenceModel

    def core_after(init: str | None):
        model = SequenceModel("rnn", 2, 6, 1, implementation="torch")
        _init_recurrent(model, RunSpec("RNN", "rnn", "adding", 5, 0, 6, recurrent_init=init))
        return model.core.weight_hh_l0.detach()

    assert torch.equal(core_after("identity"), torch.eye(6))
    assert torch.allclose(torch.linalg.svdvals(core_after("orthogonal")), torch.ones(6), atol=1e-5)
    with pytest.raises(ValueError, match="recurrent_init must be one of"):
        core_after("xavier")


def test_fit_takes_a_stricter_solved_threshold():
    import torch

    from course_lstm.models import SequenceModel
    from course_lstm.tasks import make_task
    from course_lstm.training import fit

    task = make_task("adding", 5)
    torch.manual_seed(0)
    model = SequenceModel("rnn", task.input_size, 4, task.output_size, implementation="torch")
    history = fit(model, task, 20, eval_every=10, progress=False, solved_threshold=1e9)
    assert history.solved_at == 10 and history.status == "solved"
    with pytest.raises(ValueError, match="solved_threshold must be a finite positive number, got 0"):
        fit(model, task, 20, progress=False, solved_threshold=0)


def test_mann_whitney_is_exact_on_small_groups():
    assert stats.mann_whitney_greater([5, 6, 7, 8, 9], [0, 1, 2, 3, 4]) == pytest.approx(1 / 252)
    assert stats.mann_whitney_greater([0, 1, 2, 3, 4], [5, 6, 7, 8, 9]) == 1.0
    # independent check: the tail of U over every split, counted by brute force on ranks
    first, second = [0.3, 2.0, 5.0], [1.0, 0.1]
    # ranks 2, 4, 5 of 5 (U = 5 of 6); of the 10 ways to pick 3 ranks, only {2,4,5} and {3,4,5} sum to 11 or more
    assert stats.mann_whitney_greater(first, second) == pytest.approx(2 / 10)
    with pytest.raises(ValueError, match="finite"):
        stats.mann_whitney_greater([math.nan], [1.0])


def test_every_mechanism_experiment_gives_each_model_the_same_budget():
    for name in ("ci-mechanisms", "cpu-mechanisms"):
        for part in study.STUDIES[name]:
            budgets = {len(study.GRIDS[model.grid_name]) for model in part.models}
            assert len(budgets) == 1, f"{name} {part.experiment}: unequal tuning budgets {budgets}"
            assert part.reference in {model.label for model in part.models}
            assert len(part.evaluation_seeds) >= 5 and not set(part.tuning_seeds) & set(part.evaluation_seeds)


def test_the_lengths_experiment_uses_mixed_lengths_and_one_ignores_them():
    part = next(p for p in study.STUDIES["cpu-mechanisms"] if p.experiment == "lengths")
    specs = study.tuning_specs(part)
    assert all(spec.min_length == round(0.2 * spec.lag) for spec in specs)
    assert {spec.label for spec in specs if spec.ignore_lengths} == {"LSTM, lengths ignored"}


def test_the_mechanisms_study_runs_end_to_end(tmp_path, monkeypatch, capsys):
    result = study.run_study("ci-mechanisms", workers=1, progress=False)
    experiments = {e["experiment"] for e in result["summary"]}
    assert experiments == {"gru", "gates", "forget bias", "clipping", "lengths"}
    assert {(r["kind"], r["init"]) for r in result["gradient_flow"]} >= {("rnn", "default W_hh"), ("lstm", "chrono")}
    assert all(r["kept"] is None or r["kept"] >= 0 for r in result["gradient_flow"])
    assert all(
        c["model"]
        == {"forget bias": "LSTM, forget bias 1", "clipping": "RNN, clipped at 1", "lengths": "LSTM, packed"}.get(
            c["experiment"], "LSTM"
        )
        for c in result["comparisons"]
    )
    loaded = results.load(results.save(result, tmp_path))
    assert "experiment: lengths" in study.format_summary(loaded["summary"])
    gates = [e for e in loaded["summary"] if e["experiment"] == "gates"]
    figure = plots.experiment_figure(gates, "gates", note="a note")
    rates, losses = figure.axes
    assert rates.get_ylabel().startswith("evaluation seeds solved") and losses.get_yscale() == "log"
    assert [t.get_text() for t in rates.get_xticklabels()] == ["adding problem\nT = 5", "temporal order\nT = 10"]
    assert len(rates.get_legend_handles_labels()[0]) == 4
    plt.close(figure)
    reads = []
    monkeypatch.setattr(results, "shipped", lambda experiment, profile: reads.append(profile) or loaded)
    shown = study.report("gates", "ci-mechanisms")
    assert reads == ["ci-mechanisms"]  # one read serves the table and the figure's note
    assert shown.summary == gates and shown.provenance == results.provenance_line(loaded)
    printed = capsys.readouterr().out
    assert "experiment: gates" in printed and "against no input gate: p = " in printed and "measured: " in printed
    with pytest.raises(ValueError, match="no experiment 'nothing'"):
        study.report("nothing", "ci-mechanisms")
    table = study.format_gradient(loaded["gradient_flow"])
    assert "adding problem T = 5, 5 seeds" in table and "LSTM   chrono" in table
