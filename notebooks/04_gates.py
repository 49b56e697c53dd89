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
# # 04 · Gates, one at a time
#
# Notebook 03 built the constant error carousel, $c_t = c_{t-1} + g_t$, and fixed its flaws with
# gates set by hand on a schedule. Here each gate becomes a function the cell computes from what
# it sees, a sigmoid of the input and the previous output. We add the gates one at a time, watch
# what each does to the cell state on a real sequence, and arrive at `torch.nn`'s LSTM cell.
#
# **What you will learn**
# - what a gate is: a sigmoid in $(0, 1)$ multiplied elementwise onto a signal, a soft switch;
# - the forget gate sets how long the cell remembers: about $1/(1-f)$ steps;
# - the input gate lets the cell write only when something worth keeping arrives;
# - the output gate lets the rest of the network read the cell only when it needs to;
# - the complete LSTM cell in `torch.nn`'s gate order (i, f, g, o) and its stacked weights;
#   you write `lstm_step` and show it equals `nn.LSTMCell`;
# - why a forget gate near 1 keeps $\partial \mathcal{L} / \partial c_t$ alive over long distances, and
#   how the forget-gate bias sets that at initialisation.
#
# **Prerequisites**: notebooks 01–03: one RNN step, why gradients through time vanish, and the
# constant error carousel (`cec_step`).
#
# **Time**: about 60 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

import course_lstm
from course_lstm import diagrams
from course_lstm.checks import check
from course_lstm.diagnostics import decay_rate, distance_to_loss, gradient_through_time, record_gates
from course_lstm.explorations import gate_figure, gate_trace, record_steps, snapshot, snapshot_figure
from course_lstm.models import SequenceModel, TruncatedLSTM, set_forget_bias
from course_lstm.notebook import agree, setup
from course_lstm.tasks import AddingProblem
from course_lstm.training import fit
from course_lstm.widgets import GateExplorer, GateStepper

profile = setup(seed=0)

# %% [markdown]
# ## A sequence worth remembering
#
# To see what each gate does to the cell, we need a sequence in which *what* to keep and *when*
# to show it are both visible. One sequence of $T = 100$ steps, a batch of $N = 1$, with
# $I = 3$ input channels, time first, $x$: (T, N, I):
#
# - channel 0, the **value**: small noise with four spikes;
# - channel 1, the **write marker**: 1 at the two steps whose value should be kept;
# - channel 2, the **read marker**: 1 at the two steps where the kept value is wanted.
#
# The spikes at steps 5 and 50 are not marked: a good memory ignores them.

# %%
T, I, H = 100, 3, 1  # steps, input channels, one memory cell
spikes = {5: 1.0, 35: 0.6, 50: -1.0, 65: -0.5}  # step: value
writes, reads = (35, 65), (55, 90)

x = torch.zeros(T, 1, I)  # (T, N, I)
x[:, 0, 0] = 0.05 * torch.randn(T)
for t, value in spikes.items():
    x[t, 0, 0] = value
x[list(writes), 0, 1] = 1.0
x[list(reads), 0, 2] = 1.0
steps = torch.arange(T)


def mark_steps(ax):
    """Shade the write steps (green) and the read steps (purple) on a time axis."""
    for k, t in enumerate(writes):
        ax.axvline(t, color="tab:green", alpha=0.25, lw=4, label="write marker" if k == 0 else None)
    for k, t in enumerate(reads):
        ax.axvline(t, color="tab:purple", alpha=0.25, lw=4, label="read marker" if k == 0 else None)


fig, ax = plt.subplots()
ax.plot(steps, x[:, 0, 0], color="black", lw=1, label="value $x_{t,0}$")
mark_steps(ax)
ax.set(title="Four spikes in noise: two are marked to be kept, two are not",
       xlabel="time step $t$", ylabel="value")
ax.legend(loc="lower left")
plt.show()

# %% [markdown]
# ## Where notebook 03 left us: the carousel
#
# The constant error carousel adds a candidate value $g_t$ to the cell at every step (notebook
# 03 wrote it $c_t = c_{t-1} + \tanh(x_t W^\top + b)$; from here on we use `torch.nn`'s names):
#
# $$c_t = c_{t-1} + g_t, \qquad g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})$$
#
# with $x_t$: (N, I); $h_{t-1}$, $c_t$, $g_t$: (N, H); $W_{ig}$: (H, I); $W_{hg}$: (H, H);
# $b_{ig}$, $b_{hg}$: (H,).
#
# In the pictures of this notebook the weights are set by hand, the cell is a single unit
# ($H = 1$) and every $W_{h\cdot}$ is 0, so each gate is driven by the input alone and you can
# read it off the plot above. Here $g_t = \tanh(2 \cdot \text{value}_t)$.

# %%
W_ig = torch.tensor([[2.0, 0.0, 0.0]])  # (H, I): the candidate reads the value channel only
b_ig = torch.zeros(H)                   # (H,)


def candidate(x_t):
    """g_t = tanh(W_ig x_t + b_ig), (N, H); the W_hg h_{t-1} term is 0 in these pictures."""
    return torch.tanh(x_t @ W_ig.T + b_ig)


def carousel_step(x_t, c):
    return c + candidate(x_t)  # c_t = c_{t-1} + g_t


def unroll(step, x, **weights):
    """Run c_t = step(x_t, c_{t-1}, **weights) over x (T, N, I) from c = 0; every c_t, (T, N, H)."""
    c, states = torch.zeros(x.shape[1], H), []
    for x_t in x:
        c = step(x_t, c, **weights)
        states.append(c)
    return torch.stack(states)


