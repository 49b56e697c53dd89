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
# # 02 · Vanishing and exploding gradients
#
# At the end of notebook 01 the gradient reaching $h_t$ shrank by a fixed factor for every
# step between $h_t$ and the loss. Here we find out why, when it grows instead, what gradient
# clipping can and cannot do about it, and what it costs a plain RNN on a task whose answer
# depends on an input seen long ago.
#
# **What you will learn**
# - why $\partial h_T / \partial h_t$ is a product of $T - t$ step Jacobians
#   $\operatorname{diag}(1 - h_k^2)\, W_{hh}$, and how to write one by hand;
# - the bound $\|\partial h_T / \partial h_t\| \le \sigma_{\max}(W_{hh})^{T-t}$, and what the
#   spectral radius of $W_{hh}$ adds;
# - how to make the gradient vanish or explode by turning one number, the gain of $W_{hh}$;
# - gradient clipping: writing it, checking it against `torch.nn.utils.clip_grad_norm_`, and why
#   it tames explosion but cannot undo vanishing;
# - the adding problem, its baseline, and how a tanh RNN fares on it as the lag grows.
#
# **Prerequisites**: notebook 01 (one RNN step, backpropagation through time); matrix norms
# at the level of "$\|A x\| \le \|A\|\,\|x\|$".
#
# **Time**: about 50 minutes. Executing the notebook takes seconds in the `ci` profile and up to a few
# minutes in the `cpu` profile; `tools/execute_notebooks.py` prints the time it took, and
# [docs/instructor.md](../docs/instructor.md) lists the measured times.

# %%
import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import torch
from torch import nn

import course_lstm
from course_lstm import diagnostics
from course_lstm.checks import check
from course_lstm.explorations import gradient_flow
from course_lstm.models import SequenceModel
from course_lstm.notebook import agree, setup
from course_lstm.tasks import AddingProblem
from course_lstm.training import fit
from course_lstm.widgets import GradientFlowExplorer

profile = setup(seed=0)


# %% [markdown]
# ## 1. The gradient is a product of step Jacobians
#
# Notebook 01 found the backward recursion $\partial \mathcal{L} / \partial h_{t-1} = W_{hh}^\top
# \delta_t$. Let us name the matrix behind it. As in notebook 01, the sequence has $T$ steps and
# the loss reads the last state $h_T$. One step is
#
# $$h_k = \tanh(a_k), \qquad a_k = W_{ih}\, x_k + b + W_{hh}\, h_{k-1},$$
#
# with $x_k$ $(I,)$, $h_k$ and $a_k$ $(H,)$, $W_{ih}$ $(H, I)$, $W_{hh}$ $(H, H)$. Since
# $\tanh' = 1 - \tanh^2$, the Jacobian of one step is
#
# $$J_k = \frac{\partial h_k}{\partial h_{k-1}} = \operatorname{diag}\big(1 - h_k^2\big)\,
# W_{hh} \qquad (H, H):$$
#
# row $i$ of $W_{hh}$ scaled by $1 - h_{k,i}^2$. The chain rule strings the steps together:
#
# $$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} J_k = J_T\, J_{T-1} \cdots J_{t+1},
# \qquad \frac{\partial \mathcal{L}}{\partial h_t} = \Big(\frac{\partial h_T}{\partial h_t}\Big)^{\!\top}
# \frac{\partial \mathcal{L}}{\partial h_T}.$$
#
# $T - t$ matrices, one per step between $h_t$ and the loss. Here are all $T$ Jacobians of a
# sequence at once: `h` holds $h_1, \dots, h_T$ as rows.

