"""The gate-bias helpers find every (bias_ih, bias_hh) of an LSTM, per layer and direction, and
refuse what is not an LSTM with biases; the parameter counts refuse unknown kinds."""

import math

import pytest
import torch
from torch import nn

from course_lstm import cells, fast, layers
from course_lstm.models import (
    GATE_BLOCKS,
    GATES,
    PINNED_BIAS,
    AblatedLSTM,
    SequenceModel,
    lstm_biases,
    pin_gate,
    recurrent_parameter_count,
    set_chrono_bias,
    set_forget_bias,
    width_for_budget,
)

H = 3


def _bidirectional():
    return nn.LSTM(2, H, num_layers=2, bidirectional=True)


LSTMS = {
    "nn.LSTM": lambda: nn.LSTM(2, H, num_layers=2),
    "nn.LSTM bidirectional": _bidirectional,
    "nn.LSTM proj_size": lambda: nn.LSTM(2, H, proj_size=2),
    "course LSTM": lambda: layers.LSTM(2, H, num_layers=2),
    "AblatedLSTM": lambda: AblatedLSTM(2, H, without="input"),
    "FusedLSTM": lambda: fast.FusedLSTM(2, H, num_layers=2),
    "HoistedLSTM": lambda: fast.HoistedLSTM(2, H),
    "nn.LSTMCell": lambda: nn.LSTMCell(2, H),
    "course LSTMCell": lambda: cells.LSTMCell(2, H),
}

NOT_LSTMS = {
    "nn.RNN": lambda: nn.RNN(2, H),
    "nn.GRU": lambda: nn.GRU(2, H),
    "course RNN": lambda: layers.RNN(2, H),
    "course GRU": lambda: layers.GRU(2, H),
    "nn.GRUCell": lambda: nn.GRUCell(2, H),
    "nn.Linear": lambda: nn.Linear(2, H),
}


def _bias_names(module):
    return [name for name, _ in module.named_parameters() if name.startswith("bias_ih")]


@pytest.mark.parametrize("make", LSTMS.values(), ids=LSTMS.keys())
def test_every_layer_and_direction_is_found(make):
    lstm = make()
    pairs = lstm_biases(lstm)
    parameters = dict(lstm.named_parameters())
    names = _bias_names(lstm)
    assert len(pairs) == len(names) >= 1
    for (bias_ih, bias_hh), name in zip(pairs, names, strict=True):
        assert bias_ih is parameters[name]  # the parameters themselves, in torch.nn's order
        assert bias_hh is parameters[name.replace("bias_ih", "bias_hh")]
        assert bias_ih.shape == bias_hh.shape == (cells.GATE_COUNTS["lstm"] * H,)


def test_the_order_is_torch_nn_s_layer_then_direction():
    lstm = _bidirectional()
    expected = [
        (lstm.bias_ih_l0, lstm.bias_hh_l0),
        (lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse),
        (lstm.bias_ih_l1, lstm.bias_hh_l1),
        (lstm.bias_ih_l1_reverse, lstm.bias_hh_l1_reverse),
    ]
    found = lstm_biases(lstm)
    assert len(found) == len(expected)
    for (ih, hh), (want_ih, want_hh) in zip(found, expected, strict=True):
        assert ih is want_ih and hh is want_hh


BIAS_HELPERS = {
    "lstm_biases": lstm_biases,
    "set_forget_bias": lambda m: set_forget_bias(m, 1.0),
    "pin_gate": lambda m: pin_gate(m, "forget"),
    "set_chrono_bias": lambda m: set_chrono_bias(m, 10, torch.Generator().manual_seed(0)),
}
"""Every helper that writes (or finds) an LSTM's gate biases, each called the simplest way."""


@pytest.mark.parametrize("make", NOT_LSTMS.values(), ids=NOT_LSTMS.keys())
@pytest.mark.parametrize("helper", BIAS_HELPERS.values(), ids=BIAS_HELPERS.keys())
def test_what_is_not_an_lstm_is_refused_and_left_alone(make, helper):
    module = make()
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    with pytest.raises(TypeError, match=f"an LSTM.*got {type(module).__name__}"):
        helper(module)
    for name, p in module.named_parameters():
        assert torch.equal(p, before[name]), f"{name} changed"


def test_a_sequence_model_is_pointed_at_its_core():
    model = SequenceModel("lstm", 2, H, 1)
    with pytest.raises(TypeError, match=r"model\.core"):
        set_forget_bias(model, 1.0)
    set_forget_bias(model.core, 1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.LSTM(2, H, bias=False),
        lambda: layers.LSTM(2, H, bias=False),
        lambda: nn.LSTMCell(2, H, bias=False),
        lambda: cells.LSTMCell(2, H, bias=False),
    ],
    ids=["nn.LSTM", "course LSTM", "nn.LSTMCell", "course LSTMCell"],
)
@pytest.mark.parametrize("helper", BIAS_HELPERS.values(), ids=BIAS_HELPERS.keys())
def test_an_lstm_without_biases_is_refused(make, helper):
    with pytest.raises(ValueError, match=r"bias=False"):
        helper(make())


def _blocks(bias):
    return dict(zip(cells.LSTMGates._fields, bias.detach().chunk(cells.GATE_COUNTS["lstm"]), strict=True))


