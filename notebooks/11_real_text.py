# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Real text: a character-level LSTM on a book
#
# Every task so far was made up: the adding problem, temporal order, copy memory. They isolate
# one difficulty at a time, which is what an experiment needs. This notebook ends the course on
# real language, as Karpathy's char-rnn did on Shakespeare and d2l on *The Time Machine*: a
# model reads a book one character at a time and learns to predict the next one.
#
# **What you will learn here**
# - how a language model is scored: bits per character on text it never saw, against the
#   unigram and bigram models that a few counts give;
# - truncated backpropagation through time over a stream (notebook 05): the state carried from
#   chunk to chunk, detached;
# - RNN, LSTM and GRU at an equal parameter budget, on the course's study protocol: tuning seeds
#   apart from five evaluation seeds, an interval on every number;
# - whether the LSTM's advantage shows where the book has long-range structure: inside a
#   quotation, so many characters after it opened;
# - how to find a cell that tracks something (quotes, brackets, the position in the line), and
#   how to test causally that the model uses it, by clamping it;
# - real sentences of every length, packed or not (notebook 07).
#
# **Prerequisites**: notebooks 05 (truncated BPTT), 06 (the study protocol and how to read its
# intervals), 07 (packing) and 10 (the GRU).
#
# **Time**: about 60 minutes. The measured execution times of every notebook, in the `ci` and
# `cpu` profiles, are in the README's course map.

# %%
import math

import matplotlib.pyplot as plt
import torch

from course_lstm import corpus, language, results, sentences, text_plots, text_study
from course_lstm.checks import check
from course_lstm.notebook import setup

profile = setup(seed=0)
live = text_study.LIVE[profile.name]
print(f"profile {profile.name}: the live runs train hidden size {live.hidden_size} for {live.steps} steps")

# %% [markdown]
# ## 1. The book
#
# The corpus is Lewis Carroll's *Alice's Adventures in Wonderland* (1865), from Project
# Gutenberg, shipped with the package (nothing is downloaded). Its dialogue is set in curly
# quotes, “ and ”, so "inside a quotation" has an exact meaning, and its lines are hard-wrapped
# (their lengths are printed below), so the model must know where it is in a line to predict
# the newline.

# %%
for key, value in corpus.SOURCE.items():
    print(f"{key:>12}: {value}")
text = corpus.load_text()
vocabulary = corpus.Vocabulary(text)
print(f"\n{len(text)} characters, {len(vocabulary)} distinct ones")
line_lengths = sorted(len(line) for line in text.split("\n") if line)
print(f"lines: {len(line_lengths)}; the longest {line_lengths[-1]} characters, the median {line_lengths[len(line_lengths) // 2]}")

# %% [markdown]
# A model that is tuned, selected and scored on the same text says nothing about text it has not
# seen. The split deals whole paragraphs, shuffled with a fixed seed, into a training part (80%
# of the characters), a validation part for every choice (learning rate, the step to keep, the
# cell to read) and a test part that only the reported numbers see.

# %%
split = corpus.split_text(text, seed=0)
for name, part in zip(split._fields, split):
    quotes = part.count(corpus.OPEN_QUOTE)
    print(f"{name:>10}: {len(part):6d} characters, {quotes:4d} quotations, {part.count('(')} parentheses")
print("\nthe test text begins:\n")
print(split.test[:400])

# %% [markdown]
# ## 2. Bits per character, and what counting gives
#
# A model that gives probability $p(x_t \mid x_{<t})$ to the character that comes spends
# $-\log_2 p$ bits on it: the length of its code in an ideal compressor. The score is the mean
# over a held-out text of $T$ characters,
#
# $$\text{bits per character} = -\frac{1}{T-1} \sum_{t=1}^{T-1} \log_2 p(x_t \mid x_{<t}),$$
#
# with a uniform guess at $\log_2 V$ for $V$ characters. Two baselines need no training: a
# **unigram** model (each character's frequency in the training text) and a **bigram** model
# (its frequency after the previous character), each with add-$\alpha$ smoothing so that an
# unseen pair does not cost infinitely many bits; $\alpha$ is chosen on the validation text.
# They are plain counting, the same on every computer.

