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
# # 10 · Going further: GRU, variants, and what came after
#
# The LSTM of notebooks 04–09 is one design among several. Here we build its best-known
# sibling, the GRU, and race the two on the same task; add the two variants you will meet in
# papers and code, peephole connections and bidirectional layers; see when to hand the loop to
# `nn.LSTM`'s fused kernels; and place recurrent networks next to the model that replaced them in
# most of language processing, the Transformer, and next to the linear recurrences that brought
# them back.
#
# **What you will learn here**
# - the GRU from its gates: three blocks instead of four, one state instead of two; your
#   `gru_step` equals `nn.GRUCell`, and `course_lstm.GRU` equals `nn.GRU` (outputs and gradients);
# - GRU against LSTM at the same width on the adding problem, and what larger studies found;
# - peepholes (gates that read the cell) and bidirectional layers (a second LSTM reading
#   backwards), each built from pieces you have and checked against the reference;
# - when to use `nn.LSTM` (oneDNN on a CPU, cuDNN on a GPU) and when a hand-written loop;
# - where Transformers took over, where recurrent networks still serve, and why a *linear*
#   recurrence (S4, Mamba, RWKV, xLSTM) trains in parallel.
#
# **Prerequisites**: notebooks 04 and 05 (`lstm_step`, the stacked gate weights, `nn.LSTM`'s
# shapes) and 06 (the adding problem and what "solved" means). Notebook 07 (packing) helps for
# section 4, notebook 12 (the fast LSTM) for section 5.
#
# **Time**: about 50 minutes. Executing the notebook takes under a minute in the `ci`
# profile and a few minutes in the `cpu` profile on 2 cores (`tools/execute_notebooks.py` prints the
# time it took).

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_lstm import GRU, LSTM, cells, experiments, pack, plots, results, study
from course_lstm.bench import OperatorLog, nn_lstm_kernel
from course_lstm.checks import check
from course_lstm.models import parameter_count, set_forget_bias
from course_lstm.notebook import agree, compare, setup
from course_lstm.tasks import make_task

profile = setup(seed=0)

# %% [markdown]
# ## 1. The GRU, gate by gate
#
# An LSTM step computes four blocks and carries two states, $h$ and $c$. Cho et al. (2014)
# proposed a leaner gated unit, now called the *gated recurrent unit* (GRU): one state, the
# forget and input gates merged into a single *update gate* $z$, no output gate. In `torch.nn`'s
# form:
#
# $$
# \begin{aligned}
# r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) && \text{reset gate} \\
# z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) && \text{update gate} \\
# n &= \tanh\big(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})\big) && \text{candidate} \\
# h' &= (1 - z) \odot n + z \odot h
# \end{aligned}
# $$
#
# $x$: (N, I); $h$, $r$, $z$, $n$, $h'$: (N, H); each $W_{i\cdot}$: (H, I); each $W_{h\cdot}$:
# (H, H); each bias: (H,). As for the LSTM, `torch.nn` stacks the blocks: `weight_ih` is (3H, I),
# `weight_hh` (3H, H), `bias_ih` and `bias_hh` (3H,), in the order r, z, n.
#
# Read the last line as the LSTM's cell update with its gates tied together: $z$ plays the forget
# gate (the share of the old state kept; $z = 1$ copies $h$ unchanged, the constant error carousel
# of notebook 03) and $1 - z$ the input gate. A GRU can only write as much as it forgets.
#
# Two details differ between sources, and code that mixes them up runs without an error:
# - **Where $r$ acts.** `torch.nn` (like cuDNN) multiplies $r$ *after* the matrix product,
#   $r \odot (W_{hn} h + b_{hn})$. Cho et al. (2014) applied it *before*, $W_{hn} (r \odot h)$.
#   These are two different functions, not two notations. `torch.nn`'s form lets one product
#   $W_{hh} h$ give all three blocks at once; the paper's form must wait for $r$ before its
#   product.
#   (ONNX names the choice `linear_before_reset`.)
# - **Which way $z$ points.** Some papers (Chung et al. 2014) write
#   $h' = (1 - z) \odot h + z \odot n$. That is the same model with $z$ and $1 - z$ swapped
#   (negate $z$'s weights and bias).
#
# **Exercise.** Write `gru_step(x, h, W_ih, W_hh, b_ih, b_hh)` in `torch.nn`'s form, from the
# stacked weights.

