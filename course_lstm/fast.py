"""A fast LSTM with nn.LSTM's parameters, built in steps that are each one change and each measured.

``FusedLSTM`` -> ``HoistedLSTM`` -> ``CompiledLSTM`` (cell update compiled) | ``CompiledLoopLSTM``
(whole loop compiled) | ``ManualBackwardLSTM`` (backward by hand) -> ``CompiledManualLSTM``;
``GraphedLSTM`` (CUDA only) replays ``CompiledLSTM`` as CUDA graphs. See ``bench``.
Shapes: L sequence length, N batch, I input features, H hidden units.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from course_lstm import layers, validation
from course_lstm.layers import State, Weights

COMPILER_HELP = (
    "on a CPU, torch.compile writes C++ and needs a C++ compiler: gcc or clang on Linux, the Xcode "
    "command-line tools on macOS (xcode-select --install), Visual Studio's C++ tools on Windows"
)


def cell_update(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    r"""The element-wise half of an LSTM step, given all four gates' pre-activations at once.

    .. math::
        c' = \sigma(a_f) \odot c + \sigma(a_i) \odot \tanh(a_g), \qquad
        h' = \sigma(a_o) \odot \tanh(c')

    gates: (N, 4H), the blocks a_i, a_f, a_g, a_o side by side (torch.nn's order), each
    W_i* x + b_i* + W_h* h + b_h*; c: (N, H). Returns (h', c'), each (N, H).
    """
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=1)
    c_next = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next


class FusedLSTM(layers.LSTM):
    """Step 1: all four gates from one matmul with x and one with h per step, instead of eight.

    ``weight_ih`` (4H, I) and ``weight_hh`` (4H, H) already stack the gates' weights, so
    ``x @ weight_ih.T`` computes the four gates' input terms together. Same parameters, inputs
    and outputs as ``course_lstm.LSTM`` and ``nn.LSTM``.
    """

    def step(self, x: Tensor, state: State, weights: Weights) -> State:
        h, c = state
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (n, 4H)
        return self.update(gates, c)

    def update(self, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """The element-wise cell update: gates (n, 4H), c (n, H) -> (h', c'); see ``cell_update``."""
        return cell_update(gates, c)


class HoistedLSTM(FusedLSTM):
    """Step 2: the input projection of every time step in one big matmul, before the loop.

    ``W_ih x_t + b_ih + b_hh`` does not depend on h, so it is computed for all L steps at once,
    (L N, I) @ (I, 4H); the loop is left with one (n, H) @ (H, 4H) matmul and the cell update.
    """

    def project(self, inputs: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        """``layer``'s input projection of every step with both biases folded in, and its W_hh:
        inputs (..., I) -> ((..., 4H), weight_hh (4H, H))."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        bias = None if bias_ih is None or bias_hh is None else bias_ih + bias_hh  # both or neither
        return F.linear(inputs, weight_ih, bias), weight_hh

    def _run_layer(
        self, inputs: Tensor, batch_sizes: list[int], packed: bool, state: State, layer: int
    ) -> tuple[Tensor, State]:
        """Unroll one layer: inputs (L, N, I), or packed data (sum of lengths, I) whose step t
        holds the first ``batch_sizes[t]`` sequences, as in ``course_lstm.LSTM``."""
        projected, weight_hh = self.project(inputs, layer)  # (L, N, 4H) or (sum of lengths, 4H)
        # unbind/split rather than projected[t]: the backward of each indexing writes its step's
        # gradient into a fresh zero tensor of the full (L, N, 4H) size, L of them per backward.
        steps = projected.split(batch_sizes) if packed else projected.unbind(0)
        weight_hh_t = weight_hh.t()
        h, c = state
        outputs, finished = [], []
        for projected_t, n in zip(steps, batch_sizes, strict=True):
            if n < h.shape[0]:  # packed: the last sequences ended, their state is final
                finished.append((h[n:], c[n:]))
                h, c = h[:n], c[:n]
            h, c = self.update(torch.addmm(projected_t, h, weight_hh_t), c)
            outputs.append(h)
        final = (
            torch.cat([h, *(done[0] for done in reversed(finished))]),
            torch.cat([c, *(done[1] for done in reversed(finished))]),
        )
        return (torch.cat(outputs) if packed else torch.stack(outputs)), final


class CompiledFunction:
    """``function`` compiled with torch.compile at its first call, run uncompiled where that fails.

    Compilation happens at the first call (and again for new shapes where ``dynamic`` is False,
    new dtypes or devices). Where it is unavailable (no C++ compiler on a CPU, no Triton on a
    GPU), it warns once, naming ``user``, and runs ``function`` uncompiled: same results, no
    speed-up. ``unavailable`` holds the reason.
    """

    def __init__(
        self,
        function: Callable,
        user: str,
        compiler: Callable[..., Callable] | None = None,
        dynamic: bool = True,
    ) -> None:
        self.function, self.user, self.dynamic = function, user, dynamic
        self._compiler = compiler  # None: torch.compile (imported at the first call: it is slow)
        self._compiled: Callable | None = None
        self.unavailable: str | None = None

    def __call__(self, *args: Tensor):
        if self.unavailable is None and self._compiled is None:
            try:
                compiler = self._compiler or torch.compile
                self._compiled = compiler(self.function, fullgraph=True, dynamic=self.dynamic)
            except RuntimeError as error:  # torch.compile refuses this platform or Python
                self._give_up(error)
        if self.unavailable is None and self._compiled is not None:  # the latter follows from the former
            from torch._dynamo.exc import BackendCompilerFailed

            try:
                return self._compiled(*args)
            except BackendCompilerFailed as error:  # e.g. no C++ compiler (CPU), no Triton (GPU)
                self._give_up(error)
        return self.function(*args)

    def _give_up(self, error: Exception) -> None:
        lines = str(error).strip().splitlines()
        self.unavailable = f"{type(error).__name__}: {lines[0] if lines else ''}"
        warnings.warn(
            f"torch.compile is unavailable here ({self.unavailable}); {self.user} runs "
            f"{self.function.__name__} uncompiled: same results, no speed-up. To compile: "
            f"{COMPILER_HELP}.",
            UserWarning,
            stacklevel=3,
        )


class CompiledCellUpdate(CompiledFunction):
    """``cell_update`` compiled with torch.compile: a few fused kernels forward and backward
    instead of one per element-wise operation; gates (N, 4H), c (N, H) -> (h', c')."""

    def __init__(self, compiler: Callable[..., Callable] | None = None) -> None:
        super().__init__(cell_update, "CompiledLSTM", compiler)


class CompiledLSTM(HoistedLSTM):
    """Step 3: ``HoistedLSTM`` with its element-wise cell update compiled by torch.compile.

    One compiled function serves every instance and every batch size (``dynamic=True``); it is
    compiled again for each new dtype or device and for whether autograd is recording, up to
    torch._dynamo's ``recompile_limit`` (8) variants, past which torch runs it uncompiled and
    says so. Falls back to the uncompiled update, with a warning, where torch.compile cannot run.
    """

    compiled_update = CompiledCellUpdate()

    def update(self, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return self.compiled_update(gates, c)


class GraphedLSTM(CompiledLSTM):
    """Step 6, CUDA only: the whole forward loop, and its backward, replayed as CUDA graphs.

    At the first call with a given input shape (and h0/c0 shapes) it records every kernel the
    forward and the backward launch (``torch.cuda.make_graphed_callables``); later calls replay
    them in one launch each, with none of the per-step Python and launch overhead. Replay reads
    and writes fixed memory, so: the outputs are overwritten by the next call (clone what you
    keep); a new shape is recorded anew; PackedSequence is refused (its loop depends on the
    data). Same parameters as nn.LSTM; on a CPU, use ``CompiledLSTM``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._graphs: dict[tuple, Callable] = {}

    def _apply(self, fn, *args, **kwargs):
        # a graph replays the memory it was recorded with: record again after .to() or .double()
        self._graphs = {}
        return super()._apply(fn, *args, **kwargs)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | Sequence[Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """input (L, N, I) ((N, L, I) with batch_first) on a CUDA device; hx: (h0, c0), each
        (D, N, H), or None for zeros. Returns (output, (h_n, c_n)), shapes as nn.LSTM's."""
        if isinstance(input, PackedSequence):
            raise TypeError(
                "GraphedLSTM takes a padded tensor, got a PackedSequence: its loop changes with the "
                "lengths, which a CUDA graph cannot; use CompiledLSTM for packed sequences"
            )
        validation.check_tensor("input", input)
        states: tuple[Tensor, ...] = ()
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx must be a pair (h0, c0) of tensors for GraphedLSTM, got {type(hx).__name__}")
            states = tuple(hx)
        if input.device.type != "cuda":
            raise ValueError(
                f"GraphedLSTM replays CUDA graphs and needs its input on a CUDA device, got one on "
                f"{input.device}; on this device use CompiledLSTM (same parameters and results)"
            )
        return self._replay((input, *states))

    def _replay(self, args: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the graph recorded for these arguments' shapes, recording it first if needed."""
        for arg in args:
            validation.check_tensor("input and hx", arg)
        key = (
            tuple(tuple(a.shape) for a in args),
            tuple(a.requires_grad for a in args),
            args[0].dtype,
            args[0].device,
            self.training,
        )
        if key not in self._graphs:
            self._graphs[key] = self._record(args)
        return self._graphs[key](*args, *self.parameters())

    def _record(self, args: tuple[Tensor, ...]) -> Callable:
        count = len(args)

        def run(*tensors: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
            # The parameters come last in ``tensors`` so that the backward graph computes their
            # gradients; they are this module's own, which CompiledLSTM.forward reads directly.
            input, *states = tensors[:count]
            result = CompiledLSTM.forward(self, input, tuple(states) if states else None)
            # narrower than _Recurrent.forward's type says: a padded input gives a padded output,
            # and an LSTM's final state is the pair (h_n, c_n)
            return cast(tuple[Tensor, tuple[Tensor, Tensor]], result)

        # recorded with autograd on, so one graph serves training and torch.no_grad() alike
        with torch.enable_grad():
            return make_graphed_callables(run, (*args, *self.parameters()))


def make_graphed_callables(function: Callable, sample_args: tuple[Tensor, ...]) -> Callable:
    """``torch.cuda.make_graphed_callables`` for one function; a name the tests can replace."""
    return torch.cuda.make_graphed_callables(function, sample_args)


def hoisted_loop(projected: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The time loop of ``HoistedLSTM`` over padded input, as one function that torch.compile
    can take whole: projected (L, N, 4H), the input projections with both biases; h, c (N, H);
    weight_hh (4H, H). Returns output (L, N, H), h_L and c_L (N, H)."""
    weight_hh_t = weight_hh.t()
    outputs = []
    for projected_t in projected.unbind(0):
        h, c = cell_update(torch.addmm(projected_t, h, weight_hh_t), c)
        outputs.append(h)
    return torch.stack(outputs), h, c


class CompiledLoopLSTM(HoistedLSTM):
    """Step 4: ``HoistedLSTM`` with its whole time loop compiled, forward and backward.

    torch.compile unrolls the L steps into one graph: the per-step Python calls and their
    dispatch go, the element-wise work of each step is fused, the products stay library calls.
    It compiles anew for each new input shape (``dynamic=False``: the loop length is the graph's
    length), which takes seconds to minutes; packed input runs ``HoistedLSTM``'s loop.
    """

    compiled_loop = CompiledFunction(hoisted_loop, "CompiledLoopLSTM", dynamic=False)

    def _run_layer(
        self, inputs: Tensor, batch_sizes: list[int], packed: bool, state: State, layer: int
    ) -> tuple[Tensor, State]:
        if packed:
            return super()._run_layer(inputs, batch_sizes, packed, state, layer)
        projected, weight_hh = self.project(inputs, layer)
        output, h, c = self.compiled_loop(projected, *state, weight_hh)
        return output, (h, c)


def step_forward(a: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The element-wise part of one step, keeping what the backward pass needs.

    a: (N, 4H) pre-activations; c: (N, H). Returns the activations [i | f | g | o] (N, 4H)
    (sigmoid, sigmoid, tanh, sigmoid), h' and c' (N, H).
    """
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)
    c_next = f * c + i * g
    return torch.cat([i, f, g, o], dim=1), o * torch.tanh(c_next), c_next


def step_backward(activations: Tensor, c: Tensor, c_next: Tensor, dh: Tensor, dc: Tensor) -> tuple[Tensor, Tensor]:
    r"""The backward of ``step_forward``, by hand.

    activations (N, 4H) as ``step_forward`` returned them; c, c_next (N, H): the cell before and
    after the step; dh, dc (N, H): dL/dh' and dL/dc' (everything that reaches them). Returns
    dL/da (N, 4H) and dL/dc (N, H):

    .. math::
        ar c = dc + dh\, o (1 - 	anh^2 c'), \quad
        da = [ar c\, g\, i(1-i) \mid ar c\, c\, f(1-f) \mid ar c\, i (1-g^2) \mid dh 	anh(c')\, o(1-o)],
        \quad dL/dc = ar c f
    """
    i, f, g, o = activations.chunk(4, dim=1)
    tanh_c = torch.tanh(c_next)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    da = torch.cat([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], dim=1)
    return da, dc * f


class Recurrence(torch.autograd.Function):
    """The recurrent half of an LSTM layer with its backward written out: per step of the
    backward one product (dL/dh_{t-1} = dL/da_t W_hh), and dL/dW_hh for all steps as one
    (4H, L N) by (L N, H) product after the loop, where autograd runs L small ones.

    ``apply(projected, h0, c0, weight_hh, forward_step, backward_step)``: projected (L, N, 4H),
    h0, c0 (N, H), weight_hh (4H, H); the two step functions are ``step_forward`` and
    ``step_backward`` or compiled versions of them. Returns output (L, N, H), h_L, c_L (N, H).
    """

    @staticmethod
    def forward(ctx, projected, h0, c0, weight_hh, forward_step, backward_step):
        weight_hh_t = weight_hh.t()
        h, c = h0, c0
        hs, cs, activations = [h0], [c0], []
        for projected_t in projected.unbind(0):
            acts, h, c = forward_step(torch.addmm(projected_t, h, weight_hh_t), c)
            activations.append(acts)
            hs.append(h)
            cs.append(c)
        output = torch.stack(hs[1:])
        ctx.backward_step = backward_step
        ctx.save_for_backward(torch.stack(hs[:-1]), torch.stack(cs), torch.stack(activations), weight_hh)
        return output, h, c

    @staticmethod
    def backward(ctx, d_output, d_h, d_c):
        if torch.is_grad_enabled():  # autograd asked for a graph of this backward (create_graph=True)
            raise RuntimeError(
                "ManualBackwardLSTM's backward is written by hand and has no derivative of its own, "
                "so create_graph=True (a double backward) is refused; use HoistedLSTM, whose backward "
                "autograd derives"
            )
        h_before, cs, activations, weight_hh = ctx.saved_tensors  # (L, N, H), (L+1, N, H), (L, N, 4H)
        steps = activations.shape[0]
        # a gradient autograd leaves out (an output the loss does not use) arrives as None
        d_output = torch.zeros_like(h_before) if d_output is None else d_output
        dh = torch.zeros_like(cs[0]) if d_h is None else d_h
        dc = torch.zeros_like(cs[0]) if d_c is None else d_c
        d_pre = [None] * steps
        for t in range(steps - 1, -1, -1):
            da, dc = ctx.backward_step(activations[t], cs[t], cs[t + 1], dh + d_output[t], dc)
            d_pre[t] = da
            dh = da @ weight_hh  # (N, 4H) @ (4H, H)
        d_projected = torch.stack(d_pre)  # (L, N, 4H)
        flat = d_projected.flatten(0, 1)  # (L N, 4H)
        d_weight_hh = flat.t() @ h_before.flatten(0, 1)  # one product for all L steps
        return d_projected, dh, dc, d_weight_hh, None, None


class ManualBackwardLSTM(HoistedLSTM):
    """Step 5: ``HoistedLSTM`` with the backward of its loop written by hand (``Recurrence``):
    dL/dW_hh becomes one large product after the loop instead of L small ones, and autograd's
    per-step bookkeeping goes. Packed input runs ``HoistedLSTM``'s loop (autograd's backward);
    a backward with ``create_graph=True`` (for a double backward) is refused with a RuntimeError.
    """

    forward_step: Callable = staticmethod(step_forward)
    backward_step: Callable = staticmethod(step_backward)

    def _run_layer(
        self, inputs: Tensor, batch_sizes: list[int], packed: bool, state: State, layer: int
    ) -> tuple[Tensor, State]:
        if packed:
            return super()._run_layer(inputs, batch_sizes, packed, state, layer)
        projected, weight_hh = self.project(inputs, layer)  # (L, N, 4H)
        output, h, c = Recurrence.apply(projected, *state, weight_hh, self.forward_step, self.backward_step)
        return output, (h, c)


class CompiledManualLSTM(ManualBackwardLSTM):
    """Step 5b: ``ManualBackwardLSTM`` with its two element-wise step functions compiled, each
    fused into one kernel; they run without autograd, so there is no compiled backward to guard."""

    forward_step = CompiledFunction(step_forward, "CompiledManualLSTM")
    backward_step = CompiledFunction(step_backward, "CompiledManualLSTM")


VARIANTS: dict[str, type[layers.LSTM]] = {
    "fused": FusedLSTM,
    "hoisted": HoistedLSTM,
    "compiled": CompiledLSTM,
    "compiled_loop": CompiledLoopLSTM,
    "manual_backward": ManualBackwardLSTM,
    "compiled_manual": CompiledManualLSTM,
    "cuda_graph": GraphedLSTM,
}
"""The staircase, in order: each variant is one change to one before it (see its docstring)."""
