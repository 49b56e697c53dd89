"""One time step of a recurrent network, written gate by gate.

``rnn_step``, ``lstm_step`` and ``gru_step`` are the equations; ``RNNCell``, ``LSTMCell`` and
``GRUCell`` own the weights and match ``torch.nn``'s cells (names, shapes, gate order, init).
Shapes: N batch, I input features (``input_size``), H hidden units (``hidden_size``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lstm import validation

GATE_COUNTS = {"rnn": 1, "lstm": 4, "gru": 3}
"""How many blocks of H rows ``weight_ih`` and ``weight_hh`` stack: LSTM i, f, g, o; GRU r, z, n."""

NONLINEARITIES = ("tanh", "relu")
"""An Elman RNN's choices, spelt exactly as torch.nn spells them."""


class LSTMGates(NamedTuple):
    """The four LSTM gate activations of one step, each of shape (N, H)."""

    i: Tensor  # input gate, in (0, 1): how much of the candidate to write
    f: Tensor  # forget gate, in (0, 1): how much of the old cell state to keep
    g: Tensor  # candidate cell value, in (-1, 1)
    o: Tensor  # output gate, in (0, 1): how much of the cell to show as h


class LSTMStep(NamedTuple):
    """What one LSTM step produces: the new hidden state, cell state and the gates."""

    h: Tensor
    c: Tensor
    gates: LSTMGates


def _split(bias: Tensor | None, blocks: int) -> tuple[Tensor | None, ...]:
    return (None,) * blocks if bias is None else bias.chunk(blocks)


def _rows(gate_count: int) -> str:
    return "hidden_size" if gate_count == 1 else f"{gate_count} * hidden_size"


def check_step(
    gate_count: int,
    x: object,
    states: Sequence[tuple[str, object]],
    weight_ih: object,
    weight_hh: object,
    bias_ih: object = None,
    bias_hh: object = None,
) -> None:
    """Raise unless one functional step's arguments fit together, without broadcasting.

    x: (N, I) or (I,); each of ``states`` (name, tensor): (N, H), or (H,) for an unbatched x;
    weight_ih: (G*H, I), weight_hh: (G*H, H), biases (G*H,) or None, G = ``gate_count``. H is
    read from weight_hh's columns and I from weight_ih's; every tensor must be floating point
    with x's dtype and device.
    """
    x = validation.check_tensor("x", x)
    validation.check_floating("x", x)
    validation.check_rank("x", x, (1, 2), "(batch, input_size) or (input_size,)")
    named = [
        ("weight_ih", weight_ih),
        ("weight_hh", weight_hh),
        *states,
        *((name, b) for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)) if b is not None),
    ]
    tensors = {name: validation.check_tensor(name, value) for name, value in named}
    for name, tensor in tensors.items():
        validation.check_like(name, tensor, "x", x)
    rows = _rows(gate_count)
    w_ih, w_hh = tensors["weight_ih"], tensors["weight_hh"]
    validation.check_rank("weight_hh", w_hh, (2,), f"({rows}, hidden_size)")
    validation.check_rank("weight_ih", w_ih, (2,), f"({rows}, input_size)")
    hidden, inputs = w_hh.shape[1], w_ih.shape[1]
    validation.check_shape("weight_hh", w_hh, (gate_count * hidden, hidden), f"({rows}, hidden_size)")
    validation.check_shape("weight_ih", w_ih, (gate_count * hidden, inputs), f"({rows}, input_size)")
    if x.shape[-1] != inputs:
        raise ValueError(
            f"x must have input_size = {inputs} features in its last dimension (the columns of "
            f"weight_ih, shape {validation.shape_str(w_ih.shape)}), got {x.shape[-1]} "
            f"(shape {validation.shape_str(x.shape)})"
        )
    for name in ("bias_ih", "bias_hh"):
        if name in tensors:
            validation.check_shape(name, tensors[name], (gate_count * hidden,), f"({rows},)")
    batched = x.dim() == 2
    expected = (x.shape[0], hidden) if batched else (hidden,)
    layout = "(batch, hidden_size)" if batched else "(hidden_size,) for an unbatched x"
    for name, _ in states:
        validation.check_shape(name, tensors[name], expected, layout)


def _rnn(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    *,
    nonlinearity: str,
) -> Tensor:
    pre_activation = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    return torch.tanh(pre_activation) if nonlinearity == "tanh" else torch.relu(pre_activation)


def _lstm_gates(
    x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None
) -> LSTMGates:
    W_ii, W_if, W_ig, W_io = weight_ih.chunk(4)
    W_hi, W_hf, W_hg, W_ho = weight_hh.chunk(4)
    b_ii, b_if, b_ig, b_io = _split(bias_ih, 4)
    b_hi, b_hf, b_hg, b_ho = _split(bias_hh, 4)

    i = torch.sigmoid(F.linear(x, W_ii, b_ii) + F.linear(h, W_hi, b_hi))
    f = torch.sigmoid(F.linear(x, W_if, b_if) + F.linear(h, W_hf, b_hf))
    g = torch.tanh(F.linear(x, W_ig, b_ig) + F.linear(h, W_hg, b_hg))
    o = torch.sigmoid(F.linear(x, W_io, b_io) + F.linear(h, W_ho, b_ho))
    return LSTMGates(i, f, g, o)