# %% tags=["solution"]
def gru_step(x: torch.Tensor, h: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
             b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One GRU step as in torch.nn. x: (N, I); h: (N, H); W_ih: (3H, I) and W_hh: (3H, H), their
    row blocks r, z, n; b_ih, b_hh: (3H,). Returns h': (N, H)."""
    rx, zx, nx = F.linear(x, W_ih, b_ih).chunk(3, dim=-1)  # input side, each (N, H)
    rh, zh, nh = F.linear(h, W_hh, b_hh).chunk(3, dim=-1)  # recurrent side, each (N, H)
    r = torch.sigmoid(rx + rh)
    z = torch.sigmoid(zx + zh)
    n = torch.tanh(nx + r * nh)  # r after the product
    return (1 - z) * n + z * h


# %%
check("gru_step", gru_step)

# %% [markdown]
# Your step against `nn.GRUCell` and the course's `cells.gru_step`, on the same weights, in
# float64 so that "equal" means equal to rounding:

# %%
N, I, H = 4, 3, 5
cell = nn.GRUCell(I, H, dtype=torch.float64)
x, h = torch.randn(N, I, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64)
weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
with torch.no_grad():
    h_next = gru_step(x, h, *weights)
    agree("gru_step vs nn.GRUCell", h_next, cell(x, h))
    agree("gru_step vs course_lstm", h_next, cells.gru_step(x, h, *weights))

# %% [markdown]
# `course_lstm.GRU` unrolls `cells.gru_step` over time, like `course_lstm.LSTM` in notebook 05,
# with `nn.GRU`'s parameter names and shapes. Two stacked layers, a non-zero initial state, and
# the gradients of every parameter:

# %%
L, D = 6, 2
ours = GRU(I, H, num_layers=D, dtype=torch.float64)
theirs = nn.GRU(I, H, num_layers=D, dtype=torch.float64)
theirs.load_state_dict(ours.state_dict())
xs, h0 = torch.randn(L, N, I, dtype=torch.float64), torch.randn(D, N, H, dtype=torch.float64)
measured = []
for module in (ours, theirs):
    output, h_n = module(xs, h0)  # output (L, N, H); h_n (D, N, H): no c_n, a GRU has one state
    gradients = torch.autograd.grad(output.square().sum(), list(module.parameters()))
    measured.append((output, h_n, torch.cat([g.flatten() for g in gradients])))
for what, a, b in zip(("output", "h_n", "gradients"), *measured):
    agree(f"GRU vs nn.GRU: {what}", a, b)

# %% [markdown]
# Three blocks where the LSTM has four: at the same width, a GRU has exactly 3/4 of an LSTM's
# parameters, at any size and depth.

# %%
for i, h_size, layers in [(2, 32, 1), (10, 128, 2)]:
    n_gru = parameter_count(nn.GRU(i, h_size, num_layers=layers))
    n_lstm = parameter_count(nn.LSTM(i, h_size, num_layers=layers))
    print(f"I = {i:>2}, H = {h_size:>3}, {layers} layer(s): GRU {n_gru:>7}, LSTM {n_lstm:>7}, "
          f"ratio {n_gru / n_lstm:.2f}")
    assert 4 * n_gru == 3 * n_lstm
assert parameter_count(ours) == parameter_count(theirs)

# %% [markdown]
# **One state, bounded.** $h'$ is a weighted average of $n \in (-1, 1)$ and $h$, so a GRU that
# starts inside $(-1, 1)$ never leaves it. The LSTM's cell is a sum, $c_t = f_t \odot c_{t-1} +
# i_t \odot g_t$: with its forget gate near 1 and the same input at every step, it counts. Weiss
# et al. (2018) showed that LSTMs learn such counters (to recognise $a^n b^n$, for example) and
# that GRUs, whose state is bounded, cannot. Both models below have random weights; the LSTM
# gets forget bias 5 ($f \approx 0.99$).

# %%
T_count, H_count = 100, 4
ones = torch.ones(T_count, 1, 1)  # (L, N = 1, I = 1): the same input at every step
lstm_counter, gru_counter = LSTM(1, H_count), GRU(1, H_count)
set_forget_bias(lstm_counter, 5.0)
h_c = c = torch.zeros(1, H_count)
cell_states = []
with torch.no_grad():
    for x_t in ones:  # step by step, to keep c_t, which nn.LSTM does not return
        h_c, c, _ = cells.lstm_step(x_t, h_c, c, *lstm_counter.layer_weights(0))
        cell_states.append(c[0])
    gru_states, _ = gru_counter(ones)  # (L, 1, H)
cell_states, gru_states = torch.stack(cell_states), gru_states[:, 0]
print(f"largest |c_t| of the LSTM: {cell_states.abs().max():.1f}; "
      f"largest |h_t| of the GRU: {gru_states.abs().max():.2f}")
assert gru_states.abs().max() < 1 < 2 < cell_states.abs().max()

# %%
fig, ax = plt.subplots()
steps = range(1, T_count + 1)
for unit in range(H_count):
    ax.plot(steps, gru_states[:, unit], color="C0", label="GRU state $h_t$" if unit == 0 else None)
    ax.plot(steps, cell_states[:, unit], color="C1",
            label="LSTM cell $c_t$ (forget bias 5)" if unit == 0 else None)
ax.axhspan(-1, 1, color="0.9", label="(-1, 1)")
ax.set_xlabel("time step t (the same input at every step)")
ax.set_ylabel("state value, one line per unit")
ax.set_title("The LSTM's cell can count; the GRU's state stays inside (-1, 1)")
ax.legend()
plt.show()

# %% [markdown]
# *Try*: set the forget bias to 0 ($f \approx 0.5$). How large does the cell get now, and why
# is it about $i \cdot g / (1 - f)$?

# %% [markdown]
# ## 2. GRU against LSTM on the same task
#
# Fewer parameters and no separate cell: does the GRU lose anything on the tasks of notebook 06?
#
# The course's mechanisms study asked it first, with notebook 06's protocol: the GRU tuned over
# the RNN's grid (PyTorch's, an orthogonal and an identity $W_{hh}$, each at two learning rates),
# the LSTM over its own (forget bias 0, 1 and chrono), the same budget for both, then five fresh
# evaluation seeds each, on the adding problem at a lag where notebook 06's tuned RNN and LSTM
# part:

# %%
gru_study = study.report("gru")
if gru_study is not None:
    plots.experiment_figure(gru_study.summary, "GRU against LSTM, each tuned over its own grid",
                            note=gru_study.provenance)
    plt.show()

# %% [markdown]
# The p-value asks whether the LSTM solves *more often* than the GRU; a large one says only that
# these seeds show no such advantage, not that the two are equal.
#
# Now your own run, in this profile. The experiment `gru_comparison` trains a GRU and an LSTM (forget bias 1, as in notebook 06) of
# the same width, `profile.hidden_size`, on the adding problem at each of the profile's lags, with
# `profile.seeds` seeds each, the same training steps and learning rate. The experiment also runs
# the copy task; we leave it out here (`copy_lags=()`): at the `ci` and `cpu` scales neither model
# solves it, and it would triple the time. Exercise 4 runs it.

# %% tags=["nbval-ignore-output"]
comparison = experiments.run_experiment("gru_comparison", profile, progress=False, copy_lags=())
table = experiments.success_table(comparison["rows"])
print(experiments.format_table(table))

# %%
fig = plots.success_figure(comparison["rows"], "Both gated models solve the adding problem here",
                           note=f"{profile.name} profile, this run")
plt.show()

# %% [markdown]
# In this run both solve it at the probe lag and below (asserted further down), so the fraction
# solved cannot tell them apart there. How fast they got there can: here are the held-out losses during training at the
# profile's probe lag, one line per seed. (Training stops at the first evaluation below the
# threshold.)

# %%
probe = make_task("adding", profile.probe_lag)
fig, ax = plt.subplots()
for row in comparison["rows"]:
    if row["lag"] == profile.probe_lag:
        colour = "C0" if row["label"] == "GRU" else "C1"
        label = f"{row['label']} ({row['parameters']} parameters)" if row["seed"] == 0 else None
        ax.plot(row["eval_step"], row["eval_loss"], color=colour, marker=".", label=label)
ax.axhline(probe.solved_threshold, color="gray", linestyle=":", label="solved below this")
ax.axhline(probe.baseline, color="gray", linestyle="--", label="memoryless baseline")
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("held-out loss (MSE)")
ax.set_title(f"Adding problem, T = {profile.probe_lag}: the GRU reaches the threshold first")
ax.legend()
plt.show()

# %% [markdown]
# The claims, checked on this run: at every lag up to the probe lag both models solved at least
# half of their runs, and, over those lags, the GRU's median number of steps to solve is below
# the LSTM's.

# %% tags=["nbval-ignore-output"]
def median_steps_to_solve(label: str) -> int:
    """Median training steps to solve, over the runs of `label` that solved, lags <= probe lag."""
    steps = sorted(row["solved_at"] for row in comparison["rows"]
                   if row["label"] == label and row["solved"] and row["lag"] <= profile.probe_lag)
    return steps[len(steps) // 2]


median = {label: median_steps_to_solve(label) for label in ("GRU", "LSTM")}
print(f"median steps to solve, lags up to {profile.probe_lag}: "
      f"GRU {median['GRU']}, LSTM {median['LSTM']}")
for entry in table:
    if entry["lag"] <= profile.probe_lag:
        assert entry["success_rate"] >= 0.5, f"{entry['model']} failed at T = {entry['lag']}"
assert median["GRU"] < median["LSTM"], "the GRU solved the adding problem in fewer steps"

# %% [markdown]
# Steps are not seconds. On a CPU, `nn.GRU` runs a loop of small operations for every step
# while `nn.LSTM` hands the whole sequence to one oneDNN call (section 5), so a GRU step can take
# *longer* than an LSTM step despite its fewer parameters. The time per training step on the
# machine that ran this cell (it depends on the machine and its load, so CI does not compare it):

# %% tags=["nbval-ignore-output"]
for label in ("GRU", "LSTM"):
    runs = [row for row in comparison["rows"] if row["label"] == label]
    per_step = sum(row["seconds"] for row in runs) / sum(row["steps"] for row in runs)
    print(f"{label}: {1e3 * per_step:.1f} ms per training step (evaluations included)")

# %% [markdown]
# One task at one scale is not a verdict, and larger studies found no consistent winner. Chung
# et al. (2014) found the GRU and the LSTM comparable on music and speech modelling, both far
# better than a tanh RNN. Jozefowicz et al. (2015), after evaluating over ten thousand
# architectures, found the GRU ahead of the LSTM on most of their tasks but not on language
# modelling, and an LSTM with forget bias 1 closing most of the gap. The task decides: counting
# favours the LSTM's unbounded cell (section 1); on the adding problem at this scale, the GRU got
# there first. (Each model had its usual initialisation: the LSTM forget bias 1, the GRU its
# default, $z \approx 0.5$ at the start.) For the tanh RNN on the same lags, see notebook 06.

# %% [markdown]
# *Try*: add `hidden_size=16` to the `run_experiment` call (it overrides the profile's width for
# both models). Does the GRU still reach the threshold first? And with `lr=3e-3`?

# %% [markdown]
# ## 3. Peepholes: gates that look at the cell
#
# In the LSTM of notebook 04 the gates see the cell only through
# $h_{t-1} = o_{t-1} \odot \tanh(c_{t-1})$: while the output gate is closed they are blind to
# what the cell holds. Gers & Schmidhuber (2000) added *peephole connections*, a direct path
# from each unit's cell to its own gates:
#
# $$
# \begin{aligned}
# i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + p_i \odot c_{t-1}) \\
# f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + p_f \odot c_{t-1}) \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t \qquad (g_t \text{ as in notebook 04}) \\
# o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + p_o \odot c_t) \\
# h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# $p_i, p_f, p_o$: (H,), one weight per unit (a diagonal matrix: unit $j$'s gates see only unit
# $j$'s cell); everything else as in notebook 04. The output gate reads the *new* cell $c_t$.
# That is $3H$ parameters more per layer.

# %%
def peephole_lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh, p_i, p_f, p_o):
    """x: (N, I); h, c: (N, H); W_ih: (4H, I), W_hh: (4H, H), b_ih, b_hh: (4H,), blocks i, f, g, o;
    p_i, p_f, p_o: (H,). Returns (h', c'), each (N, H)."""
    a_i, a_f, a_g, a_o = (F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)).chunk(4, dim=-1)
    i = torch.sigmoid(a_i + p_i * c)
    f = torch.sigmoid(a_f + p_f * c)
    c_next = f * c + i * torch.tanh(a_g)
    o = torch.sigmoid(a_o + p_o * c_next)  # the new cell
    return o * torch.tanh(c_next), c_next


