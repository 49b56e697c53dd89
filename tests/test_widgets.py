"""The explorers: each computation against the equations it claims, each control wired to it
(set a widget's value, the result and the picture follow), bad input refused, static fallback."""

import base64
import io
import math

import matplotlib.image
import pytest
import torch

from course_lstm import widgets
from course_lstm.diagnostics import record_gates
from course_lstm.models import SequenceModel
from course_lstm.tasks import AddingProblem, TemporalOrder
from course_lstm.widgets import (
    SEQUENCES,
    SPIKE_STEP,
    GateExplorer,
    GateStepper,
    GradientFlowExplorer,
    gate_trace,
    gradient_flow,
    input_sequence,
    record_steps,
    snapshot,
)


def pixels(png: bytes):
    return matplotlib.image.imread(io.BytesIO(png), format="png")


# --- gate explorer --------------------------------------------------------------------------


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_gate_trace_is_the_lstm_recurrence_with_constant_gates(sequence):
    f, i, o = 0.9, 0.7, 0.4
    trace = gate_trace(forget=f, input_gate=i, output=o, sequence=sequence, length=150)
    c, cs = 0.0, []
    for x_t in trace.x.tolist():
        c = f * c + i * math.tanh(x_t)  # c_t = f c_{t-1} + i g_t, g_t = tanh(x_t)
        cs.append(c)
    expected_c = torch.tensor(cs, dtype=torch.float64)
    torch.testing.assert_close(trace.c, expected_c)
    torch.testing.assert_close(trace.h, o * torch.tanh(expected_c))


@pytest.mark.parametrize("forget", [0.5, 0.9, 0.99, 1.0])
def test_what_is_left_of_the_spike_is_f_to_the_k(forget):
    for sequence in ("one spike", "spike in noise"):
        trace = gate_trace(forget=forget, sequence=sequence)
        for k in (0, 1, 10, 100):
            # With noise the share is a difference of two cell states: exact to float64 rounding.
            tolerance = 1e-300 if sequence == "one spike" else 1e-14
            assert trace.kept(k) == pytest.approx(forget**k, rel=1e-9, abs=tolerance)


def test_the_issue_s_claim_near_1_keeps_a_hundred_steps_near_half_loses_it_in_ten():
    assert gate_trace(forget=0.99).kept(100) > 0.3
    assert gate_trace(forget=0.5).kept(10) < 1e-3


def test_closed_gates():
    nothing_written = gate_trace(input_gate=0.0)
    assert nothing_written.kept(10) is None and torch.all(nothing_written.c == 0)
    assert "nothing is written" in widgets.gate_title(nothing_written)
    assert torch.all(gate_trace(output=0.0).h == 0)
    assert torch.all(gate_trace(forget=0.0).spike[SPIKE_STEP + 1 :] == 0)


@pytest.mark.parametrize("name", SEQUENCES)
def test_every_input_has_its_spike(name):
    x, again = input_sequence(name), input_sequence(name)
    assert x.shape == (200,) and torch.equal(x, again), "seeded: the same input every time"
    base = x.clone()
    base[SPIKE_STEP] -= 1
    assert x[SPIKE_STEP] - base[SPIKE_STEP] == 1


def test_gate_title_states_the_finding():
    assert widgets.gate_title(gate_trace(forget=0.99)) == (
        "f = 0.99, memory about 100 steps: 90% of the spike is left after 10 steps, 37% after 100"
    )
    assert "1e-03 of the spike is left after 10 steps" in widgets.gate_title(gate_trace(forget=0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forget": 1.5}, "forget must be a number from 0 to 1, got 1.5"),
        ({"input_gate": "open"}, "input_gate must be a number"),
        ({"sequence": "a spike"}, "sequence must be one of 'one spike'"),
        ({"length": 5}, "length must be a whole number at least 11, got 5"),
    ],
)
def test_gate_trace_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gate_trace(**kwargs)


