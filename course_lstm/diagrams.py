"""The course's network diagrams, drawn from code: an unrolled RNN, one LSTM step, its gradient paths.

Each function returns a matplotlib Figure (no image files are shipped). The drawing axes span the
whole figure with one data unit per inch, so positions below read as inches from the bottom left.
The colours are the same in every diagram: the cell state, the gates and the gradients each have one.
"""

from __future__ import annotations

import numbers
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.patheffects import Normal, Stroke

CELL_STATE = "#e07b00"
"""The LSTM's cell state c, the constant error carousel."""
GATES = "#2b6cb0"
"""Gates and nonlinearities: the parts that read the weights."""
GRADIENT = "#c62828"
"""Gradients flowing backwards."""
HIDDEN = "#2f855a"
"""The hidden state h."""
INPUT = "0.35"
"""Inputs x and plain data flow."""

Point = tuple[float, float]


def _canvas(width: float, height: float, title: str) -> tuple[Figure, Axes]:
    """A figure whose single, invisible axes measure inches from the bottom left, and its title."""
    figure = plt.figure(figsize=(width, height))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    figure.suptitle(title, y=1 - 0.12 / height, va="top", fontsize=14, fontweight="bold")
    return figure, ax


def _light(colour: str, amount: float = 0.14) -> tuple[float, float, float]:
    """``colour`` mixed with white: an opaque fill that hides the lines behind it."""
    red, green, blue = to_rgb(colour)
    return (1 - amount * (1 - red), 1 - amount * (1 - green), 1 - amount * (1 - blue))


def _box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str, fontsize: float = 10, rounded: bool = True
) -> None:
    """A box (rounded unless told) with its bottom left at (x, y), ``text`` centred in it."""
    style = f"round,pad=0,rounding_size={0.08 if rounded else 0}"
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=_light(colour), edgecolor=colour, lw=1.5))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, linespacing=1.5)


def _node(ax: Axes, x: float, y: float, symbol: str, colour: str, radius: float = 0.18) -> None:
    """A small circle with an operator in it, e.g. the elementwise product or the sum."""
    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor=colour, lw=2, zorder=3))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=13, zorder=4)


def _arrow(
    ax: Axes,
    start: Point,
    end: Point,
    colour: str,
    lw: float = 1.5,
    dashed: bool = False,
    rad: float = 0.0,
    halo: bool = False,
) -> None:
    """An arrow from ``start`` to ``end``; ``rad`` bends it (positive: to the left of its direction).

    ``halo`` edges it in white, so that it reads as passing over the lines it crosses.
    """
    effects = [Stroke(linewidth=lw + 5, foreground="white"), Normal()] if halo else None
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=10 + 3 * lw,
            color=colour,
            lw=lw,
            linestyle=(0, (5, 3)) if dashed else "-",
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=0,
            shrinkB=0,
            zorder=2.5 if halo else 2,
            path_effects=effects,
        )
    )


def _line(ax: Axes, points: list[Point], colour: str, lw: float = 1.5) -> None:
    """A polyline through ``points`` (an arrow's first legs)."""
    ax.plot([p[0] for p in points], [p[1] for p in points], color=colour, lw=lw, solid_capstyle="butt", zorder=2)


def _label(ax: Axes, x: float, y: float, text: str, colour: str = "black", fontsize: float = 11, **kwargs: Any) -> None:
    """A text label, centred at (x, y) unless ``ha`` or ``va`` say otherwise."""
    options = {"ha": "center", "va": "center", **kwargs}
    ax.text(x, y, text, color=colour, fontsize=fontsize, **options)


def _indexed(symbol: str, index: str) -> str:
    """``symbol`` with subscript ``index`` in mathtext: ``$x_1$``, ``$x_{12}$``."""
    return f"${symbol}_{index}$" if len(index) == 1 else f"${symbol}_{{{index}}}$"


