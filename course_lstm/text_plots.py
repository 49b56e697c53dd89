"""The real-text study's figures: learning curves, loss against distance inside quotations, a
cell's activation over a passage, and the sentence classifiers. Each returns a Figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from course_lstm import stats
from course_lstm.plots import DASHES, MARKERS, _add_note
from course_lstm.text_study import bin_names

COLOURS = {"RNN": "tab:orange", "LSTM": "tab:blue", "GRU": "tab:green"}


def learning_curves(rows: Sequence[dict], title: str, note: str | None = None) -> Figure:
    """Validation bits per character against training step, a thin line per run, one colour per
    model; dashed horizontal lines for ``baselines`` are drawn by the caller if wanted.

    rows: language rows with a ``history`` (``train_language_model``'s)."""
    if not rows:
        raise ValueError("no runs to plot")
    figure, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    labelled = set()
    for row in rows:
        steps = [h["step"] for h in row["history"]]
        bits = [h["validation_bits"] for h in row["history"]]
        label = row["label"] if row["label"] not in labelled else None
        labelled.add(row["label"])
        ax.plot(steps, bits, color=COLOURS.get(row["label"]), alpha=0.7, linewidth=1.2, label=label)
    ax.set_xlabel("training step (one chunk of the stream per step)")
    ax.set_ylabel("validation bits per character")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _add_note(figure, note)
    return figure


def _mean_and_interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    low, high = stats.t_interval(values)
    return mean, low, high


def distance_figure(rows: Sequence[dict], bins: Sequence[Sequence[int]], title: str, note: str | None = None) -> Figure:
    """Two panels against characters since the opening “: mean bits of every character inside the
    quotation, and of the closing ” alone; per model the mean over its seeds with a 95% t
    interval (per-seed points in light colour). rows: evaluation rows with ``distance``."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    names = bin_names(bins, dash="–")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    for ax, field, what in zip(
        axes, ("inside", "closing"), ("every character inside", "the closing ” alone"), strict=True
    ):
        for index, label in enumerate(labels):
            mine = [r["distance"][field] for r in rows if r["label"] == label]
            xs, means, lows, highs = [], [], [], []
            for b in range(len(names)):
                values = [m[b] for m in mine if m[b] is not None]
                if not values:
                    continue
                mean, low, high = _mean_and_interval(values)
                xs.append(b + (index - 1) * 0.08)
                means.append(mean)
                lows.append(mean - low)
                highs.append(high - mean)
                ax.scatter([b + (index - 1) * 0.08] * len(values), values, s=8, color=COLOURS.get(label), alpha=0.3)
            ax.errorbar(
                xs,
                means,
                yerr=[lows, highs],
                marker=MARKERS[index % len(MARKERS)],
                linestyle=DASHES[index % len(DASHES)],
                color=COLOURS.get(label),
                capsize=3,
                label=label,
            )
        ax.set_xticks(range(len(names)), names)
        ax.set_xlabel("characters since the opening “")
        ax.set_ylabel("test bits per character")
        ax.set_title(what)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    _add_note(figure, note)
    return figure


def cell_figure(text: str, cell_values: torch.Tensor, structure: Sequence[float], cell: int, title: str) -> Figure:
    """A cell's state over a passage (top) with the structure it tracks (bottom, same x axis),
    the passage's characters along the x axis when it is short enough to read."""
    if len(cell_values) != len(text) or len(structure) != len(text):
        raise ValueError(f"expected one value per character ({len(text)}), got {len(cell_values)} and {len(structure)}")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True, layout="constrained")
    positions = range(len(text))
    top.plot(positions, cell_values.tolist(), color="tab:blue", linewidth=1.2)
    top.set_ylabel(f"cell {cell}: c_t")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.step(positions, list(structure), where="mid", color="0.3")
    bottom.set_ylabel("structure")
    bottom.set_xlabel("character of the passage (newlines shown as ⏎)")
    if len(text) <= 160:
        bottom.set_xticks(list(positions), ["⏎" if c == "\n" else c for c in text], fontsize=7)
    bottom.grid(alpha=0.3)
    return figure


def sentence_figure(summary: dict, prior: dict, title: str, note: str | None = None) -> Figure:
    """Test bits per sentence and accuracy of the sentence classifiers (mean and 95% t interval
    over seeds, each seed a point), against the prior that reads nothing."""
    bars = []
    for label, entry in summary.items():
        bars.append((label, entry.get("test_bits"), entry.get("test_accuracy")))
        if "test_read_over_padding_bits" in entry:
            bars.append(
                (
                    f"{label},\nread over the padding",
                    entry["test_read_over_padding_bits"],
                    entry["test_read_over_padding_accuracy"],
                )
            )
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    for ax, column, name, reference in zip(
        axes,
        (1, 2),
        ("test bits per sentence (lower is better)", "test accuracy"),
        (prior["bits"], prior["accuracy"]),
        strict=True,
    ):
        for x, bar in enumerate(bars):
            entry = bar[column]
            low, high = entry["interval"]
            ax.bar(x, entry["mean"], color="tab:blue" if x == 0 else "0.6", alpha=0.8)
            ax.errorbar(x, entry["mean"], yerr=[[entry["mean"] - low], [high - entry["mean"]]], color="k", capsize=4)
            ax.scatter([x] * len(entry["values"]), entry["values"], color="k", s=10, zorder=3)
        ax.axhline(reference, color="tab:red", linestyle="--", label="prior (reads nothing)")
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3, axis="y")
        ax.legend()
    figure.suptitle(title)
    _add_note(figure, note)
    return figure
