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
# # 07 · Variable-length sequences
#
# Sentences, recordings and user sessions come in different lengths, but a batch is a rectangular
# tensor. So short sequences get *padded* with zeros up to the longest. A recurrent layer does not
# know which steps are padding: it keeps updating its state through them. This notebook shows what
# that does, the two ways to stop it (reading each sequence at its own length, and packing), and
# what ignoring the lengths costs when training an LSTM.
#
# **What you will learn here**
# - padding a batch to (N, T, I) and the mask $m_{n,t} = [t < \ell_n]$ that says which steps are real;
# - what padding does to a recurrent state, and how to read each sequence's output at its true length;
# - `PackedSequence`: what it stores, an LSTM run on it written by hand, and that `course_lstm.LSTM`
#   equals `nn.LSTM` on packed input, gradients included;
# - why right padding is harmful without the lengths and left padding is almost (not quite) harmless;
# - masking a per-step loss with `ignore_index`;
# - an experiment: the adding problem with mixed lengths, trained with the lengths ignored and with
#   packing.
#
# **Prerequisites**: notebook 05 (`output` and `h_n` of an LSTM layer, `batch_first`) and the
# adding problem of notebook 02.
#
# **Time**: about 45 minutes. Executing the notebook takes under a minute in the `ci`
# profile and a few minutes in the `cpu` profile on 2 cores (`tools/execute_notebooks.py` prints the
# time it took).

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from course_lstm import LSTM, final_outputs, pack, plots, study
from course_lstm.cells import lstm_step
from course_lstm.checks import check
from course_lstm.experiments import LSTM_FORGET_BIAS, format_table, success_table
from course_lstm.models import LengthsIgnored, SequenceModel, parameter_count
from course_lstm.notebook import agree, setup
from course_lstm.tasks import IGNORE_INDEX, make_task
from course_lstm.training import fit

profile = setup(seed=0)

# %% [markdown]
# ## 1. A batch is a rectangle: padding and the mask
#
# Three sequences of lengths $\ell = (5, 2, 4)$, one feature per step ($I = 1$); their values are
# numbered 1 to 11 so that we can follow each one through every layout below. `pad_sequence` stacks
# them into one tensor of the longest length $T = \max_n \ell_n$, filling the rest with zeros:
#
# $$x_{\text{padded}}:\ (N, T, I) = (3, 5, 1), \qquad m_{n,t} = [\,t < \ell_n\,],\quad
# m:\ (N, T),\quad t = 0, \dots, T-1,$$
#
# where $[\cdot]$ is 1 when the condition holds and 0 otherwise: $m$ marks the real steps.

# %%
lengths = torch.tensor([5, 2, 4])  # (N,)
numbers = torch.arange(1, lengths.sum() + 1, dtype=torch.float64)
sequences = [part.unsqueeze(-1) for part in numbers.split(lengths.tolist())]  # each (l_n, I=1)
padded = pad_sequence(sequences, batch_first=True)  # (N, T, I), zeros after each sequence
N, T, I = padded.shape
mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)  # (1, T) < (N, 1) -> (N, T)

print(f"padded {tuple(padded.shape)}, values:\n{padded[..., 0].long()}")
print(f"mask {tuple(mask.shape)}:\n{mask.long()}")
assert torch.equal(mask.sum(dim=1), lengths), "each row of the mask counts its sequence's steps"
assert torch.all(padded[~mask] == 0), "every padded step is zero"

# %% [markdown]
# The padded tensor has $N T = 15$ entries for 11 real steps. The lengths are the only record of
# which zeros are padding and which might be data: keep them next to the batch. (The course's tasks
# do: `Batch.lengths`.)
#
# *Try*: make the middle sequence length 7. Which entries of `padded` and `mask` change, and which
# stay the same?

# %% [markdown]
# ## 2. What padding does to a recurrent state
#
# The layer runs every sequence for all $T$ steps. After sequence $n$ ends, its input is zero, but
# the state keeps moving, because the gates still see the biases and the previous state:
#
# $$(h_t, c_t) = \mathrm{lstm\_step}(0, h_{t-1}, c_{t-1})\quad \text{for } \ell_n \le t < T,
# \qquad h_t, c_t:\ (H,).$$
#
# The state we want is $h_{\ell_n - 1}$, the output at the last *real* step; the layer's last
# output is $h_{T-1}$. For the sequence of length 2:

