"""The real-text study: RNN, LSTM and GRU character models on *Alice's Adventures in Wonderland*
at an equal parameter budget, a protocol fixed in code before any run.

Each model gets the same tuning budget: every learning rate of ``LEARNING_RATES`` on the tuning
seeds; the rate with the lowest validation bits per character is trained again on the
evaluation seeds, and only those runs are reported, scored on the test text. On each evaluation
LSTM the study also measures the loss inside quotations by distance from the opening “, searches
the cells for one that tracks a structure (chosen on the validation text, its correlation
measured on the test text, against the same search in the untrained model), and clamps it. The
sentence part trains the sentence classifier packed and with lengths ignored, tuned alike.
"""

from __future__ import annotations

import hashlib
import io
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from joblib import Memory, Parallel, delayed
from tqdm.auto import tqdm

from course_lstm import corpus, language, results, sentences, stats
from course_lstm.models import Kind, width_for_budget

LEARNING_RATES = (1e-2, 3e-3)
KINDS: tuple[Kind, ...] = ("rnn", "lstm", "gru")
DISTANCE_BINS = ((1, 10), (11, 30), (31, 60), (61, 120), (121, 100_000))
"""Characters since the opening “: the bins of the loss-against-distance measurement."""


def bin_names(bins: Sequence[Sequence[int]], dash: str = "-") -> list[str]:
    """The names of distance bins, (low, high) pairs: 1-10, ..., 121+ for the open-ended last."""
    return [f"{low}{dash}{high}" if high < DISTANCE_BINS[-1][1] else f"{low}+" for low, high in bins]


SIGNALS = {"inside a quotation": corpus.CLOSE_QUOTE, "bracket depth": ")", "position in the line": "\n"}
"""For each structure, the character whose probability a cell that tracks it should move."""
CACHE_VERSION = 1


@dataclass(frozen=True)
class TextProtocol:
    """Everything the real-text study does, fixed before it runs."""

    name: str
    hidden_size: int  # the LSTM's; the RNN and the GRU get the widest size within its parameter count
    batch_size: int
    chunk: int
    steps: int
    eval_every: int
    tuning_seeds: tuple[int, ...]
    evaluation_seeds: tuple[int, ...]
    split_seed: int = 0
    learning_rates: tuple[float, ...] = LEARNING_RATES
    sentence_hidden: int = 64
    sentence_steps: int = 600
    sentence_batch: int = 32
    sentence_eval_every: int = 50
    max_sentence: int = 300
    line_threshold: int = 55  # "near the end of the line": position 55 or later (lines wrap near 70)
    held_out: int | None = None  # None: score the whole validation and test texts; n: their first n characters

    def widths(self, vocabulary_size: int) -> dict[str, int]:
        """Each kind's hidden size at the LSTM's parameter count."""
        budget = language.char_model_parameters("lstm", vocabulary_size, self.hidden_size)
        return {kind: width_for_budget(kind, vocabulary_size, vocabulary_size, budget) for kind in KINDS}


PROTOCOLS = {
    # seconds: every part of the protocol at a toy size (the tests run it)
    "ci": TextProtocol(
        "ci",
        hidden_size=8,
        batch_size=16,
        chunk=32,
        steps=20,
        eval_every=10,
        tuning_seeds=(100,),
        evaluation_seeds=(0, 1, 2, 3, 4),
        sentence_hidden=8,
        sentence_steps=10,
        sentence_eval_every=5,
        max_sentence=60,
        held_out=1500,
    ),
    # about half an hour on 2 cores: the shipped study
    "cpu": TextProtocol(
        "cpu",
        hidden_size=128,
        batch_size=32,
        chunk=100,
        steps=1500,
        eval_every=100,
        tuning_seeds=(100,),
        evaluation_seeds=(0, 1, 2, 3, 4),
    ),
}


