"""The real-text study: the corpus (its checksum, split, n-gram baselines and structures), the
character model (its stream layout, bits per character, the step-by-step LSTM trace against
nn.LSTM, the clamp, sampling, training), the sentence classifier (packing against padding), the
study itself at the ci protocol, its t intervals and its command line. Every number is checked
against an independent computation."""

import hashlib
import itertools
import math
import random
import signal
import statistics
from collections import Counter
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_cli import refusal

from course_lstm import cli, corpus, language, results, sentences, stats, text_study
from course_lstm.corpus import CLOSE_QUOTE as CQ
from course_lstm.corpus import OPEN_QUOTE as OQ

LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def book():
    return corpus.load_text()


@pytest.fixture(scope="module")
def ci_result():
    """The whole ci protocol, run once (about 20 s on one thread)."""
    return text_study.run_text_study("ci", workers=1, progress=False)


@pytest.fixture(scope="module")
def ci_data():
    return text_study.Data(text_study.PROTOCOLS["ci"])


def random_model(kind, vocabulary_size, hidden_size, seed, scale=1.0):
    """A CharModel with its weights drawn uniformly in [-scale, scale] (seeded)."""
    torch.manual_seed(seed)
    model = language.CharModel(kind, vocabulary_size, hidden_size)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * scale)
    return model.eval()


def random_codes(length, vocabulary_size, seed, columns=None):
    shape = (length,) if columns is None else (length, columns)
    return torch.randint(vocabulary_size, shape, generator=torch.Generator().manual_seed(seed))


# --- corpus: the file and its checksum -----------------------------------------------------------


def test_the_shipped_book_has_the_recorded_sha256(book):
    raw = corpus.CORPUS.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == corpus.SOURCE["sha256"]
    assert book == raw.decode("utf-8")
    assert OQ in book and CQ in book and "\r" not in book


def tampered_copy(tmp_path):
    """A copy of the book with one byte changed (an ASCII letter, so it stays UTF-8)."""
    data = bytearray(corpus.CORPUS.read_bytes())
    position = data.index(b"Alice", 2000)
    data[position] = ord("B")
    copy = tmp_path / "alice.txt"
    copy.write_bytes(bytes(data))
    return copy


def test_a_changed_corpus_is_refused(tmp_path, monkeypatch):
    copy = tampered_copy(tmp_path)
    monkeypatch.setattr(corpus, "CORPUS", copy)  # the corpus the code checks is now the tampered file
    with pytest.raises(ValueError, match="SHA-256") as refused:
        corpus.load_text(copy)
    assert corpus.SOURCE["sha256"] in str(refused.value)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() in str(refused.value)


def test_a_changed_corpus_is_refused_whatever_the_spelling_of_its_path(tmp_path, monkeypatch):
    """The same tampered file, named by a relative path: it is the corpus all the same, and must
    be refused. (load_text compares the path as given with CORPUS, so it is not.)"""
    copy = tampered_copy(tmp_path)
    monkeypatch.setattr(corpus, "CORPUS", copy)
    monkeypatch.chdir(tmp_path)
    assert (tmp_path / "alice.txt").resolve() == copy.resolve()
    with pytest.raises(ValueError, match="SHA-256"):
        corpus.load_text("alice.txt")


def test_another_text_is_read_as_it_is(tmp_path):
    """A file that is not the corpus has no recorded digest: it is read verbatim."""
    other = tmp_path / "other.txt"
    other.write_text("Not the book. “Quoted.”\n", encoding="utf-8")
    assert corpus.load_text(other) == "Not the book. “Quoted.”\n"


# --- corpus: the vocabulary ----------------------------------------------------------------------


def test_vocabulary_round_trip_on_random_passages(book):
    vocabulary = corpus.Vocabulary(book)
    characters = sorted(set(book))
    assert vocabulary.characters == characters and len(vocabulary) == len(characters)
    rng = random.Random(1)
    for _ in range(20):
        start = rng.randrange(len(book) - 300)
        passage = book[start : start + rng.randrange(1, 300)]
        codes = vocabulary.encode(passage)
        assert codes.dtype == torch.long and codes.shape == (len(passage),)
        assert codes.tolist() == [characters.index(c) for c in passage]
        assert vocabulary.decode(codes) == passage
        assert vocabulary.decode(codes.tolist()) == passage
        assert vocabulary.decode(codes.view(1, -1)) == passage


def test_vocabulary_refuses_what_it_does_not_know():
    vocabulary = corpus.Vocabulary("abc")
    with pytest.raises(ValueError, match="'Ω'"):
        vocabulary.encode("abΩc")
    with pytest.raises(ValueError, match=r"index 3 .*0\.\.2"):
        vocabulary.decode([0, 3])
    with pytest.raises(ValueError, match="index -1"):
        vocabulary.decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="non-empty"):
        corpus.Vocabulary("")


# --- corpus: the split ---------------------------------------------------------------------------


def test_the_split_deals_every_paragraph_exactly_once(book):
    split = corpus.split_text(book, seed=0)
    dealt = Counter(p for part in split for p in corpus.paragraphs(part))
    assert dealt == Counter(corpus.paragraphs(book))
    assert all(len(corpus.paragraphs(part)) > 10 for part in split)


@pytest.mark.parametrize("seed, fractions", [(0, corpus.SPLIT_FRACTIONS), (7, (0.6, 0.25, 0.15))])
def test_the_split_respects_the_fractions(book, seed, fractions):
    split = corpus.split_text(book, seed, fractions)
    lengths = [sum(map(len, corpus.paragraphs(part))) for part in split]
    for length, fraction in zip(lengths, fractions, strict=True):
        assert abs(length / sum(lengths) - fraction) < 0.02


def test_the_split_is_seeded(book):
    assert corpus.split_text(book, 3) == corpus.split_text(book, 3)
    first, second = corpus.split_text(book, 3), corpus.split_text(book, 4)
    assert first.validation != second.validation and first.test != second.test