c_carousel = unroll(carousel_step, x)
g = torch.stack([candidate(x_t) for x_t in x])  # (T, N, H)
assert torch.allclose(c_carousel[-1], g.sum(0), atol=1e-5), "the carousel's c_T is the sum of every g_t"

fig, ax = plt.subplots()
ax.plot(steps, c_carousel[:, 0, 0], label="carousel $c_t$")
mark_steps(ax)
ax.set(title="The carousel keeps everything: every spike and all the noise add up",
       xlabel="time step $t$", ylabel="cell state $c_t$")
ax.legend()
plt.show()

# %% [markdown]
# Its last state is the sum of every candidate ever written: the unmarked spikes are in it, the
# noise has added up to a random walk, and nothing says when anyone should look at it. Three
# problems, three gates: the carousel never **forgets**, it **writes** every input, and it
# would **show** its content at every step. In notebook 03 a schedule opened and closed the
# gates; now the cell must decide from the input.

# %% [markdown]
# ## Gates are soft switches
#
# A gate is a vector of numbers in $(0, 1)$ that multiplies a signal elementwise: near 0 it
# blocks, near 1 it passes. It is made like $g_t$, with a sigmoid in place of the tanh:
#
# $$\text{gate}_t = \sigma(W_{i\cdot} x_t + b_{i\cdot} + W_{h\cdot} h_{t-1} + b_{h\cdot}), \qquad
# \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \text{output} = \text{gate}_t \odot \text{signal}$$
#
# all of shape (N, H). Unlike an `if`, a sigmoid has a gradient everywhere, so gradient
# descent can learn *when* to open each gate.

# %%
z = torch.linspace(-6, 6, 241)
fig, ax = plt.subplots()
ax.plot(z, torch.sigmoid(z), label=r"$\sigma(z)$: a gate, in (0, 1)")
ax.plot(z, torch.tanh(z), label=r"$\tanh(z)$: a value, in (-1, 1)")
ax.axhline(0, color="gray", lw=0.5)
ax.set(title="A sigmoid is a soft switch: it saturates at 0 (closed) and 1 (open)",
       xlabel="pre-activation $z$", ylabel="activation")
ax.legend()
plt.show()

# %% [markdown]
# A gate applied to the cell at every step multiplies its content once per step. How much of a
# value is left after $k$ steps of a gate $f$ is $f^k$:

# %%
for f, k in [(0.99, 100), (0.5, 10), (0.5, 100)]:
    print(f"gate {f}, {k:>3} steps: {f ** k:.2g} of the value is left")
assert 0.99 ** 100 > 0.3 and 0.5 ** 10 < 1e-3

# %% [markdown]
# For $f$ near 1, $f^k = e^{k \ln f} \approx e^{-k(1-f)}$: the value fades by a factor $e$ every
# $\tau = 1/(1-f)$ steps, the gate's **memory time scale**. A gate of 0.99 remembers for about
# 100 steps, a gate of 0.5 for about 2. The pre-activation that gives a gate $f$ is
# $\ln\frac{f}{1-f}$ (the inverse of $\sigma$):

# %%
def logit(p: float) -> float:
    """The pre-activation z with sigmoid(z) = p."""
    return math.log(p / (1 - p))


for f in (0.5, 0.9, 0.99):
    tau = 1 / (1 - f)
    print(f"f = {f:<4}  tau = {tau:5.1f} steps  f^tau = {f ** tau:.3f}  pre-activation {logit(f):.2f}")
    assert abs(f ** tau - math.exp(-1)) < 0.15, "f^tau is about 1/e = 0.368"

# %% [markdown]
# ## 1. The forget gate: how long to remember
#
# The carousel never lets go of anything. A forget gate $f_t$ scales the old cell state down at
# every step:
#
# $$f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}), \qquad
# c_t = f_t \odot c_{t-1} + g_t$$
#
# $f_t$: (N, H); $W_{if}$: (H, I); $W_{hf}$: (H, H); $b_{if}$, $b_{hf}$: (H,). To see the
# time scale, we make the gate constant: $W_{if} = 0$, so $f_t = \sigma(b_{if})$ at every step.

# %%
W_if = torch.zeros(H, I)  # (H, I): the forget gate ignores the input here


def forget_step(x_t, c, b_if):
    f = torch.sigmoid(x_t @ W_if.T + b_if)  # (N, H)
    return f * c + candidate(x_t)           # c_t = f_t * c_{t-1} + g_t


gates = (0.5, 0.95)
c_forget = {f: unroll(forget_step, x, b_if=torch.full((H,), logit(f))) for f in gates}

fig, ax = plt.subplots()
ax.plot(steps, c_carousel[:, 0, 0], color="gray", label="f = 1 (the carousel)")
for f in gates:
    ax.plot(steps, c_forget[f][:, 0, 0], label=f"f = {f} (τ = {1 / (1 - f):.0f} steps)")
mark_steps(ax)
ax.set(title="The forget gate sets the memory: f = 0.95 keeps a spike ~20 steps, f = 0.5 ~2",
       xlabel="time step $t$", ylabel="cell state $c_t$")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
plt.show()

# %% [markdown]
# How much of the first spike (step 5) is left $\tau$ steps later? The cell is linear in what
# it was given, so the spike's share of $c_t$ is the difference between this run and a run
# without the spike:

# %%
without_spike = x.clone()
without_spike[5, 0, 0] = 0.0
for f in gates:
    share = c_forget[f] - unroll(forget_step, without_spike, b_if=torch.full((H,), logit(f)))
    tau = round(1 / (1 - f))
    kept = (share[5 + tau] / share[5]).item()
    print(f"f = {f:<4}  after tau = {tau:>2} steps: {kept:.2f} of the spike is left (f^tau = {f ** tau:.2f})")
    assert abs(kept - f ** tau) < 0.01, "a constant forget gate keeps f^tau after tau steps"

