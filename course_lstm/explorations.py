"""The computations and figures behind the course's explorers, without ipywidgets: each a plain,
tested function (``gate_trace``, ``gradient_flow``, ``record_steps``, ``snapshot``) and a plain
function that draws its result. ``course_lstm.widgets`` wires them to sliders; a notebook or a
script can call them directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import matplotlib
import matplotlib.ticker
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from course_lstm import validation
from course_lstm.cells import lstm_step
from course_lstm.diagnostics import GateRecord, decay_rate, distance_to_loss, gradient_through_time, record_gates
from course_lstm.models import SequenceModel, set_forget_bias, set_recurrent_gain
from course_lstm.tasks import AddingProblem, Batch

SPIKE_STEP = 10
"""The step at which every input of the gate explorer has its spike of +1."""

SEQUENCES = ("one spike", "spike in noise", "spike, then its opposite", "spike on a steady input")
"""The inputs the gate explorer can feed its cell; each has a spike of +1 at ``SPIKE_STEP``."""

KEPT_AFTER = (10, 100)
"""The distances (steps after the spike) at which the gate explorer reports what is left."""

GATE_SIZE, GRADIENT_SIZE, STEPPER_SIZE = (7.5, 4.6), (7.5, 4.2), (8.0, 7.5)
"""Each explorer's figure size in inches (at 100 dpi, pixels / 100)."""


Result = TypeVar("Result")
"""What an explorer's ``compute`` returns and its draw function draws (``GateTrace``, ...)."""

Redraw = Callable[[Result], None]
"""What a draw function may return: a function that redraws the figure in place for a new result
(new data in the same artists), which is faster than clearing and drawing it again."""


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is an int in [low, high]: TypeError for another type, else ValueError."""
    bounds = f"at least {low}" if high is None else f"from {low} to {high}"
    return validation.integer(name, value, low, high, expected=f"a whole number {bounds}")


def _check_number(name: str, value: object, low: float, high: float) -> float:
    """``value`` as a float if it is a number in [low, high] (not NaN): as ``_check_int``."""
    return validation.finite_float(name, value, low, high)


def _check_sequence(name: object) -> str:
    """``name`` if it is one of ``SEQUENCES``, else ValueError."""
    return validation.one_of("sequence", name, SEQUENCES)


def _share(fraction: float) -> str:
    """A fraction in words for a title: 'all', '37%', '1e-03', or '<1e-16' for 0: the spike's share
    is a difference of two cell states, so below float64's resolution it reads as 0."""
    if fraction >= 0.995:
        return "all"
    if fraction >= 0.01:
        return f"{fraction:.0%}"
    return f"{fraction:.0e}" if fraction > 0 else "<1e-16"


# --- The gate explorer: one memory cell with constant gates ---------------------------------


@dataclass(frozen=True)
class GateTrace:
    """What the gate explorer's cell did with constant gates; each tensor (T,) float64, index t
    the step reading x_t. ``spike`` is the spike's share of c_t: c_t minus the c_t of the same
    run without the spike (the cell is linear in what it writes, so the share is exact)."""

    forget: float
    input_gate: float
    output: float
    x: Tensor
    c: Tensor
    h: Tensor
    spike: Tensor

    def kept(self, steps: int) -> float | None:
        """The fraction of the spike's share of c that is left ``steps`` steps after the spike;
        None when the input gate is 0 and nothing was written."""
        _check_int("steps", steps, 0, self.x.shape[0] - 1 - SPIKE_STEP)
        written = self.spike[SPIKE_STEP].item()
        return None if written == 0 else self.spike[SPIKE_STEP + steps].item() / written