def test_the_split_on_a_random_text():
    rng = random.Random(5)
    blocks = ["".join(rng.choice("abc de\n") for _ in range(rng.randrange(5, 60))).strip() for _ in range(60)]
    blocks = [b for b in blocks if b.strip() and "\n\n" not in b]
    text = "\n\n".join(blocks) + "\n"
    split = corpus.split_text(text, seed=2)
    assert Counter(p for part in split for p in corpus.paragraphs(part)) == Counter(corpus.paragraphs(text))


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.8, 0.2, 0.0), (0.5, 0.3, 0.3), (1.1, -0.05, -0.05), (0.8, 0.1, 0.1, 0.0)]
)
def test_bad_fractions_are_refused(book, fractions):
    with pytest.raises(ValueError, match="fractions must be three positive numbers"):
        corpus.split_text(book, 0, fractions)


def test_too_few_paragraphs_are_refused():
    with pytest.raises(ValueError, match="too few paragraphs"):
        corpus.split_text("one\n\ntwo\n", 0)


# --- corpus: n-gram baselines --------------------------------------------------------------------


def unigram_bits(train, test, alpha, size):
    counts = Counter(train)
    return statistics.fmean(-math.log2((counts[c] + alpha) / (len(train) + alpha * size)) for c in test)


def bigram_bits(train, test, alpha, size):
    pairs, contexts, counts = Counter(itertools.pairwise(train)), Counter(train[:-1]), Counter(train)
    first = -math.log2((counts[test[0]] + alpha) / (len(train) + alpha * size))
    rest = [-math.log2((pairs[a, b] + alpha) / (contexts[a] + alpha * size)) for a, b in itertools.pairwise(test)]
    return (first + sum(rest)) / len(test)


def test_ngram_bits_by_hand_on_abracadabra():
    train, test, alpha, size = "abracadabra", "abcab", 0.5, 5
    # unigram: a 5, b 2, r 2, c 1, d 1 of 11 characters
    expected = -(2 * math.log2(5.5 / 13.5) + 2 * math.log2(2.5 / 13.5) + math.log2(1.5 / 13.5)) / 5
    assert corpus.fit_ngram(train, 1, alpha, size).bits(test) == pytest.approx(expected, rel=1e-12)
    # bigram: after a: b 2, c 1, d 1 (4); after b: r 2; after c: a 1; the first 'a' by the unigram
    expected = (
        -(
            math.log2(5.5 / 13.5)
            + math.log2(2.5 / 6.5)
            + math.log2(0.5 / 4.5)
            + math.log2(1.5 / 3.5)
            + math.log2(2.5 / 6.5)
        )
        / 5
    )
    assert corpus.fit_ngram(train, 2, alpha, size).bits(test) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ngram_bits_match_an_independent_count_on_random_text(seed):
    rng = random.Random(seed)
    alphabet = "abcdefg"
    train = "".join(rng.choice(alphabet[:5]) for _ in range(400))  # f and g never seen in training
    test = "".join(rng.choice(alphabet) for _ in range(60))
    alpha = rng.choice([0.01, 0.3, 1.0])
    unigram = corpus.fit_ngram(train, 1, alpha, len(alphabet))
    bigram = corpus.fit_ngram(train, 2, alpha, len(alphabet))
    assert unigram.bits(test) == pytest.approx(unigram_bits(train, test, alpha, len(alphabet)), rel=1e-12)
    assert bigram.bits(test) == pytest.approx(bigram_bits(train, test, alpha, len(alphabet)), rel=1e-12)


def test_fit_ngram_refuses_bad_arguments():
    with pytest.raises(ValueError, match="order must be 1, 2 or 3"):
        corpus.fit_ngram("abc", 4, 0.1, 3)
    with pytest.raises(ValueError, match="alpha must be positive"):
        corpus.fit_ngram("abc", 1, 0.0, 3)


def test_a_bigram_beats_a_unigram_on_the_real_split(book):
    vocabulary = corpus.Vocabulary(book)
    split = corpus.split_text(book, 0)
    split = corpus.Split(split.train, split.validation[:4000], split.test[:4000])
    found = corpus.ngram_baselines(split, len(vocabulary))
    for name, order in (("unigram", 1), ("bigram", 2)):
        entry = found[name]
        assert entry["alpha"] in corpus.NGRAM_ALPHAS
        by_alpha = {a: corpus.fit_ngram(split.train, order, a, len(vocabulary)) for a in corpus.NGRAM_ALPHAS}
        assert entry["validation_bits"] == pytest.approx(min(m.bits(split.validation) for m in by_alpha.values()))
        assert entry["test_bits"] == pytest.approx(by_alpha[entry["alpha"]].bits(split.test))
    assert found["bigram"]["test_bits"] < found["unigram"]["test_bits"] - 0.5
    assert 3.5 < found["unigram"]["test_bits"] < math.log2(len(vocabulary))
    assert found["unigram"]["test_bits"] == pytest.approx(
        unigram_bits(split.train, split.test, found["unigram"]["alpha"], len(vocabulary))
    )


# --- corpus: the structures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"a{OQ}bc{CQ}d", [0, 0, 1, 2, 3, 0]),
        (f"x{OQ}a\nb{CQ}", [0, 0, 1, 2, 3, 4]),  # a single newline does not end a quotation
        (f"x{OQ}ab\n\ny", [0, 0, 1, 2, 3, 0, 0]),  # a blank line (a paragraph's end) does
        (f"{OQ}ab{OQ}cd{CQ}", [0, 1, 2, 3, 1, 2, 3]),  # a new “ starts the count again
        (f"a{CQ}b", [0, 0, 0]),  # a stray ” opens nothing
        ("", []),
    ],
)
def test_quote_distance_by_hand(text, expected):
    assert corpus.quote_distance(text) == expected
    assert corpus.inside_quotes(text) == [int(d > 0) for d in expected]


