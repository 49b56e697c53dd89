"""Bad input is refused before any arithmetic, with a message naming what was expected and what came."""

import math

import pytest
import torch
from torch import nn

import course_lstm
from course_lstm.cells import gru_step, lstm_step, rnn_step

LAYERS = [course_lstm.RNN, course_lstm.LSTM, course_lstm.GRU]
CELLS = [course_lstm.RNNCell, course_lstm.LSTMCell, course_lstm.GRUCell]


def states(model_cls, shape):
    lstm = model_cls in (course_lstm.LSTM, course_lstm.LSTMCell)
    return (torch.zeros(shape), torch.zeros(shape)) if lstm else torch.zeros(shape)


@pytest.mark.parametrize("model_cls", LAYERS)
class TestLayerInput:
    def test_wrong_rank(self, model_cls):
        with pytest.raises(ValueError, match=r"input must be 2-D or 3-D .* got a 4-D tensor of shape \(2, 3, 4, 5\)"):
            model_cls(5, 7)(torch.zeros(2, 3, 4, 5))
        with pytest.raises(ValueError, match=r"got a 1-D tensor of shape \(5\)"):
            model_cls(5, 7)(torch.zeros(5))

    def test_wrong_feature_size(self, model_cls):
        with pytest.raises(ValueError, match=r"input_size = 5 in dimension 2, got 4 \(shape \(6, 3, 4\)\)"):
            model_cls(5, 7)(torch.zeros(6, 3, 4))

    def test_batch_first_layout_is_named(self, model_cls):
        with pytest.raises(ValueError, match=r"\(batch, seq_len, input_size\)"):
            model_cls(5, 7, batch_first=True)(torch.zeros(1, 2, 3, 5))

    def test_integer_input(self, model_cls):
        with pytest.raises(TypeError, match=r"floating-point tensor .* got dtype torch.int64"):
            model_cls(5, 7)(torch.zeros(6, 3, 5, dtype=torch.int64))

    def test_dtype_mismatch(self, model_cls):
        with pytest.raises(TypeError, match=r"dtype torch.float64 but the module's parameters are torch.float32"):
            model_cls(5, 7)(torch.zeros(6, 3, 5, dtype=torch.float64))

    def test_not_a_tensor(self, model_cls):
        with pytest.raises(TypeError, match=r"input must be a torch.Tensor, got list"):
            model_cls(5, 7)([[0.0] * 5])

    def test_empty_sequence(self, model_cls):
        with pytest.raises(ValueError, match="at least one time step"):
            model_cls(5, 7)(torch.zeros(0, 3, 5))

    def test_state_with_wrong_batch(self, model_cls):
        message = r"must have shape \(2, 3, 7\) \(num_layers, batch, hidden_size\), got \(2, 4, 7\)"
        with pytest.raises(ValueError, match=message):
            model_cls(5, 7, num_layers=2)(torch.zeros(6, 3, 5), states(model_cls, (2, 4, 7)))

    def test_state_that_would_broadcast(self, model_cls):
        # (1, 1, 7) would broadcast against a batch of 3 in the arithmetic: refused
        with pytest.raises(ValueError, match=r"got \(1, 1, 7\)"):
            model_cls(5, 7)(torch.zeros(6, 3, 5), states(model_cls, (1, 1, 7)))

    def test_batched_state_for_unbatched_input(self, model_cls):
        message = r"\(1, 7\) \(num_layers, hidden_size\) for an unbatched input, got \(1, 1, 7\)"
        with pytest.raises(ValueError, match=message):
            model_cls(5, 7)(torch.zeros(6, 5), states(model_cls, (1, 1, 7)))

    def test_integer_state(self, model_cls):
        bad = torch.zeros(1, 3, 7, dtype=torch.int64)
        hx = (bad, bad) if model_cls is course_lstm.LSTM else bad
        with pytest.raises(TypeError, match="h0 must be a floating-point tensor"):
            model_cls(5, 7)(torch.zeros(6, 3, 5), hx)

    def test_packed_wrong_feature_size(self, model_cls):
        packed = course_lstm.pack(torch.zeros(6, 3, 4), [6, 2, 1])
        with pytest.raises(ValueError, match=r"input.data must have input_size = 5"):
            model_cls(5, 7)(packed)


def test_lstm_wants_a_pair_of_states():
    with pytest.raises(TypeError, match=r"hx must be a pair \(h0, c0\) of tensors for LSTM, got Tensor"):
        course_lstm.LSTM(5, 7)(torch.zeros(6, 3, 5), torch.zeros(1, 3, 7))


