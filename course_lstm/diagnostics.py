"""Diagnostics that make the vanishing gradient visible: gradient norms through time, Jacobian
products and their singular values, and the gate activations an LSTM actually uses.

Shapes: N batch, T steps, I inputs, H hidden units, S state size (H; 2H for the LSTM, whose state
s_t = (h_t, c_t) is flattened h first). Step t reads x_t; s_t is the state after it (h_t is
``output[:, t]``), s_{-1} the initial state. A torch.nn core is copied into the readable twin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_lstm import layers, validation
from course_lstm.models import SequenceModel
from course_lstm.tasks import Batch, Task

Readable = layers.RNN | layers.LSTM | layers.GRU

_TWINS = {
    "RNN_TANH": (layers.RNN, {"nonlinearity": "tanh"}),
    "RNN_RELU": (layers.RNN, {"nonlinearity": "relu"}),
    "LSTM": (layers.LSTM, {}),
    "GRU": (layers.GRU, {}),
}
"""torch.nn's ``RNNBase.mode`` -> the course's layer with the same parameters, and its options."""


@dataclass(frozen=True)
class GradientFlow:
    """How much gradient reaches each time step: the output of ``gradient_through_time``.

    h: (T,) the mean over the batch of ||dL/dh_t|| (2-norm over the H hidden units).
    c: (T,) the same for dL/dc_t for an LSTM, None for RNN and GRU.
    loss: the task loss of the batch.
    Both are total derivatives through every path. dL/dh_t holds c_t fixed (h_t feeds only the
    readout and step t+1); dL/dc_t includes the path through h_t = o_t tanh(c_t), so it is the
    delta_c of the usual LSTM backpropagation equations.
    """

    h: Tensor
    c: Tensor | None
    loss: float


class GateRecord(NamedTuple):
    """What an LSTM layer computed on a batch, each (N, T, H); index t is the step reading x_t."""

    i: Tensor  # input gate
    f: Tensor  # forget gate
    g: Tensor  # candidate cell value
    o: Tensor  # output gate
    c: Tensor  # cell state after step t
    h: Tensor  # hidden state after step t


def _readable(core: nn.Module) -> Readable:
    """``core`` itself if it is the course's layer, else its readable twin with a copy of its
    parameters (names and shapes are torch.nn's, so ``load_state_dict`` carries them over)."""
    if isinstance(core, SequenceModel):
        raise TypeError("pass the model's recurrent core, model.core, not the whole SequenceModel")
    if isinstance(core, (layers.RNN, layers.LSTM, layers.GRU)):
        return core
    if not isinstance(core, nn.RNNBase):
        raise TypeError(
            f"expected a recurrent core (course_lstm RNN/LSTM/GRU or torch.nn RNN/LSTM/GRU), got {type(core).__name__}"
        )
    if core.bidirectional or core.proj_size:
        raise ValueError(
            "diagnostics follow one direction of time without projections; got "
            f"bidirectional={core.bidirectional}, proj_size={core.proj_size}"
        )
    twin_cls, options = _TWINS[core.mode]
    weight = core.weight_ih_l0
    twin = twin_cls(
        core.input_size,
        core.hidden_size,
        num_layers=core.num_layers,
        bias=core.bias,
        device=weight.device,
        dtype=weight.dtype,
        **options,
    )
    twin.load_state_dict(core.state_dict())
    return twin


def _single_layer(core: nn.Module) -> Readable:
    """The readable layer to unroll for ``core``; ValueError unless it has exactly one layer."""
    if getattr(core, "num_layers", 1) != 1:
        raise ValueError(
            f"gradient and Jacobian diagnostics support num_layers=1, got num_layers="
            f"{core.num_layers}: with stacked layers 'the state at step t' is one state per "
            "layer; build the model with num_layers=1"
        )
    return _readable(core)


def _initial_state(
    layer: Readable, state0: Sequence[Tensor] | None, shape: tuple[int, ...], like: Tensor
) -> tuple[Tensor, ...]:
    """``state0`` checked against ``shape`` (one tensor per state name), or zeros."""
    if state0 is None:
        return tuple(like.new_zeros(shape) for _ in layer.state_names)
    names = ", ".join(layer.state_names)
    if not isinstance(state0, (tuple, list)) or len(state0) != len(layer.state_names):
        raise TypeError(f"state0 must be a tuple ({names}) for {type(layer).__name__}, got {type(state0).__name__}")
    layout = "(batch, hidden_size)" if len(shape) == 2 else "(hidden_size,)"
    for name, tensor in zip(layer.state_names, state0, strict=True):
        validation.check_tensor(name, tensor)
        validation.check_like_parameters(name, tensor, like)
        validation.check_shape(name, tensor, shape, layout)
    return tuple(state0)


def _check_input(x: Tensor, layer: Readable, layout: str, rank: int) -> None:
    validation.check_tensor("x", x)
    validation.check_like_parameters("x", x, layer.weight_ih_l0)
    validation.check_rank("x", x, (rank,), layout)
    validation.check_size("x", x, -1, layer.input_size, "input_size")
    if x.shape[-2] == 0:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")


def gradient_through_time(model: SequenceModel, task: Task, batch: Batch) -> GradientFlow:
    """Norms of dL/dh_t (and dL/dc_t for an LSTM) for every time step t of ``batch``.

    The core is unrolled by hand with its readable layer's ``step`` (a torch.nn core is copied
    into its twin; an AblatedLSTM uses its own step), the head is applied as the model does (to
    h_{T-1} for readout "last", to every h_t for "every_step"), and the task loss is
    differentiated with respect to the state tensors only: the model's ``.grad`` stay untouched.
    batch.x (N, T, I) is cast to the model's dtype and device. Returns ``GradientFlow`` with h and
    c of shape (T,), on the CPU for plotting; index t pairs with ``distance_to_loss(T)[t]``.
    """
    if batch.lengths is not None:
        raise ValueError(
            "gradient_through_time needs a fixed-length batch (batch.lengths is None); this one "
            "has variable lengths, so 'step t' means a different distance to the loss in each "
            "sequence. Make the task without min_length."
        )
    layer = _single_layer(model.core)
    weights = layer.layer_weights(0)
    x = batch.x.to(weights[0])
    _check_input(x, layer, "(batch, seq_len, input_size)", 3)
    with torch.enable_grad():
        # A leaf initial state keeps every state in the graph even if the parameters are frozen.
        state = tuple(s.requires_grad_() for s in _initial_state(layer, None, (x.shape[0], layer.hidden_size), x))
        states = []
        for t in range(x.shape[1]):
            state = layer.step(x[:, t], state, weights)
            states.append(state)
        hidden = torch.stack([s[0] for s in states], dim=1)  # (N, T, H)
        prediction = model.head(hidden[:, -1] if model.readout == "last" else hidden)
        loss = task.loss_fn(prediction, batch)
        gradients = torch.autograd.grad(loss, [tensor for s in states for tensor in s])
    norms = torch.stack([g.norm(dim=-1).mean() for g in gradients])
    norms = norms.view(len(states), len(layer.state_names)).detach().cpu()  # (T, 1 or 2)
    return GradientFlow(h=norms[:, 0], c=norms[:, 1] if layer.kind == "lstm" else None, loss=loss.item())


def distance_to_loss(length: int) -> Tensor:
    """(T,) int64: T-1-t, the number of steps from step t to the last step, where readout "last"
    reads the loss; plot gradient norms against it. For "every_step" it is the distance to the
    last of the T losses."""
    return torch.arange(length - 1, -1, -1)


def decay_rate(norms: Tensor) -> float:
    """The factor r per step of the least-squares fit log norms[t] = a + (T-1-t) log r.

    norms: (T,) as in ``GradientFlow``. r < 1: the gradient vanishes as r^distance; r > 1: it
    explodes. Entries that are zero (underflow) or not finite are left out of the fit.
    """
    distance = distance_to_loss(norms.shape[0]).to(torch.float64)
    log_norm = norms.detach().cpu().to(torch.float64).log()
    keep = torch.isfinite(log_norm)
    if keep.sum() < 2:
        raise ValueError("decay_rate needs at least two positive, finite norms to fit a line")
    distance, log_norm = distance[keep], log_norm[keep]
    centred = distance - distance.mean()
    slope = (centred * (log_norm - log_norm.mean())).sum() / centred.pow(2).sum()
    return math.exp(slope.item())


def step_jacobians(core: nn.Module, x: Tensor, state0: Sequence[Tensor] | None = None) -> Tensor:
    """Exact Jacobians of each step's state map, for one sequence.

    x: (T, I), in the core's dtype and device. state0: ``(h0,)`` or ``(h0, c0)``, each (H,);
    zeros if None. Returns (T, S, S): entry t is J_t = d s_t / d s_{t-1}, the Jacobian of
    step t (which reads x_t) at the state it was given; J_0 is taken at s_{-1} = state0. For the
    LSTM, s = (h, c) flattened h first, so J_t[:H, H:] is dh_t / dc_{t-1} and so on.
    """
    layer = _single_layer(core)
    weights = layer.layer_weights(0)
    _check_input(x, layer, "(seq_len, input_size), one sequence", 2)
    parts, hidden = len(layer.state_names), layer.hidden_size
    state = torch.cat(_initial_state(layer, state0, (hidden,), weights[0]))

    def step(s: Tensor, x_t: Tensor) -> Tensor:
        pieces = tuple(s.view(parts, 1, hidden))  # each (1, H): a batch of one
        return torch.cat(layer.step(x_t.unsqueeze(0), pieces, weights), dim=-1).squeeze(0)

    jacobians = []
    for x_t in x:
        jacobians.append(torch.autograd.functional.jacobian(lambda s, x_t=x_t: step(s, x_t), state, vectorize=True))
        with torch.no_grad():
            state = step(state, x_t)
    return torch.stack(jacobians).detach()


def jacobian_products(jacobians: Tensor) -> Tensor:
    """d s_{T-1} / d s_t for every t, from the step Jacobians of ``step_jacobians``.

    jacobians: (T, S, S), entry t = J_t = d s_t / d s_{t-1}. Returns (T, S, S): entry t is
    J_{T-1} J_{T-2} ... J_{t+1}, how the last state depends on the state after step t, a
    product of T-1-t factors (``distance_to_loss(T)[t]``); entry T-1 is the identity. J_0 is
    not used: it maps the initial state, which no entry covers.
    """
    validation.check_tensor("jacobians", jacobians)
    if jacobians.dim() != 3 or jacobians.shape[1] != jacobians.shape[2]:
        raise ValueError(
            "jacobians must be (T, S, S), one square Jacobian per step, got shape "
            f"{validation.shape_str(jacobians.shape)}"
        )
    products = torch.empty_like(jacobians)
    products[-1] = torch.eye(jacobians.shape[1], dtype=jacobians.dtype, device=jacobians.device)
    for t in range(jacobians.shape[0] - 2, -1, -1):
        products[t] = products[t + 1] @ jacobians[t + 1]
    return products


def singular_values(products: Tensor) -> Tensor:
    """(T, S, S) -> (T, S): the singular values of each matrix, largest first.

    The largest is the most any gradient can grow on that span of steps, the smallest the least;
    how many stay near 1 says how many directions of the state are remembered.
    """
    return torch.linalg.svdvals(products)


def hidden_jacobian_norms(core: nn.Module, x: Tensor, state0: Sequence[Tensor] | None = None) -> Tensor:
    """(T,): the spectral norm of d h_{T-1} / d s_t for each t; arguments as ``step_jacobians``.

    d h_{T-1} / d s_t is the first H rows of ``jacobian_products(...)[t]`` (H, S). The readout
    sees only h_{T-1}, so a gradient g arriving there reaches the state at step t as
    (d h_{T-1} / d s_t)^T g, and this norm is the most it can be amplified on the way. For the
    LSTM the columns span both h_t and c_t: leaving out c_t (dh_{T-1} / dh_t alone) would hide
    the cell path, the constant error carousel, which is what keeps the gradient alive.
    """
    products = jacobian_products(step_jacobians(core, x, state0))
    return torch.linalg.matrix_norm(products[:, : core.hidden_size, :], ord=2)


def record_gates(core: nn.Module, x: Tensor, state0: Sequence[Tensor] | None = None) -> GateRecord:
    """The gate activations and states of layer 0 of an LSTM core on a batch, without gradients.

    x: (N, T, I) batch-first whatever the core's ``batch_first``, in the core's dtype and device.
    state0: ``(h0, c0)`` each (N, H) for layer 0, zeros if None. Returns ``GateRecord`` with i, f,
    g, o, c, h each (N, T, H). For an AblatedLSTM the removed gate is recorded as the ones the
    step uses. Gates, h and c come from one ``step_with_gates`` per step, the hook that the
    layer's own ``step`` goes through (a ``course_lstm.fast`` core's fused step computes the same
    values in another order).
    """
    layer = _readable(core)
    if not isinstance(layer, layers.LSTM):  # kind "lstm": layers.LSTM and its subclasses
        raise ValueError(
            f"record_gates needs an LSTM core (it records the gates i, f, g, o), got "
            f"{type(core).__name__} ({layer.kind}), which has no gates to record"
        )
    weights = layer.layer_weights(0)
    _check_input(x, layer, "(batch, seq_len, input_size), batch-first", 3)
    state = _initial_state(layer, state0, (x.shape[0], layer.hidden_size), weights[0])
    steps = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            h, c, gates = layer.step_with_gates(x[:, t], state, weights)
            state = (h, c)
            steps.append((*gates, c, h))
    return GateRecord(*(torch.stack(values, dim=1) for values in zip(*steps, strict=True)))
