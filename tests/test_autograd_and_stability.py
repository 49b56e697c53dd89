"""gradcheck on small sizes, long sequences, packing semantics and device independence."""

import pytest
import torch

import course_lstm
from course_lstm.cells import gru_step, lstm_step, rnn_step

LAYERS = [course_lstm.RNN, course_lstm.LSTM, course_lstm.GRU]


@pytest.mark.parametrize("model_cls", LAYERS)
@pytest.mark.parametrize("packed", [False, True])
def test_gradcheck_layers(model_cls, packed):
    """Finite differences agree with autograd for the input and every parameter."""
    torch.manual_seed(0)
    model = model_cls(2, 3, num_layers=2, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in model.named_parameters()]

    def run(x, *params):
        replaced = dict(zip(names, params, strict=True))
        inputs = course_lstm.pack(x, [4, 2]) if packed else x
        output, _ = torch.func.functional_call(model, replaced, (inputs,))
        return output.data if packed else output

    assert torch.autograd.gradcheck(run, (x, *model.parameters()))


@pytest.mark.parametrize("step", [rnn_step, lstm_step, gru_step])
def test_gradcheck_steps(step):
    torch.manual_seed(0)
    gates = {rnn_step: 1, lstm_step: 4, gru_step: 3}[step]
    H, I = 3, 2
    double = {"dtype": torch.float64, "requires_grad": True}
    x, h = torch.randn(2, I, **double), torch.randn(2, H, **double)
    weights = [
        torch.randn(gates * H, I, **double),
        torch.randn(gates * H, H, **double),
        torch.randn(gates * H, **double),
        torch.randn(gates * H, **double),
    ]
    state = [h, torch.randn(2, H, **double)] if step is lstm_step else [h]

    def run(*args):
        result = step(*args)
        return result[:2] if step is lstm_step else result

    assert torch.autograd.gradcheck(run, (x, *state, *weights))


@pytest.mark.parametrize("model_cls", LAYERS)
def test_long_sequences_stay_finite(model_cls):
    """2000 steps forward and back: no inf or NaN in outputs, states or gradients."""
    torch.manual_seed(0)
    model = model_cls(4, 16)
    x = torch.randn(2000, 3, 4, requires_grad=True)
    output, _ = model(x)
    output.pow(2).mean().backward()
    assert torch.isfinite(output).all()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("model_cls", LAYERS)
def test_packed_final_state_is_state_at_true_length(model_cls):
    """h_n of a packed batch equals each sequence run alone, and final_outputs on padded output."""
    torch.manual_seed(0)
    model = model_cls(3, 5, batch_first=True, dtype=torch.float64)
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([3, 9, 1, 6])
    _, final = model(course_lstm.pack(x, lengths, batch_first=True))
    h_n = final[0] if isinstance(final, tuple) else final
    padded_output, _ = model(x)
    for n, length in enumerate(lengths.tolist()):
        _, alone = model(x[n : n + 1, :length])
        alone_h = alone[0] if isinstance(alone, tuple) else alone
        torch.testing.assert_close(h_n[:, n], alone_h[:, 0])
    # the padded run's output at each true length is the packed run's final h
    torch.testing.assert_close(course_lstm.final_outputs(padded_output, lengths, batch_first=True), h_n[-1])
    # ... while reading the last padded step gives something else for the short sequences
    assert not torch.allclose(padded_output[:, -1][lengths < 9], h_n[-1][lengths < 9])


@pytest.mark.parametrize("model_cls", LAYERS)
def test_no_device_is_hard_coded(model_cls):
    """On the 'meta' device every tensor must follow the parameters' device, or this fails.

    CI has no GPU: this is how the CUDA/MPS path is exercised by the same code.
    """
    model = model_cls(3, 4, num_layers=2, device="meta")
    x = torch.empty(5, 2, 3, device="meta")
    output, final = model(x)
    assert output.device.type == "meta"
    states = final if isinstance(final, tuple) else (final,)
    assert all(s.device.type == "meta" and s.shape == (2, 2, 4) for s in states)


def test_device_mismatch_is_named():
    model = course_lstm.LSTM(3, 4, device="meta")
    with pytest.raises(ValueError, match="input is on device cpu but the module's parameters are on meta"):
        model(torch.zeros(5, 2, 3))