# %%
def step_jacobians_by_hand(h: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
    """J_k = diag(1 - h_k^2) W_hh for every step. h: (T, H) the states after each step,
    W_hh: (H, H). Returns (T, H, H)."""
    return (1 - h**2).unsqueeze(-1) * W_hh  # (T, H, 1) * (H, H): scales row i by 1 - h_{k,i}^2


# %% [markdown]
# `course_lstm.diagnostics.step_jacobians` gets the same matrices from autograd (it
# differentiates each step of the layer with `torch.autograd.functional.jacobian`). A tiny RNN,
# $H = 4$, on $T = 6$ random inputs:

# %%
rnn = course_lstm.RNN(input_size=2, hidden_size=4, dtype=torch.float64)
x = torch.randn(6, 2, dtype=torch.float64)  # (T, I): one sequence
h, _ = rnn(x.unsqueeze(1))  # time-first (T, 1, I) -> h (T, 1, H)
ours = step_jacobians_by_hand(h.squeeze(1).detach(), rnn.weight_hh_l0.detach())
agree("J_k by hand vs package", ours, diagnostics.step_jacobians(rnn, x))

# %% [markdown]
# *Try it*: make the inputs 10 times larger (`x = 10 * torch.randn(...)`) and print
# `ours.abs().max()` before and after. What does a saturated unit ($|h_{k,i}| \approx 1$) do to
# its row of $J_k$?
#
# ## 2. How large can the product get?
#
# A product of matrices is at most the product of their sizes. Measure size with the spectral
# norm $\|A\|_2 = \sigma_{\max}(A)$, the largest singular value: the most $A$ can stretch a
# vector. Every factor of $J_k$ is bounded: $0 < 1 - h_{k,i}^2 \le 1$ (tanh's slope is at most
# 1), so $\|J_k\|_2 \le \sigma_{\max}(W_{hh})$, and
#
# $$\Big\|\frac{\partial h_T}{\partial h_t}\Big\|_2 \le \prod_{k=t+1}^{T} \|J_k\|_2 \le
# \sigma_{\max}(W_{hh})^{\,T-t}.$$
#
# If $\sigma_{\max} < 1$ the gradient *must* vanish exponentially, whatever the inputs. If
# $\sigma_{\max} > 1$ it *may* explode, but the bound does not say it will. (These are the
# conditions of Pascanu, Mikolov & Bengio 2013: $\sigma_{\max} < 1/\gamma$ suffices for
# vanishing, with $\gamma$ the largest slope of the nonlinearity, 1 for tanh; for a linear RNN,
# $\rho > 1$ is necessary for explosion. Bengio, Simard & Frasconi 1994 first showed the
# dilemma: a recurrent net that stores information robustly must have vanishing gradients.) A second number
# describes the long run: the **spectral radius** $\rho(W_{hh}) = \max |\lambda_i|$, the
# largest eigenvalue in absolute value. Always $\rho \le \sigma_{\max}$, and
# $\|W_{hh}^d\|_2^{1/d} \to \rho$ as $d$ grows: without the tanh, a linear RNN's gradient
# would shrink or grow by a factor $\rho$ per step in the long run.
#
# Here is an RNN of the profile's width at torch's default initialisation, reading one
# adding-problem sequence (section 5) of $T = 100$ steps: a fixed length for this
# millisecond-scale diagnostic, long enough to span many decades.

# %%
T = 100  # illustrative length for the diagnostics of sections 2-4
H = profile.hidden_size
model = SequenceModel("rnn", input_size=2, hidden_size=H, output_size=1).double()
W_hh = model.core.weight_hh_l0.detach()
rho = torch.linalg.eigvals(W_hh).abs().max().item()
sigma_max = torch.linalg.matrix_norm(W_hh, ord=2).item()
print(f"H = {H}: spectral radius rho = {rho:.3f}, "
      f"largest singular value sigma_max = {sigma_max:.3f}")
assert rho <= sigma_max + 1e-12, "the spectral radius never exceeds the largest singular value"

adding = AddingProblem(length=T)
x = adding.batch(1, torch.Generator().manual_seed(0), dtype=torch.float64).x[0]  # (T, 2)
products = diagnostics.jacobian_products(diagnostics.step_jacobians(model.core, x))  # (T, H, H)
distance = diagnostics.distance_to_loss(T)  # (T,): T - t, from the far end down to 0
product_norm = torch.linalg.matrix_norm(products, ord=2)  # ||dh_T / dh_t||_2
power_norm = torch.stack([torch.linalg.matrix_norm(torch.linalg.matrix_power(W_hh, d), ord=2)
                          for d in distance.tolist()])  # ||W_hh^d||_2: the RNN without tanh
bound = sigma_max ** distance.double()

# %% [markdown]
# `jacobian_products` multiplies the step Jacobians from the loss backwards; entry $t$ is
# $\partial h_T / \partial h_t$, a product of `distance[t]` factors.

# %%
plt.semilogy(distance, bound, "k--", label=r"bound $\sigma_{\max}^{\,T-t}$")
plt.semilogy(distance, rho ** distance.double(), ":", color="gray", label=r"$\rho^{\,T-t}$")
plt.semilogy(distance, power_norm, label=r"$\|W_{hh}^{\,T-t}\|_2$ (no tanh)")
plt.semilogy(distance, product_norm, label=r"$\|\partial h_T / \partial h_t\|_2$ (tanh RNN)")
plt.xlabel("distance to the loss, $T - t$ (steps)")
plt.ylabel("spectral norm")
plt.title(r"The Jacobian product decays at about $\rho$ per step, far below the bound")
plt.legend()
plt.show()

# %%
far_rate_linear = power_norm[0].item() ** (1 / distance[0].item())
far_rate_tanh = product_norm[0].item() ** (1 / distance[0].item())
print(f"per-step factor over {distance[0].item()} steps: without tanh {far_rate_linear:.3f}, "
      f"tanh RNN {far_rate_tanh:.3f}; rho = {rho:.3f}")
assert torch.all(product_norm <= bound * (1 + 1e-9)), "the product exceeded the bound"
assert abs(far_rate_linear / rho - 1) < 0.1, "||W^d||^(1/d) should approach rho"
assert 0.8 < far_rate_tanh / rho < 1.05, "expected the product to decay at about rho per step"
assert product_norm[0] < power_norm[0], "the tanh factors should shrink the product further"
assert product_norm[0] < 1e-6, "at the default initialisation the product should vanish"

# %% [markdown]
# The bound holds at every distance, but it is loose: it assumes every step stretches the
# vector as much as $W_{hh}$ can, in the same direction. The measured product follows
# $\rho^{T-t}$ instead, and tanh's slopes below 1 push it lower still. At torch's default
# initialisation $\rho$ is well below 1, so the gradient from 99 steps back is gone.
#
# **Why is $\rho$ below 1 at torch's default initialisation?** `nn.RNN` draws every weight of
# $W_{hh}$ from $U(-1/\sqrt{H}, 1/\sqrt{H})$, whose variance is $\sigma^2 = 1/(3H)$. The
# eigenvalues of an $H \times H$ matrix of independent entries of variance $\sigma^2$ fill, as
# $H$ grows, the disc of radius $\sigma\sqrt{H}$ (the circular law), so
#
# $$\rho(W_{hh}) \to \sigma \sqrt{H} = \frac{1}{\sqrt{3}} \approx 0.577,$$
#
# whatever the width. A finite matrix's largest eigenvalue sits a little outside the disc, less
# so the wider it is. This is where notebook 01's per-step factor came from: a $\rho$ near
# $1/\sqrt{3}$, lowered further by tanh's slopes. Twenty draws of `nn.RNN`'s $W_{hh}$ at each width:

# %%
predicted_rho = 1 / math.sqrt(3)
radii = {}
for width in (8, 32, 128, 512):
    draws = []
    for seed in range(20):
        torch.manual_seed(seed)
        weight = nn.RNN(2, width).weight_hh_l0.detach().double()
        draws.append(torch.linalg.eigvals(weight).abs().max().item())
    radii[width] = torch.tensor(draws)
    print(f"H = {width:3d}: rho over 20 draws {radii[width].mean():.3f} +- {radii[width].std():.3f} "
          f"(1/sqrt(3) = {predicted_rho:.3f})")
means = [radii[width].mean().item() for width in radii]
assert all(abs(mean - predicted_rho) < 0.06 for mean in means), "rho is near 1/sqrt(3) at every width"
assert means == sorted(means, reverse=True), "and closer to it the wider the matrix"
assert all(radii[width].max() < 1 for width in (32, 128, 512)), "every draw vanishes in the long run"

# %% [markdown]
# So the default initialisation starts every RNN in the vanishing regime. The lever is the
# initialisation of $W_{hh}$: scaled to a spectral radius of 1, or made orthogonal (every
# singular value 1, section 3), or the identity with ReLU units (Le, Jaitly & Hinton 2015). Each
# keeps the linear part of the step from shrinking the gradient; none stops tanh's slopes from
# doing so once the units saturate. Notebook 06's study tunes each RNN over exactly these
# choices (default, orthogonal, identity $W_{hh}$).
#
# *Try it*: add `model.core.weight_hh_l0.data.mul_(3)` right after `model = ...` and re-run
# the cells of section 2. Which lines cross 1, and which asserts still hold?
#
# ## 3. One knob: the gain of $W_{hh}$
#
# To see vanishing turn into explosion we need a single number to turn. Take a random
# orthogonal matrix $Q$ $(H, H)$ ($Q^\top Q = I$: it rotates, never stretches) and set
#
# $$W_{hh} = \gamma\, Q.$$
#
# Every singular value of $W_{hh}$ is then the gain $\gamma$, and so is every $|\lambda_i|$:
# $\rho = \sigma_{\max} = \gamma$, and the bound reads $\gamma^{T-t}$.

# %%
def rnn_with_gain(gain: float, hidden_size: int) -> SequenceModel:
    """A float64 tanh RNN for the adding problem whose W_hh (H, H) is gain * Q, Q a random
    orthogonal matrix; the other parameters keep torch's default initialisation."""
    model = SequenceModel("rnn", input_size=2, hidden_size=hidden_size, output_size=1).double()
    Q, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size, dtype=torch.float64))
    with torch.no_grad():
        model.core.weight_hh_l0.copy_(gain * Q)
    return model


singular_values = torch.linalg.svdvals(rnn_with_gain(2.0, H).core.weight_hh_l0.detach())
print(f"gain 2.0: singular values from {singular_values.min():.3f} to {singular_values.max():.3f}")
assert torch.allclose(singular_values, torch.full_like(singular_values, 2.0))

# %% [markdown]
# Now the quantity training sees: $\|\partial \mathcal{L} / \partial h_t\|$, averaged over a batch of
# adding-problem sequences, from `diagnostics.gradient_through_time`, for five gains.
# `diagnostics.decay_rate` fits a straight line to $\log \|\partial \mathcal{L} / \partial h_t\|$ against
# the distance $T - t$: its slope is the per-step factor $r$, so the norm behaves like
# $r^{T-t}$. Since each step multiplies by some $J_k^\top$ with $\|J_k\|_2 \le \gamma$, the
# fitted $r$ can never exceed $\gamma$.

# %%
GAINS = (0.5, 0.9, 1.0, 2.0, 3.0)
batch = adding.batch(profile.batch_size, torch.Generator().manual_seed(1), dtype=torch.float64)
flows, rates = {}, {}
for gain in GAINS:
    torch.manual_seed(0)  # the same Q and input weights for every gain: only gamma changes
    flows[gain] = diagnostics.gradient_through_time(rnn_with_gain(gain, H), adding, batch)
    rates[gain] = diagnostics.decay_rate(flows[gain].h)