# %% [markdown]
# With all three peephole weights zero it must be the LSTM step of notebook 04; with non-zero
# ones it is not:

# %%
lstm_cell = nn.LSTMCell(I, H, dtype=torch.float64)
lstm_weights = (lstm_cell.weight_ih, lstm_cell.weight_hh, lstm_cell.bias_ih, lstm_cell.bias_hh)
c = torch.randn(N, H, dtype=torch.float64)
zero, peep = torch.zeros(H, dtype=torch.float64), torch.randn(3, H, dtype=torch.float64)
with torch.no_grad():
    reference = cells.lstm_step(x, h, c, *lstm_weights)
    h_zero, c_zero = peephole_lstm_step(x, h, c, *lstm_weights, zero, zero, zero)
    h_peep, _ = peephole_lstm_step(x, h, c, *lstm_weights, *peep)
agree("p = 0: h' vs lstm_step", h_zero, reference.h)
agree("p = 0: c' vs lstm_step", c_zero, reference.c)
print(compare("p != 0: h' vs lstm_step", h_peep, reference.h))
assert not torch.allclose(h_peep, reference.h)

# %% [markdown]
# `nn.LSTM` has no peepholes: cuDNN's and oneDNN's fused kernels implement the peephole-free cell,
# so a peephole LSTM in PyTorch is a loop like this one. Little is lost: Greff et al. (2017)
# compared eight LSTM variants on speech, handwriting and music, and found that removing the
# peepholes did not significantly hurt, nor did coupling the input and forget gates (the GRU's
# trick); removing the forget gate or the output activation did.
#
# *Try*: keep only the output gate's peephole: pass `zero, zero, peep[2]`. Is $c'$ still equal to
# `lstm_step`'s? Why, from the order of the equations?