def test_gate_explorer_controls_drive_the_computation_and_the_picture():
    explorer = GateExplorer(forget=0.99)
    before = explorer.image.value
    explorer.controls["forget"].value = 0.5
    assert explorer.result.forget == 0.5 and explorer.result.kept(10) < 1e-3
    assert explorer.image.value != before
    explorer.controls["sequence"].value = "spike on a steady input"
    explorer.controls["input_gate"].value = 0.5
    explorer.controls["output"].value = 0.25
    expected = gate_trace(forget=0.5, input_gate=0.5, output=0.25, sequence="spike on a steady input")
    torch.testing.assert_close(explorer.result.h, expected.h)
    assert repr(explorer) == (
        "GateExplorer(forget=0.5, input_gate=0.5, output=0.25, sequence='spike on a steady input')"
    )


def test_gate_explorer_refuses_a_value_its_slider_would_clip():
    with pytest.raises(ValueError, match=r"forget must be a number from 0.5 to 1, got 0.3"):
        GateExplorer(forget=0.3)
    with pytest.raises(ValueError, match="sequence must be one of"):
        GateExplorer(sequence="noise")


def test_without_a_widget_frontend_an_explorer_shows_its_figure():
    explorer = GateExplorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png == explorer.image.value
    assert pixels(png).shape[:2] == (460, 750)  # GATE_SIZE at 100 dpi


# --- gradient-flow explorer -----------------------------------------------------------------


def test_gradient_flow_measures_both_models_on_the_same_terms():
    flow = gradient_flow(scale=1.0, forget_bias=1.0, length=60)
    assert flow.rnn.shape == flow.lstm.shape == flow.distance.shape == (60,)
    assert flow.distance.tolist() == list(range(59, -1, -1))
    assert torch.all(flow.rnn > 0) and torch.all(flow.lstm > 0)
    assert flow.lstm_rate > flow.rnn_rate, "the LSTM's gradient decays more slowly"
    assert flow.far("lstm") > 100 * flow.far("rnn")


def test_recurrent_scale_bounds_the_rnn_rate():
    rates = [gradient_flow(scale=scale, length=80).rnn_rate for scale in (0.5, 1.0, 2.0)]
    assert rates == sorted(rates), "a larger recurrent scale keeps more of the gradient"
    assert rates[0] <= 0.5 + 1e-6, "||J_k|| <= scale: the gradient shrinks at least that fast"
    assert rates[-1] > 1, "scale 2 explodes"


def test_forget_bias_slows_the_lstm_decay():
    rates = [gradient_flow(forget_bias=bias, length=80).lstm_rate for bias in (-2.0, 1.0, 4.0)]
    assert rates == sorted(rates)
    assert rates[-1] > 0.95 > rates[0]


def test_gradient_flow_is_seeded_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    first, second = gradient_flow(length=30), gradient_flow(length=30)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.rnn, second.rnn) and torch.equal(first.lstm, second.lstm)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale must be a number from 0.01 to 10, got 0"),
        ({"forget_bias": math.nan}, "forget_bias must be a number"),
        ({"length": 1}, "length must be a whole number from 2 to 1000, got 1"),
        ({"length": 50.0}, "length must be a whole number"),
    ],
)
def test_gradient_flow_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_flow(**kwargs)


def test_gradient_flow_explorer_controls_drive_the_computation_and_the_picture():
    explorer = GradientFlowExplorer(length=50)
    before = explorer.image.value
    explorer.controls["scale"].value = 3.0
    assert explorer.result.scale == 3.0 and explorer.result.rnn_rate > 1
    assert explorer.image.value != before
    explorer.controls["length"].value = 30
    explorer.controls["forget_bias"].value = 3.0
    expected = gradient_flow(scale=3.0, forget_bias=3.0, length=30)
    assert torch.equal(explorer.result.lstm, expected.lstm) and explorer.result.distance.shape == (30,)


# --- gate stepper ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_and_batch():
    torch.manual_seed(0)
    task = AddingProblem(length=12)
    model = SequenceModel("lstm", task.input_size, 5, task.output_size, implementation="torch")
    return model, task.batch(3, torch.Generator().manual_seed(0))


def test_recording_is_the_model_s_own_computation(model_and_batch):
    model, batch = model_and_batch
    recording = record_steps(model, batch)
    gates = record_gates(model.core, batch.x)
    torch.testing.assert_close(recording.gates.f, gates.f)
    with torch.no_grad():
        torch.testing.assert_close(recording.readout[:, -1], model(batch.x)[:, 0])
    torch.testing.assert_close(recording.target, batch.y[:, 0])


