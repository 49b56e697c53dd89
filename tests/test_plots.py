"""The experiment figures plot what the rows say: success rates per lag, mean gradient norms."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from course_lstm import experiments, plots, results


def _row(label, task, lag, seed, solved, length=5):
    generator = torch.Generator().manual_seed(lag * 10 + seed + len(label) + len(task))
    return {
        "label": label,
        "task": task,
        "lag": lag,
        "seed": seed,
        "solved": solved,
        "solved_at": 100 if solved else None,
        "status": "solved" if solved else "finished",
        "final_accuracy": 0.5,
        "parameters": 10,
        "grad_h_init": torch.rand(length, generator=generator).tolist(),
        "grad_h_trained": torch.rand(length, generator=generator).tolist(),
        **(
            {
                "grad_c_init": torch.rand(length, generator=generator).tolist(),
                "grad_c_trained": torch.rand(length, generator=generator).tolist(),
            }
            if label == "LSTM"
            else {}
        ),
    }


ROWS = [
    _row(label, task, lag, seed, solved=(label == "LSTM" or lag == 5) and seed != 2)
    for task in ("adding", "copy")
    for lag in (5, 20, 80)
    for label in ("RNN", "LSTM")
    for seed in range(3)
]


def test_success_figure_plots_the_fraction_of_seeds_solved():
    figure = plots.success_figure(ROWS, "title", note="where it ran")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["adding problem", "copy memory"]
    for ax, task in zip(axes, ("adding", "copy"), strict=True):
        for line in ax.get_lines():
            label = line.get_label().split(" (")[0]
            expected = [
                sum(r["solved"] for r in ROWS if (r["task"], r["lag"], r["label"]) == (task, lag, label)) / 3
                for lag in (5, 20, 80)
            ]
            assert list(line.get_xdata()) == [5, 20, 80]
            assert list(line.get_ydata()) == pytest.approx(expected)
    assert any(text.get_text() == "where it ran" for text in figure.texts)
    plt.close(figure)


def test_success_figure_ticks_every_model_s_lags():
    lags = {"LSTM": (5, 20, 80), "RNN": (10, 40)}  # the last model has fewer, other lags
    rows = [_row(label, "adding", lag, 0, solved=True) for label in lags for lag in lags[label]]
    figure = plots.success_figure(rows, "title")
    (ax,) = figure.axes
    assert list(ax.get_xticks()) == [5, 10, 20, 40, 80]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["5", "10", "20", "40", "80"]
    plt.close(figure)


def test_gradient_figure_plots_the_mean_over_seeds_against_distance():
    rows = [row for row in ROWS if (row["task"], row["lag"]) == ("adding", 5)]
    figure = plots.gradient_figure(rows, "title")
    init, trained = figure.axes
    lines = {line.get_label(): line for line in init.get_lines()}
    assert set(lines) == {"RNN: ‖dL/dh_t‖", "LSTM: ‖dL/dh_t‖", "LSTM: ‖dL/dc_t‖"}
    expected = torch.tensor([r["grad_c_init"] for r in rows if r["label"] == "LSTM"]).mean(0)
    line = lines["LSTM: ‖dL/dc_t‖"]
    assert list(line.get_xdata()) == [4, 3, 2, 1, 0]  # step t = 0 is the farthest from the loss
    assert torch.allclose(torch.tensor(line.get_ydata(), dtype=torch.float32), expected)
    assert len(trained.get_lines()) == 3
    plt.close(figure)


def test_empty_or_foreign_rows_are_refused():
    with pytest.raises(ValueError, match="no rows to plot"):
        plots.success_figure([], "title")
    with pytest.raises(ValueError, match="grad_h_init"):
        plots.gradient_figure([{"label": "RNN"}], "title")


def test_a_real_result_plots_and_names_its_provenance():
    result = experiments.run_experiment("gradient_flow", "ci", progress=False, steps=2, eval_every=1)
    line = results.provenance_line(results.validate(result))
    assert line.startswith(f"ci profile, {results.cpu_model()} ({torch.backends.cpu.get_cpu_capability()}, ")
    assert "torch" in line
    plt.close(plots.gradient_figure(result["rows"], "title", note=line))
    plt.close(plots.success_figure(result["rows"], "title"))


def test_accuracy_figure_plots_the_mean_over_seeds_and_chance():
    rows = [dict(row, final_accuracy=0.1 * (row["seed"] + 1) + (0.5 if row["label"] == "LSTM" else 0)) for row in ROWS]
    figure = plots.accuracy_figure(rows, "copy", "title", chance=1 / 8)
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert list(lines["LSTM (mean)"].get_ydata()) == pytest.approx([0.7, 0.7, 0.7])
    assert list(lines["RNN (mean)"].get_ydata()) == pytest.approx([0.2, 0.2, 0.2])
    assert list(lines["chance (0.125)"].get_ydata()) == [0.125, 0.125]
    plt.close(figure)
    with pytest.raises(ValueError, match="no rows with an accuracy for task 'temporal_order'"):
        plots.accuracy_figure(rows, "temporal_order", "title")


def test_plots_do_not_import_the_training_stack():
    """Figures of shipped results need matplotlib and the tables, not the training loop."""
    import subprocess
    import sys

    code = (
        "import sys, course_lstm.plots; "
        "loaded = {m for m in ('course_lstm.training', 'course_lstm.experiments') if m in sys.modules}; "
        "sys.exit(', '.join(sorted(loaded)) or None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, f"course_lstm.plots imported {done.stderr.strip()}"