def input_sequence(name: str, length: int = 200) -> Tensor:
    """(length,) float64: one of ``SEQUENCES``, with a spike of +1 at step ``SPIKE_STEP``.

    "spike in noise" adds noise of standard deviation 0.1 (seeded, the same every time);
    "spike, then its opposite" has a spike of -1 at step ``SPIKE_STEP + 100`` (if it fits);
    "spike on a steady input" adds 0.05 at every step.
    """
    _check_sequence(name)
    _check_int("length", length, SPIKE_STEP + 1)
    x = torch.zeros(length, dtype=torch.float64)
    if name == "spike in noise":
        x = 0.1 * torch.randn(length, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    elif name == "spike, then its opposite" and SPIKE_STEP + 100 < length:
        x[SPIKE_STEP + 100] = -1.0
    elif name == "spike on a steady input":
        x += 0.05
    x[SPIKE_STEP] += 1.0
    return x


def gate_trace(
    forget: float = 0.99,
    input_gate: float = 1.0,
    output: float = 1.0,
    sequence: str = "one spike",
    length: int = 200,
) -> GateTrace:
    """Run one LSTM memory cell (H = 1) whose gates are constant over ``input_sequence(sequence)``.

    The cell is ``cells.lstm_step`` with every weight 0 except the candidate's input weight, 1, so
    that g_t = tanh(x_t), and gate biases logit(forget), logit(input_gate), logit(output): each
    gate is exactly the value given, in [0, 1]. c_t = f c_{t-1} + i g_t, h_t = o tanh(c_t). The
    run with and without the spike is one batch of N = 2.
    """
    gates = {
        name: _check_number(name, value, 0, 1)
        for name, value in (("forget", forget), ("input_gate", input_gate), ("output", output))
    }
    x = input_sequence(sequence, length)
    without = x.clone()
    without[SPIKE_STEP] -= 1.0
    pair = torch.stack([x, without], dim=1).unsqueeze(-1)  # (T, N=2, I=1)
    weight_ih = torch.tensor([[0.0], [0.0], [1.0], [0.0]], dtype=torch.float64)  # (4H, I): i, f, g, o
    logit = {
        name: math.log(p / (1 - p)) if 0 < p < 1 else math.copysign(math.inf, p - 0.5) for name, p in gates.items()
    }  # sigmoid(logit) is the gate; +-inf for exactly 0 or 1
    bias_ih = torch.tensor(
        [logit["input_gate"], logit["forget"], 0.0, logit["output"]], dtype=torch.float64
    )  # (4H,): i, f, g, o
    weight_hh = torch.zeros(4, 1, dtype=torch.float64)  # (4H, H): the gates ignore h
    h = c = torch.zeros(2, 1, dtype=torch.float64)  # (N, H)
    cs, hs = [], []
    for x_t in pair:
        h, c, _ = lstm_step(x_t, h, c, weight_ih, weight_hh, bias_ih)
        cs.append(c[:, 0])
        hs.append(h[:, 0])
    c_all, h_all = torch.stack(cs), torch.stack(hs)  # (T, 2)
    return GateTrace(
        forget=gates["forget"],
        input_gate=gates["input_gate"],
        output=gates["output"],
        x=x,
        c=c_all[:, 0],
        h=h_all[:, 0],
        spike=c_all[:, 0] - c_all[:, 1],
    )


def gate_title(trace: GateTrace) -> str:
    """The finding of a gate trace in one line: the memory time scale and what is left of the spike."""
    tau = "forever" if trace.forget == 1 else f"about {1 / (1 - trace.forget):.3g} steps"
    if trace.kept(0) is None:
        return f"f = {trace.forget:g} (memory {tau}); the input gate is closed: nothing is written"
    left = [
        (k, _share(kept))
        for k in KEPT_AFTER
        if SPIKE_STEP + k < trace.x.shape[0] and (kept := trace.kept(k)) is not None
    ]  # kept(k) is None for every k or for none: only when nothing was written
    told = [
        f"{share} of the spike is left after {k} steps" if n == 0 else f"{share} after {k}"
        for n, (k, share) in enumerate(left)
    ]
    return f"f = {trace.forget:g}, memory {tau}: " + ", ".join(told)


def draw_gate_trace(figure: Figure, trace: GateTrace) -> None:
    """Draw a ``GateTrace`` on ``figure``: the input above, c_t, h_t and the spike's share below."""
    top, bottom = figure.subplots(
        2,
        1,
        sharex=True,
        height_ratios=[1, 2.2],
        gridspec_kw=dict(left=0.1, right=0.98, bottom=0.11, top=0.92, hspace=0.08),
    )
    steps, spike = np.arange(trace.x.shape[0]), trace.spike.numpy()
    top.plot(steps, trace.x.numpy(), color="black", lw=1)
    top.set_ylabel("input $x_t$")
    # h is drawn wide and pale under c: with o = 1 and a small c, h = tanh(c) is almost c.
    bottom.plot(steps, trace.h.numpy(), color="tab:purple", lw=3, alpha=0.45, label="hidden state $h_t$")
    bottom.plot(steps, trace.c.numpy(), color="tab:green", lw=1.3, label="cell state $c_t$")
    # Drawn last, in its own colour: on the spike-only input it equals c_t and would hide under it.
    bottom.plot(steps, spike, color="tab:orange", ls="--", lw=1.6, zorder=3, label="the spike's share of $c_t$")
    for k in KEPT_AFTER:
        if SPIKE_STEP + k < trace.x.shape[0]:
            bottom.plot(SPIKE_STEP + k, spike[SPIKE_STEP + k], "o", color="tab:orange", ms=4, zorder=3)
    bottom.set(xlabel="time step $t$", ylabel="state")
    bottom.legend(loc="upper right", fontsize="small")
    figure.suptitle(gate_title(trace), fontsize="medium")


# --- The gradient-flow explorer: ||dL/dh_t|| for an RNN and an LSTM -------------------------


@dataclass(frozen=True)
class GradientComparison:
    """||dL/dh_t|| (batch mean) at each step for an RNN and an LSTM on the same batch of the
    adding problem. Each tensor (T,), index t pairs with ``distance`` (T-1-t); ``*_rate`` is the
    fitted factor per step (``diagnostics.decay_rate``)."""

    scale: float
    forget_bias: float
    distance: Tensor
    rnn: Tensor
    lstm: Tensor
    rnn_rate: float
    lstm_rate: float

    def far(self, kind: str) -> float:
        """||dL/dh_0|| / ||dL/dh_{T-1}||: how much of the gradient at the loss reaches step 0."""
        norms = {"rnn": self.rnn, "lstm": self.lstm}[kind]
        return (norms[0] / norms[-1]).item()


def gradient_flow(
    scale: float = 1.0,
    forget_bias: float = 1.0,
    length: int = 100,
    hidden_size: int = 16,
    batch_size: int = 8,
    seed: int = 0,
) -> GradientComparison:
    """||dL/dh_t|| against the distance to the loss for a tanh RNN and an LSTM, float64.

    Both are ``SequenceModel``s for the adding problem of ``length`` steps, on the same seeded
    batch of ``batch_size``; every (H, H) block of their recurrent weights is ``scale`` times a
    random orthogonal matrix, the other weights keep torch's initialisation (seeded; the global
    random state is left as it was), and the LSTM's forget-gate bias is ``forget_bias``.
    """
    # Beyond these the norms leave float64's range and the picture says nothing more.
    _check_number("scale", scale, 0.01, 10)
    _check_number("forget_bias", forget_bias, -20, 20)
    _check_int("length", length, 2, 1000)
    task = AddingProblem(length=length)
    batch = task.batch(batch_size, torch.Generator().manual_seed(seed), dtype=torch.float64)
    norms = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for kind in ("rnn", "lstm"):
            model = SequenceModel(kind, task.input_size, hidden_size, task.output_size).double()
            set_recurrent_gain(model.core, scale, torch.Generator().manual_seed(seed))
            if kind == "lstm":
                set_forget_bias(model.core, forget_bias)
            norms[kind] = gradient_through_time(model, task, batch).h
    return GradientComparison(
        scale=float(scale),
        forget_bias=float(forget_bias),
        distance=distance_to_loss(length),
        rnn=norms["rnn"],
        lstm=norms["lstm"],
        rnn_rate=decay_rate(norms["rnn"]),
        lstm_rate=decay_rate(norms["lstm"]),
    )


def draw_gradient_flow(figure: Figure, flow: GradientComparison) -> None:
    """Draw a ``GradientComparison`` on ``figure``: both norms against distance, log scale."""
    ax = figure.subplots(gridspec_kw=dict(left=0.12, right=0.98, bottom=0.12, top=0.87))
    ax.semilogy(flow.distance.numpy(), flow.rnn.numpy(), color="tab:blue", label=f"RNN: ×{flow.rnn_rate:.3f} per step")
    ax.semilogy(
        flow.distance.numpy(),
        flow.lstm.numpy(),
        color="tab:orange",
        label=f"LSTM, forget bias {flow.forget_bias:g}: ×{flow.lstm_rate:.3f} per step",
    )
    ax.set(
        xlabel="distance to the loss $T - t$ (steps)", ylabel=r"$\|\partial \mathcal{L} / \partial h_t\|$ (batch mean)"
    )
    ax.legend(loc="best", fontsize="small")
    far = flow.distance[0].item()
    ax.set_title(
        f"Scale {flow.scale:g}: {far} steps back the gradient is ×{flow.far('rnn'):.0e} (RNN) "
        f"and ×{flow.far('lstm'):.0e} (LSTM)\nof its size at the loss",
        fontsize="medium",
    )


# --- The gate stepper: a trained LSTM's gates, step by step ---------------------------------


@dataclass(frozen=True)
class Recording:
    """What a model's LSTM computed on a batch. x: (N, T, I); gates: ``GateRecord``, each
    (N, T, H); readout: (N, T), the model's first output if the sequence ended after step t (its
    head applied to h_t); target: (N,) the task's target for a one-number task, else None."""

    x: Tensor
    gates: GateRecord
    readout: Tensor
    target: Tensor | None


@dataclass(frozen=True)
class Snapshot:
    """One sequence of a ``Recording`` read up to ``step``: x (T, I) the whole input; i, f, o, c
    each (H, T) and readout (T,), NaN after ``step`` (not read yet). ``c_limit`` and
    ``readout_limits`` span the whole sequence, so that colours and axes stay put while stepping."""

    sequence: int
    step: int
    x: Tensor
    i: Tensor
    f: Tensor
    o: Tensor
    c: Tensor
    readout: Tensor
    target: float | None
    c_limit: float
    readout_limits: tuple[float, float]


def record_steps(model: SequenceModel, batch: Batch) -> Recording:
    """Record ``model``'s gates on ``batch`` (fixed length) once, for the stepper to slice.

    model: a ``SequenceModel`` with a one-layer LSTM core (readable or torch.nn's).
    """
    if not isinstance(model, SequenceModel) or model.kind != "lstm":
        raise TypeError(
            f"expected a SequenceModel with an LSTM core, got {getattr(model, 'kind', type(model).__name__)!r}"
        )
    if model.core.num_layers != 1:
        raise ValueError(f"the stepper shows one layer's gates; got num_layers={model.core.num_layers}")
    if batch.lengths is not None:
        raise ValueError("the stepper needs a fixed-length batch (batch.lengths is None)")
    weight = model.core.weight_ih_l0
    x = batch.x.to(weight)
    with torch.no_grad():
        gates = record_gates(model.core, x)
        readout = model.head(gates.h)[..., 0]  # (N, T)
    target = batch.y[:, 0] if batch.y.dim() == 2 and batch.y.is_floating_point() else None
    return Recording(
        x=x.cpu(),
        gates=GateRecord(*(g.cpu() for g in gates)),
        readout=readout.cpu(),
        target=None if target is None else target.cpu(),
    )


def snapshot(recording: Recording, sequence: int = 0, step: int | None = None) -> Snapshot:
    """Sequence ``sequence`` of ``recording`` as read up to ``step`` (None: the last step)."""
    n, length, _ = recording.x.shape
    _check_int("sequence", sequence, 0, n - 1)
    step = length - 1 if step is None else _check_int("step", step, 0, length - 1)
    unread = torch.arange(length) > step

    def upto(values: Tensor) -> Tensor:  # (T, H) -> (H, T) with NaN where not read yet
        return values.masked_fill(unread.unsqueeze(-1), math.nan).T

    gates, readout = recording.gates, recording.readout[sequence]
    target = None if recording.target is None else recording.target[sequence].item()
    span = readout.tolist() + ([] if target is None else [target])
    margin = 0.05 * (max(span) - min(span)) + 1e-3
    return Snapshot(
        sequence=sequence,
        step=step,
        x=recording.x[sequence],
        i=upto(gates.i[sequence]),
        f=upto(gates.f[sequence]),
        o=upto(gates.o[sequence]),
        c=upto(gates.c[sequence]),
        readout=readout.masked_fill(unread, math.nan),
        target=target,
        c_limit=max(gates.c[sequence].abs().max().item(), 1e-6),
        readout_limits=(min(span) - margin, max(span) + margin),
    )


def snapshot_title(shot: Snapshot, channel_names: tuple[str, ...] | None = None) -> str:
    """What the model has read and done up to the snapshot's step, in one line. A one-hot input
    with named channels shows as its symbol ("x = E"), other inputs as their values."""
    t = shot.step
    values = shot.x[t]
    one_hot = bool(((values == 0) | (values == 1)).all()) and values.sum().item() == 1
    if channel_names is not None and one_hot:
        x_t = channel_names[int(values.argmax())]
    else:
        x_t = "(" + ", ".join(f"{v:.2f}" for v in values.tolist()) + ")"
    gates = ", ".join(f"{name} {getattr(shot, name)[:, t].mean().item():.2f}" for name in "ifo")
    target = "" if shot.target is None else f" (target {shot.target:.2f})"
    return (
        f"Sequence {shot.sequence}, step {t}: x = {x_t}; mean gates {gates}; "
        f"answer so far {shot.readout[t].item():.2f}{target}"
    )


def draw_snapshot(figure: Figure, shot: Snapshot, channel_names: tuple[str, ...] | None = None) -> Redraw[Snapshot]:
    """Draw a ``Snapshot``: the input, heat maps of i, f, o and c (units x steps) read so far, and
    the readout, with a cursor at the step; returns the ``Redraw`` for another snapshot of the
    same recording. Colour bars get a column of their own, so that all rows share one time axis."""
    grid = figure.add_gridspec(
        6,
        2,
        width_ratios=[60, 1],
        height_ratios=[1, 1, 1, 1, 1, 1.2],
        left=0.1,
        right=0.93,
        bottom=0.07,
        top=0.94,
        hspace=0.2,
        wspace=0.02,
    )
    axes = [figure.add_subplot(grid[0, 0])]
    axes += [figure.add_subplot(grid[row, 0], sharex=axes[0]) for row in range(1, 6)]
    steps = np.arange(shot.x.shape[0])
    names = channel_names or tuple(f"channel {k}" for k in range(shot.x.shape[1]))
    inputs = [axes[0].plot(steps, shot.x[:, k].numpy(), lw=1, label=name)[0] for k, name in enumerate(names)]
    axes[0].set_ylabel("input")
    axes[0].legend(loc="upper right", fontsize="x-small", ncols=len(names), frameon=True)
    extent = (-0.5, shot.x.shape[0] - 0.5, shot.i.shape[0] - 0.5, -0.5)
    gate_map = matplotlib.colormaps["viridis"].with_extremes(bad="whitesmoke")
    cell_map = matplotlib.colormaps["RdBu_r"].with_extremes(bad="whitesmoke")
    rows = [
        ("i", "input $i$", gate_map, 0.0, 1.0),
        ("f", "forget $f$", gate_map, 0.0, 1.0),
        ("o", "output $o$", gate_map, 0.0, 1.0),
        ("c", "cell $c$", cell_map, -shot.c_limit, shot.c_limit),
    ]
    images = {}
    for row, (name, label, colours, low, high) in enumerate(rows, start=1):
        images[name] = axes[row].imshow(
            getattr(shot, name).numpy(),
            aspect="auto",
            cmap=colours,
            vmin=low,
            vmax=high,
            extent=extent,
            interpolation="nearest",
        )
        axes[row].set_ylabel(f"{label}\nunit")
        axes[row].grid(False)
        figure.colorbar(images[name], cax=figure.add_subplot(grid[row, 1]))
    readout = axes[5].plot(steps, shot.readout.numpy(), color="black", label="answer if the sequence ended here")[0]
    target = None
    if shot.target is not None:
        target = axes[5].axhline(shot.target, color="tab:red", ls="--", lw=1, label="target")
    axes[5].set(xlabel="time step $t$", ylabel="readout", ylim=shot.readout_limits)
    axes[5].legend(loc="upper left", fontsize="x-small")
    axes[5].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    cursors = [ax.axvline(shot.step, color="black", lw=0.8, alpha=0.6) for ax in axes]
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    title = figure.suptitle(snapshot_title(shot, channel_names), fontsize="medium")

    def redraw(new: Snapshot) -> None:
        for k, line in enumerate(inputs):
            line.set_ydata(new.x[:, k].numpy())
        for name, image in images.items():
            image.set_data(getattr(new, name).numpy())
        images["c"].set_clim(-new.c_limit, new.c_limit)
        readout.set_ydata(new.readout.numpy())
        if target is not None and new.target is not None:  # a recording has targets for all or none
            target.set_ydata([new.target, new.target])
        axes[5].set_ylim(new.readout_limits)
        for cursor in cursors:
            cursor.set_xdata([new.step, new.step])
        title.set_text(snapshot_title(new, channel_names))

    return redraw


def gate_figure(trace: GateTrace) -> Figure:
    """The gate explorer's picture of ``trace`` as a new Figure (for a notebook without widgets)."""
    figure = Figure(figsize=GATE_SIZE)
    draw_gate_trace(figure, trace)
    return figure


def gradient_figure(flow: GradientComparison) -> Figure:
    """The gradient-flow explorer's picture of ``flow`` as a new Figure."""
    figure = Figure(figsize=GRADIENT_SIZE)
    draw_gradient_flow(figure, flow)
    return figure


def snapshot_figure(shot: Snapshot, channel_names: tuple[str, ...] | None = None) -> Figure:
    """The gate stepper's picture of ``shot`` as a new Figure."""
    figure = Figure(figsize=STEPPER_SIZE)
    draw_snapshot(figure, shot, channel_names)
    return figure