def test_mismatched_h0_c0():
    h0, c0 = torch.zeros(1, 3, 7), torch.zeros(1, 3, 8)
    with pytest.raises(ValueError, match=r"c0 must have shape \(1, 3, 7\) .* got \(1, 3, 8\)"):
        course_lstm.LSTM(5, 7)(torch.zeros(6, 3, 5), (h0, c0))


@pytest.mark.parametrize("model_cls", CELLS)
class TestCellInput:
    def test_wrong_rank(self, model_cls):
        with pytest.raises(ValueError, match=r"input must be 1-D or 2-D .* got a 3-D tensor"):
            model_cls(5, 7)(torch.zeros(2, 3, 5))

    def test_wrong_feature_size(self, model_cls):
        with pytest.raises(ValueError, match=r"input_size = 5 in dimension 1, got 6"):
            model_cls(5, 7)(torch.zeros(3, 6))

    def test_state_with_wrong_batch(self, model_cls):
        with pytest.raises(ValueError, match=r"must have shape \(3, 7\) \(batch, hidden_size\), got \(1, 7\)"):
            model_cls(5, 7)(torch.zeros(3, 5), states(model_cls, (1, 7)))

    def test_integer_input(self, model_cls):
        with pytest.raises(TypeError, match=r"got dtype torch.int32"):
            model_cls(5, 7)(torch.zeros(3, 5, dtype=torch.int32))


@pytest.mark.parametrize("model_cls", LAYERS + CELLS)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_size": 0, "hidden_size": 4}, ValueError, "input_size must be a positive int, got 0"),
        ({"input_size": 3, "hidden_size": -1}, ValueError, "hidden_size must be a positive int, got -1"),
        ({"input_size": 3.0, "hidden_size": 4}, TypeError, "input_size must be a positive int, got float 3.0"),
        ({"input_size": 3, "hidden_size": True}, TypeError, "hidden_size must be a positive int, got bool"),
    ],
)
def test_bad_sizes(model_cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        model_cls(**kwargs)


@pytest.mark.parametrize("model_cls", LAYERS)
def test_bad_layer_options(model_cls):
    with pytest.raises(ValueError, match="num_layers must be a positive int, got 0"):
        model_cls(3, 4, num_layers=0)
    with pytest.raises(TypeError, match=r"num_layers must be a positive int, got float 2.0"):
        model_cls(3, 4, num_layers=2.0)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\], got 1.5"):
        model_cls(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\], got nan"):
        model_cls(3, 4, num_layers=2, dropout=math.nan)
    # torch raises ValueError for a dropout of the wrong type; ours is a TypeError and a ValueError
    with pytest.raises(TypeError, match=r"dropout must be a probability in \[0, 1\], got str '0.1'"):
        model_cls(3, 4, num_layers=2, dropout="0.1")
    with pytest.raises(ValueError):
        nn.LSTM(3, 4, num_layers=2, dropout="0.1")
    with pytest.raises(ValueError):
        model_cls(3, 4, num_layers=2, dropout="0.1")


@pytest.mark.parametrize("model_cls", [course_lstm.RNN, course_lstm.RNNCell])
@pytest.mark.parametrize("nonlinearity", ["sigmoid", "Tanh", "RELU", " tanh"])
def test_bad_nonlinearity(model_cls, nonlinearity):
    with pytest.raises(ValueError, match=f"nonlinearity must be 'tanh' or 'relu', got '{nonlinearity}'"):
        model_cls(3, 4, nonlinearity=nonlinearity)


class TestLengths:
    def test_longer_than_padding(self):
        with pytest.raises(ValueError, match=r"at most the padded sequence length 6, got lengths\[1\] = 7"):
            course_lstm.pack(torch.zeros(6, 3, 2), [6, 7, 1])

    def test_zero_length(self):
        with pytest.raises(ValueError, match=r"at least 1, got lengths\[2\] = 0"):
            course_lstm.pack(torch.zeros(6, 3, 2), [6, 2, 0])

    def test_one_length_per_sequence(self):
        with pytest.raises(ValueError, match="one length per sequence: expected 3, got 2"):
            course_lstm.pack(torch.zeros(6, 3, 2), [6, 2])

    def test_batch_first_reads_the_right_axes(self):
        with pytest.raises(ValueError, match="expected 6, got 3"):
            course_lstm.pack(torch.zeros(6, 3, 2), [3, 2, 1], batch_first=True)

    def test_fractional_lengths(self):
        with pytest.raises(TypeError, match=r"whole numbers .* got dtype torch.float32"):
            course_lstm.pack(torch.zeros(6, 3, 2), torch.tensor([3.0, 2.0, 1.0]))

    def test_two_dimensional_lengths(self):
        with pytest.raises(ValueError, match=r"lengths must be 1-D, one length per sequence, got shape \(3, 1\)"):
            course_lstm.pack(torch.zeros(6, 3, 2), [[3], [2], [1]])

    def test_final_outputs_checks_lengths(self):
        with pytest.raises(ValueError, match=r"at most the padded sequence length 4"):
            course_lstm.final_outputs(torch.zeros(4, 2, 3), [5, 1])