for gain in GAINS:
    plt.semilogy(distance, flows[gain].h, label=rf"$\gamma$ = {gain}: $r$ = {rates[gain]:.2f}")
plt.xlabel("distance to the loss, $T - t$ (steps)")
plt.ylabel(r"$\|\partial \mathcal{L} / \partial h_t\|$ (mean over the batch)")
plt.title(r"Gain $\gamma \leq 1$: the gradient vanishes; $\gamma \geq 2$: it explodes")
plt.legend(title="gain, fitted factor", loc="upper left", bbox_to_anchor=(1, 1))
plt.show()

# %% tags=["nbval-ignore-output"]
print("gain   r (fitted)   far end / near end")
for gain in GAINS:
    ratio = (flows[gain].h[0] / flows[gain].h[-1]).item()
    print(f"{gain:4.1f}   {rates[gain]:10.3f}   {ratio:18.1e}")
    assert rates[gain] <= gain * (1 + 1e-9), f"gain {gain}: r exceeded the bound gamma"
small, large = flows[GAINS[0]].h, flows[GAINS[-1]].h
assert rates[GAINS[0]] < 1 and small[0] < 1e-3 * small[-1], "expected vanishing at gain 0.5"
assert rates[GAINS[0]] > 0.4 and small[0] < 1e-25 * small[-1], "expected r near 0.5 at gain 0.5"
assert rates[1.0] < 1, "expected vanishing even at gain 1: tanh's slope is below 1"
assert rates[2.0] > 1, "expected growth at gain 2"
assert rates[GAINS[-1]] > 1 and large[0] > 1e3 * large[-1], "expected explosion at gain 3"
assert rates[GAINS[-1]] < 0.75 * GAINS[-1], "expected saturation to keep r well below gamma"

# %% [markdown]
# Three things to read off:
#
# - **$\gamma < 1$: vanishing, as promised.** At $\gamma = 0.5$ the fitted factor is just
#   below 0.5 and the gradient from 99 steps back is some thirty decades smaller than at the
#   last step.
# - **$\gamma = 1$ still vanishes.** $W_{hh}$ alone would preserve every norm, but each step also
#   multiplies by $1 - h_k^2 < 1$. With tanh there is no safe setting: to keep the gradient
#   alive, $W_{hh}$ must stretch by just enough to make up for the tanh, on every step, whatever
#   the inputs.
# - **$\gamma = 2$ and $3$ explode, but at a rate well below $\gamma$.** The larger the gain,
#   the more units saturate ($|h| \to 1$, slope $\to 0$), which eats into the growth. The
#   bound $\gamma^{T-t}$ is the worst case, not the rule.
#
# *Try it*: add gains between 1.0 and 2.0 to `GAINS`. Where does $r$ cross 1? Is that curve
# flat, or does it bend?
#
# **Explore.** The same measurement with sliders: the gain (`recurrent scale`) and the length
# $T$, for a smaller RNN ($H = 16$, so that it redraws at once). Find the gain at which the
# curve turns flat. The orange curve is the LSTM of notebooks 03–04 with recurrent weights of
# the same scale: its gradient fades far more slowly. Its forget-bias slider will mean
# something after notebook 04.