# %%
H = 4
lstm = LSTM(I, H, batch_first=True, dtype=torch.float64)
with torch.no_grad():
    output, (h_n, c_n) = lstm(padded)  # output (N, T, H); h_n, c_n (1, N, H)
    alone, _ = lstm(sequences[1].unsqueeze(0))  # the length-2 sequence without padding: (1, 2, H)

print(f"h at its true last step (t = 1):  {output[1, 1].numpy()}")
print(f"h at the last padded step (t = 4): {output[1, -1].numpy()}")
agree("real steps vs alone", output[1, :2], alone[0])
assert (output[1, -1] - output[1, 1]).abs().max() > 1e-3, "the padding moved the state"

# %% [markdown]
# Up to the true length the padded run is exact: a forward RNN at step $t$ has seen only steps
# $0..t$, and padding comes later. Only what comes after is wrong, and `output[:, -1]`, the step
# everyone reads for one label per sequence, is exactly that.
#
# How far does the state travel? Below, 64 random sequences of 10 steps run through an LSTM of the
# profile's width, followed by $k$ zero steps. Two numbers for each $k$: the drift
# $\lVert h^{(n)}_{\ell - 1 + k} - h^{(n)}_{\ell - 1} \rVert$ from the true final state, averaged
# over the 64 sequences $n$, and the spread $\lVert \mathrm{std}_n\, h^{(n)}_{\ell - 1 + k} \rVert$
# (the standard deviation over the sequences, an (H,) vector, then its norm): how different the
# sequences' states still are.

# %%
ell, k_max, batch = 10, 40, 64
wide = LSTM(2, profile.hidden_size, batch_first=True, dtype=torch.float64)
xs = torch.rand(batch, ell, 2, dtype=torch.float64)  # (N, l, 2)
with torch.no_grad():
    out_pad, _ = wide(torch.cat([xs, torch.zeros(batch, k_max, 2, dtype=torch.float64)], dim=1))
after = out_pad[:, ell - 1:]  # (N, k_max + 1, H): h at l - 1 + k for k = 0 .. k_max
drift = (after - after[:, :1]).norm(dim=-1).mean(dim=0)  # (k_max + 1,)
spread = after.std(dim=0).norm(dim=-1)  # (k_max + 1,)

k = torch.arange(k_max + 1)
fig, ax = plt.subplots()
ax.plot(k[1:], drift[1:], label="drift from the true final state")
ax.plot(k, spread, label="spread between the 64 sequences")
ax.set_yscale("log")
ax.set_xlabel("padded steps k after the sequence's end")
ax.set_ylabel("norm of the hidden state difference")
ax.set_title("Zero padding drives every sequence's state to the same point")
ax.legend()
plt.show()

