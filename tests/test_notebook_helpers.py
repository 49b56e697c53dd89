"""course_lstm.notebook: seeding makes runs repeat; compare/agree report and check agreement."""

import pytest
import torch

from course_lstm.notebook import agree, compare, setup


def test_setup_seeds_everything():
    setup(seed=3)
    first = torch.randn(4)
    setup(seed=3)
    assert torch.equal(first, torch.randn(4))


def test_compare_reads_the_same_whether_or_not_the_kernels_agree_bit_for_bit():
    a = torch.randn(5, dtype=torch.float64)
    line = "x                        allclose: True   max diff < 1e-12"
    assert compare("x", a, a.clone()) == compare("x", a, a + 1e-15) == line
    single = a.float()
    assert (
        compare("x", single, single.clone())
        == compare("x", single, single + 1e-7)
        == ("x                        allclose: True   max diff < 1e-05")
    )
    assert compare("x", torch.arange(3), torch.arange(3)).endswith("allclose: True   max diff 0")


def test_compare_prints_a_difference_beyond_rounding():
    a = torch.randn(5, dtype=torch.float64)
    assert compare("x", a, a + 1e-8).endswith("allclose: True   max diff = 1.0e-08")
    assert compare("x", a, a + 0.25).endswith("allclose: False  max diff = 2.5e-01")
    assert compare("x", a.float(), a + 1e-3).endswith("allclose: False  max diff = 1.0e-03")
    assert "shapes differ: (5,) vs (4,)" in compare("x", a, a[:4])


def test_agree_prints_and_stops_on_a_mismatch(capsys):
    a = torch.randn(3)
    agree("same", a, a.clone())
    assert "allclose: True" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="different does not match"):
        agree("different", a, a + 1)
    double = a.double()
    with pytest.raises(AssertionError, match="to rounding"):
        agree("close but not float64 rounding", double, double + 1e-9)
    agree("float64 rounding", double, double + 1e-14)