def unrolled_rnn(steps: int = 4) -> Figure:
    """An RNN unrolled over ``steps`` boxes (the last is step T), its loss, and backpropagation through time.

    Every box is the same step h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) with the same weights;
    below, the gradient dL/dh_t flows right to left, multiplied by one step Jacobian per box.
    ``steps`` must be an int >= 2; an ellipsis stands between the last-but-one and the last box.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps must be an int >= 2 (the number of boxes drawn), got {type(steps).__name__}")
    if steps < 2:
        raise ValueError(f"steps must be an int >= 2 (the number of boxes drawn, the last being T), got {steps}")
    steps = int(steps)
    names = [str(k) for k in range(1, steps)] + ["T"]
    box_w, box_h, gap, dots = 1.85, 1.0, 0.45, 1.2
    chain = steps * box_w + (steps - 2) * gap + dots  # the boxes, from the first's left to the last's right
    left = 1.0 + max(0.0, (9.5 - chain) / 2)  # a short chain is centred in a figure wide enough for the text
    xs = [left + k * (box_w + gap) + (dots - gap if k == steps - 1 else 0) for k in range(steps)]
    width = xs[-1] + box_w + left + 0.25
    figure, ax = _canvas(width, 6.3, "An RNN unrolled over T steps, and backpropagation through time")
    box_y, grad_y, loss = 3.65, 1.55, (xs[-1] + box_w + 0.6, 1.55)

    def before(name: str) -> str:
        return "T-1" if name == "T" else str(int(name) - 1)

    _label(ax, left - 0.55, box_y + box_h / 2, "$h_0$", HIDDEN, fontsize=13)
    _arrow(ax, (left - 0.3, box_y + box_h / 2), (xs[0], box_y + box_h / 2), HIDDEN, lw=2)
    for k, (x, name) in enumerate(zip(xs, names, strict=True)):
        centre = x + box_w / 2
        equation = f"$h_{{{name}}} = \\tanh(W_{{ih}}\\,x_{{{name}}} + b_{{ih}}$\n$+\\ W_{{hh}}\\,h_{{{before(name)}}} + b_{{hh}})$"
        _box(ax, x, box_y, box_w, box_h, equation, GATES, fontsize=10.5)
        _label(ax, centre, box_y - 0.85, _indexed("x", name), INPUT, fontsize=13)
        _arrow(ax, (centre, box_y - 0.62), (centre, box_y), INPUT)
        _label(ax, centre, box_y + box_h + 0.85, _indexed("h", name), HIDDEN, fontsize=13)
        _arrow(ax, (centre, box_y + box_h), (centre, box_y + box_h + 0.6), HIDDEN)
        _label(ax, centre, grad_y, f"$\\partial\\mathcal{{L}}/\\partial h_{{{name}}}$", GRADIENT, fontsize=12)
        if k + 1 == steps:
            continue
        # the state arrow to the next box, and below it the gradient flowing back into dL/dh_k, each
        # through an ellipsis before the last box
        y, start, end, middle = box_y + box_h / 2, x + box_w, xs[k + 1], (x + box_w + xs[k + 1]) / 2
        tail, head = xs[k + 1] + box_w / 2 - 0.5, centre + 0.5
        jacobian = f"$\\times\\ \\partial h_{{{k + 2}}}/\\partial h_{{{name}}}$"
        if k + 2 < steps:
            _arrow(ax, (start, y), (end, y), HIDDEN, lw=2)
            _arrow(ax, (tail, grad_y), (head, grad_y), GRADIENT, lw=2)
            _label(ax, (tail + head) / 2, grad_y + 0.3, jacobian, GRADIENT, fontsize=10.5)
            continue
        _arrow(ax, (start, y), (middle - 0.25, y), HIDDEN, lw=2)
        _label(ax, middle, y, "$\\cdots$", fontsize=16)
        _arrow(ax, (middle + 0.25, y), (end, y), HIDDEN, lw=2)
        _label(ax, middle, grad_y, "$\\cdots$", GRADIENT, fontsize=16)
        _arrow(ax, (tail, grad_y), (middle + 0.3, grad_y), GRADIENT, lw=2)
        _arrow(ax, (middle - 0.3, grad_y), (head, grad_y), GRADIENT, lw=2)
        last = "$\\times\\ \\partial h_T/\\partial h_{T-1}$"
        _label(ax, (tail + middle) / 2 + 0.1, grad_y - 0.3, last, GRADIENT, fontsize=10.5)
        _label(ax, (middle + head) / 2, grad_y + 0.3, jacobian, GRADIENT, fontsize=10.5)
    # the loss reads h_T (dashed, forward), and its gradient enters the chain at dL/dh_T
    h_top = (xs[-1] + box_w / 2 + 0.3, box_y + box_h + 0.85)
    _box(ax, loss[0] - 0.5, loss[1] + 0.85, 1.0, 0.5, "loss $\\mathcal{L}$", GRADIENT, fontsize=12)
    _arrow(ax, h_top, (loss[0], loss[1] + 1.35), INPUT, dashed=True, rad=-0.45)
    _arrow(ax, (loss[0], loss[1] + 0.85), (xs[-1] + box_w / 2 + 0.55, grad_y), GRADIENT, lw=2, rad=-0.3)
    _label(ax, left - 0.9, grad_y, "backprop\nthrough\ntime", GRADIENT, fontsize=10, ha="left")
    caption = (
        "Every box is the same cell: the same $W_{ih}$, $W_{hh}$, $b$ at every step.  Backpropagation through time "
        "multiplies the gradient by one\nstep Jacobian $\\partial h_t/\\partial h_{t-1}$ per box, so "
        "$\\partial\\mathcal{L}/\\partial h_1$ is a product of $T-1$ of them: it vanishes or explodes as $T$ grows."
    )
    _label(ax, width / 2, 0.45, caption, fontsize=10.5, linespacing=1.6)
    return figure


GATE_ROWS = (
    ("i", "input gate", "\\sigma", "0:H"),
    ("f", "forget gate", "\\sigma", "H:2H"),
    ("g", "candidate", "\\tanh", "2H:3H"),
    ("o", "output gate", "\\sigma", "3H:4H"),
)
"""torch.nn.LSTM's four row blocks of its stacked weights, in its order: name, role, nonlinearity, rows."""