# %%
print(f"drift after 1 / {k_max} padded steps: {drift[1]:.3f} / {drift[-1]:.3f}")
print(f"spread after 0 / {k_max} padded steps: {spread[0]:.2e} / {spread[-1]:.2e}")
assert drift[-1] > 1.5 * drift[1] > 0, "the drift grows over the first padded steps"
assert drift[-1] - drift[k_max // 2] < 0.01 * drift[-1], "then levels off"
assert spread[-1] < 1e-4 * spread[0], "padding wipes out the differences between sequences"

# %% [markdown]
# With zero input the step is one fixed map $s \mapsto \mathrm{lstm\_step}(0, s)$ of the state
# $s = (h, c)$, and this untrained LSTM's map contracts: every state converges to the map's fixed
# point, at an exponential rate (a straight line on the log scale). After a few dozen padded steps,
# `output[:, -1]` is nearly the same vector for every sequence; what the model read is gone. A
# trained LSTM can learn to hold its state through zeros (section 7 measures what that costs), but
# there is no need to make it learn that: tell it the lengths.
#
# *Try*: raise the forget bias of `wide` (`from course_lstm.models import set_forget_bias`;
# `set_forget_bias(wide, 3.0)`) and re-run the two cells. How does the spread's slope change?

# %% [markdown]
# ## 3. Reading the output at each sequence's true length
#
# The output we want for sequence $n$ sits at time index $\ell_n - 1$:
#
# $$y_n = \text{output}_{n,\ \ell_n - 1,\ :}, \qquad \text{output}:\ (N, T, H),\ \ \ell:\ (N,),
# \ \ y:\ (N, H).$$
#
# **Exercise.** Write `last_step_outputs(output, lengths)` for batch-first `output`: one row per
# sequence, read at its own length. (Index with two tensors: `output[rows, columns]` picks
# `output[rows[n], columns[n]]` for every n.)

# %% tags=["solution"]
def last_step_outputs(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """output: (N, T, H) batch-first; lengths: (N,) int64, each in [1, T].
    Returns (N, H): row n is output[n, lengths[n] - 1], sequence n's last real step."""
    rows = torch.arange(output.shape[0])
    return output[rows, lengths - 1]


# %%
check("last_step_outputs", last_step_outputs)

# %% [markdown]
# The package's `final_outputs` does the same, for either layout (`batch_first=True` here); from now
# on we use it. On the tiny batch, only the full-length sequence's row equals `output[:, -1]`:

# %%
true_last = final_outputs(output, lengths, batch_first=True)  # (N, H)
agree("ours vs final_outputs", last_step_outputs(output, lengths), true_last)
print("max |true last step - output[:, -1]| per sequence:",
      [f"{d:.3f}" for d in (true_last - output[:, -1]).abs().amax(dim=1).tolist()])
assert torch.equal(true_last[0], output[0, -1]), "no padding, no difference"

# %% [markdown]
# *Try*: pass the lengths in the wrong order, `last_step_outputs(output, lengths[[1, 0, 2]])`. It
# runs without complaint: what does it return for each sequence, and why can no check inside the
# function catch this mistake?

# %% [markdown]
# ## 4. Packing: skip the padding altogether
#
# Reading at the true length fixes the answer, but the layer still computed every padded step. A
# `PackedSequence` stores only the real steps, time-major: first step 0 of every sequence, then
# step 1 of every sequence that is still running, and so on, sequences sorted longest first. Its
# `batch_sizes` say how many sequences are running at each step; they are the column sums of the
# mask:
#
# $$b_t = \sum_n m_{n,t} = \#\{n : \ell_n > t\}, \qquad b:\ (T,),\qquad
# \text{data}:\ \big(\textstyle\sum_n \ell_n,\ I\big) = \big(\textstyle\sum_t b_t,\ I\big).$$
#
# `course_lstm.pack` wraps `pack_padded_sequence` (lengths in any order: it sorts them and records
# how):

# %%
packed = pack(padded, lengths, batch_first=True)
print("data:          ", packed.data[:, 0].long().tolist())
print("batch_sizes:   ", packed.batch_sizes.tolist())
print("sorted_indices:", packed.sorted_indices.tolist(), " (sequence 0 first, then 2, then 1)")
assert torch.equal(packed.batch_sizes, mask.sum(dim=0)), "b_t = sum over n of the mask"
assert packed.data.shape == (lengths.sum(), I), "only the 11 real steps are stored"

# %% [markdown]
# Read `data` in blocks of `batch_sizes`: (1, 8, 6) is step 0 of the sequences in sorted order,
# (2, 9, 7) step 1, then (3, 10) and (4, 11) once the length-2 sequence has ended, and 5 alone.
#
# `pack_padded_sequence` itself trusts the lengths it is given. Claim a length of 6 for a batch
# padded to 5 and it packs without a word, producing a `PackedSequence` that contradicts itself;
# `course_lstm.pack` refuses:

# %%
too_long = torch.tensor([6, 2, 4])
silent = pack_padded_sequence(padded, too_long, batch_first=True, enforce_sorted=False)
print(f"torch: batch_sizes promise {int(silent.batch_sizes.sum())} steps, "
      f"data holds {silent.data.shape[0]}")
try:
    pack(padded, too_long, batch_first=True)
except ValueError as error:
    print("course_lstm.pack: ValueError:", error)
assert silent.batch_sizes.sum() != silent.data.shape[0]

# %% [markdown]
# ### An LSTM on packed input, by hand
#
# At step $t$ only the first $b_t$ sequences (in sorted order) are still running. So the loop
# updates the first $b_t$ rows of the state and leaves the others alone; a sequence that has ended
# keeps the state of its last real step, which is therefore its final state:
#
# $$(h^{(n)}_t, c^{(n)}_t) = \begin{cases} \mathrm{lstm\_step}(x^{(n)}_t, h^{(n)}_{t-1}, c^{(n)}_{t-1}) & t < \ell_n \\
# (h^{(n)}_{t-1}, c^{(n)}_{t-1}) & t \ge \ell_n \end{cases}
# \qquad\Longrightarrow\qquad h_n = h^{(n)}_{\ell_n - 1}.$$

# %%
def packed_lstm(packed, W_ih, W_hh, b_ih, b_hh):
    """packed: a PackedSequence with data (sum of lengths, I); weights as in lstm_step.
    Returns the output data (sum of lengths, H), and h_n, c_n (N, H) in the batch's order."""
    n_sequences, hidden = packed.batch_sizes[0], W_hh.shape[1]
    h = c = packed.data.new_zeros(n_sequences, hidden)  # sorted order: longest first
    outputs, offset = [], 0
    for b in packed.batch_sizes.tolist():  # b sequences are still running at this step
        x_t = packed.data[offset:offset + b]  # (b, I)
        offset += b
        h_new, c_new, _gates = lstm_step(x_t, h[:b], c[:b], W_ih, W_hh, b_ih, b_hh)
        h, c = torch.cat([h_new, h[b:]]), torch.cat([c_new, c[b:]])  # ended rows keep their state
        outputs.append(h_new)
    unsort = packed.unsorted_indices
    return torch.cat(outputs), h[unsort], c[unsort]


# %% [markdown]
# The claim of the equation: the final state of the packed run is the padded run's output read at
# each true length (section 3), and the course's `LSTM` computes the same on a `PackedSequence`.

# %%
with torch.no_grad():
    data_ours, h_packed, c_packed = packed_lstm(packed, *lstm.layer_weights(0))
    packed_out, (h_n_packed, c_n_packed) = lstm(packed)
agree("loop h_n vs true last", h_packed, true_last)
agree("loop vs LSTM: output", data_ours, packed_out.data)
agree("loop vs LSTM: h_n", h_packed, h_n_packed[0])
agree("loop vs LSTM: c_n", c_packed, c_n_packed[0])

# %% [markdown]
# `pad_packed_sequence` turns a packed output back into (N, T, H), with zeros (not drifted states)
# at the padded steps:

# %%
unpacked, unpacked_lengths = pad_packed_sequence(packed_out, batch_first=True)
print(f"unpacked {tuple(unpacked.shape)}, lengths {unpacked_lengths.tolist()}")
print(f"sequence 1 (length 2), first unit over time: {unpacked[1, :, 0].numpy()}")
agree("unpacked vs padded run", unpacked[mask], output[mask])
assert torch.all(unpacked[~mask] == 0)

# %% [markdown]
# ### `course_lstm.LSTM` equals `nn.LSTM` on packed input
#
# Now with fresh random inputs, five sequences of lengths in no particular order, two layers, the
# weights copied with `load_state_dict`, in float64. The gradient with respect to the padded input
# goes through `pack`, so it checks the backward pass through packing as well.

# %%
lengths_r = torch.tensor([7, 3, 5, 1, 6])
x_r = torch.randn(5, 7, 3, dtype=torch.float64, requires_grad=True)  # (N, T, I), right-padded
ours = LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64)
theirs = nn.LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64)
theirs.load_state_dict(ours.state_dict())

