"""Sequence models for the experiments: a recurrent core and a linear readout.

The core is the course's readable RNN/LSTM/GRU or torch.nn's (same parameters, much faster on
CPU and GPU); LSTMs can have their forget-gate bias set, chrono initialisation, or a gate removed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from course_lstm import cells, layers, packing, validation
from course_lstm.cells import GATE_COUNTS, LSTMGates

Kind = Literal["rnn", "lstm", "gru"]
Implementation = Literal["readable", "torch"]
Readout = Literal["last", "every_step"]
GATES = ("input", "forget", "output")
"""The LSTM gates an ablation can remove (fix to 1), as in Greff et al. 2017 (NIG, NFG, NOG)."""

CORES = {
    "readable": {"rnn": layers.RNN, "lstm": layers.LSTM, "gru": layers.GRU},
    "torch": {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU},
}


class AblatedLSTM(layers.LSTM):
    """An LSTM with one gate fixed to 1 (Greff et al. 2017): without the forget gate the cell
    never forgets, without the input gate it always writes, without the output gate it always
    shows tanh(c). The parameters keep nn.LSTM's shapes; the removed gate's rows are unused."""

    def __init__(self, input_size: int, hidden_size: int, without: str, **kwargs) -> None:
        if without not in GATES:
            raise ValueError(f"without must be one of {GATES}, got {without!r}")
        super().__init__(input_size, hidden_size, **kwargs)
        self.without = without

    def extra_repr(self) -> str:
        return super().extra_repr() + f", without={self.without!r}"

    def gates(self, x: Tensor, h: Tensor, weights: layers.Weights) -> LSTMGates:
        """The LSTM's gates with the removed one replaced by ones; ``step`` and
        ``diagnostics.record_gates`` use these."""
        gates = super().gates(x, h, weights)
        return gates._replace(**{GATE_FIELDS[self.without]: torch.ones_like(gates.g)})


class TruncatedLSTM(layers.LSTM):
    """An LSTM whose gradient is truncated as Hochreiter & Schmidhuber (1997) truncated it.

    The forward pass is the LSTM's, unchanged. Backwards, the gates and the candidate read
    h_{t-1} detached, so no error flows from them back into the previous step: the only path from
    one step to the one before is the cell's, dc_t/dc_{t-1} = diag(f_t), the constant error
    carousel with a forget gate (Gers et al. 2000). The weights still get their gradients.
    """

    def gates(self, x: Tensor, h: Tensor, weights: layers.Weights) -> LSTMGates:
        return super().gates(x, h.detach(), weights)


PINNED_BIAS = 1000.0
"""A gate bias at which sigmoid is exactly 1.0 in float32 and float64 (from about 17 and 37 on),
so that its gradient sigma (1 - sigma) is exactly 0: the gate is removed, and stays removed."""

GATE_FIELDS = dict(zip(GATES, ("i", "f", "o"), strict=True))
"""Each removable gate's field in ``cells.LSTMGates``, whose order (i, f, g, o) is torch.nn's."""

GATE_BLOCKS = {gate: LSTMGates._fields.index(field) for gate, field in GATE_FIELDS.items()}
"""Each gate's block of H rows in torch.nn's stacked LSTM weights and biases: input 0, forget 1,
output 3 (the candidate g is block 2)."""

_LSTM_TYPES = (nn.LSTM, layers.LSTM, nn.LSTMCell, cells.LSTMCell)


def lstm_biases(lstm: nn.Module) -> list[tuple[Tensor, Tensor]]:
    """The ``(bias_ih, bias_hh)`` parameters of every layer and direction of an LSTM.

    lstm: ``torch.nn.LSTM`` (any ``num_layers``, ``bidirectional``, ``proj_size``),
    ``course_lstm.LSTM`` and its subclasses (``AblatedLSTM``, the cores of ``course_lstm.fast``),
    or one LSTM cell (``torch.nn.LSTMCell``, ``course_lstm.LSTMCell``). Returns the parameters
    themselves, in torch.nn's order (layer 0, layer 0 reverse, layer 1, ...), each of shape
    (4H,): the blocks i, f, g, o of ``cells.LSTMGates``, H rows each. torch.nn adds the two, so
    a gate's bias is the sum of its blocks in both.

    Raises TypeError for anything else (an RNN or a GRU has other gates in its rows) and
    ValueError for an LSTM built with ``bias=False``.
    """
    if not isinstance(lstm, _LSTM_TYPES):
        hint = "; pass its recurrent core, model.core" if isinstance(getattr(lstm, "core", None), nn.Module) else ""
        raise TypeError(
            "expected an LSTM (torch.nn.LSTM, course_lstm.LSTM or an LSTM cell), whose biases "
            f"hold the gates i, f, g, o, got {type(lstm).__name__}{hint}"
        )
    if isinstance(lstm, (nn.LSTMCell, cells.LSTMCell)):
        suffixes = [""]
    else:
        directions = ("", "_reverse") if getattr(lstm, "bidirectional", False) else ("",)
        suffixes = [f"_l{layer}{direction}" for layer in range(lstm.num_layers) for direction in directions]
    rows = GATE_COUNTS["lstm"] * lstm.hidden_size
    pairs = []
    for suffix in suffixes:
        bias_ih, bias_hh = (getattr(lstm, f"bias_{side}{suffix}", None) for side in ("ih", "hh"))
        if not isinstance(bias_ih, Tensor) or not isinstance(bias_hh, Tensor):
            raise ValueError(
                f"this {type(lstm).__name__} was built with bias=False: it has no gate biases to "
                "set; build it with bias=True (the default)"
            )
        for bias in (bias_ih, bias_hh):
            if tuple(bias.shape) != (rows,):
                raise ValueError(f"expected LSTM biases of shape ({rows},), got {tuple(bias.shape)}")
        pairs.append((bias_ih, bias_hh))
    return pairs


def _gate_rows(gate: str, bias: Tensor) -> slice:
    """The H rows of ``gate`` (a field of ``cells.LSTMGates``: i, f, g, o) in a (4H,) bias."""
    hidden = bias.shape[0] // GATE_COUNTS["lstm"]
    block = LSTMGates._fields.index(gate)
    return slice(block * hidden, (block + 1) * hidden)


def pin_gate(lstm: nn.Module, gate: str) -> None:
    """Remove ``gate`` from every layer and direction of an LSTM (see ``lstm_biases``), as
    ``AblatedLSTM`` does in a readable loop: its H rows of ``bias_ih`` become ``PINNED_BIAS``
    (``bias_hh`` 0), so the gate is exactly 1 and its rows get exactly zero gradient, which no
    optimizer without weight decay moves. On nn.LSTM it runs at nn.LSTM's speed."""
    if gate not in GATE_BLOCKS:
        raise ValueError(f"gate must be one of {tuple(GATE_BLOCKS)}, got {gate!r}")
    with torch.no_grad():
        for bias_ih, bias_hh in lstm_biases(lstm):
            rows = _gate_rows(GATE_FIELDS[gate], bias_ih)
            bias_ih[rows] = PINNED_BIAS
            bias_hh[rows] = 0.0


