"""The real-text study's printed verdicts say what the numbers say: apart, overlapping, beaten."""

from __future__ import annotations

import copy

import pytest

from course_lstm import text_study


def _result(bits: dict[str, list[float]], bigram: float = 3.5) -> dict:
    rows = []
    for label, values in bits.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "part": "language",
                    "phase": "evaluation",
                    "label": label,
                    "status": "ok",
                    "seed": seed,
                    "lr": 0.01,
                    "hidden_size": 10,
                    "parameters": 100,
                    "test_bits": value,
                }
            )
    for label in text_study.SENTENCE_LABELS.values():
        for seed in range(5):
            rows.append(
                {
                    "part": "sentences",
                    "phase": "evaluation",
                    "label": label,
                    "status": "ok",
                    "seed": seed,
                    "lr": 0.01,
                    "parameters": 50,
                    "test": {"bits": 1.0 + seed / 10, "accuracy": 0.6 + seed / 100},
                }
            )
    return {"rows": rows, "baselines": {"unigram": {"test_bits": 4.5}, "bigram": {"test_bits": bigram}}}


APART = {"RNN": [2.5, 2.51, 2.52, 2.53, 2.54], "LSTM": [2.0, 2.01, 2.02, 2.03, 2.04], "GRU": [2.0, 2.3, 1.9, 2.2, 2.1]}


def test_intervals_apart_and_overlapping_are_told_apart():
    lines = text_study.verdict_lines(_result(APART))
    rnn = next(line for line in lines if line.startswith("LSTM against RNN"))
    gru = next(line for line in lines if line.startswith("LSTM against GRU"))
    assert "the LSTM spends fewer bits, the intervals apart" in rnn
    assert "p = 0.004" in rnn  # all five RNN seeds above all five LSTM seeds: 1 / C(10, 5)
    assert "overlap" in gru


def test_a_model_worse_than_the_lstm_is_named_when_the_lstm_loses():
    swapped = dict(APART, RNN=APART["LSTM"], LSTM=APART["RNN"])
    line = next(x for x in text_study.verdict_lines(_result(swapped)) if x.startswith("LSTM against RNN"))
    assert "the RNN spends fewer bits, the intervals apart" in line
    assert "p = 1.000" in line


@pytest.mark.parametrize(("bigram", "expected"), [(3.5, "every model's interval lies below"), (2.05, "LSTM")])
def test_the_bigram_bar_is_read_from_the_intervals(bigram, expected):
    lines = text_study.verdict_lines(_result(APART, bigram))
    assert any(expected in line for line in lines if "bigram's bits" in line)
    if bigram < 2.1:
        line = next(x for x in lines if "below the bigram" in x)
        assert "RNN" not in line and "GRU" not in line


def test_summarise_keeps_every_seed_and_an_interval_around_the_mean():
    summary = text_study.summarise(_result(APART))
    for label, values in APART.items():
        entry = summary["language"][label]
        assert entry["test_bits"] == values
        low, high = entry["interval"]
        assert low < entry["mean"] < high
    sentence = summary["sentences"]["LSTM, packed"]["test_bits"]
    assert sentence["values"] == [1.0, 1.1, 1.2, 1.3, 1.4]
    assert "test_read_over_padding_bits" not in summary["sentences"]["LSTM, packed"]


def test_summarise_does_not_change_its_input():
    result = _result(APART)
    before = copy.deepcopy(result)
    text_study.summarise(result)
    assert result == before