# %% [markdown]
# ## 4. Bidirectional layers: a second LSTM that reads backwards
#
# Every layer so far reads $x_1, \dots, x_L$ in order, so $h_t$ knows only the past. When the whole
# sequence is there before any output is needed (tagging each word of a sentence, classifying a
# recording), a second LSTM with its own weights can read it from the end, and the two are
# concatenated at each step (Schuster & Paliwal 1997; with LSTMs, Graves & Schmidhuber 2005):
#
# $$\overrightarrow{h}_t = \mathrm{LSTM}_{\rightarrow}(x_t, \overrightarrow{h}_{t-1}), \qquad
# \overleftarrow{h}_t = \mathrm{LSTM}_{\leftarrow}(x_t, \overleftarrow{h}_{t+1}), \qquad
# \text{output}_t = [\overrightarrow{h}_t;\ \overleftarrow{h}_t]$$
#
# $x_t$: (N, I); each direction's $h_t$, $c_t$: (N, H); output: (L, N, 2H). `h_n` and `c_n`:
# (2, N, H) for one layer, each direction's *last* state: $\overrightarrow{h}_L$ and
# $\overleftarrow{h}_1$ (the backward direction ends at step 1).

# %%
def bidirectional_lstm(xs, forward_lstm, backward_lstm):
    """xs: (L, N, I); two one-layer, one-direction LSTMs. Returns output (L, N, 2H) and
    (h_n, c_n), each (2, N, H): forward direction first."""
    out_f, (h_f, c_f) = forward_lstm(xs)
    out_b, (h_b, c_b) = backward_lstm(xs.flip(0))  # reads x_L, ..., x_1
    output = torch.cat([out_f, out_b.flip(0)], dim=-1)  # flip back: row t holds both h_t
    return output, (torch.cat([h_f, h_b]), torch.cat([c_f, c_b]))