def _lstm_update(c: Tensor, gates: LSTMGates) -> LSTMStep:
    """The memory cell's update from the gates: c' = f c + i g, h' = o tanh(c')."""
    c_next = gates.f * c + gates.i * gates.g
    h_next = gates.o * torch.tanh(c_next)
    return LSTMStep(h_next, c_next, gates)


def _lstm(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
) -> LSTMStep:
    return _lstm_update(c, _lstm_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh))


def _gru(
    x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None
) -> Tensor:
    W_ir, W_iz, W_in = weight_ih.chunk(3)
    W_hr, W_hz, W_hn = weight_hh.chunk(3)
    b_ir, b_iz, b_in = _split(bias_ih, 3)
    b_hr, b_hz, b_hn = _split(bias_hh, 3)

    r = torch.sigmoid(F.linear(x, W_ir, b_ir) + F.linear(h, W_hr, b_hr))
    z = torch.sigmoid(F.linear(x, W_iz, b_iz) + F.linear(h, W_hz, b_hz))
    n = torch.tanh(F.linear(x, W_in, b_in) + r * F.linear(h, W_hn, b_hn))
    return (1 - z) * n + z * h


def rnn_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    r"""One vanilla RNN step: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`.

    x: (N, I) or (I,), h: (N, H) or (H,), weight_ih: (H, I), weight_hh: (H, H), biases: (H,)
    or None. ``nonlinearity`` is "tanh" or "relu", spelt as torch.nn spells it. Returns h', h's
    shape. The arguments are checked first (``check_step``): an h of shape (1, H) is not
    broadcast over a batch of N.
    """
    validation.one_of("nonlinearity", nonlinearity, NONLINEARITIES)
    check_step(1, x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh)
    return _rnn(x, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity=nonlinearity)


def lstm_step(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> LSTMStep:
    r"""One LSTM step, gate by gate, in torch.nn's gate order (i, f, g, o).

    .. math::
        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c')

    x: (N, I) or (I,), h and c: (N, H) or (H,), weight_ih: (4H, I), weight_hh: (4H, H),
    biases: (4H,) or None. Returns ``LSTMStep(h', c', LSTMGates(i, f, g, o))``, every tensor
    h's shape. The arguments are checked first (``check_step``), without broadcasting.
    """
    check_step(4, x, [("h", h), ("c", c)], weight_ih, weight_hh, bias_ih, bias_hh)
    return _lstm(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)


def gru_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> Tensor:
    r"""One GRU step, in torch.nn's gate order (r, z, n).

    .. math::
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' &= (1 - z) \odot n + z \odot h

    x: (N, I) or (I,), h: (N, H) or (H,), weight_ih: (3H, I), weight_hh: (3H, H), biases: (3H,)
    or None. Returns h', h's shape. The arguments are checked first (``check_step``).
    """
    check_step(3, x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh)
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def check_sizes(input_size: object, hidden_size: object) -> None:
    """Raise unless both sizes are positive ints (shared by cells and layers)."""
    validation.positive_int("input_size", input_size)
    validation.positive_int("hidden_size", hidden_size)


def register_weights(
    module: nn.Module,
    suffix: str,
    gate_count: int,
    input_size: int,
    hidden_size: int,
    bias: bool,
    factory_kwargs: dict,
) -> None:
    """Create ``weight_ih{suffix}`` (G*H, I), ``weight_hh{suffix}`` (G*H, H) and, with ``bias``,
    ``bias_ih{suffix}``, ``bias_hh{suffix}`` (G*H,) on ``module``: torch.nn's names and shapes."""
    rows = gate_count * hidden_size
    shapes: dict[str, tuple[int, ...]] = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
    if bias:
        shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
    for name, shape in shapes.items():
        module.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory_kwargs)))
    if not bias:
        module.register_parameter("bias_ih" + suffix, None)
        module.register_parameter("bias_hh" + suffix, None)


