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
# # 11 · A fast LSTM
#
# Notebook 05 built the LSTM layer as a loop around `lstm_step`, and showed that it computes
# exactly what `nn.LSTM` computes. It is also slower: every time step runs eight small matrix
# products and a dozen element-wise operations, each a separate call from Python. Here we make
# it fast in four steps, each one change, each checked to give `nn.LSTM`'s outputs and
# gradients, each measured against `nn.LSTM`; then we look at where the rest of the gap is.
#
# **What you will learn**
# - where an LSTM's time goes: matrix products, element-wise operations, and the cost of
#   calling each one;
# - four speed-ups: all four gates in one matrix product; the input projection of every time
#   step hoisted out of the loop; the element-wise cell update compiled with `torch.compile`;
#   on a GPU, the whole loop replayed as a CUDA graph;
# - how to time code fairly: the same inputs, a warm-up, interleaved repeats, medians, CUDA events;
# - why `nn.LSTM` (oneDNN on a CPU, cuDNN on a GPU) is still faster, and what that would take.
#
# **Prerequisites**: notebook 04 (`lstm_step`, the gates i, f, g, o and their stacked weights)
# and notebook 05 (the LSTM layer, `weight_ih_l0` (4H, I) and `weight_hh_l0` (4H, H)).
#
# **Time**: about 40 minutes. Executing the notebook takes about 10 seconds in the ci profile;
# half a minute the first time, when `torch.compile` compiles one small function.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from course_lstm import LSTM, results
from course_lstm.bench import OperatorLog, format_table, run_bench
from course_lstm.cells import lstm_step
from course_lstm.checks import check
from course_lstm.fast import CompiledLSTM, FusedLSTM, GraphedLSTM, HoistedLSTM
from course_lstm.notebook import agree, setup

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
# the cell update. One big product is faster than L small ones: the weights are read once, and
# the matrix-multiply routine works on large blocks.

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
# ## 5. Step 4 (GPU only): replay the loop as a CUDA graph
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
# ## 6. Measuring fairly
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
#   starting half-way slows all of them alike, and reports the median, which one slow run cannot move;
# - on a GPU, times with CUDA events: kernels run asynchronously, so a clock read on the CPU
#   after the call measures only how long it took to *queue* the work.
#
# Here is a tiny live run, a few seconds long. Its numbers depend on your machine and on what
# else it is doing, so CI does not compare them.

# %% tags=["nbval-ignore-output"]
live = run_bench("cpu", quick=True)
print(format_table(live))

# %%
assert all(row["status"] == "ok" for row in live["rows"] if row["variant"] != "cuda_graph"), (
    "every variant should agree with nn.LSTM before it is timed")

# %% [markdown]
# At this tiny size (H = 32) every implementation is dominated by the fixed cost per call, and
# the ratios say little about real sizes. The table below, at L = 100, N = 64, I = H = 128, was
# measured with the command it names and is shipped with the course, with the machine, versions
# and date that produced it.

# %%
shipped = results.shipped("bench", "cpu")
print(format_table(shipped))
print(f"measured with: {shipped['provenance']['command']}")
rows = {row["variant"]: row for row in shipped["rows"] if row["status"] == "ok"}
assert {"nn.LSTM", "readable", "fused", "hoisted", "compiled"} <= set(rows)
assert all(row["max_relative_difference"] <= shipped["config"]["agreement"] for row in rows.values())

# %%
names = [name for name in rows if name != "nn.LSTM"]
fastest = min(names, key=lambda name: rows[name]["train_ms"])
fig, ax = plt.subplots()
positions = range(len(names))
for offset, (kind, label) in zip((-0.2, 0.2), (("forward", "forward"), ("train", "forward + backward"))):
    ax.bar([p + offset for p in positions], [rows[n][f"{kind}_vs_nn_lstm"] for n in names],
           width=0.4, label=label)
ax.axhline(1, color="black", linewidth=1, label="nn.LSTM (oneDNN)")
ax.set_xticks(list(positions), names)
ax.set_ylim(0, 1.35 * max(rows[n][f"{kind}_vs_nn_lstm"] for n in names for kind in ("forward", "train")))
ax.set_ylabel("time / nn.LSTM's time")
provenance = shipped["provenance"]
ax.set_xlabel(f"implementation\n{shipped['config']['sizes'][0]['label']}; {provenance['device']}, "
              f"torch {provenance['torch']}, {provenance['date'][:10]}")
ax.set_title(f"Training step: {fastest} takes {rows[fastest]['train_vs_nn_lstm']:.2f}x nn.LSTM's time, "
             f"readable {rows['readable']['train_vs_nn_lstm']:.2f}x")
ax.legend(ncol=3, loc="upper center")
plt.show()

# %% [markdown]
# ## 7. Where the remaining gap comes from
#
# The best of our variants, forward and forward + backward, in the shipped table:

# %%
kernel = shipped["config"]["nn_lstm_kernel"][shipped["config"]["sizes"][0]["label"]]
ratio = {kind: {name: rows[name][f"{kind}_vs_nn_lstm"] for name in ("fused", "hoisted", "compiled")}
         for kind in ("forward", "train")}