outcome = {}
for name, layer in (("ours", ours), ("nn.LSTM", theirs)):
    out, (h, c) = layer(pack(x_r, lengths_r, batch_first=True))
    x_r.grad = None
    (out.data.sum() + h.sum() + 2 * c.sum()).backward()  # any loss that uses all three
    outcome[name] = (out.data, h, c, x_r.grad.clone())
for what, ours_part, theirs_part in zip(("output.data", "h_n", "c_n", "dL/dx"),
                                        outcome["ours"], outcome["nn.LSTM"]):
    agree(f"packed {what}", ours_part, theirs_part)

# %% [markdown]
# *Try*: give `x_r` values at a padded step, e.g. `x_r.data[3, 4] = 100.0` (sequence 3 has length
# 1). Which of the results change? What is `dL/dx` at padded steps?

# %% [markdown]
# ## 5. Which side to pad
#
# Without lengths there are two ways to pad, and they are not equally bad. With **right** padding
# (zeros after the data) the state drifts for $T - \ell_n$ steps before `output[:, -1]` is read
# (section 2). With **left** padding (zeros before the data) the data comes last, so
# `output[:, -1]` is read right after the true last step; but the sequence starts from the state
# that $T - \ell_n$ zero steps made out of the zero state, not from zero:
#
# $$s_0 = \Phi^{\,T - \ell_n}(0), \qquad \Phi(s) = \mathrm{lstm\_step}(0, s), \qquad s = (h, c):\ (H,)\times(H,).$$
#
# Here is each readout's error against the same sequences run alone, on the tiny batch:

