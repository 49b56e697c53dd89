"""Sentences of every length: an LSTM reads a real sentence without its final mark and says
which mark it ended with (. ! ?), reading its state at the sentence's true end (packed) or at the
end of the padded batch (lengths ignored, notebook 07's mistake), on the same split of the book.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from course_lstm.corpus import LABELS, Sentence, Vocabulary
from course_lstm.language import LOG2
from course_lstm.models import parameter_count


class SentenceClassifier(nn.Module):
    """One-hot characters -> an LSTM -> its final hidden state -> logits over LABELS.

    forward(codes (L, N) int64, lengths (N,), packed) -> (N, len(LABELS)). Padding is index -1
    (a zero input vector). ``packed``: the LSTM stops at each sentence's length; otherwise it runs
    over the padding too and the state after the last column is read."""

    def __init__(self, vocabulary_size: int, hidden_size: int) -> None:
        super().__init__()
        self.vocabulary_size = vocabulary_size
        self.core = nn.LSTM(vocabulary_size, hidden_size)
        self.readout = nn.Linear(hidden_size, len(LABELS))

    def forward(self, codes: Tensor, lengths: Tensor, packed: bool) -> Tensor:
        if codes.dim() != 2 or lengths.shape != codes.shape[1:]:
            raise ValueError(
                f"expected codes (L, N) and lengths (N,), got {tuple(codes.shape)} and {tuple(lengths.shape)}"
            )
        x = F.one_hot(codes.clamp_min(0), self.vocabulary_size).float() * (codes >= 0).unsqueeze(-1)
        if packed:
            _, (h, _) = self.core(pack_padded_sequence(x, lengths, enforce_sorted=False))
            return self.readout(h[-1])
        output, _ = self.core(x)
        return self.readout(output[-1])


def batch(sentences: list[Sentence], vocabulary: Vocabulary) -> tuple[Tensor, Tensor, Tensor]:
    """Padded codes (L_max, N) with -1 after each sentence's end, lengths (N,), labels (N,)."""
    codes = [vocabulary.encode(s.text) for s in sentences]
    lengths = torch.tensor([len(c) for c in codes])
    padded = torch.full((int(lengths.max()), len(codes)), -1, dtype=torch.long)
    for n, c in enumerate(codes):
        padded[: len(c), n] = c
    return padded, lengths, torch.tensor([s.label for s in sentences])


@dataclass(frozen=True)
class SentenceRun:
    """One run of the sentence classifier: packed or lengths ignored, its seed and sizes."""

    packed: bool
    hidden_size: int
    seed: int
    lr: float
    steps: int
    batch_size: int
    eval_every: int
    clip: float = 1.0


@torch.no_grad()
def evaluate(
    model: SentenceClassifier,
    sentences: list[Sentence],
    vocabulary: Vocabulary,
    packed: bool,
    batch_size: int,
    seed: int,
) -> dict:
    """Cross-entropy (bits per sentence) and accuracy on ``sentences``, read in shuffled batches
    of ``batch_size`` (seeded by ``seed``), as in training: without packing, a sentence's result
    depends on the longest sentence of its batch."""
    if not sentences:
        raise ValueError("there are no sentences to evaluate (is the held-out text long enough?)")
    order = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(seed)).tolist()
    bits, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        codes, lengths, labels = batch([sentences[i] for i in order[start : start + batch_size]], vocabulary)
        logits = model(codes, lengths, packed)
        bits += F.cross_entropy(logits, labels, reduction="sum").item() / LOG2
        correct += int((logits.argmax(-1) == labels).sum())
    return {"bits": bits / len(sentences), "accuracy": correct / len(sentences)}


def train_classifier(
    run: SentenceRun, vocabulary: Vocabulary, train: list[Sentence], validation: list[Sentence]
) -> tuple[SentenceClassifier, dict]:
    """Adam on random batches of training sentences; every ``eval_every`` steps the validation
    cross-entropy, and the model returned is the one that scored best there."""
    torch.manual_seed(run.seed)
    generator = torch.Generator().manual_seed(run.seed)
    model = SentenceClassifier(len(vocabulary), run.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=run.lr)
    best, best_state, best_step, history, started = math.inf, None, None, [], time.perf_counter()
    for step in range(1, run.steps + 1):
        chosen = torch.randint(len(train), (run.batch_size,), generator=generator).tolist()
        codes, lengths, labels = batch([train[i] for i in chosen], vocabulary)
        loss = F.cross_entropy(model(codes, lengths, run.packed), labels)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), run.clip)
        optimizer.step()
        if step % run.eval_every == 0 or step == run.steps:
            model.eval()
            score = evaluate(model, validation, vocabulary, run.packed, run.batch_size, seed=0)["bits"]
            model.train()
            history.append({"step": step, "validation_bits": score})
            if score < best:
                best, best_step = score, step
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, {
        **asdict(run),
        "parameters": parameter_count(model),
        "history": history,
        "best_step": best_step,
        "validation_bits": best if best_state is not None else None,
        "seconds": time.perf_counter() - started,
    }


def prior(train: list[Sentence], test: list[Sentence]) -> dict:
    """The baseline that reads nothing: each label's training frequency as its probability.
    Its cross-entropy on ``test`` in bits, and the accuracy of always saying the commonest label."""
    counts = torch.bincount(torch.tensor([s.label for s in train]), minlength=len(LABELS)).double()
    p = counts / counts.sum()
    labels = torch.tensor([s.label for s in test])
    return {
        "bits": float(-(p[labels].log2()).mean()),
        "accuracy": float((labels == p.argmax()).double().mean()),
        "train_frequencies": p.tolist(),
    }