class Data:
    """The corpus as the study reads it: the split, the vocabulary and the encoded parts."""

    def __init__(self, protocol: TextProtocol) -> None:
        text = corpus.load_text()
        self.vocabulary = corpus.Vocabulary(text)
        split = corpus.split_text(text, protocol.split_seed)
        end = protocol.held_out
        self.split = corpus.Split(split.train, split.validation[:end], split.test[:end])
        self.train, self.validation, self.test = (self.vocabulary.encode(part) for part in self.split)
        self.sentences = [corpus.sentences(part, protocol.max_sentence) for part in self.split]


def distance_profile(bits: torch.Tensor, text: str) -> dict:
    """Mean bits of the characters inside quotations, by characters since the opening “
    (``DISTANCE_BINS``), of the closing ” alone by the same bins, and of the characters outside.
    ``bits``: (len(text) - 1,), the bits spent on text[1:]."""
    distance = torch.tensor(corpus.quote_distance(text)[1:])
    closing = torch.tensor([c == corpus.CLOSE_QUOTE for c in text[1:]])

    def mean(mask: torch.Tensor) -> float | None:
        return float(bits[mask].mean()) if mask.any() else None

    bins = [(distance >= low) & (distance <= high) for low, high in DISTANCE_BINS]
    return {
        "inside": [mean(b) for b in bins],
        "inside_count": [int(b.sum()) for b in bins],
        "closing": [mean(b & closing) for b in bins],
        "closing_count": [int((b & closing).sum()) for b in bins],
        "outside": mean(distance == 0),
    }


