"""Helpers for comparing course_lstm modules with their torch.nn twins on the same inputs."""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

import course_lstm

LAYER_PAIRS = {
    "RNN": (course_lstm.RNN, nn.RNN),
    "LSTM": (course_lstm.LSTM, nn.LSTM),
    "GRU": (course_lstm.GRU, nn.GRU),
}
CELL_PAIRS = {
    "RNNCell": (course_lstm.RNNCell, nn.RNNCell),
    "LSTMCell": (course_lstm.LSTMCell, nn.LSTMCell),
    "GRUCell": (course_lstm.GRUCell, nn.GRUCell),
}


def twins(pair: tuple[type, type], *args, **kwargs) -> tuple[nn.Module, nn.Module]:
    """(ours, theirs) in float64, ours loaded with theirs' freshly initialised weights."""
    ours_cls, theirs_cls = pair
    theirs = theirs_cls(*args, **kwargs, dtype=torch.float64)
    ours = ours_cls(*args, **kwargs, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def flatten(value) -> list[Tensor]:
    """All tensors in a (nested) module output, PackedSequence data included, in order."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, Tensor):
        return [value]
    return [t for item in value for t in flatten(item)]


def assert_same_outputs(ours_out, theirs_out) -> None:
    ours_list, theirs_list = flatten(ours_out), flatten(theirs_out)
    assert len(ours_list) == len(theirs_list)
    for a, b in zip(ours_list, theirs_list, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def assert_same_gradients(ours: nn.Module, theirs: nn.Module, ours_out, theirs_out, inputs: list[Tensor]) -> None:
    """Backpropagate the same random cotangent through both and compare every gradient.

    ``inputs`` are leaf tensors shared by both calls (input, h0, c0); their gradients are taken
    separately for each module.
    """
    ours_list, theirs_list = flatten(ours_out), flatten(theirs_out)
    cotangents = [torch.randn_like(t) for t in ours_list]
    ours_params = dict(ours.named_parameters())
    theirs_params = dict(theirs.named_parameters())
    assert ours_params.keys() == theirs_params.keys()
    names = [f"input {k}" for k in range(len(inputs))] + list(ours_params)
    ours_grads = torch.autograd.grad(ours_list, [*inputs, *ours_params.values()], cotangents)
    theirs_grads = torch.autograd.grad(theirs_list, [*inputs, *(theirs_params[n] for n in ours_params)], cotangents)
    for name, a, b in zip(names, ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")


@st.composite
def layer_cases(draw):
    """A random layer configuration and input layout, for comparing a layer with its torch.nn twin."""
    return {
        "input_size": draw(st.integers(1, 6)),
        "hidden_size": draw(st.integers(1, 6)),
        "num_layers": draw(st.integers(1, 3)),
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "seq_len": draw(st.integers(1, 7)),
        "batch": draw(st.integers(1, 5)),
        "layout": draw(st.sampled_from(["batched", "unbatched", "packed"])),
        "with_state": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }
