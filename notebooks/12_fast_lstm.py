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
# # 12 · A fast LSTM
#
# Notebook 05 built the LSTM layer as a loop around `lstm_step`, and showed that it computes
# exactly what `nn.LSTM` computes. It is also slower: every time step runs eight small matrix
# products and a dozen element-wise operations, each a separate call from Python. Here we make
# it faster in steps, each one change, each checked to give `nn.LSTM`'s outputs and gradients,
# each measured against `nn.LSTM`; then we measure where the rest of the gap is, and why.
#
# **What you will learn**
# - where an LSTM's time goes: matrix products, element-wise operations, and the cost of
#   calling each one, counted in FLOPs and measured with `torch.profiler`;
# - the speed-ups: all four gates in one matrix product; the input projection of every time
#   step hoisted out of the loop; the element-wise cell update, or the whole loop, compiled with
#   `torch.compile`; the backward pass written by hand; on a GPU, the loop replayed as a CUDA graph;
# - how to time code fairly: the same inputs, a warm-up, interleaved repeats, medians and
#   quartiles, one process per thread count, CUDA events;
# - how close each variant gets to `nn.LSTM` (oneDNN on a CPU, cuDNN on a GPU), at the course's
#   sizes and at PyTorch's own benchmark size, and why.
#
# **Prerequisites**: notebook 04 (`lstm_step`, the gates i, f, g, o and their stacked weights)
# and notebook 05 (the LSTM layer, `weight_ih_l0` (4H, I) and `weight_hh_l0` (4H, H)).
#
# **Time**: about 60 minutes. Most of the notebook's execution time is `torch.compile`
# compiling, and its cache makes later runs faster; the measured execution times of every
# notebook are in the README's course map.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from torch.utils.flop_counter import FlopCounterMode

from course_lstm import LSTM, results
from course_lstm.bench import FASTRNNS, OperatorLog, Size, format_table, run_bench
from course_lstm.cells import lstm_step
from course_lstm.checks import check
from course_lstm.fast import (CompiledLoopLSTM, CompiledLSTM, FusedLSTM, GraphedLSTM, HoistedLSTM,
                              ManualBackwardLSTM)
from course_lstm.notebook import agree, setup
from course_lstm.profiling import CATEGORIES, step_flops

profile = setup(seed=0)


# %% [markdown]
# ## 1. Where the time goes
#
# Count what one time step of each implementation runs. `OperatorLog` records every PyTorch
# operator that computes something (views such as `chunk` or `.T` compute nothing and are left
# out). Running 8 steps and 4 steps and taking the difference leaves exactly the work of 4 steps,
# whatever is done once per sequence.

# %%
def operators_per_step(layer: nn.Module, input_size: int) -> dict[str, float]:
    """Operators per time step of ``layer`` (a forward call without autograd), by name."""
    counts = []
    for length in (8, 4):
        with OperatorLog() as log, torch.no_grad():
            layer(torch.randn(length, 2, input_size))
        counts.append(log.counts)
    return {name: (counts[0][name] - counts[1][name]) / 4 for name in counts[0]
            if counts[0][name] != counts[1][name]}


I, H = 3, 5
readable_ops = operators_per_step(LSTM(I, H), I)
print("readable LSTM, per step:", dict(sorted(readable_ops.items())))
print(f"in all: {sum(readable_ops.values()):.0f} operators, "
      f"{readable_ops['aten.addmm']:.0f} of them matrix products")
assert readable_ops["aten.addmm"] == 8, "two products (x and h) for each of the four gates"
assert sum(readable_ops.values()) == 21

# %% [markdown]
# Eight matrix products (`addmm` is a product plus a bias), one for $x_t$ and one for
# $h_{t-1}$ per gate, and thirteen element-wise operations. Each is a call from Python through
# PyTorch's dispatcher to a kernel, a kernel launch on a GPU, and each call costs a few
# microseconds whatever the size of the data. With small matrices, the size of this course's
# models, that fixed cost is a good part of the time.

# %% [markdown]
# ## 2. Step 1: all four gates in one matrix product
#
# The four gates read the same $x_t$ and $h_{t-1}$, and `weight_ih` (4H, I) and `weight_hh`
# (4H, H) already hold their weights stacked in the order i, f, g, o. So one product with each
# gives all four pre-activations side by side:
#
# $$a = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh} = [\,a_i \mid a_f \mid a_g \mid a_o\,],
# \qquad a:\ (N, 4H),\ a_i, a_f, a_g, a_o:\ (N, H)$$
#
# and what is left of the step is element-wise, the *cell update*:
#
# $$c_t = \sigma(a_f) \odot c_{t-1} + \sigma(a_i) \odot \tanh(a_g), \qquad
# h_t = \sigma(a_o) \odot \tanh(c_t), \qquad c_{t-1}, c_t, h_t:\ (N, H)$$
#
# **Exercise.** Write `cell_update(gates, c)`: split `gates` (N, 4H) into its four blocks and
# return `(h_next, c_next)`.

# %% tags=["solution"]
def cell_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """gates: (N, 4H), the pre-activations a_i, a_f, a_g, a_o side by side; c: (N, H).
    Returns (h_next, c_next), each (N, H)."""
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=1)
    c_next = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next


# %%
check("cell_update", cell_update)

# %% [markdown]
# The fused step is then two products and your update. It must equal notebook 04's `lstm_step`,
# which reads the weights gate by gate:

# %%
def fused_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """x: (N, I); h, c: (N, H); W_ih: (4H, I); W_hh: (4H, H); b_ih, b_hh: (4H,). -> (h', c')."""
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H): two products instead of eight
    return cell_update(gates, c)


N = 4
x, h, c = torch.randn(N, I, dtype=torch.float64), *torch.randn(2, N, H, dtype=torch.float64)
weights = [torch.randn(4 * H, I, dtype=torch.float64), torch.randn(4 * H, H, dtype=torch.float64),
           torch.randn(4 * H, dtype=torch.float64), torch.randn(4 * H, dtype=torch.float64)]
h_fused, c_fused = fused_step(x, h, c, *weights)
gatewise = lstm_step(x, h, c, *weights)
agree("h': fused vs gate by gate", h_fused, gatewise.h)
agree("c': fused vs gate by gate", c_fused, gatewise.c)

# %% [markdown]
# `course_lstm.fast.FusedLSTM` is `course_lstm.LSTM` with this step. It has `nn.LSTM`'s
# parameters, so `load_state_dict` works both ways, and it must give the same outputs and the
# same gradients. `same_as_torch` checks a layer against `nn.LSTM` on one batch, in float64 so
# that "same" means "same to rounding"; we use it on every variant.

# %%
def same_as_torch(name: str, layer_class: type, device: str = "cpu") -> None:
    """Load nn.LSTM's weights into layer_class (2 layers, float64), run both forward and
    backward on the same input; check outputs, final states and all 8 parameter gradients."""
    L, N = 6, 4
    reference = nn.LSTM(I, H, num_layers=2, dtype=torch.float64, device=device)
    layer = layer_class(I, H, num_layers=2, dtype=torch.float64, device=device)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(L, N, I, dtype=torch.float64, device=device)
    checked = []
    for module in (layer, reference):
        output, (h_n, c_n) = module(x)
        gradients = torch.autograd.grad(output.square().sum(), list(module.parameters()))
        checked.append([output, h_n, c_n, torch.cat([g.flatten() for g in gradients])])
    for what, ours, theirs in zip(["output", "h_n", "c_n", "all gradients"], *checked):
        agree(f"{name}: {what}", ours, theirs)


same_as_torch("fused", FusedLSTM)
fused_ops = operators_per_step(FusedLSTM(I, H), I)
print(f"per step: {sum(fused_ops.values()):.0f} operators, {fused_ops['aten.addmm']:.0f} matrix products")
assert fused_ops["aten.addmm"] == 2 and sum(fused_ops.values()) == 12

# %% [markdown]
# Two products per step instead of eight: 12 operators instead of 21. The arithmetic is the
# same; only the number of calls went down.
#
# *Try*: run `operators_per_step` on `FusedLSTM(I, H, bias=False)`. Which operators disappear?

# %% [markdown]
# ## 3. Step 2: hoist the input projection out of the loop
#
# Half of the products in the loop do not depend on $h$: $x_t W_{ih}^\top$ needs only the input,
# which is all there before the loop starts. So compute it for every step at once, as one product
# of all $L \cdot N$ rows, with both biases folded in:
#
# $$P = X W_{ih}^\top + (b_{ih} + b_{hh}), \qquad X:\ (L, N, I),\ P:\ (L, N, 4H),$$
#
# and the loop keeps only what must wait for $h_{t-1}$: $a = P_t + h_{t-1} W_{hh}^\top$, then
# the cell update. One big product should be faster than L small ones: the weights are read once,
# and the matrix-multiply routine works on large blocks. Section 10 measures both rates on the
# machine that produced the shipped study.