def set_forget_bias(lstm: nn.Module, value: float) -> None:
    """Set the forget-gate bias of every layer and direction of an LSTM (see ``lstm_biases``) so
    that f = sigmoid(value) at a zero input.

    torch.nn adds ``bias_ih`` and ``bias_hh``; the forget block (rows H..2H) of ``bias_ih`` gets
    ``value`` and that of ``bias_hh`` 0. Jozefowicz et al. 2015 recommend 1.
    """
    validation.finite_float("value", value)
    with torch.no_grad():
        for bias_ih, bias_hh in lstm_biases(lstm):
            rows = _gate_rows("f", bias_ih)
            bias_ih[rows] = value
            bias_hh[rows] = 0.0


def set_recurrent_gain(core: nn.Module, gain: float, generator: torch.Generator) -> None:
    """Set each (H, H) gate block of layer 0's ``weight_hh`` to ``gain * Q``, Q a random
    orthogonal matrix: every singular value of the block is then ``gain``, the one knob that
    turns a vanishing gradient into an exploding one (notebook 02)."""
    weight = core.get_parameter("weight_hh_l0")
    hidden = weight.shape[1]
    blocks = [
        torch.linalg.qr(torch.randn(hidden, hidden, generator=generator, dtype=weight.dtype))[0]
        for _ in range(weight.shape[0] // hidden)
    ]
    with torch.no_grad():
        weight.copy_(gain * torch.cat(blocks).to(weight.device))


def set_chrono_bias(lstm: nn.Module, max_lag: int, generator: torch.Generator) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018): forget bias log(u), u ~ U[1, max_lag - 1],
    input bias its negative, so that the cells' memory time scales spread up to ``max_lag``.

    Every layer and direction of an LSTM (see ``lstm_biases``) draws its own H values from
    ``generator``, in torch.nn's order; ``bias_hh``'s input and forget blocks become 0.
    """
    validation.integer("max_lag", max_lag, 3, expected="an int of at least 3 for chrono initialisation")
    with torch.no_grad():
        for bias_ih, bias_hh in lstm_biases(lstm):
            forget_rows, input_rows = _gate_rows("f", bias_ih), _gate_rows("i", bias_ih)
            hidden = bias_ih.shape[0] // GATE_COUNTS["lstm"]
            u = torch.rand(hidden, generator=generator, dtype=torch.float64)
            forget = torch.log(1 + u * (max_lag - 2)).to(bias_ih)
            bias_ih[forget_rows] = forget
            bias_ih[input_rows] = -forget
            bias_hh[input_rows] = 0.0
            bias_hh[forget_rows] = 0.0


class SequenceModel(nn.Module):
    """A recurrent core and a linear readout, batch-first.

    forward(x (N, T, I), lengths (N,) or None) -> (N, O) for readout "last" (read at each
    sequence's true length), or (N, T, O) for "every_step".
    """

    def __init__(
        self,
        kind: Kind,
        input_size: int,
        hidden_size: int,
        output_size: int,
        readout: Readout = "last",
        num_layers: int = 1,
        implementation: Implementation = "readable",
        forget_bias: float | None = None,
        without_gate: str | None = None,
    ) -> None:
        super().__init__()
        if implementation not in CORES:
            raise ValueError(f"implementation must be one of {list(CORES)}, got {implementation!r}")
        if kind not in CORES[implementation]:
            raise ValueError(f"kind must be one of {list(CORES[implementation])}, got {kind!r}")
        if readout not in ("last", "every_step"):
            raise ValueError(f"readout must be 'last' or 'every_step', got {readout!r}")
        if (forget_bias is not None or without_gate is not None) and kind != "lstm":
            raise ValueError(f"forget_bias and without_gate apply to an LSTM, not to kind={kind!r}")
        self.kind, self.readout, self.implementation = kind, readout, implementation
        options = {"num_layers": num_layers, "batch_first": True}
        if without_gate is not None and implementation == "readable":
            self.core = AblatedLSTM(input_size, hidden_size, without=without_gate, **options)
        else:
            self.core = CORES[implementation][kind](input_size, hidden_size, **options)
        if forget_bias is not None:
            set_forget_bias(self.core, forget_bias)
        if without_gate is not None and implementation == "torch":
            pin_gate(self.core, without_gate)  # after the forget bias, which must not undo it
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            output, _ = self.core(x)
        else:
            packed, _ = self.core(packing.pack(x, lengths, batch_first=True))
            output, _ = nn.utils.rnn.pad_packed_sequence(packed, batch_first=True, total_length=x.shape[1])
        if self.readout == "every_step":
            return self.head(output)
        last = output[:, -1] if lengths is None else packing.final_outputs(output, lengths, True)
        return self.head(last)


class LengthsIgnored(SequenceModel):
    """A SequenceModel that never sees the lengths: it runs over the padding and reads
    output[:, -1] (notebook 07's model that ignores them)."""

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return super().forward(x)


def parameter_count(module: nn.Module) -> int:
    """The number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _gate_count(kind: str) -> int:
    """G, the number of gate blocks of ``kind`` (``cells.GATE_COUNTS``)."""
    if kind not in GATE_COUNTS:
        known = ", ".join(repr(k) for k in GATE_COUNTS)
        raise ValueError(f"kind must be one of {known}, got {kind!r}")
    return GATE_COUNTS[kind]


def recurrent_parameter_count(kind: Kind, input_size: int, hidden_size: int) -> int:
    """Parameters of one recurrent layer with biases: G (H (I + H) + 2 H), G = 1, 4, 3 gate
    blocks for "rnn", "lstm", "gru" (``cells.GATE_COUNTS``)."""
    gates = _gate_count(kind)
    return gates * (hidden_size * (input_size + hidden_size) + 2 * hidden_size)


def width_for_budget(kind: Kind, input_size: int, output_size: int, budget: int) -> int:
    """The largest hidden size whose SequenceModel (one layer + readout) has at most ``budget``
    parameters: the fair width for comparing models at an equal parameter count.

    kind: "rnn", "lstm" or "gru" (ValueError otherwise)."""
    gates = _gate_count(kind)

    def total(hidden: int) -> int:
        return recurrent_parameter_count(kind, input_size, hidden) + hidden * output_size + output_size

    if total(1) > budget:
        raise ValueError(f"a budget of {budget} parameters is below the smallest {kind} ({total(1)})")
    # total(H) = G H^2 + (G (I + 2) + O) H + O grows with H: solve the quadratic, then step down.
    b = gates * (input_size + 2) + output_size
    hidden = int((-b + math.sqrt(b * b + 4 * gates * (budget - output_size))) / (2 * gates)) + 1
    while total(hidden) > budget:
        hidden -= 1
    return hidden