@pytest.mark.parametrize("make", LSTMS.values(), ids=LSTMS.keys())
def test_the_forget_bias_reaches_every_layer_and_direction(make):
    lstm = make()
    before = [(ih.detach().clone(), hh.detach().clone()) for ih, hh in lstm_biases(lstm)]
    set_forget_bias(lstm, 2.5)
    for (ih, hh), (old_ih, old_hh) in zip(lstm_biases(lstm), before, strict=True):
        new_ih, new_hh, old_ih, old_hh = _blocks(ih), _blocks(hh), _blocks(old_ih), _blocks(old_hh)
        assert new_ih["f"].eq(2.5).all() and new_hh["f"].eq(0).all()
        for gate in "igo":  # the other gates keep their values
            assert torch.equal(new_ih[gate], old_ih[gate]) and torch.equal(new_hh[gate], old_hh[gate])


def test_the_reverse_direction_gets_the_forget_bias():
    lstm = _bidirectional()
    set_forget_bias(lstm, 1.0)
    for layer in range(2):
        assert getattr(lstm, f"bias_ih_l{layer}_reverse")[H : 2 * H].eq(1.0).all()
        assert getattr(lstm, f"bias_hh_l{layer}_reverse")[H : 2 * H].eq(0.0).all()


@pytest.mark.parametrize("value", [math.nan, math.inf, "1", None, True])
def test_a_forget_bias_must_be_a_finite_number(value):
    error = ValueError if isinstance(value, float) else TypeError
    shown = repr(value) if isinstance(value, float) else f"{type(value).__name__} {value!r}"
    with pytest.raises(error, match=f"value must be a finite number, got {shown}"):
        set_forget_bias(nn.LSTM(2, H), value)


@pytest.mark.parametrize("gate", GATES)
def test_pin_gate_pins_every_layer_and_direction(gate):
    lstm = _bidirectional()
    pin_gate(lstm, gate)
    field = cells.LSTMGates._fields[GATE_BLOCKS[gate]]
    assert field == gate[0]  # the gate table: i, f, g, o
    for ih, hh in lstm_biases(lstm):
        assert _blocks(ih)[field].eq(PINNED_BIAS).all() and _blocks(hh)[field].eq(0).all()


@pytest.mark.parametrize("gate", GATES)
def test_pin_gate_on_the_readable_lstm_equals_the_ablation(gate):
    torch.manual_seed(0)
    readable = layers.LSTM(3, 4, num_layers=2, dtype=torch.float64)
    ablated = AblatedLSTM(3, 4, without=gate, num_layers=2, dtype=torch.float64)
    ablated.load_state_dict(readable.state_dict())
    pin_gate(readable, gate)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(readable(x)[0], ablated(x)[0], rtol=1e-12, atol=1e-12)


def test_chrono_and_forget_bias_write_what_they_always_wrote():
    """The shipped results depend on these values: one draw per layer, in layer order."""
    for implementation in ("readable", "torch"):
        torch.manual_seed(0)
        model = SequenceModel("lstm", 2, 5, 1, num_layers=2, implementation=implementation, forget_bias=1.0)
        expected = {name: p.detach().clone() for name, p in model.core.named_parameters()}
        for layer in range(2):
            assert expected[f"bias_ih_l{layer}"][5:10].eq(1.0).all()
        generator = torch.Generator().manual_seed(7)
        for layer in range(2):  # the formula as it was before lstm_biases
            u = torch.rand(5, generator=generator, dtype=torch.float64)
            forget = torch.log(1 + u * (30 - 2)).to(expected["bias_ih_l0"])
            expected[f"bias_ih_l{layer}"][5:10] = forget
            expected[f"bias_ih_l{layer}"][:5] = -forget
            expected[f"bias_hh_l{layer}"][:10] = 0.0
        set_chrono_bias(model.core, 30, torch.Generator().manual_seed(7))
        for name, p in model.core.named_parameters():
            assert torch.equal(p, expected[name]), name


def test_chrono_draws_per_direction():
    lstm = _bidirectional()
    set_chrono_bias(lstm, 20, torch.Generator().manual_seed(0))
    forward, reverse = lstm.bias_ih_l0[H : 2 * H], lstm.bias_ih_l0_reverse[H : 2 * H]
    assert not torch.equal(forward, reverse)
    for ih, hh in lstm_biases(lstm):
        assert torch.equal(ih[:H], -ih[H : 2 * H]) and hh[: 2 * H].eq(0).all()
        assert ((ih[H : 2 * H] >= 0) & (ih[H : 2 * H] <= math.log(19))).all()


@pytest.mark.parametrize("max_lag", [2, 2.5, "10"])
def test_chrono_needs_a_whole_max_lag_of_at_least_3(max_lag):
    error = ValueError if max_lag == 2 else TypeError
    shown = "2" if max_lag == 2 else f"{type(max_lag).__name__} {max_lag!r}"
    with pytest.raises(error, match=f"max_lag must be an int of at least 3 .*, got {shown}"):
        set_chrono_bias(nn.LSTM(2, H), max_lag, torch.Generator())


def test_unknown_kinds_are_named():
    with pytest.raises(ValueError, match="kind must be one of 'rnn', 'lstm', 'gru', got 'xyz'"):
        width_for_budget("xyz", 2, 1, 1000)
    with pytest.raises(ValueError, match="kind must be one of 'rnn', 'lstm', 'gru', got 'LSTM'"):
        recurrent_parameter_count("LSTM", 2, 4)


@pytest.mark.parametrize("kind", cells.GATE_COUNTS)
def test_the_parameter_count_matches_the_layers(kind):
    for implementation in ("readable", "torch"):
        model = SequenceModel(kind, 3, 7, 2, implementation=implementation)
        assert recurrent_parameter_count(kind, 3, 7) == sum(p.numel() for p in model.core.parameters())
        budget = sum(p.numel() for p in model.parameters())
        assert width_for_budget(kind, 3, 2, budget) == 7
