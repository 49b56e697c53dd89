"""course_lstm.profiling: the FLOP formula against torch's own counter, the breakdown's
categories, and the bench's thread counts and merging. Nothing here is timed."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lstm import bench, fast, layers, profiling, results


@pytest.mark.parametrize("cls", [layers.LSTM, fast.FusedLSTM, fast.HoistedLSTM, fast.ManualBackwardLSTM])
@pytest.mark.parametrize("size", [bench.Size(4, 3, 5, 6), bench.Size(7, 2, 8, 3)])
def test_step_flops_is_what_torch_counts(cls, size):
    """An independent count: torch's FlopCounterMode adds up every product the call runs
    (forward, then the backward autograd runs; the hand-written one too)."""
    layer = cls(size.input_size, size.hidden_size)
    x = torch.randn(size.seq_len, size.batch, size.input_size, requires_grad=True)
    h0_c0 = tuple(torch.zeros(1, size.batch, size.hidden_size, requires_grad=True) for _ in range(2))
    expected = profiling.step_flops(size)
    with FlopCounterMode(display=False) as forward:
        output, _ = layer(x, h0_c0)
    with FlopCounterMode(display=False) as backward:
        output.sum().backward()
    assert forward.get_total_flops() == expected["forward"]
    assert forward.get_total_flops() + backward.get_total_flops() == expected["train"]


def test_the_breakdown_adds_up_and_names_where_the_work_is():
    torch.manual_seed(0)
    x = torch.randn(10, 4, 8)
    hoisted, reference = fast.HoistedLSTM(8, 16), nn.LSTM(8, 16)

    def train_step(module):
        return lambda: module(x)[0].sum().backward()

    ours, theirs = profiling.breakdown(train_step(hoisted)), profiling.breakdown(train_step(reference))
    for parts in (ours, theirs):
        assert set(parts) == {"wall_ms", *profiling.CATEGORIES}
        assert all(value >= 0 for value in parts.values())
        assert sum(parts[name] for name in profiling.CATEGORIES) == pytest.approx(parts["wall_ms"], abs=0.01)
    assert ours["products"] > 0 and ours["library LSTM"] == 0
    if bench.nn_lstm_kernel(reference, x).startswith("oneDNN"):
        assert theirs["library LSTM"] > 0 and theirs["products"] == 0


def test_the_breakdown_prints_nothing(capfd):
    profiling.breakdown(lambda: torch.ones(3) + 1)
    captured = capfd.readouterr()
    assert captured.out == captured.err == ""


def test_matmul_rates_are_positive_rates_for_both_products():
    rates = profiling.matmul_rates(bench.Size(3, 2, 4, 5), torch.device("cpu"), bench._timer(torch.device("cpu")))
    assert set(rates) == {"step", "hoisted"} and all(rate > 0 for rate in rates.values())


def test_thread_counts_resolve_all_and_drop_duplicates(monkeypatch):
    monkeypatch.setattr(bench, "all_threads", lambda: 2)
    assert bench.thread_counts([1, 2, "all"]) == [1, 2]
    assert bench.thread_counts(["all", 1]) == [2, 1]
    for bad in ([0], [True], ["many"], []):
        with pytest.raises(ValueError, match="thread count"):
            bench.thread_counts(bad)


def _part(threads: int) -> dict:
    size = bench.Size(2, 2, 3, 4)
    result = bench.run_bench("cpu", variants=["hoisted"], sizes=[size], repeats=1, warmup=1)
    result["config"]["threads"] = [threads]
    result["config"]["matmul_gflops"] = {str(threads): {size.label: {"step": 1.0, "hoisted": 2.0}}}
    for row in result["rows"]:
        row["threads"] = threads
    return result


def test_merge_keeps_every_thread_count_s_rows():
    merged = bench.merge([_part(1), _part(2)], 3.0, "python -m course_lstm bench --threads 1 2", "abc", "now")
    results.validate(merged)
    assert merged["config"]["threads"] == [1, 2]
    assert [row["threads"] for row in merged["rows"]] == [1, 1, 2, 2]
    assert set(merged["config"]["matmul_gflops"]) == {"1", "2"}
    assert merged["provenance"]["hardware"]["threads"] == [1, 2]
    assert "1 and 2 threads" in results.provenance_line(merged)
    table = bench.format_table(merged)
    assert "1 thread:" in table and "2 threads:" in table


def test_merge_refuses_results_of_different_sizes():
    other = _part(2)
    other["config"]["sizes"] = []
    with pytest.raises(ValueError, match="same sizes and variants"):
        bench.merge([_part(1), other], 1.0, "command", "abc", "now")
