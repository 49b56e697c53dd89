"""course_lstm: the companion package of the course-lstm notebooks.

Recurrent cells and layers built gate by gate, interchangeable with torch.nn:
``from course_lstm import LSTM`` gives a layer whose ``state_dict`` loads into ``nn.LSTM``.
"""

from importlib.metadata import version

from course_lstm.cells import GRUCell, LSTMCell, LSTMGates, LSTMStep, RNNCell
from course_lstm.layers import GRU, LSTM, RNN
from course_lstm.packing import final_outputs, pack

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
