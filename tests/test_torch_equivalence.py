"""course_lstm's cells and layers against torch.nn: outputs, states and every gradient in float64.

Shapes and options are drawn by hypothesis; weights come from torch.nn's own initialisation and
are copied with load_state_dict, so the comparison also checks names, shapes and gate order.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import CELL_PAIRS, LAYER_PAIRS, assert_same_gradients, assert_same_outputs, layer_cases, twins
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import course_lstm
from course_lstm import cells

SETTINGS = settings(max_examples=25, deadline=None)


def make_inputs(case, num_states):
    """Leaf tensors for one call: the padded input and the initial states (or none)."""
    L, N, I, H, D = (case[k] for k in ("seq_len", "batch", "input_size", "hidden_size", "num_layers"))
    unbatched = case["layout"] == "unbatched"
    if unbatched:
        shape = (L, I)
    else:
        shape = (N, L, I) if case["batch_first"] else (L, N, I)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    state_shape = (D, H) if unbatched else (D, N, H)
    states = (
        [torch.randn(state_shape, dtype=torch.float64, requires_grad=True) for _ in range(num_states)]
        if case["with_state"]
        else []
    )
    return x, states


@pytest.mark.parametrize("name", LAYER_PAIRS)
@SETTINGS
@given(case=layer_cases())
def test_layer_matches_torch(name, case):
    torch.manual_seed(case["seed"])
    options = {k: case[k] for k in ("num_layers", "bias", "batch_first")}
    ours, theirs = twins(LAYER_PAIRS[name], case["input_size"], case["hidden_size"], **options)
    x, states = make_inputs(case, 2 if name == "LSTM" else 1)
    hx = None if not states else (tuple(states) if name == "LSTM" else states[0])

    if case["layout"] == "packed":
        lengths = torch.randint(1, case["seq_len"] + 1, (case["batch"],))
        # our pack() validates lengths; torch's own packing gives the reference input
        ours_in = course_lstm.pack(x, lengths, batch_first=case["batch_first"])
        theirs_in = pack_padded_sequence(x, lengths, case["batch_first"], enforce_sorted=False)
    else:
        ours_in = theirs_in = x

    ours_out, theirs_out = ours(ours_in, hx), theirs(theirs_in, hx)
    assert_same_outputs(ours_out, theirs_out)
    assert_same_gradients(ours, theirs, ours_out, theirs_out, [x, *states])


@pytest.mark.parametrize("name", CELL_PAIRS)
@SETTINGS
@given(
    input_size=st.integers(1, 6),
    hidden_size=st.integers(1, 6),
    batch=st.integers(1, 5),
    bias=st.booleans(),
    batched=st.booleans(),
    with_state=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_cell_matches_torch(name, input_size, hidden_size, batch, bias, batched, with_state, seed):
    torch.manual_seed(seed)
    ours, theirs = twins(CELL_PAIRS[name], input_size, hidden_size, bias=bias)
    lead = (batch,) if batched else ()
    x = torch.randn(*lead, input_size, dtype=torch.float64, requires_grad=True)
    states = (
        [
            torch.randn(*lead, hidden_size, dtype=torch.float64, requires_grad=True)
            for _ in range(2 if name == "LSTMCell" else 1)
        ]
        if with_state
        else []
    )
    hx = None if not states else (tuple(states) if name == "LSTMCell" else states[0])

    ours_out, theirs_out = ours(x, hx), theirs(x, hx)
    assert_same_outputs(ours_out, theirs_out)
    assert_same_gradients(ours, theirs, ours_out, theirs_out, [x, *states])


@pytest.mark.parametrize("name", LAYER_PAIRS)
def test_state_dict_round_trip_both_ways(name):
    ours_cls, theirs_cls = LAYER_PAIRS[name]
    ours, theirs = ours_cls(3, 4, num_layers=2), theirs_cls(3, 4, num_layers=2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    for key, value in ours.state_dict().items():
        assert torch.equal(theirs.state_dict()[key], value)


def test_lstm_cell_gates_rebuild_its_output():
    """The gates handed back are the ones used: c' = f c + i g and h' = o tanh(c')."""
    torch.manual_seed(0)
    cell = course_lstm.LSTMCell(3, 5, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    h, c = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    step = cell.forward_with_gates(x, (h, c))
    i, f, g, o = step.gates
    torch.testing.assert_close(step.c, f * c + i * g)
    torch.testing.assert_close(step.h, o * torch.tanh(step.c))
    for gate in (i, f, o):
        assert ((gate > 0) & (gate < 1)).all()
    # the forget gate is block 1 of torch's (i, f, g, o): recompute it from nn.LSTMCell's weights
    reference = nn.LSTMCell(3, 5, dtype=torch.float64)
    reference.load_state_dict(cell.state_dict())
    H = 5
    f_expected = torch.sigmoid(
        x @ reference.weight_ih[H : 2 * H].T
        + reference.bias_ih[H : 2 * H]
        + h @ reference.weight_hh[H : 2 * H].T
        + reference.bias_hh[H : 2 * H]
    )
    torch.testing.assert_close(f, f_expected)


def test_unbatched_gates_are_unbatched():
    cell = course_lstm.LSTMCell(3, 5)
    step = cell.forward_with_gates(torch.randn(3))
    assert step.h.shape == step.c.shape == (5,)
    assert all(gate.shape == (5,) for gate in step.gates)


@pytest.mark.parametrize("name", LAYER_PAIRS)
def test_dropout_between_layers_only_in_training(name):
    ours_cls, _ = LAYER_PAIRS[name]
    torch.manual_seed(0)
    model = ours_cls(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(6, 4, 3)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    first, second = model(x)[0], model(x)[0]
    assert not torch.equal(first, second)
    # with dropout off the stack is deterministic in training mode too
    model.dropout = 0.0
    assert torch.equal(model(x)[0], model(x)[0])


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="dropout=0.3 has no effect with num_layers=1"):
        course_lstm.LSTM(3, 4, dropout=0.3)


@pytest.mark.parametrize("name", LAYER_PAIRS)
def test_reset_parameters_uses_torch_bounds(name):
    model = LAYER_PAIRS[name][0](3, 16, num_layers=2)
    bound = 16**-0.5
    for parameter in model.parameters():
        assert parameter.abs().max() <= bound
        assert parameter.std() > bound / 3  # not left at zero


def test_relu_rnn_matches_torch():
    torch.manual_seed(1)
    ours, theirs = twins(LAYER_PAIRS["RNN"], 3, 4, num_layers=2, nonlinearity="relu")
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    assert_same_outputs(ours(x), theirs(x))
    assert_same_gradients(ours, theirs, ours(x), theirs(x), [x])


@pytest.mark.parametrize("name", LAYER_PAIRS)
def test_torch_keywords_spelled_out_match_torch(name):
    # real code often spells out torch.nn's defaults; the same call builds twins that agree
    torch.manual_seed(2)
    options = {"num_layers": 2, "bias": True, "batch_first": True, "dropout": 0.0, "bidirectional": False}
    if name == "LSTM":
        options["proj_size"] = 0
    ours, theirs = twins(LAYER_PAIRS[name], 3, 4, **options, device="cpu")
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert_same_outputs(ours(x), theirs(x))
    assert_same_gradients(ours, theirs, ours(x), theirs(x), [x])


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_functional_steps_match_torch_cells(name):
    # the checked rnn_step / lstm_step / gru_step still compute exactly what nn's cells compute
    torch.manual_seed(3)
    cell = getattr(torch.nn, name)(3, 4, dtype=torch.float64)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    if name == "LSTMCell":
        c = torch.randn(2, 4, dtype=torch.float64)
        step = cells.lstm_step(x, h, c, *weights)
        assert_same_outputs((step.h, step.c), cell(x, (h, c)))
    else:
        step_fn = cells.rnn_step if name == "RNNCell" else cells.gru_step
        assert_same_outputs(step_fn(x, h, *weights), cell(x, h))