best = {kind: min(ratio[kind], key=ratio[kind].get) for kind in ratio}
print(f"nn.LSTM ran {kernel}")
for kind, label in (("forward", "forward"), ("train", "forward + backward")):
    print(f"{label:<19} best of ours: {best[kind]:<9} {ratio[kind][best[kind]]:.2f}x nn.LSTM's time, "
          f"readable {rows['readable'][f'{kind}_vs_nn_lstm']:.2f}x")
assert kernel.startswith("oneDNN")
assert ratio["forward"][best["forward"]] > 1.2, "oneDNN's forward pass stays well ahead"
assert ratio["train"][best["train"]] < 1.5, "the fast LSTM's training step is within 1.5x of nn.LSTM"
assert ratio["train"]["compiled"] > 0.95 * ratio["train"]["hoisted"], "compiling does not pay here"
assert rows["readable"]["train_vs_nn_lstm"] < 1.5, "even the readable training step is close"
slowdown = {name: rows[name]["train_ms"] / rows[name]["forward_ms"] for name in ("nn.LSTM", "hoisted")}
print(f"forward + backward over forward alone: nn.LSTM {slowdown['nn.LSTM']:.1f}x, "
      f"hoisted {slowdown['hoisted']:.1f}x")
assert slowdown["nn.LSTM"] > slowdown["hoisted"], "oneDNN's backward costs more, relative to its forward"

# %% [markdown]
# On this CPU `nn.LSTM` runs oneDNN's LSTM, one C++ call for the whole sequence. Its forward
# pass stays well ahead of ours, for reasons we can name:
#
# - **No per-step calls.** Our loop still makes about ten calls from Python per step, each
#   paying the dispatcher's fixed cost; oneDNN's loop is in C++.
# - **Fused element-wise work.** oneDNN applies the gates' sigmoids and tanhs and the cell update
#   right after each product, while the numbers are still in cache: no extra passes over memory.
#   `torch.compile` fuses them too, but pays its own per-call cost, at this size about as much as
#   fusing saves: `compiled` is no faster than `hoisted` here.
# - **Weights in the product's own layout.** oneDNN reorders $W_{hh}$ once, into the blocked layout
#   its matrix-multiply kernel reads fastest, and reuses it for all L steps.
#
# Its training step is another story: adding the backward pass multiplies oneDNN's time by more
# than it multiplies ours (the last line above), and there ours come close, even the readable
# LSTM. The backward has one more trick we do not use:
# $\partial L/\partial W_{hh} = \sum_t (\partial L/\partial a_t)^\top h_{t-1}$ can be computed as
# one big (4H, L·N) by (L·N, H) product after the loop, where autograd does L small ones (exercise 3).
#
# On a GPU, cuDNN does all of this in one call: the input projection of every step as one
# product, one fused element-wise kernel per step, the weight gradients as one product after
# the loop, and no Python in between. (For half precision and small batches, PyTorch may also
# choose cuDNN's *persistent* kernel, which keeps $W_{hh}$ in on-chip memory for all L steps.)
# The CUDA graph removes our launch costs but not our separate kernels; `python -m course_lstm
# bench --device cuda` measures how close that gets, at this size and at PyTorch's own benchmark
# size (fastrnns: L = 100, N = 64, I = H = 512).

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
#   step (`HoistedLSTM`); `torch.compile` fuses the element-wise cell update (`CompiledLSTM`);
#   on a GPU, a CUDA graph removes the launch costs (`GraphedLSTM`). Each has `nn.LSTM`'s
#   parameters, outputs and gradients, checked in float64.
# - A loop over `x[t]` has a hidden cost in its backward pass; `unbind` avoids it.
# - Time fairly: same inputs, checked results, warm-up, interleaved repeats, medians, CUDA events.
# - oneDNN and cuDNN stay ahead by doing the whole sequence in one call, with fused element-wise
#   work and the weights in the product's preferred layout; cuDNN also computes the weight
#   gradients of all steps as one product.
#
# ## Exercises
#
# 1. Write `cell_update(gates, c)` (section 2) and check it with `check("cell_update", cell_update)`.
# 2. Run `python -m course_lstm bench --threads 2` in a terminal and compare with the shipped
#    one-thread table. Which implementations gain from the second core? (Hint: which one spends
#    its time in large products, and which in many small calls?)
# 3. Given `dA` (L, N, 4H), the gradients of the pre-activations, and `hs` (L, N, H), the states
#    $h_{t-1}$, compute $\partial L/\partial W_{hh} = \sum_t dA_t^\top h_{t-1}$ as a single product
#    of two reshaped matrices, and check it against the loop over t.
# 4. Time a larger size: `run_bench("cpu", sizes=[Size(20, 64, 512, 512)], repeats=5)` (import
#    `Size` from `course_lstm.bench`). Do the ratios to `nn.LSTM` move towards 1? Why would larger
#    products hide the per-call costs?
