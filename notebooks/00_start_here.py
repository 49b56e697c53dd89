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
# # 00 · Start here
#
# This course builds a Long Short-Term Memory network (LSTM) from its gates upward, and then
# puts the things people say about LSTMs to the test against a plain recurrent network (RNN).
#
# **What you will learn here**
# - what the course covers, in which order, and how long each part takes;
# - how the notebooks scale from a laptop to a GPU (*profiles*);
# - how exercises and their automatic checks work;
# - whether your environment is ready.
#
# **Prerequisites**: Python and a little PyTorch: tensors, `.shape`, autograd (`loss.backward()`),
# an optimizer loop. No recurrent networks needed: that is what we build.
#
# **Time**: about 10 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import torch
from IPython.display import Markdown

from course_lstm import ledger
from course_lstm.checks import check
from course_lstm.doctor import doctor_report
from course_lstm.notebook import setup
from course_lstm.profiles import PROFILES

profile = setup(seed=0)

# %% [markdown]
# ## Is everything here?
#
# The same check is available from a terminal as `python -m course_lstm doctor`. Every line
# should say `ok`; a `FIX` line says what to do. (This cell's output depends on your machine,
# so CI does not compare it.)

# %% tags=["nbval-ignore-output"]
for what, ok, detail in doctor_report():
    print(f"{'ok ' if ok else 'FIX'}  {what:<17} {detail}")

# %% [markdown]
# ## The course map
#
# | notebook | what you learn | time |
# | --- | --- | --- |
# | `01_recurrent_step` | sequences as tensors; one RNN step; backpropagation through time | 40 min |
# | `02_vanishing_gradients` | why gradients through time vanish or explode; clipping; the adding problem | 50 min |
# | `03_memory_cell` | the constant error carousel, and why an ungated memory is not enough | 40 min |
# | `04_gates` | forget, input and output gates, one at a time; our cell equals `nn.LSTMCell` | 60 min |
# | `05_lstm_layer` | unrolling, batches, stacked layers; counting parameters honestly | 40 min |
# | `06_rnn_vs_lstm` | the experiment: gradients through time, success against the lag, several seeds | 45 min |
# | `07_variable_length` | padding, masks, `PackedSequence`; final states at true lengths | 45 min |
# | `08_inside_the_lstm` | a trained LSTM's gates; forget-gate bias; each gate removed | 50 min |
# | `09_fewer_parameters` | RNN against LSTM at an equal parameter budget: what the data supports | 35 min |
# | `10_going_further` | the GRU, peepholes, bidirectional layers; Transformers and what came after | 50 min |
# | `11_real_text` | a character-level LSTM on a book: bits per character, RNN, LSTM and GRU at an equal budget, a cell you can read, real sentences | 60 min |
# | `12_fast_lstm` | a fast LSTM in measured steps, profiled against `nn.LSTM` | 60 min |
#
# Notebooks 01–05 build the LSTM; 06–10 test the claims made about it in experiments that run
# on a laptop in minutes (and at full scale on a GPU); 11 tries them on real text, a book; 12
# makes the LSTM fast.
#
# Every piece of code a notebook builds by hand is also in the companion package
# `course_lstm`, tested against PyTorch. Later notebooks import it instead of copying it.

# %% [markdown]
# ## What the course finds: the claims ledger
#
# Each claim usually made for LSTMs, the experiment that tests it, what the course's study
# measured, and the verdict. The table is generated from the shipped results by rules fixed in
# `course_lstm/ledger.py` before the study ran; "open" marks a claim no shipped study measures
# yet (its notebook still tests it in a live run). Notebook 06 explains the study.

# %%
Markdown(ledger.markdown())