# %% tags=["nbval-ignore-output"]
GradientFlowExplorer(scale=1.0, length=T)

# %% [markdown]
# Without a widget frontend (on GitHub, or in CI) the sliders do not show, but the picture does:
# the explorer stores a still of its starting values. Behind it is a plain function,
# `gradient_flow`, whose numbers at gain 1 are these:

# %%
comparison = gradient_flow(scale=1.0, length=T)
print(f"gain 1, T = {T}: fitted factor per step {comparison.rnn_rate:.3f} (RNN), "
      f"{comparison.lstm_rate:.3f} (LSTM)")
assert comparison.rnn_rate < 1 and comparison.lstm_rate > comparison.rnn_rate + 0.05, (
    "the LSTM's gradient fades more slowly than the RNN's")

# %% [markdown]
# ## 4. Exploding gradients and clipping
#
# At $\gamma = 3$ the gradient of the weights is astronomically large, and a gradient step
# moves the weights by the learning rate *times* that. The standard remedy (Pascanu et al. 2013)
# is to clip the gradient's norm: treat all the parameters' gradients $g_1, \dots, g_P$ as one
# long vector, and if its norm exceeds a threshold $c$, scale it down to length $c$:
#
# $$\|g\| = \sqrt{\textstyle\sum_{p=1}^{P} \sum_j g_{p,j}^2}, \qquad g_p \leftarrow g_p \cdot
# \min\Big(1, \frac{c}{\|g\|}\Big).$$
#
# The direction of the step is kept; only its length is capped.
#
# **Exercise.** Write `clip_grad_norm(grads, max_norm)`: `grads` a list of tensors of any
# shapes, `max_norm` the threshold $c$; return the clipped gradients as a new list.

