"""The course's figures of experiment results: success and accuracy against lag, gradient norms.

Each function takes rows or tables from ``course_lstm.experiments`` and returns a matplotlib
Figure; notebooks show it, and the shipped full-scale results go through the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from course_lstm.results import success_table

MARKERS = ("o", "s", "^", "D")
DASHES = ("-", "--", ":", "-.")
TASK_NAMES = {"adding": "adding problem", "copy": "copy memory", "temporal_order": "temporal order"}


def _add_note(figure: Figure, note: str | None) -> None:
    """Write ``note`` (e.g. where a result came from) in small grey type under the figure."""
    if note:
        figure.text(0.5, -0.02, note, ha="center", va="top", fontsize="small", color="0.35")


def _check_rows(rows: Sequence[dict], needed: tuple[str, ...]) -> None:
    if not rows:
        raise ValueError("no rows to plot: run an experiment first (experiments.run_experiment)")
    missing = [key for key in needed if key not in rows[0]]
    if missing:
        raise ValueError(f"rows lack {', '.join(missing)}: expected rows of run_experiment's result")


def success_figure(rows: Sequence[dict], title: str, note: str | None = None) -> Figure:
    """Fraction of seeds that solved each task against lag T, one panel per task, a line per model.

    rows: ``run_experiment(...)["rows"]``. ``note`` (e.g. ``results.provenance_line(result)``) goes
    under the panels.
    """
    _check_rows(rows, ("task", "lag", "label", "solved"))
    table = success_table(list(rows))
    tasks = list(dict.fromkeys(entry["task"] for entry in table))
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8), squeeze=False, layout="constrained")
    for ax, task in zip(axes[0], tasks, strict=True):
        entries = [e for e in table if e["task"] == task]
        for index, model in enumerate(dict.fromkeys(e["model"] for e in entries)):
            points = sorted((e["lag"], e["success_rate"], e["seeds"]) for e in entries if e["model"] == model)
            lags = [lag for lag, _, _ in points]
            # a marker and dash per model, so that models with equal rates stay visible
            ax.plot(
                lags,
                [rate for _, rate, _ in points],
                marker=MARKERS[index % len(MARKERS)],
                linestyle=DASHES[index % len(DASHES)],
                markersize=9 - 2 * (index % 3),
                label=f"{model} ({points[0][2]} seeds)",
            )
        lags = sorted({e["lag"] for e in entries})  # every model's lags, not the last model's
        ax.set_xscale("log")
        ax.set_xticks(lags, [str(lag) for lag in lags])
        ax.minorticks_off()
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("lag T (steps)")
        ax.set_ylabel("runs that solved it (fraction)")
        ax.set_title(TASK_NAMES.get(task, task))
        ax.legend(fontsize="small")
    figure.suptitle(title)
    _add_note(figure, note)
    return figure


def accuracy_figure(
    rows: Sequence[dict], task: str, title: str, chance: float | None = None, note: str | None = None
) -> Figure:
    """Mean held-out accuracy over seeds against lag T for ``task``, a line per model, each seed
    a faint dot; ``chance`` draws the accuracy of guessing. For tasks that no run solves, where
    a success rate of 0 everywhere hides the progress."""
    _check_rows(rows, ("task", "lag", "label", "final_accuracy"))
    chosen = [row for row in rows if row["task"] == task and row["final_accuracy"] is not None]
    if not chosen:
        raise ValueError(f"no rows with an accuracy for task {task!r}")
    figure, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for index, label in enumerate(dict.fromkeys(row["label"] for row in chosen)):
        runs = [row for row in chosen if row["label"] == label]
        lags = sorted({row["lag"] for row in runs})
        means = [
            sum(r["final_accuracy"] for r in runs if r["lag"] == lag) / sum(r["lag"] == lag for r in runs)
            for lag in lags
        ]
        ax.plot(lags, means, marker="o", color=f"C{index}", label=f"{label} (mean)")
        ax.scatter([r["lag"] for r in runs], [r["final_accuracy"] for r in runs], color=f"C{index}", alpha=0.35, s=14)
    if chance is not None:
        ax.axhline(chance, color="k", linestyle="--", linewidth=1, label=f"chance ({chance:.3g})")
    lags = sorted({row["lag"] for row in chosen})
    ax.set_xscale("log")
    ax.set_xticks(lags, [str(lag) for lag in lags])
    ax.minorticks_off()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("lag T (steps)")
    ax.set_ylabel("held-out accuracy (fraction)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    _add_note(figure, note)
    return figure


def gradient_figure(rows: Sequence[dict], title: str, note: str | None = None) -> Figure:
    """Mean ||dL/dh_t|| (and the LSTM's ||dL/dc_t||, dashed) against the distance to the loss,
    at initialisation and after training, averaged over seeds; log scale.

    rows: the ``gradient_flow`` experiment's rows (they hold ``grad_h_init`` ... per step).
    """
    _check_rows(rows, ("label", "grad_h_init", "grad_h_trained"))
    figure, axes = plt.subplots(1, 2, figsize=(10.4, 3.8), sharey=True, layout="constrained")
    for ax, when, name in zip(axes, ("init", "trained"), ("at initialisation", "after training"), strict=True):
        for index, label in enumerate(dict.fromkeys(row["label"] for row in rows)):
            runs = [row for row in rows if row["label"] == label]
            colour = f"C{index}"
            for key, style, what in ((f"grad_h_{when}", "-", "h"), (f"grad_c_{when}", "--", "c")):
                if key not in runs[0]:
                    continue
                mean = [sum(values) / len(values) for values in zip(*(run[key] for run in runs), strict=False)]
                distance = list(range(len(mean) - 1, -1, -1))
                ax.plot(distance, mean, style, color=colour, label=f"{label}: ‖dL/d{what}_t‖")
        ax.set_yscale("log")
        ax.set_xlabel("distance to the loss (steps)")
        ax.set_title(name)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("gradient norm (mean over the batch)")
    figure.suptitle(title)
    _add_note(figure, note)
    return figure


def _finish_study_panels(
    figure: Figure, rates, losses, threshold: float | None, note: str | None, max_columns: int | None = None
) -> None:
    """The parts study_figure and experiment_figure share: the solved and baseline lines, the
    axis labels and titles, and one legend under both panels with the provenance note as its
    title (so the two cannot overlap)."""
    if threshold:
        losses.axhline(threshold, color="k", linestyle=":", linewidth=1, label="solved")
    losses.axhline(1.0, color="k", linestyle="--", linewidth=1, label="memoryless baseline")
    rates.set_ylim(-0.05, 1.05)
    rates.set_ylabel("evaluation seeds solved (fraction)")
    rates.set_title("success, with 95% Wilson intervals", fontsize="medium")
    losses.set_yscale("log")
    losses.set_ylabel("test loss / baseline (each seed)")
    losses.set_title("every evaluation seed", fontsize="medium")
    handles, labels = rates.get_legend_handles_labels()
    lines, names = losses.get_legend_handles_labels()  # only the two reference lines are labelled
    columns = len(handles) + len(lines)
    legend = figure.legend(
        handles + lines,
        labels + names,
        loc="outside lower center",
        ncols=columns if max_columns is None else min(max_columns, columns),
        fontsize="small",
        title=note,
        title_fontsize="small",
    )
    if note:
        legend.get_title().set_color("0.35")


def study_figure(summary: Sequence[dict], task: str, title: str, note: str | None = None) -> Figure:
    """The study's result on one task, against lag T, a line per model: left, the fraction of
    evaluation seeds solved with its 95% Wilson interval; right, every seed's test loss / baseline
    (log scale) beside the solved line.

    summary: ``study.run_study(...)["summary"]`` (or a shipped study's).
    """
    _check_rows(summary, ("task", "lag", "model", "rate", "interval", "relative_loss"))
    entries = [e for e in summary if e["task"] == task]
    if not entries:
        raise ValueError(f"no entries for task {task!r} in the study's summary")
    figure, (rates, losses) = plt.subplots(1, 2, figsize=(10.4, 3.9), layout="constrained")
    models = list(dict.fromkeys(e["model"] for e in entries))
    lags = sorted({e["lag"] for e in entries})
    for index, model in enumerate(models):
        mine = sorted((e for e in entries if e["model"] == model), key=lambda e: e["lag"])
        # models side by side at each lag, so that equal rates and intervals stay visible
        shift = [e["lag"] * 1.06 ** (index - (len(models) - 1) / 2) for e in mine]
        rate = [e["rate"] for e in mine]
        # max(0, ...): at 0 of n or n of n the bound is the rate, up to rounding
        below = [max(0.0, e["rate"] - e["interval"][0]) for e in mine]
        above = [max(0.0, e["interval"][1] - e["rate"]) for e in mine]
        style = {"marker": MARKERS[index % len(MARKERS)], "color": f"C{index}"}
        rates.errorbar(
            shift,
            rate,
            yerr=[below, above],
            capsize=3,
            linestyle=DASHES[index % len(DASHES)],
            label=f"{model} ({mine[0]['seeds']} seeds)",
            **style,
        )
        for x, e in zip(shift, mine, strict=True):
            seeds = [v for v in e["relative_loss"] if v is not None]
            losses.scatter([x] * len(seeds), seeds, s=18, alpha=0.7, **style)
    for ax in (rates, losses):
        ax.set_xscale("log")
        ax.set_xticks(lags, [str(lag) for lag in lags])
        ax.minorticks_off()
        ax.set_xlabel("lag T (steps)")
    _finish_study_panels(figure, rates, losses, entries[0].get("solved_fraction"), note)
    figure.suptitle(f"{TASK_NAMES.get(task, task)}: {title}")
    return figure


def budget_figure(rows: Sequence[dict], task: str, lag: int, title: str, note: str | None = None) -> Figure:
    """Success against training budget: the fraction of evaluation seeds solved (on held-out
    data) by each number of steps, a line per model, at one task and lag."""
    _check_rows(rows, ("phase", "task", "lag", "label", "solved_at", "steps"))
    mine = [r for r in rows if r["phase"] == "evaluation" and (r["task"], r["lag"]) == (task, lag)]
    if not mine:
        raise ValueError(f"no evaluation runs at {task!r}, T = {lag}")
    budget = max(r["steps"] for r in mine)
    figure, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for index, model in enumerate(dict.fromkeys(r["label"] for r in mine)):
        runs = [r for r in mine if r["label"] == model]
        steps = sorted({0, budget, *(r["solved_at"] for r in runs if r["solved_at"])})
        solved = [sum(r["solved_at"] is not None and r["solved_at"] <= s for r in runs) / len(runs) for s in steps]
        ax.step(
            steps,
            solved,
            where="post",
            color=f"C{index}",
            linestyle=DASHES[index % len(DASHES)],
            label=f"{model} ({len(runs)} seeds)",
        )
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("training steps")
    ax.set_ylabel("seeds solved by then\n(validation batch, fraction)")
    ax.set_title(f"{TASK_NAMES.get(task, task)}, T = {lag}: {title}")
    ax.legend(fontsize="small", loc="upper left")
    _add_note(figure, note)
    return figure


def experiment_figure(summary: Sequence[dict], title: str, note: str | None = None) -> Figure:
    """One experiment of the study at a single lag per task: left, each model's fraction of
    evaluation seeds solved with its 95% Wilson interval; right, every seed's test loss /
    baseline (log scale). A group of models per task.

    summary: the experiment's entries of ``study.summarise(...)``.
    """
    _check_rows(summary, ("task", "lag", "model", "rate", "interval", "relative_loss"))
    if not summary:
        raise ValueError("no entries to draw")
    tasks = list(dict.fromkeys((e["task"], e["lag"]) for e in summary))
    models = list(dict.fromkeys(e["model"] for e in summary))
    figure, (rates, losses) = plt.subplots(1, 2, figsize=(10.4, 3.9), layout="constrained")
    width = 0.8 / len(models)
    for index, model in enumerate(models):
        style = {"marker": MARKERS[index % len(MARKERS)], "color": f"C{index}"}
        for position, key in enumerate(tasks):
            entry = next((e for e in summary if (e["task"], e["lag"], e["model"]) == (*key, model)), None)
            if entry is None:
                continue
            x = position + (index - (len(models) - 1) / 2) * width
            low, high = entry["interval"]
            below, above = max(0.0, entry["rate"] - low), max(0.0, high - entry["rate"])
            label = f"{model} ({entry['seeds']} seeds)" if position == 0 else None
            rates.errorbar(
                [x], [entry["rate"]], yerr=[[below], [above]], capsize=3, linestyle="none", label=label, **style
            )
            seeds = [v for v in entry["relative_loss"] if v is not None]
            losses.scatter([x] * len(seeds), seeds, s=18, alpha=0.7, **style)
    labels = [f"{TASK_NAMES.get(task, task)}\nT = {lag}" for task, lag in tasks]
    for ax in (rates, losses):
        ax.set_xticks(range(len(tasks)), labels)
        ax.set_xlim(-0.6, len(tasks) - 0.4)
        ax.set_xlabel("task and lag")
    _finish_study_panels(figure, rates, losses, summary[0].get("solved_fraction"), note, max_columns=4)
    figure.suptitle(title)
    return figure