# %% [markdown]
# `nn.LSTM(bidirectional=True)` stores the backward direction's weights under the same names with
# `_reverse` appended, so two `course_lstm.LSTM` layers load into it:

# %%
forward_lstm, backward_lstm = LSTM(I, H, dtype=torch.float64), LSTM(I, H, dtype=torch.float64)
both = nn.LSTM(I, H, bidirectional=True, dtype=torch.float64)
both.load_state_dict({**forward_lstm.state_dict(),
                      **{f"{name}_reverse": value
                         for name, value in backward_lstm.state_dict().items()}})
print("nn.LSTM(bidirectional=True):", ", ".join(name for name, _ in both.named_parameters()))

with torch.no_grad():
    out_ours, (h_n_ours, c_n_ours) = bidirectional_lstm(xs, forward_lstm, backward_lstm)
    out_torch, (h_n_torch, c_n_torch) = both(xs)
print(f"input {tuple(xs.shape)} -> output {tuple(out_torch.shape)}, h_n {tuple(h_n_torch.shape)}")
agree("bidirectional: output", out_ours, out_torch)
agree("bidirectional: h_n", h_n_ours, h_n_torch)
agree("bidirectional: c_n", c_n_ours, c_n_torch)
assert out_torch.shape == (L, N, 2 * H) and h_n_torch.shape == (2, N, H)

# %% [markdown]
# **It reads the future.** Change only the *last* input and look at the output at the *first*
# step: a one-way LSTM cannot notice, the bidirectional one does.

# %%
changed = xs.clone()
changed[-1] += 1.0  # only x_L changes
with torch.no_grad():
    one_way_before, one_way_after = forward_lstm(xs)[0][0], forward_lstm(changed)[0][0]
    both_after = both(changed)[0][0]
print(compare("one-way output_1", one_way_after, one_way_before))
print(compare("bidirectional output_1", both_after, out_torch[0]))
assert torch.equal(one_way_after, one_way_before)
assert not torch.allclose(both_after, out_torch[0])

# %% [markdown]
# So a bidirectional layer is for tasks that see the whole sequence before answering. A
# forecaster, a streaming speech recogniser, a controller must emit $\text{output}_t$ before
# $x_{t+1}$ exists: they use one direction.
#
# **With padding, pack.** In a padded batch the backward direction of a short sequence starts on
# the padding after its end and carries that into its real steps. Packing (notebook 07) starts
# each sequence's backward pass at its own last step. A batch of two, of lengths 6 and 3:

# %%
lengths = torch.tensor([L, 3])
padded = torch.randn(L, 2, I, dtype=torch.float64)
padded[3:, 1] = 0.0  # sequence 1 ends after 3 steps: zeros after it
with torch.no_grad():
    out_padded, _ = both(padded)
    out_packed, _ = nn.utils.rnn.pad_packed_sequence(both(pack(padded, lengths))[0])  # (L, 2, 2H)
