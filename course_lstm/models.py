"""Sequence models for the experiments: a recurrent core and a linear readout.

The core is the course's readable RNN/LSTM/GRU or torch.nn's (same parameters, much faster on
CPU and GPU); LSTMs can have their forget-gate bias set, chrono initialisation, or a gate removed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from course_lstm import layers, packing
from course_lstm.cells import lstm_step

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

    def step(self, x: Tensor, state, weights: Sequence[Tensor | None]):
        h, c = state
        i, f, g, o = lstm_step(x, h, c, *weights).gates
        ones = torch.ones_like(g)
        i, f, o = (ones if self.without == gate else value
                   for gate, value in zip(GATES, (i, f, o)))
        c_next = f * c + i * g
        return o * torch.tanh(c_next), c_next


PINNED_BIAS = 1000.0
"""A gate bias at which sigmoid is exactly 1.0 in float32 and float64 (from about 17 and 37 on),
so that its gradient sigma (1 - sigma) is exactly 0: the gate is removed, and stays removed."""

GATE_BLOCKS = {"input": 0, "forget": 1, "output": 3}
"""Each gate's block of rows in torch.nn's stacked LSTM weights (order i, f, g, o)."""


def pin_gate(lstm: nn.Module, gate: str) -> None:
    """Remove ``gate`` from every layer of an LSTM with torch.nn's parameters (nn.LSTM, the fast
    cores), as ``AblatedLSTM`` does in a readable loop: its H rows of ``bias_ih`` become
    ``PINNED_BIAS`` (``bias_hh`` 0), so the gate is exactly 1 and its rows get exactly zero
    gradient, which no optimizer without weight decay moves. Runs at nn.LSTM's speed."""
    if gate not in GATE_BLOCKS:
        raise ValueError(f"gate must be one of {tuple(GATE_BLOCKS)}, got {gate!r}")
    hidden, block = lstm.hidden_size, GATE_BLOCKS[gate]
    rows = slice(block * hidden, (block + 1) * hidden)
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[rows] = PINNED_BIAS
            getattr(lstm, f"bias_hh_l{layer}")[rows] = 0.0


def set_forget_bias(lstm: nn.Module, value: float) -> None:
    """Set the forget-gate bias of every layer so that f = sigmoid(value) at a zero input.

    torch.nn adds ``bias_ih`` and ``bias_hh``; the forget block (rows H..2H) of ``bias_ih`` gets
    ``value`` and that of ``bias_hh`` 0. Jozefowicz et al. 2015 recommend 1.
    """
    hidden = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[hidden:2 * hidden] = value
            getattr(lstm, f"bias_hh_l{layer}")[hidden:2 * hidden] = 0.0


def set_recurrent_gain(core: nn.Module, gain: float, generator: torch.Generator) -> None:
    """Set each (H, H) gate block of layer 0's ``weight_hh`` to ``gain * Q``, Q a random
    orthogonal matrix: every singular value of the block is then ``gain``, the one knob that
    turns a vanishing gradient into an exploding one (notebook 02)."""
    weight = core.weight_hh_l0
    hidden = weight.shape[1]
    blocks = [torch.linalg.qr(torch.randn(hidden, hidden, generator=generator, dtype=weight.dtype))[0]
              for _ in range(weight.shape[0] // hidden)]
    with torch.no_grad():
        weight.copy_(gain * torch.cat(blocks).to(weight.device))


def set_chrono_bias(lstm: nn.Module, max_lag: int, generator: torch.Generator) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018): forget bias log(u), u ~ U[1, max_lag - 1],
    input bias its negative, so that the cells' memory time scales spread up to ``max_lag``."""
    if max_lag < 3:
        raise ValueError(f"max_lag must be at least 3 for chrono initialisation, got {max_lag}")
    hidden = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            bias_ih = getattr(lstm, f"bias_ih_l{layer}")
            u = torch.rand(hidden, generator=generator, dtype=torch.float64)
            forget = torch.log(1 + u * (max_lag - 2)).to(bias_ih)
            bias_ih[hidden:2 * hidden] = forget
            bias_ih[:hidden] = -forget
            getattr(lstm, f"bias_hh_l{layer}")[:2 * hidden] = 0.0


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
            output, _ = nn.utils.rnn.pad_packed_sequence(
                packed, batch_first=True, total_length=x.shape[1]
            )
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


def recurrent_parameter_count(kind: Kind, input_size: int, hidden_size: int) -> int:
    """Parameters of one recurrent layer with biases: G (H (I + H) + 2 H), G = 1, 4, 3 gate blocks."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return gates * (hidden_size * (input_size + hidden_size) + 2 * hidden_size)


def width_for_budget(kind: Kind, input_size: int, output_size: int, budget: int) -> int:
    """The largest hidden size whose SequenceModel (one layer + readout) has at most ``budget``
    parameters: the fair width for comparing models at an equal parameter count."""

    def total(hidden: int) -> int:
        return recurrent_parameter_count(kind, input_size, hidden) + hidden * output_size + output_size

    if total(1) > budget:
        raise ValueError(f"a budget of {budget} parameters is below the smallest {kind} ({total(1)})")
    # total(H) = G H^2 + (G (I + 2) + O) H + O grows with H: solve the quadratic, then step down.
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    b = gates * (input_size + 2) + output_size
    hidden = int((-b + math.sqrt(b * b + 4 * gates * (budget - output_size))) / (2 * gates)) + 1
    while total(hidden) > budget:
        hidden -= 1
    return hidden
