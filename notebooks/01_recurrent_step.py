# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · One recurrent step
#
# A recurrent network reads a sequence one step at a time and carries a *hidden state* from
# each step to the next. Here we write one step of the plainest such network, the vanilla
# (Elman) RNN, run it over whole sequences, show that it is exactly `torch.nn.RNN`, and follow
# the gradient back through time.
#
# **What you will learn**
# - how a batch of sequences is laid out as a tensor: time-first `(T, N, I)` or batch-first
#   `(N, T, I)`;
# - one RNN step, $h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$, with every shape;
# - unrolling the step over time, and torch.nn's parameter names (`weight_ih_l0`, ...);
# - backpropagation through time: why the gradient of $W_{hh}$ is a sum over time steps, and a
#   first look at how the gradient shrinks on its way back.
#
# **Prerequisites**: notebook 00; PyTorch tensors, matrix products, `loss.backward()`.
#
# **Time**: about 40 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import torch
from torch import nn

import course_lstm
from course_lstm import cells, diagrams
from course_lstm.checks import check
from course_lstm.diagnostics import decay_rate
from course_lstm.notebook import agree, setup

profile = setup(seed=0)



# %% [markdown]
# ## 1. Sequences as tensors
#
# A sequence is a list of vectors, one per time step; a batch is $N$ sequences of the same
# length $T$, each step holding $I$ features. Our running example is $N = 3$ sine waves, each
# with its own frequency $\omega$ and phase $\varphi$, sampled at $T = 5$ steps, with $I = 2$
# features per step: $\sin(\omega t + \varphi)$ and $\cos(\omega t + \varphi)$.
#
# The same numbers fit in two layouts:
# - **batch-first** `(N, T, I)`: `x[n]` is sequence $n$, whole. Data usually arrives like this.
# - **time-first** `(T, N, I)`: `xs[t]` is one time step of every sequence, an `(N, I)` matrix.
#   The recurrent loop consumes exactly that, one step after the other, and it is the layout
#   `torch.nn.RNN` expects unless you pass `batch_first=True`.

