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
# # 03 · The memory cell
#
# Notebook 02 showed why an RNN forgets: the gradient that reaches step $t$ from a loss $k$ steps
# later has been multiplied by $k$ Jacobians $\mathrm{diag}(1 - h^2)\,W_{hh}$, so it shrinks or
# grows exponentially in $k$. Hochreiter and Schmidhuber (1997) asked what a recurrent
# unit must look like for that product to be exactly 1, and built the LSTM around the answer.
#
# **What you will learn here**
# - why constant error flow forces a linear self-loop of weight 1: the *constant error carousel*;
# - to write the carousel's step, and to show with autograd that its gradient does not decay
#   over any distance, on the same inputs where an RNN's vanishes;
# - why a carousel alone is not a usable memory: it adds up every input and shows its content at
#   every step (the paper's *input* and *output weight conflicts*), so a stored value drowns;
# - how multiplicative gates (input, output, forget) fix this, with gate values set by hand.
#   Notebook 04 lets the network compute them: that is the LSTM.
#
# **Prerequisites**: notebooks 01 (one RNN step, backpropagation through time) and 02 (the
# Jacobian product and why it vanishes).
#
# **Time**: about 40 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lstm import LSTMCell
from course_lstm.cells import rnn_step
from course_lstm.checks import check
from course_lstm.diagnostics import decay_rate, distance_to_loss
from course_lstm.notebook import agree, setup

profile = setup(seed=0)
dtype = torch.float64  # equality claims are checked to float64 rounding

# %% [markdown]
# ## 1. What the RNN's gradient is missing
#
# Take one unit that feeds back to itself with weight $w$ through an activation $\phi$:
# $y_t = \phi(\mathrm{net}_t)$ with $\mathrm{net}_t = w\, y_{t-1} + \text{input}_t$. An error $\delta_t = \partial \mathcal{L} / \partial y_t$
# arriving at step $t$ flows back one step as
#
# $$\delta_{t-1} = \phi'(\mathrm{net}_t)\, w\, \delta_t ,$$
#
# and over $k$ steps it is multiplied by $k$ such factors. For the error to neither vanish nor
# explode over *any* distance, each factor must be exactly one: $\phi'(\mathrm{net})\, w = 1$ for
# every input. That leaves one choice: $\phi$ the identity and $w = 1$. The unit simply keeps its value,
# $y_t = y_{t-1} + \text{input}_t$, and an error stored in it circulates unchanged: a
# **constant error carousel** (CEC).
#
# For $H$ units the RNN's factor is the matrix $\mathrm{diag}(1 - h_t^2)\, W_{hh}$ of notebook 02;
# the carousel replaces it with the identity $I$ by dropping the $\tanh$ and $W_{hh}$ from the
# loop, and keeps the $\tanh$ only on what is written in.

# %% [markdown]
# ## 2. The carousel's step
#
# A memory cell holds a state $c_t$ of shape $(N, H)$. Each step adds the squashed input:
#
# $$c_t = c_{t-1} + \tanh(x_t W^\top + b)$$
#
# with $x_t$ of shape $(N, I)$, $W$ of shape $(H, I)$, $b$ of shape $(H,)$. Compare the RNN's
# $h_t = \tanh(x_t W_{ih}^\top + h_{t-1} W_{hh}^\top + b)$: the old state now goes around the
# loop untouched, outside the $\tanh$.
#
# **Exercise.** Write `cec_step(x, c, W, b)` returning $c_t$, shape $(N, H)$.