# %% [markdown]
# ## Profiles: one notebook, three sizes
#
# Experiments read their sizes from a *profile*, chosen by the environment variable
# `COURSE_LSTM_PROFILE`:
#
# - `ci`: tiny, for continuous integration; every notebook in well under a minute;
# - `cpu`: a laptop; the real qualitative result in minutes;
# - `gpu`: the full-scale sweep on one GPU.
#
# Without the variable, the course uses `gpu` when PyTorch sees a CUDA GPU, else `cpu`.
# The committed notebooks were executed in the `ci` profile. This one runs in:

# %%
print(f"profile: {profile.name}")
for name, p in PROFILES.items():
    print(f"{name:>4}: lags {p.lags}, hidden size {p.hidden_size}, {p.steps} training steps, "
          f"{p.seeds} seed(s)")

# %% [markdown]
# To run the laptop-sized experiments, start JupyterLab with
# `COURSE_LSTM_PROFILE=cpu make lab`, or set `os.environ["COURSE_LSTM_PROFILE"] = "cpu"` before
# the first cell. Nothing in a notebook names a device: with a GPU present, the experiments use it.
#
# **Your numbers and ours.** Every notebook is seeded, so re-running it on your machine gives
# the same numbers each time. They need not be the numbers stored in the notebook: PyTorch's
# kernels (oneDNN, MKL) pick their instructions by CPU, so a training run on another processor
# rounds differently, and after a few hundred steps those roundings add up to another loss.
# Shapes, counts and "our code equals `torch.nn`" come out the same everywhere; CI compares
# those outputs as text. The outputs of training are not compared (their cells are tagged
# `nbval-ignore-output`): what a run shows is checked by an `assert` right after it, with a
# margin measured under several CPU settings (`make test-portability`).

# %% [markdown]
# ## Notation, once for the whole course
#
# | symbol | meaning |
# | --- | --- |
# | $T$ | the number of time steps of a sequence (torch.nn's documentation, and the package's docstrings that follow it, call it $L$) |
# | $t = 1, \dots, T$ | step $t$ reads $x_t$ and makes $h_t$ (and $c_t$) from $h_{t-1}$; $h_0$, $c_0$ are the initial states. In code, indices start at 0: `output[t - 1]` is $h_t$ |
# | $N$, $I$, $H$ | batch size, input features per step, hidden units (the state's size) |
# | `(T, N, I)`, `(N, T, I)` | a batch of sequences, time-first (torch.nn's default) or batch-first; states are `(num_layers, N, H)` |
# | $\mathcal{L}$ | the loss; the experiments read it after the last step |
# | $T - t$ | the distance from step $t$ to the loss, in steps: the $x$ axis of every gradient plot |
# | $W_{ih}$, $W_{hh}$, $b_{ih}$, $b_{hh}$ | the input and recurrent weights and biases, named and shaped as in torch.nn |
# | $i, f, g, o$ | the LSTM's input, forget and output gates and its candidate, in torch.nn's row order |
# | $\sigma$, $\odot$ | the logistic sigmoid; the elementwise product |

# %% [markdown]
# ## How exercises work
#
# An exercise asks you to write one function. The cell after it calls
# `check("exercise_name", your_function)`, which runs your function on a few seeded test cases
# and answers in one line: `Correct: ...`, or `Not yet: ...` with what is wrong (a shape, an
# order, a missing term). It never shows you a traceback from inside the checker.
#
# A warm-up. PyTorch's recurrent layers take sequences *time-first*, `(T, N, I)`: sequence
# length, batch, features. Data often comes *batch-first*, `(N, T, I)`. Write `to_time_major`.

# %% tags=["solution"]
def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """(N, T, I) batch-first -> (T, N, I) time-first, each sequence kept intact."""
    return x.transpose(0, 1)


# %%
check("to_time_major", to_time_major)

# %% [markdown]
# Here is what the checker says about a classic mistake: `reshape` gives the right *shape*
# but keeps the memory order, so time steps of different sequences get mixed.

# %%
check("to_time_major", lambda x: x.reshape(x.shape[1], x.shape[0], x.shape[2]))