# --- bias and batch_first are bools, as torch.nn checks them -----------------------------------

NOT_BOOLS = [1, 0, "no", "False", None, 1.0]


@pytest.mark.parametrize("model_cls", LAYERS + CELLS)
@pytest.mark.parametrize("value", NOT_BOOLS)
def test_bias_must_be_a_bool(model_cls, value):
    # bias="no" used to build a layer with biases, as if it were True
    with pytest.raises(TypeError, match=rf"bias must be a bool \(True or False\), got {type(value).__name__}"):
        model_cls(3, 4, bias=value)


@pytest.mark.parametrize("model_cls", LAYERS)
@pytest.mark.parametrize("value", NOT_BOOLS)
def test_batch_first_must_be_a_bool(model_cls, value):
    # batch_first="False" used to be truthy: the layer read (L, N, I) input as (N, L, I)
    with pytest.raises(TypeError, match=rf"batch_first must be a bool \(True or False\), got {type(value).__name__}"):
        model_cls(3, 4, batch_first=value)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("argument", ["bias", "batch_first"])
def test_bool_check_matches_torch(name, argument):
    # torch.nn: "TypeError: bias should be of type bool, got: int"; same type, same gist
    with pytest.raises(TypeError, match=f"{argument} should be of type bool, got: int"):
        getattr(nn, name)(3, 4, **{argument: 1})
    with pytest.raises(TypeError, match=f"{argument} must be a bool .*got int 1"):
        getattr(course_lstm, name)(3, 4, **{argument: 1})


# --- torch.nn's other keywords: accepted at their defaults, refused otherwise ------------------


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_torch_keywords_at_their_defaults_are_accepted(name):
    extra = {"proj_size": 0} if name == "LSTM" else {}
    options = {
        "num_layers": 1,
        "bias": True,
        "batch_first": False,
        "dropout": 0.0,
        "bidirectional": False,
        "device": "cpu",
        "dtype": torch.float64,
        **extra,
    }
    ours, theirs = getattr(course_lstm, name)(3, 4, **options), getattr(nn, name)(3, 4, **options)
    assert ours.bidirectional is False and ours.weight_ih_l0.dtype == torch.float64
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if name == "LSTM":
        assert ours.proj_size == 0


def test_torch_positional_order_is_kept():
    # nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size)
    ours = course_lstm.LSTM(3, 4, 2, False, True, 0.0, False, 0)
    assert (ours.num_layers, ours.bias, ours.batch_first) == (2, False, True)
    rnn = course_lstm.RNN(3, 4, 1, "relu", True, False, 0.0, False)
    assert rnn.nonlinearity == "relu"


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_bidirectional_is_refused_by_name(name):
    with pytest.raises(ValueError, match=r"bidirectional=True is not part of the course's layers.*torch.nn"):
        getattr(course_lstm, name)(3, 4, bidirectional=True)
    with pytest.raises(TypeError, match="bidirectional must be a bool"):
        getattr(course_lstm, name)(3, 4, bidirectional=1)


def test_proj_size_is_refused_by_name():
    with pytest.raises(ValueError, match=r"proj_size=2 is not part of the course's layers.*torch.nn"):
        course_lstm.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size must be a non-negative int, got -1"):
        course_lstm.LSTM(3, 4, proj_size=-1)


@pytest.mark.parametrize("model_cls", CELLS)
def test_cells_refuse_hidden_size_zero(model_cls):
    # torch.nn's cells accept hidden_size=0 (they check nothing); its layers refuse it, and so do
    # ours, cells and layers alike: a cell without hidden units has no state to carry
    assert getattr(nn, model_cls.__name__)(10, 0)(torch.zeros(2, 10)) is not None
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        model_cls(10, 0)
    assert "hidden_size = 0" in model_cls.__doc__ or "hidden_size=0" in model_cls.__doc__


# --- the functional steps check their arguments -----------------------------------------------

N, I, H = 3, 2, 5


def step_arguments(step, *, gates=None, x=(N, I), h=(N, H), c=(N, H), ih=None, hh=None, bias=None, dtype=torch.float64):
    """Arguments of a valid call to ``step``, with any shape replaced."""
    g = gates or {rnn_step: 1, lstm_step: 4, gru_step: 3}[step]
    ih, hh, bias = ih or (g * H, I), hh or (g * H, H), bias or (g * H,)
    states = [torch.randn(h, dtype=dtype)] + ([torch.randn(c, dtype=dtype)] if step is lstm_step else [])
    weights = [torch.randn(s, dtype=dtype) for s in (ih, hh, bias, bias)]
    return [torch.randn(x, dtype=dtype), *states, *weights]


