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
# # 05 · The LSTM layer
#
# Notebook 04 built one LSTM *step*. A layer runs that step along a whole sequence, for a whole
# batch, possibly stacked several layers deep. This is what `nn.LSTM` does, and we build it by hand.
# Then we count its parameters and ask what "fewer parameters" can honestly mean.
#
# **What you will learn here**
# - unrolling the cell over time, and why our loop equals `course_lstm.LSTM` and `nn.LSTM`;
# - batches, `batch_first`, the initial states `(h0, c0)` and their shape `(num_layers, N, H)`;
# - truncated backpropagation through time: training on a long stream in chunks, with `detach`;
# - stacked layers, dropout between them, and what `output`, `h_n` and `c_n` hold;
# - counting parameters: $4\,(H(I+H) + 2H)$ per layer, about 4x an RNN of the same width;
# - what the claim "LSTMs capture long-term dependencies with fewer parameters" can and cannot mean.
#
# **Prerequisites**: notebook 01 (unrolling an RNN) and 04 (`lstm_step`: the gates i, f, g, o).
#
# **Time**: about 40 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_lstm import LSTM, experiments
from course_lstm.cells import lstm_step
from course_lstm.checks import check
from course_lstm.models import (
    SequenceModel,
    parameter_count,
    recurrent_parameter_count,
    width_for_budget,
)
from course_lstm.notebook import agree, compare, setup
from course_lstm.tasks import make_task

profile = setup(seed=0)


# %% [markdown]
# ## 1. Unrolling the cell over time
#
# `lstm_step` maps one input and one state to the next state; the package's version
# (`course_lstm.cells.lstm_step`, notebook 04) returns `LSTMStep(h, c, gates)`, and the loop below
# keeps $h$ and $c$. A layer applies the *same* step, with
# the *same* weights, at every time step $t = 1, \dots, T$, carrying the pair $(h, c)$ forward:
#
# $$(h_t, c_t) = \mathrm{lstm\_step}(x_t, h_{t-1}, c_{t-1};\ W_{ih}, W_{hh}, b_{ih}, b_{hh}),
# \qquad \text{output} = [h_1, h_2, \dots, h_T]$$
#
# with $x_t$: (N, I), $h_t, c_t$: (N, H), $W_{ih}$: (4H, I), $W_{hh}$: (4H, H), $b_{ih}, b_{hh}$: (4H,),
# and output: (T, N, H). Only $h_t$ is collected; $c_t$ stays inside the layer.

