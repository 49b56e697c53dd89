"""course_lstm.fast against torch.nn.LSTM (float64: outputs, states, every gradient), its
compile fallback and CUDA guards, and the benchmark's result. Nothing here is timed."""

import shutil
import warnings

import pytest
import torch
from hypothesis import given, settings
from reference import assert_same_gradients, assert_same_outputs, layer_cases
from torch import nn
from torch._inductor.exc import InductorError
from torch.nn.utils.rnn import pack_padded_sequence

from course_lstm import bench, cells, cli, fast, layers, results
from course_lstm.checks import check

EAGER = {"fused": fast.FusedLSTM, "hoisted": fast.HoistedLSTM, "manual_backward": fast.ManualBackwardLSTM}


def twins(cls, *args, **kwargs):
    """(ours, nn.LSTM) in float64, ours loaded with nn.LSTM's freshly initialised weights."""
    theirs = nn.LSTM(*args, **kwargs, dtype=torch.float64)
    ours = cls(*args, **kwargs, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def run_both(ours, theirs, case):
    """Call both on the same leaf tensors (padded, unbatched or packed); compare everything."""
    L, N, I, H, D = (case[k] for k in ("seq_len", "batch", "input_size", "hidden_size", "num_layers"))
    unbatched = case["layout"] == "unbatched"
    shape = (L, I) if unbatched else ((N, L, I) if case["batch_first"] else (L, N, I))
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    states = (
        [torch.randn((D, H) if unbatched else (D, N, H), dtype=torch.float64, requires_grad=True) for _ in range(2)]
        if case["with_state"]
        else []
    )
    hx = tuple(states) or None
    if case["layout"] == "packed":
        lengths = torch.randint(1, L + 1, (N,))
        # packed once for each: the two backward passes must not share the packing's graph
        ours_in, theirs_in = (
            pack_padded_sequence(x, lengths, case["batch_first"], enforce_sorted=False) for _ in range(2)
        )
    else:
        ours_in = theirs_in = x
    ours_out, theirs_out = ours(ours_in, hx), theirs(theirs_in, hx)
    assert_same_outputs(ours_out, theirs_out)
    assert_same_gradients(ours, theirs, ours_out, theirs_out, [x, *states])


@pytest.mark.parametrize("name", EAGER)
@settings(max_examples=25, deadline=None)
@given(case=layer_cases())
def test_eager_variants_match_torch(name, case):
    torch.manual_seed(case["seed"])
    options = {k: case[k] for k in ("num_layers", "bias", "batch_first")}
    ours, theirs = twins(EAGER[name], case["input_size"], case["hidden_size"], **options)
    run_both(ours, theirs, case)


@pytest.mark.parametrize("cls", [fast.CompiledLSTM, fast.CompiledLoopLSTM, fast.CompiledManualLSTM])
@pytest.mark.parametrize("layout", ["batched", "packed"])
def test_compiled_matches_torch(layout, cls):
    """Small on purpose: the first compilation takes seconds; later ones reuse it."""
    torch.manual_seed(1)
    case = {
        "input_size": 3,
        "hidden_size": 4,
        "num_layers": 2,
        "seq_len": 5,
        "batch": 3,
        "batch_first": layout == "packed",
        "layout": layout,
        "with_state": layout == "batched",
    }
    ours, theirs = twins(cls, 3, 4, num_layers=2, batch_first=case["batch_first"])
    run_both(ours, theirs, case)
    if shutil.which("g++"):  # the compiler torch.compile looks for first on Linux
        compiled = {
            fast.CompiledLSTM: [fast.CompiledLSTM.compiled_update],
            fast.CompiledLoopLSTM: [fast.CompiledLoopLSTM.compiled_loop],
            fast.CompiledManualLSTM: [fast.CompiledManualLSTM.forward_step, fast.CompiledManualLSTM.backward_step],
        }[cls]
        assert all(function.unavailable is None for function in compiled)


def test_the_hand_written_step_backward_is_autograd_s():
    """step_backward against autograd through step_forward, float64, fresh random inputs."""
    generator = torch.Generator().manual_seed(7)
    n, h = 5, 4
    a, c = (torch.randn(n, k, generator=generator, dtype=torch.float64, requires_grad=True) for k in (4 * h, h))
    dh, dc = (torch.randn(n, h, generator=generator, dtype=torch.float64) for _ in range(2))
    activations, h_next, c_next = fast.step_forward(a, c)
    expected = torch.autograd.grad([h_next, c_next], [a, c], [dh, dc])
    got = fast.step_backward(activations.detach(), c.detach(), c_next.detach(), dh, dc)
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


def test_the_hand_written_backward_refuses_a_second_derivative():
    ours, _ = twins(fast.ManualBackwardLSTM, 3, 4)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    loss = ours(x)[0].sum()
    with pytest.raises(RuntimeError, match=r"create_graph=True \(a double backward\) is refused; use HoistedLSTM"):
        torch.autograd.grad(loss, x, create_graph=True)
    # a plain backward still works after the refusal
    (grad,) = torch.autograd.grad(ours(x)[0].sum(), x)
    assert grad.shape == x.shape and torch.isfinite(grad).all()


def test_the_aten_baseline_is_nn_lstm_without_onednn():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5)
    aten, reference = bench.AtenLSTM(5, 7), nn.LSTM(5, 7)
    aten.load_state_dict(reference.state_dict())
    with bench.OperatorLog() as log, torch.no_grad():
        ours = aten(x)
    assert "aten.mkldnn_rnn_layer" not in log.counts and log.counts["aten.addmm"] >= 6
    with torch.no_grad():
        theirs = reference(x)
    torch.testing.assert_close(ours[0], theirs[0], rtol=1e-5, atol=1e-6)
    assert torch.backends.mkldnn.enabled, "the flag is restored after the call"
    with pytest.raises(KeyError), bench.onednn_disabled():
        {}["missing"]
    assert torch.backends.mkldnn.enabled, "and after an error inside it"


