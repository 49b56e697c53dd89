"""Recurrent layers: the cells of ``cells.py`` unrolled over time, interchangeable with torch.nn.

``RNN``, ``LSTM`` and ``GRU`` take torch.nn's constructor arguments in torch.nn's order
(input_size, hidden_size, num_layers, [nonlinearity,] bias, batch_first, dropout, bidirectional,
[proj_size,] device, dtype), hold parameters with torch.nn's names (``weight_ih_l0``, ...), and
return torch.nn's ``(output, h_n)`` / ``(output, (h_n, c_n))``. ``bidirectional`` and
``proj_size`` are accepted at torch.nn's defaults (False, 0) only, so that code that spells them
out runs unchanged; anything else is refused with a ValueError that says so.
Shapes: L sequence length, N batch, I input features, H hidden units, D = num_layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from course_lstm import validation
from course_lstm.cells import (
    GATE_COUNTS,
    NONLINEARITIES,
    LSTMGates,
    LSTMStep,
    _gru,
    _lstm_gates,
    _lstm_update,
    _rnn,
    check_sizes,
    register_weights,
    reset_uniform,
)

State = tuple[Tensor, ...]
"""A layer's recurrent state: ``(h,)`` for RNN and GRU, ``(h, c)`` for LSTM, each (N, H)."""

Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]
"""One layer's ``(weight_ih, weight_hh, bias_ih, bias_hh)``, the biases None without bias."""


def _not_in_the_course(setting: str, why: str) -> NoReturn:
    """Refuse a torch.nn option the course's layers do not implement, saying so."""
    raise ValueError(f"{setting} is not part of the course's layers (each {why}); use torch.nn's layer for it")