def structure_signals(text: str, line_threshold: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For each structure: its value at each character that the model reads (text[:-1]), and the
    "on" region (inside a quotation; inside brackets; at or past ``line_threshold`` in the line)."""
    found = {}
    for name, function in corpus.STRUCTURES.items():
        value = torch.tensor(function(text)[:-1], dtype=torch.float64)
        on = value >= line_threshold if name == "position in the line" else value > 0
        found[name] = (value, on)
    return found


def search_cells(cells: torch.Tensor, signals: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, int]:
    """For each structure, the cell whose state correlates most (in absolute value) with it on
    the validation text: the choice is made on text that the reported numbers never see.
    cells: (T, H), the states over the validation text; signals: ``structure_signals`` of it."""
    return {name: int(language.correlation(cells, value).abs().argmax()) for name, (value, _) in signals.items()}


def read_cells(
    model: language.CharModel,
    chosen: dict[str, int],
    validation_cells: torch.Tensor,
    validation_signals: dict[str, tuple[torch.Tensor, torch.Tensor]],
    test: str,
    vocabulary: corpus.Vocabulary,
    line_threshold: int,
) -> dict[str, dict]:
    """For each structure and its chosen cell: Pearson's r with the structure on the test text,
    and the causal test. The cell is clamped, at every step, to its mean over the validation
    text's "on" region, and (separately) to its mean over the "off" region; the probability of
    the structure's signal character (``SIGNALS``) is then averaged over the test text's "off"
    and "on" regions respectively. Every other cell is clamped the same way in the same batch,
    as the control: ``rank`` is where the chosen cell's effect falls among all cells (1: largest).
    validation_cells: (T, H), the states over the validation text; validation_signals: its
    ``structure_signals``."""
    test_codes = vocabulary.encode(test)[:-1]
    free_cells, free_log_probabilities = language.lstm_trace(model, test_codes)
    test_signals = structure_signals(test, line_threshold)
    found = {}
    hidden = model.hidden_size
    every_cell = torch.arange(hidden)
    for name, cell in chosen.items():
        validation_on = validation_signals[name][1]
        value, on = test_signals[name]
        signal = vocabulary.index[SIGNALS[name]]
        effects: dict[str, dict | None] = {}
        for clamp_to, region in (("on", ~on), ("off", on)):
            where = validation_on if clamp_to == "on" else ~validation_on
            targets = validation_cells[where].double().mean(0) if where.any() else torch.zeros(hidden)
            _, log_probabilities = language.lstm_trace(model, test_codes, language.Clamp(every_cell, targets))
            if not region.any():
                effects[clamp_to] = None
                continue
            free = float(free_log_probabilities[region, 0, signal].exp().mean())
            clamped = log_probabilities[region][:, :, signal].exp().mean(0).double()  # (H,)
            ratio = clamped / max(free, 1e-30)
            size = ratio.log().abs()
            effects[clamp_to] = {
                "region": "outside" if clamp_to == "on" else "inside",
                "free_probability": free,
                "clamped_probability": float(clamped[cell]),
                "ratio": float(ratio[cell]),
                "rank": int((size > size[cell]).sum()) + 1,
                "median_control_ratio": float(ratio[every_cell != cell].median()),
            }
        found[name] = {
            "cell": cell,
            "correlation": float(language.correlation(free_cells[:, 0], value)[cell]),
            "on_count": int(on.sum()),
            "clamp_to_on": effects["on"],
            "clamp_to_off": effects["off"],
        }
    return found


def strongest_untrained_correlation(kind_seed: int, protocol: TextProtocol, data: Data) -> dict[str, float]:
    """The null for the cell search: the same search (chosen on validation, measured on test) in
    the LSTM before training, at the same seed: how strong a correlation chance alone gives."""
    torch.manual_seed(kind_seed)
    model = language.CharModel("lstm", len(data.vocabulary), protocol.hidden_size).eval()
    chosen = search_cells(
        language.lstm_trace(model, data.validation[:-1])[0][:, 0],
        structure_signals(data.split.validation, protocol.line_threshold),
    )
    cells, _ = language.lstm_trace(model, data.test[:-1])
    signals = structure_signals(data.split.test, protocol.line_threshold)
    return {name: float(language.correlation(cells[:, 0], signals[name][0])[cell]) for name, cell in chosen.items()}


def language_job(
    protocol: TextProtocol, kind: Kind, seed: int, lr: float, phase: str, keep_model: bool, version: int
) -> dict:
    """One character-model run, and on an evaluation LSTM the distance and cell measurements."""
    torch.set_num_threads(1)
    data = Data(protocol)
    width = protocol.widths(len(data.vocabulary))[kind]
    run = language.LanguageRun(
        kind, width, seed, lr, protocol.steps, protocol.batch_size, protocol.chunk, protocol.eval_every
    )
    model, row = language.train_language_model(run, len(data.vocabulary), data.train, data.validation)
    row = {**row, "part": "language", "label": kind.upper(), "phase": phase}
    if row["status"] != "ok" or phase == "tuning":
        return row
    bits = language.bits_per_character(model, data.test)
    row["test_bits"] = float(bits.mean())
    row["distance"] = distance_profile(bits, data.split.test)
    if kind == "lstm":
        validation_cells = language.lstm_trace(model, data.validation[:-1])[0][:, 0]  # (T, H), traced once
        validation_signals = structure_signals(data.split.validation, protocol.line_threshold)
        chosen = search_cells(validation_cells, validation_signals)
        row["cells"] = read_cells(
            model,
            chosen,
            validation_cells,
            validation_signals,
            data.split.test,
            data.vocabulary,
            protocol.line_threshold,
        )
        row["untrained_correlation"] = strongest_untrained_correlation(seed, protocol, data)
        if keep_model:
            row["state_dict"] = model.state_dict()
    return row


SENTENCE_LABELS = {True: "LSTM, packed", False: "LSTM, lengths ignored"}


def sentence_job(protocol: TextProtocol, packed: bool, seed: int, lr: float, phase: str, version: int) -> dict:
    """One sentence-classifier run; an evaluation run is scored on the test sentences, and a
    packed one also read as if it ignored the lengths (the same weights, over the padding)."""
    torch.set_num_threads(1)
    data = Data(protocol)
    (train, _), (validation, _), (test, _) = data.sentences
    run = sentences.SentenceRun(
        packed,
        protocol.sentence_hidden,
        seed,
        lr,
        protocol.sentence_steps,
        protocol.sentence_batch,
        protocol.sentence_eval_every,
    )
    model, row = sentences.train_classifier(run, data.vocabulary, train, validation)
    row = {**row, "part": "sentences", "label": SENTENCE_LABELS[packed], "phase": phase, "status": "ok"}
    if phase == "evaluation":
        row["test"] = sentences.evaluate(model, test, data.vocabulary, packed, protocol.sentence_batch, seed=1)
        if packed:
            row["test_read_over_padding"] = sentences.evaluate(
                model, test, data.vocabulary, False, protocol.sentence_batch, seed=1
            )
    return row


def _run_jobs(jobs: list, workers: int, cache: str | Path | None, progress: bool, description: str) -> list[dict]:
    functions = {"language": language_job, "sentences": sentence_job}
    if cache is not None:
        memory = Memory(Path(cache), verbose=0)
        functions = {key: memory.cache(function) for key, function in functions.items()}
    runner = Parallel(n_jobs=workers, return_as="generator", backend="loky" if workers > 1 else "sequential")
    rows = []
    with tqdm(total=len(jobs), desc=description, disable=not progress) as bar:
        for row in runner(delayed(functions[part])(*arguments, version=CACHE_VERSION) for part, arguments in jobs):
            rows.append(row)
            bar.update()
    return rows


def _choose(rows: list[dict], part: str, label: str, grid: tuple[float, ...]) -> float:
    """The learning rate of ``grid`` whose tuning runs of (part, label) had the lowest median
    validation bits (a diverged run counts as infinite); ties: the grid's order."""

    def score(lr: float) -> float:
        mine = [r["validation_bits"] for r in rows if (r["part"], r["label"], r["lr"]) == (part, label, lr)]
        if not mine:
            raise ValueError(f"no tuning runs of {label} at learning rate {lr:g}: the protocol needs tuning seeds")
        return statistics.median(float("inf") if v is None else v for v in mine)

    return min(grid, key=lambda lr: (score(lr), grid.index(lr)))


def run_text_study(
    name: str = "cpu",
    workers: int = 1,
    cache: str | Path | None = None,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Tune, choose, evaluate: the character models and the sentence classifiers of protocol
    ``name``, as one result dict with provenance (experiment "text")."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown text protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[name]
    torch.set_num_threads(1)
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()
    tuning_jobs = [
        *(
            ("language", (protocol, kind, seed, lr, "tuning", False))
            for kind in KINDS
            for lr in protocol.learning_rates
            for seed in protocol.tuning_seeds
        ),
        *(
            ("sentences", (protocol, packed, seed, lr, "tuning"))
            for packed in (True, False)
            for lr in protocol.learning_rates
            for seed in protocol.tuning_seeds
        ),
    ]
    tuning = _run_jobs(tuning_jobs, workers, cache, progress, "tuning")
    first = protocol.evaluation_seeds[0]
    evaluation_jobs = [
        *(
            (
                "language",
                (
                    protocol,
                    kind,
                    seed,
                    _choose(tuning, "language", kind.upper(), protocol.learning_rates),
                    "evaluation",
                    kind == "lstm" and seed == first,
                ),
            )
            for kind in KINDS
            for seed in protocol.evaluation_seeds
        ),
        *(
            (
                "sentences",
                (
                    protocol,
                    packed,
                    seed,
                    _choose(tuning, "sentences", SENTENCE_LABELS[packed], protocol.learning_rates),
                    "evaluation",
                ),
            )
            for packed in (True, False)
            for seed in protocol.evaluation_seeds
        ),
    ]
    evaluation = _run_jobs(evaluation_jobs, workers, cache, progress, "evaluation")
    data = Data(protocol)
    (train_sentences, _), _, (test_sentences, _) = data.sentences
    model_row = next((r for r in evaluation if "state_dict" in r), None)
    result: dict = {
        "schema": results.SCHEMA_VERSION,
        "experiment": "text",
        "config": {
            **asdict(protocol),
            "widths": protocol.widths(len(data.vocabulary)),
            "distance_bins": [list(b) for b in DISTANCE_BINS],
            "signals": SIGNALS,
            "corpus": corpus.SOURCE,
            "split_characters": [len(part) for part in data.split],
            "sentences": [[len(kept), dropped] for kept, dropped in data.sentences],
        },
        "rows": [{k: v for k, v in row.items() if k != "state_dict"} for row in tuning + evaluation],
        "baselines": corpus.ngram_baselines(data.split, len(data.vocabulary)),
        "sentence_prior": sentences.prior(train_sentences, test_sentences),
        "model": None if model_row is None else {"seed": model_row["seed"], "state_dict": model_row["state_dict"]},
        # save_text_study writes the state dict to its own file and keeps its name and SHA-256 here
    }
    provenance = results.provenance(
        name,
        "cpu",
        time.perf_counter() - start,
        command or f"run_text_study({name!r}, workers={workers})",
        commit,
        started,
    )
    provenance["workers"] = workers
    result["provenance"] = provenance
    return result


def evaluation_rows(result: dict, part: str) -> list[dict]:
    return [r for r in result["rows"] if r["part"] == part and r["phase"] == "evaluation"]


def summarise(result: dict) -> dict:
    """Per model: the chosen learning rate, test bits per character of every evaluation seed,
    their mean and 95% t interval, its parameter count; per sentence variant the same for bits
    per sentence and accuracy; and the one-sided Mann–Whitney p that each other model spends
    more bits than the LSTM."""
    found: dict = {"language": {}, "sentences": {}}
    for kind in KINDS:
        rows = evaluation_rows(result, "language")
        mine = [r for r in rows if r["label"] == kind.upper()]
        bits = [r["test_bits"] for r in mine if r.get("test_bits") is not None]
        found["language"][kind.upper()] = {
            "lr": mine[0]["lr"],
            "hidden_size": mine[0]["hidden_size"],
            "parameters": mine[0].get("parameters"),
            "test_bits": bits,
            "mean": statistics.fmean(bits) if bits else None,
            "interval": list(stats.t_interval(bits)) if len(bits) > 1 else None,
            "diverged": sum(r["status"] != "ok" for r in mine),
        }
    lstm = found["language"]["LSTM"]["test_bits"]
    found["lstm_better"] = {
        label: stats.mann_whitney_greater(entry["test_bits"], lstm)
        for label, entry in found["language"].items()
        if label != "LSTM" and entry["test_bits"] and lstm
    }
    for label in SENTENCE_LABELS.values():
        mine = [r for r in evaluation_rows(result, "sentences") if r["label"] == label]
        entry = {"lr": mine[0]["lr"], "parameters": mine[0]["parameters"]}
        for field, key in (
            ("test", "bits"),
            ("test", "accuracy"),
            ("test_read_over_padding", "bits"),
            ("test_read_over_padding", "accuracy"),
        ):
            values = [r[field][key] for r in mine if field in r]
            if values:
                entry[f"{field}_{key}"] = {
                    "values": values,
                    "mean": statistics.fmean(values),
                    "interval": list(stats.t_interval(values)),
                }
        found["sentences"][label] = entry
    return found


def format_summary(result: dict) -> str:
    """The headline table: bits per character of each model, its interval, and the baselines."""
    summary = summarise(result)
    lines = [f"{'model':<8}{'hidden':>7}{'params':>8}{'lr':>8}{'test bits/char':>16}{'95% interval':>18}{'seeds':>7}"]
    for label, e in summary["language"].items():
        low, high = e["interval"] or (float("nan"), float("nan"))
        lines.append(
            f"{label:<8}{e['hidden_size']:>7}{e['parameters'] or 0:>8}{e['lr']:>8g}{e['mean']:>16.3f}"
            f"{f'[{low:.3f}, {high:.3f}]':>18}{len(e['test_bits']):>7}"
        )
    for name, baseline in result["baselines"].items():
        lines.append(f"{name:<8}{'':>7}{'':>8}{'':>8}{baseline['test_bits']:>16.3f}{'(no seeds)':>18}")
    return "\n".join(lines)


def save_text_study(result: dict, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the kept LSTM's weights to ``text-<profile>-lstm.pt`` (torch.save) and the result,
    naming that file and its SHA-256, to ``text-<profile>.json``; refuses to replace either
    unless ``overwrite``. Returns the JSON's path."""
    json_path = results.path_for(out_dir, "text", result["provenance"]["profile"])
    weights = json_path.with_name(json_path.stem + "-lstm.pt")
    for path in (json_path, weights):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    result = dict(result)
    if result.get("model") is not None:
        buffer = io.BytesIO()
        torch.save({k: v.clone() for k, v in result["model"]["state_dict"].items()}, buffer)
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.write_bytes(buffer.getvalue())
        result["model"] = {
            "seed": result["model"]["seed"],
            "file": weights.name,
            "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        }
    return results.save(result, out_dir, overwrite=overwrite)


def shipped_model(result: dict, folder: str | Path = results.SHIPPED) -> language.CharModel:
    """The evaluation LSTM that a saved result kept (its first evaluation seed), ready to run;
    refuses a weights file whose SHA-256 is not the one the result names."""
    if not result.get("model") or "file" not in result["model"]:
        raise ValueError("this result kept no model file (save_text_study writes one)")
    path = Path(folder) / result["model"]["file"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != result["model"]["sha256"]:
        raise ValueError(f"{path} is not the weights file the result names (its SHA-256 differs)")
    vocabulary = corpus.Vocabulary(corpus.load_text())
    model = language.CharModel("lstm", len(vocabulary), result["config"]["widths"]["lstm"])
    model.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
    return model.eval()


def protocol_of(result: dict) -> TextProtocol:
    """The TextProtocol a result was made with, rebuilt from its config."""
    fields = {k: v for k, v in result["config"].items() if k in TextProtocol.__dataclass_fields__}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return replace(PROTOCOLS["ci"], **fields)


LIVE = {
    # the notebook's own run: one seed per model, no tuning (the learning rate: the grid's first)
    "ci": replace(PROTOCOLS["ci"], name="live-ci", evaluation_seeds=(0,), tuning_seeds=()),
    "cpu": replace(
        PROTOCOLS["cpu"],
        name="live-cpu",
        hidden_size=64,
        chunk=64,
        steps=400,
        eval_every=50,
        tuning_seeds=(),
        evaluation_seeds=(0,),
        sentence_hidden=32,
        sentence_steps=150,
        sentence_eval_every=50,
    ),
}
LIVE["gpu"] = replace(LIVE["cpu"], name="live-gpu")  # small models read one character at a time: the CPU's size


def verdict_lines(result: dict) -> list[str]:
    """What the shipped study says about the three models, in sentences printed from its data:
    each model's mean test bits per character with its interval, the baselines, and whether the
    LSTM spends fewer bits than each other model (one-sided Mann–Whitney, and the intervals)."""
    summary = summarise(result)
    models = summary["language"]
    lines = []
    for label, e in models.items():
        low, high = e["interval"]
        lines.append(
            f"{label}: {e['mean']:.3f} bits per character [{low:.3f}, {high:.3f}] over {len(e['test_bits'])} seeds "
            f"(hidden size {e['hidden_size']}, {e['parameters']} parameters, learning rate {e['lr']:g})"
        )
    bigram = result["baselines"]["bigram"]["test_bits"]
    unigram = result["baselines"]["unigram"]["test_bits"]
    lines.append(f"baselines on the same test text: unigram {unigram:.3f}, bigram {bigram:.3f} bits per character")
    beaten = [label for label, e in models.items() if e["interval"][1] < bigram]
    lines.append(
        "every model's interval lies below the bigram's bits"
        if len(beaten) == len(models)
        else f"models whose interval lies below the bigram's bits: {', '.join(beaten) or 'none'}"
    )
    lstm = models["LSTM"]
    for label, p in summary["lstm_better"].items():
        other = models[label]
        apart = lstm["interval"][1] < other["interval"][0]
        worse = lstm["interval"][0] > other["interval"][1]
        relation = (
            "the LSTM spends fewer bits, the intervals apart"
            if apart
            else f"the {label} spends fewer bits, the intervals apart"
            if worse
            else "the intervals overlap: not told apart at this number of seeds"
        )
        lines.append(
            f"LSTM against {label}: {relation}; one-sided Mann–Whitney p = {p:.3f} that the {label} spends more"
        )
    return lines


def cell_rows(result: dict) -> list[dict]:
    """Per evaluation LSTM seed and structure: the chosen cell, its test correlation, the
    untrained model's strongest, and the clamp tests' ratios and ranks."""
    found = []
    for row in evaluation_rows(result, "language"):
        if "cells" not in row:
            continue
        for name, entry in row["cells"].items():
            found.append(
                {
                    "seed": row["seed"],
                    "structure": name,
                    "cell": entry["cell"],
                    "correlation": entry["correlation"],
                    "untrained": row["untrained_correlation"][name],
                    "to_on": entry["clamp_to_on"],
                    "to_off": entry["clamp_to_off"],
                }
            )
    return found


def format_cells(result: dict) -> str:
    """The cell search and clamp tests of every evaluation LSTM, one line per seed and structure."""

    def effect(e: dict | None) -> str:
        return "-" if e is None else f"x{e['ratio']:.2f} (rank {e['rank']})"

    lines = [
        f"{'structure':<22}{'seed':>5}{'cell':>6}{'r (test)':>10}{'untrained r':>13}  clamp on: P(signal) off-region   clamp off: P(signal) on-region"
    ]
    for r in cell_rows(result):
        lines.append(
            f"{r['structure']:<22}{r['seed']:>5}{r['cell']:>6}{r['correlation']:>10.2f}{r['untrained']:>13.2f}  "
            f"{effect(r['to_on']):<32}{effect(r['to_off'])}"
        )
    return "\n".join(lines)


def format_distance(result: dict) -> str:
    """Per model and distance bin: the mean over seeds of the test bits inside quotations, and of
    the closing ” alone, with their 95% t intervals ("-" where a bin holds none)."""
    rows = evaluation_rows(result, "language")
    bins = bin_names(result["config"]["distance_bins"])

    def cell(values: list[float | None]) -> str:
        kept = [v for v in values if v is not None]
        if len(kept) < 2:
            return "-"
        low, high = stats.t_interval(kept)
        return f"{statistics.fmean(kept):.2f} [{low:.2f}, {high:.2f}]"

    lines = [f"{'':<22}" + "".join(f"{name:>20}" for name in bins)]
    counts = rows[0]["distance"]
    lines.append(f"{'characters inside':<22}" + "".join(f"{n:>20}" for n in counts["inside_count"]))
    lines.append(f"{'closing quotes':<22}" + "".join(f"{n:>20}" for n in counts["closing_count"]))
    for field, what in (("inside", "inside"), ("closing", "on the closing ”")):
        for label in dict.fromkeys(r["label"] for r in rows):
            mine = [r["distance"][field] for r in rows if r["label"] == label]
            lines.append(
                f"{label + ', ' + what:<22}" + "".join(f"{cell([m[b] for m in mine]):>20}" for b in range(len(bins)))
            )
    outside = {
        label: statistics.fmean(r["distance"]["outside"] for r in rows if r["label"] == label)
        for label in dict.fromkeys(r["label"] for r in rows)
    }
    lines.append("outside quotations: " + ", ".join(f"{label} {bits:.2f}" for label, bits in outside.items()))
    return "\n".join(lines)


def distance_lines(result: dict) -> list[str]:
    """Per distance bin: how many bits fewer the LSTM spends than each other model inside
    quotations (the mean over seeds of each), and whether their 95% t intervals are apart."""
    rows = evaluation_rows(result, "language")
    bins = bin_names(result["config"]["distance_bins"])
    lines = []
    for other in (label for label in dict.fromkeys(r["label"] for r in rows) if label != "LSTM"):
        parts = []
        for b, name in enumerate(bins):
            lstm = [r["distance"]["inside"][b] for r in rows if r["label"] == "LSTM"]
            theirs = [r["distance"]["inside"][b] for r in rows if r["label"] == other]
            (low, high), (their_low, their_high) = stats.t_interval(lstm), stats.t_interval(theirs)
            apart = "apart" if high < their_low or their_high < low else "overlapping"
            parts.append(f"{name}: {statistics.fmean(theirs) - statistics.fmean(lstm):+.2f} ({apart})")
        outside = statistics.fmean(r["distance"]["outside"] for r in rows if r["label"] == other) - statistics.fmean(
            r["distance"]["outside"] for r in rows if r["label"] == "LSTM"
        )
        lines.append(
            f"{other} minus LSTM, bits per character inside quotations, by distance: "
            + "; ".join(parts)
            + f"; outside quotations: {outside:+.2f}"
        )
    return lines


def cell_lines(result: dict) -> list[str]:
    """For each structure: the seeds whose chosen cell correlates more strongly on the test text
    than the untrained model's strongest, and those whose clamp moves the signal more than every
    other cell's in each of its tests (rank 1)."""
    found = cell_rows(result)
    lines = []
    for name in dict.fromkeys(r["structure"] for r in found):
        mine = [r for r in found if r["structure"] == name]
        stronger = [r["seed"] for r in mine if abs(r["correlation"]) > abs(r["untrained"])]
        causal = [
            r["seed"]
            for r in mine
            if all(e is None or e["rank"] == 1 for e in (r["to_on"], r["to_off"]))
            and any(e is not None for e in (r["to_on"], r["to_off"]))
        ]
        lines.append(
            f"{name}: |r| above the untrained model's for seeds {stronger or 'none'} of {len(mine)}; "
            f"the clamp moves the signal more than any other cell's for seeds {causal or 'none'}"
        )
    return lines


def sentence_lines(result: dict) -> list[str]:
    """The sentence part in sentences: each variant's test bits against the prior, and packed
    against lengths ignored, read from their 95% t intervals."""
    summary = summarise(result)["sentences"]
    prior = result["sentence_prior"]["bits"]
    lines = []
    for label, entry in summary.items():
        for key, what in (
            ("test_bits", "trained and tested so"),
            ("test_read_over_padding_bits", "read over the padding"),
        ):
            if key not in entry:
                continue
            low, high = entry[key]["interval"]
            relation = "below" if high < prior else "above" if low > prior else "not told apart from"
            lines.append(
                f"{label}, {what}: {entry[key]['mean']:.3f} bits [{low:.3f}, {high:.3f}], {relation} the prior's {prior:.3f}"
            )
    packed, ignored = summary["LSTM, packed"]["test_bits"], summary["LSTM, lengths ignored"]["test_bits"]
    apart = packed["interval"][1] < ignored["interval"][0]
    lines.append(
        "packed against lengths ignored: "
        + ("the packed model spends fewer bits, the intervals apart" if apart else "the intervals are not apart")
    )
    return lines
