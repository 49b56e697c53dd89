"""Exercise checkers: run a learner's function on seeded cases and explain what is wrong.

``check("lstm_step", my_lstm_step)`` returns a ``Verdict`` that displays as one friendly line;
it never raises, whatever the learner's function does. Known mistakes get a specific hint; other
wrong answers are described without giving the expected answer away.

The answers to compare with (the reference's and each known mistake's) are computed before the
learner's function runs, and it gets its own copies of the inputs, so that modifying them cannot
fool the check (it is reported instead). Each call runs in a thread under a time limit; what it
prints is captured and shown cut short.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import re
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lstm.cells import gru_step, lstm_step, rnn_step
from course_lstm.diagnostics import decay_rate
from course_lstm.models import width_for_budget
from course_lstm.packing import final_outputs


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: truthy when passed; its repr is the message a learner reads."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Exercise:
    """A function to write: its reference, seeded argument cases, and known wrong versions.

    ``cases(generator)`` yields argument tuples; ``mistakes`` maps a hint to a function with the
    same signature that makes that mistake: a learner whose output matches it gets the hint.
    ``advice`` is shown when a wrong answer matches no known mistake: it points at what to
    check without giving the answer away.
    """

    name: str
    signature: str
    reference: Callable
    cases: Callable[[torch.Generator], list[tuple]]
    mistakes: dict[str, Callable] = field(default_factory=dict)
    advice: str = ""


def _randn(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def _wrong_orders(correct: str, subject: str, layout: str, variant: Callable[[str], Callable]) -> dict[str, Callable]:
    """A hint for every wrong order of the gate blocks ``correct`` (torch.nn's, e.g. "ifgo"):
    ``variant(order)`` makes the mistake of reading them in ``order``."""
    return {
        f"your {subject} in the order {', '.join(order)}; torch.nn stacks them as "
        f"{', '.join(correct)} ({layout})": variant(order)
        for order in map("".join, itertools.permutations(correct))
        if order != correct
    }


# --- 00: batch-first to time-first -----------------------------------------------------------


def _layout_cases(generator: torch.Generator) -> list[tuple]:
    return [(_randn(generator, n, length, i),) for n, length, i in [(2, 3, 4), (4, 5, 1), (3, 3, 2)]]


# --- 01: one RNN step, and the unrolled RNN -------------------------------------------------


def _rnn_cases(generator: torch.Generator) -> list[tuple]:
    shapes = [(4, 3, 5), (1, 2, 2), (6, 5, 3)]  # (N, I, H)
    return [
        (
            _randn(generator, n, i),
            _randn(generator, n, h),
            _randn(generator, h, i),
            _randn(generator, h, h),
            _randn(generator, h),
        )
        for n, i, h in shapes
    ]


def _rnn_step_reference(x, h, W_ih, W_hh, b):
    return rnn_step(x, h, W_ih, W_hh, b)


def _unroll_cases(generator: torch.Generator) -> list[tuple]:
    shapes = [(5, 4, 3, 6), (1, 2, 2, 2), (7, 1, 3, 4)]  # (L, N, I, H)
    return [
        (
            _randn(generator, length, n, i),
            _randn(generator, n, h),
            _randn(generator, h, i),
            _randn(generator, h, h),
            _randn(generator, h),
        )
        for length, n, i, h in shapes
    ]


def _unroll_reference(xs, h0, W_ih, W_hh, b):
    h, outputs = h0, []
    for x in xs:
        h = rnn_step(x, h, W_ih, W_hh, b)
        outputs.append(h)
    return torch.stack(outputs)


# --- 02: gradient clipping ------------------------------------------------------------------


def _clip_cases(generator: torch.Generator) -> list[tuple]:
    return [
        ([_randn(generator, 3, 4), _randn(generator, 5)], 1.0),
        ([_randn(generator, 2, 2) * 10, _randn(generator, 7) * 10], 5.0),
        ([_randn(generator, 4) * 0.01], 1.0),
    ]  # already small: unchanged


def _clip_reference(grads, max_norm):
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads)).item()
    scale = 1.0 if total <= max_norm else max_norm / total
    return [g * scale for g in grads]


# --- 03: the constant error carousel --------------------------------------------------------


def _cec_cases(generator: torch.Generator) -> list[tuple]:
    return [
        (_randn(generator, n, i), _randn(generator, n, h), _randn(generator, h, i), _randn(generator, h))
        for n, i, h in [(4, 3, 5), (2, 1, 1), (3, 6, 2)]
    ]


def _cec_reference(x, c, W, b):
    return c + torch.tanh(F.linear(x, W, b))


# --- 04: one LSTM step ----------------------------------------------------------------------


def _lstm_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for n, i, h in [(4, 3, 5), (2, 2, 3), (5, 4, 2)]:
        cases.append(
            (
                _randn(generator, n, i),
                _randn(generator, n, h),
                _randn(generator, n, h),
                _randn(generator, 4 * h, i),
                _randn(generator, 4 * h, h),
                _randn(generator, 4 * h),
                _randn(generator, 4 * h),
            )
        )
    return cases


def _lstm_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    step = lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)
    return step.h, step.c


def _lstm_with_order(order: str) -> Callable:
    """An LSTM step that reads the weight blocks in ``order`` (e.g. "fiog") instead of "ifgo"."""

    def step(x, h, c, W_ih, W_hh, b_ih, b_hh):
        blocks = dict(zip(order, (F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)).chunk(4, -1), strict=True))
        i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
        c_next = f * c + i * torch.tanh(blocks["g"])
        return o * torch.tanh(c_next), c_next

    return step


def _lstm_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders(
        "ifgo",
        "gates read the weight blocks",
        "rows 0:H input gate, H:2H forget, 2H:3H candidate, 3H:4H output",
        _lstm_with_order,
    )

    def no_tanh_on_cell(x, h, c, *weights):
        _, c_next = _lstm_reference(x, h, c, *weights)
        o = lstm_step(x, h, c, *weights).gates.o
        return o * c_next, c_next

    def forgets_input_gate(x, h, c, *weights):
        _, f, g, o = lstm_step(x, h, c, *weights).gates
        c_next = f * c + g
        return o * torch.tanh(c_next), c_next

    mistakes["h' should be o * tanh(c'), not o * c': the tanh squashes the cell into (-1, 1)"] = no_tanh_on_cell
    mistakes["the new cell state is f * c + i * g: the input gate i must scale the candidate g"] = forgets_input_gate
    return mistakes


# --- 04: the LSTM step's Jacobian -------------------------------------------------------------


def _jacobian_cases(generator: torch.Generator) -> list[tuple]:
    """LSTM steps whose gates are far from saturated (weights / 2), so every path counts."""
    return [tuple(t / 2 if k >= 3 else t for k, t in enumerate(case)) for case in _lstm_cases(generator)]


def _jacobian_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """d(h', c') / d(h, c) per sequence, by autograd: (N, 2H, 2H), blocks [[dh'/dh, dh'/dc], [dc'/dh, dc'/dc]]."""
    H = h.shape[-1]

    def step(state: Tensor) -> Tensor:  # (N, 2H) -> (N, 2H); the sequences do not interact
        h_next, c_next, _ = lstm_step(x, state[:, :H], state[:, H:], W_ih, W_hh, b_ih, b_hh)
        return torch.cat([h_next, c_next], dim=-1)

    full = torch.autograd.functional.jacobian(step, torch.cat([h, c], dim=-1))  # (N, 2H, N, 2H)
    return full.diagonal(dim1=0, dim2=2).permute(2, 0, 1)


def _jacobian_blocks(x, h, c, W_ih, W_hh, b_ih, b_hh, *, transpose=False, order="hc", skip=()):
    """The closed form with known mistakes switched on: ``skip`` names the terms left out."""
    i, f, g, o = lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh).gates
    tanh_c = torch.tanh(f * c + i * g)
    W_hi, W_hf, W_hg, W_ho = (W.T if transpose else W for W in W_hh.chunk(4))

    def rows(scale: Tensor, W: Tensor) -> Tensor:  # diag(scale) W for every sequence: (N, H, H)
        return scale[:, :, None] * W

    recurrent = "gates" not in skip
    zero = torch.zeros_like(rows(f, W_hf))
    dc_dh = rows(c * f * (1 - f), W_hf) + rows(g * i * (1 - i), W_hi) + rows(i * (1 - g**2), W_hg)
    dc_dh = dc_dh if recurrent else zero
    dc_dc = torch.diag_embed(f)
    through_c = o * (1 - tanh_c**2)
    dh_dh = (rows(tanh_c * o * (1 - o), W_ho) if recurrent else zero) + (
        zero if "c path of h" in skip else through_c[:, :, None] * dc_dh  # diag(through_c) dc'/dh
    )
    dh_dc = torch.diag_embed(through_c if "f in dh/dc" in skip else through_c * f)
    blocks = {"h": (dh_dh, dh_dc), "c": (dc_dh, dc_dc)}
    return torch.cat([torch.cat(blocks[row], dim=2) for row in order], dim=1)


def _jacobian_mistakes() -> dict[str, Callable]:
    def variant(**options) -> Callable:
        return lambda *args: _jacobian_blocks(*args, **options)

    return {
        "only the cell's own path is there (the Jacobian Hochreiter & Schmidhuber truncated to): the "
        "gates and the candidate read h too, so dc'/dh and dh'/dh have W_hh terms": variant(skip=("gates",)),
        "h' = o * tanh(c') depends on h through c' as well: dh'/dh needs diag(o * (1 - tanh(c')^2)) "
        "times dc'/dh": variant(skip=("c path of h",)),
        "dh'/dc goes through c' = f * c + ...: it needs the factor f": variant(skip=("f in dh/dc",)),
        "the pre-activation is h @ W_hk.T, so its derivative with respect to h is W_hk itself (row j: "
        "unit j), not W_hk.T": variant(transpose=True),
        "stack the rows as (h', c') and the columns as (h, c): [[dh'/dh, dh'/dc], [dc'/dh, dc'/dc]]": variant(
            order="ch"
        ),
    }


# --- 05: counting parameters ----------------------------------------------------------------


def _count_cases(generator: torch.Generator) -> list[tuple]:
    return [(1, 1, 1), (3, 8, 1), (10, 20, 2), (5, 7, 3)]


def _count_reference(input_size, hidden_size, num_layers):
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size
        total += 4 * (hidden_size * (layer_input + hidden_size) + 2 * hidden_size)
    return total


def _count_one_bias(input_size, hidden_size, num_layers):
    return _count_reference(input_size, hidden_size, num_layers) - 4 * hidden_size * num_layers


def _count_same_input(input_size, hidden_size, num_layers):
    return 4 * (hidden_size * (input_size + hidden_size) + 2 * hidden_size) * num_layers


def _count_rnn(input_size, hidden_size, num_layers):
    return _count_reference(input_size, hidden_size, num_layers) // 4


# --- 11: the element-wise cell update of a fast LSTM ---------------------------------------


def _update_cases(generator: torch.Generator) -> list[tuple]:
    return [(_randn(generator, n, 4 * h), _randn(generator, n, h)) for n, h in [(4, 5), (1, 1), (3, 2)]]


def _update_with_order(order: str, candidate: Callable = torch.tanh, squash_cell: bool = True) -> Callable:
    """A cell update reading the (N, 4H) gate blocks in ``order`` (torch.nn's is "ifgo")."""

    def update(gates, c):
        blocks = dict(zip(order, gates.chunk(4, -1), strict=True))
        i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
        c_next = f * c + i * candidate(blocks["g"])
        return o * (torch.tanh(c_next) if squash_cell else c_next), c_next

    return update


def _update_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders(
        "ifgo",
        "update reads the blocks of gates",
        "columns 0:H input gate, H:2H forget, 2H:3H candidate, 3H:4H output",
        _update_with_order,
    )
    mistakes["the candidate g takes tanh, not sigmoid: it must be able to lower the cell"] = _update_with_order(
        "ifgo", candidate=torch.sigmoid
    )
    mistakes["h' should be o * tanh(c'), not o * c': the tanh squashes the cell into (-1, 1)"] = _update_with_order(
        "ifgo", squash_cell=False
    )
    return mistakes


# --- 06: the gradient's decay per step ------------------------------------------------------


def _decay_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for length, rate in [(30, 0.8), (12, 1.0), (50, 0.97)]:
        distance = torch.arange(length - 1, -1, -1, dtype=torch.float64)
        noise = 0.1 * _randn(generator, length)
        cases.append(((rate**distance) * 2.0 * noise.exp(),))
    return cases


def _decay_endpoints(norms):
    return (norms[0] / norms[-1]).item() ** (1 / (norms.shape[0] - 1))


def _decay_slope(norms):
    return math.log(decay_rate(norms))


def _decay_upside_down(norms):
    return 1 / decay_rate(norms)


# --- 07: each sequence's output at its true last step ---------------------------------------


def _final_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for n, t, h, lengths in [(4, 6, 3, [6, 2, 4, 1]), (3, 5, 2, [1, 5, 3]), (2, 4, 1, [4, 4])]:
        cases.append((_randn(generator, n, t, h), torch.tensor(lengths)))
    return cases


def _final_reference(output, lengths):
    return final_outputs(output, lengths, batch_first=True)


# --- 08: how much of the cell's content survives the forget gates ---------------------------


def _retention_cases(generator: torch.Generator) -> list[tuple]:
    return [
        (torch.rand(t, n, h, generator=generator, dtype=torch.float64),)
        for t, n, h in [(6, 2, 3), (1, 1, 4), (9, 3, 2)]
    ]


def _retention_reference(forget):
    return forget.cumprod(dim=0)


# --- 09: the width of an RNN with a given parameter budget ----------------------------------


def _budget_cases(generator: torch.Generator) -> list[tuple]:
    return [(1, 1, 6), (3, 8, 1234), (8, 4, 777), (2, 1, 4641)]  # each mistake shows on its own case


def _budget_reference(input_size, output_size, budget):
    return width_for_budget("rnn", input_size, output_size, budget)


def _largest_width(count: Callable, budget: int) -> int:
    hidden = 1
    while count(hidden + 1) <= budget:
        hidden += 1
    return hidden


def _budget_without_readout(input_size, output_size, budget):
    return _largest_width(lambda h: h * (input_size + h) + 2 * h, budget)


def _budget_one_bias(input_size, output_size, budget):
    return _largest_width(lambda h: h * (input_size + h) + h + h * output_size + output_size, budget)


def _budget_rounded_up(input_size, output_size, budget):
    return _budget_reference(input_size, output_size, budget) + 1


# --- 10: one GRU step -----------------------------------------------------------------------


def _gru_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for n, i, h in [(4, 3, 5), (2, 2, 3), (5, 4, 2)]:
        cases.append(
            (
                _randn(generator, n, i),
                _randn(generator, n, h),
                _randn(generator, 3 * h, i),
                _randn(generator, 3 * h, h),
                _randn(generator, 3 * h),
                _randn(generator, 3 * h),
            )
        )
    return cases


def _gru_variant(order: str = "rzn", swap_z: bool = False, reset_before: bool = False) -> Callable:
    """A GRU step reading the weight blocks in ``order`` (torch.nn's is "rzn"), optionally with
    z and 1 - z swapped, or with r applied to h before the matrix product (Cho et al. 2014)."""

    def step(x, h, W_ih, W_hh, b_ih, b_hh):
        wi, wh = dict(zip(order, W_ih.chunk(3), strict=True)), dict(zip(order, W_hh.chunk(3), strict=True))
        bi, bh = dict(zip(order, b_ih.chunk(3), strict=True)), dict(zip(order, b_hh.chunk(3), strict=True))
        r = torch.sigmoid(F.linear(x, wi["r"], bi["r"]) + F.linear(h, wh["r"], bh["r"]))
        z = torch.sigmoid(F.linear(x, wi["z"], bi["z"]) + F.linear(h, wh["z"], bh["z"]))
        recurrent = F.linear(r * h, wh["n"], bh["n"]) if reset_before else r * F.linear(h, wh["n"], bh["n"])
        n = torch.tanh(F.linear(x, wi["n"], bi["n"]) + recurrent)
        return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h

    return step


def _gru_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders(
        "rzn",
        "step reads the blocks of the weights",
        "rows 0:H reset gate, H:2H update gate, 2H:3H candidate",
        _gru_variant,
    )
    mistakes["z is the share of the OLD state kept: h' = (1 - z) * n + z * h, not z * n + (1 - z) * h"] = _gru_variant(
        swap_z=True
    )
    mistakes[
        "torch.nn applies r after the product, r * (W_hn h + b_hn); you used W_hn (r * h) + b_hn, "
        "the original paper's form"
    ] = _gru_variant(reset_before=True)
    return mistakes


def _bits_cases(generator: torch.Generator) -> list[tuple]:
    """Logits (T, V) and targets (T,) of a character model, for a few T and V."""
    return [
        (_randn(generator, t, v) * 3, torch.randint(v, (t,), generator=generator))
        for t, v in [(7, 5), (1, 3), (20, 11)]
    ]


def _bits_reference(logits, targets):
    return F.cross_entropy(logits, targets) / math.log(2)


def _temperature_cases(generator: torch.Generator) -> list[tuple]:
    return [(_randn(generator, 6) * 2, t) for t in (1.0, 0.5, 2.0)] + [(_randn(generator, 3, 4), 0.7)]


def _temperature_reference(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)


def _correlation_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for t, h in [(50, 4), (9, 1), (30, 6)]:
        signal = _randn(generator, t)
        values = _randn(generator, t, h) + 2.0  # offset from 0: a formula that does not centre is caught
        values[:, 0] += 3.0 * signal
        cases.append((values, signal + 1.0))
    return cases


def _correlation_reference(values, signal):
    v = values - values.mean(0)
    s = signal - signal.mean()
    return (v * s[:, None]).sum(0) / (v.norm(dim=0) * s.norm())


EXERCISES = {
    exercise.name: exercise
    for exercise in [
        Exercise(
            "to_time_major",
            "to_time_major(x) -> (L, N, I)",
            lambda x: x.transpose(0, 1),
            _layout_cases,
            {
                "reshape keeps the memory order, so it mixes time steps of different "
                "sequences; swap the axes with x.transpose(0, 1) (or x.permute(1, 0, 2))": lambda x: x.reshape(
                    x.shape[1], x.shape[0], x.shape[2]
                ),
            },
        ),
        Exercise(
            "rnn_step",
            "rnn_step(x, h, W_ih, W_hh, b) -> h_next",
            _rnn_step_reference,
            _rnn_cases,
            {
                "apply tanh to the sum: h' = tanh(x W_ih^T + h W_hh^T + b)": lambda x, h, W_ih, W_hh, b: (
                    F.linear(x, W_ih, b) + h @ W_hh.T
                ),
                "the recurrent term is missing: add h @ W_hh.T inside the tanh": lambda x, h, W_ih, W_hh, b: torch.tanh(
                    F.linear(x, W_ih, b)
                ),
                "use tanh, not sigmoid, for a vanilla RNN's hidden state": lambda x, h, W_ih, W_hh, b: torch.sigmoid(
                    F.linear(x, W_ih, b) + h @ W_hh.T
                ),
                "W_hh is (H, H) and multiplies h as h @ W_hh.T; you used h @ W_hh": lambda x, h, W_ih, W_hh, b: (
                    torch.tanh(F.linear(x, W_ih, b) + h @ W_hh)
                ),
            },
        ),
        Exercise(
            "unroll_rnn",
            "unroll_rnn(xs, h0, W_ih, W_hh, b) -> outputs (L, N, H)",
            _unroll_reference,
            _unroll_cases,
            {
                "each step must start from the previous step's h, not from h0 every time": lambda xs, h0, *w: (
                    torch.stack([rnn_step(x, h0, *w) for x in xs])
                ),
            },
        ),
        Exercise(
            "clip_grad_norm",
            "clip_grad_norm(grads, max_norm) -> clipped grads",
            _clip_reference,
            _clip_cases,
            {
                "clip by the norm of all gradients together, not of each tensor separately": lambda grads, m: [
                    g * min(1.0, m / g.norm().item()) for g in grads
                ],
                "clipping the norm rescales the whole gradient; clamping each entry changes its direction": lambda grads, m: [
                    g.clamp(-m, m) for g in grads
                ],
            },
        ),
        Exercise(
            "cec_step",
            "cec_step(x, c, W, b) -> c_next",
            _cec_reference,
            _cec_cases,
            {
                "the carousel keeps the old cell: c' = c + tanh(W x + b), with the c kept as it is": lambda x, c, W, b: (
                    torch.tanh(F.linear(x, W, b))
                ),
                "the self-loop is linear: add tanh(W x + b) to c, do not squash the sum": lambda x, c, W, b: torch.tanh(
                    c + F.linear(x, W, b)
                ),
            },
        ),
        Exercise(
            "lstm_step",
            "lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_next, c_next)",
            _lstm_reference,
            _lstm_cases,
            _lstm_mistakes(),
        ),
        Exercise(
            "lstm_jacobian",
            "lstm_jacobian(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (N, 2H, 2H)",
            _jacobian_reference,
            _jacobian_cases,
            _jacobian_mistakes(),
            advice="write the four blocks one at a time; each gate's derivative with respect to h is "
            "diag(its slope) times its (H, H) block of W_hh, and c' = f * c + i * g depends on h "
            "through i, f and g. The checker compares with autograd",
        ),
        Exercise(
            "lstm_parameter_count",
            "lstm_parameter_count(input_size, hidden_size, num_layers) -> int",
            _count_reference,
            _count_cases,
            {
                "torch.nn has two bias vectors per layer, b_ih and b_hh, each 4H long": _count_one_bias,
                "layers above the first take the hidden state (size H) as input, not the input size I": _count_same_input,
                "an LSTM layer has four blocks (i, f, g, o), each the size of an RNN layer": _count_rnn,
            },
            advice="count, layer by layer, the weights W_ih and W_hh and the biases of all four "
            "gate blocks; check whether you counted both bias vectors, and what the layers "
            "above the first take as input",
        ),
        Exercise(
            "cell_update",
            "cell_update(gates, c) -> (h_next, c_next)",
            _update_with_order("ifgo"),
            _update_cases,
            _update_mistakes(),
        ),
        Exercise(
            "decay_per_step",
            "decay_per_step(norms) -> float",
            decay_rate,
            _decay_cases,
            {
                "fit the whole curve, not its two ends: least squares of log norm against the distance "
                "to the loss": _decay_endpoints,
                "return the factor per step, exp(slope), not the slope of log norm itself": _decay_slope,
                "norms[0] is the step farthest from the loss (T - 1 steps away, the last is 0); your factor is "
                "upside down (1/r)": _decay_upside_down,
            },
            advice="fit a straight line to log(norm) against the distance to the loss, by least "
            "squares; the factor per step is exp of its slope",
        ),
        Exercise(
            "last_step_outputs",
            "last_step_outputs(output, lengths) -> (N, H)",
            _final_reference,
            _final_cases,
            {
                "output[:, -1] is the last PADDED step; read each sequence at its own length": lambda output, lengths: (
                    output[:, -1]
                ),
                "a sequence of length L ends at index L - 1, not L (indices start at 0)": lambda output, lengths: (
                    output[torch.arange(len(lengths)), lengths.clamp(max=output.shape[1] - 1)]
                ),
            },
        ),
        Exercise(
            "retention",
            "retention(forget) -> (T, N, H)",
            _retention_reference,
            _retention_cases,
            {
                "what survives multiplies the forget gates (a running product, cumprod), it does not add them": lambda forget: (
                    forget.cumsum(dim=0)
                ),
                "return the running product for every step t, not only the product over all T steps": lambda forget: (
                    forget.prod(dim=0)
                ),
                "take the running product over time (dim 0), not over the batch or the units": lambda forget: (
                    forget.cumprod(dim=-1)
                ),
            },
        ),
        Exercise(
            "rnn_width_for_budget",
            "rnn_width_for_budget(input_size, output_size, budget) -> int",
            _budget_reference,
            _budget_cases,
            {
                "count the readout too: H * output_size weights and output_size biases": _budget_without_readout,
                "torch.nn's RNN has two bias vectors, b_ih and b_hh, each H long": _budget_one_bias,
                "the width must fit the budget: round down, not up": _budget_rounded_up,
            },
            advice="the width is the largest H whose parameter count fits the budget; check "
            "whether you counted both bias vectors and the readout (weights and biases)",
        ),
        Exercise(
            "bits_per_character",
            "bits_per_character(logits, targets) -> float",
            _bits_reference,
            _bits_cases,
            {
                "cross_entropy is in nats (natural log): divide by log(2) to get bits": lambda logits, targets: (
                    F.cross_entropy(logits, targets)
                ),
                "average over the characters: bits PER character, not the total": lambda logits, targets: (
                    F.cross_entropy(logits, targets, reduction="sum") / math.log(2)
                ),
                "cross_entropy takes the logits themselves; it applies log_softmax inside": lambda logits, targets: (
                    F.cross_entropy(torch.softmax(logits, dim=-1), targets) / math.log(2)
                ),
            },
            advice="the loss of one character is -log2 p(target); softmax over the vocabulary (the last axis)",
        ),
        Exercise(
            "temperature_softmax",
            "temperature_softmax(logits, temperature) -> probabilities",
            _temperature_reference,
            _temperature_cases,
            {
                "divide the logits by the temperature (below 1: sharper), do not multiply": lambda logits, t: (
                    torch.softmax(logits * t, dim=-1)
                ),
                "scale the logits before the softmax, not the probabilities after it": lambda logits, t: (
                    torch.softmax(logits, dim=-1) / t
                ),
                "the softmax runs over the characters, the last axis": lambda logits, t: torch.softmax(
                    logits / t, dim=0
                ),
            },
        ),
        Exercise(
            "cell_correlation",
            "cell_correlation(values, signal) -> (H,)",
            _correlation_reference,
            _correlation_cases,
            {
                "subtract the means first: without centring this is the cosine, not Pearson's r": lambda v, s: (
                    (v * s[:, None]).sum(0) / (v.norm(dim=0) * s.norm())
                ),
                "divide by both norms: the covariance alone is not a correlation": lambda v, s: (
                    (v - v.mean(0)) * (s - s.mean())[:, None]
                ).mean(0),
            },
            advice="Pearson's r per column: centre each column and the signal, then their dot product "
            "over the product of their norms",
        ),
        Exercise(
            "gru_step",
            "gru_step(x, h, W_ih, W_hh, b_ih, b_hh) -> h_next",
            lambda x, h, *weights: gru_step(x, h, *weights),
            _gru_cases,
            _gru_mistakes(),
        ),
    ]
}


TIME_LIMIT_SECONDS = 20.0
"""How long ``check`` waits for one call of the learner's function before it gives up on it."""

PRINTED_LINES_SHOWN = 20
"""How many of the lines the learner's function prints ``check`` shows; the rest are counted."""

_INTERRUPTED = (
    "Interrupted: the check stopped before it finished (the stop button, or Ctrl-C), so it "
    "says nothing about your function yet; run the cell again to check it."
)


# --- the checker's arguments -----------------------------------------------------------------


def _bad_arguments(name: object, candidate: object) -> str | None:
    """What is wrong with the arguments of ``check(name, candidate)``, or None."""
    known = ", ".join(EXERCISES)
    if callable(name) and isinstance(candidate, str):
        return f'The exercise\'s name comes first: check("{candidate}", your_function).'
    if not isinstance(name, str):
        return (
            f'check needs the exercise\'s name as a string, like check("rnn_step", rnn_step); '
            f"got {_describe(name)}. The exercises are: {known}."
        )
    if name not in EXERCISES:
        return f"There is no exercise called {name!r}; the exercises are: {known}."
    if not callable(candidate):
        return f"check({name!r}, ...) needs your function, got {_describe(candidate)}."
    return None


# --- describing values and errors in words ---------------------------------------------------


def _text(value: object, show: Callable[[object], str] = str) -> str:
    """``show(value)`` (str or repr), or a placeholder when even that fails."""
    try:
        return show(value)
    except Exception:
        return "(it cannot be printed)"


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {_text(value, repr)}"


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {_text(error)}"


def _where(error: BaseException) -> str:
    """ " (line N of your code)" for the deepest frame outside this module and the libraries."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename != __file__ and "site-packages" not in frame.filename
    ]
    return f" (line {frames[-1].lineno} of your code)" if frames else ""


# --- comparing a result with the expected one ------------------------------------------------


def _direction(got: float, expected: float) -> str:
    return "too large" if got > expected else "too small"


def _wrong_device(device: torch.device, expected: torch.device | str) -> str:
    expected = torch.device(expected).type
    return (
        f"your result is on the {device.type} device and cannot be brought to the {expected} "
        f"device to compare it; return it on the device of the inputs ({expected})"
    )


def _moved(tensor: Tensor, device: torch.device | str) -> Tensor | None:
    """``tensor`` on ``device``, or None when it cannot be moved there (a meta tensor has no data)."""
    if tensor.device == torch.device(device):
        return tensor
    try:
        return tensor.detach().to(device)
    except (RuntimeError, NotImplementedError):
        return None


def _tensor_difference(got: object, expected: Tensor) -> str | None:
    if not isinstance(got, Tensor):
        return f"expected a tensor, got {_describe(got)}"
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    moved = _moved(got, expected.device)
    if moved is None:
        return _wrong_device(got.device, expected.device)
    moved = moved.to(expected.dtype)
    if not torch.allclose(moved, expected, rtol=1e-6, atol=1e-8):
        worst = (moved - expected).abs().max().item()
        return f"the values are off (largest difference {worst:.2g})"
    return None


def _sequence_difference(got: object, expected: tuple | list) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"expected {_describe(expected)}, got {_describe(got)}"
    for k, (a, b) in enumerate(zip(got, expected, strict=True)):
        problem = _difference(a, b)
        if problem:
            return f"item {k}: {problem}"
    return None


def _int_difference(got: object, expected: int) -> str | None:
    if not isinstance(got, int) or isinstance(got, bool):
        return f"expected an int, got {_describe(got)}"
    return None if got == expected else f"your answer {got} is {_direction(got, expected)}"


def _float_difference(got: object, expected: float) -> str | None:
    if isinstance(got, Tensor) and got.numel() == 1:
        moved = _moved(got, "cpu")
        if moved is None:
            return _wrong_device(got.device, "cpu")
        got = moved.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"expected a number, got {_describe(got)}"
    if math.isnan(got):
        return "your answer is nan (not a number)"
    if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
        return None
    return f"your answer {got:.6g} is {_direction(got, expected)}"


def _difference(got: object, expected: object) -> str | None:
    """None when ``got`` equals ``expected`` (to float64 rounding), else what differs, in words
    that do not give the expected value away."""
    if isinstance(expected, Tensor):
        return _tensor_difference(got, expected)
    if isinstance(expected, (tuple, list)):
        return _sequence_difference(got, expected)
    if isinstance(expected, int) and not isinstance(expected, bool):
        return _int_difference(got, expected)
    if isinstance(expected, float):
        return _float_difference(got, expected)
    return f"expected a {type(expected).__name__}, got {_describe(got)}"


# --- inputs: fresh copies for every call, and a check that they were left alone --------------


def _copy(value: object) -> object:
    """A deep copy of a case's arguments: tensors cloned, tuples and lists rebuilt."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(item) for item in value)
    return value


def _copy_args(args: tuple) -> tuple:
    return tuple(_copy(arg) for arg in args)


def _same(before: object, after: object) -> bool:
    """Is ``after`` still exactly ``before`` (same type, shape, dtype, device and values)?"""
    if isinstance(before, Tensor):
        return (
            isinstance(after, Tensor)
            and after.shape == before.shape
            and after.dtype == before.dtype
            and after.device == before.device
            and torch.equal(after, before)
        )
    if isinstance(before, (tuple, list)):
        return (
            type(after) is type(before)
            and len(after) == len(before)
            and all(_same(b, a) for b, a in zip(before, after, strict=True))
        )
    return bool(after == before)


def _argument_names(signature: str) -> list[str]:
    return signature.split("(", 1)[1].split(")", 1)[0].split(", ")


def _changed_input(exercise: Exercise, before: tuple, after: tuple) -> str | None:
    """The name of the first argument the learner's function modified in place, or None."""
    names = _argument_names(exercise.signature)
    for k, (original, given) in enumerate(zip(before, after, strict=True)):
        if not _same(original, given):
            return names[k] if k < len(names) else f"number {k + 1}"
    return None


# --- running the learner's function: a time limit, and what it prints ------------------------


@dataclass
class _Run:
    """One call of the learner's function: its value or error, once ``finished``."""

    value: object = None
    error: BaseException | None = None
    finished: bool = False


def _run_with_time_limit(function: Callable, args: tuple, seconds: float) -> _Run:
    """Call ``function(*args)`` in a thread and wait for it at most ``seconds``.

    Python cannot stop a thread from outside: a call that does not return in time is abandoned and
    runs on in the background (a daemon thread, so it does not keep Python from exiting)."""
    run = _Run()
    grad_enabled = torch.is_grad_enabled()  # a per-thread setting: give the thread the caller's

    def call() -> None:
        try:
            with torch.set_grad_enabled(grad_enabled):
                run.value = function(*args)
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: all are reported
            run.error = error
        finally:
            run.finished = True

    thread = threading.Thread(target=call, name="course_lstm.check", daemon=True)
    thread.start()
    thread.join(seconds)
    return run


_LINE = re.compile(r"[^\n]*\n|[^\n]+")


class _CappedOutput(io.TextIOBase):
    """A stand-in for sys.stdout that keeps the first ``limit`` lines written to it and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._kept: list[str] = []
        self._lines = 0  # complete lines written
        self._open = False  # text written after the last newline
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            for piece in _LINE.findall(text):
                if self._lines < self._limit:
                    self._kept.append(piece)
                self._open = not piece.endswith("\n")
                self._lines += not self._open
        return len(text)

    def report(self) -> str:
        """The kept lines, and how many more there were."""
        with self._lock:
            total = self._lines + self._open
            shown = "".join(self._kept)
        if shown and not shown.endswith("\n"):
            shown += "\n"
        if total > self._limit:
            shown += (
                f"... {total - self._limit} more lines not shown (your function printed "
                f"{total} lines; these are the first {self._limit})\n"
            )
        return shown


# --- one test case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """A seeded case with the answers of the reference and of each known mistake, all computed
    on copies before the learner's function runs, so nothing it does to its inputs changes them."""

    args: tuple
    expected: object
    mistakes: list[tuple[str, object]]  # (hint, what the function making that mistake returns)


def _call(function: Callable, args: tuple) -> tuple[object, BaseException | None]:
    try:
        return function(*args), None
    except Exception as error:
        return None, error


def _prepare(exercise: Exercise) -> list[_Case]:
    cases = []
    for args in exercise.cases(torch.Generator().manual_seed(0)):
        expected = exercise.reference(*_copy_args(args))
        mistakes = []
        for hint, mistake in exercise.mistakes.items():
            wrong, failed = _call(mistake, _copy_args(args))
            if failed is None:
                mistakes.append((hint, wrong))
        cases.append(_Case(args, expected, mistakes))
    return cases


def _raised(exercise: Exercise, error: BaseException, number: int, inputs: str) -> str:
    """The message for a learner's function that raised ``error``."""
    if isinstance(error, NotImplementedError):
        return (
            f"Not written yet: replace the ... and `raise NotImplementedError` "
            f"in {exercise.signature.split('(')[0]} with your code, then run this again."
        )
    if isinstance(error, KeyboardInterrupt):
        return _INTERRUPTED
    if isinstance(error, SystemExit):
        return (
            f"Not yet: on test case {number} your function called exit(){_where(error)}: it raised "
            f"SystemExit, which stops Python; return the result instead."
        )
    return f"Not yet: on test case {number} your function raised {_error_text(error)}{_where(error)}. {inputs}"


def _too_slow(number: int, seconds: float) -> str:
    return (
        f"Not yet: on test case {number} your function did not return within {seconds:g} seconds: "
        f"is there a loop that never ends, or a call that waits (input(), a lock)? Python cannot "
        f"stop a function from outside, so it may still be running in the background: if the "
        f"notebook stays slow, restart the kernel, fix the function and run the cells again."
    )


def _modified(name: str, number: int) -> str:
    return (
        f"Not yet: your function changed its input {name} in place (on test case {number}). "
        f"It must not modify its inputs, which belong to the caller: compute new values instead "
        f"({name} = {name} + ... makes a new tensor, while {name} += ..., {name}[...] = ... and "
        f"methods ending in _, like {name}.zero_(), change the caller's)."
    )


def _judge(exercise: Exercise, got: object, case: _Case, number: int, inputs: str) -> str | None:
    """None when ``got`` is right, else the hint of the known mistake it matches, or what differs."""
    problem = _difference(got, case.expected)
    if problem is None:
        return None
    for hint, wrong in case.mistakes:
        if _difference(got, wrong) is None:
            return f"Not yet: {hint}."
    # The advice is about wrong values: after a wrong type or device it would mislead.
    advice = f" Hint: {exercise.advice}." if exercise.advice and problem.startswith("your answer") else ""
    return f"Not yet: on test case {number} {problem}.{advice} {inputs}"


def _check_case(exercise: Exercise, candidate: Callable, case: _Case, number: int, time_limit: float) -> str | None:
    """None when ``candidate`` passes this case, else the message that says why not."""
    given = _copy_args(case.args)
    run = _run_with_time_limit(candidate, given, time_limit)
    inputs = f"Inputs: {', '.join(_describe(a) for a in case.args)}."
    if not run.finished:
        return _too_slow(number, time_limit)
    if run.error is not None:
        return _raised(exercise, run.error, number, inputs)
    changed = _changed_input(exercise, case.args, given)
    if changed is not None:
        return _modified(changed, number)
    try:
        return _judge(exercise, run.value, case, number, inputs)
    except Exception as error:  # a result so odd that comparing it fails
        return (
            f"Not yet: on test case {number} your result could not be compared with the expected "
            f"one ({_error_text(error)}); return what {exercise.signature} says, as plain "
            f"tensors and numbers."
        )


def _check_cases(exercise: Exercise, candidate: Callable, time_limit: float) -> Verdict:
    cases = _prepare(exercise)
    for number, case in enumerate(cases, start=1):
        problem = _check_case(exercise, candidate, case, number, time_limit)
        if problem is not None:
            return Verdict(False, problem)
    return Verdict(
        True, f"Correct: {exercise.signature.split(' ->')[0]} matches the reference on {len(cases)} test cases."
    )


def check(name: str, candidate: Callable, *, time_limit: float = TIME_LIMIT_SECONDS) -> Verdict:
    """Run ``candidate`` on the exercise's seeded cases; a Verdict that says what is wrong.

    Never raises. Each call gets fresh copies of the inputs (modifying them is reported) and at
    most ``time_limit`` seconds (a call still running then is abandoned, not stopped). What
    ``candidate`` prints is shown after the check, cut after ``PRINTED_LINES_SHOWN`` lines.
    """
    printed = _CappedOutput(PRINTED_LINES_SHOWN)
    try:
        problem = _bad_arguments(name, candidate)
        if problem is not None:
            return Verdict(False, problem)
        with contextlib.redirect_stdout(printed):
            return _check_cases(EXERCISES[name], candidate, time_limit)
    except KeyboardInterrupt:
        return Verdict(False, _INTERRUPTED)
    except Exception as error:  # a bug of the checker's own: still a message, never a traceback
        return Verdict(
            False,
            f"Sorry: the checker itself failed ({_error_text(error)}). That is most "
            f"likely a bug in the course, not in your function; please report it.",
        )
    finally:
        shown = printed.report()
        if shown:
            sys.stdout.write(shown)