class _Recurrent(nn.Module):
    """The time loop, stacking, packing and input checks shared by RNN, LSTM and GRU.

    A subclass sets ``kind`` and ``state_names`` and implements ``step(x_t, state, weights)``.
    """

    kind: str
    state_names: tuple[str, ...]
    # registered by ``register_weights``; declared so that type checkers see a Tensor, not the
    # ``Tensor | Module`` of nn.Module.__getattr__ (layers 1.. are read by ``layer_weights``)
    weight_ih_l0: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size)
        validation.positive_int("num_layers", num_layers)
        validation.boolean("bias", bias)
        validation.boolean("batch_first", batch_first)
        dropout = validation.finite_float("dropout", dropout, 0, 1, expected="a probability in [0, 1]")
        if validation.boolean("bidirectional", bidirectional):
            _not_in_the_course(
                "bidirectional=True", "runs one direction; notebook 10 builds a bidirectional layer from two of them"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: it is applied between "
                "stacked layers only (as in torch.nn)",
                UserWarning,
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = dropout
        self.bidirectional = False
        factory_kwargs = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            register_weights(
                self,
                f"_l{layer}",
                GATE_COUNTS[self.kind],
                layer_input,
                hidden_size,
                bias,
                factory_kwargs,
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text

    def layer_weights(self, layer: int) -> Weights:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer, biases None without bias."""
        weight_ih: Tensor = getattr(self, f"weight_ih_l{layer}")
        weight_hh: Tensor = getattr(self, f"weight_hh_l{layer}")
        bias_ih: Tensor | None = getattr(self, f"bias_ih_l{layer}")
        bias_hh: Tensor | None = getattr(self, f"bias_hh_l{layer}")
        return weight_ih, weight_hh, bias_ih, bias_hh

    def step(self, x: Tensor, state: State, weights: Weights) -> State:
        """One time step: x (n, I), each state tensor (n, H) -> the new state."""
        raise NotImplementedError

    # -- input checks --------------------------------------------------------------------

    def _sequence(self, input: Tensor | PackedSequence) -> tuple[Tensor, list[int], bool]:
        """Validate the input; return it time-major as (L, N, I) or packed data, the batch
        size at each step, and whether the caller passed an unbatched (L, I) sequence."""
        if isinstance(input, PackedSequence):
            data = validation.check_tensor("input.data (PackedSequence)", input.data)
            validation.check_like_parameters("input.data", data, self.weight_ih_l0)
            validation.check_rank("input.data", data, (2,), "(total steps, input_size)")
            validation.check_size("input.data", data, -1, self.input_size, "input_size")
            return data, input.batch_sizes.tolist(), False
        validation.check_tensor("input", input)
        validation.check_like_parameters("input", input, self.weight_ih_l0)
        layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
        validation.check_rank("input", input, (2, 3), f"{layout}, or (seq_len, input_size) unbatched")
        validation.check_size("input", input, -1, self.input_size, "input_size")
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        length, batch = input.shape[0], input.shape[1]
        if length == 0:
            raise ValueError(f"input must have at least one time step, got shape {tuple(input.shape)}")
        return input, [batch] * length, not batched

    def _initial_state(self, hx: Tensor | Sequence[Tensor] | None, batch: int, unbatched: bool, like: Tensor) -> State:
        """Validate hx (or make zeros); return each state tensor as (D, N, H)."""
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is None:
            return tuple(like.new_zeros(shape) for _ in self.state_names)
        states: tuple[object, ...]  # each checked to be a tensor below
        if len(self.state_names) == 1:
            states = (hx,)
        elif isinstance(hx, (tuple, list)) and len(hx) == len(self.state_names):
            states = tuple(hx)
        else:
            raise TypeError(
                f"hx must be a pair ({', '.join(self.state_names)}) of tensors for "
                f"{type(self).__name__}, got {type(hx).__name__}"
            )
        expected = (self.num_layers, self.hidden_size) if unbatched else shape
        layout = "(num_layers, hidden_size) for an unbatched input" if unbatched else "(num_layers, batch, hidden_size)"
        checked: list[Tensor] = []
        for name, value in zip(self.state_names, states, strict=True):
            state = validation.check_tensor(name, value)
            validation.check_like_parameters(name, state, self.weight_ih_l0)
            validation.check_shape(name, state, expected, layout)
            checked.append(state.unsqueeze(1) if unbatched else state)
        return tuple(checked)

    # -- the time loop -------------------------------------------------------------------

    def _run_layer(
        self, inputs: Tensor, batch_sizes: list[int], packed: bool, state: State, layer: int
    ) -> tuple[Tensor, State]:
        """Unroll one layer over time.

        Padded input (L, N, I): every step sees the whole batch. Packed data (sum of lengths, I):
        step t sees the first ``batch_sizes[t]`` sequences (sorted longest first), so a sequence
        that has ended keeps the state of its last real step: that is its final state.
        """
        weights = self.layer_weights(layer)
        outputs, finished = [], []
        offset = 0
        for t, n in enumerate(batch_sizes):
            if n < state[0].shape[0]:
                finished.append(tuple(s[n:] for s in state))
                state = tuple(s[:n] for s in state)
            x_t = inputs[offset : offset + n] if packed else inputs[t]
            offset += n
            state = self.step(x_t, state, weights)
            outputs.append(state[0])
        final = tuple(torch.cat([s, *reversed(done)]) for s, *done in zip(state, *finished, strict=True))
        return (torch.cat(outputs) if packed else torch.stack(outputs)), final

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | Sequence[Tensor] | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        """input: (L, N, I), (N, L, I) with batch_first, (L, I) unbatched, or a PackedSequence.
        hx: (D, N, H) per state, (D, H) unbatched, in the batch's original order; zeros if None.
        Returns output (L, N, H) (layout like the input) and the final state(s) (D, N, H)."""
        sequence, batch_sizes, unbatched = self._sequence(input)
        packed = isinstance(input, PackedSequence)
        state = self._initial_state(hx, batch_sizes[0], unbatched, sequence)
        if isinstance(input, PackedSequence) and input.sorted_indices is not None:
            state = tuple(s.index_select(1, input.sorted_indices) for s in state)

        finals = []
        layer_output = sequence
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                layer_output = F.dropout(layer_output, self.dropout, training=True)
            layer_state = tuple(s[layer] for s in state)
            layer_output, final = self._run_layer(layer_output, batch_sizes, packed, layer_state, layer)
            finals.append(final)
        final_state = tuple(torch.stack(per_layer) for per_layer in zip(*finals, strict=True))

        output: Tensor | PackedSequence
        if isinstance(input, PackedSequence):
            if input.unsorted_indices is not None:
                final_state = tuple(s.index_select(1, input.unsorted_indices) for s in final_state)
            output = PackedSequence(layer_output, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        elif unbatched:
            output = layer_output.squeeze(1)
            final_state = tuple(s.squeeze(1) for s in final_state)
        else:
            output = layer_output.transpose(0, 1) if self.batch_first else layer_output
        return output, (final_state[0] if len(final_state) == 1 else final_state)


class RNN(_Recurrent):
    r"""A stack of Elman RNN layers, like nn.RNN: :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    Args:
        input_size: I, the features of each input step.
        hidden_size: H, the features of the state.
        num_layers: layers stacked, each reading the one below's outputs (default 1).
        nonlinearity: "tanh" (default) or "relu", exactly as torch.nn spells them.
        bias: whether each layer has the biases b_ih and b_hh (default True).
        batch_first: inputs and outputs (N, L, *) rather than (L, N, *); states are not
            affected (default False).
        dropout: dropout on every layer's outputs except the last's, in training (default 0).
        bidirectional, device, dtype: as in torch.nn; only the defaults are part of the
            course's layers (bidirectional=True is refused by name).

    Inputs: input, h0
        input: (L, N, I), (N, L, I) with batch_first, (L, I) unbatched, or a PackedSequence.
        h0: (num_layers, N, H), or (num_layers, H) unbatched; zeros when omitted.

    Outputs: output, h_n
        output: (L, N, H) (or (N, L, H), (L, H), or a PackedSequence like the input), the last
            layer's h_t at every step.
        h_n: (num_layers, N, H) (or (num_layers, H)), each layer's state after its last step
            (each sequence's own last step for a PackedSequence).
    """

    kind = "rnn"
    state_names = ("h0",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        validation.one_of("nonlinearity", nonlinearity, NONLINEARITIES)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra

    def step(self, x: Tensor, state: State, weights: Weights) -> State:
        return (_rnn(x, state[0], *weights, nonlinearity=self.nonlinearity),)


class LSTM(_Recurrent):
    """A stack of LSTM layers, like nn.LSTM; see ``cells.lstm_step`` for the equations.

    Args:
        input_size: I, the features of each input step.
        hidden_size: H, the features of the state.
        num_layers: layers stacked, each reading the one below's outputs (default 1).
        bias: whether each layer has the biases b_ih and b_hh (default True).
        batch_first: inputs and outputs (N, L, *) rather than (L, N, *); states are not
            affected (default False).
        dropout: dropout on every layer's outputs except the last's, in training (default 0).
        bidirectional, proj_size, device, dtype: as in torch.nn; only the defaults are part of the
            course's layers (bidirectional=True or proj_size > 0 is refused by name).

    Inputs: input, (h0, c0)
        input: (L, N, I), (N, L, I) with batch_first, (L, I) unbatched, or a PackedSequence.
        (h0, c0): each (num_layers, N, H), or (num_layers, H) unbatched; zeros when omitted.

    Outputs: output, (h_n, c_n)
        output: (L, N, H) (or (N, L, H), (L, H), or a PackedSequence like the input), the last
            layer's h_t at every step.
        (h_n, c_n): (num_layers, N, H) (or (num_layers, H)), each layer's h and c after its last step
            (each sequence's own last step for a PackedSequence).
    """

    kind = "lstm"
    state_names = ("h0", "c0")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if validation.non_negative_int("proj_size", proj_size):
            _not_in_the_course(f"proj_size={proj_size}", "LSTM layer outputs its whole h")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype)
        self.proj_size = 0

    def gates(self, x: Tensor, h: Tensor, weights: Weights) -> LSTMGates:
        """The gates one step uses, each (N, H), from x (N, I) and h (N, H): the one hook that a
        variant (``models.AblatedLSTM``) overrides, and that ``step`` and
        ``diagnostics.record_gates`` both go through."""
        return _lstm_gates(x, h, *weights)

    def step_with_gates(self, x: Tensor, state: State, weights: Weights) -> LSTMStep:
        """One step, ``(h', c', gates)``: the cell's update from ``self.gates``."""
        h, c = state
        return _lstm_update(c, self.gates(x, h, weights))

    def step(self, x: Tensor, state: State, weights: Weights) -> State:
        h_next, c_next, _ = self.step_with_gates(x, state, weights)
        return h_next, c_next


class GRU(_Recurrent):
    """A stack of GRU layers, like nn.GRU; see ``cells.gru_step`` for the equations.

    Args:
        input_size: I, the features of each input step.
        hidden_size: H, the features of the state.
        num_layers: layers stacked, each reading the one below's outputs (default 1).
        bias: whether each layer has the biases b_ih and b_hh (default True).
        batch_first: inputs and outputs (N, L, *) rather than (L, N, *); states are not
            affected (default False).
        dropout: dropout on every layer's outputs except the last's, in training (default 0).
        bidirectional, device, dtype: as in torch.nn; only the defaults are part of the
            course's layers (bidirectional=True is refused by name).

    Inputs: input, h0
        input: (L, N, I), (N, L, I) with batch_first, (L, I) unbatched, or a PackedSequence.
        h0: (num_layers, N, H), or (num_layers, H) unbatched; zeros when omitted.

    Outputs: output, h_n
        output: (L, N, H) (or (N, L, H), (L, H), or a PackedSequence like the input), the last
            layer's h_t at every step.
        h_n: (num_layers, N, H) (or (num_layers, H)), each layer's state after its last step
            (each sequence's own last step for a PackedSequence).
    """

    kind = "gru"
    state_names = ("h0",)

    def step(self, x: Tensor, state: State, weights: Weights) -> State:
        return (_gru(x, state[0], *weights),)
