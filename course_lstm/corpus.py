"""Real text for the character-level models: a public-domain book shipped with the package, its
seeded train / validation / test split, n-gram baselines, and the structures a model must track.

The book is Lewis Carroll's *Alice's Adventures in Wonderland* (1865), Project Gutenberg eBook
#11, public domain (``SOURCE`` says where it came from). Its dialogue is in curly quotes,
“ and ”, so "inside a quotation" has an exact meaning, and its lines are wrapped near 70
characters, so the position in the line matters for predicting the newline.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

CORPUS = Path(__file__).resolve().parent / "data" / "alice.txt"
SOURCE = {
    "title": "Alice's Adventures in Wonderland",
    "author": "Lewis Carroll",
    "published": 1865,
    "edition": "Project Gutenberg eBook #11 (THE MILLENNIUM FULCRUM EDITION 3.0)",
    "url": "https://www.gutenberg.org/ebooks/11",
    "copied_from": "github.com/gutenbergbooks/11, file 11-0.txt, commit 5e5120e (2024-10-06)",
    "licence": "public domain (the book, 1865; the Gutenberg file says: in the public domain in the United States)",
    "changes": "the leading '[Illustration]' line removed; Windows line ends made '\\n'",
    "sha256": "21dd81709d74028b745a64245b06ed092cd972cb3a30b84b418f8cea7340f37c",
}
OPEN_QUOTE, CLOSE_QUOTE = "“", "”"
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def load_text(path: str | Path = CORPUS) -> str:
    """The text of ``path`` as one string; the shipped book (however its path is spelled) is
    refused if its SHA-256 is not the one in ``SOURCE``. Another file is read as it is."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if Path(path).resolve() == CORPUS.resolve() and digest != SOURCE["sha256"]:
        raise ValueError(f"{path} has SHA-256 {digest}, expected {SOURCE['sha256']}: the corpus was changed")
    return data.decode("utf-8")


class Vocabulary:
    """The characters of a text, in sorted order; ``encode`` maps a string to their indices."""

    def __init__(self, text: str) -> None:
        if not text:
            raise ValueError("a vocabulary needs a non-empty text")
        self.characters = sorted(set(text))
        self.index = {character: i for i, character in enumerate(self.characters)}

    def __len__(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> Tensor:
        """``text`` as a (len(text),) int64 tensor of indices; ValueError names an unknown character."""
        unknown = next((c for c in text if c not in self.index), None)
        if unknown is not None:
            raise ValueError(f"character {unknown!r} is not in the vocabulary of {len(self)} characters")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, codes: Tensor | list[int]) -> str:
        """The string of indices ``codes`` (any shape, read in order)."""
        values = codes.flatten().tolist() if isinstance(codes, Tensor) else list(codes)
        bad = next((v for v in values if not 0 <= v < len(self)), None)
        if bad is not None:
            raise ValueError(f"index {bad} is outside the vocabulary's 0..{len(self) - 1}")
        return "".join(self.characters[v] for v in values)


class Split(NamedTuple):
    """Train, validation and test text: whole paragraphs, each in exactly one part."""

    train: str
    validation: str
    test: str


def paragraphs(text: str) -> list[str]:
    """The text's paragraphs: blocks separated by blank lines, each ending in its newline (the
    blank lines, and any indentation that opens a paragraph's first line, are dropped)."""
    return [block.strip("\n") + "\n" for block in re.split(r"\n\s*\n", text) if block.strip()]


