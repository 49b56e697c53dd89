"""Exercise checkers: run a learner's function on seeded cases and explain what is wrong.

``check("lstm_step", my_lstm_step)`` returns a ``Verdict`` that displays as one friendly line;
it never raises, whatever the learner's function does. Known mistakes get a specific hint.
"""

from __future__ import annotations

import itertools
import math
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
    """

    name: str
    signature: str
    reference: Callable
    cases: Callable[[torch.Generator], list[tuple]]
    mistakes: dict[str, Callable] = field(default_factory=dict)


def _randn(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def _wrong_orders(correct: str, subject: str, layout: str, variant: Callable[[str], Callable]) -> dict[str, Callable]:
    """A hint for every wrong order of the gate blocks ``correct`` (torch.nn's, e.g. "ifgo"):
    ``variant(order)`` makes the mistake of reading them in ``order``."""
    return {
        f"your {subject} in the order {', '.join(order)}; torch.nn stacks them as "
        f"{', '.join(correct)} ({layout})": variant(order)
        for order in map("".join, itertools.permutations(correct)) if order != correct
    }


# --- 00: batch-first to time-first -----------------------------------------------------------


def _layout_cases(generator: torch.Generator) -> list[tuple]:
    return [(_randn(generator, n, l, i),) for n, l, i in [(2, 3, 4), (4, 5, 1), (3, 3, 2)]]


# --- 01: one RNN step, and the unrolled RNN -------------------------------------------------


def _rnn_cases(generator: torch.Generator) -> list[tuple]:
    shapes = [(4, 3, 5), (1, 2, 2), (6, 5, 3)]  # (N, I, H)
    return [(_randn(generator, n, i), _randn(generator, n, h), _randn(generator, h, i),
             _randn(generator, h, h), _randn(generator, h)) for n, i, h in shapes]


def _rnn_step_reference(x, h, W_ih, W_hh, b):
    return rnn_step(x, h, W_ih, W_hh, b)


def _unroll_cases(generator: torch.Generator) -> list[tuple]:
    shapes = [(5, 4, 3, 6), (1, 2, 2, 2), (7, 1, 3, 4)]  # (L, N, I, H)
    return [(_randn(generator, l, n, i), _randn(generator, n, h), _randn(generator, h, i),
             _randn(generator, h, h), _randn(generator, h)) for l, n, i, h in shapes]


def _unroll_reference(xs, h0, W_ih, W_hh, b):
    h, outputs = h0, []
    for x in xs:
        h = rnn_step(x, h, W_ih, W_hh, b)
        outputs.append(h)
    return torch.stack(outputs)


# --- 02: gradient clipping ------------------------------------------------------------------


def _clip_cases(generator: torch.Generator) -> list[tuple]:
    return [([_randn(generator, 3, 4), _randn(generator, 5)], 1.0),
            ([_randn(generator, 2, 2) * 10, _randn(generator, 7) * 10], 5.0),
            ([_randn(generator, 4) * 0.01], 1.0)]  # already small: unchanged


def _clip_reference(grads, max_norm):
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads)).item()
    scale = 1.0 if total <= max_norm else max_norm / total
    return [g * scale for g in grads]


# --- 03: the constant error carousel --------------------------------------------------------


def _cec_cases(generator: torch.Generator) -> list[tuple]:
    return [(_randn(generator, n, i), _randn(generator, n, h), _randn(generator, h, i), _randn(generator, h))
            for n, i, h in [(4, 3, 5), (2, 1, 1), (3, 6, 2)]]


def _cec_reference(x, c, W, b):
    return c + torch.tanh(F.linear(x, W, b))


# --- 04: one LSTM step ----------------------------------------------------------------------


def _lstm_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for n, i, h in [(4, 3, 5), (2, 2, 3), (5, 4, 2)]:
        cases.append((_randn(generator, n, i), _randn(generator, n, h), _randn(generator, n, h),
                      _randn(generator, 4 * h, i), _randn(generator, 4 * h, h),
                      _randn(generator, 4 * h), _randn(generator, 4 * h)))
    return cases


def _lstm_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    step = lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)
    return step.h, step.c


def _lstm_with_order(order: str) -> Callable:
    """An LSTM step that reads the weight blocks in ``order`` (e.g. "fiog") instead of "ifgo"."""

    def step(x, h, c, W_ih, W_hh, b_ih, b_hh):
        blocks = dict(zip(order, (F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)).chunk(4, -1)))
        i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
        c_next = f * c + i * torch.tanh(blocks["g"])
        return o * torch.tanh(c_next), c_next

    return step


def _lstm_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders("ifgo", "gates read the weight blocks",
                             "rows 0:H input gate, H:2H forget, 2H:3H candidate, 3H:4H output",
                             _lstm_with_order)

    def no_tanh_on_cell(x, h, c, *weights):
        _, c_next = _lstm_reference(x, h, c, *weights)
        o = lstm_step(x, h, c, *weights).gates.o
        return o * c_next, c_next

    def forgets_input_gate(x, h, c, *weights):
        i, f, g, o = lstm_step(x, h, c, *weights).gates
        c_next = f * c + g
        return o * torch.tanh(c_next), c_next

    mistakes["h' should be o * tanh(c'), not o * c': the tanh squashes the cell into (-1, 1)"] = no_tanh_on_cell
    mistakes["the new cell state is f * c + i * g: the input gate i must scale the candidate g"] = forgets_input_gate
    return mistakes


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
        blocks = dict(zip(order, gates.chunk(4, -1)))
        i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
        c_next = f * c + i * candidate(blocks["g"])
        return o * (torch.tanh(c_next) if squash_cell else c_next), c_next

    return update


def _update_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders("ifgo", "update reads the blocks of gates",
                             "columns 0:H input gate, H:2H forget, 2H:3H candidate, 3H:4H output",
                             _update_with_order)
    mistakes["the candidate g takes tanh, not sigmoid: it must be able to lower the cell"] = (
        _update_with_order("ifgo", candidate=torch.sigmoid))
    mistakes["h' should be o * tanh(c'), not o * c': the tanh squashes the cell into (-1, 1)"] = (
        _update_with_order("ifgo", squash_cell=False))
    return mistakes


# --- 06: the gradient's decay per step ------------------------------------------------------


def _decay_cases(generator: torch.Generator) -> list[tuple]:
    cases = []
    for length, rate in [(30, 0.8), (12, 1.0), (50, 0.97)]:
        distance = torch.arange(length - 1, -1, -1, dtype=torch.float64)
        noise = 0.1 * _randn(generator, length)
        cases.append(((rate ** distance) * 2.0 * noise.exp(),))
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
    return [(torch.rand(t, n, h, generator=generator, dtype=torch.float64),)
            for t, n, h in [(6, 2, 3), (1, 1, 4), (9, 3, 2)]]


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
        cases.append((_randn(generator, n, i), _randn(generator, n, h), _randn(generator, 3 * h, i),
                       _randn(generator, 3 * h, h), _randn(generator, 3 * h), _randn(generator, 3 * h)))
    return cases


def _gru_variant(order: str = "rzn", swap_z: bool = False, reset_before: bool = False) -> Callable:
    """A GRU step reading the weight blocks in ``order`` (torch.nn's is "rzn"), optionally with
    z and 1 - z swapped, or with r applied to h before the matrix product (Cho et al. 2014)."""

    def step(x, h, W_ih, W_hh, b_ih, b_hh):
        wi, wh = dict(zip(order, W_ih.chunk(3))), dict(zip(order, W_hh.chunk(3)))
        bi, bh = dict(zip(order, b_ih.chunk(3))), dict(zip(order, b_hh.chunk(3)))
        r = torch.sigmoid(F.linear(x, wi["r"], bi["r"]) + F.linear(h, wh["r"], bh["r"]))
        z = torch.sigmoid(F.linear(x, wi["z"], bi["z"]) + F.linear(h, wh["z"], bh["z"]))
        recurrent = F.linear(r * h, wh["n"], bh["n"]) if reset_before else r * F.linear(h, wh["n"], bh["n"])
        n = torch.tanh(F.linear(x, wi["n"], bi["n"]) + recurrent)
        return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h

    return step


def _gru_mistakes() -> dict[str, Callable]:
    mistakes = _wrong_orders("rzn", "step reads the blocks of the weights",
                             "rows 0:H reset gate, H:2H update gate, 2H:3H candidate", _gru_variant)
    mistakes["z is the share of the OLD state kept: h' = (1 - z) * n + z * h, not z * n + (1 - z) * h"] = (
        _gru_variant(swap_z=True))
    mistakes["torch.nn applies r after the product, r * (W_hn h + b_hn); you used W_hn (r * h) + b_hn, "
             "the original paper's form"] = _gru_variant(reset_before=True)
    return mistakes


EXERCISES = {
    exercise.name: exercise
    for exercise in [
        Exercise("to_time_major", "to_time_major(x) -> (L, N, I)", lambda x: x.transpose(0, 1),
                 _layout_cases, {
                     "reshape keeps the memory order, so it mixes time steps of different "
                     "sequences; swap the axes with x.transpose(0, 1) (or x.permute(1, 0, 2))":
                         lambda x: x.reshape(x.shape[1], x.shape[0], x.shape[2]),
                 }),
        Exercise("rnn_step", "rnn_step(x, h, W_ih, W_hh, b) -> h_next", _rnn_step_reference,
                 _rnn_cases, {
                     "apply tanh to the sum: h' = tanh(x W_ih^T + h W_hh^T + b)":
                         lambda x, h, W_ih, W_hh, b: F.linear(x, W_ih, b) + h @ W_hh.T,
                     "the recurrent term is missing: add h @ W_hh.T inside the tanh":
                         lambda x, h, W_ih, W_hh, b: torch.tanh(F.linear(x, W_ih, b)),
                     "use tanh, not sigmoid, for a vanilla RNN's hidden state":
                         lambda x, h, W_ih, W_hh, b: torch.sigmoid(F.linear(x, W_ih, b) + h @ W_hh.T),
                     "W_hh is (H, H) and multiplies h as h @ W_hh.T; you used h @ W_hh":
                         lambda x, h, W_ih, W_hh, b: torch.tanh(F.linear(x, W_ih, b) + h @ W_hh),
                 }),
        Exercise("unroll_rnn", "unroll_rnn(xs, h0, W_ih, W_hh, b) -> outputs (L, N, H)",
                 _unroll_reference, _unroll_cases, {
                     "each step must start from the previous step's h, not from h0 every time":
                         lambda xs, h0, *w: torch.stack([rnn_step(x, h0, *w) for x in xs]),
                 }),
        Exercise("clip_grad_norm", "clip_grad_norm(grads, max_norm) -> clipped grads",
                 _clip_reference, _clip_cases, {
                     "clip by the norm of all gradients together, not of each tensor separately":
                         lambda grads, m: [g * min(1.0, m / g.norm().item()) for g in grads],
                     "clipping the norm rescales the whole gradient; clamping each entry changes its direction":
                         lambda grads, m: [g.clamp(-m, m) for g in grads],
                 }),
        Exercise("cec_step", "cec_step(x, c, W, b) -> c_next", _cec_reference, _cec_cases, {
            "the carousel keeps the old cell: c' = c + tanh(W x + b), with the c kept as it is":
                lambda x, c, W, b: torch.tanh(F.linear(x, W, b)),
            "the self-loop is linear: add tanh(W x + b) to c, do not squash the sum":
                lambda x, c, W, b: torch.tanh(c + F.linear(x, W, b)),
        }),
        Exercise("lstm_step", "lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_next, c_next)",
                 _lstm_reference, _lstm_cases, _lstm_mistakes()),
        Exercise("lstm_parameter_count", "lstm_parameter_count(input_size, hidden_size, num_layers) -> int",
                 _count_reference, _count_cases, {
                     "torch.nn has two bias vectors per layer, b_ih and b_hh, each 4H long": _count_one_bias,
                     "layers above the first take the hidden state (size H) as input, not the input size I":
                         _count_same_input,
                     "an LSTM layer has four blocks (i, f, g, o), each the size of an RNN layer": _count_rnn,
                 }),
        Exercise("cell_update", "cell_update(gates, c) -> (h_next, c_next)",
                 _update_with_order("ifgo"), _update_cases, _update_mistakes()),
        Exercise("decay_per_step", "decay_per_step(norms) -> float", decay_rate, _decay_cases, {
            "fit the whole curve, not its two ends: least squares of log norm against the distance "
            "to the loss": _decay_endpoints,
            "return the factor per step, exp(slope), not the slope of log norm itself": _decay_slope,
            "the distance to the loss is T-1-t, so the first norm is the farthest; your factor is "
            "upside down (1/r)": _decay_upside_down,
        }),
        Exercise("last_step_outputs", "last_step_outputs(output, lengths) -> (N, H)", _final_reference,
                 _final_cases, {
                     "output[:, -1] is the last PADDED step; read each sequence at its own length":
                         lambda output, lengths: output[:, -1],
                     "a sequence of length L ends at index L - 1, not L (indices start at 0)":
                         lambda output, lengths: output[torch.arange(len(lengths)),
                                                        lengths.clamp(max=output.shape[1] - 1)],
                 }),
        Exercise("retention", "retention(forget) -> (T, N, H)", _retention_reference, _retention_cases, {
            "what survives multiplies the forget gates (a running product, cumprod), it does not add them":
                lambda forget: forget.cumsum(dim=0),
            "return the running product for every step t, not only the product over all T steps":
                lambda forget: forget.prod(dim=0),
            "take the running product over time (dim 0), not over the batch or the units":
                lambda forget: forget.cumprod(dim=-1),
        }),
        Exercise("rnn_width_for_budget", "rnn_width_for_budget(input_size, output_size, budget) -> int",
                 _budget_reference, _budget_cases, {
                     "count the readout too: H * output_size weights and output_size biases":
                         _budget_without_readout,
                     "torch.nn's RNN has two bias vectors, b_ih and b_hh, each H long": _budget_one_bias,
                     "the width must fit the budget: round down, not up": _budget_rounded_up,
                 }),
        Exercise("gru_step", "gru_step(x, h, W_ih, W_hh, b_ih, b_hh) -> h_next",
                 lambda x, h, *weights: gru_step(x, h, *weights), _gru_cases, _gru_mistakes()),
    ]
}


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r}"


def _difference(got: object, expected: object) -> str | None:
    """None when ``got`` equals ``expected`` (to float64 rounding), else what differs, in words."""
    if isinstance(expected, Tensor):
        if not isinstance(got, Tensor):
            return f"expected a tensor, got {_describe(got)}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        if not torch.allclose(got.to(expected.dtype), expected, rtol=1e-6, atol=1e-8):
            worst = (got.to(expected.dtype) - expected).abs().max().item()
            return f"the values are off (largest difference {worst:.2g})"
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {_describe(expected)}, got {_describe(got)}"
        for k, (a, b) in enumerate(zip(got, expected)):
            problem = _difference(a, b)
            if problem:
                return f"item {k}: {problem}"
        return None
    if isinstance(expected, int) and isinstance(got, int) and not isinstance(got, bool) and got == expected:
        return None
    if isinstance(expected, float):
        if isinstance(got, Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
                return None
            return f"expected {expected:.6g}, got {got:.6g}"
    return f"expected {expected!r}, got {_describe(got)}"


def _where(error: BaseException) -> str:
    """" (line N of your code)" for the deepest frame outside this module and the libraries."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename != __file__ and "site-packages" not in frame.filename]
    return f" (line {frames[-1].lineno} of your code)" if frames else ""


def _call(function: Callable, args: tuple) -> tuple[object, BaseException | None]:
    try:
        return function(*args), None
    except Exception as error:  # the learner's error becomes a message, never a traceback here
        return None, error


def check(name: str, candidate: Callable) -> Verdict:
    """Run ``candidate`` on the exercise's seeded cases; a Verdict that says what is wrong."""
    if name not in EXERCISES:
        return Verdict(False, f"There is no exercise called {name!r}; the exercises are: "
                              f"{', '.join(EXERCISES)}.")
    exercise = EXERCISES[name]
    if not callable(candidate):
        return Verdict(False, f"check({name!r}, ...) needs your function, got {_describe(candidate)}.")
    cases = exercise.cases(torch.Generator().manual_seed(0))
    for number, args in enumerate(cases, start=1):
        got, error = _call(candidate, args)
        if isinstance(error, NotImplementedError):
            return Verdict(False, f"Not written yet: replace the ... and `raise NotImplementedError` "
                                  f"in {exercise.signature.split('(')[0]} with your code, then run this again.")
        if error is not None:
            return Verdict(False, f"Not yet: on test case {number} your function raised "
                                  f"{type(error).__name__}: {error}{_where(error)}. "
                                  f"Inputs: {', '.join(_describe(a) for a in args)}.")
        problem = _difference(got, exercise.reference(*args))
        if problem is None:
            continue
        for hint, mistake in exercise.mistakes.items():
            wrong, failed = _call(mistake, args)
            if failed is None and _difference(got, wrong) is None:
                return Verdict(False, f"Not yet: {hint}.")
        return Verdict(False, f"Not yet: on test case {number} {problem}. "
                              f"Inputs: {', '.join(_describe(a) for a in args)}.")
    return Verdict(True, f"Correct: {exercise.signature.split(' ->')[0]} matches the reference "
                         f"on {len(cases)} test cases.")