# %%
def readout_errors(layer):
    """max |error| of three readouts per sequence of the tiny batch, against each run alone."""
    with torch.no_grad():
        truth = torch.stack([layer(s.unsqueeze(0))[0][0, -1] for s in sequences])  # (N, H)
        right = layer(pad_sequence(sequences, batch_first=True))[0][:, -1]
        left = layer(pad_sequence(sequences, batch_first=True, padding_side="left"))[0][:, -1]
        packed_h = layer(pack(padded, lengths, batch_first=True))[1][0][0]
    return {name: (value - truth).abs().amax(dim=1)
            for name, value in (("right padding, output[:, -1]", right),
                                ("left padding, output[:, -1]", left),
                                ("packed, h_n", packed_h))}


def print_errors(errors):
    print(f"{'max |error| per sequence':<30}" + "".join(f"{f'l = {n}':>10}" for n in lengths.tolist()))
    for name, row in errors.items():
        print(f"{name:<30}" + "".join(f"{e:>10.4f}" for e in row.tolist()))


errors = readout_errors(lstm)
print_errors(errors)
short = lengths < T
assert torch.all(errors["left padding, output[:, -1]"][short]
                 < 0.5 * errors["right padding, output[:, -1]"][short]), "left is the lesser evil"
assert torch.all(errors["left padding, output[:, -1]"][short] > 0), "but not harmless"
assert torch.all(errors["packed, h_n"] < 1e-12)

# %% [markdown]
# Left padding is nearly harmless for two reasons: $\Phi^k(0)$ is close to 0 when the biases are
# small, and a forward LSTM forgets its initial state as it reads the real data. Nearly, not
# exactly. The zero state stays put only if the biases are zero: then every gate pre-activation is
# 0, so $g = \tanh 0 = 0$, $c = f \cdot 0 + i \cdot 0 = 0$ and $h = o \tanh 0 = 0$. Check it:

# %%
no_bias = LSTM(I, H, batch_first=True, dtype=torch.float64)
no_bias.load_state_dict(lstm.state_dict())
with torch.no_grad():
    no_bias.bias_ih_l0.zero_()
    no_bias.bias_hh_l0.zero_()
errors_no_bias = readout_errors(no_bias)
print_errors(errors_no_bias)
assert errors_no_bias["left padding, output[:, -1]"].max() < 1e-12, "zero biases: 0 is a fixed point"
assert errors_no_bias["right padding, output[:, -1]"][short].min() > 1e-3, "right padding still drifts"

# %% [markdown]
# Trained LSTMs have large biases (the forget bias alone starts at 1 in this course), so left
# padding leaves a trace that the model must learn to ignore. Two more cases where the side matters:
#
# - **per-step outputs** (a label per step): right padding is harmless for a forward RNN, since step
#   $t$ has not seen the padding yet (section 2); only the loss must skip the padded steps
#   (section 6);
# - **bidirectional** layers: the backward direction reads each sequence from its end, so right
#   padding is left padding for it: it starts its short sequences from $\Phi^{T - \ell_n}(0)$, and
#   every one of their real outputs is (slightly) off. Left padding does the same to the forward
#   direction. No side is exact for both; packing is, which is why
#   `nn.LSTM(..., bidirectional=True)` accepts a `PackedSequence`.
#
# *Try*: call `set_forget_bias(lstm, 3.0)` (from `course_lstm.models`) and print `readout_errors(lstm)`
# again. Does left padding still beat right padding by as much?