STEPS = [rnn_step, lstm_step, gru_step]


@pytest.mark.parametrize("step", STEPS)
def test_step_refuses_a_state_that_would_broadcast(step):
    # an h of shape (1, H) used to be broadcast over the batch of N, without a word
    with pytest.raises(ValueError, match=r"h must have shape \(3, 5\) \(batch, hidden_size\), got \(1, 5\)"):
        step(*step_arguments(step, h=(1, H)))


def test_lstm_step_refuses_a_cell_state_that_would_broadcast():
    with pytest.raises(ValueError, match=r"c must have shape \(3, 5\) .*got \(1, 5\)"):
        lstm_step(*step_arguments(lstm_step, c=(1, H)))
    with pytest.raises(ValueError, match=r"c must have shape \(3, 5\) .*got \(5,\)|got \(5\)"):
        lstm_step(*step_arguments(lstm_step, c=(H,)))


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": (N, I + 1)}, r"x must have input_size = 2 .*columns of weight_ih.*got 3"),
        ({"x": (4, N, I)}, r"x must be 1-D or 2-D \(batch, input_size\) or \(input_size,\), got a 3-D"),
        ({"h": (N, H + 1)}, r"h must have shape \(3, 5\)"),
        ({"hh": (7, H)}, r"weight_hh must have shape \(\d+, 5\) \((\d \* )?hidden_size, hidden_size\), got \(7, 5\)"),
        ({"ih": (7, I)}, r"weight_ih must have shape \(\d+, 2\) \((\d \* )?hidden_size, input_size\), got \(7, 2\)"),
        ({"bias": (2,)}, r"bias_ih must have shape \(\d+\) \(.*hidden_size,\), got \(2\)"),
    ],
)
def test_step_refuses_inconsistent_shapes(step, change, message):
    with pytest.raises(ValueError, match=message):
        step(*step_arguments(step, **change))


@pytest.mark.parametrize("step", STEPS)
def test_step_refuses_weights_of_another_gate_count(step):
    # an LSTM's (4H, I) weights given to the RNN step, or the other way round
    gates = 4 if step is not lstm_step else 1
    with pytest.raises(ValueError, match="weight_hh must have"):
        step(*step_arguments(step, gates=gates))


@pytest.mark.parametrize("step", STEPS)
def test_step_refuses_wrong_types(step):
    arguments = step_arguments(step)
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        step(arguments[0].tolist(), *arguments[1:])
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got dtype torch.int64"):
        step(arguments[0].long(), *arguments[1:])
    with pytest.raises(TypeError, match=r"h has dtype torch.float32 but x has torch.float64"):
        step(arguments[0], arguments[1].float(), *arguments[2:])
    with pytest.raises(TypeError, match=r"weight_hh has dtype torch.float32 but x has torch.float64"):
        last = arguments[-4:]
        step(*arguments[:-4], last[0], last[1].float(), *last[2:])


@pytest.mark.parametrize("step", STEPS)
def test_step_accepts_what_it_documents(step):
    # batched (N, I) with (N, H), unbatched (I,) with (H,), without biases, with one bias only
    out = step(*step_arguments(step))
    assert (out[0] if step is lstm_step else out).shape == (N, H)
    unbatched = step(*step_arguments(step, x=(I,), h=(H,), c=(H,)))
    assert (unbatched[0] if step is lstm_step else unbatched).shape == (H,)
    arguments = step_arguments(step)
    step(*arguments[:-2])
    step(*arguments[:-1])


@pytest.mark.parametrize("nonlinearity", ["Tanh", "RELU", "sigmoid", None])
def test_rnn_step_nonlinearity_is_exactly_tanh_or_relu(nonlinearity):
    # "Tanh" used to compute ReLU: anything but "tanh" fell through to torch.relu
    with pytest.raises(ValueError, match=f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"):
        rnn_step(*step_arguments(rnn_step), nonlinearity=nonlinearity)


def test_rnn_step_relu_and_tanh_are_what_they_say():
    x, h, *weights = step_arguments(rnn_step)
    pre = x @ weights[0].T + weights[2] + h @ weights[1].T + weights[3]
    torch.testing.assert_close(rnn_step(x, h, *weights, nonlinearity="relu"), torch.relu(pre))
    torch.testing.assert_close(rnn_step(x, h, *weights), torch.tanh(pre))