def split_text(text: str, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> Split:
    """Shuffle the paragraphs with ``seed`` and deal them out until each part holds its fraction
    of the characters; each part joins its paragraphs with a blank line, in shuffled order."""
    if len(fractions) != 3 or min(fractions) <= 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three positive numbers that add up to 1, got {fractions}")
    blocks = paragraphs(text)
    random.Random(seed).shuffle(blocks)
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    total, done = sum(map(len, blocks)), 0
    bounds = (fractions[0] * total, (fractions[0] + fractions[1]) * total)
    for block in blocks:
        part = 0 if done < bounds[0] else 1 if done < bounds[1] else 2
        parts[part].append(block)
        done += len(block)
    if not all(parts):
        raise ValueError(f"the text has too few paragraphs ({len(blocks)}) to split in three")
    return Split(*("\n".join(part) for part in parts))


@dataclass(frozen=True)
class NGram:
    """A character n-gram model (order 1: unigram, 2: bigram) with add-``alpha`` smoothing."""

    order: int
    alpha: float
    counts: dict[str, Counter]
    vocabulary_size: int

    def bits(self, text: str) -> float:
        """Mean bits per character of ``text`` (each character given the ``order - 1`` before it;
        the first characters of the text are scored with what context there is)."""
        total = 0.0
        for position, character in enumerate(text):
            context = text[max(0, position - self.order + 1) : position] if self.order > 1 else ""
            if len(context) < self.order - 1:
                context = ""
            seen = self.counts.get(context, Counter())
            probability = (seen[character] + self.alpha) / (sum(seen.values()) + self.alpha * self.vocabulary_size)
            total -= math.log2(probability)
        return total / len(text)


def fit_ngram(train: str, order: int, alpha: float, vocabulary_size: int) -> NGram:
    """Count ``train``'s characters after each context of ``order - 1`` characters."""
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive (add-alpha smoothing), got {alpha!r}")
    counts: dict[str, Counter] = {}
    for position in range(len(train)):
        context = train[position - order + 1 : position] if order > 1 and position >= order - 1 else ""
        counts.setdefault(context, Counter())[train[position]] += 1
    if order > 1:  # the empty context backs the first characters of a text: the unigram counts
        counts[""] = Counter(train)
    return NGram(order, alpha, counts, vocabulary_size)


NGRAM_ALPHAS = (0.01, 0.1, 1.0)


def ngram_baselines(split: Split, vocabulary_size: int) -> dict[str, dict]:
    """The unigram and bigram models, each with its smoothing chosen on the validation text from
    ``NGRAM_ALPHAS``: {"unigram": {"alpha", "validation_bits", "test_bits"}, "bigram": ...}."""
    found = {}
    for name, order in (("unigram", 1), ("bigram", 2)):
        models = [fit_ngram(split.train, order, alpha, vocabulary_size) for alpha in NGRAM_ALPHAS]
        best = min(models, key=lambda model: model.bits(split.validation))
        found[name] = {
            "alpha": best.alpha,
            "validation_bits": best.bits(split.validation),
            "test_bits": best.bits(split.test),
        }
    return found


def quote_distance(text: str) -> list[int]:
    """For each character: how many characters since the quotation it is in opened (1 for the one
    right after “, counting up to and including the closing ”), or 0 outside quotations. A new “
    or a paragraph's end (a blank line) also ends an unclosed one."""
    found, opened = [], None
    for position, character in enumerate(text):
        if opened is not None and position > 0 and text.startswith("\n\n", position - 1):
            opened = None
        found.append(position - opened if opened is not None else 0)
        if character == OPEN_QUOTE:
            opened = position
        elif character == CLOSE_QUOTE:
            opened = None
    return found


def inside_quotes(text: str) -> list[int]:
    """1 for the characters that follow an open “ (up to and including its ”), else 0."""
    return [int(d > 0) for d in quote_distance(text)]


def bracket_depth(text: str) -> list[int]:
    """For each character: how many parentheses are open before it (never below 0)."""
    found, depth = [], 0
    for character in text:
        found.append(depth)
        depth = depth + 1 if character == "(" else max(0, depth - 1) if character == ")" else depth
    return found


def line_position(text: str) -> list[int]:
    """For each character: how many characters of its line come before it."""
    found, column = [], 0
    for character in text:
        found.append(column)
        column = 0 if character == "\n" else column + 1
    return found


STRUCTURES = {
    "inside a quotation": inside_quotes,
    "bracket depth": bracket_depth,
    "position in the line": line_position,
}
"""The structures the cell search looks for, each a function text -> one value per character."""

SENTENCE_END = re.compile(r"[.!?](?=[”’)]*(?:\s|$))")
LABELS = (".", "!", "?")


class Sentence(NamedTuple):
    """A sentence without its final mark (what a classifier reads) and that mark's index in LABELS."""

    text: str
    label: int


def sentences(text: str, max_length: int) -> tuple[list[Sentence], int]:
    """Split ``text`` at every ., ! or ? that ends a sentence (followed by space, the end, or a
    closing quote or bracket, then space). Each sentence's newlines become spaces and its final
    mark is taken off as its label. Sentences of 2 to ``max_length`` characters are kept;
    returns them and how many longer ones were left out."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    kept, too_long, start = [], 0, 0
    for match in SENTENCE_END.finditer(text):
        body = " ".join(text[start : match.start()].split()).lstrip("”’) ")
        start = match.end()
        if len(body) < 2:
            continue
        if len(body) > max_length:
            too_long += 1
            continue
        kept.append(Sentence(body, LABELS.index(match.group())))
    return kept, too_long
