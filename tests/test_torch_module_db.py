"""PyTorch's own module tests' inputs (``torch.testing._internal.common_modules.module_db``, the
samples that torch's test_modules.py runs for nn.RNN, nn.LSTM, nn.GRU and their cells), run
against the course's layers and cells.

Each sample: the course's module built with the same arguments, torch.nn's parameters loaded,
then forward outputs and the gradients of inputs and parameters equal in float64. A sample with
a setting outside the course (bidirectional, proj_size > 0) must be refused by name. Each error
sample (bad sizes, wrong types, bad input shapes) must raise the error type torch raises.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

import course_lstm

OURS = {
    "nn.RNN": course_lstm.RNN,
    "nn.LSTM": course_lstm.LSTM,
    "nn.GRU": course_lstm.GRU,
    "nn.RNNCell": course_lstm.RNNCell,
    "nn.LSTMCell": course_lstm.LSTMCell,
    "nn.GRUCell": course_lstm.GRUCell,
}

# Importing torch's test internals changes global state (common_utils freezes the cudnn flags,
# which the bench then cannot set), so the samples are drawn in a process of their own and come
# back as plain data: (module, index, constructor args and kwargs, forward args and kwargs).
EXTRACT = """
import pickle, sys
import torch
from torch.testing._internal.common_modules import module_db, ModuleErrorEnum
names = sys.argv[1:]
options = dict(device="cpu", dtype=torch.float64, requires_grad=True, training=True)
samples, errors = [], []
for info in module_db:
    if info.name not in names:
        continue
    extra = {"with_packed_sequence": True} if info.name in ("nn.RNN", "nn.GRU") else {}
    for i, s in enumerate(info.module_inputs_func(info, **options, **extra)):
        f = s.forward_input
        samples.append((info.name, i, s.constructor_input.args, s.constructor_input.kwargs, f.args, f.kwargs))
    for i, e in enumerate(info.module_error_inputs_func(info, **options) if info.module_error_inputs_func else []):
        s, f = e.module_error_input, e.module_error_input.forward_input
        errors.append((info.name, i, e.error_on == ModuleErrorEnum.CONSTRUCTION_ERROR, e.error_type,
                       s.constructor_input.args, s.constructor_input.kwargs,
                       f.args if f else (), f.kwargs if f else {}))
sys.stdout.buffer.write(pickle.dumps((samples, errors)))
"""


def _draw() -> tuple[list, list]:
    done = subprocess.run([sys.executable, "-c", EXTRACT, *OURS], capture_output=True, timeout=300)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        pytest.skip(f"torch.testing._internal.common_modules does not import: {message}", allow_module_level=True)
    return pickle.loads(done.stdout)


SAMPLES, ERRORS = _draw()
TORCH = {name: getattr(nn, name.removeprefix("nn.")) for name in OURS}


def _name(case) -> str:
    return f"{case[0]}-{case[1]}"


def _tensors(value) -> list[torch.Tensor]:
    """Every tensor in an output: a tensor, a PackedSequence's data, or nested tuples of them."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value for t in _tensors(item)]


def _leaves(value) -> list[torch.Tensor]:
    return [t for t in _tensors(value) if t.requires_grad]


def _outside_the_course(kwargs: dict) -> bool:
    return bool(kwargs.get("bidirectional")) or bool(kwargs.get("proj_size"))


@pytest.mark.parametrize("case", SAMPLES, ids=_name)
def test_torchs_samples_give_torchs_outputs_and_gradients(case):
    name, _, args, kwargs, forward_args, forward_kwargs = case
    ours_class = OURS[name]
    if _outside_the_course(kwargs):
        with pytest.raises(ValueError, match="not part of the course"):
            ours_class(*args, **kwargs, dtype=torch.float64)
        return
    torch.manual_seed(0)
    theirs = TORCH[name](*args, **kwargs, dtype=torch.float64)
    ours = ours_class(*args, **kwargs, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())

    expected = theirs(*forward_args, **forward_kwargs)
    got = ours(*forward_args, **forward_kwargs)
    assert type(got) is type(expected)
    for mine, reference in zip(_tensors(got), _tensors(expected), strict=True):
        torch.testing.assert_close(mine, reference)
    if isinstance(got, PackedSequence):
        assert torch.equal(got.batch_sizes, expected.batch_sizes)

    leaves = _leaves((forward_args, forward_kwargs))
    seeds = [torch.randn_like(t) for t in _tensors(expected)]
    reference_grads = torch.autograd.grad(_tensors(expected), [*leaves, *theirs.parameters()], seeds)
    our_grads = torch.autograd.grad(_tensors(got), [*leaves, *ours.parameters()], seeds)
    for mine, reference in zip(our_grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, reference)


@pytest.mark.parametrize("case", ERRORS, ids=_name)
def test_torchs_error_samples_raise_torchs_error_types(case):
    name, _, on_construction, error_type, args, kwargs, forward_args, forward_kwargs = case
    ours_class = OURS[name]
    if on_construction:
        with pytest.raises(error_type):
            ours_class(*args, **kwargs)
        return
    bias = kwargs.get("bias", args[2] if len(args) > 2 else True)
    if not isinstance(bias, bool):
        # torch's cells take RNNCell(10, 20, "relu") as bias="relu" (its test means nonlinearity)
        # and fail at forward; the course's cells type-check bias as torch's layers do.
        with pytest.raises(TypeError, match="bias must be a bool"):
            ours_class(*args, **kwargs)
        return
    module = ours_class(*args, **kwargs).to(torch.float64)  # as torch's test_errors builds it
    with pytest.raises(error_type):
        module(*forward_args, **forward_kwargs)
