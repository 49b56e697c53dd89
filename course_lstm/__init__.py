"""course_lstm: the companion package of the course-lstm notebooks.

Recurrent cells and layers built gate by gate, interchangeable with torch.nn:
``from course_lstm import LSTM`` gives a layer whose ``state_dict`` loads into ``nn.LSTM``.
The names below load on first use, so ``import course_lstm`` (and ``python -m course_lstm
doctor``) works before PyTorch is installed.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from course_lstm.cells import GRUCell, LSTMCell, LSTMGates, LSTMStep, RNNCell
    from course_lstm.layers import GRU, LSTM, RNN
    from course_lstm.packing import final_outputs, pack

_HOMES = {
    **dict.fromkeys(("GRUCell", "LSTMCell", "LSTMGates", "LSTMStep", "RNNCell"), "course_lstm.cells"),
    **dict.fromkeys(("GRU", "LSTM", "RNN"), "course_lstm.layers"),
    **dict.fromkeys(("final_outputs", "pack"), "course_lstm.packing"),
}
"""Each public name -> the module that defines it."""

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "LSTMGates",
    "LSTMStep",
    "RNNCell",
    "final_outputs",
    "pack",
]
__version__ = version("course-lstm")  # from the installed package's metadata (pyproject.toml)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'course_lstm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