real = out_padded[:3, 1], out_packed[:3, 1]  # the short sequence's 3 real steps, (3, 2H)
agree("forward half", real[0][:, :H], real[1][:, :H])
print(compare("backward half", real[0][:, H:], real[1][:, H:]))
assert not torch.allclose(real[0][:, H:], real[1][:, H:]), "padding leaks into the backward pass"

# %% [markdown]
# The forward half agrees (it has not reached the padding yet at steps 1–3); the backward half,
# run over the padding first, does not.
#
# *Try*: replace the zeros of the padding by ones. Does the forward half still agree? Does the
# backward half change?

# %% [markdown]
# ## 5. When to use `nn.LSTM`, and when a loop
#
# Everything above (your GRU, the peephole cell, the two directions) was a Python loop over time.
# `nn.LSTM` hands the whole sequence to one fused library call where one exists: cuDNN on an
# NVIDIA GPU, oneDNN on a CPU. Notebook 12 ([12_fast_lstm](12_fast_lstm.ipynb)) builds a fast LSTM
# in measured steps and studies each against `nn.LSTM`, at several sizes and thread counts. Its
# study ships with the course. Here are its training-step ratios at the smallest and the
# largest size, read from the file: they are that machine's numbers, not a measurement of yours.

# %%
bench = results.shipped("bench", "cpu")
print(f"shipped: {results.provenance_line(bench)}")
print(f"made with: {bench['provenance']['command']}")
ok = [row for row in bench["rows"] if row["status"] == "ok"]
reference_ms = {(r["size"], r["threads"]): r["train_ms"] for r in ok if r["variant"] == "nn.LSTM"}
for size in (bench["config"]["sizes"][0]["label"], bench["config"]["sizes"][-1]["label"]):
    threads = bench["config"]["threads"][0]
    print(f"\n{size}, {threads} thread(s), nn.LSTM ran {bench['config']['nn_lstm_kernel'][size]}")
    print(f"  {'variant':<16}{'training step / nn.LSTM':>24}")
    for row in ok:
        if row["size"] == size and row["threads"] == threads:
            print(f"  {row['variant']:<16}{row['train_ms'] / reference_ms[size, threads]:>23.2f}x")
gpu_bench = results.shipped("bench", "gpu")
print("\nGPU timings: " + ("none shipped with the course" if gpu_bench is None else results.provenance_line(gpu_bench)))

# %% [markdown]
# Notebook 12 explains what these ratios come from, with a profile of each variant: at small
# sizes the Python calls of a loop cost more than the arithmetic, at large ones the products are
# the time. On a GPU a Python loop pays more (every operation is a kernel launch);
# `python -m course_lstm bench --device cuda` measures it there.
#
# Which call `nn.LSTM` and `nn.GRU` make on this CPU, counted with notebook 12's `OperatorLog`:

# %%
x_probe = torch.randn(10, 4, 8)  # (L = 10, N = 4, I = 8)
for module in (nn.LSTM(8, 16), nn.GRU(8, 16)):
    with OperatorLog() as log, torch.no_grad():
        module(x_probe)
    print(f"{type(module).__name__:<5} {sum(log.counts.values()):>4} operator calls for "
          f"{len(x_probe)} steps: {nn_lstm_kernel(module, x_probe)}")
assert "mkldnn" not in str(log.counts), "nn.GRU has no oneDNN kernel on a CPU"

# %% [markdown]
# cuDNN has both LSTM and GRU kernels; on a CPU, PyTorch's oneDNN path serves the LSTM only, and
# `nn.GRU` runs one small product and a dozen element-wise operations per step (after a hoisted
# input projection, as in notebook 12). That is why the GRU's training steps in section 2 need
# not be cheaper than the LSTM's.
#
# *Try*: make `x_probe` 100 steps long. How many calls does each layer make now?
#
# The rule of thumb:
# - the standard cell: use `nn.LSTM` / `nn.GRU`. They equal the readable layers (checked in
#   notebook 05 and above) and are the fastest implementation available to you;
# - a cell the libraries do not have (peepholes, a gate removed as in notebook 08, layer
#   normalisation inside the cell): write the loop, then make it fast as in notebook 12 (one
#   fused product for all gates, the input projection hoisted, the update compiled);
# - bidirectional or stacked: `nn.LSTM(..., bidirectional=True, num_layers=k)` runs every layer
#   and direction in the fused kernels.