# %% tags=["solution"]
def clip_grad_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Scale all gradients by the same factor min(1, max_norm / ||g||), where ||g|| is the norm
    of every entry of every tensor together. grads: tensors of any shapes; returns the clipped
    tensors, same shapes, in the same order."""
    total_norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    scale = min(1.0, max_norm / total_norm.item())
    return [g * scale for g in grads]


# %%
check("clip_grad_norm", clip_grad_norm)

# %% [markdown]
# Now on real exploding gradients: the $\gamma = 3$ RNN's gradient on the batch above, clipped
# by your function and by `torch.nn.utils.clip_grad_norm_` (which clips the `.grad` of the
# parameters in place and returns the norm before clipping).

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
exploding = rnn_with_gain(3.0, H)
adding.loss_fn(exploding(batch.x), batch).backward()
grads = [p.grad.clone() for p in exploding.parameters()]


def flat(tensors) -> torch.Tensor:
    """Several tensors as one long vector, (total number of entries,)."""
    return torch.cat([t.flatten() for t in tensors])


norm_before = nn.utils.clip_grad_norm_(exploding.parameters(), max_norm=1.0).item()
agree("clip by hand vs torch", flat(clip_grad_norm(grads, 1.0)),
      flat(p.grad for p in exploding.parameters()))
print(f"gradient norm before clipping: {norm_before:.1e}")
assert norm_before > 1e6, "expected an exploding gradient at gain 3"

# %% [markdown]
# Equal to rounding, but not necessarily bit for bit: torch computes the total norm as the norm
# of the per-tensor norms, a different order of summation from ours, and at a norm this
# large its guard against an all-zero gradient (it divides by $\|g\| + 10^{-6}$) changes
# nothing. From here on we use torch's version (`fit(..., clip=1.0)` calls it).
#
# What does one plain gradient-descent step do with and without the clip? Learning rate 0.01:

# %% tags=["nbval-ignore-output"]
def after_one_step(
    model: SequenceModel, grads: list[torch.Tensor], lr: float
) -> tuple[float, float]:
    """Take one SGD step on a copy of model with grads; return (fraction of saturated hidden
    units |h| > 0.99 on the batch, norm of the recurrent layer's new gradient)."""
    stepped = SequenceModel("rnn", input_size=2, hidden_size=H, output_size=1).double()
    stepped.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p, g in zip(stepped.parameters(), grads):
            p -= lr * g
    adding.loss_fn(stepped(batch.x), batch).backward()
    saturated = (stepped.core(batch.x)[0].abs() > 0.99).double().mean().item()
    return saturated, flat(p.grad for p in stepped.core.parameters()).norm().item()


saturated_before = (exploding.core(batch.x)[0].abs() > 0.99).double().mean().item()
print(f"before the step: {100 * saturated_before:.0f}% of the hidden units saturated")
for name, step_grads in [("unclipped", grads), ("clipped to 1", clip_grad_norm(grads, 1.0))]:
    saturated, new_norm = after_one_step(exploding, step_grads, lr=0.01)
    print(f"{name:>13} step: moves the weights by {0.01 * flat(step_grads).norm():.1e}; "
          f"{100 * saturated:.0f}% saturated; recurrent gradient now {new_norm:.1e}")
saturated_unclipped, norm_unclipped = after_one_step(exploding, grads, lr=0.01)
saturated_clipped, norm_clipped = after_one_step(exploding, clip_grad_norm(grads, 1.0), lr=0.01)
assert saturated_unclipped > 0.99 and norm_unclipped < 1e-6, "expected a dead network"
assert abs(saturated_clipped - saturated_before) < 0.05, "expected a small clipped step"
assert norm_clipped > 1e6, "expected the gradient to explode again at the next step"

# %% [markdown]
# One unclipped step throws the weights so far that every hidden unit is pinned at $\pm 1$:
# tanh's slope there is zero, no gradient flows into the recurrent layer any more, and training
# is over. The clipped step moves the weights by at most $0.01 \times 1$ and leaves the network
# as it was. Its next gradient is just as huge: clipping does not cure the explosion, it stops
# each step from acting on it.
#
# **And with Adam?** `fit` trains with Adam, which divides each weight's step by a running root
# mean square of its gradient, $\sqrt{\hat v}$ with $v \leftarrow \beta_2 v + (1 - \beta_2)
# g^2$. A spike $r$ times the usual gradient cannot throw the weights far: in the step it
# arrives, $m$ and $v$ both jump, and the step is about $(1 - \beta_1) / \sqrt{1 - \beta_2}
# \approx 3$ learning rates, whatever $r$. The harm comes after: $v$ now holds $(1 - \beta_2) r^2$
# times the usual $g^2$ and forgets it by $\beta_2$ per step, so every later step is shrunk until
# $v$ is back. Steps stay below half their usual size for about
# $\ln\big((1 - \beta_2)(r^2 - 1) / 3\big) / (-\ln \beta_2)$ steps: with torch's
# $\beta_2 = 0.999$, on the order of $1 / (1 - \beta_2) = 1000$ steps of stalled learning. One
# weight, a steady gradient of 1 and one spike of $r = 100$:

# %%
lr, (beta1, beta2), r, spike_at = 1e-3, (0.9, 0.999), 100.0, 3000
w = torch.zeros(1, requires_grad=True)
adam = torch.optim.Adam([w], lr=lr, betas=(beta1, beta2))
step_size = []  # |update| / lr at each step
for step in range(spike_at + 3000):
    w.grad = torch.full_like(w, r if step == spike_at else 1.0)  # a steady gradient, one spike
    before = w.detach().clone()
    adam.step()
    step_size.append(((w.detach() - before).abs() / lr).item())
after = step_size[spike_at + 1:]
lowest = after.index(min(after))
stalled = next(k for k in range(lowest, len(after)) if after[k] > 0.5) + 1  # steps after the spike
predicted = math.log((1 - beta2) * (r**2 - 1) / 3) / -math.log(beta2)
print(f"step size in learning rates: {step_size[spike_at - 1]:.2f} before the spike, "
      f"{step_size[spike_at]:.2f} at it (the (1 - beta1) / sqrt(1 - beta2) rule: "
      f"{(1 - beta1) / math.sqrt(1 - beta2):.2f}), as low as {min(after):.2f} after it")
print(f"below half its usual size for {stalled} steps; predicted {predicted:.0f}")
assert 2.5 < step_size[spike_at] < 3.5, "a spike moves a weight by about 3 learning rates"
assert abs(stalled - predicted) < 0.1 * predicted, "the stall lasts as long as v takes to decay"

# %% [markdown]
# So with Adam a spike costs time rather than the network: clipping the spike before Adam sees
# it keeps $v$ at its usual size (exercise 5).
#
# **Why clipping does nothing for vanishing.** The gradient of $W_{hh}$ is a sum over steps
# (notebook 01), one term per step, and the term of step $t$ is built from $\partial \mathcal{L} /
# \partial h_t$. Clipping multiplies *every* term by the same factor, and never by more than 1.
# If the terms from far steps are $10^{-30}$ of the near ones before clipping, they are
# $10^{-30}$ of them after: the update still only learns from the last few steps. And below
# float32's resolution ($1.2 \times 10^{-7}$), a far term added to a near one does not even
# change the sum.

# %%
ratio_small = (flows[0.5].h[0] / flows[0.5].h[-1]).item()
print(f"gain 0.5: ||dL/dh_t|| at the far end / at the near end = {ratio_small:.0e}; "
      f"float32 resolution {torch.finfo(torch.float32).eps:.1e}")
assert ratio_small < torch.finfo(torch.float32).eps, "expected it below float32 resolution"

# %% [markdown]
# To remember a distant input, the network needs a path along which the gradient is multiplied
# by something close to 1 at every step, whatever the inputs: that is what the LSTM's memory
# cell provides (notebook 03).
#
# ## 5. The adding problem
#
# A task that *needs* such a path. Hochreiter & Schmidhuber (1997, experiment 4) introduced it
# with values in $[-1, 1]$ and a target scaled into $[0, 1]$; the form used here, and in most
# later work, is the one of Le, Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio (2016). Each
# sequence has $T$ steps and two input channels, $x$ $(N, T, 2)$:
#
# - channel 0: a number $u_t$, uniform in $[0, 1]$, at every step;
# - channel 1: a marker, 1 at exactly two steps (one in the first half of the sequence, one in
#   the second), 0 elsewhere.
#
# The target, read after the last step, is the sum of the two marked numbers, $y = u_{t_1} +
# u_{t_2}$, $(N, 1)$; the loss is the mean squared error. To solve it the network must notice
# the first marker, hold $u_{t_1}$ for up to $T$ steps while ignoring everything else, and add
# $u_{t_2}$.

# %%
example = AddingProblem(length=profile.lags[-1]).batch(1, torch.Generator().manual_seed(3))
values, marker = example.x[0, :, 0], example.x[0, :, 1]  # (T,), (T,)
marked = marker.nonzero().flatten()
steps = torch.arange(1, len(values) + 1)
plt.gca().xaxis.set_major_locator(MaxNLocator(integer=True))
plt.bar(steps, values, color="lightgray", label="$u_t$ (channel 0)")
plt.bar(steps[marked], values[marked], color="tab:red", label="marked steps (channel 1 = 1)")
plt.xlabel("step $t$")
plt.ylabel("$u_t$")
plt.title(f"Target y = {values[marked[0]]:.2f} + {values[marked[1]]:.2f} = "
          f"{example.y.item():.2f}: the sum of the two marked values")
plt.legend(loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
assert torch.isclose(example.y[0, 0], values[marked].sum())

# %% [markdown]
# **The baseline.** A network that remembers nothing can still output a constant. The best
# constant under squared error is the mean, $\mathbb{E}[y] = 1$, and its loss is the variance:
# $\operatorname{Var}(u_{t_1} + u_{t_2}) = 2 \cdot \tfrac{1}{12} = \tfrac{1}{6} \approx 0.167$.
# A model that remembered only the later, nearer number would predict $u_{t_2} + 0.5$ and
# score half that, $\tfrac{1}{12}$. Anything near $\tfrac16$ means nothing was remembered.

# %%
big = AddingProblem(length=profile.lags[-1]).batch(20_000, torch.Generator().manual_seed(4))
constant_mse = adding.loss_fn(torch.ones_like(big.y), big).item()
print(f"predicting 1 for every sequence: MSE {constant_mse:.3f}; "
      f"baseline 1/6 = {adding.baseline:.3f}")
assert abs(adding.baseline - 1 / 6) < 1e-12
assert abs(constant_mse - 1 / 6) < 0.01, "the constant 1 should score the baseline"

# %% [markdown]
# ## 6. A tanh RNN on the adding problem, as $T$ grows
#
# Section 3 predicts what happens: at a typical initialisation the gradient from the first
# marker shrinks by a constant factor per step, so the longer the sequence, the less the
# network can learn about $u_{t_1}$. We train the tanh RNN with `course_lstm.training.fit`
# (Adam, gradients clipped to norm 1, a fresh batch each step, the loss measured on a fixed
# held-out batch) for the same number of steps at each of the profile's lags. One seed here;
# notebook 06 runs several.

# %% tags=["nbval-ignore-output"]
print(f"profile {profile.name}: lags {profile.lags}, hidden size {profile.hidden_size}, "
      f"{profile.steps} steps, batch {profile.batch_size}, lr {profile.lr}")
final_loss = {}
for lag in profile.lags:
    torch.manual_seed(0)
    rnn_model = SequenceModel("rnn", input_size=2, hidden_size=profile.hidden_size, output_size=1,
                              implementation="torch").to(profile.device)  # fit trains where the model is
    history = fit(rnn_model, AddingProblem(length=lag), profile.steps,
                  batch_size=profile.batch_size, lr=profile.lr, clip=1.0, seed=0,
                  eval_every=profile.eval_every, eval_batch_size=profile.eval_batch_size,
                  stop_when_solved=False, progress=False)
    final_loss[lag] = history.final_eval_loss
    print(f"T = {lag:4d}: held-out MSE = {final_loss[lag] / adding.baseline:.2f} x baseline")

# %%
lags = list(final_loss)
plt.plot(lags, [final_loss[lag] for lag in lags], "o", label="tanh RNN (held-out MSE), one run per lag")
plt.axhline(adding.baseline, color="k", linestyle="--", label="baseline 1/6: predict the mean")
plt.axhline(adding.baseline / 2, color="gray", linestyle=":",
            label="1/12: remember only the nearer number")
plt.xscale("log")
plt.xticks(lags, [str(lag) for lag in lags])
plt.minorticks_off()
plt.ylim(0, 1.25 * max(adding.baseline, *final_loss.values()))
plt.xlabel("sequence length $T$ (steps)")
plt.ylabel("held-out MSE after training")
plt.title(f"The RNN learns T = {lags[0]}, but at T = {lags[-1]} it stays near the baseline")
plt.legend(loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
assert final_loss[lags[0]] < 0.5 * adding.baseline, "expected the RNN to learn the shortest lag"
# 1/2 of the baseline is what remembering only the nearer number scores: the RNN stays above it
assert final_loss[lags[-1]] > 0.6 * adding.baseline, "expected the RNN to fail at the longest lag"

# %% [markdown]
# **What this run can and cannot show.** In the `ci` profile (two lags, 5 and 25; 32 hidden
# units; 800 steps; one seed here) the RNN learns $T = 5$ and is still near the baseline at
# $T = 25$, where it has not even learned to use the nearer number. That is consistent with
# vanishing gradients, but it does not prove them: a longer run, another seed or another
# learning rate might move the $T = 25$ point, and two lags cannot show *where* the failure
# sets in. The `cpu` profile (lags 10 to 100, 3 seeds, 1500 steps) gives the full
# picture; notebook 06 runs it with the LSTM beside the RNN.
#
# *Try it*: train for `3 * profile.steps` steps instead of `profile.steps`. Does the point at the
# longest lag drop below the $\tfrac{1}{12}$ line?
#
# ## Summary
#
# - Backpropagation through time multiplies the gradient by one Jacobian per step,
#   $J_k = \operatorname{diag}(1 - h_k^2)\, W_{hh}$ $(H, H)$; your closed form matched
#   `diagnostics.step_jacobians`.
# - $\|\partial h_T / \partial h_t\|_2 \le \sigma_{\max}(W_{hh})^{T-t}$ because tanh's slope is
#   at most 1: $\sigma_{\max} < 1$ guarantees vanishing. In practice the product decays at
#   about the spectral radius $\rho \le \sigma_{\max}$ per step, lower still with tanh.
# - With $W_{hh} = \gamma Q$, gains $\gamma \le 1$ vanish (even $\gamma = 1$, because of tanh),
#   and $\gamma = 3$ explodes, at a rate well below $\gamma$ because saturated units damp it.
# - Clipping the gradient's total norm caps the step without changing its direction: it saves
#   training from one exploding step, but it scales every step's contribution alike, so it
#   cannot bring back a vanished one.
# - On the adding problem (baseline MSE $\tfrac16$, predicting the mean) a tanh RNN learns
#   short lags and stays near the baseline at longer ones.
#
# ## Exercises
#
# 1. Write `clip_grad_norm(grads, max_norm)` (section 4) and check it with
#    `check("clip_grad_norm", clip_grad_norm)`. Then clip each tensor by its *own* norm instead
#    of the total, and read what the checker says.
# 2. Replace the orthogonal $Q$ in `rnn_with_gain` by `torch.randn(H, H) / H**0.5` scaled to
#    spectral radius $\gamma$ (divide by its $\rho$, multiply by $\gamma$). Print
#    $\sigma_{\max}$ for $\gamma = 0.9$: is the bound $\sigma_{\max}^{T-t}$ still useful? Does
#    the fitted $r$ stay below $\rho$, below $\sigma_{\max}$, or neither?
# 3. A ReLU RNN has slope exactly 1 on its active units. Swap the core for
#    `course_lstm.RNN(2, H, nonlinearity="relu", batch_first=True, dtype=torch.float64)`
#    (with `model.core.weight_hh_l0` set to $\gamma Q$) and redo section 3's measurement. At
#    which gain is the curve flattest now, and why?
# 4. Re-run section 6 with `COURSE_LSTM_PROFILE=cpu`. At which lag does the RNN's loss reach
#    the baseline?
# 5. In the Adam cell of section 4, clip the spike before Adam sees it (`w.grad.clamp_(-1, 1)`
#    after setting it). How long is the stall now? Predict it from the formula first.