# %%
baselines = corpus.ngram_baselines(split, len(vocabulary))
print(f"uniform guess: {math.log2(len(vocabulary)):.3f} bits per character")
for name, entry in baselines.items():
    print(f"{name:>8}: {entry['test_bits']:.3f} bits per character on the test text (alpha {entry['alpha']:g})")

# %% [markdown]
# A neural model outputs logits (L, N, V); `torch.nn.functional.cross_entropy` gives the mean
# negative log-probability in nats.
#
# **Exercise.** Write `bits_per_character(logits, targets)`: logits (T, V), targets (T,) int64,
# the mean bits the model spends per character.

# %% tags=["solution"]
def bits_per_character(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean -log2 p(target) over the T characters. logits: (T, V); targets: (T,) int64."""
    return torch.nn.functional.cross_entropy(logits, targets) / math.log(2)


# %%
check("bits_per_character", bits_per_character)

# %% [markdown]
# A model that knows nothing gives every character the same logit. Your function should then
# charge it the uniform guess, $\log_2 V$ bits, on any text:

# %%
test_codes = vocabulary.encode(split.test)
knows_nothing = torch.zeros(len(test_codes) - 1, len(vocabulary))  # equal logits, (T - 1, V)
uniform = float(bits_per_character(knows_nothing, test_codes[1:]))
assert abs(uniform - math.log2(len(vocabulary))) < 1e-5, uniform
print(f"equal logits cost {uniform:.3f} bits per character = log2({len(vocabulary)})")

# %% [markdown]
# ## 3. Truncated BPTT over a stream
#
# The training text is one stream (its length is printed in section 1). Notebook 05 trained on
# such a stream in chunks of $k$ steps, carrying the state from chunk to chunk and detaching it.
# Here the stream is first cut into $N$ streams side by side, each a contiguous stretch of the
# book, so that a batch holds $N$ chunks and the state of column $n$ has read everything before it
# in stream $n$:
#
# $$\text{inputs}[t, n] = x_{n \cdot S + t}, \qquad \text{targets}[t, n] = x_{n \cdot S + t + 1},
# \qquad S = \lfloor (T - 1) / N \rfloor.$$

# %%
toy = vocabulary.encode("Alice was beginning to get very tired")
inputs, targets = language.streams(toy, batch_size=3)
print("inputs (L, N):", tuple(inputs.shape))
for n in range(3):
    print(f"stream {n}: {vocabulary.decode(inputs[:, n])!r} -> {vocabulary.decode(targets[:, n])!r}")

# %% [markdown]
# One training step of `language.train_language_model` reads the next chunk of every stream,
# starting from the state the previous chunk left, detached:
#
# ```python
# logits, state = model(x, None if fresh else detach(state))   # x: (k, N); logits: (k, N, V)
# loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())      # y: the next characters
# loss.backward()                                                # back through these k steps only
# ```
#
# The state goes on; its gradient stops at the chunk's start. Each epoch starts the streams again
# from a zero state, at a random offset below $k$, so the chunk boundaries move. The model
# (`language.CharModel`) is a character's one-hot vector into one `nn.LSTM` (or `nn.RNN`,
# `nn.GRU`), then one linear layer to the logits. `torch.nn`'s layers compute what the course's
# own do (notebook 05 tested that), and much faster.
#
# ## 4. The study: RNN, LSTM and GRU at an equal budget
#
# The LSTM has four gate blocks, the GRU three, the RNN one, so at the same width they differ
# fourfold in parameters. The study gives the RNN and the GRU the widest hidden size that fits the
# LSTM's parameter count (notebook 09), and every model the same tuning budget: each learning rate
# of the grid on a tuning seed; the rate with the lowest validation bits is then trained on five
# evaluation seeds, and only those are reported, on the test text. The protocol, fixed in code
# before the run:

# %%
shipped = results.shipped("text", "cpu")
protocol = text_study.protocol_of(shipped)
print(f"hidden sizes {shipped['config']['widths']}; learning rates {list(protocol.learning_rates)}")
print(f"{protocol.steps} steps of {protocol.batch_size} streams x {protocol.chunk} characters; "
      f"tuning seeds {list(protocol.tuning_seeds)}, evaluation seeds {list(protocol.evaluation_seeds)}")
print(f"measured: {results.provenance_line(shipped)}")
print(f"command: {shipped['provenance']['command']}")
print(f"wall time: {shipped['provenance']['wall_seconds'] / 60:.1f} min with {shipped['provenance']['workers']} workers")

# %% [markdown]
# The result, printed from the shipped file: each model's test bits per character, the mean over
# the evaluation seeds with its 95% t interval, and the one-sided Mann–Whitney test of whether the
# other model spends more bits than the LSTM.

# %%
print(text_study.format_summary(shipped))
print()
print("\n".join(text_study.verdict_lines(shipped)))

# %%
evaluation = text_study.evaluation_rows(shipped, "language")
fig = text_plots.learning_curves(
    evaluation, "Validation bits per character while training, every evaluation seed",
    note=results.provenance_line(shipped),
)
ax = fig.axes[0]
for name, style in (("unigram", ":"), ("bigram", "--")):
    ax.axhline(shipped["baselines"][name]["validation_bits"], color="0.4", linestyle=style, label=name)
ax.legend()
plt.show()

# %% [markdown]
# Read the curves for two things. Where each model's curve stops falling, more steps would not
# help at this size; where a curve turns up, the model is learning the training text by heart
# (the model kept is the one at its lowest point). How the three models rank, and whether the
# intervals let you tell them apart, is what the lines above say; at another size or budget the
# ranking can differ, and the study does not claim more than it measured.
#
# ## 5. Your own run
#
# The same training, one seed per model at the live profile's size (smaller than the study's),
# no tuning: the learning rate is the grid's first. What it can show is that every model learns
# the text: in the `cpu` profile each must spend fewer bits than the unigram model; in the `ci`
# profile, which trains for seconds, fewer than the uniform guess.

# %%
data = text_study.Data(live)
widths = live.widths(len(vocabulary))
live_models, live_rows = {}, []
for kind in text_study.KINDS:
    run = language.LanguageRun(kind, widths[kind], seed=0, lr=live.learning_rates[0], steps=live.steps,
                               batch_size=live.batch_size, chunk=live.chunk, eval_every=live.eval_every)
    model, row = language.train_language_model(run, len(vocabulary), data.train, data.validation)
    row = {**row, "label": kind.upper(), "test_bits": language.bits_per_character(model, data.test).mean().item()}
    live_models[kind], live_rows = model, [*live_rows, row]
print(f"{'model':<6}{'hidden':>7}{'parameters':>12}")
for row in live_rows:
    print(f"{row['label']:<6}{row['hidden_size']:>7}{row['parameters']:>12}")

# %% tags=["nbval-ignore-output"]
live_baselines = corpus.ngram_baselines(data.split, len(vocabulary))
for row in live_rows:
    print(f"{row['label']}: {row['test_bits']:.3f} test bits per character (best validation at step {row['best_step']})")
print(f"unigram {live_baselines['unigram']['test_bits']:.3f}, bigram {live_baselines['bigram']['test_bits']:.3f}")

# %%
bar = live_baselines["unigram"]["test_bits"] if profile.name != "ci" else math.log2(len(vocabulary))
for row in live_rows:
    assert row["status"] == "ok" and row["test_bits"] < bar, (row["label"], row["test_bits"], bar)
print(f"every live model spends fewer bits than the {'unigram model' if profile.name != 'ci' else 'uniform guess'}")

# %%
fig = text_plots.learning_curves(live_rows, f"Your run ({profile.name} profile): validation bits per character")
plt.show()

# %% [markdown]
# ## 6. Samples at a temperature
#
# A language model can write: draw a character from $p(x_t \mid x_{<t})$, feed it back, repeat.
# Dividing the logits $z$ by a temperature $\tau$ before the softmax,
# $p_i = e^{z_i / \tau} / \sum_j e^{z_j / \tau}$, makes the draw more cautious ($\tau < 1$: the
# likely characters get likelier) or more adventurous ($\tau > 1$).
#
# **Exercise.** Write `temperature_softmax(logits, temperature)`: logits (..., V), the
# probabilities over the last axis.

# %% tags=["solution"]
def temperature_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis. logits: (..., V); returns (..., V)."""
    return torch.softmax(logits / temperature, dim=-1)


# %%
check("temperature_softmax", temperature_softmax)

# %% [markdown]
# Your function on the shipped LSTM (section 4's, its first evaluation seed): the five likeliest
# next characters after a prompt, at three temperatures. The probabilities depend on this
# computer's rounding in their last digits, so they are not compared as text.

# %% tags=["nbval-ignore-output"]
reader = text_study.shipped_model(shipped)
prompt = "“I wonder"
with torch.no_grad():
    next_logits = reader(vocabulary.encode(prompt)[:, None])[0][-1, 0]  # (V,)
for temperature in (0.5, 1.0, 2.0):
    probabilities = temperature_softmax(next_logits, temperature)
    top = probabilities.topk(5)
    shown = ", ".join(f"{vocabulary.characters[i]!r} {p:.2f}" for p, i in zip(top.values.tolist(), top.indices.tolist()))
    print(f"temperature {temperature}: {shown}")

# %% [markdown]
# Samples from the same model after the same prompt. Which characters come out depends on the
# rounding too, so the text below differs from machine to machine.

# %% tags=["nbval-ignore-output"]
for temperature in (0.5, 1.0, 1.5):
    drawn = language.sample(reader, vocabulary.encode(prompt), 200, temperature, torch.Generator().manual_seed(0))
    print(f"--- temperature {temperature} ---\n{prompt}{vocabulary.decode(drawn)}\n")

# %% [markdown]
# ## 7. Long-range structure: inside a quotation
#
# The synthetic tasks measured memory as accuracy against a lag. In a book, one place where the
# past matters far back is a quotation: once “ has opened, the model should expect speech, and a
# closing ” some time later, however many characters ago the quotation began. If the LSTM carries
# that better than the RNN, its loss should grow less (or fall more) with the distance from the
# opening quote, especially on the closing ” itself.
#
# For each evaluation seed the study scored every test character inside a quotation, binned by
# characters since the opening “. Each point is a model's mean over its seeds, with its 95% t
# interval; the faint dots are the seeds.

# %%
bins = shipped["config"]["distance_bins"]
fig = text_plots.distance_figure(evaluation, bins, "Test bits per character inside quotations, by distance from the opening “",
                                 note=results.provenance_line(shipped))
plt.show()

# %%
print("test bits per character, mean over seeds [95% t interval], by characters since the opening “")
print(text_study.format_distance(shipped))
print()
print("\n".join(text_study.distance_lines(shipped)))

# %% [markdown]
# Read each difference against the one outside quotations, the last number of its line: a model
# that is better at everything leads by about as much everywhere. If the LSTM's memory is what
# helps inside a quotation, its lead over the RNN should grow with the distance from the opening
# quote.
#
# Two cautions in reading it. The bins hold different characters (the first few after “ are
# often a capital letter, the start of a sentence), so compare the models within a bin rather
# than a bin with the next. And the closing quotes are few per bin (the counts above), so their
# intervals are wide: the figure says what this book and these seeds can show, no more.
#
# ## 8. A cell you can read
#
# Karpathy, Johnson & Fei-Fei (2015) found single LSTM cells that switch on inside quotes or
# count the position in a line. Finding one is a search: compute every cell's state $c_t$ over a
# text, correlate each with the structure, and take the strongest. A search over $H$ cells will
# find *some* correlation by chance, so two precautions: the cell is chosen on the validation
# text and its correlation reported on the test text, and the same search is run in the untrained
# model, whose strongest correlation is what chance gives.
#
# The correlation is Pearson's $r$ between a cell's values $v_t$ and the structure $s_t$:
#
# $$r = \frac{\sum_t (v_t - \bar v)(s_t - \bar s)}{\sqrt{\sum_t (v_t - \bar v)^2}\,\sqrt{\sum_t (s_t - \bar s)^2}}.$$
#
# **Exercise.** Write `cell_correlation(values, signal)`: values (T, H), signal (T,), returns $r$
# for every column, (H,).

# %% tags=["solution"]
def cell_correlation(values: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """Pearson's r of each column of values (T, H) with signal (T,): (H,)."""
    v = values - values.mean(dim=0)
    s = signal - signal.mean()
    return (v * s[:, None]).sum(dim=0) / (v.norm(dim=0) * s.norm())


# %%
check("cell_correlation", cell_correlation)

# %% [markdown]
# The search in every evaluation LSTM of the study, one line per seed and structure: the cell
# chosen on validation, its $r$ on the test text, and the strongest $r$ the same search finds in
# the untrained model (the columns on the right are the causal test of section 9):

# %%
print(text_study.format_cells(shipped))
print()
print("\n".join(text_study.cell_lines(shipped)))

# %% [markdown]
# The cells of the shipped LSTM, recorded step by step by `language.lstm_trace` (the equations of
# notebook 04, one step at a time, so that a cell can be read and, later, held). It must agree
# with `nn.LSTM`'s own output, and the correlation computed here must be the one the study
# shipped, to rounding:

# %%
seed_zero = next(r for r in evaluation if r["label"] == "LSTM" and r["seed"] == shipped["model"]["seed"])
read_codes = vocabulary.encode(split.test)[:-1]  # the characters the model reads
cells_test, log_probabilities = language.lstm_trace(reader, read_codes)
with torch.no_grad():
    logits, _ = reader(read_codes[:2000, None])
difference = (log_probabilities[:2000] - torch.log_softmax(logits, dim=-1)).abs().max().item()
assert difference < 1e-4, difference
print("lstm_trace agrees with nn.LSTM on the first 2000 test characters (to 1e-4)")
signals = text_study.structure_signals(split.test, protocol.line_threshold)
for name, entry in seed_zero["cells"].items():
    r = cell_correlation(cells_test[:, 0].double(), signals[name][0])[entry["cell"]].item()
    assert abs(r - entry["correlation"]) < 0.02, (name, r, entry["correlation"])
    print(f"{name}: cell {entry['cell']}, r = {entry['correlation']:+.2f} shipped; recomputed here within 0.02")

# %%
name = max(seed_zero["cells"], key=lambda n: abs(seed_zero["cells"][n]["correlation"]))
cell = seed_zero["cells"][name]["cell"]
start = split.test.index(corpus.OPEN_QUOTE, 200) - 40
passage = slice(start, start + 150)
fig = text_plots.cell_figure(split.test[passage], cells_test[passage, 0, cell], signals[name][0][passage].tolist(),
                             cell, f"Cell {cell} of the shipped LSTM and {name}, over a test passage")
plt.show()

# %% [markdown]
# ## 9. Does the model use it? Clamping the cell
#
# A correlation shows that a cell *follows* a structure, not that the model *reads* it. The
# causal test holds the cell fixed and watches the prediction. For "inside a quotation": clamp the
# cell at every step to its mean value inside quotations (measured on the validation text) and
# look at the probability of a closing ” where there is no open quotation; then clamp it to its
# mean value outside and look at that probability inside quotations. If the model reads its
# quote state from this cell, the first should rise and the second fall. For the line, the
# signal is the newline near the end of a line; for brackets, ")".
#
# The control is every other cell, clamped the same way in the same run: "rank 1" means no other
# cell moves the probability more. Both tests, for every evaluation LSTM, are the right-hand
# columns of the table in section 8 ("x" is the ratio of the probability clamped to free).
# Recomputed here for the shipped model's chosen cell, clamping that one cell:

# %%
validation_cells, _ = language.lstm_trace(reader, vocabulary.encode(split.validation)[:-1])
validation_signals = text_study.structure_signals(split.validation, protocol.line_threshold)
for name, entry in seed_zero["cells"].items():
    for key in ("clamp_to_on", "clamp_to_off"):
        effect = entry[key]
        if effect is None:
            continue
        on, validation_on = signals[name][1], validation_signals[name][1]
        target = validation_cells[validation_on if key == "clamp_to_on" else ~validation_on, 0, entry["cell"]].double().mean()
        clamp = language.Clamp(torch.tensor([entry["cell"]]), target.reshape(1))
        _, clamped = language.lstm_trace(reader, read_codes, clamp)
        region = ~on if key == "clamp_to_on" else on
        signal = vocabulary.index[text_study.SIGNALS[name]]
        here = clamped[region, 0, signal].exp().mean().item()
        assert abs(here - effect["clamped_probability"]) < 1e-5 + 0.05 * effect["clamped_probability"], (name, key)
        print(f"{name}, cell {entry['cell']} clamped to its {key[9:]} value: P({text_study.SIGNALS[name]!r}) over the "
              f"{effect['region']} region {effect['free_probability']:.4f} free -> {effect['clamped_probability']:.4f} "
              f"clamped (x{effect['ratio']:.2f}, rank {effect['rank']} of {reader.hidden_size}); recomputed here within 5%")

# %% [markdown]
# How to read the two tests together: a cell with a strong test correlation, far above the
# untrained model's, whose clamping moves the signal's probability more than nearly every other
# cell's, is a cell the model both keeps and uses. A strong correlation with a clamp effect no
# larger than the other cells' is a cell that follows the structure while the model reads it from
# elsewhere (many cells share the work). The table says which of these each seed's cells are.
#
# ## 10. Sentences of every length
#
# Notebook 07 showed on synthetic sequences what padding without packing does. Real sentences
# vary far more (the shortest and longest are printed below). The task: read a
# sentence without its final mark and say which mark ended it, ".", "!" or "?" (a question often
# shows in its first word; an exclamation anywhere). The model is an LSTM read at its final state,
# either packed (the state at each sentence's true end) or with the lengths ignored (the state
# after the batch's padding).

# %%
kept = [corpus.sentences(part, protocol.max_sentence) for part in split]
for name, (found, too_long) in zip(split._fields, kept):
    marks = torch.bincount(torch.tensor([s.label for s in found]), minlength=3).tolist()
    print(f"{name:>10}: {len(found)} sentences ({too_long} longer than {protocol.max_sentence} left out), "
          f"marks . ! ? = {marks}")
lengths = [len(s.text) for s in kept[0][0]]
print(f"training sentences: {min(lengths)} to {max(lengths)} characters long")
fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
ax.hist(lengths, bins=40, color="tab:blue")
ax.set_xlabel("sentence length (characters)")
ax.set_ylabel("training sentences")
ax.set_title("Real sentences: from a word to a paragraph")
plt.show()

# %% [markdown]
# Without packing, the LSTM reads the padding too, so what it says about a sentence depends on
# the longest sentence that happens to share its batch. A quick check on an untrained classifier
# (the effect is structural, so training does not remove it): one short sentence alone, then the
# same sentence batched with a long one.

# %%
torch.manual_seed(0)
classifier = sentences.SentenceClassifier(len(vocabulary), live.sentence_hidden).eval()
short = min((s for s in kept[0][0] if len(s.text) >= 20), key=lambda s: len(s.text))
long = max(kept[0][0], key=lambda s: len(s.text))
with torch.no_grad():
    for packed in (True, False):
        alone = classifier(*sentences.batch([short], vocabulary)[:2], packed=packed)[0]
        batched = classifier(*sentences.batch([short, long], vocabulary)[:2], packed=packed)[0]
        change = (alone - batched).abs().max().item()
        assert (change < 1e-5) if packed else (change > 1e-3), (packed, change)
        print(f"{'packed' if packed else 'lengths ignored':>15}: when a {len(long.text)}-character sentence joins its "
              f"batch, the short one's logits {'stay the same (within 1e-5)' if packed else 'change (by more than 1e-3)'}")

# %% [markdown]
# The study trained both, tuned alike, on five evaluation seeds each, and also read the packed
# models over the padding (the same weights, the mistake made only at test time). The prior reads
# nothing: each mark's training frequency as its probability, and always the commonest mark.

# %%
summary = text_study.summarise(shipped)
prior = shipped["sentence_prior"]
for label, entry in summary["sentences"].items():
    for key in ("test_bits", "test_accuracy", "test_read_over_padding_bits", "test_read_over_padding_accuracy"):
        if key in entry:
            low, high = entry[key]["interval"]
            print(f"{label:<22} {key:<32} {entry[key]['mean']:.3f} [{low:.3f}, {high:.3f}]")
print(f"{'prior':<22} {'test_bits':<32} {prior['bits']:.3f}")
print(f"{'prior':<22} {'test_accuracy':<32} {prior['accuracy']:.3f}")
print()
print("\n".join(text_study.sentence_lines(shipped)))

# %%
fig = text_plots.sentence_figure(summary["sentences"], prior, "Which mark ends the sentence? Packed, lengths ignored, and packed read over the padding",
                                 note=results.provenance_line(shipped))
plt.show()

# %% [markdown]
# A model trained with the lengths ignored learns to live with the padding it always sees, so it
# can do nearly as well as the packed one, or not; a packed model read over padding it never saw
# in training has no such chance. The lines above say which happened here. A model whose bits
# are the prior's has learned to ignore the sentence: it always answers with the marks'
# frequencies.
#
# ## Summary
#
# - A character model is scored in bits per character on held-out text; a unigram and a bigram
#   model, counted in seconds, are the bar it must clear.
# - Truncated BPTT over a stream: $N$ contiguous streams side by side, chunks of $k$ steps, the
#   state carried and detached.
# - The study compared RNN, LSTM and GRU at an equal parameter budget on one tuning budget and
#   five evaluation seeds; section 4 prints what it found and how sure it is.
# - Memory in real text: loss inside quotations by distance from the opening quote, per model.
# - A cell you can read: chosen on validation, its correlation measured on test against the
#   untrained model's, and a clamp test against every other cell.
# - Real sentences of every length: pack them, or the model's answer depends on its batch.
#
# ## Exercises
#
# 1. `bits_per_character`, `temperature_softmax` and `cell_correlation` (sections 2, 6 and 8):
#    write each without looking and check it with `check(...)`.
# 2. Compress the book: at the shipped LSTM's bits per character, how many kilobytes would the
#    test text take? Compare with `len(zlib.compress(split.test.encode()))`.
# 3. Change `prompt` in section 6 to `"(she"` and sample at temperature 0.5. Does the model close
#    the parenthesis? Count over 20 samples how often.
# 4. Search your live *GRU* (section 5, `live_models["gru"]`) for a quote unit. It has no cell,
#    so correlate its hidden state: `live_models["gru"].core` applied to the one-hot test codes
#    gives it, (T, 1, H). Is the strongest |r| far above what the untrained search finds?
# 5. Run the whole study yourself: `python -m course_lstm text --protocol cpu --workers 2
#    --cache .cache/text --out results` (section 4 prints the shipped run's wall time), then
#    compare its table with section 4's. Which numbers change from machine to machine, and which conclusions?