def reference_quote_distance(text):
    """Independently: scan back from each character to the last “, ” or blank line."""
    found = []
    for p in range(len(text)):
        distance = 0
        for j in range(p - 1, -1, -1):
            if text[j] == "\n" and text[j + 1] == "\n":
                break
            if text[j] == CQ:
                break
            if text[j] == OQ:
                distance = p - j
                break
        found.append(distance)
    return found


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_quote_distance_against_a_backward_scan_on_random_text(seed):
    rng = random.Random(seed)
    text = "".join(rng.choices(f"ab {OQ}{CQ}\n", weights=[5, 5, 3, 1, 1, 1], k=300))
    assert corpus.quote_distance(text) == reference_quote_distance(text)


def test_bracket_depth_and_line_position_by_hand():
    assert corpus.bracket_depth("a(b(c)d)e)f") == [0, 0, 1, 1, 2, 2, 1, 1, 0, 0, 0]
    assert corpus.line_position("ab\ncde\n\nf") == [0, 1, 2, 0, 1, 2, 3, 0, 0]
    assert set(corpus.STRUCTURES) == set(text_study.SIGNALS)


def test_structures_on_the_book(book):
    """Across the whole book: every line's positions count 0, 1, 2, ... and the depth never
    goes below zero; the book's quotations are mostly closed, so most ” are inside one."""
    positions = corpus.line_position(book)
    lines = book.split("\n")
    assert positions == [i for line in lines[:-1] for i in range(len(line) + 1)] + list(range(len(lines[-1])))
    assert min(corpus.bracket_depth(book)) == 0 and max(corpus.bracket_depth(book)) >= 1
    inside = corpus.inside_quotes(book)
    closes = [inside[i] for i, c in enumerate(book) if c == CQ]
    assert sum(closes) / len(closes) > 0.95


# --- corpus: sentences ---------------------------------------------------------------------------


def test_sentences_by_hand():
    text = f"He said {OQ}Stop!{CQ} and left. Why?\nReally\nnow. Pi is 3.14 or so. A."
    kept, too_long = corpus.sentences(text, max_length=100)
    assert kept == [
        corpus.Sentence(f"He said {OQ}Stop", 1),
        corpus.Sentence("and left", 0),
        corpus.Sentence("Why", 2),
        corpus.Sentence("Really now", 0),
        corpus.Sentence("Pi is 3.14 or so", 0),
    ]  # "A" (one character) is dropped and not counted as too long
    assert too_long == 0
    kept, too_long = corpus.sentences(text, max_length=9)
    assert kept == [corpus.Sentence("and left", 0), corpus.Sentence("Why", 2)]
    assert too_long == 3
    assert all(corpus.LABELS[s.label] in ".!?" for s in kept)


def test_sentences_of_the_book(book):
    kept, too_long = corpus.sentences(book, max_length=80)
    assert len(kept) > 500 and too_long > 100
    assert all(2 <= len(s.text) <= 80 and "\n" not in s.text for s in kept)
    assert {s.label for s in kept} == {0, 1, 2}


@pytest.mark.parametrize("max_length", [1, 0, -5])
def test_sentences_refuse_a_max_length_below_two(max_length):
    with pytest.raises(ValueError, match="max_length must be at least 2"):
        corpus.sentences("Hello there. Yes.", max_length)


# --- the character model -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_char_model_shapes(kind):
    model = random_model(kind, 11, 5, seed=0)
    codes = random_codes(7, 11, seed=1, columns=3)
    logits, state = model(codes)
    assert logits.shape == (7, 3, 11)
    states = state if kind == "lstm" else (state,)
    assert len(states) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (1, 3, 5) for s in states)
    # the state carries: two halves run one after the other give the whole run's logits
    first, middle = model(codes[:4])
    second, _ = model(codes[4:], middle)
    torch.testing.assert_close(torch.cat([first, second]), logits)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("vocabulary_size, hidden_size", [(11, 5), (75, 8), (3, 1)])
def test_char_model_parameters(kind, vocabulary_size, hidden_size):
    model = language.CharModel(kind, vocabulary_size, hidden_size)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    by_hand = gates * (hidden_size * (vocabulary_size + hidden_size) + 2 * hidden_size)
    by_hand += hidden_size * vocabulary_size + vocabulary_size
    assert language.char_model_parameters(kind, vocabulary_size, hidden_size) == by_hand
    assert by_hand == sum(p.numel() for p in model.parameters())


def test_char_model_refuses_bad_input():
    model = language.CharModel("lstm", 5, 3)
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(L, N\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="kind must be one of rnn, lstm, gru"):
        language.CharModel("transformer", 5, 3)


@pytest.mark.parametrize("length, batch_size", [(103, 4), (50, 7), (21, 2)])
def test_streams_layout(length, batch_size):
    codes = random_codes(length, 9, seed=length)
    inputs, targets = language.streams(codes, batch_size)
    steps = (length - 1) // batch_size
    assert inputs.shape == targets.shape == (steps, batch_size)
    for n in range(batch_size):
        assert inputs[:, n].tolist() == codes[n * steps : (n + 1) * steps].tolist()
        assert targets[:, n].tolist() == codes[n * steps + 1 : (n + 1) * steps + 1].tolist()
    torch.testing.assert_close(inputs[1:], targets[:-1])  # each target is the next input


def test_streams_refuse_a_text_too_short():
    with pytest.raises(ValueError, match="too short for 2 streams"):
        language.streams(torch.arange(4), 2)