# %% [markdown]
# With $f = 0.95$ the cell holds a spike for about 20 steps, then lets it fade; with $f = 0.5$
# it is gone in a few steps and the cell state is just the latest input. Either way the gate
# forgets on a fixed schedule: it cannot keep the marked value at step 35 for 55 steps while
# ignoring the spike at step 50.
#
# **Try it:** set `gates = (0.5, 0.9)`. How long does the first spike last now? And how far
# does the noise move $c_t$, compared with $f = 0.95$?

# %% [markdown]
# **Explore.** The explorer below runs one such cell, with constant gates, through the course's
# `lstm_step` (the input and output gates of sections 2 and 3 only scale, here, what is written
# and what is shown). Slide $f$ towards 1 and the spike at step 10 is still there a hundred
# steps later; towards 0.5 and it is gone in ten. Then pick another input: what does a slow
# forget gate do with noise, or with a small steady input?

# %% tags=["nbval-ignore-output"]
GateExplorer(forget=0.99)

# %% [markdown]
# Without a widget frontend (on GitHub, or in CI) the sliders do not show. Behind them is a
# plain function, `gate_trace`; here it is at both ends of the forget slider, and the
# explorer's picture for $f = 0.5$ on the noisy input:

# %%
for forget in (0.99, 0.5):
    trace = gate_trace(forget=forget)
    print(f"f = {forget}: {trace.kept(10):.2g} of the spike is left after 10 steps, "
          f"{trace.kept(100):.2g} after 100")
assert gate_trace(forget=0.99).kept(100) > 0.3, "f = 0.99 keeps a third of the spike for 100 steps"
assert gate_trace(forget=0.5).kept(10) < 1e-3, "f = 0.5 loses the spike within 10 steps"
gate_figure(gate_trace(forget=0.5, sequence="spike in noise"))

# %% [markdown]
# ## 2. The input gate: write only what matters
#
# The forget gate decides how long to keep; an input gate $i_t$ decides what gets in:
#
# $$i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}), \qquad
# c_t = f_t \odot c_{t-1} + i_t \odot g_t$$
#
# $i_t$: (N, H), weights shaped like the forget gate's. Now the gates may depend on the input:
# the write marker opens the input gate ($\sigma(16 - 8) \approx 1$, otherwise
# $\sigma(-8) \approx 0.0003$), and the same marker closes the forget gate, so that a new value
# *replaces* the old one instead of being added to it. (This is exercise 4 of notebook 03.)

# %%
W_ii = torch.tensor([[0.0, 16.0, 0.0]])       # (H, I): the write marker opens the input gate...
b_ii = torch.tensor([-8.0])                   # (H,): ...which is closed otherwise
W_if_write = torch.tensor([[0.0, -16.0, 0.0]])  # (H, I): the write marker clears the cell...
b_if_write = torch.tensor([8.0])                # (H,): ...which keeps everything otherwise


def write_step(x_t, c):
    f = torch.sigmoid(x_t @ W_if_write.T + b_if_write)  # (N, H)
    i = torch.sigmoid(x_t @ W_ii.T + b_ii)              # (N, H)
    return f * c + i * candidate(x_t)                   # c_t = f_t * c_{t-1} + i_t * g_t


c_write = unroll(write_step, x)

fig, ax = plt.subplots()
ax.plot(steps, c_forget[gates[-1]][:, 0, 0], color="tab:orange", alpha=0.6,
        label=f"forget gate only (f = {gates[-1]})")
ax.plot(steps, c_write[:, 0, 0], color="tab:green", label="forget and input gates")
mark_steps(ax)
ax.set(title="With an input gate the cell writes only at the markers and holds until the next",
       xlabel="time step $t$", ylabel="cell state $c_t$")
ax.legend(loc="lower left", fontsize="small")
plt.show()

# %% [markdown]
# Between two writes the cell holds the written candidate, $g_{35} = \tanh(2 \cdot 0.6)$,
# and the unmarked spike at step 50 does not move it:

# %%
held = c_write[writes[0]:writes[1], 0, 0]
print(f"g at the first write: {g[writes[0]].item():.3f}; c over steps 35-64: "
      f"{held.min().item():.3f} to {held.max().item():.3f}")
print(f"the unmarked spike at step 50 moves c by {(c_write[50] - c_write[49]).abs().item():.4f}")
print(f"c at the end: {c_write[-1].item():.3f}; g at the second write: {g[writes[1]].item():.3f}")
assert (held - g[writes[0]]).abs().max() < 0.02, "the cell holds the first written value"
assert (c_write[50] - c_write[49]).abs().max() < 0.01, "an unmarked spike is not written"
assert (c_write[-1] - g[writes[1]]).abs().max() < 0.02, "the second write replaced the first"

# %% [markdown]
# **Try it:** set `W_if_write = torch.tensor([[0.0, 0.0, 0.0]])`, so that the forget gate always
# keeps. What does the cell hold after the second write?

# %% [markdown]
# ## 3. The output gate: read only when needed
#
# The cell now holds a value for as long as it has to. But the hidden state $h_t$ is what the
# rest of the network sees (the readout, the next layer, and the gates themselves at step
# $t+1$ through $W_{h\cdot} h_t$), and a value kept for later is a distraction now. An output
# gate $o_t$ decides when to show the cell:
#
# $$o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}), \qquad h_t = o_t \odot \tanh(c_t)$$
#
# $o_t$, $h_t$: (N, H). The tanh keeps $h_t$ in $(-1, 1)$ however large the cell grows. Here the
# read marker opens the output gate.

