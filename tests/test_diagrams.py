"""The network diagrams draw what the course says: their titles, labels, shapes and torch's gate order."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure
import matplotlib.mathtext
import matplotlib.pyplot as plt
import matplotlib.text
import pytest

from course_lstm import diagrams

DIAGRAMS = {
    "unrolled_rnn": (diagrams.unrolled_rnn, "unrolled"),
    "lstm_cell": (diagrams.lstm_cell, "LSTM step"),
    "gradient_paths": (diagrams.gradient_paths, "gradient paths"),
}


@pytest.fixture
def draw():
    """Call a diagram function; close every figure it made afterwards."""
    figures = []

    def make(function, *args):
        figure = function(*args)
        figures.append(figure)
        return figure

    yield make
    for figure in figures:
        plt.close(figure)


def texts(figure):
    return [t.get_text() for t in figure.findobj(matplotlib.text.Text)]


def text_with(figure, fragment):
    """The one text object that contains ``fragment``."""
    found = [t for t in figure.findobj(matplotlib.text.Text) if fragment in t.get_text()]
    assert len(found) == 1, f"{len(found)} texts contain {fragment!r}"
    return found[0]


@pytest.mark.parametrize("name", DIAGRAMS)
def test_each_diagram_is_a_titled_figure(draw, name):
    function, subject = DIAGRAMS[name]
    figure = draw(function)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert subject in figure.get_suptitle()
    assert 10 <= figure.get_size_inches()[0] <= 12


@pytest.mark.parametrize("name", DIAGRAMS)
def test_drawing_emits_no_warnings(draw, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = draw(DIAGRAMS[name][0])
        figure.canvas.draw()


def test_unrolled_rnn_labels_its_steps_the_loss_and_the_shared_weights(draw):
    drawn = texts(draw(diagrams.unrolled_rnn))
    for label in ("$x_1$", "$h_0$", "$h_T$", "$x_T$", "$h_1$"):
        assert label in drawn
    assert any("\\mathcal{L}" in text and "loss" in text for text in drawn)
    assert any("the same $W_{ih}$, $W_{hh}$, $b$ at every step" in text for text in drawn)
    assert any("\\partial h_T/\\partial h_{T-1}" in text for text in drawn)  # the step Jacobian, into BPTT
    assert sum("$\\cdots$" in text for text in drawn) == 2  # the ellipsis, in the chain and in BPTT


@pytest.mark.parametrize("steps", [2, 3, 6])
def test_unrolled_rnn_draws_steps_boxes_and_the_last_is_T(draw, steps):
    drawn = texts(draw(diagrams.unrolled_rnn, steps))
    equations = [text for text in drawn if "\\tanh" in text]
    assert len(equations) == steps
    assert equations[-1].startswith("$h_{T} =")
    assert f"$x_{steps - 1}$" in drawn and "$x_T$" in drawn


@pytest.mark.parametrize(("steps", "error"), [(1, ValueError), (0, ValueError), (-3, ValueError)])
def test_unrolled_rnn_needs_two_steps(steps, error):
    with pytest.raises(error, match="steps must be an int >= 2"):
        diagrams.unrolled_rnn(steps)


@pytest.mark.parametrize("steps", [4.0, "4", None, True])
def test_unrolled_rnn_needs_an_int(steps):
    with pytest.raises(TypeError, match="steps must be an int >= 2"):
        diagrams.unrolled_rnn(steps)


def test_lstm_cell_shows_every_shape_and_the_row_blocks(draw):
    figure = draw(diagrams.lstm_cell)
    drawn = " ".join(texts(figure))
    for shape in ("(N, I)", "(N, H)", "(4H, I)", "(4H, H)", "(N, 4H)", "(4H,)"):
        assert shape in drawn
    for rows in ("rows 0:H", "rows H:2H", "rows 2H:3H", "rows 3H:4H"):
        assert rows in drawn
    for label in ("$c_{t-1}$", "$c_t$", "$h_t = o_t \\odot \\tanh(c_t)$", "constant error carousel"):
        assert label in drawn


def test_lstm_cell_gates_in_torch_order_top_to_bottom(draw):
    figure = draw(diagrams.lstm_cell)
    figure.canvas.draw()
    gates = [text_with(figure, role) for role in ("input gate", "forget gate", "candidate", "output gate")]
    assert [gate.get_text()[:3] for gate in gates] == ["$i$", "$f$", "$g$", "$o$"]
    heights = [gate.get_window_extent().y0 for gate in gates]
    assert heights == sorted(heights, reverse=True)
    # each gate's row-block label sits beside its name
    for gate, rows in zip(gates, ("rows 0:H", "rows H:2H", "rows 2H:3H", "rows 3H:4H"), strict=True):
        assert text_with(figure, rows).get_position()[1] == pytest.approx(gate.get_position()[1])
    assert "\\tanh" in gates[2].get_text() and all("\\sigma" in gates[k].get_text() for k in (0, 1, 3))


def test_gradient_paths_names_both_paths_and_the_truncation(draw):
    drawn = texts(draw(diagrams.gradient_paths))
    assert any("direct" in text and "\\mathrm{diag}(f_t)" in text for text in drawn)
    note = " ".join(drawn).replace("\n", " ")
    assert "Hochreiter & Schmidhuber (1997) truncated the gradient" in note
    assert "only path (a) is left" in note and "$f_t \\cdots f_{t-k+1}$" in note
    assert "full BPTT (what autograd computes) keeps both".lower() in note.lower()
    assert "above or below the direct path's" in note


def test_every_label_parses_as_mathtext(draw):
    """No LaTeX install is needed: matplotlib's own mathtext renders every label."""
    parser = matplotlib.mathtext.MathTextParser("agg")
    for function, _ in DIAGRAMS.values():
        figure = draw(function)
        for text in [*texts(figure), figure.get_suptitle()]:
            for line in text.split("\n"):
                if line.count("$") >= 2:
                    parser.parse(line, dpi=100)
