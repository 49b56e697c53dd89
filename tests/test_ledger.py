"""The claims ledger: its verdict rules on made-up studies, and the README's copy kept fresh."""

from pathlib import Path

import pytest

from course_lstm import cli, ledger

README = Path(__file__).resolve().parents[1] / "README.md"


def rows(outcomes: dict[tuple[str, int, str], int], seeds: int = 5) -> list[dict]:
    """Evaluation rows: for each (task, lag, model), ``solved`` of ``seeds`` runs solved."""
    made = []
    for (task, lag, model), solved in outcomes.items():
        for seed in range(seeds):
            made.append(
                {
                    "phase": "evaluation",
                    "status": "solved",
                    "max_grad_norm": 1.0,
                    "task": task,
                    "lag": lag,
                    "label": model,
                    "seed": seed,
                    "config": "c",
                    "parameters": 1,
                    "hidden_size": 1,
                    "test_solved": seed < solved,
                    "solved_at": 100 if seed < solved else None,
                    "test_relative_loss": 0.5,
                    "solved_threshold": 0.01,
                    "baseline": 1.0,
                }
            )
    return made


def study(adding: tuple[int, int], order: tuple[int, int], short: tuple[int, int] = (0, 5)) -> dict:
    """LSTM and RNN outcomes at the longest lag of two tasks (and an ignored shorter lag)."""
    outcomes = {
        ("adding", 50, "LSTM"): adding[0],
        ("adding", 50, "RNN"): adding[1],
        ("adding", 10, "LSTM"): short[0],
        ("adding", 10, "RNN"): short[1],
        ("temporal_order", 50, "LSTM"): order[0],
        ("temporal_order", 50, "RNN"): order[1],
    }
    return {"rows": rows(outcomes)}


CLAIM = next(c for c in ledger.CLAIMS if c.rival == "RNN" and c.measure == "rates")


@pytest.mark.parametrize(
    "result, verdict",
    [
        (study((5, 0), (5, 0)), "supported"),
        (study((5, 0), (3, 2)), "qualified"),  # one task at p < 0.05, the other ahead without it
        (study((3, 2), (3, 2)), "qualified"),
        (study((2, 2), (0, 3)), "not supported"),
        (study((0, 5), (0, 5), short=(5, 0)), "not supported"),  # only the longest lag counts
    ],
)
def test_verdicts_follow_the_fixed_rules(result, verdict):
    measured, found = ledger.judge(CLAIM, result)
    assert found == verdict
    assert "adding T = 50: LSTM" in measured and "temporal_order T = 50" in measured


def test_a_claim_no_study_measures_is_open():
    assert ledger.judge(CLAIM, None) == ("no shipped study measures it yet", "open")
    gates = next(c for c in ledger.CLAIMS if c.part == "gates")
    assert ledger.judge(gates, study((5, 0), (5, 0)))[1] == "open", "a study without that experiment"
    fewer = next(c for c in ledger.CLAIMS if c.rival == "RNN (equal budget)")
    assert ledger.judge(fewer, study((5, 0), (5, 0))) == (
        "the shipped study's 'lags' experiment has no RNN (equal budget)",
        "open",
    )


def test_a_result_passed_where_studies_belong_is_refused():
    with pytest.raises(ValueError, match="study names"):
        ledger.ledger(study((5, 0), (5, 0)))  # one result, not {study name: result}


def gradient_study(lstm: list[float], rnn: list[float], lstm_best: list[float], rnn_best: list[float]) -> dict:
    found = []
    for kind, init, values in (
        ("lstm", "forget bias 0", lstm),
        ("rnn", "default W_hh", rnn),
        ("lstm", "chrono", lstm_best),
        ("rnn", "identity W_hh", rnn_best),
    ):
        found += [{"kind": kind, "init": init, "seed": seed, "lag": 100, "kept": v} for seed, v in enumerate(values)]
    return {"rows": [], "gradient_flow": found}


GRADIENT = next(c for c in ledger.CLAIMS if c.measure == "gradient")
LOW, HIGH = [1e-9, 2e-9, 3e-9, 4e-9, 5e-9], [0.1, 0.2, 0.3, 0.4, 0.5]


@pytest.mark.parametrize(
    "result, verdict",
    [
        (gradient_study(HIGH, LOW, HIGH, LOW), "supported"),
        (gradient_study(HIGH, LOW, LOW, HIGH), "qualified"),  # the RNN's best init keeps more
        (gradient_study(LOW, HIGH, LOW, HIGH), "not supported"),
        (gradient_study(HIGH, HIGH, HIGH, HIGH), "not supported"),  # ties: no evidence either way
    ],
)
def test_the_gradient_verdict_follows_its_rule(result, verdict):
    measured, found = ledger.judge(GRADIENT, result)
    assert found == verdict
    assert "adding T = 100" in measured and "p = " in measured


def test_the_readme_holds_the_current_ledger():
    text = README.read_text(encoding="utf-8")
    block = text.split(ledger.LEDGER_START, 1)[1].split(ledger.LEDGER_END, 1)[0]
    assert block == "\n" + ledger.markdown(), "run `python -m course_lstm ledger --write README.md`"


def test_write_into_fills_the_block_once(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{ledger.LEDGER_START}\nold\n{ledger.LEDGER_END}\nrest\n")
    assert ledger.write_into(str(page)) is True
    assert ledger.write_into(str(page)) is False
    assert page.read_text().startswith("intro\n") and page.read_text().endswith("rest\n")
    (tmp_path / "bare.md").write_text("no markers")
    with pytest.raises(SystemExit, match="no <!-- claims ledger: start -->"):
        cli.main(["ledger", "--write", str(tmp_path / "bare.md")])


def test_a_rerun_reports_changed_outcomes_and_verdicts():
    original = study((5, 0), (5, 0))
    rerun = study((2, 0), (5, 0))  # three adding LSTM seeds no longer solve
    rerun["provenance"] = {
        "profile": "cpu",
        "device": "CPU (x86_64, 1 thread)",
        "torch": "2.13.0+cpu",
        "date": "2026-12-02T00:00:00+00:00",
        "git_commit": "abcdef0",
        "workers": 1,
    }
    [sentence] = ledger.replication({"cpu": original}, {"cpu": rerun})
    assert "3 of 30 runs with the same configuration and seed changed their solved outcome" in sentence
    assert "verdicts it changes: 1 supported → qualified" in sentence  # claim 4 is open: no equal-budget RNN
    [same] = ledger.replication({"cpu": original}, {"cpu": {**original, "provenance": rerun["provenance"]}})
    assert "0 of 30 runs" in same and "verdicts it changes: none" in same
    original["provenance"] = rerun["provenance"]
    assert ledger.markdown({"cpu": original}).count("reran") == 0, "no rerun unless given"
    assert "reran the cpu study" in ledger.markdown({"cpu": original}, {"cpu": rerun})
