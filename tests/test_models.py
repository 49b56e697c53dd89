"""Gate ablation on torch.nn's LSTM by pinning a gate's bias: equal to the readable AblatedLSTM
(outputs and gradients, float64), and the pinned rows never move in training."""

import pytest
import torch

from course_lstm.models import GATE_BLOCKS, GATES, PINNED_BIAS, SequenceModel, pin_gate
from course_lstm.tasks import make_task
from course_lstm.training import fit


def _output_and_gradients(model, x):
    output = model(x)
    gradients = torch.autograd.grad(output.square().sum(), [x, *model.parameters()])
    return output, torch.cat([g.flatten() for g in gradients])


@pytest.mark.parametrize("gate", GATES)
def test_a_pinned_gate_equals_the_readable_ablation(gate):
    torch.manual_seed(0)
    fast = SequenceModel(
        "lstm", 3, 5, 2, num_layers=2, implementation="torch", forget_bias=1.0, without_gate=gate
    ).double()
    readable = SequenceModel("lstm", 3, 5, 2, num_layers=2, without_gate=gate).double()
    readable.load_state_dict(fast.state_dict())
    x = torch.randn(4, 7, 3, dtype=torch.float64, requires_grad=True)
    (out_fast, grad_fast), (out_readable, grad_readable) = (_output_and_gradients(m, x) for m in (fast, readable))
    torch.testing.assert_close(out_fast, out_readable, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_fast, grad_readable, rtol=1e-10, atol=1e-12)
    # and not equal to the full LSTM: the pin did something
    full = SequenceModel("lstm", 3, 5, 2, num_layers=2, implementation="torch").double()
    full.load_state_dict(fast.state_dict())
    with torch.no_grad():
        full.core.bias_ih_l0.copy_(readable.core.bias_ih_l0.clone().fill_(0.1))
    assert not torch.allclose(full(x), out_fast)


@pytest.mark.parametrize("gate", GATES)
def test_the_pin_survives_the_forget_bias_and_training(gate):
    torch.manual_seed(1)
    model = SequenceModel("lstm", 2, 4, 1, implementation="torch", forget_bias=1.0, without_gate=gate)
    block = slice(GATE_BLOCKS[gate] * 4, (GATE_BLOCKS[gate] + 1) * 4)
    before = {name: p[block].clone() for name, p in model.core.named_parameters()}
    assert before["bias_ih_l0"].eq(PINNED_BIAS).all() and before["bias_hh_l0"].eq(0).all()
    fit(
        model,
        make_task("adding", 10),
        20,
        batch_size=16,
        lr=1e-2,
        eval_every=10,
        eval_batch_size=32,
        progress=False,
        stop_when_solved=False,
    )
    for name, p in model.core.named_parameters():
        assert torch.equal(p[block], before[name]), f"{name}'s pinned rows moved"


def test_pin_gate_names_the_gates():
    with pytest.raises(ValueError, match=r"gate must be one of .*'input', 'forget', 'output'.*got 'cell'"):
        pin_gate(torch.nn.LSTM(2, 3), "cell")