# %% [markdown]
# You can see the mixing directly: sequence 0 of a batch of 2 sequences of length 3.

# %%
x = torch.arange(2 * 3).reshape(2, 3, 1)  # (N=2, T=3, I=1): sequence 0 is 0, 1, 2
print("transpose:", to_time_major(x)[:, 0, 0].tolist())
print("reshape:  ", x.reshape(3, 2, 1)[:, 0, 0].tolist())
assert to_time_major(x)[:, 0, 0].tolist() == [0, 1, 2]

# %% [markdown]
# Solutions sit in cells tagged `solution`. Instructors generate student copies in which those
# cells keep the signature and docstring, and the body becomes `...` and
# `raise NotImplementedError`; the checker then answers "Not written yet".

# %% [markdown]
# ## References
#
# The papers the notebooks cite, in the order the course meets them:
#
# - Bengio, Simard & Frasconi (1994). Learning long-term dependencies with gradient descent is
#   difficult. *IEEE Transactions on Neural Networks* 5(2). (Notebook 02.)
# - Hochreiter (1991). *Untersuchungen zu dynamischen neuronalen Netzen*, diploma thesis, TU
#   Munich: the vanishing gradient first analysed (the analysis behind notebook 02).
# - Pascanu, Mikolov & Bengio (2013). On the difficulty of training recurrent neural networks.
#   *ICML*. Conditions for vanishing and exploding; gradient-norm clipping. (Notebook 02.)
# - Hochreiter & Schmidhuber (1997). Long short-term memory. *Neural Computation* 9(8): the
#   constant error carousel, input and output gates, the truncated gradient. (Notebooks 03, 04.)
# - Gers, Schmidhuber & Cummins (2000). Learning to forget: continual prediction with LSTM.
#   *Neural Computation* 12(10): the forget gate. (Notebooks 03, 04, 08.)
# - Le, Jaitly & Hinton (2015). A simple way to initialize recurrent networks of rectified linear
#   units. arXiv:1504.00941: identity initialisation; the adding problem as used here. (02, 06.)
# - Arjovsky, Shah & Bengio (2016). Unitary evolution recurrent neural networks. *ICML*: the
#   adding and copy tasks as benchmarks; orthogonal recurrences. (02, 06.)
# - Saxe, McClelland & Ganguli (2014). Exact solutions to the nonlinear dynamics of learning in
#   deep linear networks. *ICLR*: orthogonal initialisation (a choice in the study behind 06).
# - Jozefowicz, Zaremba & Sutskever (2015). An empirical exploration of recurrent network
#   architectures. *ICML*: forget-gate bias 1. (04, 08.)
# - Tallec & Ollivier (2018). Can recurrent neural networks warp time? *ICLR*: chrono
#   initialisation. (06, 08.)
# - Greff, Srivastava, Koutník, Steunebrink & Schmidhuber (2017). LSTM: a search space odyssey.
#   *IEEE TNNLS* 28(10): the gate ablations. (08.)
# - Cho et al. (2014). Learning phrase representations using RNN encoder-decoder for statistical
#   machine translation. *EMNLP*: the GRU. (10.)
# - Kingma & Ba (2015). Adam: a method for stochastic optimization. *ICLR*. (02.)

# %% [markdown]
# ## Summary
#
# - The course goes from one recurrent step (01) to a full LSTM layer (05), then tests the
#   claims about LSTMs in experiments (06–10).
# - Profiles (`ci`, `cpu`, `gpu`) size every experiment; notebooks never hard-code sizes.
# - Exercises are checked by `course_lstm.checks.check`, which explains what is wrong.
#
# ## Exercises
#
# 1. Run `python -m course_lstm doctor` in a terminal and fix anything marked `FIX`.
# 2. Write `to_time_major` with `permute` instead of `transpose` and check it again.
# 3. Set `COURSE_LSTM_PROFILE=cpu`, restart the kernel and re-run this notebook: what changes
#    in the profile table's first line?