# %%
def hoisted_lstm(xs, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """xs: (L, N, I); h0, c0: (N, H); weights as in fused_step.
    Returns output (L, N, H) and the final (h, c), each (N, H)."""
    projected = xs @ W_ih.T + (b_ih + b_hh)  # (L, N, 4H): one product for all time steps
    h, c, output = h0, c0, []
    for p_t in projected.unbind(0):  # p_t: (N, 4H)
        h, c = cell_update(p_t + h @ W_hh.T, c)
        output.append(h)
    return torch.stack(output), (h, c)


L = 6
xs = torch.randn(L, N, I, dtype=torch.float64)
reference = nn.LSTM(I, H, dtype=torch.float64)
zeros = torch.zeros(N, H, dtype=torch.float64)
with torch.no_grad():
    out_hoisted, (h_hoisted, c_hoisted) = hoisted_lstm(xs, zeros, zeros, *reference.parameters())
    out_torch, (h_torch, c_torch) = reference(xs)
agree("output: hoisted vs nn.LSTM", out_hoisted, out_torch)
agree("c_n: hoisted vs nn.LSTM", c_hoisted, c_torch[0])

# %% [markdown]
# One detail matters more than it looks: the loop walks over `projected.unbind(0)`, not
# `projected[t]`. Both give the same forward pass. But the backward of `projected[t]` writes step
# $t$'s gradient into a fresh zero tensor the size of all of `projected`, (L, N, 4H), once per
# step: L times the memory traffic that `unbind` needs (its backward stacks the L gradients once).
# Counting the elements the two backward passes write shows it:

# %%
def elements_written_by_backward(steps_of) -> int:
    """Elements written by the backward pass of a loop over the steps of an (L, N, 4H) tensor."""
    projected = torch.randn(100, N, 4 * H, requires_grad=True)
    loss = sum(p_t.square().sum() for p_t in steps_of(projected))
    with OperatorLog() as log:
        loss.backward()
    return log.elements_written


indexed = elements_written_by_backward(lambda p: [p[t] for t in range(len(p))])
unbound = elements_written_by_backward(lambda p: p.unbind(0))
print(f"backward writes {indexed:,} elements with p[t] and {unbound:,} with unbind: "
      f"{indexed / unbound:.0f}x")
assert indexed > 30 * unbound, "indexing's backward should write tens of times more, for L = 100"

# %% [markdown]
# At the size of the benchmark below (L = 100, N = 64, H = 128), indexing made the training step
# of `HoistedLSTM` three times slower on the machine that measured the table: a cost that
# appears only in a backward pass nobody wrote by hand. `HoistedLSTM` is the hoisted loop inside
# the layer (stacked layers, `h0`/`c0`, batch-first, packed sequences); per step it runs:

# %%
same_as_torch("hoisted", HoistedLSTM)
hoisted_ops = operators_per_step(HoistedLSTM(I, H), I)
print(f"per step: {sum(hoisted_ops.values()):.0f} operators, "
      f"{hoisted_ops['aten.addmm']:.0f} matrix product")
assert hoisted_ops["aten.addmm"] == 1 and sum(hoisted_ops.values()) == 10

# %% [markdown]
# *Try*: in `elements_written_by_backward`, change 100 to 50. By how much does the ratio change,
# and why is it about L?

# %% [markdown]
# ## 4. Step 3: compile the element-wise update
#
# What is left per step is one product and the nine element-wise operations of the cell update, each a
# full pass over an (N, H) or (N, 4H) array: read the inputs from memory, write the output back,
# then the next operation reads it again. A compiler can fuse them into one loop that reads
# `gates` and `c` once and writes `h'` and `c'` once, and do the same for the backward pass.
# `torch.compile(cell_update)` does that: it traces the function into a graph and generates the
# fused code (C++ on a CPU, Triton on a GPU). `CompiledLSTM` is `HoistedLSTM` with its update
# compiled this way. The first call compiles, which takes seconds; later calls reuse the result.
# Where `torch.compile` cannot run (no C++ compiler on the machine, or a CPU its code generator
# does not support) `CompiledLSTM` says so in a warning and runs the update uncompiled, with the
# same results; the next cell prints which happened here, so CI does not compare its output.

# %% tags=["nbval-ignore-output"]
same_as_torch("compiled", CompiledLSTM)
reason = CompiledLSTM.compiled_update.unavailable
print("cell update compiled by torch.compile" if reason is None else f"not compiled here: {reason}")

# %% [markdown]
# On a CPU `torch.compile` writes C++ and needs a C++ compiler (gcc or clang; the Xcode
# command-line tools on a Mac; Visual Studio's C++ tools on Windows). Without one, `CompiledLSTM`
# says so once and runs the update uncompiled: the same numbers, without the speed-up.
#
# A compiled function has a fixed cost of its own per call: it checks that its inputs still match
# what was compiled (shapes, dtypes, whether they need gradients), then calls the generated code.
# Fusing wins only where the passes over memory it saves cost more than that; the measurements
# below tell.

# %% [markdown]
# ## 5. Step 4: compile the whole loop
#
# Compiling only the cell update leaves the loop in Python: every step still calls the product,
# then the compiled function, which checks its guards each time. `torch.compile` can take the
# whole loop instead (`fast.hoisted_loop`): it unrolls the L steps into one graph, fuses each
# step's element-wise work, and calls the library's product between them, forward and
# backward. The price is compilation: the graph is L steps long, so it takes seconds to
# minutes, and again for every new input shape. `CompiledLoopLSTM` does this; the check below
# compiles a 6-step loop.

# %% tags=["nbval-ignore-output"]
same_as_torch("whole loop compiled", CompiledLoopLSTM)
reason = CompiledLoopLSTM.compiled_loop.unavailable
print("loop compiled by torch.compile" if reason is None else f"not compiled here: {reason}")

# %% [markdown]
# ## 6. Step 5: write the backward pass by hand
#
# Autograd records every operation of every step, and its backward replays them one by one:
# per step, two products, $\partial L/\partial h_{t-1} = \partial L/\partial a_t\, W_{hh}$ and
# $\partial L/\partial W_{hh} \mathrel{+}= (\partial L/\partial a_t)^\top h_{t-1}$, plus the
# element-wise backward of each operation. The second product has only N = 64 rows to sum over,
# a poor shape for a matrix-multiply routine, and nothing needs it inside the loop: the sum over
# all steps is one product of shape (4H, L·N) by (L·N, H) after the loop.
#
# `fast.Recurrence` is a `torch.autograd.Function` that does that: its forward runs the loop and
# keeps the gates' activations and the cells; its backward walks the steps in reverse with one
# product each and `step_backward`, the derivative of the cell update written out
# ($\bar c_t = \partial L/\partial c_t$ with everything that reaches it):
#
# $$\bar c_t = dc + dh\, o_t (1 - \tanh^2 c_t),\qquad
# \frac{\partial L}{\partial a_t} = [\,\bar c_t g_t\, i_t(1-i_t) \mid \bar c_t c_{t-1} f_t(1-f_t)
# \mid \bar c_t i_t (1-g_t^2) \mid dh \tanh(c_t)\, o_t(1-o_t)\,],\qquad
# \frac{\partial L}{\partial c_{t-1}} = \bar c_t f_t$$
#
# `ManualBackwardLSTM` is `HoistedLSTM` with it (and `CompiledManualLSTM` compiles its two
# element-wise step functions). A hand-written backward is a place for bugs to hide, so it is
# checked against `nn.LSTM` like every other variant, and in the tests against autograd on
# random inputs:

# %%
same_as_torch("hand-written backward", ManualBackwardLSTM)

# %% [markdown]
# ## 7. Step 6 (GPU only): replay the loop as a CUDA graph
#
# On a GPU the arithmetic of one step at N = 64, H = 512 takes a few microseconds, but the CPU
# needs several microseconds to *launch* each kernel through Python and PyTorch, so the GPU sits
# waiting. A CUDA graph records every kernel that one forward (and one backward) launches, with
# their arguments, and later replays the whole recording in a single launch. The price: shapes
# and memory addresses are frozen, so each new input shape is recorded anew, the outputs are
# overwritten by the next call, and the loop may not depend on the data (no `PackedSequence`).
# `GraphedLSTM` is `CompiledLSTM` recorded this way; on a CPU it refuses, and says what to use:

# %%
if torch.cuda.is_available():
    same_as_torch("graphed", GraphedLSTM, device="cuda")
else:
    try:
        GraphedLSTM(I, H)(torch.randn(L, N, I))
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# ## 8. Measuring fairly
#
# A timing is only worth something if it compares like with like, on a machine doing the same
# thing each time. `python -m course_lstm bench` (the function `run_bench`):
#
# - gives every variant `nn.LSTM`'s weights and the same input, and first checks that its outputs
#   and gradients agree with `nn.LSTM`'s (timing a wrong result is pointless);
# - warms each one up first: compilation, oneDNN's set-up, graph recording happen once and are
#   reported apart (`warmup_s`), not mixed into the times;
# - times forward alone (`torch.no_grad()`, as in evaluation) and forward + backward (a training
#   step without the optimizer), in float32;
# - repeats, interleaving the variants (one run of each, then again), so that another program
#   starting half-way slows all of them alike, and reports the median, which one slow run cannot
#   move, with the quartiles, which show the spread;
# - with several thread counts (`--threads 1 2 all`), runs each in a process of its own:
#   `torch.compile` writes its CPU code for the thread count it compiles under;
# - on a GPU, times with CUDA events: kernels run asynchronously, so a clock read on the CPU
#   after the call measures only how long it took to *queue* the work.
#
# Here is a tiny live run, a few seconds long, of the eager variants. Its times depend on your
# machine and on what else it is doing, so CI does not compare them as text.

# %% tags=["nbval-ignore-output"]
live = run_bench("cpu", quick=True, variants=["readable", "fused", "hoisted", "manual_backward"])
print(format_table(live))

# %% [markdown]
# What must hold on any machine is the *shape* of the result, not its numbers: every variant
# agrees with `nn.LSTM` before it is timed, and at this tiny size, where the fixed cost of each
# call dominates, the fused step (12 operators per step) beats the readable one (21).

# %% tags=["nbval-ignore-output"]
live_rows = {row["variant"]: row for row in live["rows"]}
assert all(row["status"] == "ok" for row in live_rows.values()), "every variant agrees with nn.LSTM"
assert live_rows["fused"]["train_ms"] < live_rows["readable"]["train_ms"], "fewer calls, less time"
assert live_rows["fused"]["forward_ms"] < live_rows["readable"]["forward_ms"]
print("live run: every variant agrees with nn.LSTM, and fused is faster than readable, "
      f"forward and training step ({live_rows['fused']['train_ms'] / live_rows['readable']['train_ms']:.2f}x "
      "the readable step's time on this machine)")

# %% [markdown]
# ## 9. The study: sizes, threads, variants
#
# The shipped study times every variant at four sizes, from the course's own experiments
# (H = 32, 25 and 100 steps, batches of 64) to PyTorch's own benchmark size (fastrnns:
# L = 100, N = 64, I = H = 512), at each thread count of the machine that ran it. It was made by
# the command it names, with the machine, versions and date that produced it; these are
# *its* numbers, not a measurement of your machine.

# %%
shipped = results.shipped("bench", "cpu")
print(format_table(shipped))
print(f"\nmade with: {shipped['provenance']['command']}")
hardware = shipped["provenance"]["hardware"]
print(f"hardware: {hardware['cpu']}, torch's kernels use {hardware['cpu_capability']}, MKL {hardware['mkl']}, "
      f"oneDNN {hardware['onednn']}, governor {hardware['governor']}; wall time "
      f"{shipped['provenance']['wall_seconds'] / 60:.0f} min")
study = [row for row in shipped["rows"] if row["status"] == "ok"]
# an integrity check of the shipped file, not a measurement: it timed only what agreed
assert all(row["max_relative_difference"] <= shipped["config"]["agreement"] for row in study)

# %% [markdown]
# The figure shows each variant's training step as a multiple of `nn.LSTM`'s, per size and
# thread count. The bars span the quartiles of the variant's time divided by `nn.LSTM`'s
# median: where a bar crosses 1, the two are not told apart by this run.

# %%
def ratio_spread(row: dict, kind: str) -> tuple[float, float, float]:
    """(median, lower quartile, upper quartile) of a row's time over nn.LSTM's median."""
    base = next(r for r in study if r["size"] == row["size"] and r["threads"] == row["threads"]
                and r["variant"] == "nn.LSTM")[f"{kind}_ms"]
    q1, q3 = row[f"{kind}_ms_quartiles"]
    return row[f"{kind}_ms"] / base, q1 / base, q3 / base


sizes = [size["label"] for size in shipped["config"]["sizes"]]
thread_counts = shipped["config"]["threads"]
variants = [name for name in shipped["config"]["variants"]
            if name != "nn.LSTM" and any(row["variant"] == name for row in study)]
fig, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.5), sharey=True,
                         squeeze=False)