# %%
def unroll_lstm(xs, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """xs: (T, N, I); h0, c0: (N, H); weights as in lstm_step.
    Returns output (T, N, H) = h_1..h_T and the last state (h_T, c_L), each (N, H)."""
    h, c, output = h0, c0, []
    for x_t in xs:  # x_t: (N, I), one time step of the whole batch
        h, c, _gates = lstm_step(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
        output.append(h)
    return torch.stack(output), (h, c)


# %% [markdown]
# Now the same computation three ways: our loop, the course's `LSTM` layer, and `nn.LSTM` with the
# course layer's weights copied in (the parameter names and shapes are the same, so
# `load_state_dict` works). Everything in float64, so that "equal" means equal to rounding.

# %%
T, N, I, H = 6, 3, 4, 5
xs = torch.randn(T, N, I, dtype=torch.float64)
ours = LSTM(I, H, dtype=torch.float64)
theirs = nn.LSTM(I, H, dtype=torch.float64)
theirs.load_state_dict(ours.state_dict())

zeros = torch.zeros(N, H, dtype=torch.float64)
with torch.no_grad():
    out, (h_last, c_last) = unroll_lstm(xs, zeros, zeros, *ours.layer_weights(0))
    out_ours, (h_n_ours, c_n_ours) = ours(xs)
    out_torch, (h_n_torch, c_n_torch) = theirs(xs)

agree("output: loop vs LSTM", out, out_ours)
agree("h_n:    loop vs LSTM", h_last, h_n_ours[0])
agree("c_n:    loop vs LSTM", c_last, c_n_ours[0])
agree("output: loop vs nn.LSTM", out, out_torch)
agree("h_n:    loop vs nn.LSTM", h_last, h_n_torch[0])
agree("c_n:    loop vs nn.LSTM", c_last, c_n_torch[0])

# %% [markdown]
# The whole layer is a loop around `lstm_step`. `nn.LSTM` is faster, not different: it computes
# $W_{ih} x_t$ for all $t$ in one matrix product (it does not depend on $h$), and on a GPU it runs
# cuDNN's fused kernels; notebook 12 builds such a fast LSTM. From here on we use
# `course_lstm.LSTM`, which is this loop plus input checks.
#
# *Try*: set `T = 1`. Which of `output`, `h_n` and `c_n` now hold the same numbers, and which
# does not?

# %% [markdown]
# ## 2. Batches and `batch_first`
#
# As for the RNN in notebook 01, the batch only rides along: every matrix product works row by row,
# so sequence $n$ never sees sequence $m$. One sequence alone gives its slice of the batched run.

# %%
with torch.no_grad():
    alone = [ours(xs[:, n:n + 1])[0] for n in range(N)]  # each (T, 1, H)
agree("each sequence alone", torch.cat(alone, dim=1), out_ours)

# %% [markdown]
# With `batch_first=True` the layer takes and returns (N, T, I) / (N, T, H) and transposes to
# time-first inside. The states do **not** change layout: `h_n` and `c_n` stay
# `(num_layers, N, H)`, a classic surprise.

# %%
ours_bf = LSTM(I, H, batch_first=True, dtype=torch.float64)
ours_bf.load_state_dict(ours.state_dict())
with torch.no_grad():
    out_bf, (h_n_bf, c_n_bf) = ours_bf(xs.transpose(0, 1))  # input (N, T, I)
print(f"input {tuple(xs.transpose(0, 1).shape)} -> output {tuple(out_bf.shape)}, "
      f"h_n {tuple(h_n_bf.shape)}")
agree("batch_first output", out_bf.transpose(0, 1), out_ours)
assert h_n_bf.shape == (1, N, H), "h_n is (num_layers, N, H) even with batch_first"

# %% [markdown]
# *Try*: pass the time-first `xs` to `ours_bf`. Does it complain? What shape comes out, and what
# did the layer take for the batch and for time?

# %% [markdown]
# ## 3. Initial states $(h_0, c_0)$
#
# So far the loop started from zeros. A layer takes any starting state, one per layer and sequence:
#
# $$h_0, c_0:\ (\texttt{num\_layers}, N, H).$$
#
# Even with one layer the leading axis is there. Leaving the states out means zeros:

# %%
state0 = torch.zeros(1, N, H, dtype=torch.float64)
with torch.no_grad():
    out_zeros, _ = ours(xs, (state0, state0))
agree("h0 = c0 = 0 vs None", out_zeros, out_ours)

try:
    ours(xs, (zeros, zeros))  # (N, H): the layer axis is missing
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# What the initial state is *for*: continuing a sequence. The final state of one chunk is the
# initial state of the next, so a long sequence can be fed in pieces (this is how truncated
# backpropagation through time and streaming inference work). Two halves give the one-pass result:

# %%
with torch.no_grad():
    out_a, state_a = ours(xs[:3])          # steps 1..3, from zeros
    out_b, state_b = ours(xs[3:], state_a)  # steps 4..6, from where the first half ended
agree("two halves vs one pass", torch.cat([out_a, out_b]), out_ours)
agree("c_n of the halves", state_b[1], c_n_ours)

# %% [markdown]
# *Try*: pass `(state0, state0 + 1)` instead of `state_a` to the second half. Which outputs change,
# and does the difference shrink along the sequence?

# %% [markdown]
# ### Truncated backpropagation through time
#
# Above, the halves ran under `torch.no_grad()`, so nothing was trained. To *train* on a stream
# too long to unroll at once (a book, a sensor's day), cut it into chunks of $k$ steps and carry
# the state from chunk to chunk, as above, with one change: **detach** the carried state before
# the next chunk, `state = tuple(s.detach() for s in state)`. The values go on; the graph that
# made them is dropped. That one call is what makes the gradient *truncated*: each backward pass
# runs through the last $k$ steps only.
#
# Without it, the second chunk's graph reaches back into the first chunk's, whose buffers the
# first `backward()` has already freed:

# %%
stream = torch.randn(N, 4 * T, I, dtype=torch.float64)  # one long stream per sequence of the batch
chunks = stream.split(T, dim=1)  # four chunks of T steps, batch-first
layer = LSTM(I, H, batch_first=True, dtype=torch.float64)
state = None
try:
    for chunk in chunks[:2]:
        output, state = layer(chunk, state)  # state carried, but not detached
        output.pow(2).mean().backward()
except RuntimeError as error:
    print("RuntimeError at the second chunk:", str(error).split(".")[0])
    assert "backward through the graph a second time" in str(error)

# %% [markdown]
# What truncation buys is memory: autograd keeps the tensors a backward pass needs, and for a
# chunk that is a fixed amount per step, so memory grows with $k$, not with the stream. What it
# costs is reach: a target at step $t$ can only send gradient back to the inputs of its own
# chunk. A dependency longer than $k$ steps gets no gradient at all, however long the stream;
# the state still *carries* information across chunks, but nothing teaches the network to put
# it there. Both, measured. First the memory, counting the bytes autograd saves in one chunk's
# forward pass (`torch.autograd.graph.saved_tensors_hooks`):

# %%
def saved_bytes(core: torch.nn.Module, chunk: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of core(chunk)."""
    total = 0

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        core(chunk)
    return total


chunk_lengths = (10, 20, 40)
memory = {k: saved_bytes(LSTM(1, 32, batch_first=True), torch.randn(32, k, 1)) for k in chunk_lengths}
per_step = (memory[40] - memory[20]) / 20
for k in chunk_lengths:
    print(f"chunk of {k:2d} steps: {memory[k] / 1e6:.2f} MB saved for backward")
print(f"each further step of the chunk: {per_step / 1e3:.1f} kB")
assert memory[40] - memory[20] == 2 * (memory[20] - memory[10]), "memory grows linearly with k"

# %% [markdown]
# Then the reach, on a stream whose target is its own input `lag` steps ago,
# $y_t = x_{t - \text{lag}}$ ($x_t \sim \mathcal{N}(0, 1)$, so predicting 0 scores an MSE of 1).
# The same LSTM (32 units, `nn.LSTM`), optimiser and number of updates for every chunk length
# $k$; the state is carried and detached between chunks, and the held-out MSE is measured on a
# fresh stream:

# %% tags=["nbval-ignore-output"]
def delayed_stream(n: int, length: int, lag: int, generator: torch.Generator):
    """x (n, length, 1) standard normal; y (n, length, 1) = x shifted by lag steps (0 before)."""
    x = torch.randn(n, length, 1, generator=generator)
    y = torch.zeros_like(x)
    y[:, lag:] = x[:, :-lag]
    return x.to(profile.device), y.to(profile.device)


def train_truncated(k: int, lag: int, updates: int = 400, seed: int = 0) -> float:
    """Train on one long stream with chunks of k steps; the held-out MSE after lag steps."""
    torch.manual_seed(seed)
    core = nn.LSTM(1, 32, batch_first=True).to(profile.device)
    head = nn.Linear(32, 1).to(profile.device)
    optimiser = torch.optim.Adam([*core.parameters(), *head.parameters()], lr=1e-2)
    x, y = delayed_stream(32, updates * k, lag, torch.Generator().manual_seed(seed))
    state = None
    for x_chunk, y_chunk in zip(x.split(k, dim=1), y.split(k, dim=1)):
        output, state = core(x_chunk, state)
        loss = (head(output) - y_chunk).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        state = tuple(s.detach() for s in state)  # the truncation: the values go on, the graph not
    x_test, y_test = delayed_stream(32, 2000, lag, torch.Generator().manual_seed(1000 + seed))
    with torch.no_grad():
        output, _ = core(x_test)
        return (head(output)[:, lag:] - y_test[:, lag:]).pow(2).mean().item()


lag = 10
held_out = {k: train_truncated(k, lag) for k in (5, 10, 20, 40)}
for k, mse in held_out.items():
    print(f"chunks of k = {k:2d} steps (lag {lag}): held-out MSE {mse:.3f}")

# %%
assert min(held_out[5], held_out[10]) > 0.8, "with k <= lag no gradient links y_t to x_{t-lag}"
assert held_out[40] < 0.3, "with k = 4 lag the dependency is learned"

# %% [markdown]
# With $k \le$ `lag` the loss stays at the baseline: inside every chunk, $x_{t-\text{lag}}$ is
# in an earlier chunk, behind a detached state. With $k = 2\,$`lag` only half of each chunk's
# targets have their input in the same chunk, and with $k = 4\,$`lag` three quarters: the
# longer the chunk, the more of the signal gets a gradient. The rule of thumb is to pick $k$
# longer than the longest dependency to be learned, as memory allows. (Notebook 06 trains on
# whole sequences, so its lags are not limited this way; the cost there is memory and time.)

# %% [markdown]
# ## 4. Stacked layers
#
# One layer maps a sequence of inputs to a sequence of hidden states of the same length, so a second
# layer can read that sequence as *its* input. Layer $k$ has its own weights and state:
#
# $$h^{(1)}_t, c^{(1)}_t = \mathrm{lstm\_step}(x_t, h^{(1)}_{t-1}, c^{(1)}_{t-1};\ W^{(1)}),\qquad
# h^{(k)}_t, c^{(k)}_t = \mathrm{lstm\_step}(\mathrm{dropout}(h^{(k-1)}_t), h^{(k)}_{t-1}, c^{(k)}_{t-1};\ W^{(k)})$$
#
# so $W^{(1)}_{ih}$ is (4H, I) but $W^{(k)}_{ih}$ for $k > 1$ is (4H, H): layer $k$'s input size is H.
# Layer $k$ at time $t$ needs only layer $k-1$ at time $t$, so we may run layer 1 over the whole
# sequence first, then layer 2: the loop over layers goes outside the loop over time.

# %%
def stacked_lstm(xs, lstm, h0, c0):
    """xs: (T, N, I); lstm: a course_lstm.LSTM (its weights); h0, c0: (num_layers, N, H).
    Returns output (T, N, H) of the top layer and (h_n, c_n), each (num_layers, N, H). No dropout."""
    layer_input, h_n, c_n = xs, [], []
    for k in range(lstm.num_layers):
        layer_input, (h, c) = unroll_lstm(layer_input, h0[k], c0[k], *lstm.layer_weights(k))
        h_n.append(h)
        c_n.append(c)
    return layer_input, (torch.stack(h_n), torch.stack(c_n))


# %%
num_layers = 2
deep = LSTM(I, H, num_layers=num_layers, dtype=torch.float64)
deep_torch = nn.LSTM(I, H, num_layers=num_layers, dtype=torch.float64)
deep_torch.load_state_dict(deep.state_dict())
for name, parameter in deep.named_parameters():
    print(f"{name:<14} {tuple(parameter.shape)}")

h0 = torch.randn(num_layers, N, H, dtype=torch.float64)  # a non-zero start, to test that it is used
c0 = torch.randn(num_layers, N, H, dtype=torch.float64)
with torch.no_grad():
    out2, (h_n2, c_n2) = stacked_lstm(xs, deep, h0, c0)
    out2_torch, (h_n2_torch, c_n2_torch) = deep_torch(xs, (h0, c0))
print(f"output {tuple(out2.shape)}, h_n {tuple(h_n2.shape)}, c_n {tuple(c_n2.shape)}")
agree("2 layers: output", out2, out2_torch)
agree("2 layers: h_n", h_n2, h_n2_torch)
agree("2 layers: c_n", c_n2, c_n2_torch)
assert deep.weight_ih_l0.shape == (4 * H, I) and deep.weight_ih_l1.shape == (4 * H, H)

# %% [markdown]
# **Dropout between layers.** With `dropout=p`, layer $k$'s output is passed through dropout before
# layer $k+1$ reads it, and only in training mode. It is never applied to the input, nor to the top
# layer's output (add your own `nn.Dropout` there if you want it). So in training, layer 1's final
# state is untouched while layer 2's changes from call to call; in evaluation mode the layer is
# exactly the dropout-free one.

# %%
dropped = LSTM(I, H, num_layers=num_layers, dropout=0.5, dtype=torch.float64)
dropped.load_state_dict(deep.state_dict())
with torch.no_grad():
    dropped.train()
    _, (h_train1, _) = dropped(xs)
    _, (h_train2, _) = dropped(xs)
    dropped.eval()
    out_eval, (h_eval, _) = dropped(xs)
    out_plain, _ = deep(xs)
print(compare("layer 1: train vs eval", h_train1[0], h_eval[0]))
print(compare("layer 2: train vs train", h_train1[1], h_train2[1]))
print(compare("eval vs no dropout", out_eval, out_plain))
assert torch.equal(h_train1[0], h_eval[0]), "dropout must not touch layer 1"
assert not torch.allclose(h_train1[1], h_train2[1]), "dropout should change layer 2 in training"
assert torch.equal(out_eval, out_plain), "in eval mode dropout is off"

# %% [markdown]
# *Try*: set `num_layers = 3` and re-run the two cells above. What shape does `weight_ih_l2` have, and why
# not (4H, I)?

# %% [markdown]
# ## 5. What `output` and `h_n` hold
#
# The two results answer different questions, and mixing them up is a common bug:
#
# | result | shape | holds |
# | --- | --- | --- |
# | `output` | (T, N, H) | $h_t$ of the **top** layer, for **every** $t$ |
# | `h_n` | (num_layers, N, H) | the **last** $h_T$ of **every** layer |
# | `c_n` | (num_layers, N, H) | the last $c_T$ of every layer (it appears nowhere in `output`) |
#
# They overlap in one place: the top layer's last hidden state is both `output[-1]` and `h_n[-1]`.
# For a label per sequence, read `h_n[-1]`; for a label per step, read `output`.

# %%
print(f"output[-1] {tuple(out2[-1].shape)} and h_n[-1] {tuple(h_n2[-1].shape)}")
print(compare("output[-1] vs h_n[-1]", out2[-1], h_n2[-1]))
print(compare("output[-1] vs h_n[0]", out2[-1], h_n2[0]))
assert torch.equal(out2[-1], h_n2[-1])
assert not torch.allclose(out2[-1], h_n2[0]), "h_n[0] is layer 1's, not the top layer's"

# %% [markdown]
# *Try*: compare `out2[0]`, the top layer's first step, with anything in `h_n2`. Why is there no
# match?

# %% [markdown]
# (With `batch_first=True` the same last step is `output[:, -1]`. With sequences of different
# lengths, packed, `output[-1]` is padding for the short ones and `h_n[-1]` is right: notebook 07.)
#
# ## 6. Unbatched input
#
# A single sequence may be passed without a batch axis: input (T, I), output (T, H), and states
# (num_layers, H). It is exactly a batch of one with the axis removed.

# %%
with torch.no_grad():
    out_single, (h_n_single, _) = deep(xs[:, 0])  # (T, I)
print(f"input {tuple(xs[:, 0].shape)} -> output {tuple(out_single.shape)}, "
      f"h_n {tuple(h_n_single.shape)}")
agree("unbatched vs batch of 1", out_single, out_plain[:, 0])
assert out_single.shape == (T, H) and h_n_single.shape == (num_layers, H)

# %% [markdown]
# ## 7. Counting parameters
#
# A layer's weights are the four gate blocks of `lstm_step`, stacked: per layer
#
# $$\underbrace{4H \cdot I}_{W_{ih}:\ (4H,\,I)} + \underbrace{4H \cdot H}_{W_{hh}:\ (4H,\,H)}
# + \underbrace{4H + 4H}_{b_{ih},\ b_{hh}:\ (4H,)} \;=\; 4\,\big(H(I+H) + 2H\big),$$
#
# where $I$ is the input size for layer 1 and $I = H$ for every layer above it. An RNN layer is one
# such block, $H(I+H) + 2H$; a GRU layer three (r, z, n). The count does not depend on the sequence
# length $T$: the same weights serve every step.
#
# **Exercise.** Write `lstm_parameter_count(input_size, hidden_size, num_layers)`: the number of
# parameters of `nn.LSTM(input_size, hidden_size, num_layers)`, from the formula, without building
# the layer.

# %% tags=["solution"]
def lstm_parameter_count(input_size: int, hidden_size: int, num_layers: int) -> int:
    """Parameters of nn.LSTM(input_size, hidden_size, num_layers) with biases: per layer
    W_ih (4H, I_k), W_hh (4H, H), b_ih and b_hh (4H,), where I_0 = input_size and I_k = H above."""
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size
        total += 4 * (hidden_size * (layer_input + hidden_size) + 2 * hidden_size)
    return total


# %%
check("lstm_parameter_count", lstm_parameter_count)

# %% [markdown]
# The formula against what PyTorch allocates, `sum(p.numel() for p in lstm.parameters())`, and
# the RNN and GRU formulas against `nn.RNN` and `nn.GRU`:

# %%
lines = [f"{'I':>4}{'H':>5}{'layers':>7}  {'formula':>9}{'nn.LSTM':>9}{'nn.RNN':>9}{'nn.GRU':>9}{'LSTM/RNN':>10}"]
for i, h, d in [(1, 1, 1), (2, 16, 1), (10, 20, 2), (32, 128, 3), (300, 512, 2)]:
    counts = {kind: sum(p.numel() for p in module(i, h, num_layers=d).parameters())
              for kind, module in (("lstm", nn.LSTM), ("rnn", nn.RNN), ("gru", nn.GRU))}
    lines.append(f"{i:>4}{h:>5}{d:>7}  {lstm_parameter_count(i, h, d):>9}{counts['lstm']:>9}"
                 f"{counts['rnn']:>9}{counts['gru']:>9}{counts['lstm'] / counts['rnn']:>10.2f}")
    assert lstm_parameter_count(i, h, d) == counts["lstm"]
    assert counts["lstm"] == 4 * counts["rnn"] and counts["gru"] == 3 * counts["rnn"]
print("\n".join(lines))

# %% [markdown]
# The ratio is exactly 4 at every size, because every term of the LSTM's count is four times the
# RNN's. One more honest detail: $b_{ih}$ and $b_{hh}$ are only ever added together, so $4H$ of each
# layer's parameters are redundant (PyTorch keeps both for compatibility with cuDNN). Moving
# $b_{hh}$ into $b_{ih}$ changes nothing:

# %%
merged = LSTM(I, H, dtype=torch.float64)
merged.load_state_dict(ours.state_dict())
with torch.no_grad():
    merged.bias_ih_l0 += merged.bias_hh_l0
    merged.bias_hh_l0.zero_()
    out_merged, _ = merged(xs)
agree("b_hh moved into b_ih", out_merged, out_ours)

# %% [markdown]
# How the counts grow with width: quadratically in $H$ (the $H \cdot H$ term), and the three
# curves keep their ratios 1 : 3 : 4, parallel lines on a log-log plot. The dotted line is the
# budget of an LSTM as wide as this profile's models: see where the RNN curve crosses it.

# %%
task = make_task("adding", profile.probe_lag)  # the task of the experiment below: I = 2, O = 1
widths = np.unique(np.geomspace(4, 1024, 25).astype(int))
fig, ax = plt.subplots()
for kind, label in (("lstm", "LSTM (4 blocks)"), ("gru", "GRU (3 blocks)"), ("rnn", "RNN (1 block)")):
    counts = [recurrent_parameter_count(kind, task.input_size, int(h)) for h in widths]
    ax.plot(widths, counts, marker=".", label=label)
lstm_layer = recurrent_parameter_count("lstm", task.input_size, profile.hidden_size)
ax.axhline(lstm_layer, color="gray", linestyle=":",
           label=f"budget of the LSTM with H = {profile.hidden_size}")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.xaxis.set_major_formatter(plt.ScalarFormatter())
ax.set_xlabel("hidden size H (units)")
ax.set_ylabel("parameters of one layer")
ax.set_title(f"At equal width an LSTM layer has 4x an RNN's parameters (I = {task.input_size})")
ax.legend()
plt.show()

# %% [markdown]
# ## 8. The RNN as wide as an LSTM's budget
#
# To compare an LSTM with an RNN fairly, give both the same number of parameters. Whole models
# here are a recurrent layer plus a linear readout to the task's $O$ outputs (`SequenceModel`). For
# large $H$ only the $H^2$ terms matter, and $4H^2 = H'^2$ gives $H' \approx 2H$: the RNN of equal
# budget is about twice as wide. `width_for_budget` finds the largest width that fits exactly.

# %%
lstm_model = SequenceModel("lstm", task.input_size, profile.hidden_size, task.output_size)
budget = parameter_count(lstm_model)
wide = width_for_budget("rnn", task.input_size, task.output_size, budget)


def rnn_model_count(hidden: int) -> int:
    return parameter_count(SequenceModel("rnn", task.input_size, hidden, task.output_size))


print(f"LSTM, H = {profile.hidden_size}: {budget} parameters")
print(f"RNN,  H = {profile.hidden_size}: {rnn_model_count(profile.hidden_size)} parameters (equal width)")
print(f"RNN,  H = {wide}: {rnn_model_count(wide)} parameters (equal budget; "
      f"H = {wide + 1} would need {rnn_model_count(wide + 1)})")
assert rnn_model_count(wide) <= budget < rnn_model_count(wide + 1)
assert 1.8 < wide / profile.hidden_size < 2.3, "the equal-budget RNN is about twice as wide"

# %% [markdown]
# *Try*: replace `profile.hidden_size` by 256. How close to 2 does the width ratio get?

# %% [markdown]
# ## 9. "Long-term dependencies with fewer parameters"?
#
# This course's claims ledger (notebook 00) lists it as claim 4. It has two readings.
#
# **Against a model that sees a window.** The usual meaning: a feed-forward network that must
# see the last `lag` inputs at once (an MLP on a window, a time-delay network) needs weights for
# every step of the window, so its parameter count grows with the lag. A recurrent layer applies
# the same weights at every step: its count does not depend on the lag at all. Counted, for one
# hidden layer of $H$ units on inputs of $I$ features:

# %%
I_window, H_window = 2, 32
lstm_count = sum(p.numel() for p in nn.LSTM(I_window, H_window).parameters())  # no lag in it
print(f"{'lag':>6}{'MLP on the window':>20}{'LSTM':>8}")
for window in (10, 100, 1000):
    mlp_count = window * I_window * H_window + H_window  # first layer: every step of the window
    print(f"{window:>6}{mlp_count:>20}{lstm_count:>8}")
assert 1000 * I_window * H_window > 10 * lstm_count

# %% [markdown]
# In that reading the claim holds by construction once the lag is long (at short lags the window
# model is the smaller one), and it is the reason recurrent models exist.
#
# **Against an RNN.** Counting settles half of it: at equal width an LSTM has **4x** the
# parameters of an RNN, not fewer. So in this reading the claim can only mean one of these:
#
# 1. to solve a task with long lags, an RNN needs *more* parameters than an LSTM does, i.e. even an
#    RNN given the LSTM's budget (twice as wide) fails where the LSTM succeeds;
# 2. or no RNN of any affordable size solves it at all.
#
# Neither follows from a formula; both are experimental claims. And an LSTM that beats an RNN of
# the same width proves nothing about parameters: it had four times as many. The fair experiment
# trains three models on the adding problem: the LSTM, an RNN of the same width (a quarter of the
# parameters), and an RNN of the same budget. Here is a preview at one lag, the profile's
# `probe_lag` (the full experiment sweeps every lag and seed):

# %% tags=["nbval-ignore-output"]
preview = experiments.run_experiment("equal_budget", profile, progress=False, lags=(profile.probe_lag,))
table = experiments.success_table(preview["rows"])
print(experiments.format_table(table))

# %%
params = {entry["model"]: entry["parameters"] for entry in table}
print(f"equal-budget RNN / LSTM parameters: {params['RNN (equal budget)'] / params['LSTM']:.3f}")
print(f"equal-width RNN / LSTM parameters:  {params['RNN (equal width)'] / params['LSTM']:.3f}")
assert params["LSTM"] == budget
assert 0.9 * params["LSTM"] <= params["RNN (equal budget)"] <= params["LSTM"]
assert 0.2 < params["RNN (equal width)"] / params["LSTM"] < 0.3

# %% [markdown]
# *solved*: the held-out loss fell below a tenth of the best memoryless guess's (training then
# stops); *accuracy*: the fraction of held-out answers within 0.04 of the true sum, a stricter test.
# Read this table as a preview, not as evidence: in the `ci` profile it is two seeds, one lag
# and at most 800 training steps, too little to conclude anything about long-term dependencies
# or about parameters. Notebook 09 runs the full sweep (several lags and seeds, and the shipped
# GPU-scale results) and reports what it finds, including where it qualifies the claim.

# %% [markdown]
# ## Summary
#
# - An LSTM layer is `lstm_step` in a loop over time, carrying $(h, c)$; our loop equals
#   `course_lstm.LSTM` and `nn.LSTM` to float64 rounding.
# - Sequences in a batch never interact. `batch_first` changes the layout of input and output only;
#   `h0, c0, h_n, c_n` are always (num_layers, N, H). Chaining states continues a sequence.
# - Stacked layers feed layer $k$'s output sequence to layer $k+1$; dropout acts between layers, in
#   training only. `output` is the top layer at every step; `h_n` is every layer at the last step;
#   `output[-1] == h_n[-1]`.
# - Parameters: $4\,(H(I+H) + 2H)$ per layer, with $I = H$ above the first: exactly 4x an RNN of the
#   same width (GRU: 3x). An RNN with the LSTM's budget is about twice as wide.
# - "Fewer parameters": against a model that sees a window, a recurrent layer's count does not
#   grow with the lag. Against an RNN it is false at equal width; it can only mean that an RNN
#   needs more parameters to solve the same long-lag task, which takes the equal-budget
#   experiment of notebook 09.
# - Truncated BPTT trains on a long stream in chunks of $k$ steps, carrying the state and
#   detaching it between chunks: memory grows with $k$, and no dependency longer than $k$ gets
#   a gradient.
#
# ## Exercises
#
# 1. Write `lstm_parameter_count(input_size, hidden_size, num_layers)` (the checked exercise above)
#    without looking at the solution, then break it on purpose (one bias vector instead of two, or
#    I in place of H above the first layer) and read what `check` says.
# 2. Count the parameters of `nn.LSTM(I, H, bias=False)` and of `nn.GRU(I, H, num_layers=2)` by
#    hand for I = 10, H = 20, and verify with `sum(p.numel() for p in module.parameters())`.
# 3. An LSTM with I = 10, H = 64 and a readout to 5 outputs: solve the quadratic
#    $H'^2 + (I + 2 + O) H' + O \le \text{budget}$ for the RNN width $H'$ by hand, and compare with
#    `width_for_budget("rnn", 10, 5, budget)`.
# 4. Extend `stacked_lstm` with dropout between layers (`torch.nn.functional.dropout`, training
#    only) and check that in evaluation mode it still equals `nn.LSTM`.