# %% tags=["solution"]
def cec_step(x: torch.Tensor, c: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One step of the constant error carousel: c' = c + tanh(x W^T + b).

    x: (N, I), c: (N, H), W: (H, I), b: (H,). Returns c': (N, H).
    """
    return c + torch.tanh(F.linear(x, W, b))


# %%
check("cec_step", cec_step)

# %% [markdown]
# The LSTM cell you will build in notebook 04 updates its cell state as
# $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ with $g_t = \tanh(x_t W_{ig}^\top + b_{ig} + \dots)$
# and two *gates* $f_t, i_t \in (0, 1)$. Hold both gates open ($f_t = i_t = 1$, here by a bias
# so large that the sigmoid rounds to exactly 1) and cut the recurrent weights: what is left is
# the carousel. The package's `LSTMCell` and `torch.nn.LSTMCell` agree with it:

# %%
N, I, H = 3, 2, 4
# multiples of 1/4: every product and sum below is exact, whatever order a CPU adds in
x, c = torch.randint(-8, 9, (N, I)) / 4, torch.randint(-8, 9, (N, H)) / 4
W, b = torch.randint(-8, 9, (H, I)) / 4, torch.randint(-8, 9, (H,)) / 4
x, c, W, b = (tensor.to(dtype) for tensor in (x, c, W, b))

torch_cell = nn.LSTMCell(I, H, dtype=dtype)
with torch.no_grad():  # torch.nn stacks the gate blocks as i, f, g, o
    torch_cell.weight_hh.zero_()
    torch_cell.bias_hh.zero_()
    torch_cell.weight_ih.zero_()
    torch_cell.weight_ih[2 * H:3 * H] = W
    torch_cell.bias_ih.copy_(torch.cat([torch.full((2 * H,), 50.0, dtype=dtype), b,
                                        torch.zeros(H, dtype=dtype)]))

package_cell = LSTMCell(I, H, dtype=dtype)
package_cell.load_state_dict(torch_cell.state_dict())  # the same names, shapes and gate order

h = torch.zeros(N, H, dtype=dtype)
package_c = package_cell(x, (h, c))[1]  # both cells return (h_next, c_next)
torch_c = torch_cell(x, (h, c))[1]
agree("cec_step vs course_lstm.LSTMCell", cec_step(x, c, W, b), package_c)
agree("cec_step vs nn.LSTMCell", cec_step(x, c, W, b), torch_c)

# %% [markdown]
# ## 3. The carousel's Jacobian is the identity
#
# The written term $\tanh(x_t W^\top + b)$ does not depend on $c_{t-1}$, so one step's Jacobian
# is $\partial c_t / \partial c_{t-1} = I$ ($H \times H$), and the product over any span is
# $\partial c_L / \partial c_t = I \cdot I \cdots I = I$. Autograd agrees, on a sequence of
# $T$ steps with torch.nn's initialisation: we take an RNN and give the carousel the same input
# weights and bias, so the two differ only in their loop.

# %%
seq_len, batch, input_size, hidden = profile.probe_lag, profile.batch_size, 4, profile.hidden_size
rnn = nn.RNN(input_size, hidden, dtype=dtype)
W, U = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()  # (H, I), (H, H)
b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach()  # (H,)
xs = torch.randn(seq_len, batch, input_size, dtype=dtype)  # (T, N, I)


def step_cec(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The carousel with the RNN's input weights: x (N, I), c (N, H) -> c' (N, H)."""
    return cec_step(x, c, W, b)


def step_rnn(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The RNN: x (N, I), h (N, H) -> h' (N, H)."""
    return rnn_step(x, h, W, U, b)


def last_state(step, s0: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Run ``step(x_t, s) -> s'`` over xs (T, N, I) from s0 (N, H); the final state (N, H)."""
    s = s0
    for x in xs:
        s = step(x, s)
    return s


# %% [markdown]
# One sequence, the Jacobian of the last state with respect to the first, $(H, H)$:

# %%
s0 = torch.zeros(1, hidden, dtype=dtype)
one_sequence = xs[:, :1]  # (T, 1, I)
J_cec = torch.autograd.functional.jacobian(lambda s: last_state(step_cec, s, one_sequence), s0)
J_rnn = torch.autograd.functional.jacobian(lambda s: last_state(step_rnn, s, one_sequence), s0)
J_cec, J_rnn = J_cec.reshape(hidden, hidden), J_rnn.reshape(hidden, hidden)

agree("dc_T/dc_0 vs identity", J_cec, torch.eye(hidden, dtype=dtype))
print(f"largest singular value over {seq_len} steps: carousel {torch.linalg.matrix_norm(J_cec, 2):.3f}, "
      f"RNN {torch.linalg.matrix_norm(J_rnn, 2):.1e}")
assert torch.allclose(J_cec, torch.eye(hidden, dtype=dtype), rtol=0, atol=1e-12)
assert torch.linalg.matrix_norm(J_rnn, 2) < 1e-2, "the RNN's Jacobian product should have vanished"

# %% [markdown]
# The same claim, measured the way notebook 02 measured the RNN: put a loss on the last state,
# $\mathcal{L} = \frac{1}{N}\sum_n v \cdot s_{T}^{(n)}$ with a readout vector $v$ of shape $(H,)$,
# and ask autograd for $\partial \mathcal{L} / \partial s_t$ at every step, $s$ being $c$ for the
# carousel and $h$ for the RNN, on the same batch of inputs.

# %%
def gradient_norms(step, xs: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """(T,): the batch mean of ||dL/ds_t|| for each step t; step(x_t, s) -> s', xs (T, N, I),
    readout (H,), L = mean over the batch of readout . s_T."""
    s = xs.new_zeros(xs.shape[1], readout.shape[0]).requires_grad_()  # a leaf keeps the graph
    states = []
    for x in xs:
        s = step(x, s)
        states.append(s)
    loss = (states[-1] @ readout).mean()
    return torch.stack([g.norm(dim=-1).mean() for g in torch.autograd.grad(loss, states)])


readout = torch.randn(hidden, dtype=dtype)
cec_norms = gradient_norms(step_cec, xs, readout)
rnn_norms = gradient_norms(step_rnn, xs, readout)
distance = distance_to_loss(seq_len)  # index t holds step t + 1, T - (t + 1) steps from the loss

# %%
plt.semilogy(distance, cec_norms, "o-", label="constant error carousel: $c_t = c_{t-1} + \\tanh(\\cdot)$")
plt.semilogy(distance, rnn_norms, "s-", label="RNN: $h_t = \\tanh(\\cdot + h_{t-1} W_{hh}^\\top)$")
plt.xlabel("distance to the loss (steps)")
plt.ylabel("$\\|\\partial \\mathcal{L} / \\partial s_t\\|$ (batch mean)")
plt.title("RNN gradients vanish exponentially; the carousel's stay exactly constant")
plt.legend()
plt.show()

# %%
print(f"gradient kept per step (fitted): carousel {decay_rate(cec_norms):.3f}, RNN {decay_rate(rnn_norms):.2f}")
print(f"gradient at the farthest step / at the nearest: carousel {cec_norms[0] / cec_norms[-1]:.3f}, "
      f"RNN {rnn_norms[0] / rnn_norms[-1]:.1e}")
assert (cec_norms / cec_norms[-1] - 1).abs().max() < 1e-12, "the carousel's gradient should be constant"
assert rnn_norms[0] / rnn_norms[-1] < 1e-3 and decay_rate(rnn_norms) < 0.8, "the RNN's should vanish"

# %% [markdown]
# The carousel's gradient does not even depend on the inputs. **Try it:** scale the inputs by 10
# (`xs = 10 * torch.randn(...)`) and re-run this section. Which curve moves, and why? (Look at
# the factor $1 - h_t^2$.)

# %% [markdown]
# ## 4. An ungated cell writes everything
#
# A perfect gradient path is not yet a memory. The carousel adds *every* input to $c_t$, wanted
# or not. Hochreiter and Schmidhuber call this the **input weight conflict**: the same weights
# $W$ must write the one input worth storing and also keep out all the others, and no fixed
# $W$ can do both. Run the cell on a long noisy sequence: from $c = 0$,
#
# $$c_t = \sum_{s \le t} \tanh(x_s W^\top + b), \qquad (N, H),$$
#
# a sum of $t$ random terms. With $b = 0$ they average to zero and the sum is a random walk,
# spreading like $\sqrt{t}$; with a bias, each unit's terms have a nonzero mean and it drifts
# like $t$.

# %%
def cell_states(xs: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Every state c_1 ... c_T of the carousel from c = 0: xs (T, N, I), W (H, I), b (H,) -> (T, N, H)."""
    c, states = xs.new_zeros(xs.shape[1], W.shape[0]), []
    for x in xs:
        c = cec_step(x, c, W, b)
        states.append(c)
    return torch.stack(states)


long_len, big_batch = 10 * profile.probe_lag, profile.eval_batch_size
noisy = torch.randn(long_len, big_batch, input_size, dtype=dtype)  # (T, N, I)
cells = cell_states(noisy, W, b)
size = cells.abs().mean(dim=(1, 2))  # (T,): mean |c_t| over batch and units
size_no_bias = cell_states(noisy, W, torch.zeros_like(b)).abs().mean(dim=(1, 2))

# %%
t = np.arange(1, long_len + 1)
plt.loglog(t, size, label="ungated cell, torch.nn's random bias $b$")
plt.loglog(t, size_no_bias, label="ungated cell, $b = 0$")
plt.loglog(t, size[0].item() * t, "--", color="gray", label="$\\propto t$ (drift)")
plt.loglog(t, size[0].item() * np.sqrt(t), ":", color="gray", label="$\\propto \\sqrt{t}$ (random walk)")
plt.xlabel("step $t$")
plt.ylabel("mean $|c_t|$ over batch and units")
plt.title("An ungated cell adds up every input: $|c_t|$ grows without bound")
plt.legend()
plt.show()

# %%
late = slice(long_len // 10, None)
growth = np.polyfit(np.log(t[late]), np.log(size[late].numpy()), 1)[0]
growth_no_bias = np.polyfit(np.log(t[late]), np.log(size_no_bias[late].numpy()), 1)[0]
print(f"mean |c_t| from t = {long_len // 10} to {long_len}: {size[long_len // 10 - 1]:.1f} -> {size[-1]:.1f}, "
      f"grows like t^{growth:.2f}; with b = 0 like t^{growth_no_bias:.2f}")
assert growth > 0.8 and 0.4 < growth_no_bias < 0.6, "drift should grow like t, a random walk like sqrt(t)"

# %% [markdown]
# Unbounded growth is not harmless. Whatever reads the cell sees it through a squashing function,
# $\tanh(c_t)$, whose slope $1 - \tanh^2(c_t)$ goes to zero as $|c_t|$ grows: the readout sticks
# at $\pm 1$, tells nothing about $c_t$, and lets no error into the carousel. Gers, Schmidhuber and
# Cummins (2000) saw exactly this in LSTMs run on long streams. Count the units (with the bias)
# whose readout slope is below $0.01$:

# %%
saturated = ((1 - torch.tanh(cells) ** 2) < 0.01).double().mean(dim=(1, 2))  # (T,)
print(f"saturated readouts: {saturated[long_len // 10 - 1]:.0%} at t = {long_len // 10}, "
      f"{saturated[-1]:.0%} at t = {long_len}")
assert saturated[-1] > 0.8 and saturated[-1] > saturated[long_len // 10 - 1]

# %% [markdown]
# **Try it:** make the sequence ten times longer (`long_len = 100 * profile.probe_lag`) and
# re-run this section. Does any unit's readout escape saturation?

# %% [markdown]
# ## 5. A stored value drowns
#
# The simplest memory task: remember the first input $x_1$ of a long sequence whose later inputs
# are noise. Take one unit, $I = H = 1$, $W = 1$, $b = 0$, so $c_t = \sum_{s = 1}^{t} \tanh(x_s)$.
# Nothing is ever lost: $\tanh(x_1)$ is still in $c_t$ at every $t$, exactly. But it is one term
# among $t$. Across a batch of sequences, the covariance of $c_t$ with $x_1$ stays the same
# while the variance of $c_t$ grows like $1 + (t - 1)\,r$, with
# $r = \mathbb{E}[\tanh^2(\text{noise})] / \mathbb{E}[\tanh^2(x_1)]$, so the correlation falls as
#
# $$\rho_t = \mathrm{corr}(c_t, x_1) \approx \frac{\rho_1}{\sqrt{1 + (t - 1)\,r}} .$$

# %%
noise_scale = 1.0
store = torch.randn(long_len, big_batch, 1, dtype=dtype)  # (T, N, 1); x_1 (index 0) is the value to keep
store[1:] *= noise_scale
kept = cell_states(store, torch.ones(1, 1, dtype=dtype), torch.zeros(1, dtype=dtype))[..., 0]  # (T, N)


def batch_correlation(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation across the batch at every step: values (T, N), target (N,) -> (T,)."""
    v = values - values.mean(dim=1, keepdim=True)
    u = target - target.mean()
    return (v @ u) / (v.norm(dim=1) * u.norm())


rho = batch_correlation(kept, store[0, :, 0])
r = torch.tanh(store[1:]).pow(2).mean() / torch.tanh(store[0]).pow(2).mean()
predicted = rho[0] / torch.sqrt(1 + torch.arange(long_len, dtype=dtype) * r)
sampling_noise = 2 / math.sqrt(big_batch)  # about two standard errors of a correlation
steps = np.arange(1, long_len + 1)  # t = 1, ..., T: index t - 1

# %%
plt.plot(steps, rho, label="ungated cell, measured across the batch")
plt.plot(steps, predicted, "--", label="$\\rho_1 / \\sqrt{1 + (t - 1)\\,r}$")
plt.fill_between(steps, predicted - sampling_noise, predicted + sampling_noise,
                 alpha=0.2, label=f"$\\pm 2/\\sqrt{{N}}$, sampling noise at N = {big_batch}")
plt.xlabel("step $t$")
plt.ylabel("corr$(c_t, x_1)$")
plt.title("The first input is never lost, but later inputs drown it")
plt.legend()
plt.show()

# %%
below_half = int((rho < 0.5).nonzero()[0])
print(f"corr(c_t, x_1): {rho[0]:.2f} at t = 1, below 0.5 from t = {below_half + 1}, {rho[-1]:.2f} at t = {long_len}")
assert rho[0] > 0.9 and rho[-1] < 0.6 * rho[0], "the stored value should drown"
assert (rho - predicted).abs().max() < 2 * sampling_noise, "the fall should follow rho_1 / sqrt(1 + (t - 1) r)"

# %% [markdown]
# **Try it:** set `noise_scale = 0.1`, so that the noise is ten times weaker than the stored
# value. How many steps does the correlation now stay above 0.5? Predict it from the formula
# first ($r$ is about $0.025$).

# %% [markdown]
# ## 6. Gates: write, keep and read only when it is relevant
#
# The cure keeps the carousel and puts a multiplicative switch on each of its three connections:
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot \tanh(x_t W^\top + b), \qquad h_t = o_t \odot \tanh(c_t)$$
#
# with $c_t, h_t$ and the gates $i_t, f_t, o_t$ all of shape $(N, H)$, each gate in $[0, 1]$.
# The **input gate** $i_t$ writes only when the input is worth storing (the input weight
# conflict); the **output gate** $o_t$ lets the content out only when it is needed (the *output
# weight conflict*: an ungated cell's content reaches every unit it feeds at every step, wanted
# or not); the **forget gate** $f_t$ clears the cell before something new is stored. Hochreiter
# and Schmidhuber (1997) had the first two and $f_t = 1$; Gers, Schmidhuber and Cummins (2000)
# added the forget gate for the unbounded growth of section 4. With $f_t = 1$ the loop is still
# the carousel, $\partial c_t / \partial c_{t-1} = I$.
#
# In an LSTM each gate is computed from the input and the state. Here we set them by hand, to 0
# or 1, for a task with two store steps: keep $x_1$, and from step $m$ on (the middle of the sequence) keep $x_m$ instead.

# %%
def gated_cells(xs: torch.Tensor, write: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The scalar cell c_t = keep_t * c_{t-1} + write_t * tanh(x_t) from c = 0.

    xs: (T, N, 1); write, keep: (T,) the gate values i_t and f_t. Returns c: (T, N).
    """
    c, cells = torch.zeros_like(xs[0]), []
    for x, i, f in zip(xs, write, keep):
        c = f * c + i * torch.tanh(x)
        cells.append(c[:, 0])
    return torch.stack(cells)


k = long_len // 2  # index of step m = k + 1
store_steps = torch.zeros(long_len, dtype=dtype)
store_steps[[0, k]] = 1
two_values = store.clone()
two_values[k] = torch.randn(big_batch, 1, dtype=dtype)  # x_m, the second value to keep, as strong as x_1
forget_at_k = torch.ones(long_len, dtype=dtype)
forget_at_k[k] = 0

settings = {
    "ungated (i = f = 1)": (torch.ones(long_len, dtype=dtype), torch.ones(long_len, dtype=dtype)),
    "input gate (i = 1 at steps 1 and m)": (store_steps, torch.ones(long_len, dtype=dtype)),
    "+ forget gate (f = 0 at m)": (store_steps, forget_at_k),
}
correlations = {}
for name, (write, keep) in settings.items():
    c = gated_cells(two_values, write, keep)  # (T, N); the value to keep is x_1 before m, x_m after
    correlations[name] = torch.cat([batch_correlation(c[:k], two_values[0, :, 0]),
                                    batch_correlation(c[k:], two_values[k, :, 0])])

# %%
for name, rho_gate in correlations.items():
    plt.plot(steps, rho_gate, label=name)
plt.axvline(k + 1, color="gray", lw=0.8)
plt.xlabel("step $t$ (second value stored at $m$, grey line)")
plt.ylabel("corr(cell, value to keep)")
plt.ylim(-0.1, 1.05)
plt.title("A gate of 0 or 1 stops the drowning; the forget gate makes room")
plt.legend(loc="center right")
plt.show()

# %%
ungated, input_only, both = correlations.values()
print(f"at t = m - 1:    ungated {ungated[k - 1]:.2f}, input gate {input_only[k - 1]:.2f}, both {both[k - 1]:.2f}")
print(f"at t = {long_len}: ungated {ungated[-1]:.2f}, input gate {input_only[-1]:.2f}, both {both[-1]:.2f}")
assert input_only[:k].min() > 0.9, "with an input gate, x_1 should stay readable until m"
assert 0.55 < input_only[-1] < 0.8, "without forgetting, x_1 and x_m share the cell (about rho_1 / sqrt 2)"
assert both.min() > 0.9, "with input and forget gates, the value to keep should always be readable"
assert ungated[-1] < both[-1] - 0.3

# %% [markdown]
# The output gate decides *when* the content leaves the cell. Say an answer is due at two
# steps, just before $m$ and at the end, and the unit the cell feeds must stay at 0 everywhere
# else (it drives something, or another part of the network reads it). The target is the stored
# value's $\tanh$ at the two read steps and 0 at the others; what does each cell's output $h_t$
# cost, as the squared error summed over the sequence?

# %%
c = gated_cells(two_values, store_steps, forget_at_k)
read_steps = torch.zeros(long_len, dtype=dtype)
read_steps[[k - 1, long_len - 1]] = 1
h_ungated = torch.tanh(c)  # o_t = 1
h_gated = read_steps[:, None] * torch.tanh(c)  # o_t = 1 only at the read steps
target = read_steps[:, None] * torch.tanh(c)  # (T, N): the answer when due, silence otherwise
cost = {name: (h - target).pow(2).sum(0).mean().item() for name, h in (("ungated", h_ungated), ("gated", h_gated))}
print(f"steps at which the cell reaches its output: without an output gate "
      f"{int((h_ungated != 0).any(dim=1).sum())} of {long_len}, with one {int((h_gated != 0).any(dim=1).sum())}")
print(f"squared error over the sequence, mean over the batch: without an output gate "
      f"{cost['ungated']:.1f}, with one {cost['gated']:.1f}")
assert (h_gated != 0).any(dim=1).sum() == 2 and (h_ungated != 0).any(dim=1).all()
assert cost["gated"] == 0 and cost["ungated"] > 1, "the ungated content disturbs every other step"

# %% [markdown]
# Gates computed by a sigmoid are seldom exactly 0 or 1. A forget gate of value $f$ at step $m$
# leaves $f \tanh(x_1)$ in the cell next to $\tanh(x_m)$: the old value keeps a share $f^2$ of the
# variance, and the correlation with the new one drops to $\rho_1 / \sqrt{1 + f^2}$.

# %%
partial_forget = 0.5
keep = torch.ones(long_len, dtype=dtype)
keep[k] = partial_forget
c = gated_cells(two_values, store_steps, keep)
rho_after = batch_correlation(c[k:], two_values[k, :, 0]).mean()
predicted_after = both[k:].mean() / math.sqrt(1 + partial_forget ** 2)  # both[k:] is rho_1 for x_m
print(f"f = {partial_forget} at step m: corr(cell, x_m) after m {rho_after:.2f}, predicted {predicted_after:.2f}")
assert abs(rho_after - predicted_after) < sampling_noise

# %% [markdown]
# **Try it:** set `partial_forget` to 1 and then to 0. Which curves of the figure do you get back?
#
# The gates here knew the schedule. A network must *decide* when to write, keep and read from
# what it sees: in notebook 04 each gate becomes $\sigma(x_t W^\top + h_{t-1} U^\top + b)$, a
# learned function of the input and the previous output, and the cell above becomes the LSTM.

# %% [markdown]
# ## Summary
#
# - Constant error flow through a unit needs $\phi'(\mathrm{net})\,w = 1$: a linear self-loop of
#   weight 1, the constant error carousel $c_t = c_{t-1} + \tanh(x_t W^\top + b)$.
# - Its Jacobian over any span is exactly $I$: autograd finds the gradient constant to $10^{-12}$
#   over the whole sequence, where the RNN's, on the same inputs, vanishes exponentially.
# - The carousel is the LSTM's cell update with $i_t = f_t = 1$ (checked against `nn.LSTMCell`).
# - Without control it is no memory: it adds every input, so $|c_t|$ grows without bound and its
#   $\tanh$ readout saturates; a stored value is never lost but drowns, its correlation falling
#   as $\rho_1 / \sqrt{1 + (t - 1)\,r}$.
# - Multiplicative gates fix both conflicts: an input gate writes only what is relevant, an
#   output gate reads only when needed, a forget gate (Gers et al. 2000) clears the cell. Set to
#   0 or 1 by hand, they keep a stored value readable over the whole sequence.
#
# ## Exercises
#
# 1. Write `cec_step` from its equation without looking at the solution, and run
#    `check("cec_step", cec_step)`.
# 2. A *leaky* carousel, $c_t = \lambda\, c_{t-1} + \tanh(x_t W^\top + b)$ with $\lambda = 0.9$,
#    is a forget gate stuck at 0.9. Predict, then measure with `gradient_norms` and the loop of
#    section 4: how does its gradient fall with distance, and how large can $|c_t|$ get? What
#    does a fixed $\lambda$ trade, and why does a gate that can be 1 now and 0 later not have to?
# 3. In section 5, how does the number of steps before the correlation falls below 0.5 depend on
#    `noise_scale`? Derive it from $\rho_1 / \sqrt{1 + (t - 1)\,r}$, then check two values.
# 4. Make the input gate depend on the data: add a second input channel that is 1 at the store
#    steps and 0 elsewhere, and set $i_t = \sigma(a\,(\text{marker}_t - 0.5))$. How large must $a$
#    be for the input-gate curve of section 6 to stay above 0.9 until $m$? (This is the step
#    from hand-set gates to the LSTM of notebook 04.)