# %% [markdown]
# ## 6. Masks in losses
#
# For a label per step, read every output but let the loss count only real steps. With logits
# $z_{n,t}$: (C,) and targets $y_{n,t}$ the cross-entropy averaged over real steps is
#
# $$\mathcal{L} = \frac{\sum_{n,t} m_{n,t}\,\big(-\log \mathrm{softmax}(z_{n,t})_{y_{n,t}}\big)}{\sum_{n,t} m_{n,t}},
# \qquad z:\ (N, T, C),\ \ y, m:\ (N, T).$$
#
# The course's tasks mark padded targets with `IGNORE_INDEX` ($-100$), which `F.cross_entropy`
# skips, dividing by the number of targets it kept. Here is the copy task of notebook 06 (a label at
# every step: blank, then the symbols seen at the start), with lengths between 5 and 7:

# %%
copy = make_task("copy", 3, n_symbols=4, copy_length=2, min_length=5)  # T = 3 + 2 * 2 = 7
copy_batch = copy.batch(4, torch.Generator().manual_seed(0), dtype=torch.float64)
step_mask = torch.arange(copy.sequence_length) < copy_batch.lengths.unsqueeze(1)  # (N, T)
print(f"lengths {copy_batch.lengths.tolist()}; targets y (N, T), {IGNORE_INDEX} = padding:")
print(copy_batch.y)
assert torch.equal(copy_batch.y != IGNORE_INDEX, step_mask), "IGNORE_INDEX marks the padded steps"


# %% [markdown]
# The equation, written out with the mask, against the task's loss on random logits:

# %%
def masked_cross_entropy(logits, y, mask):
    """logits (N, T, C); y (N, T) class indices, any value at padded steps; mask (N, T) bool.
    Returns the mean of -log softmax(logits)[y] over the real steps only."""
    target = y.clamp(min=0)  # IGNORE_INDEX at padded steps -> class 0; the mask drops them
    nll = -F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (N, T)
    return (nll * mask).sum() / mask.sum()


logits = torch.randn(4, copy.sequence_length, copy.output_size, dtype=torch.float64)  # (N, T, C)
agree("masked mean vs loss_fn", masked_cross_entropy(logits, copy_batch.y, step_mask),
      copy.loss_fn(logits, copy_batch))

# %% [markdown]
# Why the mask matters: a model that is certain of the right class at every real step, and outputs
# zeros (a uniform guess over $C$ classes) at the padded ones, deserves a loss of 0. Averaging over
# all $N T$ steps charges it $\ln C$ for each padded step instead:

# %%
perfect = 30.0 * F.one_hot(copy_batch.y.clamp(min=0), copy.output_size).double()
perfect = perfect * step_mask.unsqueeze(-1)  # (N, T, C): zeros at the padded steps
everywhere = torch.ones_like(step_mask)  # no mask: every step counts
masked = masked_cross_entropy(perfect, copy_batch.y, step_mask)
unmasked = masked_cross_entropy(perfect, copy_batch.y, everywhere)
padded_share = 1 - step_mask.double().mean()
print(f"masked {masked:.4f}; unmasked {unmasked:.4f} = "
      f"{padded_share:.3f} (padded share) x ln {copy.output_size}")
assert masked < 1e-9 and abs(unmasked - padded_share * math.log(copy.output_size)) < 1e-9

# %% [markdown]
# The unmasked loss depends on how much padding the batch happened to get, and its gradient trains
# the model to predict something at steps that do not exist. The same mask gives masked accuracies
# and masked means of anything else measured per step.
#
# *Try*: remove the line `perfect = perfect * step_mask.unsqueeze(-1)`, so that the model is
# certain of class 0 at the padded steps too. What do the two losses say now, and what has the
# unmasked one just rewarded?

