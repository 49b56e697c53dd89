"""Bad input is refused before any arithmetic, with a message naming what was expected and what came."""

import pytest
import torch

import course_lstm

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
        with pytest.raises(TypeError, match="floating-point tensor .* got dtype torch.int64"):
            model_cls(5, 7)(torch.zeros(6, 3, 5, dtype=torch.int64))

    def test_dtype_mismatch(self, model_cls):
        with pytest.raises(TypeError, match="dtype torch.float64 but the module's parameters are torch.float32"):
            model_cls(5, 7)(torch.zeros(6, 3, 5, dtype=torch.float64))

    def test_not_a_tensor(self, model_cls):
        with pytest.raises(TypeError, match="input must be a torch.Tensor, got list"):
            model_cls(5, 7)([[0.0] * 5])

    def test_empty_sequence(self, model_cls):
        with pytest.raises(ValueError, match="at least one time step"):
            model_cls(5, 7)(torch.zeros(0, 3, 5))

    def test_state_with_wrong_batch(self, model_cls):
        with pytest.raises(ValueError, match=r"must have shape \(2, 3, 7\) \(num_layers, batch, hidden_size\), got \(2, 4, 7\)"):
            model_cls(5, 7, num_layers=2)(torch.zeros(6, 3, 5), states(model_cls, (2, 4, 7)))

    def test_state_that_would_broadcast(self, model_cls):
        # (1, 1, 7) would broadcast against a batch of 3 in the arithmetic: refused
        with pytest.raises(ValueError, match=r"got \(1, 1, 7\)"):
            model_cls(5, 7)(torch.zeros(6, 3, 5), states(model_cls, (1, 1, 7)))

    def test_batched_state_for_unbatched_input(self, model_cls):
        with pytest.raises(ValueError, match=r"\(1, 7\) \(num_layers, hidden_size\) for an unbatched input, got \(1, 1, 7\)"):
            model_cls(5, 7)(torch.zeros(6, 5), states(model_cls, (1, 1, 7)))

    def test_integer_state(self, model_cls):
        bad = torch.zeros(1, 3, 7, dtype=torch.int64)
        hx = (bad, bad) if model_cls is course_lstm.LSTM else bad
        with pytest.raises(TypeError, match="h0 must be a floating-point tensor"):
            model_cls(5, 7)(torch.zeros(6, 3, 5), hx)

    def test_packed_wrong_feature_size(self, model_cls):
        packed = course_lstm.pack(torch.zeros(6, 3, 4), [6, 2, 1])
        with pytest.raises(ValueError, match="input.data must have input_size = 5"):
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
        with pytest.raises(TypeError, match="got dtype torch.int32"):
            model_cls(5, 7)(torch.zeros(3, 5, dtype=torch.int32))


@pytest.mark.parametrize("model_cls", LAYERS + CELLS)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_size": 0, "hidden_size": 4}, ValueError, "input_size must be at least 1, got 0"),
        ({"input_size": 3, "hidden_size": -1}, ValueError, "hidden_size must be at least 1, got -1"),
        ({"input_size": 3.0, "hidden_size": 4}, TypeError, "input_size must be an int, got float"),
    ],
)
def test_bad_sizes(model_cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        model_cls(**kwargs)


@pytest.mark.parametrize("model_cls", LAYERS)
def test_bad_layer_options(model_cls):
    with pytest.raises(ValueError, match="num_layers must be a whole number >= 1, got 0"):
        model_cls(3, 4, num_layers=0)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\], got 1.5"):
        model_cls(3, 4, num_layers=2, dropout=1.5)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        course_lstm.RNN(3, 4, nonlinearity="sigmoid")


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
        with pytest.raises(TypeError, match="whole numbers .* got dtype torch.float32"):
            course_lstm.pack(torch.zeros(6, 3, 2), torch.tensor([3.0, 2.0, 1.0]))

    def test_two_dimensional_lengths(self):
        with pytest.raises(ValueError, match=r"lengths must be 1-D, one length per sequence, got shape \(3, 1\)"):
            course_lstm.pack(torch.zeros(6, 3, 2), [[3], [2], [1]])

    def test_final_outputs_checks_lengths(self):
        with pytest.raises(ValueError, match=r"at most the padded sequence length 4"):
            course_lstm.final_outputs(torch.zeros(4, 2, 3), [5, 1])