def test_state_dict_goes_both_ways():
    for cls in fast.VARIANTS.values():
        ours, theirs = twins(cls, 3, 4, num_layers=2)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        theirs.load_state_dict(ours.state_dict())


def test_cell_update_is_the_gatewise_step():
    generator = torch.Generator().manual_seed(0)
    x, h, c = (torch.randn(4, n, generator=generator, dtype=torch.float64) for n in (3, 5, 5))
    W_ih, W_hh = (torch.randn(20, n, generator=generator, dtype=torch.float64) for n in (3, 5))
    b_ih, b_hh = (torch.randn(20, generator=generator, dtype=torch.float64) for _ in range(2))
    step = cells.lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    h_next, c_next = fast.cell_update(gates, c)
    torch.testing.assert_close(h_next, step.h, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(c_next, step.c, rtol=1e-12, atol=1e-14)


class TestExercise:
    def test_the_package_function_passes(self):
        assert check("cell_update", fast.cell_update)

    def test_swapped_gates_are_named(self):
        def swapped(gates, c):
            i, f, g, o = gates.chunk(4, 1)
            return fast.cell_update(torch.cat([f, i, g, o], 1), c)

        assert "order f, i, g, o" in check("cell_update", swapped).message


def failing_compiler(error):
    """A stand-in for torch.compile whose compiled function fails as a missing compiler does."""

    def compile(function, **options):
        def compiled(*args):
            raise error

        return compiled

    return compile


class TestCompileFallback:
    MISSING = InductorError(RuntimeError("InvalidCxxCompiler: No working C++ compiler found"), None)

    def inputs(self):
        generator = torch.Generator().manual_seed(0)
        return torch.randn(3, 8, generator=generator), torch.randn(3, 2, generator=generator)

    def test_missing_compiler_warns_once_and_runs_uncompiled(self):
        update = fast.CompiledCellUpdate(failing_compiler(self.MISSING))
        gates, c = self.inputs()
        with pytest.warns(UserWarning, match="InvalidCxxCompiler.*same results.*C\\+\\+ compiler"):
            h, c_next = update(gates, c)
        torch.testing.assert_close((h, c_next), fast.cell_update(gates, c))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            update(gates, c)
        assert update.unavailable.startswith("InductorError") and "InvalidCxxCompiler" in update.unavailable

    def test_refused_platform_falls_back(self):
        def refuse(function, **options):
            raise RuntimeError("Python 3.99+ not yet supported for torch.compile")

        update = fast.CompiledCellUpdate(refuse)
        with pytest.warns(UserWarning, match="not yet supported for torch.compile"):
            update(*self.inputs())

    def test_errors_in_the_computation_are_not_swallowed(self):
        update = fast.CompiledCellUpdate(failing_compiler(RuntimeError("shapes cannot be multiplied")))
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            update(*self.inputs())
        assert update.unavailable is None

    def test_compiled_lstm_still_matches_torch(self, monkeypatch):
        monkeypatch.setattr(
            fast.CompiledLSTM, "compiled_update", fast.CompiledCellUpdate(failing_compiler(self.MISSING))
        )
        ours, theirs = twins(fast.CompiledLSTM, 3, 4)
        x = torch.randn(5, 2, 3, dtype=torch.float64)
        with pytest.warns(UserWarning, match="CompiledLSTM runs cell_update uncompiled"):
            assert_same_outputs(ours(x), theirs(x))


class TestGraphedOnCPU:
    """What GraphedLSTM does before and around torch.cuda.make_graphed_callables; the real
    recording needs a GPU (see test_graphed_matches_torch_on_cuda)."""

    def test_cpu_input_is_refused_clearly(self):
        with pytest.raises(ValueError, match=r"needs its input on a CUDA device, got one on cpu.*Compiled"):
            fast.GraphedLSTM(3, 4)(torch.randn(5, 2, 3))

    def test_packed_input_is_refused(self):
        packed = pack_padded_sequence(torch.randn(5, 2, 3), torch.tensor([5, 3]))
        with pytest.raises(TypeError, match=r"PackedSequence.*CompiledLSTM"):
            fast.GraphedLSTM(3, 4)(packed)

    def test_bad_hx_is_named(self):
        with pytest.raises(TypeError, match=r"hx must be a pair \(h0, c0\)"):
            fast.GraphedLSTM(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))

    @pytest.fixture
    def recorded(self, monkeypatch):
        """Replace the CUDA recording with a plain call, keeping what it was asked to record."""
        calls = []

        def record(function, sample_args):
            calls.append(sample_args)
            assert torch.is_grad_enabled(), "recorded without autograd: no backward graph"
            return function

        monkeypatch.setattr(fast, "make_graphed_callables", record)
        # what is recorded does not matter here: skip the compilation, which takes seconds
        monkeypatch.setattr(
            fast.CompiledLSTM, "compiled_update", fast.CompiledCellUpdate(lambda function, **options: function)
        )
        return calls

    def test_records_once_per_shape_with_the_parameters(self, recorded):
        ours, theirs = twins(fast.GraphedLSTM, 3, 4)
        x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
        with torch.no_grad():
            ours._replay((x,))
        ours_out = ours._replay((x,))
        assert len(recorded) == 1
        parameters = list(ours.parameters())
        assert len(recorded[0]) == 1 + len(parameters), "the parameters must be recorded inputs"
        assert recorded[0][0] is x and all(a is p for a, p in zip(recorded[0][1:], parameters, strict=True))
        theirs_out = theirs(x)
        assert_same_outputs(ours_out, theirs_out)
        assert_same_gradients(ours, theirs, ours_out, theirs_out, [x])
        ours._replay((torch.randn(7, 2, 3, dtype=torch.float64),))
        assert len(recorded) == 2

    def test_moving_the_module_forgets_its_graphs(self, recorded):
        ours = fast.GraphedLSTM(3, 4)
        ours._replay((torch.randn(5, 2, 3),))
        ours.double()
        ours._replay((torch.randn(5, 2, 3, dtype=torch.float64),))
        assert len(recorded) == 2 and len(ours._graphs) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_graphed_matches_torch_on_cuda():
    torch.manual_seed(0)
    theirs = nn.LSTM(3, 4, num_layers=2, dtype=torch.float64, device="cuda")
    ours = fast.GraphedLSTM(3, 4, num_layers=2, dtype=torch.float64, device="cuda")
    ours.load_state_dict(theirs.state_dict())
    for _ in range(2):  # the second call replays the recorded graphs
        x = torch.randn(6, 2, 3, dtype=torch.float64, device="cuda")
        ours_out, theirs_out = ours(x), theirs(x)
        assert_same_outputs(ours_out, theirs_out)
        assert_same_gradients(ours, theirs, ours_out, theirs_out, [])