# %% [markdown]
# ## 7. The experiment: lengths ignored against lengths used
#
# Sections 2 and 5 were about untrained weights. Does it matter once the model is trained? A trained
# LSTM can learn to hold its answer through the zeros, so the question is what that costs. The
# adding problem (notebook 02) with mixed lengths: each sequence has its own length $\ell_n$,
# uniform between a fifth of $T$ and $T$ = `profile.probe_lag`, one marked number in each half of
# its *own* steps, zeros after. Two LSTMs, identical at the start and trained on identical batches:
#
# - **lengths ignored**: the layer runs over the padding and the readout uses `output[:, -1]`;
# - **packed**: `SequenceModel` packs the batch with its lengths and reads at each true length.
#
# Ignoring the lengths makes the task harder in one measurable way: the distance from the first
# marked number to the step that is read out, the lag the model must bridge (notebook 06), grows by
# the padding.
#
# ### The study's answer first
#
# The course's mechanisms study (notebook 06 explains its protocol) ran this comparison with a
# fair tuning budget: the LSTM with its lengths packed, the same LSTM ignoring them, and a tanh RNN
# with its lengths packed (is handling mixed lengths something only the LSTM does?). Each was tuned
# over its own grid on two tuning seeds, then trained on five fresh evaluation seeds; "solved"
# means a test loss below 1% of the baseline. Lengths uniform between a fifth of $T$ and $T$:

# %%
lengths_study = study.report("lengths")
if lengths_study is not None:
    plots.experiment_figure(lengths_study.summary, "Mixed lengths: packed against lengths ignored, LSTM against RNN",
                            note=lengths_study.provenance)
    plt.show()

# %% [markdown]
# The table's verdicts are its p-values: with five seeds each, all against none is the
# smallest difference the test can call significant (notebook 06 prints its p-value), and a
# difference of one or two seeds is not evidence either way. Whether ignoring the lengths cost the LSTM its success at this
# budget, or only time, the table says; claim 3 of the ledger (notebook 00) is read from the LSTM
# against the RNN. Now your own, smaller run of the LSTM pair, in this profile:

# %%
task = make_task("adding", profile.probe_lag, min_length=profile.probe_lag // 5)
sample = task.batch(profile.eval_batch_size, torch.Generator().manual_seed(0))
first_marker = sample.x[..., 1].argmax(dim=1)  # (N,): argmax returns the first of the two 1s
lag_packed = (sample.lengths - 1 - first_marker).double().mean()
lag_ignored = (task.sequence_length - 1 - first_marker).double().mean()
print(f"T = {task.sequence_length}, lengths {task.min_length}..{task.sequence_length}")
print(f"mean steps from the first marked number to the readout: packed {lag_packed:.1f}, "
      f"lengths ignored {lag_ignored:.1f}")
assert lag_ignored > 1.3 * lag_packed

# %% [markdown]
# The only difference between the two models is their `forward`: the first drops the lengths that
# `training.fit` passes whenever a batch has them.

# %% tags=["nbval-ignore-output"]
# `LengthsIgnored` (in `course_lstm.models`, so that the study uses the same one) is a
# `SequenceModel` whose `forward` is `super().forward(x)`: it runs over the padding and reads
# `output[:, -1]`.
rows, curves = [], {}
for seed in range(profile.seeds):
    for label, model_class in (("lengths ignored", LengthsIgnored), ("packed", SequenceModel)):
        torch.manual_seed(seed)  # the same initial weights for both models
        model = model_class("lstm", task.input_size, profile.hidden_size, task.output_size,
                            implementation=profile.implementation, forget_bias=LSTM_FORGET_BIAS)
        history = fit(model.to(profile.device), task, profile.steps, batch_size=profile.batch_size,
                      lr=profile.lr, seed=seed, eval_every=profile.eval_every,
                      eval_batch_size=profile.eval_batch_size, progress=False)
        curves[label, seed] = (history.eval_step, history.eval_loss)
        rows.append({"task": "adding", "lag": task.sequence_length, "label": label,
                     "solved": history.solved, "solved_at": history.solved_at,
                     "status": history.status, "final_accuracy": history.final_eval_accuracy,
                     "parameters": parameter_count(model)})
print(format_table(success_table(rows)))

# %% [markdown]
# Training stops at the first evaluation where the held-out loss falls below a tenth of the
# baseline ("solved"), so the accuracy column is measured at that point, not after a full run.

# %%
colors = {"lengths ignored": "tab:red", "packed": "tab:blue"}
fig, ax = plt.subplots(figsize=(9.5, 3.6), layout="constrained")
for (label, seed), (steps, losses) in curves.items():
    ax.plot(steps, losses, color=colors[label], marker=".", alpha=0.8,
            label=label if seed == 0 else None)
ax.axhline(task.baseline, color="gray", linestyle="--", label="memoryless baseline (1/6)")
ax.axhline(task.solved_threshold, color="gray", linestyle=":", label="solved (a tenth of it)")
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("held-out MSE")
ax.set_title("Given the lengths, the LSTM solves the mixed-length adding problem sooner")
ax.set_xlim(0, profile.steps)
ax.legend(title=f"{profile.seeds} seeds each", loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.show()

# %% tags=["nbval-ignore-output"]
steps_to_solve = {label: [r["solved_at"] for r in rows if r["label"] == label] for label in colors}
print("steps to solve, per seed (None: not within the budget):", steps_to_solve)
for ignored, used in zip(steps_to_solve["lengths ignored"], steps_to_solve["packed"]):
    assert used is not None, "the packed model solves in every seed"
    assert ignored is None or ignored > used, "and sooner than the model that ignores the lengths"

# %% [markdown]
# In this run, with the lengths, every seed solved the task, and sooner (the asserts above check
# it). Ignoring them, the LSTM sits at the baseline for longer: before the sum is of any use it
# must learn to carry it through the padding, a lag about twice the sequence's own (the numbers
# above). An LSTM can learn that, late, or not within the budget; how often, a run of two or
# three seeds cannot say. Either way, the training went into a problem the data did not pose.
#
# Packing also skips the padded steps' computation. That saves time on a GPU, where `nn.LSTM` hands
# a `PackedSequence` to cuDNN. On a CPU with models this small it does not: sorting, packing and
# the shrinking batch cost more than the skipped steps (time the two models in section 7 to see).
#
# *Try*: set `min_length=profile.probe_lag` (every sequence full length). What should the two
# models' curves do now, and do they?

# %% [markdown]
# ## Summary
#
# - A batch of sequences is padded to (N, T, I); the lengths $\ell$ (N,) and the mask
#   $m_{n,t} = [t < \ell_n]$ (N, T) record which steps are real. Keep them with the batch.
# - A recurrent layer runs through the padding. Outputs at real steps are unaffected (for a forward
#   layer), but the state after the padding drifts, and an untrained LSTM's states converge to the
#   same point for every sequence: `output[:, -1]` is the wrong readout.
# - Read at the true length (`output[n, ℓ_n - 1]`, `final_outputs`), or pack: a `PackedSequence`
#   stores only real steps, time-major, with `batch_sizes` $b_t = \sum_n m_{n,t}$; an LSTM run on it
#   freezes each sequence's state at its end, so `h_n` is the state at each true length.
#   `course_lstm.LSTM` equals `nn.LSTM` on packed input, outputs, states and gradients.
# - Without lengths, left padding is nearly harmless for a forward RNN (exactly only with zero
#   biases); right padding is harmful; bidirectional layers need packing.
# - Per-step losses skip padded steps: targets `IGNORE_INDEX`, or a mask-weighted mean.
# - In training, ignoring the lengths lengthens the lag to bridge: on the mixed-length adding
#   problem, in this run, the packed LSTM solved in every seed, sooner than the one reading after
#   the padding.
#
# ## Exercises
#
# 1. Write `last_step_outputs(output, lengths)` (the checked exercise above) again with
#    `torch.gather` instead of indexing, and check it.
# 2. Left padding in training: write a model like `LengthsIgnored` whose `forward` uses the lengths
#    only to move each sequence to the end of the tensor (left padding), then reads `output[:, -1]`
#    without packing. Train it as in section 7. Where does its curve fall relative to the other two,
#    and why?
# 3. Bidirectional: run `nn.LSTM(1, 4, bidirectional=True, batch_first=True)` on the tiny batch of
#    section 1, right-padded and packed. Which half of the output features (forward: `[..., :4]`,
#    backward: `[..., 4:]`) differs at the real steps of the length-2 sequence, by about how much,
#    and why? Then pad on the left instead.
# 4. The mask in section 6 weights every real step equally, so long sequences count more. Write the
#    loss that first averages each sequence's steps, then averages over sequences. When would you
#    prefer it?
