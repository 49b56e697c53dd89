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
# **Time**: about 10 minutes. Executing the notebook takes a few seconds.

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
# | `11_fast_lstm` | a fast LSTM in four measured steps, against `nn.LSTM` | 40 min |
#
# Notebooks 01–05 build the LSTM; 06–10 test the claims made about it in experiments that run
# on a laptop in minutes (and at full scale on a GPU); 11 makes it fast.
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
# ## How exercises work
#
# An exercise asks you to write one function. The cell after it calls
# `check("exercise_name", your_function)`, which runs your function on a few seeded test cases
# and answers in one line: `Correct: ...`, or `Not yet: ...` with what is wrong (a shape, an
# order, a missing term). It never shows you a traceback from inside the checker.
#
# A warm-up. PyTorch's recurrent layers take sequences *time-first*, `(L, N, I)`: sequence
# length, batch, features. Data often comes *batch-first*, `(N, L, I)`. Write `to_time_major`.

# %% tags=["solution"]
def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """(N, L, I) batch-first -> (L, N, I) time-first, each sequence kept intact."""
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
x = torch.arange(2 * 3).reshape(2, 3, 1)  # (N=2, L=3, I=1): sequence 0 is 0, 1, 2
print("transpose:", to_time_major(x)[:, 0, 0].tolist())
print("reshape:  ", x.reshape(3, 2, 1)[:, 0, 0].tolist())
assert to_time_major(x)[:, 0, 0].tolist() == [0, 1, 2]

# %% [markdown]
# Solutions sit in cells tagged `solution`. Instructors generate student copies in which those
# cells keep the signature and docstring, and the body becomes `...` and
# `raise NotImplementedError`; the checker then answers "Not written yet".

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