# %% [markdown]
# ## 6. Where Transformers took over, and where recurrence still serves
#
# A recurrent layer must finish $h_{t-1}$ before it starts $h_t$: training is a chain of $L$
# dependent steps however many cores there are, and information from step $s$ reaches step $t$
# only through $t - s$ applications of the cell (the path the gradients of notebooks 02 and 06
# travel). Self-attention (Vaswani et al. 2017) removes both limits: every position reads every
# other position in one step, and all positions of a layer are computed at once. Their Table 1
# compares, per layer of width $d$ on a sequence of length $n$:
#
# | layer | operations | sequential steps | longest path between two positions |
# | --- | --- | --- | --- |
# | self-attention | $O(n^2 d)$ | $O(1)$ | $O(1)$ |
# | recurrent | $O(n d^2)$ | $O(n)$ | $O(n)$ |
#
# On GPUs, which are fast only when given parallel work, this won: within a few years
# Transformer models (BERT, GPT) replaced LSTMs as the default for language.
#
# The price comes at inference. To produce step $t$, a Transformer decoder attends over all
# earlier steps, so it keeps their keys and values (the *KV cache*) and reads all of them for
# every new step. An LSTM keeps $(h, c)$, whatever $t$. The numbers each keeps, per sequence and
# layer, at this profile's width $d = H$:

# %%
width = profile.hidden_size
recurrent, key_value = nn.LSTM(width, width), nn.Linear(width, 2 * width)  # one layer of each
lengths_T = [10, 100, 1_000, 10_000]
kept = {"LSTM state (h, c)": [], "attention KV cache": []}
with torch.no_grad():
    for T in lengths_T:
        stream = torch.randn(T, 1, width)  # (L = T, N = 1, d): one sequence of T steps
        _, (h_T, c_T) = recurrent(stream)
        kept["LSTM state (h, c)"].append(h_T.numel() + c_T.numel())
        kept["attention KV cache"].append(key_value(stream).numel())  # a key and a value per step
print(f"{'after T steps:':<20}" + "".join(f"{T:>10,}" for T in lengths_T))
for name, counts in kept.items():
    print(f"{name:<20}" + "".join(f"{count:>10,}" for count in counts))
assert len(set(kept["LSTM state (h, c)"])) == 1, "the recurrent state does not grow with T"
assert kept["attention KV cache"] == [2 * width * T for T in lengths_T], "the cache grows as 2 d T"

# %% [markdown]
# The same holds for work: each new step costs an LSTM $O(H^2)$, and an attention layer $O(t\,d)$
# on top of its projections. That is where recurrent networks still serve: streams of unbounded
# length with a fixed memory and a fixed cost per step, on small devices and at low latency.
# Google's on-device speech recogniser of 2019, for one, was an LSTM transducer (He et al. 2019).
#
# *Try*: put `nn.GRU` in place of `nn.LSTM` above. How many numbers does it keep, and why?

# %% [markdown]
# ## 7. Linear recurrences: training in parallel, running as an RNN
#
# What forces the LSTM's loop is not its cell: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ is
# *linear* in $c$. It is that $f_t$, $i_t$ and $g_t$ depend on $h_{t-1}$. Let the gates depend on
# the input only and the cell becomes a linear recurrence whose coefficients are all known before
# the loop starts:
#
# $$c_t = a_t \odot c_{t-1} + b_t \quad\Longrightarrow\quad
# c_t = \sum_{s \le t} \Big(\prod_{k=s+1}^{t} a_k\Big) \odot b_s, \qquad c_0 = 0$$
#
# $a_t$ (the forget gates), $b_t$ (what is written, $i_t \odot g_t$), $c_t$: (H,) here, (N, H)
# with a batch. The product of forget gates is notebook 08's *retention*. The right-hand side has
# no loop: every $c_t$ is a weighted sum of the inputs, computable for all $t$ at once: as one
# masked product (below), or as a parallel scan in $O(\log L)$ sequential steps (Blelloch 1990).
# The loop and the sum:

# %%
L_scan, H_scan = 12, 3
a = 0.5 + 0.5 * torch.rand(L_scan, H_scan, dtype=torch.float64)  # forget gates in (0.5, 1), (L, H)
b = torch.randn(L_scan, H_scan, dtype=torch.float64)  # what each step writes, (L, H)

c, looped = torch.zeros(H_scan, dtype=torch.float64), []
for a_t, b_t in zip(a, b):  # the recurrence, one step at a time
    c = a_t * c + b_t
    looped.append(c)

log_retention = torch.log(a).cumsum(dim=0)  # (L, H): sum of log a_k for k <= t
causal = torch.ones(L_scan, L_scan, dtype=torch.bool).tril()[:, :, None]  # s <= t, (L, L, 1)
weight = torch.where(causal, torch.exp(log_retention[:, None] - log_retention[None, :]), 0.0)
at_once = (weight * b[None]).sum(dim=1)  # c_t = sum over s of weight[t, s] * b_s, (L, H)
agree("loop vs all at once", at_once, torch.stack(looped))

