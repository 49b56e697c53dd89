"""TruncatedLSTM: the LSTM with Hochreiter & Schmidhuber's (1997) truncated gradient."""

import torch

from course_lstm import LSTM
from course_lstm.models import TruncatedLSTM

OPTIONS = {"batch_first": True, "dtype": torch.float64}


def pair(seed: int = 0) -> tuple[LSTM, TruncatedLSTM]:
    torch.manual_seed(seed)
    full = LSTM(3, 4, **OPTIONS)
    truncated = TruncatedLSTM(3, 4, **OPTIONS)
    truncated.load_state_dict(full.state_dict())
    return full, truncated


def test_the_forward_pass_is_the_lstms():
    full, truncated = pair()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(truncated(x)[0], full(x)[0], rtol=0, atol=0)


def test_the_cells_gradient_is_the_product_of_forget_gates():
    """Backwards, dc_T/dc_0 is diag(f_1 ... f_T) exactly: no path through h survives."""
    _, truncated = pair(1)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    c0 = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(1, 2, 4, dtype=torch.float64, requires_grad=True)
    _, (_, c_n) = truncated(x, (h0, c0))
    grad_c0, grad_h0 = torch.autograd.grad(c_n.sum(), (c0, h0), allow_unused=True)
    forget = []
    h, c = h0[0], c0[0]
    weights = truncated.layer_weights(0)
    with torch.no_grad():
        for t in range(6):
            h, c, gates = truncated.step_with_gates(x[:, t], (h, c), weights)
            forget.append(gates.f)
    torch.testing.assert_close(grad_c0[0], torch.stack(forget).prod(0))
    assert grad_h0 is None, "h_0 reaches c_T only through the gates, which read it detached"


def test_full_bptt_differs_and_the_weights_still_learn():
    full, truncated = pair(2)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    c0 = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(1, 2, 4, dtype=torch.float64)
    grads = [torch.autograd.grad(m(x, (h0, c0))[1][1].sum(), c0)[0] for m in (full, truncated)]
    assert not torch.allclose(*grads), "full BPTT keeps the paths through h_{t-1}"
    truncated(x)[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in truncated.parameters())