def lstm_cell() -> Figure:
    """One step of torch.nn.LSTM with every tensor's shape: the stacked weights' i, f, g, o row blocks.

    x_t (N, I) and h_{t-1} (N, H) meet W_ih (4H, I) and W_hh (4H, H); the (N, 4H) pre-activation splits
    into four (N, H) pieces, each through its nonlinearity; the gates update the cell state line
    c_{t-1} -> c_t, and h_t = o ⊙ tanh(c_t).
    """
    figure, ax = _canvas(12, 7.7, "One LSTM step: shapes, and torch.nn's i, f, g, o row blocks")
    block, top = 1.05, 5.2
    rows = [top - block * (k + 0.5) for k in range(4)]  # the centres of the i, f, g, o blocks
    columns = [(2.75, 0.9, "(H, I)"), (3.65, 0.9, "(H, H)"), (4.55, 0.35, ""), (4.9, 0.35, "")]
    cell_y, f_lane, ig_x, out_x = 6.5, 8.45, 9.25, 10.1
    # the stacked weights and biases: one tall matrix, four row blocks of H rows each
    for (name, role, nonlinearity, span), y in zip(GATE_ROWS, rows, strict=True):
        _label(ax, 0.15, y, f"${name}$  {role}, ${nonlinearity}$", GATES, ha="left")
        _label(ax, 2.65, y, f"rows {span}", INPUT, fontsize=10, ha="right")
        for x, w, shape in columns:
            _box(ax, x, y - block / 2, w, block, shape, GATES, fontsize=9.5, rounded=False)
    for x, text in ((3.2, "$W_{ih}$\n(4H, I)"), (4.1, "$W_{hh}$\n(4H, H)"), (4.9, "$b_{ih}$, $b_{hh}$\n(4H,)")):
        _label(ax, x, top + 0.4, text, GATES, fontsize=10.5, linespacing=1.4)
    for x, text in ((3.2, "$x_t$\n(N, I)"), (4.1, "$h_{t-1}$\n(N, H)")):
        _label(ax, x, 0.45, text, INPUT if x < 4 else HIDDEN, linespacing=1.4)
        _arrow(ax, (x, 0.8), (x, rows[-1] - block / 2), INPUT if x < 4 else HIDDEN)
    # the pre-activation (N, 4H), four (N, H) pieces, each through its nonlinearity to a gate
    _label(ax, 6.35, top + 0.4, "pre-activation\n(N, 4H)", GATES, fontsize=10.5, linespacing=1.4)
    formula = "pre-activation $= W_{ih}\\,x_t + b_{ih} + W_{hh}\\,h_{t-1} + b_{hh}$, split into four (N, H) pieces"
    _label(ax, 5.3, 0.45, formula, GATES, fontsize=10.5, ha="left")
    for (name, _, nonlinearity, _), y in zip(GATE_ROWS, rows, strict=True):
        _arrow(ax, (5.25, y), (5.9, y), GATES)
        _box(ax, 5.9, y - block / 2, 0.9, block, "(N, H)", GATES, fontsize=10, rounded=False)
        _arrow(ax, (6.8, y), (7.2, y), GATES)
        _box(ax, 7.2, y - 0.25, 0.65, 0.5, f"${nonlinearity}$", GATES, fontsize=12)
        _label(ax, 8.05, y + 0.22, f"${name}_t$", GATES)
    # the gates' routes up to the cell state line; f crosses i's route over a white gap
    _line(ax, [(7.85, rows[0]), (8.85, rows[0]), (8.85, 5.55)], GATES)
    _arrow(ax, (8.85, 5.55), (ig_x - 0.18, 5.55), GATES)
    _line(ax, [(7.85, rows[2]), (ig_x, rows[2])], GATES)
    _arrow(ax, (ig_x, rows[2]), (ig_x, 5.37), GATES)
    _line(ax, [(7.85, rows[1]), (f_lane, rows[1])], GATES)
    _arrow(ax, (f_lane, rows[1]), (f_lane, cell_y - 0.18), GATES, halo=True)
    _label(ax, f_lane + 0.08, 5.9, "$f_t$", GATES, ha="left")
    _node(ax, ig_x, 5.55, "$\\odot$", GATES)
    _arrow(ax, (ig_x, 5.73), (ig_x, cell_y - 0.18), GATES)
    _label(ax, ig_x + 0.08, 6.05, "$i_t \\odot g_t$", GATES, fontsize=10, ha="left")
    _line(ax, [(7.85, rows[3]), (out_x, rows[3])], GATES)
    _arrow(ax, (out_x, rows[3]), (out_x, 4.42), GATES)
    # the cell state line, the constant error carousel, and h_t = o ⊙ tanh(c_t)
    _label(ax, 0.15, cell_y, "$c_{t-1}$  (N, H)", CELL_STATE, ha="left")
    _arrow(ax, (1.35, cell_y), (11.0, cell_y), CELL_STATE, lw=5)
    _label(ax, 4.5, cell_y + 0.35, "cell state: the constant error carousel", CELL_STATE, fontsize=10.5)
    _node(ax, f_lane, cell_y, "$\\odot$", CELL_STATE)
    _node(ax, ig_x, cell_y, "$+$", CELL_STATE)
    _label(ax, 11.05, cell_y, "$c_t$ (N, H)", CELL_STATE, ha="left")
    _arrow(ax, (out_x, cell_y), (out_x, 5.75), CELL_STATE)
    _box(ax, out_x - 0.3, 5.35, 0.6, 0.4, "$\\tanh$", GATES, fontsize=11)
    _arrow(ax, (out_x, 5.35), (out_x, 4.78), GATES)
    _node(ax, out_x, 4.6, "$\\odot$", HIDDEN)
    _arrow(ax, (out_x + 0.18, 4.6), (10.75, 4.6), HIDDEN, lw=2)
    _label(ax, 10.8, 4.6, "$h_t$ (N, H)", HIDDEN, ha="left")
    _label(ax, out_x + 0.15, 4.05, "$h_t = o_t \\odot \\tanh(c_t)$", HIDDEN, fontsize=10.5, ha="left")
    return figure


