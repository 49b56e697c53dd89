"""course_lstm.notebook: seeding makes runs repeat; compare/agree report and check agreement."""

import pytest
import torch

from course_lstm.notebook import agree, compare, setup


def test_setup_seeds_everything():
    setup(seed=3)
    first = torch.randn(4)
    setup(seed=3)
    assert torch.equal(first, torch.randn(4))


def test_compare_bounds_are_machine_independent():
    a = torch.randn(5, dtype=torch.float64)
    assert compare("x", a, a.clone()).endswith("exact: True   allclose: True   max diff 0")
    assert compare("x", a, a + 1e-15).endswith("exact: False  allclose: True   max diff < 1e-12")
    assert compare("x", a, a + 1e-8).endswith("max diff < 1e-6")
    assert compare("x", a, a + 0.25).endswith("allclose: False  max diff = 2.5e-01")
    assert "shapes differ: (5,) vs (4,)" in compare("x", a, a[:4])


def test_agree_prints_and_stops_on_a_mismatch(capsys):
    a = torch.randn(3)
    agree("same", a, a.clone())
    assert "allclose: True" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="different does not match"):
        agree("different", a, a + 1)