# %%
def sine_waves(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """n sine waves with random frequency and phase, sampled at 0, 1, ..., length - 1.

    Returns (N, T, 2) float64, batch-first; the features are sin and cos of omega * t + phi.
    """
    omega = 0.2 + 0.6 * torch.rand(n, 1, generator=generator, dtype=torch.float64)
    phi = 2 * math.pi * torch.rand(n, 1, generator=generator, dtype=torch.float64)
    phase = omega * torch.arange(length, dtype=torch.float64) + phi  # (N, T)
    return torch.stack([phase.sin(), phase.cos()], dim=-1)


generator = torch.Generator().manual_seed(0)
x = sine_waves(3, 5, generator)  # batch-first (N, T, I)
xs = x.transpose(0, 1)  # time-first (T, N, I): to_time_major from notebook 00
print("batch-first x: ", tuple(x.shape), "  x[0], all of sequence 0:   ", tuple(x[0].shape))
print("time-first  xs:", tuple(xs.shape), "  xs[0], the first step of all:", tuple(xs[0].shape))
print("xs[0] =\n", xs[0])
assert torch.equal(xs[2, 1], x[1, 2])  # step 2 of sequence 1, in either layout

# %% [markdown]
# Each row of `xs[0]` is one wave's first step. *Try it*: print `x[:, 0]`. Which tensor above
# is it, and what is `xs[:, 1]`?
#
# ## 2. One RNN step
#
# The network keeps a hidden state $h$, a vector of $H$ numbers that summarises what it has
# read so far. Reading step $t$ updates it. For a single sequence, in column vectors as in the
# torch.nn documentation:
#
# $$h_t = \tanh\big(W_{ih}\, x_t + b_{ih} + W_{hh}\, h_{t-1} + b_{hh}\big)$$
#
# | symbol | shape | what it is |
# | --- | --- | --- |
# | $x_t$ | $(I,)$ | the input at step $t = 1, \dots, T$ |
# | $h_{t-1}$ | $(H,)$ | the state before step $t$; $h_0$ is the initial state, usually zeros |
# | $W_{ih}$ | $(H, I)$ | input-to-hidden weights |
# | $W_{hh}$ | $(H, H)$ | hidden-to-hidden (recurrent) weights |
# | $b_{ih}$, $b_{hh}$ | $(H,)$ | biases |
# | $h_t$ | $(H,)$ | the new state; $\tanh$ puts every entry in $(-1, 1)$ |
#
# Every step uses the *same* weights: that is what makes the network recurrent, and what lets
# one set of weights read sequences of any length. One step, for the first step of wave 0,
# with $H = 4$:

# %%
I, H = 2, 4
W_ih = 0.5 * torch.randn(H, I, dtype=torch.float64)
W_hh = 0.5 * torch.randn(H, H, dtype=torch.float64)
b_ih = 0.1 * torch.randn(H, dtype=torch.float64)
b_hh = 0.1 * torch.randn(H, dtype=torch.float64)

x_1 = x[0, 0]  # (I,): step 1 of wave 0
h_0 = torch.zeros(H, dtype=torch.float64)  # (H,)
h_1 = torch.tanh(W_ih @ x_1 + b_ih + W_hh @ h_0 + b_hh)  # (H,)

print(f"W_ih @ x_1:     {tuple(W_ih.shape)} @ {tuple(x_1.shape)} -> {tuple((W_ih @ x_1).shape)}")
print(f"W_hh @ h_0:     {tuple(W_hh.shape)} @ {tuple(h_0.shape)} -> {tuple((W_hh @ h_0).shape)}")
print("h_1 =", h_1)
assert h_1.shape == (H,) and h_1.abs().max() < 1

# %% [markdown]
# *Try it*: set `H = 3` and re-run. Which of the printed shapes change, and which stay?
#
# ### A whole batch in one step
#
# A batch stacks the $N$ sequences' vectors as the *rows* of a matrix: $X_t$ = `xs[t-1]` is
# $(N, I)$ and $H_{t-1}$ is $(N, H)$. Transposing $W_{ih} x$ row by row gives $x^\top
# W_{ih}^\top$, so the batched step is
#
# $$H_t = \tanh\big(X_t W_{ih}^\top + H_{t-1} W_{hh}^\top + b\big), \qquad b = b_{ih} + b_{hh},$$
#
# with shapes $(N, I)(I, H) + (N, H)(H, H) + (H,) \to (N, H)$, the bias added to every row.
# This is the convention of `nn.Linear`: `F.linear(x, W, b)` is `x @ W.T + b`.
# The two biases are always added together, so only their sum matters: torch.nn keeps both
# (following NVIDIA's cuDNN library), and the exercise takes the sum $b$.
#
# **Exercise.** Write `rnn_step(x, h, W_ih, W_hh, b)`: x `(N, I)`, h `(N, H)`, W_ih `(H, I)`,
# W_hh `(H, H)`, b `(H,)`; return the new state, `(N, H)`.

# %% tags=["solution"]
def rnn_step(x: torch.Tensor, h: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
             b: torch.Tensor) -> torch.Tensor:
    """One vanilla RNN step for a batch: tanh(x W_ih^T + h W_hh^T + b).

    x: (N, I), h: (N, H), W_ih: (H, I), W_hh: (H, H), b: (H,) = b_ih + b_hh. Returns (N, H).
    """
    return torch.tanh(x @ W_ih.T + h @ W_hh.T + b)


# %%
check("rnn_step", rnn_step)

# %% [markdown]
# Row 0 of the batched step must be the single-sequence step above; the whole batch must equal
# the package's `cells.rnn_step` (which takes the two biases separately) and `nn.RNNCell` given
# the same weights.

# %%
h = torch.zeros(3, H, dtype=torch.float64)  # (N, H): h_0 for the 3 waves
h_1_batch = rnn_step(xs[0], h, W_ih, W_hh, b_ih + b_hh)  # (N, H)

torch_cell = nn.RNNCell(I, H, dtype=torch.float64)
torch_cell.load_state_dict({"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh})

agree("row 0 vs one sequence", h_1_batch[0], h_1)
agree("vs cells.rnn_step", h_1_batch, cells.rnn_step(xs[0], h, W_ih, W_hh, b_ih, b_hh))
agree("vs nn.RNNCell", h_1_batch, torch_cell(xs[0], h))

# %% [markdown]
# ## 3. Unrolling over time
#
# One step maps $h_{t-1}$ to $h_t$. A sequence of $T$ steps applies the same step $T$ times,
# starting from $h_0$:
#
# $$h_1 = f(x_1, h_0), \quad h_2 = f(x_2, h_1), \quad \dots, \quad h_T = f(x_T, h_{T-1}).$$
#
# Drawn as a chain of $T$ copies of the step that share one set of weights, this is the
# *unrolled* network (section 5 follows the red arrows back). A recurrent layer returns every
# state, stacked in time order: `output`, $(T, N, H)$, with `output[t-1]` $= h_t$.

# %%
diagrams.unrolled_rnn()
plt.show()

# %% [markdown]
# **Exercise.** Write `unroll_rnn(xs, h0, W_ih, W_hh, b)`: xs `(T, N, I)` time-first, h0
# `(N, H)`; return all $T$ states stacked, `(T, N, H)`. Use your `rnn_step`.

# %% tags=["solution"]
def unroll_rnn(xs: torch.Tensor, h0: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
               b: torch.Tensor) -> torch.Tensor:
    """Run rnn_step over the sequence: h_t = rnn_step(x_t, h_{t-1}), starting from h0.

    xs: (T, N, I), h0: (N, H), W_ih: (H, I), W_hh: (H, H), b: (H,). Returns h_1..h_T, (T, N, H).
    """
    h, outputs = h0, []
    for x_t in xs:  # x_t: (N, I)
        h = rnn_step(x_t, h, W_ih, W_hh, b)
        outputs.append(h)
    return torch.stack(outputs)


# %%
check("unroll_rnn", unroll_rnn)

# %% [markdown]
# ## 4. The same network in `course_lstm` and in `torch.nn`
#
# `course_lstm.RNN` is this loop, packaged as a layer with `torch.nn.RNN`'s parameters. Their
# names say which matrix is which; `_l0` means layer 0 (stacked layers come in notebook 05):

# %%
ours = course_lstm.RNN(input_size=I, hidden_size=H, dtype=torch.float64)
reference = nn.RNN(input_size=I, hidden_size=H, dtype=torch.float64)

for name, parameter in ours.named_parameters():
    print(f"{name:<13} {tuple(parameter.shape)}")
count = sum(parameter.numel() for parameter in ours.parameters())
print(f"parameters: {count} = H*I + H*H + 2*H = {H * I + H * H + 2 * H}")

assert [(n, p.shape) for n, p in ours.named_parameters()] == \
       [(n, p.shape) for n, p in reference.named_parameters()]
assert count == H * I + H * H + 2 * H

# %% [markdown]
# *Try it*: with `hidden_size=8`, what are the shapes of `weight_ih_l0` and `weight_hh_l0`,
# and the count? Predict, then change `H` in section 2 and re-run.
#
# Because names and shapes match, `load_state_dict` copies torch.nn's weights into our layer.
# Then three implementations read the same waves from $h_0 = 0$: your `unroll_rnn`,
# `course_lstm.RNN` and `nn.RNN`. Both layers return `(output, h_n)`, where `h_n` is the final
# state $h_T$, shaped `(1, N, H)`: one per layer.

# %%
ours.load_state_dict(reference.state_dict())
weights = reference.state_dict()
h0 = torch.zeros(1, 3, H, dtype=torch.float64)  # (layers, N, H)

mine = unroll_rnn(xs, h0[0], weights["weight_ih_l0"], weights["weight_hh_l0"],
                  weights["bias_ih_l0"] + weights["bias_hh_l0"])  # (T, N, H)
output_ours, h_n_ours = ours(xs, h0)
output_torch, h_n_torch = reference(xs, h0)

agree("output vs course_lstm.RNN", mine, output_ours)
agree("output vs nn.RNN", mine, output_torch)
agree("h_n vs course_lstm.RNN", mine[-1:], h_n_ours)
agree("h_n vs nn.RNN", mine[-1:], h_n_torch)
assert torch.equal(h_n_torch[0], output_torch[-1])  # h_n is the last output

# %% [markdown]
# With `batch_first=True` the layer takes and returns batch-first tensors; the numbers are the
# same. `h_n` keeps its `(layers, N, H)` layout either way, a frequent surprise.

# %%
reference_bf = nn.RNN(input_size=I, hidden_size=H, batch_first=True, dtype=torch.float64)
reference_bf.load_state_dict(reference.state_dict())
output_bf, h_n_bf = reference_bf(x, h0)  # x: (N, T, I)

print("batch_first=True: input", tuple(x.shape), "-> output", tuple(output_bf.shape),
      " h_n", tuple(h_n_bf.shape))
agree("batch-first output", output_bf.transpose(0, 1), output_torch)
assert h_n_bf.shape == h_n_torch.shape == (1, 3, H)

# %% [markdown]
# From here on, the course uses `course_lstm.RNN` (or `nn.RNN`) instead of the hand-written
# loop.
#
# ## 5. Backpropagation through time
#
# Training needs $\partial \mathcal{L} / \partial W_{hh}$, and $W_{hh}$ is used at every step: it reaches
# the loss along $T$ paths, one through each step. Name each step's pre-activation
# $a_t = W_{ih} x_t + b + W_{hh} h_{t-1}$, so $h_t = \tanh(a_t)$. The chain rule adds up the
# paths:
#
# $$\frac{\partial \mathcal{L}}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t\, h_{t-1}^\top,
# \qquad \delta_t = \frac{\partial \mathcal{L}}{\partial a_t} = \frac{\partial \mathcal{L}}{\partial h_t} \odot
# \big(1 - h_t^2\big).$$
#
# Each term is an outer product, $(H,) \times (1, H) \to (H, H)$: what step $t$ itself
# contributes. $\partial \mathcal{L} / \partial h_t$ is the *total* derivative: it collects every way
# $h_t$ affects the loss, through $h_{t+1}, \dots, h_T$. Autograd computes it by walking the
# unrolled chain backwards, one step at a time, $\partial \mathcal{L} / \partial h_{t-1} = W_{hh}^\top
# \delta_t$ (here the loss reads only $h_T$): hence the name *backpropagation through time*
# (BPTT). For a batch, the rows are summed too: $\sum_t \Delta_t^\top H_{t-1}$, with
# $\Delta_t$ and $H_{t-1}$ both $(N, H)$.
#
# To check the formula, an RNN of the profile's size reads a batch of $T$ = `profile.probe_lag`
# steps of sine waves, and a linear readout of $h_T$ predicts each wave's next value. We run
# the loop by hand with the layer's own parameters, and keep each $a_t$'s and $h_t$'s gradient
# (`retain_grad`).

# %%
T, N, H = profile.probe_lag, profile.batch_size, profile.hidden_size
rnn = nn.RNN(input_size=2, hidden_size=H, dtype=torch.float64)  # torch's default initialisation
readout = nn.Linear(H, 1, dtype=torch.float64)
waves = sine_waves(N, T + 1, generator)
inputs, target = waves[:, :-1].transpose(0, 1), waves[:, -1, 0]  # (T, N, 2) and (N,)

W_ih, W_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
b = rnn.bias_ih_l0 + rnn.bias_hh_l0
h = torch.zeros(N, H, dtype=torch.float64)
states, pre_activations = [h], []  # states[t] is h_t, (N, H); pre_activations[t-1] is a_t
for x_t in inputs:
    a = x_t @ W_ih.T + b + h @ W_hh.T
    h = torch.tanh(a)
    a.retain_grad()
    h.retain_grad()
    pre_activations.append(a)
    states.append(h)

loss = (readout(h).squeeze(-1) - target).pow(2).mean()  # uses h_T only
loss.backward()
print(f"T = {T} steps, N = {N} waves, H = {H} hidden units; loss {loss.item():.3f}")

# %% [markdown]
# Now the sum of the $T$ outer products, next to what autograd put in `W_hh.grad`, and next to
# the gradient through `nn.RNN`'s own forward pass:

# %%
terms = torch.stack([a.grad.T @ h_before  # (H, N) @ (N, H): one (H, H) term per step
                     for a, h_before in zip(pre_activations, states[:-1])])  # (T, H, H)
agree("sum of terms vs W_hh.grad", terms.sum(dim=0), W_hh.grad)

output, _ = rnn(inputs)
(grad_torch,) = torch.autograd.grad((readout(output[-1]).squeeze(-1) - target).pow(2).mean(), W_hh)
agree("W_hh.grad vs nn.RNN", W_hh.grad, grad_torch)

for t in range(1, T + 1):  # the backward recursion, in the batch's row form
    delta, h, h_before = pre_activations[t - 1].grad, states[t], states[t - 1]
    assert torch.allclose(delta, h.grad * (1 - h**2)), "delta_t = dL/dh_t * (1 - h_t^2)"
    if t > 1:  # h_0 is a constant here: it has no gradient
        assert torch.allclose(h_before.grad, delta @ W_hh), "dL/dh_{t-1} = W_hh^T delta_t"

# %% [markdown]
# The weights are shared, so their gradient is the sum of what each step asks for. But the
# steps do not ask equally loudly. Here is the size of $\partial \mathcal{L} / \partial h_t$ (averaged
# over the batch) against the number of steps between $h_t$ and the loss, which reads $h_T$:

# %%
grad_norms = torch.stack([h.grad.norm(dim=-1).mean() for h in states[1:]])  # (T,), t = 1..T
distance = torch.arange(T - 1, -1, -1)  # T - t: steps from h_t to h_T
rate = decay_rate(grad_norms)  # least-squares fit: the norm is multiplied by `rate` per step

plt.semilogy(distance, grad_norms, "o-", label="RNN at initialisation")
plt.semilogy(distance, grad_norms[-1] * rate ** distance.double(), "--",
             label=f"×{rate:.2f} per step (fitted rate)")
plt.gca().xaxis.set_major_locator(MaxNLocator(integer=True))
plt.xlabel("distance to the loss, $T - t$ (steps)")
plt.ylabel(r"$\|\partial \mathcal{L} / \partial h_t\|$ (mean over the batch)")
plt.title("The gradient reaching $h_t$ shrinks geometrically with distance to the loss")
plt.legend()
plt.show()

# %%
far = terms[distance >= 10].sum(dim=0).norm() / W_hh.grad.norm()
print(f"‖dL/dh_t‖ shrinks by ×{rate:.2f} per step; "
      f"far end / near end: {(grad_norms[0] / grad_norms[-1]).item():.1e}")
print(f"the terms of steps 10 or more away from the loss are {100 * far.item():.2f}% of ‖W_hh.grad‖")
assert rate < 0.8, "at torch's default initialisation the gradient should shrink each step"
assert grad_norms[0] / grad_norms[-1] < 1e-3, "expected a shrink of more than 3 decades"
assert far < 0.05, "expected the distant steps to contribute almost nothing to W_hh.grad"

# %% [markdown]
# So in this RNN, at its initial weights and on this batch, the update of $W_{hh}$ is decided
# almost entirely by the last few steps: whatever happened ten steps earlier barely moves it.
# Backward, each step multiplies the gradient by $W_{hh}^\top \operatorname{diag}(1 - h_t^2)$
# (the two asserts above). Whether that product must shrink, when it explodes instead, and
# what it costs on a task whose answer depends on a distant input: that is notebook 02.
#
# *Try it*: multiply the recurrent weights by 3 (add `W_hh.data.mul_(3)` right after
# `W_ih, W_hh = ...`) and re-run from there. What happens to the slope? (The asserts will
# object: they state what holds at torch's default initialisation.)
#
# ## Summary
#
# - A batch of sequences is `(T, N, I)` time-first (torch.nn's default) or `(N, T, I)`
#   batch-first; `h_n` is `(layers, N, H)` in both.
# - One RNN step is $h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$, with
#   $W_{ih}$ $(H, I)$ and $W_{hh}$ $(H, H)$; for a batch, $X_t W_{ih}^\top + H_{t-1}
#   W_{hh}^\top + b$. Only $b_{ih} + b_{hh}$ matters.
# - Unrolling applies the same step $T$ times; your loop, `course_lstm.RNN` and `nn.RNN` agree
#   to float64 rounding, with parameters `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
#   `bias_hh_l0`.
# - Backpropagation through time: $\partial \mathcal{L} / \partial W_{hh} = \sum_t \delta_t h_{t-1}^\top$,
#   one term per step. At initialisation, $\|\partial \mathcal{L} / \partial h_t\|$ shrank geometrically
#   with the distance to the loss, so distant steps barely contributed.
#
# ## Exercises
#
# 1. Write `unroll_rnn_batch_first(x, h0, W_ih, W_hh, b)` for a batch-first `x` `(N, T, I)`,
#    returning `(N, T, H)`, without transposing `x` (read step $t$ as `x[:, t]`; stack along
#    `dim=1`). Check it with
#    `check("unroll_rnn", lambda xs, *rest: unroll_rnn_batch_first(xs.transpose(0, 1), *rest).transpose(0, 1))`.
# 2. In `rnn_step`, write `h @ W_hh` instead of `h @ W_hh.T` and run the check. Why does
#    PyTorch raise no shape error for this mistake, while `x @ W_ih` usually does?
# 3. Section 5 used $b = b_{ih} + b_{hh}$. Compare `rnn.bias_ih_l0.grad` with
#    `rnn.bias_hh_l0.grad` after `loss.backward()`, and explain from the equation what you see.
# 4. In section 5, give each step its own copy of $W_{hh}$ (a list of `T` tensors, each
#    `W_hh.detach().clone().requires_grad_()`), run the loop with copy $t$ at step $t$, and
#    show that each copy's `.grad` is `terms[t-1]` and that they sum to `W_hh.grad`.