width = 0.8 / len(variants)
for ax, threads in zip(axes[0], thread_counts):
    for index, name in enumerate(variants):
        spread = [ratio_spread(next(r for r in study if r["size"] == size and r["threads"] == threads
                                    and r["variant"] == name), "train") for size in sizes]
        positions = [k + (index - len(variants) / 2 + 0.5) * width for k in range(len(sizes))]
        ax.bar(positions, [m for m, _, _ in spread], width=width, label=name,
               yerr=[[m - lo for m, lo, _ in spread], [hi - m for m, _, hi in spread]], capsize=2)
    ax.axhline(1, color="black", linewidth=1)
    ax.set_xticks(range(len(sizes)), [label.replace(" I=", "\nI=") for label in sizes], fontsize=8)
    ax.set_yscale("log")
    ax.set_title(f"{threads} thread{'s' if threads != 1 else ''}")
    ax.set_xlabel("size (L steps, N batch, I inputs, H hidden units)")
axes[0][0].set_ylabel("training step time / nn.LSTM's (log scale)")
axes[0][-1].legend(fontsize=8, ncol=2)
fig.suptitle(f"Training step against nn.LSTM (black line): {results.provenance_line(shipped)}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 10. Where the time goes
#
# **The work.** An LSTM layer's products do $2 L N\, 4H (I + H)$ floating-point operations
# forward, and a training step three times that (the backward has a product for the input's
# gradient and one for the weight's), counting the gradients of the input and of $h_0$.
# `profiling.step_flops` says so; torch's own `FlopCounterMode`, which counts every product a
# call runs, checks it on a small layer (autograd skips a product whose gradient nobody asked
# for, so the input and $h_0$ are marked as needing theirs):

# %%
size = Size(seq_len=6, batch=4, input_size=I, hidden_size=H)
layer = HoistedLSTM(I, H)
xs_flops = torch.randn(size.seq_len, size.batch, I, requires_grad=True)
h0_c0 = tuple(torch.zeros(1, size.batch, H, requires_grad=True) for _ in range(2))
with FlopCounterMode(display=False) as counted:
    layer(xs_flops, h0_c0)[0].sum().backward()
print(f"{size.label}: formula {step_flops(size)['train']:,} FLOPs, FlopCounterMode {counted.get_total_flops():,}")
assert counted.get_total_flops() == step_flops(size)["train"]
print(f"at the fastrnns size, one training step is {step_flops(FASTRNNS)['train'] / 1e9:.1f} GFLOP")

# %% [markdown]
# Divided by the time, that is each variant's rate (the GFLOP/s column of the table). The study
# also timed the two products an LSTM runs, each alone: one step's (N, H) by (H, 4H), and the
# hoisted (L·N, I) by (I, 4H), a fresh output each call. They give the scale of what this
# library does on this machine; they are not a ceiling (inside a loop, with memory and caches
# already warm, the same products can run faster than alone, as the lines below may show).

# %%
rates = shipped["config"]["matmul_gflops"]
fast_label = FASTRNNS.label
for threads in thread_counts:
    rate = rates[str(threads)][fast_label]
    best = min((r for r in study if r["size"] == fast_label and r["threads"] == threads),
               key=lambda r: r["train_ms"])
    print(f"{threads} thread(s), {fast_label}: alone, one step's product {rate['step']:.0f} GFLOP/s "
          f"and the hoisted product {rate['hoisted']:.0f} GFLOP/s; the fastest training step "
          f"(nn.LSTM included) is {best['variant']}'s, {best['train_gflops_per_s']:.0f} GFLOP/s")

# %% [markdown]
# **The profile.** `torch.profiler` recorded one training step of each variant and the study
# split its time by operator: matrix products, oneDNN's whole-sequence kernel, torch.compile's
# generated code, the other ATen operators (element-wise work, copies), and the rest,
# *overhead*: Python, the dispatcher, the autograd engine (and the profiler's own cost, so the
# profiled step is a little longer than the timed one). Each bar is one profiled step, a single
# run, so an outlier can show: the table's medians are the times; the bars say where they go. At
# the smallest course size and at the fastrnns size:

# %%
fig, axes = plt.subplots(len(thread_counts), 2, figsize=(12, 3.2 * len(thread_counts)), squeeze=False)
for row_axes, threads in zip(axes, thread_counts):
    for ax, label in zip(row_axes, (sizes[0], fast_label)):
        profiled = [r for r in study if r["size"] == label and r["threads"] == threads]
        left = [0.0] * len(profiled)
        for category in CATEGORIES:
            widths = [r["profile"][category] for r in profiled]
            ax.barh([r["variant"] for r in profiled], widths, left=left, label=category)
            left = [a + b for a, b in zip(left, widths)]
        ax.invert_yaxis()
        ax.set_xlabel("ms of one profiled training step")
        ax.set_title(f"{label}, {threads} thread{'s' if threads != 1 else ''}", fontsize=9)
handles, labels = axes[0][0].get_legend_handles_labels()
fig.legend(handles, labels, loc="lower center", ncol=len(CATEGORIES), fontsize=8)
fig.suptitle("Where one training step's time goes (torch.profiler, shipped study)", fontsize=10)
fig.tight_layout(rect=(0, 0.05, 1, 1))
plt.show()

# %%
def shares(row: dict) -> str:
    """A profile as percentages of its wall time, largest first."""
    parts = sorted(((row["profile"][c], c) for c in CATEGORIES), reverse=True)
    return ", ".join(f"{c} {v / row['profile']['wall_ms']:.0%}" for v, c in parts if v > 0)


for label, counts in ((sizes[0], thread_counts[:1]), (fast_label, thread_counts)):
    for threads in counts:
        for name in ("nn.LSTM", "aten", "hoisted", "manual_backward", "compiled_loop"):
            row = next((r for r in study if r["size"] == label and r["threads"] == threads
                        and r["variant"] == name), None)
            if row is not None:
                print(f"{label}, {threads} thread(s), {name:<16} {shares(row)}")

# %% [markdown]
# ## 11. How far from `nn.LSTM`, and why
#
# The goal set for this notebook: a training step at or below `nn.LSTM`'s time at the fastrnns
# size, at one thread and at two. The shipped study says, per thread count (the interval is the
# quartiles of the fastest variant's time over `nn.LSTM`'s median):

# %%
for threads in thread_counts:
    candidates = [r for r in study if r["size"] == fast_label and r["threads"] == threads
                  and r["variant"] not in ("nn.LSTM", "aten")]
    best = min(candidates, key=lambda r: r["train_ms"])
    median, low, high = ratio_spread(best, "train")
    verdict = ("reached: faster than nn.LSTM" if high < 1 else
               "not told apart from nn.LSTM" if low <= 1 <= high else "not reached")
    aten = next(r for r in study if r["size"] == fast_label and r["threads"] == threads and r["variant"] == "aten")
    print(f"{threads} thread(s): fastest is {best['variant']}, {median:.2f}x nn.LSTM "
          f"[{low:.2f}, {high:.2f}]: {verdict}; ATen's own C++ loop: {ratio_spread(aten, 'train')[0]:.2f}x")
for label in sizes[:2]:
    for threads in thread_counts:
        candidates = [r for r in study if r["size"] == label and r["threads"] == threads
                      and r["variant"] not in ("nn.LSTM", "aten")]
        best = min(candidates, key=lambda r: r["train_ms"])
        print(f"course size {label}, {threads} thread(s): fastest of ours {best['variant']}, "
              f"{ratio_spread(best, 'train')[0]:.2f}x nn.LSTM")

# %% [markdown]
# How to read these lines and the profiles above:
#
# - **At the fastrnns size the products are the work** (the profile's "products" share). Every
#   variant computes the same FLOPs, so what separates them there is the *shape* of their
#   products and what runs between them: `manual_backward` differs from `hoisted` only in
#   computing $\partial L/\partial W_{hh}$ as one product after the loop instead of L small ones
#   (and in skipping autograd's per-step bookkeeping); compare their rows.
# - **`aten` separates Python from kernels.** It is `nn.LSTM` without oneDNN: ATen's loop in
#   C++, with the same products as ours and no Python per step. Where our best variant is close
#   to `aten`, what separates us from `nn.LSTM` is oneDNN's kernel, not Python; where `aten` is
#   far ahead of us, it is Python and dispatch.
# - **At the course's sizes overhead is the work.** With H = 32 a product takes microseconds
#   and each call from Python costs about as much, so the profile's overhead and "other ATen
#   ops" dominate, and only compiling the whole loop removes the calls themselves.
# - **Threads help the library more than a loop of small products.** oneDNN splits the whole
#   sequence's work over the threads; our loop hands the library one (N, H) by (H, 4H) product at
#   a time, which is small to split, and each step must wait for the last.
#
# On a GPU, cuDNN does all of this in one call: the input projection of every step as one
# product, one fused element-wise kernel per step, the weight gradients as one product after
# the loop, and no Python in between. The CUDA graph removes our launch costs but not our
# separate kernels; `python -m course_lstm bench --device cuda` measures how close that gets.

# %%
gpu = results.shipped("bench", "gpu")
if gpu is None:
    print("No GPU measurement is shipped yet: run `python -m course_lstm bench --device cuda` on one.")
else:
    print(format_table(gpu))

# %% [markdown]
# **What the experiments use.** The course's experiments train hundreds of small models, so their
# speed matters. They use `nn.LSTM` (a profile's `implementation="torch"`): its `state_dict` is
# the readable LSTM's (tested), and it is the fastest here, oneDNN on a CPU and cuDNN on a GPU.
# The fast LSTM of this notebook is there to show what makes `nn.LSTM` fast.

# %% [markdown]
# ## Summary
#
# - The readable LSTM runs 21 operators per step, 8 of them small matrix products; each call has
#   a fixed cost that small sizes cannot hide.
# - Stacking the gates' weights gives all four gates from one product with $x_t$ and one with
#   $h_{t-1}$ (`FusedLSTM`); hoisting $X W_{ih}^\top$ out of the loop leaves one product per
#   step (`HoistedLSTM`); `torch.compile` fuses the element-wise cell update (`CompiledLSTM`)
#   or the whole loop (`CompiledLoopLSTM`); a hand-written backward computes
#   $\partial L/\partial W_{hh}$ as one product (`ManualBackwardLSTM`); on a GPU, a CUDA graph
#   removes the launch costs (`GraphedLSTM`). Each has `nn.LSTM`'s parameters, outputs and
#   gradients, checked in float64.
# - Count the work (FLOPs) and profile the time before optimising: at large sizes the products
#   are the time, at small ones the calls are.
# - A loop over `x[t]` has a hidden cost in its backward pass; `unbind` avoids it.
# - Time fairly: same inputs, checked results, warm-up, interleaved repeats, medians and
#   quartiles, one process per thread count, CUDA events; state a shipped measurement as
#   shipped, with the machine that made it.
# - oneDNN and cuDNN do the whole sequence in one call, with fused element-wise work and no
#   Python between steps; how far each of our variants is from them, at which size and thread
#   count, is section 11's measurement, not a rule.
#
# ## Exercises
#
# 1. Write `cell_update(gates, c)` (section 2) and check it with `check("cell_update", cell_update)`.
# 2. Run `python -m course_lstm bench --quick --threads 1 all` in a terminal and compare the
#    thread counts. Which implementations gain from the extra cores? (Hint: which one spends
#    its time in large products, and which in many small calls?)
# 3. Given `dA` (L, N, 4H), the gradients of the pre-activations, and `hs` (L, N, H), the states
#    $h_{t-1}$, compute $\partial L/\partial W_{hh} = \sum_t dA_t^\top h_{t-1}$ as a single product
#    of two reshaped matrices, and check it against the loop over t; then compare with the last
#    line of `fast.Recurrence.backward`.
# 4. Time a larger size: `run_bench("cpu", sizes=[Size(20, 64, 512, 512)], repeats=5)` (import
#    `Size` from `course_lstm.bench`). Do the ratios to `nn.LSTM` move towards 1? Why would larger
#    products hide the per-call costs?