# %%
W_io = torch.tensor([[0.0, 0.0, 16.0]])  # (H, I): the read marker opens the output gate...
b_io = torch.tensor([-8.0])              # (H,): ...which is closed otherwise


def read(x_t, c_t):
    o = torch.sigmoid(x_t @ W_io.T + b_io)  # (N, H)
    return o * torch.tanh(c_t)              # h_t = o_t * tanh(c_t), (N, H)


h_read = torch.stack([read(x_t, c_t) for x_t, c_t in zip(x, c_write)])  # (T, N, H)

fig, ax = plt.subplots()
ax.plot(steps, c_write[:, 0, 0], color="tab:green", alpha=0.6, label="cell state $c_t$")
ax.plot(steps, h_read[:, 0, 0], color="tab:purple", label="hidden state $h_t$")
mark_steps(ax)
ax.set(title="The output gate shows the cell only at the read markers; h is ~0 elsewhere",
       xlabel="time step $t$", ylabel="state")
ax.legend(loc="lower left", fontsize="small")
plt.show()

# %%
shown = torch.zeros(T, dtype=torch.bool)
shown[list(reads)] = True
for t in reads:
    print(f"step {t}: h = {h_read[t].item():.3f}, tanh(c) = {torch.tanh(c_write[t]).item():.3f}")
print(f"largest |h| at the other steps: {h_read[~shown].abs().max().item():.4f}")
assert torch.allclose(h_read[shown], torch.tanh(c_write[shown]), atol=1e-3), "open gate: h = tanh(c)"
assert h_read[~shown].abs().max() < 0.01, "closed gate: h is about 0"

# %% [markdown]
# At step 55 the network reads 0.6's candidate, not the $-1$ that arrived five steps earlier;
# at step 90 it reads the value written at step 65.
#
# **Try it:** set `b_io = torch.tensor([0.0])`. What does $h_t$ show between the reads?

# %% [markdown]
# ## 4. The complete LSTM cell
#
# Put the three gates and the candidate together, and let every one of them see both the
# input $x_t$ and the previous hidden state $h_{t-1}$. In `torch.nn`'s order:
#
# $$
# \begin{aligned}
# i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) && \text{input gate} \\
# f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) && \text{forget gate} \\
# g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) && \text{candidate} \\
# o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) && \text{output gate} \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
# h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# $x_t$: (N, I); $h_t$, $c_t$ and the four activations: (N, H); each $W_{i\cdot}$: (H, I);
# each $W_{h\cdot}$: (H, H); each bias: (H,).
#
# **The stacked layout.** `torch.nn` does not store eight matrices. It stacks the four input
# matrices into one `weight_ih` of shape (4H, I), so that one matrix product computes all four
# pre-activations at once, and likewise `weight_hh` (4H, H), `bias_ih` and `bias_hh` (4H,).
# The rows, always in the order i, f, g, o:
#
# | rows of `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` | block |
# | --- | --- |
# | `[0:H]` | $W_{ii}$, $W_{hi}$, $b_{ii}$, $b_{hi}$: input gate $i$ |
# | `[H:2H]` | $W_{if}$, $W_{hf}$, $b_{if}$, $b_{hf}$: forget gate $f$ |
# | `[2H:3H]` | $W_{ig}$, $W_{hg}$, $b_{ig}$, $b_{hg}$: candidate $g$ |
# | `[3H:4H]` | $W_{io}$, $W_{ho}$, $b_{io}$, $b_{ho}$: output gate $o$ |
#
# The whole step in one picture, with every tensor's shape (drawn by `course_lstm.diagrams`):

# %%
diagrams.lstm_cell()
plt.show()

# %%
reference = nn.LSTMCell(input_size=3, hidden_size=5)
for name, parameter in reference.named_parameters():
    print(f"{name:<10} {tuple(parameter.shape)}")
assert reference.weight_ih.shape == (4 * 5, 3) and reference.weight_hh.shape == (4 * 5, 5)

# %% [markdown]
# ### Exercise: one LSTM step
#
# Write `lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)` returning `(h_next, c_next)`: the six
# equations above, reading the gate blocks from the stacked weights in the order i, f, g, o.
# Compute all four pre-activations with one product, $x W_{ih}^\top + b_{ih} + h W_{hh}^\top +
# b_{hh}$: (N, 4H), then slice it into blocks of $H$ columns.