def test_chunks_walk_the_streams_epoch_by_epoch():
    length, chunk = 50, 8
    inputs = torch.arange(length).repeat(2, 1).T  # (length, 2): the value is the time step
    targets = inputs + 1000
    drawn = list(
        zip(range(40), language.chunks(inputs, targets, chunk, torch.Generator().manual_seed(3)), strict=False)
    )
    offsets, starts = [], []
    for i, (_, (fresh, x, y)) in enumerate(drawn):
        offset = int(x[0, 0])
        torch.testing.assert_close(x, inputs[offset : offset + chunk])
        torch.testing.assert_close(y, targets[offset : offset + chunk])
        if i > 0 and not fresh:
            assert offset == offsets[-1] + chunk, "within an epoch the chunks are consecutive"
        if fresh:
            assert offset < chunk
            assert i == 0 or offsets[-1] + 2 * chunk > length, "an epoch ends only where no chunk fits"
            starts.append(offset)
        offsets.append(offset)
    assert drawn[0][1][0] and len(starts) >= 5 and len(set(starts)) > 1
    again = language.chunks(inputs, targets, chunk, torch.Generator().manual_seed(3))
    assert [int(next(again)[1][0, 0]) for _ in range(40)] == offsets


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the hang is caught with SIGALRM")
def test_chunks_refuse_streams_shorter_than_a_chunk():
    """Streams of 9 steps cannot hold a chunk of 32: no chunk can ever be made, and asking for
    one must raise a clear ValueError (chunks loops forever instead; train_language_model,
    which draws from it, hangs on such a text)."""
    inputs, targets = language.streams(torch.arange(20) % 5, 2)

    def hang(*_):
        raise TimeoutError("chunks() yielded nothing in 2 s: it loops forever on streams shorter than a chunk")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with pytest.raises(ValueError, match="chunk"):
            next(language.chunks(inputs, targets, 32, torch.Generator().manual_seed(0)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_bits_per_character_against_a_step_by_step_run(kind):
    model = random_model(kind, 9, 6, seed=4, scale=0.7)
    codes = random_codes(30, 9, seed=5)
    bits = language.bits_per_character(model, codes)
    assert bits.shape == (29,) and bits.dtype == torch.float64
    expected, state = [], None
    with torch.no_grad():
        for t in range(29):
            logits, state = model(codes[t].view(1, 1), state)
            expected.append(-math.log(torch.softmax(logits[0, 0].double(), -1)[codes[t + 1]]) / LN2)
            assert F.cross_entropy(logits[0], codes[t + 1 : t + 2]).item() / LN2 == pytest.approx(expected[-1], 1e-5)
    torch.testing.assert_close(bits, torch.tensor(expected, dtype=torch.float64), atol=1e-5, rtol=1e-5)


# --- lstm_trace: the equations, step by step, against nn.LSTM ---------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_lstm_trace_reproduces_nn_lstm(seed):
    model = random_model("lstm", 10, 6, seed=seed)
    codes = random_codes(40, 10, seed=seed + 10)
    cells, log_probabilities = language.lstm_trace(model, codes)
    assert cells.shape == (40, 1, 6) and log_probabilities.shape == (40, 1, 10)
    with torch.no_grad():
        logits, (_, c_n) = model(codes.unsqueeze(1))
        torch.testing.assert_close(log_probabilities, torch.log_softmax(logits, -1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(cells[-1], c_n[0], atol=1e-5, rtol=1e-5)
        state = None  # every step's cell, read from nn.LSTM one step at a time
        for t in range(40):
            _, state = model(codes[t].view(1, 1), state)
            torch.testing.assert_close(cells[t], state[1][0], atol=1e-5, rtol=1e-5)


def test_a_clamped_cell_holds_its_value_and_a_free_row_runs_free():
    model = random_model("lstm", 8, 5, seed=2)
    codes = random_codes(25, 8, seed=3)
    free_cells, free_log_probabilities = language.lstm_trace(model, codes)
    clamp = language.Clamp(torch.tensor([2, -1, 0]), torch.tensor([0.7, 9.0, -1.5]))
    cells, log_probabilities = language.lstm_trace(model, codes, clamp)
    assert cells.shape == (25, 3, 5) and log_probabilities.shape == (25, 3, 8)
    assert torch.equal(cells[:, 0, 2], torch.full((25,), 0.7))
    assert torch.equal(cells[:, 2, 0], torch.full((25,), -1.5))
    torch.testing.assert_close(cells[:, 1], free_cells[:, 0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(log_probabilities[:, 1], free_log_probabilities[:, 0], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(log_probabilities[:, 0], free_log_probabilities[:, 0], atol=1e-3)
    # the clamped cell still feeds h: step 0 by hand, from the zero state
    core = model.core
    with torch.no_grad():
        gates = core.weight_ih_l0[:, codes[0]] + core.bias_ih_l0 + core.bias_hh_l0
        i, _, g, o = gates.chunk(4)  # f multiplies the zero initial cell
        c = torch.sigmoid(i) * torch.tanh(g)
        c[2] = 0.7
        h = torch.sigmoid(o) * torch.tanh(c)
        expected = torch.log_softmax(model.readout(h), -1)
    torch.testing.assert_close(log_probabilities[0, 0], expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_lstm_trace_refuses_another_model(kind):
    with pytest.raises(ValueError, match="LSTM"):
        language.lstm_trace(language.CharModel(kind, 5, 3), torch.arange(4))


# --- correlation, sampling -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlation_against_numpy(seed):
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(50, 4, generator=generator, dtype=torch.float64)
    signal_ = torch.randn(50, generator=generator, dtype=torch.float64)
    values[:, 1] += 2 * signal_  # one strongly correlated column
    found = language.correlation(values, signal_)
    assert found.shape == (4,)
    for j in range(4):
        assert float(found[j]) == pytest.approx(np.corrcoef(values[:, j].numpy(), signal_.numpy())[0, 1], abs=1e-12)
    assert float(found[1]) > 0.8


def test_correlation_is_zero_where_a_column_or_the_signal_is_constant():
    values = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
    values[:, 1] = 0.1
    found = language.correlation(values, torch.randn(30, generator=torch.Generator().manual_seed(1)))
    assert found[1] == 0 and found[0] != 0 and torch.isfinite(found).all()
    assert torch.equal(language.correlation(values, torch.full((30,), 4.0)), torch.zeros(3, dtype=torch.float64))


def test_correlation_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"values \(T, H\) and signal \(T,\)"):
        language.correlation(torch.zeros(10, 3), torch.zeros(9))
    with pytest.raises(ValueError, match=r"values \(T, H\)"):
        language.correlation(torch.zeros(10), torch.zeros(10))


def test_sample_draws_valid_reproducible_characters():
    model = random_model("lstm", 12, 6, seed=1)
    prompt = random_codes(5, 12, seed=2)
    drawn = language.sample(model, prompt, 30, 0.8, torch.Generator().manual_seed(3))
    assert drawn.shape == (30,) and drawn.dtype == torch.long
    assert 0 <= int(drawn.min()) and int(drawn.max()) < 12
    assert torch.equal(drawn, language.sample(model, prompt, 30, 0.8, torch.Generator().manual_seed(3)))
    assert not torch.equal(drawn, language.sample(model, prompt, 30, 0.8, torch.Generator().manual_seed(4)))


def test_sample_at_a_tiny_temperature_is_greedy():
    """Independently: feed the prompt, then always the most probable character."""
    model = random_model("gru", 9, 5, seed=6)
    prompt = random_codes(4, 9, seed=7)
    with torch.no_grad():
        logits, state = model(prompt.unsqueeze(1))
        greedy = []
        for _ in range(15):
            code = int(logits[-1, 0].argmax())
            greedy.append(code)
            logits, state = model(torch.tensor([[code]]), state)
    drawn = language.sample(model, prompt, 15, 1e-4, torch.Generator().manual_seed(0))
    assert drawn.tolist() == greedy


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0])
def test_sample_refuses_a_temperature_that_is_not_positive(temperature):
    model = language.CharModel("lstm", 5, 3)
    with pytest.raises(ValueError, match="temperature must be positive"):
        language.sample(model, torch.tensor([1, 2]), 3, temperature, torch.Generator())


# --- training ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_train_language_model_learns_a_repetitive_text(kind):
    text = "the cat sat on the mat. " * 40
    vocabulary = corpus.Vocabulary(text)
    train, validation = vocabulary.encode(text), vocabulary.encode(text[5:300])
    run = language.LanguageRun(kind, 8, seed=1, lr=1e-2, steps=30, batch_size=4, chunk=16, eval_every=10)
    model, row = language.train_language_model(run, len(vocabulary), train, validation)
    assert row["status"] == "ok"
    assert [h["step"] for h in row["history"]] == [10, 20, 30]
    scores = [h["validation_bits"] for h in row["history"]]
    assert row["best_step"] in (10, 20, 30) and scores[[10, 20, 30].index(row["best_step"])] == min(scores)
    assert row["validation_bits"] == min(scores)
    assert row["validation_bits"] < math.log2(len(vocabulary)) - 0.3  # better than uniform guessing
    assert row["parameters"] == language.char_model_parameters(kind, len(vocabulary), 8)
    recomputed = language.bits_per_character(model, validation).mean().item()
    assert recomputed == pytest.approx(row["validation_bits"], abs=1e-6)
    assert not model.training
    assert {k: row[k] for k in ("kind", "hidden_size", "seed", "lr", "steps")} == {
        "kind": kind,
        "hidden_size": 8,
        "seed": 1,
        "lr": 1e-2,
        "steps": 30,
    }


def test_train_language_model_is_reproducible():
    text = "abcabd abcabd " * 30
    vocabulary = corpus.Vocabulary(text)
    codes = vocabulary.encode(text)
    run = language.LanguageRun("rnn", 4, seed=3, lr=1e-2, steps=6, batch_size=2, chunk=8, eval_every=3)
    _, first = language.train_language_model(run, len(vocabulary), codes, codes[:100])
    _, second = language.train_language_model(run, len(vocabulary), codes, codes[:100])
    assert first["history"] == second["history"]
    assert [h["step"] for h in first["history"]] == [3, 6]


# --- sentences -----------------------------------------------------------------------------------


def test_batch_pads_with_minus_one():
    vocabulary = corpus.Vocabulary("abcde ")
    batch = [corpus.Sentence("ab", 0), corpus.Sentence("abc de", 1), corpus.Sentence("c", 2)]
    codes, lengths, labels = sentences.batch(batch, vocabulary)
    assert codes.shape == (6, 3) and codes.dtype == torch.long
    assert lengths.tolist() == [2, 6, 1] and labels.tolist() == [0, 1, 2]
    for n, s in enumerate(batch):
        assert codes[: len(s.text), n].tolist() == vocabulary.encode(s.text).tolist()
        assert (codes[len(s.text) :, n] == -1).all()


def random_sentences(rng, count, alphabet="abcd e"):
    return [
        corpus.Sentence("".join(rng.choice(alphabet) for _ in range(rng.randrange(2, 25))), rng.randrange(3))
        for _ in range(count)
    ]


def test_packing_makes_a_sentence_independent_of_its_batch():
    vocabulary = corpus.Vocabulary("abcd e")
    torch.manual_seed(0)
    model = sentences.SentenceClassifier(len(vocabulary), 6).eval()
    short, long = corpus.Sentence("ab c", 0), corpus.Sentence("abcd abcd abcd ab", 1)
    with torch.no_grad():
        together = model(*sentences.batch([short, long], vocabulary)[:2], packed=True)
        alone = model(*sentences.batch([short], vocabulary)[:2], packed=True)
        torch.testing.assert_close(together[0], alone[0], atol=1e-6, rtol=1e-6)
        # independently: nn.LSTM over the short sentence's one-hot vectors, its last hidden state
        x = F.one_hot(vocabulary.encode(short.text), len(vocabulary)).float().unsqueeze(1)
        _, (h, _) = model.core(x)
        torch.testing.assert_close(together[0], model.readout(h[-1, 0]), atol=1e-6, rtol=1e-6)
        # without packing, the short sentence is read over the padding: its answer changes
        padded = model(*sentences.batch([short, long], vocabulary)[:2], packed=False)
        assert not torch.allclose(padded[0], alone[0], atol=1e-4)
        # the longest sentence has no padding: the same either way
        torch.testing.assert_close(padded[1], together[1], atol=1e-6, rtol=1e-6)
        unpadded_alone = model(*sentences.batch([short], vocabulary)[:2], packed=False)
        torch.testing.assert_close(unpadded_alone[0], alone[0], atol=1e-6, rtol=1e-6)


def test_sentence_classifier_refuses_mismatched_lengths():
    model = sentences.SentenceClassifier(4, 3)
    with pytest.raises(ValueError, match=r"codes \(L, N\) and lengths \(N,\)"):
        model(torch.zeros(5, 2, dtype=torch.long), torch.tensor([5, 5, 5]), packed=True)


def test_prior_by_hand():
    rng = random.Random(3)
    train = [corpus.Sentence("xx", rng.choices([0, 1, 2], weights=[6, 3, 1])[0]) for _ in range(200)]
    test = [corpus.Sentence("yy", rng.choices([0, 1, 2], weights=[6, 3, 1])[0]) for _ in range(80)]
    counts = Counter(s.label for s in train)
    p = [counts[k] / len(train) for k in range(3)]
    found = sentences.prior(train, test)
    assert found["train_frequencies"] == pytest.approx(p)
    assert found["bits"] == pytest.approx(statistics.fmean(-math.log2(p[s.label]) for s in test))
    commonest = max(range(3), key=lambda k: counts[k])
    assert found["accuracy"] == pytest.approx(sum(s.label == commonest for s in test) / len(test))


def test_evaluate_against_one_sentence_at_a_time():
    rng = random.Random(4)
    vocabulary = corpus.Vocabulary("abcd e")
    data = random_sentences(rng, 23)
    torch.manual_seed(1)
    model = sentences.SentenceClassifier(len(vocabulary), 5).eval()
    found = sentences.evaluate(model, data, vocabulary, packed=True, batch_size=4, seed=0)
    bits, correct = 0.0, 0
    with torch.no_grad():
        for s in data:
            x = F.one_hot(vocabulary.encode(s.text), len(vocabulary)).float().unsqueeze(1)
            _, (h, _) = model.core(x)
            logits = model.readout(h[-1, 0])
            bits -= torch.log_softmax(logits.double(), -1)[s.label].item() / LN2
            correct += int(logits.argmax()) == s.label
    assert found["bits"] == pytest.approx(bits / len(data), rel=1e-5)
    assert found["accuracy"] == pytest.approx(correct / len(data))
    assert 0 <= found["accuracy"] <= 1
    padded = sentences.evaluate(model, data, vocabulary, packed=False, batch_size=4, seed=0)
    assert 0 <= padded["accuracy"] <= 1 and padded["bits"] > 0
    assert padded["bits"] != pytest.approx(found["bits"], rel=1e-6)  # padding changes the answers


def test_evaluate_refuses_no_sentences():
    model = sentences.SentenceClassifier(4, 3)
    with pytest.raises(ValueError, match="sentence"):
        sentences.evaluate(model, [], corpus.Vocabulary("abcd"), packed=True, batch_size=4, seed=0)


def test_train_classifier_keeps_its_best_model():
    rng = random.Random(6)
    vocabulary = corpus.Vocabulary("abcd e")
    train, validation = random_sentences(rng, 40), random_sentences(rng, 12)
    run = sentences.SentenceRun(True, 4, seed=0, lr=1e-2, steps=6, batch_size=8, eval_every=2)
    model, row = sentences.train_classifier(run, vocabulary, train, validation)
    assert [h["step"] for h in row["history"]] == [2, 4, 6]
    assert row["validation_bits"] == min(h["validation_bits"] for h in row["history"])
    again = sentences.evaluate(model, validation, vocabulary, True, 8, seed=0)["bits"]
    assert again == pytest.approx(row["validation_bits"], abs=1e-9)
    assert row["parameters"] == sum(p.numel() for p in model.parameters())


# --- the study at the ci protocol ------------------------------------------------------------------


def language_rows(result, phase):
    return [r for r in result["rows"] if r["part"] == "language" and r["phase"] == phase]


def sentence_rows(result, phase):
    return [r for r in result["rows"] if r["part"] == "sentences" and r["phase"] == phase]


def test_the_ci_result_is_valid_and_complete(ci_result):
    protocol = text_study.PROTOCOLS["ci"]
    assert results.validate(ci_result) is ci_result
    assert ci_result["experiment"] == "text" and ci_result["provenance"]["profile"] == "ci"
    assert all(r["status"] == "ok" for r in ci_result["rows"])
    labels = [k.upper() for k in text_study.KINDS]
    assert sorted((r["label"], r["seed"]) for r in language_rows(ci_result, "evaluation")) == sorted(
        (label, s) for label in labels for s in protocol.evaluation_seeds
    )
    assert sorted((r["label"], r["lr"], r["seed"]) for r in language_rows(ci_result, "tuning")) == sorted(
        (label, lr, s) for label in labels for lr in protocol.learning_rates for s in protocol.tuning_seeds
    )
    variants = list(text_study.SENTENCE_LABELS.values())
    assert sorted((r["label"], r["lr"], r["seed"]) for r in sentence_rows(ci_result, "tuning")) == sorted(
        (label, lr, s) for label in variants for lr in protocol.learning_rates for s in protocol.tuning_seeds
    )
    assert sorted((r["label"], r["seed"]) for r in sentence_rows(ci_result, "evaluation")) == sorted(
        (label, s) for label in variants for s in protocol.evaluation_seeds
    )
    assert ci_result["model"]["seed"] == protocol.evaluation_seeds[0]
    assert not any("state_dict" in r for r in ci_result["rows"])


def test_each_model_uses_the_rate_its_tuning_liked_best(ci_result):
    rates = text_study.PROTOCOLS["ci"].learning_rates
    tuning = [*language_rows(ci_result, "tuning"), *sentence_rows(ci_result, "tuning")]
    evaluation = [*language_rows(ci_result, "evaluation"), *sentence_rows(ci_result, "evaluation")]
    for label in {r["label"] for r in tuning}:
        by_rate = {
            lr: statistics.median(r["validation_bits"] for r in tuning if (r["label"], r["lr"]) == (label, lr))
            for lr in rates
        }
        best = sorted(rates, key=lambda lr: (by_rate[lr], rates.index(lr)))[0]
        assert {r["lr"] for r in evaluation if r["label"] == label} == {best}, label


def test_a_protocol_with_its_own_learning_rates_is_tuned_on_them(monkeypatch):
    """TextProtocol.learning_rates is the protocol's grid: the rate chosen must be one of them
    (text_study._choose reads the module's LEARNING_RATES instead, and finds no runs)."""
    protocol = replace(
        text_study.PROTOCOLS["ci"],
        name="one-rate",
        learning_rates=(5e-3,),
        steps=2,
        eval_every=1,
        evaluation_seeds=(0, 1),
        sentence_steps=2,
        sentence_eval_every=1,
    )
    monkeypatch.setitem(text_study.PROTOCOLS, "one-rate", protocol)
    result = text_study.run_text_study("one-rate", workers=1, progress=False)
    assert {r["lr"] for r in result["rows"]} == {5e-3}


def test_the_widths_are_at_an_equal_budget(ci_result, book):
    size = len(corpus.Vocabulary(book))
    widths = ci_result["config"]["widths"]
    assert widths["lstm"] == text_study.PROTOCOLS["ci"].hidden_size
    budget = language.char_model_parameters("lstm", size, widths["lstm"])
    for kind, width in widths.items():
        assert language.char_model_parameters(kind, size, width) <= budget
        assert language.char_model_parameters(kind, size, width + 1) > budget
    for row in language_rows(ci_result, "evaluation"):
        assert row["hidden_size"] == widths[row["kind"]]
        assert row["parameters"] == language.char_model_parameters(row["kind"], size, row["hidden_size"])


def test_the_summary_intervals_hold_their_means(ci_result):
    summary = text_study.summarise(ci_result)
    t4 = 2.7764  # five seeds: four degrees of freedom (checked by integration below)
    for label, entry in summary["language"].items():
        bits = [r["test_bits"] for r in language_rows(ci_result, "evaluation") if r["label"] == label]
        assert entry["test_bits"] == bits and entry["mean"] == pytest.approx(statistics.fmean(bits))
        half = t4 * statistics.stdev(bits) / math.sqrt(len(bits))
        assert entry["interval"] == pytest.approx([entry["mean"] - half, entry["mean"] + half])
        assert entry["interval"][0] <= entry["mean"] <= entry["interval"][1]
    for entry in summary["sentences"].values():
        for key in ("test_bits", "test_accuracy"):
            low, high = entry[key]["interval"]
            assert low <= entry[key]["mean"] <= high
    assert set(summary["lstm_better"]) == {"RNN", "GRU"}
    assert all(0 < p <= 1 for p in summary["lstm_better"].values())
    table = text_study.format_summary(ci_result)
    assert all(name in table for name in ("RNN", "LSTM", "GRU", "unigram", "bigram"))


def test_the_lstm_rows_read_their_cells(ci_result):
    hidden = ci_result["config"]["widths"]["lstm"]
    rows = [r for r in language_rows(ci_result, "evaluation") if r["kind"] == "lstm"]
    assert rows and all("cells" not in r for r in language_rows(ci_result, "evaluation") if r["kind"] != "lstm")
    for row in rows:
        assert set(row["cells"]) == set(corpus.STRUCTURES) == set(row["untrained_correlation"])
        for found in row["cells"].values():
            assert 0 <= found["cell"] < hidden
            assert -1 <= found["correlation"] <= 1
            for effect in (found["clamp_to_on"], found["clamp_to_off"]):
                if effect is not None:
                    assert 1 <= effect["rank"] <= hidden
                    assert 0 < effect["free_probability"] < 1 and effect["ratio"] > 0
        assert all(-1 <= r <= 1 for r in row["untrained_correlation"].values())


def test_the_distance_profile_counts_every_character_inside_a_quotation(ci_result, ci_data):
    test = ci_data.split.test
    distance = corpus.quote_distance(test)[1:]
    inside = sum(corpus.inside_quotes(test)[1:])
    closing = sum(1 for c, d in zip(test[1:], distance, strict=True) if c == CQ and d > 0)
    assert inside > 0
    for row in language_rows(ci_result, "evaluation"):
        profile = row["distance"]
        assert sum(profile["inside_count"]) == inside
        assert sum(profile["closing_count"]) == closing
        assert all(c <= i for c, i in zip(profile["closing_count"], profile["inside_count"], strict=True))


def test_distance_profile_by_hand():
    text = f"a{OQ}bc{CQ}d"  # the bits are for text[1:] = “ b c ” d, at distances 0 1 2 3 0
    found = text_study.distance_profile(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), text)
    assert found["inside"][0] == pytest.approx(3.0) and found["inside"][1:] == [None] * 4
    assert found["inside_count"] == [3, 0, 0, 0, 0]
    assert found["closing"][0] == pytest.approx(4.0) and found["closing_count"] == [1, 0, 0, 0, 0]
    assert found["outside"] == pytest.approx(3.0)


def test_save_and_reload_the_kept_model(ci_result, ci_data, tmp_path):
    path = text_study.save_text_study(ci_result, tmp_path)
    weights = tmp_path / "text-ci-lstm.pt"
    assert path == tmp_path / "text-ci.json" and path.exists() and weights.exists()
    assert "state_dict" in ci_result["model"], "saving leaves the result as it was"
    saved = results.load(path)
    assert saved["model"] == {
        "seed": ci_result["model"]["seed"],
        "file": weights.name,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    assert text_study.protocol_of(saved) == text_study.PROTOCOLS["ci"]
    model = text_study.shipped_model(saved, tmp_path)
    for key, value in ci_result["model"]["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value)
    # the weights give the row's numbers again, computed independently
    row = next(
        r
        for r in language_rows(ci_result, "evaluation")
        if r["kind"] == "lstm" and r["seed"] == ci_result["model"]["seed"]
    )
    with torch.no_grad():
        logits, _ = model(ci_data.test[:-1].unsqueeze(1))
        bits = -torch.log_softmax(logits[:, 0].double(), -1).gather(1, ci_data.test[1:, None])[:, 0] / LN2
    assert float(bits.mean()) == pytest.approx(row["test_bits"], abs=1e-5)
    cells, _ = language.lstm_trace(model, ci_data.test[:-1])
    for name, function in corpus.STRUCTURES.items():
        values = np.array(function(ci_data.split.test)[:-1], dtype=float)
        cell = row["cells"][name]["cell"]
        expected = 0.0 if values.std() == 0 else np.corrcoef(cells[:, 0, cell].double().numpy(), values)[0, 1]
        assert row["cells"][name]["correlation"] == pytest.approx(expected, abs=1e-9)


def test_save_refuses_to_overwrite(ci_result, tmp_path):
    text_study.save_text_study(ci_result, tmp_path)
    before = (tmp_path / "text-ci.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        text_study.save_text_study(ci_result, tmp_path)
    assert (tmp_path / "text-ci.json").read_bytes() == before
    assert text_study.save_text_study(ci_result, tmp_path, overwrite=True).exists()
    only_weights = tmp_path / "weights-only"
    only_weights.mkdir()
    (only_weights / "text-ci-lstm.pt").write_bytes(b"earlier")
    with pytest.raises(FileExistsError, match=r"text-ci-lstm\.pt"):
        text_study.save_text_study(ci_result, only_weights)
    assert not (only_weights / "text-ci.json").exists()
    assert (only_weights / "text-ci-lstm.pt").read_bytes() == b"earlier"


def test_a_tampered_weights_file_is_refused(ci_result, tmp_path):
    saved = results.load(text_study.save_text_study(ci_result, tmp_path))
    weights = tmp_path / saved["model"]["file"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        text_study.shipped_model(saved, tmp_path)
    with pytest.raises(ValueError, match="kept no model file"):
        text_study.shipped_model({**saved, "model": None}, tmp_path)


def test_an_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match=r"'nope'.*ci, cpu"):
        text_study.run_text_study("nope", progress=False)


# --- stats.t_interval ----------------------------------------------------------------------------


def t_density(t, df):
    constant = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return constant * (1 + t * t / df) ** (-(df + 1) / 2)


def t_cdf(t, df, intervals=2000):
    """0.5 + the integral of the density from 0 to t, by Simpson's rule."""
    h = t / intervals
    total = t_density(0, df) + t_density(t, df)
    total += sum((4 if k % 2 else 2) * t_density(k * h, df) for k in range(1, intervals))
    return 0.5 + total * h / 3


@cache
def t_quantile(df):
    """t_{0.975, df} by Newton's method on the integrated density (independent of the table)."""
    t = 2.0
    for _ in range(30):
        t -= (t_cdf(t, df, 1000) - 0.975) / t_density(t, df)
    return t


@pytest.mark.parametrize("df", range(1, 11))
def test_the_t_table_by_integrating_the_density(df):
    assert t_cdf(stats.T_975[df - 1], df) == pytest.approx(0.975, abs=1e-5)
    assert stats.T_975[df - 1] == pytest.approx(t_quantile(df), abs=1e-4)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 11])
def test_t_interval_against_an_independent_computation(n):
    rng = random.Random(n)
    values = [rng.gauss(3.0, 0.5) for _ in range(n)]
    low, high = stats.t_interval(values)
    mean = statistics.fmean(values)
    half = t_quantile(n - 1) * statistics.stdev(values) / math.sqrt(n)
    # the table has four decimals: its half width is right to a relative 3e-5
    assert (high - low) / 2 == pytest.approx(half, rel=3e-5)
    assert (low + high) / 2 == pytest.approx(mean, abs=1e-12)
    assert stats.t_interval([1.5] * n) == (1.5, 1.5)


@pytest.mark.parametrize(
    "values, message",
    [
        ([], "2 to 11 values, got 0"),
        ([1.0], "2 to 11 values, got 1"),
        ([1.0] * 12, "2 to 11 values, got 12"),
        ([1.0, float("nan")], "finite"),
        ([1.0, float("inf"), 2.0], "finite"),
    ],
)
def test_t_interval_refuses_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        stats.t_interval(values)


# --- the command line ----------------------------------------------------------------------------


def test_cli_writes_both_files_and_overwrites_when_told(ci_result, tmp_path, monkeypatch, capsys):
    calls = []

    def run(*args, **kwargs):
        calls.append(args)
        return ci_result

    monkeypatch.setattr(text_study, "run_text_study", run)
    assert cli.main(["text", "--protocol", "ci", "--out", str(tmp_path)]) == 0
    assert calls == [("ci", 1, None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text-ci-lstm.pt", "text-ci.json"]
    out = capsys.readouterr().out
    assert "LSTM" in out and "text-ci-lstm.pt" in out
    refusal(["text", "--protocol", "ci", "--out", str(tmp_path)], capsys)
    assert cli.main(["text", "--protocol", "ci", "--out", str(tmp_path), "--overwrite"]) == 0
    assert len(calls) == 2
    text_study.shipped_model(results.load(tmp_path / "text-ci.json"), tmp_path)