def gradient_paths() -> Figure:
    """Two LSTM steps t-1 -> t -> t+1 and the paths by which the gradient at c_t reaches c_{t-1}.

    (a) the direct path along the cell state, dc_t/dc_{t-1} = diag(f_t), thick; (b) the paths through
    h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1}) and the gates of step t, dashed. Notes say which path the 1997
    LSTM kept, and that autograd (full BPTT) keeps both.
    """
    figure, ax = _canvas(12, 7.5, "The gradient paths from $c_t$ back to $c_{t-1}$")
    cell_y, gates_y, out_y = 5.9, 3.4, 2.1  # the cell state line, the gates' and the output boxes' bottoms
    steps = (("t-1", 0.5), ("t", 4.9), ("t+1", 9.3))
    _label(ax, 0.3, 2.7, "$h_{t-2}$", HIDDEN)
    _line(ax, [(0.05, out_y + 0.35), (1.0, out_y + 0.35)], HIDDEN)
    for k, (n, x) in enumerate(steps):
        panel = FancyBboxPatch((x, 1.2), 4.3 if k < 2 else 2.3, 5.25, boxstyle="round,pad=0,rounding_size=0.1")
        panel.set(facecolor="0.965", edgecolor="none", zorder=0)
        ax.add_patch(panel)
        _label(ax, x + (4.2 if k < 2 else 2.2), 1.4, f"step ${n}$", INPUT, fontsize=10.5, ha="right")
        _box(ax, x + 0.05, gates_y, 1.9, 0.8, f"gates\n$i_{{{n}}}, f_{{{n}}}, g_{{{n}}}, o_{{{n}}}$", GATES)
        _arrow(ax, (x + 0.5, out_y + 0.35), (x + 0.5, gates_y), HIDDEN)  # h from the step before
        _label(ax, x + 1.2, 1.45, f"$x_{{{n}}}$", INPUT)
        _arrow(ax, (x + 1.2, 1.65), (x + 1.2, gates_y), INPUT)
        _node(ax, x + 0.6, cell_y, "$\\odot$", CELL_STATE)
        _node(ax, x + 1.6, cell_y, "$+$", CELL_STATE)
        _arrow(ax, (x + 0.6, gates_y + 0.8), (x + 0.6, cell_y - 0.18), GATES)
        _label(ax, x + 0.5, 5.0, f"$f_{{{n}}}$", GATES, ha="right")
        _arrow(ax, (x + 1.6, gates_y + 0.8), (x + 1.6, cell_y - 0.18), GATES)
        _label(ax, x + 1.5, 5.0, f"$i_{{{n}}} \\odot g_{{{n}}}$", GATES, fontsize=10, ha="right")
        if k == 2:
            continue
        # h = o ⊙ tanh(c), the hidden state the next step's gates read
        _arrow(ax, (x + 1.75, gates_y), (x + 1.75, out_y + 0.7), GATES)
        _label(ax, x + 1.85, 3.05, f"$o_{{{n}}}$", GATES, fontsize=10, ha="left")
        _arrow(ax, (x + 3.0, cell_y), (x + 3.0, out_y + 0.7), CELL_STATE)
        _box(ax, x + 1.6, out_y, 2.3, 0.7, f"$h_{{{n}}} = o_{{{n}}} \\odot \\tanh(c_{{{n}}})$", HIDDEN, fontsize=10.5)
        _line(ax, [(x + 3.9, out_y + 0.35), (x + 4.9, out_y + 0.35)], HIDDEN)
        _label(ax, x + 4.4, out_y + 0.55, f"$h_{{{n}}}$", HIDDEN)
    # the cell state line, its values between the steps
    _arrow(ax, (0.1, cell_y), (11.85, cell_y), CELL_STATE, lw=5)
    for x, n in ((0.25, "t-2"), (4.45, "t-1"), (8.5, "t"), (11.55, "t+1")):
        _label(ax, x, cell_y - 0.35, f"$c_{{{n}}}$", CELL_STATE, fontsize=12)
    # (a) the direct path, over diag(f_t); (b) the paths through h_{t-1} and step t's gates
    highlight = FancyBboxPatch((3.85, 5.65), 3.0, 0.95, boxstyle="round,pad=0,rounding_size=0.15")
    highlight.set(facecolor=_light(GRADIENT, 0.12), edgecolor="none", zorder=0.5)
    ax.add_patch(highlight)
    _arrow(ax, (6.75, 6.35), (3.95, 6.35), GRADIENT, lw=4)
    _label(ax, 5.35, 6.8, "(a) direct: $\\partial c_t/\\partial c_{t-1} = \\mathrm{diag}(f_t)$", GRADIENT, fontsize=12)
    _arrow(ax, (11.7, 6.35), (8.0, 6.35), GRADIENT)
    _label(ax, 9.85, 6.6, "$\\partial\\mathcal{L}/\\partial c_t$ from step $t+1$", GRADIENT, fontsize=10.5)
    _arrow(ax, (7.05, cell_y - 0.15), (6.9, gates_y + 0.6), GRADIENT, dashed=True, rad=-0.3)
    _arrow(ax, (4.95, gates_y + 0.3), (4.45, out_y + 0.55), GRADIENT, dashed=True, rad=0.3)
    _arrow(ax, (3.8, out_y + 0.7), (3.8, cell_y - 0.15), GRADIENT, dashed=True)
    for x, y in ((7.15, 4.6), (3.9, 4.6), (4.85, 2.95)):
        _label(ax, x, y, "(b)", GRADIENT, fontsize=10.5, ha="left")
    notes = (
        "(a) direct, along the cell state: $\\partial c_t/\\partial c_{t-1} = \\mathrm{diag}(f_t)$.   "
        "(b) through $h_{t-1}$: $c_{t-1} \\to h_{t-1} = o_{t-1} \\odot \\tanh(c_{t-1}) \\to i_t, f_t, g_t \\to c_t$ "
        "($o_t$ does not feed $c_t$).\n"
        "Hochreiter & Schmidhuber (1997) truncated the gradient through the gates' and cell input's recurrent "
        "connections:\nonly path (a) is left, and its product over k steps is $f_t \\cdots f_{t-k+1}$.   "
        "Full BPTT (what autograd computes) keeps both,\nso the measured rate can be above or below the direct path's."
    )
    _label(ax, 6.0, 0.62, notes, fontsize=10.5, linespacing=1.55)
    return figure