def reset_uniform(module: nn.Module, hidden_size: int) -> None:
    """torch.nn's initialisation: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-bound, bound)


class _Cell(nn.Module):
    """Weights and input checks shared by the three cells; subclasses define ``forward``.

    ``input_size`` and ``hidden_size`` must be positive ints and ``bias`` a bool. torch.nn's
    cells check none of these and accept ``hidden_size=0``, a cell with no state whose outputs
    are empty; torch.nn's layers refuse it. Ours refuse it in cells and layers alike: one rule
    for both, and a 0 that slipped in (a size computed as ``n // k``) is reported at once
    instead of surfacing as an empty tensor several steps later.
    """

    kind: str
    # registered by ``register_weights``; declared so that type checkers see tensors, not the
    # ``Tensor | Module`` of nn.Module.__getattr__
    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = validation.boolean("bias", bias)
        factory_kwargs = {"device": device, "dtype": dtype}
        register_weights(self, "", GATE_COUNTS[self.kind], input_size, hidden_size, bias, factory_kwargs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _check_input(self, input: Tensor) -> bool:
        """Validate ``input``; return True when it is batched (N, I), False for unbatched (I,)."""
        validation.check_tensor("input", input)
        validation.check_like_parameters("input", input, self.weight_ih)
        validation.check_rank("input", input, (1, 2), "(batch, input_size) or (input_size,)")
        validation.check_size("input", input, -1, self.input_size, "input_size")
        return input.dim() == 2

    def _state(self, name: str, state: Tensor | None, input: Tensor) -> Tensor:
        """Validate one state tensor against the input (or make zeros); returned as (N, H)."""
        batched = input.dim() == 2
        expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if state is None:
            return input.new_zeros(expected if batched else (1, self.hidden_size))
        validation.check_tensor(name, state)
        validation.check_like_parameters(name, state, self.weight_ih)
        layout = "(batch, hidden_size)" if batched else "(hidden_size,) for an unbatched input"
        validation.check_shape(name, state, expected, layout)
        return state if batched else state.unsqueeze(0)

    def _weights(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(_Cell):
    r"""An Elman RNN cell, :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`, like nn.RNNCell.

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of the state; at least 1: unlike nn.RNNCell, ``hidden_size = 0``
            is refused, as nn.RNN refuses it (see ``_Cell``).
        bias: whether the cell has the biases b_ih and b_hh (default True).
        nonlinearity: "tanh" (default) or "relu".
        device, dtype: of the parameters, as in torch.nn.

    Inputs: input, hx
        input: (N, I), or (I,) unbatched.
        hx: (N, H), or (H,) unbatched; zeros when omitted.

    Outputs: h'
        h': (N, H), or (H,) unbatched: the next state.
    """

    kind = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        validation.one_of("nonlinearity", nonlinearity, NONLINEARITIES)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        h = self._state("hx", hx, input)
        x = input if batched else input.unsqueeze(0)
        h_next = _rnn(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return h_next if batched else h_next.squeeze(0)


class LSTMCell(_Cell):
    """An LSTM cell with torch.nn.LSTMCell's parameters; see ``lstm_step`` for the equations.

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of h and c; at least 1: unlike nn.LSTMCell, ``hidden_size = 0``
            is refused, as nn.LSTM refuses it (see ``_Cell``).
        bias: whether the cell has the biases b_ih and b_hh (default True).
        device, dtype: of the parameters, as in torch.nn.

    Inputs: input, (h, c)
        input: (N, I), or (I,) unbatched.
        (h, c): each (N, H), or (H,) unbatched; zeros when omitted.

    Outputs: (h', c')
        h', c': each (N, H), or (H,) unbatched. ``forward_with_gates`` returns
        ``LSTMStep(h', c', LSTMGates(i, f, g, o))`` instead.
    """

    kind = "lstm"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        step = self.forward_with_gates(input, hx)
        return step.h, step.c

    def forward_with_gates(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> LSTMStep:
        """One step returning ``LSTMStep(h', c', LSTMGates(i, f, g, o))``, shaped like hx."""
        batched = self._check_input(input)
        if hx is None:
            h = c = self._state("h", None, input)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    "hx must be a pair (h, c) of tensors for an LSTM cell, got "
                    f"{type(hx).__name__}" + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else "")
                )
            h = self._state("h", hx[0], input)
            c = self._state("c", hx[1], input)
        x = input if batched else input.unsqueeze(0)
        step = _lstm(x, h, c, *self._weights())
        if batched:
            return step
        gates = LSTMGates(*(gate.squeeze(0) for gate in step.gates))
        return LSTMStep(step.h.squeeze(0), step.c.squeeze(0), gates)


class GRUCell(_Cell):
    """A GRU cell with torch.nn.GRUCell's parameters; see ``gru_step`` for the equations.

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of the state; at least 1: unlike nn.GRUCell, ``hidden_size = 0``
            is refused, as nn.GRU refuses it (see ``_Cell``).
        bias: whether the cell has the biases b_ih and b_hh (default True).
        device, dtype: of the parameters, as in torch.nn.

    Inputs: input, hx
        input: (N, I), or (I,) unbatched.
        hx: (N, H), or (H,) unbatched; zeros when omitted.

    Outputs: h'
        h': (N, H), or (H,) unbatched: the next state.
    """

    kind = "gru"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        h = self._state("hx", hx, input)
        x = input if batched else input.unsqueeze(0)
        h_next = _gru(x, h, *self._weights())
        return h_next if batched else h_next.squeeze(0)
