"""Variable-length batches: pack padded sequences with checked lengths, read final outputs.

``pack`` wraps ``torch.nn.utils.rnn.pack_padded_sequence`` and refuses lengths it would
silently accept (longer than the padding, too few or too many of them).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from course_lstm import validation


def pack(padded: Tensor, lengths: Tensor | list[int], batch_first: bool = False) -> PackedSequence:
    """Pack a padded batch (L, N, *) — or (N, L, *) with ``batch_first`` — of true ``lengths`` (N,).

    Lengths may come in any order (``enforce_sorted=False``); each must be in [1, L].
    """
    validation.check_tensor("padded", padded)
    layout = "(batch, seq_len, features)" if batch_first else "(seq_len, batch, features)"
    if padded.dim() < 2:
        raise ValueError(f"padded must be at least 2-D {layout}, got shape {validation.shape_str(padded.shape)}")
    time_dim, batch_dim = (1, 0) if batch_first else (0, 1)
    checked = validation.check_lengths(lengths, padded.shape[batch_dim], padded.shape[time_dim])
    return pack_padded_sequence(padded, checked, batch_first=batch_first, enforce_sorted=False)


def final_outputs(output: Tensor, lengths: Tensor | list[int], batch_first: bool = False) -> Tensor:
    """Each sequence's output at its last real step: ``output[lengths[n] - 1, n]`` for every n.

    output: (L, N, H), or (N, L, H) with ``batch_first``; lengths: (N,). Returns (N, H).
    Reading ``output[-1]`` instead would return the state after the padding for shorter sequences.
    """
    validation.check_tensor("output", output)
    validation.check_rank("output", output, (3,), "(seq_len, batch, hidden) or batch_first")
    time_dim, batch_dim = (1, 0) if batch_first else (0, 1)
    checked = validation.check_lengths(lengths, output.shape[batch_dim], output.shape[time_dim])
    rows = torch.arange(output.shape[batch_dim], device=output.device)
    last = (checked - 1).to(output.device)
    return output[rows, last] if batch_first else output[last, rows]