def test_snapshot_shows_only_what_was_read(model_and_batch):
    model, batch = model_and_batch
    recording = record_steps(model, batch)
    shot = snapshot(recording, sequence=2, step=4)
    assert shot.i.shape == shot.c.shape == (5, 12)
    torch.testing.assert_close(shot.o[:, :5], recording.gates.o[2, :5].T)
    assert torch.isnan(shot.f[:, 5:]).all() and torch.isnan(shot.readout[5:]).all()
    assert not torch.isnan(shot.readout[:5]).any()
    assert shot.c_limit == recording.gates.c[2].abs().max().item()
    low, high = shot.readout_limits
    assert low < min(recording.readout[2].min().item(), shot.target) and high > shot.target
    assert snapshot(recording, sequence=1).step == 11, "the whole sequence by default"


def test_stepper_refuses_what_it_cannot_show(model_and_batch):
    model, batch = model_and_batch
    recording = record_steps(model, batch)
    with pytest.raises(ValueError, match="step must be a whole number from 0 to 11, got 12"):
        snapshot(recording, step=12)
    with pytest.raises(ValueError, match="sequence must be a whole number from 0 to 2, got 3"):
        snapshot(recording, sequence=3)
    with pytest.raises(TypeError, match="SequenceModel with an LSTM core, got 'rnn'"):
        record_steps(SequenceModel("rnn", 2, 4, 1), batch)
    with pytest.raises(ValueError, match="num_layers=2"):
        record_steps(SequenceModel("lstm", 2, 4, 1, num_layers=2), batch)
    variable = AddingProblem(length=12, min_length=6).batch(3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="fixed-length batch"):
        record_steps(model, variable)


def test_stepper_without_a_one_number_target(model_and_batch):
    task = TemporalOrder(length=12)
    model = SequenceModel("lstm", task.input_size, 4, task.output_size)
    shot = snapshot(record_steps(model, task.batch(2, torch.Generator().manual_seed(0))))
    assert shot.target is None and "target" not in widgets.snapshot_title(shot)


def test_stepper_controls_redraw_in_place_as_a_fresh_figure_would(model_and_batch):
    model, batch = model_and_batch
    stepper = GateStepper(model, batch, channel_names=("value", "marker"))
    first = stepper.image.value
    stepper.controls["step"].value = 3
    assert stepper.result.step == 3 and stepper.image.value != first
    stepper.controls["sequence"].value = 2
    assert stepper.result.sequence == 2
    fresh = widgets.snapshot_figure(snapshot(record_steps(model, batch), 2, 3), ("value", "marker"))
    buffer = io.BytesIO()
    fresh.savefig(buffer, format="png")
    assert abs(pixels(stepper.image.value) - pixels(buffer.getvalue())).max() < 1e-6
    with pytest.raises(ValueError, match="step must be a whole number from 0 to 11, got 20"):
        GateStepper(model, batch, step=20)


def test_a_one_hot_input_shows_as_its_symbol_in_the_title():
    task = TemporalOrder(length=12)
    model = SequenceModel("lstm", task.input_size, 4, task.output_size)
    recording = record_steps(model, task.batch(2, torch.Generator().manual_seed(0)))
    last = snapshot(recording, step=11)  # the last step reads E
    assert "x = E;" in widgets.snapshot_title(last, tuple(TemporalOrder.SYMBOLS))
    assert "x = (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00);" in widgets.snapshot_title(last)


def test_the_computations_import_without_ipywidgets():
    """course_lstm.explorations holds the explorers' computations and figures, free of ipywidgets."""
    import subprocess
    import sys

    code = "import sys; sys.modules['ipywidgets'] = None; import course_lstm.explorations"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


def test_the_spikes_share_is_drawn_above_the_cell_state():
    """On the spike-only input the spike's share equals c_t: it must not hide under c_t's line."""
    from course_lstm.explorations import gate_figure, gate_trace

    figure = gate_figure(gate_trace(forget=0.9))
    bottom = figure.axes[1]
    lines = {line.get_label(): line for line in bottom.get_lines()}
    spike, cell = lines["the spike's share of $c_t$"], lines["cell state $c_t$"]
    assert spike.get_zorder() > cell.get_zorder()
    assert spike.get_color() != cell.get_color()