@pytest.fixture(scope="module")
def result():
    """A quick benchmark run, shared by the tests that read it."""
    return bench.run_bench("cpu", quick=True, variants=["readable", "hoisted", "cuda_graph"], repeats=2, warmup=1)


class TestBench:
    def test_result_is_valid_and_says_where_it_ran(self, result):
        results.validate(result)
        assert result["experiment"] == "bench" and result["provenance"]["profile"] == "cpu-quick"
        assert result["config"]["variants"] == ["nn.LSTM", "readable", "hoisted", "cuda_graph"]
        assert result["config"]["threads"] == [torch.get_num_threads()]

    def test_every_variant_has_a_row_and_the_reference_is_one(self, result):
        rows = {row["variant"]: row for row in result["rows"]}
        assert list(rows) == ["nn.LSTM", "readable", "hoisted", "cuda_graph"]
        assert rows["nn.LSTM"]["forward_vs_nn_lstm"] == rows["nn.LSTM"]["train_vs_nn_lstm"] == 1
        for name in ("readable", "hoisted"):
            assert rows[name]["status"] == "ok" and rows[name]["train_ms"] > 0
            assert rows[name]["max_relative_difference"] <= bench.AGREEMENT
            q1, q3 = rows[name]["forward_ms_quartiles"]
            assert q1 <= q3
        assert rows["cuda_graph"]["status"] == "skipped" and "CUDA" in rows["cuda_graph"]["reason"]

    def test_table_names_every_variant(self, result):
        table = bench.format_table(result)
        for name in ("nn.LSTM", "readable", "hoisted", "cuda_graph      skipped"):
            assert name in table

    def test_wrong_or_failing_variant_is_reported_not_timed(self, monkeypatch):
        class Wrong(fast.HoistedLSTM):
            def update(self, gates, c):
                h, c_next = fast.cell_update(gates, c)
                return 2 * h, c_next

        class Crashing(fast.HoistedLSTM):
            def update(self, gates, c):
                raise RuntimeError("out of memory")

        monkeypatch.setitem(bench.VARIANTS, "wrong", Wrong)
        monkeypatch.setitem(bench.VARIANTS, "crashing", Crashing)
        result = bench.run_bench("cpu", quick=True, variants=["wrong", "crashing"], repeats=1)
        rows = {row["variant"]: row for row in result["rows"]}
        assert rows["wrong"]["status"] == "failed" and "differs from nn.LSTM" in rows["wrong"]["reason"]
        assert rows["crashing"]["reason"] == "RuntimeError: out of memory"
        assert "train_ms" not in rows["wrong"] and rows["nn.LSTM"]["status"] == "ok"

    def test_nn_lstm_kernel_is_read_from_its_operators(self):
        x = torch.randn(4, 2, 3, dtype=torch.float64)
        assert bench.nn_lstm_kernel(nn.LSTM(3, 5, dtype=torch.float64), x).startswith("ATen's loop")
        if torch.backends.mkldnn.is_available():
            assert bench.nn_lstm_kernel(nn.LSTM(3, 5), x.float()).startswith("oneDNN")

    def test_operator_log_counts_the_products_per_step(self):
        def products(layer, length):
            with bench.OperatorLog() as log, torch.no_grad():
                layer(torch.randn(length, 2, 3))
            return log.counts["aten.addmm"]

        for cls, per_step in ((layers.LSTM, 8), (fast.FusedLSTM, 2), (fast.HoistedLSTM, 1)):
            layer = cls(3, 4)
            assert products(layer, 6) - products(layer, 4) == 2 * per_step, cls.__name__

    def test_operator_log_sees_the_backward_and_skips_views(self):
        p = torch.randn(5, 3, requires_grad=True)
        with bench.OperatorLog() as log:
            p.t().sum().backward()
        assert log.counts["aten.sum"] == 1 and "aten.t" not in log.counts
        assert log.elements_written >= p.numel()  # the gradient (ones), written in the backward

    def test_sizes_can_be_chosen(self):
        size = bench.Size(3, 2, 4, 5)
        result = bench.run_bench("cpu", variants=["hoisted"], sizes=[size], repeats=1, warmup=1)
        assert [row["size"] for row in result["rows"]] == [size.label] * 2
        with pytest.raises(TypeError, match=r"sizes must be a non-empty list of bench.Size"):
            bench.run_bench("cpu", sizes=size)

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"device": "tpu"}, "device must be 'cpu' or 'cuda', got 'tpu'"),
            ({"variants": ["fastest"]}, r"unknown variant\(s\) \['fastest'\]"),
            ({"repeats": 0}, "repeats and warmup must be at least 1, got 0"),
        ],
    )
    def test_bad_arguments_are_named(self, arguments, message):
        with pytest.raises(ValueError, match=message):
            bench.run_bench(**{"device": "cpu", "quick": True, **arguments})

    def test_cuda_without_a_gpu_says_so(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match=r"torch.cuda.is_available\(\) is False; use --device cpu"):
            bench.check_device("cuda")

    def test_command_line_writes_the_json(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(bench, "VARIANTS", {k: bench.VARIANTS[k] for k in ("nn.LSTM", "hoisted")})
        threads = torch.get_num_threads()
        try:
            arguments = ["bench", "--quick", "--device", "cpu", "--threads", "1", "--out", str(tmp_path)]
            assert cli.main(arguments) == 0
        finally:
            torch.set_num_threads(threads)
        saved = results.load(tmp_path / "bench-cpu-quick.json")
        assert saved["provenance"]["command"] == "python -m course_lstm " + " ".join(arguments)
        assert saved["config"]["threads"] == [1]
        assert {row["threads"] for row in saved["rows"]} == {1}
        assert "hoisted" in capsys.readouterr().out
