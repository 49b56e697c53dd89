"""A character-level language model trained by truncated backpropagation through time over a
stream of text, scored in bits per character, sampled at a temperature, and opened up: its LSTM
cells recorded step by step and clamped to test what one of them does.

The recurrent core is torch.nn's RNN, LSTM or GRU (the course's own are the same function,
tested against them; torch's are much faster on a CPU). The input is a character's one-hot
vector, the readout one linear layer to the logits of the next character.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lstm.models import CORES, Kind, parameter_count

LOG2 = math.log(2.0)


class CharModel(nn.Module):
    """One-hot characters -> one recurrent layer -> logits of the next character.

    forward(codes (L, N) int64, state) -> (logits (L, N, V), state); state is h (1, N, H), or
    (h, c) for an LSTM, or None for zeros."""

    def __init__(self, kind: Kind, vocabulary_size: int, hidden_size: int) -> None:
        super().__init__()
        if kind not in CORES["torch"]:
            raise ValueError(f"kind must be one of {', '.join(CORES['torch'])}, got {kind!r}")
        self.kind, self.vocabulary_size, self.hidden_size = kind, vocabulary_size, hidden_size
        self.core = CORES["torch"][kind](vocabulary_size, hidden_size)
        self.readout = nn.Linear(hidden_size, vocabulary_size)

    def forward(self, codes: Tensor, state=None) -> tuple[Tensor, object]:
        if codes.dim() != 2 or codes.dtype != torch.long:
            raise ValueError(f"codes must be an (L, N) int64 tensor, got {tuple(codes.shape)} {codes.dtype}")
        output, state = self.core(F.one_hot(codes, self.vocabulary_size).float(), state)
        return self.readout(output), state


def char_model_parameters(kind: Kind, vocabulary_size: int, hidden_size: int) -> int:
    """The parameter count of ``CharModel(kind, vocabulary_size, hidden_size)``."""
    return parameter_count(CharModel(kind, vocabulary_size, hidden_size))


def detach(state):
    """The state with its history cut: truncated BPTT's boundary between two chunks."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def streams(codes: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """Cut a text of T characters into ``batch_size`` contiguous streams, side by side: inputs
    and next-character targets, each ((T - 1) // batch_size, batch_size). Stream n continues where
    its previous chunk stopped, so a state carried from chunk to chunk has read all of it."""
    length = (len(codes) - 1) // batch_size
    if length < 2:
        raise ValueError(f"a text of {len(codes)} characters is too short for {batch_size} streams")
    inputs = codes[: batch_size * length].view(batch_size, length).T
    targets = codes[1 : batch_size * length + 1].view(batch_size, length).T
    return inputs, targets


def chunks(
    inputs: Tensor, targets: Tensor, chunk: int, generator: torch.Generator
) -> Iterator[tuple[bool, Tensor, Tensor]]:
    """Endless (fresh, x, y) chunks of ``chunk`` steps over the streams, epoch after epoch; each
    epoch starts at a random offset below ``chunk`` with ``fresh`` True (the state starts again)."""
    if len(inputs) < 2 * chunk:
        raise ValueError(
            f"streams of {len(inputs)} steps are too short for chunks of {chunk}: they need at least {2 * chunk} "
            "(use fewer streams, shorter chunks or a longer text)"
        )
    while True:
        start = int(torch.randint(chunk, (), generator=generator))
        for offset in range(start, len(inputs) - chunk + 1, chunk):
            yield offset == start, inputs[offset : offset + chunk], targets[offset : offset + chunk]


@torch.no_grad()
def bits_per_character(model: CharModel, codes: Tensor) -> Tensor:
    """Bits the model spends on each character of a held-out text read as one stream from a zero
    state: -log2 p(x_t | x_<t) for t = 1..T-1, a (T - 1,) float64 tensor."""
    logits, _ = model(codes[:-1].unsqueeze(1))
    return (F.cross_entropy(logits.squeeze(1), codes[1:], reduction="none") / LOG2).double()


@dataclass(frozen=True)
class LanguageRun:
    """One training run of a character model: everything that decides what it learns."""

    kind: Kind
    hidden_size: int
    seed: int
    lr: float
    steps: int
    batch_size: int
    chunk: int  # truncated BPTT: the gradient flows back at most this many steps
    eval_every: int
    clip: float = 1.0


def train_language_model(
    run: LanguageRun, vocabulary_size: int, train: Tensor, validation: Tensor
) -> tuple[CharModel, dict]:
    """Adam on the training stream by truncated BPTT: ``run.chunk`` steps forward, the loss, the
    gradient (clipped to norm ``run.clip``), then the state carried on, detached. Every
    ``eval_every`` steps the validation bits per character; the model returned is the one that
    scored best there. The dict: the run, its history, the best step and score, the parameter
    count, seconds, and status ("ok", or "diverged" at a non-finite loss)."""
    generator = torch.Generator().manual_seed(run.seed)
    torch.manual_seed(run.seed)
    model = CharModel(run.kind, vocabulary_size, run.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=run.lr)
    inputs, targets = streams(train, run.batch_size)
    best, best_state, history, state, started = math.inf, None, [], None, time.perf_counter()
    status, recent, best_step = "ok", [], None
    for step, (fresh, x, y) in enumerate(chunks(inputs, targets, run.chunk, generator), start=1):
        logits, state = model(x, None if fresh else detach(state))
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            status = "diverged"
            break
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), run.clip)
        optimizer.step()
        recent.append(loss.item() / LOG2)
        if step % run.eval_every == 0 or step == run.steps:
            model.eval()
            score = bits_per_character(model, validation).mean().item()
            model.train()
            history.append({"step": step, "train_bits": sum(recent) / len(recent), "validation_bits": score})
            recent = []
            if score < best:
                best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
                best_step = step
        if step == run.steps:
            break
    if best_state is None:
        return model, {**asdict(run), "status": status, "history": history, "best_step": None, "validation_bits": None}
    model.load_state_dict(best_state)
    model.eval()
    return model, {
        **asdict(run),
        "parameters": parameter_count(model),
        "status": status,
        "history": history,
        "best_step": best_step,
        "validation_bits": best,
        "seconds": time.perf_counter() - started,
    }


@torch.no_grad()
def sample(model: CharModel, prompt: Tensor, length: int, temperature: float, generator: torch.Generator) -> Tensor:
    """``length`` characters drawn one at a time after ``prompt`` (a (P,) int64 tensor), each from
    softmax(logits / temperature): below 1 sharper, above 1 flatter. Returns (length,) int64."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    if length < 1 or prompt.dim() != 1 or len(prompt) < 1:
        raise ValueError(f"expected a non-empty (P,) prompt and length >= 1, got {tuple(prompt.shape)} and {length}")
    logits, state = model(prompt.unsqueeze(1))
    drawn = []
    for _ in range(length):
        probabilities = torch.softmax(logits[-1, 0] / temperature, dim=-1)
        code = torch.multinomial(probabilities, 1, generator=generator)
        drawn.append(code)
        logits, state = model(code.view(1, 1), state)
    return torch.cat(drawn)


@dataclass(frozen=True)
class Clamp:
    """Hold cell ``cells[n]`` of batch row n at ``values[n]`` after every step (-1: none)."""

    cells: Tensor  # (N,) int64
    values: Tensor  # (N,)


@torch.no_grad()
def lstm_trace(model: CharModel, codes: Tensor, clamp: Clamp | None = None) -> tuple[Tensor, Tensor]:
    """Run an LSTM CharModel over ``codes`` one step at a time, as the equations say:
    i, f, g, o = σ, σ, tanh, σ of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh; c_t = f c_{t-1} + i g;
    h_t = o tanh(c_t). With ``clamp``, batch row n runs with cell clamp.cells[n] set to
    clamp.values[n] before h_t is computed (a row whose cell is -1 runs free).

    Returns the cells c (T, N, H) and the log-probabilities of the next character (T, N, V);
    N = 1 without a clamp."""
    core = model.core
    if model.kind != "lstm":
        raise ValueError(f"lstm_trace reads an LSTM's cells; this model is an {model.kind!r}")
    rows = 1 if clamp is None else len(clamp.cells)
    x = F.one_hot(codes, model.vocabulary_size).float() @ core.weight_ih_l0.T + core.bias_ih_l0 + core.bias_hh_l0
    h = c = torch.zeros(rows, model.hidden_size)
    if clamp is not None:
        clamped = clamp.cells >= 0
        held = torch.zeros(rows, model.hidden_size, dtype=torch.bool)
        held[clamped, clamp.cells[clamped]] = True
        value = torch.zeros(rows, model.hidden_size)
        value[clamped, clamp.cells[clamped]] = clamp.values[clamped].float()
    cells, hidden = [], []
    for x_t in x:
        i, f, g, o = (x_t + h @ core.weight_hh_l0.T).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if clamp is not None:
            c = torch.where(held, value, c)
        h = torch.sigmoid(o) * torch.tanh(c)
        cells.append(c)
        hidden.append(h)
    return torch.stack(cells), torch.log_softmax(model.readout(torch.stack(hidden)), dim=-1)


def correlation(values: Tensor, signal: Tensor) -> Tensor:
    """Pearson's r of each column of ``values`` (T, H) with ``signal`` (T,): (H,); 0 where a
    column or the signal is constant."""
    if values.dim() != 2 or signal.shape != values.shape[:1]:
        raise ValueError(f"expected values (T, H) and signal (T,), got {tuple(values.shape)} and {tuple(signal.shape)}")
    v = values.double() - values.double().mean(0)
    s = signal.double() - signal.double().mean()
    scale = v.norm(dim=0) * s.norm()
    return torch.where(scale > 0, (v * s[:, None]).sum(0) / scale.clamp_min(1e-300), torch.zeros(()))
