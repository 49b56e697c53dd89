"""Diagnostics against independent computations: ordinary backward, the backward recursion with
autograd's step Jacobians, the RNN's closed form, unrolled maps, and the LSTM equations."""

import dataclasses

import pytest
import torch
from torch import nn

from course_lstm import diagnostics, layers
from course_lstm.cells import lstm_step
from course_lstm.fast import FusedLSTM
from course_lstm.models import GATES, AblatedLSTM, SequenceModel, set_forget_bias
from course_lstm.tasks import AddingProblem, CopyMemory

KINDS = ["rnn", "lstm", "gru"]
TASKS = {"adding": AddingProblem(7), "copy": CopyMemory(lag=3, n_symbols=3, copy_length=2)}


def make_model(kind, task, implementation="readable", hidden=4, seed=0, **options):
    torch.manual_seed(seed)
    model = SequenceModel(
        kind, task.input_size, hidden, task.output_size, readout=task.readout, implementation=implementation, **options
    )
    return model.double()


def make_batch(task, n=3, seed=1):
    return task.batch(n, torch.Generator().manual_seed(seed), dtype=torch.float64)


def unroll(layer, x, state):
    """States after every step of one layer: a list of T tuples, each tensor (N, H)."""
    weights = layer.layer_weights(0)
    states = []
    for t in range(x.shape[1]):
        state = layer.step(x[:, t], state, weights)
        states.append(state)
    return states


def state_jacobian(layer, x_t, state):
    """d s' / d s for one sequence: x_t (I,), state a tuple of (H,) -> (S, S), s = (h[, c])."""
    weights, parts = layer.layer_weights(0), len(state)

    def step(s):
        pieces = tuple(s.view(parts, 1, -1))
        return torch.cat(layer.step(x_t.unsqueeze(0), pieces, weights), dim=-1).squeeze(0)

    return torch.autograd.functional.jacobian(step, torch.cat(state))


def direct_terms(model, task, batch, hidden):
    """dL/dh_t through the readout alone, h_t held as leaves: (N, T, H)."""
    hidden = hidden.detach().requires_grad_()
    prediction = model.head(hidden[:, -1] if model.readout == "last" else hidden)
    (direct,) = torch.autograd.grad(task.loss_fn(prediction, batch), hidden)
    return direct


def mean_norm(vectors):
    """||v|| over the hidden units, averaged over the batch (dim 0): (N, [T,] H) -> ([T])."""
    return vectors.norm(dim=-1).mean(dim=0)