# %% tags=["solution"]
def lstm_step(
    x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
    b_ih: torch.Tensor, b_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step. x: (N, I); h, c: (N, H); W_ih: (4H, I); W_hh: (4H, H); b_ih, b_hh: (4H,).

    Returns (h_next, c_next), each (N, H). Gate blocks in torch.nn's order: i, f, g, o.
    """
    H = h.shape[-1]
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H): all four pre-activations
    i = torch.sigmoid(z[:, 0:H])
    f = torch.sigmoid(z[:, H:2 * H])
    g = torch.tanh(z[:, 2 * H:3 * H])
    o = torch.sigmoid(z[:, 3 * H:4 * H])
    c_next = f * c + i * g
    h_next = o * torch.tanh(c_next)
    return h_next, c_next


# %%
check("lstm_step", lstm_step)

# %% [markdown]
# The most common mistake, reading the blocks in another order (say i, f, o, g, as some papers
# write them), gives wrong numbers without any error; the checker recognises it:

# %%
def lstm_step_ifog(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, o, g = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)  # wrong order
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


check("lstm_step", lstm_step_ifog)

# %% [markdown]
# Your step equals `nn.LSTMCell` and the package's `course_lstm.LSTMCell` when all three use the
# same weights (float64, so that only rounding can differ). `agree` prints one line per
# comparison and stops the notebook if the two differ:

# %%
torch_cell = nn.LSTMCell(3, 5, dtype=torch.float64)
package_cell = course_lstm.LSTMCell(3, 5, dtype=torch.float64)
package_cell.load_state_dict(torch_cell.state_dict())  # same names, shapes and gate order

x_1 = torch.randn(4, 3, dtype=torch.float64)  # (N, I)
h_0, c_0 = torch.randn(2, 4, 5, dtype=torch.float64)  # each (N, H)
with torch.no_grad():
    h_yours, c_yours = lstm_step(x_1, h_0, c_0, torch_cell.weight_ih, torch_cell.weight_hh,
                                 torch_cell.bias_ih, torch_cell.bias_hh)
    h_torch, c_torch = torch_cell(x_1, (h_0, c_0))
    h_package, c_package = package_cell(x_1, (h_0, c_0))

agree("h: yours vs nn", h_yours, h_torch)
agree("c: yours vs nn", c_yours, c_torch)
agree("h: yours vs course_lstm", h_yours, h_package)
agree("c: yours vs course_lstm", c_yours, c_package)

# %% [markdown]
# From here on the course uses `course_lstm.LSTMCell` (and its layer, `course_lstm.LSTM`). The
# package's own step, `course_lstm.cells.lstm_step`, takes your function's arguments and returns
# one thing more: `LSTMStep(h, c, gates)`, a named tuple of your `(h_next, c_next)` and the four
# gates `LSTMGates(i, f, g, o)`, for the notebooks that look inside the cell (`h, c, gates =
# lstm_step(...)`, or `.h`, `.c`, `.gates`).

# %% [markdown]
# ## 5. The gates on a sequence
#
# The hand-made memory of sections 1–3 was an LSTM cell all along: stack its weights in the
# order i, f, g, o, set $W_{hh} = 0$ and the biases $b_{hh} = 0$, and `course_lstm.LSTMCell`
# computes the same cell and hidden states. Its `forward_with_gates` also returns the four
# activations, so we can watch them.

# %%
cell = course_lstm.LSTMCell(I, H)
with torch.no_grad():
    cell.weight_ih.copy_(torch.cat([W_ii, W_if_write, W_ig, W_io]))  # (4H, I): rows i, f, g, o
    cell.bias_ih.copy_(torch.cat([b_ii, b_if_write, b_ig, b_io]))     # (4H,)
    cell.weight_hh.zero_()
    cell.bias_hh.zero_()

    h_t, c_t, records = torch.zeros(1, H), torch.zeros(1, H), []
    for x_t in x:
        record = cell.forward_with_gates(x_t, (h_t, c_t))  # LSTMStep(h, c, gates=(i, f, g, o))
        h_t, c_t = record.h, record.c
        records.append(record)

c_cell = torch.stack([r.c for r in records])  # (T, N, H)
h_cell = torch.stack([r.h for r in records])
agree("c: cell vs sections 1-2", c_cell, c_write)
agree("h: cell vs section 3", h_cell, h_read)

# %%
fig, axes = plt.subplots(5, 1, figsize=(7, 7.5), sharex=True)
rows = [("i", "input $i_t$"), ("f", "forget $f_t$"), ("g", "candidate $g_t$"), ("o", "output $o_t$")]
for ax, (field, label) in zip(axes, rows):
    ax.plot(steps, torch.stack([getattr(r.gates, field) for r in records])[:, 0, 0])
    ax.set_ylabel(label)
for state, label in [(c_cell, "cell $c_t$"), (h_cell, "hidden $h_t$")]:
    axes[-1].plot(steps, state[:, 0, 0], label=label)
axes[-1].set_ylabel("states")
axes[-1].legend(loc="lower left", fontsize="small")
for ax in axes:
    mark_steps(ax)
axes[-1].set_xlabel("time step $t$ (green: write markers, purple: read markers)")
fig.suptitle("i opens and f closes only at the writes; o opens only at the reads")
fig.tight_layout()
plt.show()

# %% [markdown]
# The candidate $g_t$ follows every input, spikes and noise alike; the gates decide which of it
# reaches the cell and when the cell reaches $h_t$. A trained LSTM learns such gates from data
# instead of having them set by hand; notebook 08 looks inside one.
#
# Here is a first look: an LSTM of the profile's width, its forget bias at 1 (section 6),
# trained with `fit` (notebook 02) on the adding problem until it solves it.

# %% tags=["nbval-ignore-output"]
adding = AddingProblem(length=profile.probe_lag)
torch.manual_seed(0)
trained = SequenceModel("lstm", adding.input_size, profile.hidden_size, adding.output_size,
                        implementation="torch", forget_bias=1.0).to(profile.device)
history = fit(trained, adding, 3 * profile.steps, batch_size=profile.batch_size, lr=profile.lr,
              eval_every=profile.eval_every, eval_batch_size=profile.eval_batch_size, progress=False)
print(f"T = {adding.length}: solved after {history.steps} steps; held-out MSE "
      f"{history.final_eval_loss:.4f}, baseline {adding.baseline:.3f}")
assert history.solved, "the LSTM should solve the adding problem at the probe lag"
trained.cpu()  # trained on profile.device; the explorer below reads a few sequences on the CPU
examples = adding.batch(8, torch.Generator().manual_seed(1))  # x (8, T, 2): value, marker

# %% [markdown]
# **Explore.** Step through a sequence, or press play: which units' input gates open at the two
# marked steps? Where does the cell change? When does the answer the model would give (its
# readout applied to $h_t$) approach the target?

# %% tags=["nbval-ignore-output"]
GateStepper(trained, examples, channel_names=("value", "marker"))

# %% [markdown]
# Behind the stepper are two plain functions: `record_steps` records the gates once (with
# `diagnostics.record_gates`), and `snapshot` cuts out one sequence up to one step. Measured
# over all eight sequences, the cell changes most at the marked steps (the stepper's still
# above shows sequence 0 after its last step; `snapshot_figure` draws any other).

# %% tags=["nbval-ignore-output"]
recording = record_steps(trained, examples)  # gates and states, each (N, T, H)
c = recording.gates.c
moves = (c - torch.cat([torch.zeros_like(c[:, :1]), c[:, :-1]], dim=1)).abs().mean(-1)  # (N, T)
marked = examples.x[:, :, 1] == 1  # (N, T)
print(f"mean |c_t - c_(t-1)| per unit: {moves[marked].mean():.3f} at the marked steps, "
      f"{moves[~marked].mean():.3f} at the others")
assert moves[marked].mean() > 2 * moves[~marked].mean(), "the cell is written mostly at the markers"

# %% [markdown]
# ## 6. The forget gate keeps gradients alive
#
# Notebook 02 wrote the RNN's gradient through time as a product of step Jacobians, and
# notebook 03 the carousel's cure: $\partial c_t / \partial c_{t-1} = 1$. The LSTM's state is
# the pair $s_t = (h_t, c_t)$, $2H$ numbers per sequence, so its step Jacobian
# $J_t = \partial s_t / \partial s_{t-1}$ is $2H \times 2H$, four $H \times H$ blocks. Write
# $W_{hi}, W_{hf}, W_{hg}, W_{ho}$ for the row blocks of $W_{hh}$ (each (H, H), torch's order),
# $\sigma' = \sigma(1 - \sigma)$ and $\tanh' = 1 - \tanh^2$. The gates read $h_{t-1}$, the cell
# reads $c_{t-1}$ only through $f_t$, and $h_t = o_t \odot \tanh(c_t)$ reads both through $c_t$:
#
# $$\frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}(f_t), \qquad
# \frac{\partial c_t}{\partial h_{t-1}} = \operatorname{diag}(c_{t-1} \odot f_t(1 - f_t))\, W_{hf}
# + \operatorname{diag}(g_t \odot i_t(1 - i_t))\, W_{hi} + \operatorname{diag}(i_t \odot (1 - g_t^2))\, W_{hg},$$
#
# $$\frac{\partial h_t}{\partial c_{t-1}} = \operatorname{diag}(o_t \odot \tanh'(c_t))\,
# \operatorname{diag}(f_t), \qquad
# \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(\tanh(c_t) \odot o_t(1 - o_t))\, W_{ho}
# + \operatorname{diag}(o_t \odot \tanh'(c_t))\, \frac{\partial c_t}{\partial h_{t-1}}.$$
#
# The gradient at step $t-1$ is the one at step $t$ times $J_t$, so a gradient $k$ steps from the
# loss is a product of $k$ such Jacobians, as in notebook 02.
#
# ### Exercise: the LSTM step's Jacobian
#
# Write `lstm_jacobian(x, h, c, W_ih, W_hh, b_ih, b_hh)` returning $J$: (N, 2H, 2H), one
# Jacobian per sequence, rows $(h_t, c_t)$ and columns $(h_{t-1}, c_{t-1})$:
# `[[dh'/dh, dh'/dc], [dc'/dh, dc'/dc]]`. `diag(v) W` for a whole batch is
# `v[:, :, None] * W`: (N, H, H). The checker compares it with autograd.

# %% tags=["solution"]
def lstm_jacobian(
    x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
    b_ih: torch.Tensor, b_hh: torch.Tensor,
) -> torch.Tensor:
    """d(h', c') / d(h, c) of one LSTM step. x: (N, I); h, c: (N, H); weights as in lstm_step.

    Returns (N, 2H, 2H): rows h' then c', columns h then c.
    """
    H = h.shape[-1]
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H)
    i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
    g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
    tanh_c = torch.tanh(f * c + i * g)
    W_hi, W_hf, W_hg, W_ho = W_hh.chunk(4)  # each (H, H)
    dc_dh = ((c * f * (1 - f))[:, :, None] * W_hf + (g * i * (1 - i))[:, :, None] * W_hi
             + (i * (1 - g**2))[:, :, None] * W_hg)  # (N, H, H)
    dc_dc = torch.diag_embed(f)
    through_c = (o * (1 - tanh_c**2))[:, :, None]  # how h' moves with c'
    dh_dh = (tanh_c * o * (1 - o))[:, :, None] * W_ho + through_c * dc_dh
    dh_dc = through_c * dc_dc
    return torch.cat([torch.cat([dh_dh, dh_dc], dim=2), torch.cat([dc_dh, dc_dc], dim=2)], dim=1)


# %%
check("lstm_jacobian", lstm_jacobian)

# %% [markdown]
# **What Hochreiter & Schmidhuber did, and what autograd does.** Only one block carries the
# cell straight back, $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$; in their 1997
# LSTM, without a forget gate, it was the identity, the constant error carousel. They made the
# carousel's error flow *exact* by truncating the gradient: errors that reach the gates' and the
# cell input's pre-activations are not sent back through their recurrent connections to
# $h_{t-1}$. Then the direct path is the only path back, and $k$ steps from the loss the cell's
# gradient is exactly the one at the loss times $f_{t+1} \cdots f_{t+k}$, unit by unit (Gers et
# al. 2000 added the forget gate to that scheme). Full backpropagation through time, what autograd
# computes and what every LSTM in this course trains with, keeps all four blocks. The two give
# different gradients, and nothing forces the extra paths to add to the direct one: they carry
# the signs of $W_{hh}$.

# %%
diagrams.gradient_paths()
plt.show()

# %% [markdown]
#
# `TruncatedLSTM` (in `course_lstm.models`) is the same LSTM with $h_{t-1}$ detached where the gates
# and the candidate read it: the same forward pass, the 1997 gradient. At initialisation the
# weights are small, so $f_t \approx \sigma(b_f)$ with $b_f = b_{if} + b_{hf}$ the forget-gate
# bias: the bias decides how far back the first gradients reach. `set_forget_bias(core, value)`
# writes `value` into rows `[H:2H]` of `bias_ih` and 0 into those of `bias_hh`.
#
# We measure $\lVert \partial \mathcal{L} / \partial c_t \rVert$ on a batch of the adding problem
# (notebook 02), for a sequence five times the profile's probe lag, with the same random
# weights and three forget biases, four ways: full BPTT (`gradient_through_time`); your
# Jacobians multiplied along the sequence, which must give the same numbers; the truncated
# gradient of `TruncatedLSTM`; and the product of the recorded forget gates, which must give
# the truncated numbers.

# %%
def end_gradient(model: SequenceModel, batch, record) -> torch.Tensor:
    """dL/dh_T: (N, H), at the last step, where the readout reads the loss."""
    h_T = record.h[:, -1].clone().requires_grad_()
    return torch.autograd.grad(task.loss_fn(model.head(h_T), batch), h_T)[0]


def chain_of_jacobians(model: SequenceModel, batch, record, jacobian) -> tuple[torch.Tensor, torch.Tensor]:
    """From the loss back, multiply by jacobian(...) one step at a time, along the states and
    gates ``record`` holds. Returns (T,) batch means of ||dL/dc_t|| (c_t's total gradient, through
    h_t too) and of the spectral radius of J_t."""
    core = model.core
    weights = (core.weight_ih_l0, core.weight_hh_l0, core.bias_ih_l0, core.bias_hh_l0)
    N, T, H = record.h.shape
    zeros = torch.zeros_like(record.h[:, :1])
    h_before = torch.cat([zeros, record.h[:, :-1]], dim=1)  # h_{t-1}: (N, T, H)
    c_before = torch.cat([zeros, record.c[:, :-1]], dim=1)
    dL_dh = end_gradient(model, batch, record)
    p = torch.cat([dL_dh, torch.zeros_like(dL_dh)], dim=1)  # (N, 2H): dL/d(h_T, c_T)
    norms, radius = torch.zeros(T, dtype=p.dtype), torch.zeros(T, dtype=p.dtype)
    with torch.no_grad():
        for t in reversed(range(T)):
            through_h = p[:, :H] * record.o[:, t] * (1 - record.c[:, t].tanh() ** 2)
            norms[t] = (p[:, H:] + through_h).norm(dim=-1).mean()
            J = jacobian(batch.x[:, t], h_before[:, t], c_before[:, t], *weights)  # (N, 2H, 2H)
            radius[t] = torch.linalg.eigvals(J).abs().amax(dim=-1).mean()
            p = torch.einsum("ni,nij->nj", p, J)  # one step back: dL/ds_{t-1} = dL/ds_t J_t
    return norms, radius


def direct_path(model: SequenceModel, batch, record) -> torch.Tensor:
    """(T,) batch means of ||dL/dc_T * f_{t+1} ... f_T||: the cell's own path alone."""
    at_end = end_gradient(model, batch, record) * record.o[:, -1] * (1 - record.c[:, -1].tanh() ** 2)
    later = torch.cat([record.f[:, 1:], torch.ones_like(record.f[:, :1])], dim=1)  # f_{t+1}; 1 at T
    kept = later.flip(1).cumprod(dim=1).flip(1)  # (N, T, H): f_{t+1} ... f_T, unit by unit
    return (at_end[:, None, :] * kept).norm(dim=-1).mean(dim=0).cpu()


length = 5 * profile.probe_lag
task = AddingProblem(length=length)
batch = task.batch(profile.batch_size, torch.Generator().manual_seed(0), device=profile.device,
                   dtype=torch.float64)  # float64: far back, bias 0's gradient is below 1e-38
biases = (0.0, 1.0, 3.0)
full, chained, truncated, direct, radius, mean_f, rate, rate_truncated = ({} for _ in range(8))
for bias in biases:
    torch.manual_seed(0)  # the same random weights for every bias
    model = SequenceModel("lstm", task.input_size, profile.hidden_size, task.output_size)
    model = model.to(profile.device, torch.float64)
    set_forget_bias(model.core, bias)
    twin = SequenceModel("lstm", task.input_size, profile.hidden_size, task.output_size)
    twin.core = TruncatedLSTM(task.input_size, profile.hidden_size, batch_first=True)
    twin = twin.to(profile.device, torch.float64)
    twin.load_state_dict(model.state_dict())  # the same weights, the 1997 gradient

    record = record_gates(model.core, batch.x)  # h, c and the gates: each (N, T, H)
    full[bias] = gradient_through_time(model, task, batch).c  # (T,): batch mean of ||dL/dc_t||
    chained[bias], radius_t = chain_of_jacobians(model, batch, record, lstm_jacobian)
    truncated[bias] = gradient_through_time(twin, task, batch).c
    direct[bias] = direct_path(model, batch, record)
    mean_f[bias] = record.f.mean().item()
    radius[bias] = radius_t.mean().item()
    rate[bias], rate_truncated[bias] = decay_rate(full[bias]), decay_rate(truncated[bias])
    print(f"forget bias {bias}: sigma(bias) = {torch.sigmoid(torch.tensor(bias)).item():.2f}, "
          f"mean f = {mean_f[bias]:.3f}; per step, truncated {rate_truncated[bias]:.3f}, "
          f"full BPTT {rate[bias]:.3f}, mean spectral radius of J_t {radius[bias]:.3f}")

for bias in biases:
    agree(f"bias {bias:g}: your Jacobians chained vs autograd", chained[bias], full[bias])
    agree(f"bias {bias:g}: f products vs TruncatedLSTM", direct[bias], truncated[bias])

# %%
distance = distance_to_loss(length)
fig, ax = plt.subplots()
for bias, color in zip(biases, ("tab:blue", "tab:orange", "tab:green")):
    ax.semilogy(distance, full[bias], color=color, label=f"forget bias {bias:g}: full BPTT")
    ax.semilogy(distance, truncated[bias], color=color, ls="--", lw=1,
                label=f"forget bias {bias:g}: truncated (the cell's path, $\\prod f$)")
ax.set(title="Full BPTT against the 1997 truncated gradient, at initialisation",
       xlabel="distance to the loss $k$ (steps)",
       ylabel=r"$\|\partial \mathcal{L} / \partial c_t\|$ (batch mean)")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
plt.show()

# %%
far = full[3.0][0] / full[0.0][0]
print(f"{length - 1} steps back, bias 3 keeps {far.item():.1e} times the gradient of bias 0")
for bias in biases:
    kept = (full[bias][0] / full[bias][-1]).item()
    trend = "grows" if kept > 1 else "shrinks"
    print(f"bias {bias:g}: over {length - 1} steps the full gradient {trend} to {kept:.1e} of its "
          f"value at the loss; the truncated one to {(truncated[bias][0] / truncated[bias][-1]).item():.1e}")
    assert rate[bias] > rate_truncated[bias], "here the paths through h_{t-1} add to the cell's own"
    assert abs(rate[bias] - radius[bias]) < 0.05, "the rate is near the step Jacobian's spectral radius"
    assert abs(rate_truncated[bias] - mean_f[bias]) < 0.05, "the cell's own path keeps about f per step"
assert rate[0.0] < 0.75 and rate[3.0] > 0.9, "bias 3 decays much more slowly than bias 0"
assert far > 1e6, "far from the loss, bias 3's gradient is orders of magnitude larger"

# %% [markdown]
# Your Jacobians, multiplied along the sequence, give autograd's gradient to rounding: the chain
# rule is all there is. What the lines show:
#
# - **The dashed lines are the cell's own path**, the 1997 gradient: exactly the product of the
#   forget gates, unit by unit. Per step it keeps about the mean forget gate $\bar f$ (a little
#   more: the norm over units is carried, far back, by the units whose $f$ is largest).
# - **Full BPTT (solid) adds the paths through $h_{t-1}$.** Here, at initialisation, they add to
#   the direct path at every bias, and the rate per step sits near the mean spectral radius of
#   $J_t$. That is an observation about these weights, not a theorem: the extra blocks carry the
#   signs of $W_{hh}$, so they could cancel part of the direct path, and where the spectral radius
#   passes 1 (bias 3, printed above) the full gradient can even grow with distance.
# - **The bias sets the time scale.** With bias 0 almost nothing reaches the start of the
#   sequence, on either gradient. With bias 3 the cell's path loses only about $1 - \sigma(3)$
#   per step, so after the whole sequence it still holds many orders of magnitude more.
#
# This is at initialisation; whether it helps training is an experiment, and the course's
# experiments use bias 1 (`experiments.LSTM_FORGET_BIAS`), as Jozefowicz et al. (2015)
# recommend. A large bias has a price too: a cell that forgets slowly is slow to clear old
# content (exercise 4).
#
# **Try it:** add `5.0` to `biases`. Predict its truncated rate from $\sigma(5)$ first.

# %% [markdown]
# ## Summary
#
# - A gate is $\sigma(\cdot) \in (0, 1)$ multiplied elementwise onto a signal: a differentiable
#   switch. Applied $k$ times, a gate $f$ keeps $f^k$: memory time scale $1/(1-f)$ steps.
# - The **forget gate** $f_t$ sets how long the cell keeps its content; the **input gate** $i_t$
#   decides what is written; the **output gate** $o_t$ decides when the cell is shown as $h_t$.
# - The LSTM cell: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, $h_t = o_t \odot \tanh(c_t)$.
#   `torch.nn` stacks the four blocks in rows of `weight_ih` (4H, I), `weight_hh` (4H, H),
#   `bias_ih` and `bias_hh` (4H,) in the order i, f, g, o; your `lstm_step` equals
#   `nn.LSTMCell` and `course_lstm.LSTMCell`.
# - The LSTM step's Jacobian $\partial (h_t, c_t) / \partial (h_{t-1}, c_{t-1})$ has four blocks;
#   your `lstm_jacobian` equals autograd's, and chained along a sequence gives the gradient.
# - Its cell block is $\operatorname{diag}(f_t)$: the cell's own path multiplies the gradient by
#   $f_t$ per step. Hochreiter & Schmidhuber (1997) truncated the gradient to that path alone;
#   full BPTT adds the paths through $h_{t-1}$, which at initialisation here add to it. The
#   forget-gate bias sets $f$, and with it how far back the first gradients reach.
#
# ## Exercises
#
# 1. Write `lstm_step` (section 4) and check it. Then write it again with
#    `.chunk(4, dim=-1)` instead of slices, and check that version too.
# 2. Set $f_t = 1$ and $i_t = 1$ in the LSTM equations. Which model of notebook 03 do you get?
#    What does the output gate still add?
# 3. Which gate would you remove first? Predict which of the three an LSTM misses least on
#    the adding problem, and which it misses most, then see the ablation in notebook 08.
# 4. A large forget bias has a price. With $f = \sigma(3) \approx 0.95$ and nothing new
#    written, how many steps does the cell need to forget a value down to 1% of it? Work it out
#    from $f^k = 0.01$, then check it with `forget_step` from section 1.