# %%
fig, ax = plt.subplots(figsize=(5.2, 4.2))
image = ax.imshow(weight[:, :, 0], cmap="viridis", vmin=0, vmax=1)
ax.set_xlabel("input step s")
ax.set_ylabel("output step t")
ax.grid(False)
ax.set_title("A linear recurrence is a causal weighted sum")
fig.colorbar(image, ax=ax, label=r"weight of $b_s$ in $c_t$: $a_{s+1} \cdots a_t$ (unit 0)")
plt.show()

# %% [markdown]
# The picture looks like a causal attention matrix, with weights set by products of forget gates
# instead of by query–key similarity. The likeness is exact in both directions: Katharopoulos et
# al. (2020) wrote attention with a linear kernel as such a recurrence, and Dao & Gu (2024) wrote
# state-space models as such masked matrices. This is the idea behind the recurrent revival:
#
# - quasi-recurrent networks (Bradbury et al. 2017): LSTM-like gates computed from the inputs by
#   convolutions, the cell a linear recurrence;
# - state-space models: S4 (Gu et al. 2022), and Mamba (Gu & Dao 2023), whose $a_t$ and $b_t$
#   depend on the input ("selective"), as an LSTM's gates do;
# - RWKV (Peng et al. 2023): a Transformer-like block whose attention is replaced by a decaying
#   linear recurrence;
# - xLSTM (Beck et al. 2024): the LSTM revisited, with exponential gating and, in its mLSTM, a
#   matrix-valued cell updated by a linear recurrence, so that it trains in parallel.
#
# Such layers train over a whole sequence at once, like a Transformer, and generate step by step
# with a fixed-size state, like an LSTM. What they give up is a gate that depends on $h_{t-1}$:
# the nonlinear recurrence that made the LSTM of this course a loop.
#
# *Try*: set `a` to all ones. What does `weight` become, and which cell of notebook 03 is this?

# %% [markdown]
# ## Summary
#
# - The GRU: $h' = (1 - z) \odot n + z \odot h$, with reset gate $r$ and candidate $n$; three
#   blocks (r, z, n), so 3/4 of an LSTM's parameters at the same width; one state, bounded in
#   $(-1, 1)$, where the LSTM's cell can grow and count. `torch.nn` applies $r$ after the matrix
#   product, unlike Cho et al. (2014). Your `gru_step` equals `nn.GRUCell`; `course_lstm.GRU`
#   equals `nn.GRU`, gradients included.
# - On the adding problem at this scale both solve every lag up to the probe lag, and the GRU
#   needs fewer steps; larger studies found no consistent winner: the task decides.
# - Peepholes let the gates read the cell ($p \odot c$, diagonal); with $p = 0$ they are the
#   LSTM. Removing them did not significantly hurt in Greff et al. (2017); `nn.LSTM` has none.
# - A bidirectional layer is two LSTMs, one reading backwards, concatenated: output (L, N, 2H),
#   `h_n` (2, N, H); the weights `*_reverse`. It reads the future, so not for streaming; with
#   padding, pack.
# - Use `nn.LSTM` / `nn.GRU` for standard cells (one oneDNN or cuDNN call; on a CPU oneDNN serves
#   the LSTM only); write a loop only for a cell the libraries lack, then speed it up (notebook 12).
# - Transformers train in parallel and connect any two positions in one step; recurrent networks
#   keep a fixed-size state, whatever the length. Linear recurrences (S4, Mamba, RWKV, xLSTM's
#   mLSTM) train in parallel *and* keep a fixed-size state, by dropping the gates' dependence on
#   $h_{t-1}$.
#
# ## Exercises
#
# 1. Write `gru_step(x, h, W_ih, W_hh, b_ih, b_hh)` (section 1) without looking, and check it with
#    `check("gru_step", gru_step)`. Then make it swap $z$ and $1 - z$ on purpose and read the hint.
# 2. Write Cho et al.'s form, $n = \tanh(W_{in} x + b_{in} + W_{hn}(r \odot h) + b_{hn})$, and
#    compare it with `nn.GRUCell` on the same weights. For which weights do the two agree? (Hint:
#    what if $r = 1$?)
# 3. Build a *two-layer* bidirectional LSTM from four one-direction `course_lstm.LSTM` layers and
#    show it equals `nn.LSTM(I, H, num_layers=2, bidirectional=True)`. What is the shape of
#    `weight_ih_l1`, and why (4H, 2H)?
# 4. Run the whole experiment, copy task included:
#    `experiments.run_experiment("gru_comparison", profile)` (several minutes in the `cpu` profile).
#    Does either model solve the copy task? Which one gets the higher accuracy?