# -- gradient_through_time -----------------------------------------------------------------


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("implementation", ["readable", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_last_step_matches_ordinary_backward(kind, implementation, task_name):
    """At t = T-1 only the readout path exists: the norm equals that of output.grad[:, -1]."""
    task = TASKS[task_name]
    model, batch = make_model(kind, task, implementation), make_batch(task)
    flow = diagnostics.gradient_through_time(model, task, batch)

    captured = {}

    def keep_output(module, inputs, output):
        output[0].retain_grad()
        captured["output"] = output[0]

    model.core.register_forward_hook(keep_output)
    loss = task.loss_fn(model(batch.x), batch)
    loss.backward()
    expected = mean_norm(captured["output"].grad[:, -1])
    assert flow.h.shape == (task.sequence_length,)
    assert (flow.c is None) == (kind != "lstm")
    torch.testing.assert_close(flow.h[-1], expected, rtol=1e-10, atol=1e-14)
    assert flow.loss == pytest.approx(loss.item(), rel=1e-12)


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("kind", KINDS)
def test_backward_recursion_with_step_jacobians(kind, task_name):
    """lambda_t = direct_t + J_{t+1}^T lambda_{t+1} in state space. For the LSTM the total
    dL/dc_t adds the path through h_t = o_t tanh(c_t): lambda^c_t + o_t (1 - tanh^2 c_t) lambda^h_t.
    """
    task = TASKS[task_name]
    model, batch = make_model(kind, task, seed=2), make_batch(task, seed=3)
    core, x = model.core, batch.x
    n, length, size = x.shape[0], x.shape[1], core.hidden_size
    zeros = tuple(x.new_zeros(n, size) for _ in core.state_names)
    with torch.no_grad():
        states = unroll(core, x, zeros)
    direct = direct_terms(model, task, batch, torch.stack([s[0] for s in states], dim=1))

    adjoint = [None] * length  # (N, S) per step
    pad = x.new_zeros(n, size * (len(zeros) - 1))
    adjoint[-1] = torch.cat([direct[:, -1], pad], dim=-1)
    for t in range(length - 2, -1, -1):
        jacobians = [state_jacobian(core, x[k, t + 1], tuple(s[k] for s in states[t])) for k in range(n)]
        through_next = torch.stack([j.T @ a for j, a in zip(jacobians, adjoint[t + 1], strict=True)])
        adjoint[t] = torch.cat([direct[:, t], pad], dim=-1) + through_next

    flow = diagnostics.gradient_through_time(model, task, batch)
    dh = torch.stack([a[:, :size] for a in adjoint], dim=1)
    torch.testing.assert_close(flow.h, mean_norm(dh), rtol=1e-9, atol=1e-14)
    if kind == "lstm":
        previous = [zeros, *states[:-1]]
        o = torch.stack(
            [lstm_step(x[:, t], *previous[t], *core.layer_weights(0)).gates.o for t in range(length)], dim=1
        )
        c = torch.stack([s[1] for s in states], dim=1)
        dc = torch.stack([a[:, size:] for a in adjoint], dim=1) + o * (1 - c.tanh() ** 2) * dh
        torch.testing.assert_close(flow.c, mean_norm(dc), rtol=1e-9, atol=1e-14)


def test_rnn_closed_form():
    """For the tanh RNN J_t = diag(1 - h_t^2) W_hh: step_jacobians agree, and so does the
    gradient flow rebuilt from that closed form."""
    task = TASKS["adding"]
    model, batch = make_model("rnn", task, hidden=5, seed=4), make_batch(task, seed=5)
    w_hh = model.core.weight_hh_l0.detach()
    with torch.no_grad():
        hidden, _ = model.core(batch.x)  # (N, T, H)
    closed = (1 - hidden.unsqueeze(-1) ** 2) * w_hh  # (N, T, H, H): row j scaled by 1 - h_j^2

    torch.testing.assert_close(diagnostics.step_jacobians(model.core, batch.x[0]), closed[0], rtol=1e-12, atol=1e-14)

    direct = direct_terms(model, task, batch, hidden)
    grads = [direct[:, -1]]
    for t in range(hidden.shape[1] - 2, -1, -1):
        back = closed[:, t + 1].transpose(1, 2) @ grads[0].unsqueeze(-1)
        grads.insert(0, direct[:, t] + back.squeeze(-1))
    flow = diagnostics.gradient_through_time(model, task, batch)
    torch.testing.assert_close(flow.h, mean_norm(torch.stack(grads, dim=1)), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_and_readable_cores_agree(kind):
    task = TASKS["copy"]
    theirs = make_model(kind, task, "torch", seed=6)
    ours = make_model(kind, task, "readable", seed=7)
    ours.load_state_dict(theirs.state_dict())
    batch = make_batch(task, seed=8)
    a = diagnostics.gradient_through_time(theirs, task, batch)
    b = diagnostics.gradient_through_time(ours, task, batch)
    torch.testing.assert_close(a.h, b.h, rtol=1e-12, atol=1e-15)
    if kind == "lstm":
        torch.testing.assert_close(a.c, b.c, rtol=1e-12, atol=1e-15)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)


def test_batch_is_cast_to_the_models_dtype():
    task = TASKS["adding"]
    model = make_model("lstm", task)
    batch64 = make_batch(task)
    batch32 = dataclasses.replace(batch64, x=batch64.x.float())
    flow32 = diagnostics.gradient_through_time(model, task, batch32)
    flow64 = diagnostics.gradient_through_time(model, task, batch64)
    assert flow32.h.dtype == torch.float64
    torch.testing.assert_close(flow32.h, flow64.h, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("implementation", ["readable", "torch"])
def test_no_gradients_left_in_the_model(implementation):
    task = TASKS["adding"]
    model = make_model("lstm", task, implementation)
    batch = make_batch(task)
    diagnostics.gradient_through_time(model, task, batch)
    diagnostics.hidden_jacobian_norms(model.core, batch.x[0])
    diagnostics.record_gates(model.core, batch.x)
    assert all(p.grad is None for p in model.parameters())


# -- Jacobians -----------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", ["readable", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_products_match_jacobian_of_unrolled_map(kind, implementation):
    """products[t] = d s_{T-1} / d s_t, computed directly by differentiating steps t+1..T-1."""
    core = make_model(kind, TASKS["adding"], implementation, hidden=3, seed=9).core
    twin_cls = {"rnn": layers.RNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    twin = twin_cls(2, 3, dtype=torch.float64)
    twin.load_state_dict(core.state_dict())
    length, parts = 6, 2 if kind == "lstm" else 1
    x = torch.randn(length, 2, dtype=torch.float64)
    state0 = tuple(torch.randn(3, dtype=torch.float64) for _ in range(parts))
    weights = twin.layer_weights(0)

    def step(s, t):  # s_{t-1} -> s_t, flat (S,)
        return torch.cat(twin.step(x[t].unsqueeze(0), tuple(s.view(parts, 1, 3)), weights), -1)[0]

    def run(s, start):  # the state after steps start..T-1, starting from s
        for t in range(start, length):
            s = step(s, t)
        return s

    with torch.no_grad():
        states = [torch.cat(state0)]  # s_{-1}, s_0, ..., s_{T-1}
        for t in range(length):
            states.append(step(states[-1], t))
    direct = torch.stack(
        [torch.autograd.functional.jacobian(lambda s, t=t: run(s, t + 1), states[t + 1]) for t in range(length)]
    )

    jacobians = diagnostics.step_jacobians(core, x, state0)
    products = diagnostics.jacobian_products(jacobians)
    size = 3 * parts
    assert jacobians.shape == products.shape == (length, size, size)
    torch.testing.assert_close(products, direct, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(products[-1], torch.eye(size, dtype=torch.float64))

    # singular values: the square roots of the eigenvalues of P^T P, largest first
    expected = torch.linalg.eigvalsh(direct.transpose(1, 2) @ direct).clamp(min=0).sqrt().flip(-1)
    torch.testing.assert_close(diagnostics.singular_values(products), expected, rtol=1e-7, atol=1e-7)

    # hidden_jacobian_norms: the largest singular value of d h_{T-1} / d s_t, the first H rows
    block = direct[:, :3, :]
    top = torch.linalg.eigvalsh(block.transpose(1, 2) @ block)[:, -1].sqrt()
    torch.testing.assert_close(diagnostics.hidden_jacobian_norms(core, x, state0), top, rtol=1e-8, atol=1e-10)


# -- record_gates --------------------------------------------------------------------------


def lstm_cores():
    torch.manual_seed(10)
    options = {"dtype": torch.float64}
    cores = {
        "readable": layers.LSTM(3, 4, batch_first=True, **options),
        "torch time-major": nn.LSTM(3, 4, **options),
    }
    cores |= {f"without {gate}": AblatedLSTM(3, 4, without=gate, batch_first=True, **options) for gate in GATES}
    return cores


@pytest.mark.parametrize("name", list(lstm_cores()))
def test_record_gates_follow_the_lstm_equations(name):
    core = lstm_cores()[name]
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 2, 4, dtype=torch.float64)
    record = diagnostics.record_gates(core, x, (h0, c0))
    assert all(value.shape == (2, 5, 4) for value in record)

    batch_first = getattr(core, "batch_first", False)
    with torch.no_grad():
        output, (h_n, c_n) = core(x if batch_first else x.transpose(0, 1), (h0[None], c0[None]))
    torch.testing.assert_close(record.h, output if batch_first else output.transpose(0, 1))
    torch.testing.assert_close(record.c[:, -1], c_n[0])
    torch.testing.assert_close(record.h[:, -1], h_n[0])

    previous = torch.cat([c0.unsqueeze(1), record.c[:, :-1]], dim=1)
    torch.testing.assert_close(record.c, record.f * previous + record.i * record.g)
    torch.testing.assert_close(record.h, record.o * record.c.tanh())
    if isinstance(core, AblatedLSTM):
        removed = {"input": record.i, "forget": record.f, "output": record.o}[core.without]
        assert torch.equal(removed, torch.ones_like(removed))
    else:
        assert ((record.f > 0) & (record.f < 1)).all()


@pytest.mark.parametrize("core_class", [layers.LSTM, AblatedLSTM, FusedLSTM])
def test_record_gates_computes_each_step_once(core_class, monkeypatch):
    """One gates computation per step, through the layer's one hook (it used to be two: the gates,
    then the layer's step again for h and c)."""
    options = {"without": "forget"} if core_class is AblatedLSTM else {}
    core = core_class(3, 4, batch_first=True, **options)
    calls = []
    original = core_class.gates

    def counted(self, x, h, weights):
        calls.append(x.shape)
        return original(self, x, h, weights)

    monkeypatch.setattr(core_class, "gates", counted)
    x = torch.randn(2, 7, 3)
    record = diagnostics.record_gates(core, x)
    assert len(calls) == 7
    with torch.no_grad():
        output, _ = core(x)  # a fused core's own step, in its own order of operations
    torch.testing.assert_close(record.h, output)


def test_record_gates_of_a_stack_is_layer_zero():
    torch.manual_seed(11)
    stack = nn.LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64)
    single = nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    single.load_state_dict({k: v for k, v in stack.state_dict().items() if k.endswith("_l0")})
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        output, _ = single(x)
    torch.testing.assert_close(diagnostics.record_gates(stack, x).h, output)


# -- the course's claims, qualitatively ----------------------------------------------------


def test_rnn_gradient_vanishes_and_lstm_cell_gradient_does_not():
    task = AddingProblem(60)
    batch = make_batch(task, n=8, seed=12)
    distance = diagnostics.distance_to_loss(task.sequence_length)
    far, near = distance == 50, distance == 0

    rnn = make_model("rnn", task, hidden=32, seed=13)
    with torch.no_grad():
        rnn.core.weight_hh_l0.mul_(0.5)
    flow = diagnostics.gradient_through_time(rnn, task, batch)
    assert flow.h[far] < 1e-3 * flow.h[near]
    assert diagnostics.decay_rate(flow.h) < 0.9

    lstm = make_model("lstm", task, hidden=32, seed=13)
    set_forget_bias(lstm.core, 5.0)
    c = diagnostics.gradient_through_time(lstm, task, batch).c[distance <= 50]
    assert c.max() < 10 * c.min()


# -- helpers and bad input -----------------------------------------------------------------


def test_distance_and_decay_rate():
    assert diagnostics.distance_to_loss(4).tolist() == [3, 2, 1, 0]
    norms = 3.0 * 0.7 ** diagnostics.distance_to_loss(30).double()
    norms[0] = 0.0  # an underflowed entry is left out of the fit
    assert diagnostics.decay_rate(norms) == pytest.approx(0.7, rel=1e-12)
    with pytest.raises(ValueError, match="at least two"):
        diagnostics.decay_rate(torch.tensor([1.0, 0.0]))


def test_bad_inputs():
    task = TASKS["adding"]
    batch = make_batch(task)
    stacked = make_model("lstm", task, num_layers=2)
    with pytest.raises(ValueError, match="num_layers=1"):
        diagnostics.gradient_through_time(stacked, task, batch)
    with pytest.raises(ValueError, match="num_layers=1"):
        diagnostics.step_jacobians(stacked.core, batch.x[0])

    variable = AddingProblem(7, min_length=4)
    with pytest.raises(ValueError, match="fixed-length batch"):
        diagnostics.gradient_through_time(make_model("lstm", variable), variable, make_batch(variable))

    rnn = make_model("rnn", task)
    with pytest.raises(ValueError, match="needs an LSTM core"):
        diagnostics.record_gates(rnn.core, batch.x)
    with pytest.raises(TypeError, match=r"model.core"):
        diagnostics.record_gates(rnn, batch.x)
    with pytest.raises(ValueError, match=r"x must be 2-D \(seq_len, input_size\)"):
        diagnostics.step_jacobians(rnn.core, batch.x)
    with pytest.raises(ValueError, match=r"\(T, S, S\)"):
        diagnostics.jacobian_products(torch.zeros(3, 2, 4))
