"""Interactive explorers for the notebooks: sliders wired to the course's own computations,
each a plain, tested function, drawn by a plain function; the widget only connects them.

``GateExplorer`` (``gate_trace``), ``GradientFlowExplorer`` (``gradient_flow``) and
``GateStepper`` (``record_steps``, ``snapshot``). Without a widget frontend (a static GitHub
view, nbconvert, CI) an explorer shows its current figure as a PNG instead. The computations and
the figures live in ``course_lstm.explorations`` (no ipywidgets there); they are re-exported here.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Generic

import ipywidgets as widgets
from matplotlib.figure import Figure

from course_lstm.explorations import (
    GATE_SIZE,
    GRADIENT_SIZE,
    KEPT_AFTER,
    SEQUENCES,
    SPIKE_STEP,
    STEPPER_SIZE,
    GateTrace,
    GradientComparison,
    Recording,
    Redraw,
    Result,
    Snapshot,
    _check_int,
    _check_number,
    _check_sequence,
    draw_gate_trace,
    draw_gradient_flow,
    draw_snapshot,
    gate_figure,
    gate_title,
    gate_trace,
    gradient_figure,
    gradient_flow,
    input_sequence,
    record_steps,
    snapshot,
    snapshot_figure,
    snapshot_title,
)
from course_lstm.models import SequenceModel
from course_lstm.tasks import Batch

__all__ = [
    "GATE_SIZE",
    "GRADIENT_SIZE",
    "KEPT_AFTER",
    "SEQUENCES",
    "SPIKE_STEP",
    "STEPPER_SIZE",
    "Explorer",
    "GateExplorer",
    "GateStepper",
    "GateTrace",
    "GradientComparison",
    "GradientFlowExplorer",
    "Recording",
    "Snapshot",
    "draw_gate_trace",
    "draw_gradient_flow",
    "draw_snapshot",
    "gate_figure",
    "gate_title",
    "gate_trace",
    "gradient_figure",
    "gradient_flow",
    "input_sequence",
    "record_steps",
    "snapshot",
    "snapshot_figure",
    "snapshot_title",
]

_SLIDER = {"continuous_update": False, "style": {"description_width": "11em"}, "layout": widgets.Layout(width="36em")}
"""Shared slider options. A figure is redrawn once the slider is released, not at every pixel
of a drag: a queue of redraws would make the slider lag behind the hand."""


class Explorer(widgets.VBox, Generic[Result]):
    """Controls above a figure. Every change of a control calls ``update``: the result of
    ``compute(**values)`` is kept in ``result``, drawn by ``draw(figure, result)`` and shown as a
    PNG in ``image``. If ``draw`` returns a ``Redraw``, later updates use it instead of drawing
    afresh. ``figure`` is a plain matplotlib Figure (not pyplot's), so the explorer never adds
    figures to a notebook's pyplot state; each draw function sets fixed margins, because a layout
    engine would double the time of every redraw.
    """

    result: Result
    """The latest result of ``compute``, set by ``update`` (first in ``__init__``)."""

    def __init__(
        self,
        controls: dict[str, widgets.ValueWidget],
        compute: Callable[..., Result],
        draw: Callable[[Figure, Result], Redraw[Result] | None],
        figsize: tuple[float, float],
        header: widgets.Widget | None = None,
    ) -> None:
        self.controls = controls
        self._compute, self._draw = compute, draw
        self._redraw: Redraw[Result] | None = None
        self.figure = Figure(figsize=figsize)
        self.image = widgets.Image(format="png")
        super().__init__([header or widgets.VBox(list(controls.values())), self.image])
        self.add_class("course-lstm-explorer")  # what the browser test looks for
        for control in controls.values():
            control.observe(self._changed, names="value")
        self.update()

    def values(self) -> dict[str, object]:
        """The controls' current values, by the name ``compute`` takes them under."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        """Recompute for the current values, redraw the figure and refresh the PNG."""
        self.result = self._compute(**self.values())
        if self._redraw is None:
            self.figure.clear()
            self._redraw = self._draw(self.figure, self.result)
        else:
            self._redraw(self.result)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()

    def _changed(self, change: dict) -> None:
        self.update()

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self.values().items())
        return f"{type(self).__name__}({settings})"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        # A frontend that renders widgets picks the widget view; any other (GitHub, nbconvert)
        # falls back to the PNG of the current figure.
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle


def _slider(
    name: str, value: object, low: float, high: float, step: float, description: str, **options: object
) -> widgets.FloatSlider | widgets.IntSlider:
    """A slider over [low, high] starting at ``value``: an IntSlider when all are whole numbers.
    ValueError for a value outside the range, which the slider would clip without a word, and
    TypeError for a value of the wrong type."""
    if isinstance(low, int) and isinstance(high, int) and isinstance(step, int):
        _check_int(name, value, low, high)
        return widgets.IntSlider(value, min=low, max=high, step=step, description=description, **_SLIDER, **options)
    value = _check_number(name, value, low, high)
    return widgets.FloatSlider(value, min=low, max=high, step=step, description=description, **_SLIDER, **options)


class GateExplorer(Explorer[GateTrace]):
    """Sliders for the forget, input and output gates of one memory cell and a choice of input;
    shows its cell and hidden states over time (``gate_trace``, drawn by ``draw_gate_trace``)."""

    def __init__(
        self,
        forget: float = 0.99,
        input_gate: float = 1.0,
        output: float = 1.0,
        sequence: str = "one spike",
        length: int = 200,
    ) -> None:
        controls = {
            "forget": _slider("forget", forget, 0.5, 1.0, 0.005, "forget gate f", readout_format=".3f"),
            "input_gate": _slider("input_gate", input_gate, 0.0, 1.0, 0.05, "input gate i"),
            "output": _slider("output", output, 0.0, 1.0, 0.05, "output gate o"),
            "sequence": widgets.Dropdown(
                value=_check_sequence(sequence), options=SEQUENCES, description="input", style=_SLIDER["style"]
            ),
        }
        super().__init__(
            controls, lambda **values: gate_trace(**values, length=length), draw_gate_trace, figsize=GATE_SIZE
        )


class GradientFlowExplorer(Explorer[GradientComparison]):
    """Sliders for the recurrent weight scale, the LSTM's forget bias and the sequence length;
    shows ||dL/dh_t|| against distance for an RNN and an LSTM (``gradient_flow``)."""

    def __init__(self, scale: float = 1.0, forget_bias: float = 1.0, length: int = 100, hidden_size: int = 16) -> None:
        controls = {
            "scale": _slider("scale", scale, 0.1, 3.0, 0.05, "recurrent scale"),
            "forget_bias": _slider("forget_bias", forget_bias, -3.0, 6.0, 0.5, "LSTM forget bias"),
            "length": _slider("length", length, 10, 200, 10, "sequence length T"),
        }
        super().__init__(
            controls,
            lambda **values: gradient_flow(**values, hidden_size=hidden_size),
            draw_gradient_flow,
            figsize=GRADIENT_SIZE,
        )


class GateStepper(Explorer[Snapshot]):
    """Step through a trained LSTM's gates on a batch: a slider (and a play button) for the step
    and one for the sequence. The gates are recorded once (``record_steps``); each move only
    slices them (``snapshot``) and puts the new data into the same figure."""

    def __init__(
        self,
        model: SequenceModel,
        batch: Batch,
        sequence: int = 0,
        step: int | None = None,
        channel_names: tuple[str, ...] | None = None,
    ) -> None:
        recording = record_steps(model, batch)
        n, length, _ = recording.x.shape
        step = length - 1 if step is None else step
        controls = {
            "sequence": _slider("sequence", sequence, 0, n - 1, 1, "sequence"),
            "step": _slider("step", step, 0, length - 1, 1, "step t"),
        }
        play = widgets.Play(value=step, min=0, max=length - 1, interval=400, description="play")
        widgets.jslink((play, "value"), (controls["step"], "value"))
        header = widgets.VBox([controls["sequence"], widgets.HBox([controls["step"], play])])
        super().__init__(
            controls,
            lambda **values: snapshot(recording, **values),
            lambda figure, shot: draw_snapshot(figure, shot, channel_names),
            figsize=STEPPER_SIZE,
            header=header,
        )
