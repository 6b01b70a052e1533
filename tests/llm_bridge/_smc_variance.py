r"""The exact asymptotic variance of the LLM particle filter's weighted estimates on the fake process.

For a Feynman-Kac model with multinomial resampling after the last step ``e`` of each block
``[s, e]`` of steps (a block starts at step 1 and after every resampling), the weighted estimate
:math:`\sum_i W_T^i \varphi(X_T^i)` satisfies a CLT with variance :math:`\sigma^2(\varphi)/N`,

.. math:: \sigma^2(\varphi) = \sum_{[s,e]} \frac{\mathbb E_{s}\big[(W_{s:e}\, F_e(\varphi - \pi_T\varphi))^2\big]}
   {\mathbb E_{s}\big[W_{s:e}\, F_e 1\big]^2},
   \qquad W_{s:e} = \prod_{q=s}^{e} G_q(X_q), \quad F_e f(x_e) = \mathbb E\Big[\prod_{q=e+1}^T G_q(X_q) f(X_T)
   \,\Big|\, x_e\Big],

where :math:`\mathbb E_s` runs the path from :math:`X_s \sim \eta_s` (the predictive law at step
``s``) through the kernels.  With a resampling at every step this is Del Moral's (2004, Prop. 9.4.2)
:math:`\sum_p \eta_p(Q_{p,T}\bar\varphi^2)/\eta_p(Q_{p,T}1)^2` (Chopin 2004, Thm. 1); with none it is
self-normalised importance sampling's :math:`\mathbb E[W^2 \bar\varphi^2]/\mathbb E[W]^2`.
With ESS-triggered resampling the resampling steps converge to those of the limiting
ESS (Del Moral, Doucet & Jasra 2012), computed here by the same enumeration.  Every quantity is a
finite sum over the fake process's prefixes, so the test tolerances are derived, not measured.

A state is ``(symbols, done, phase)``: it determines the whole path, since a finished particle is
frozen.  ``tokens=True`` is the one-token-a-step filter: a step emits a symbol (``phase="sym"``) or
the delimiter / EOS after it (``phase="end"``), so the symbol and the end decision are two steps.
"""

from __future__ import annotations

import math
from collections import defaultdict


def _kernel(proc, state, tokens=False):
    syms, done, phase = state
    if done:
        return [(state, 1.0)]
    out = []
    if tokens and phase == "sym":  # the token after a symbol: EOS or the delimiter
        pe = proc.end_prob(syms)
        if pe > 0:
            out.append(((syms, True, "end"), pe))
        if pe < 1:
            out.append(((syms, False, "end"), 1 - pe))
        return out
    probs = proc.next_probs(syms)
    for i, s in enumerate(proc.symbols):
        if probs[i] == 0:
            continue
        h = syms + (s,)
        if tokens:
            out.append(((h, False, "sym"), probs[i]))
            continue
        pe = proc.end_prob(h)
        if pe > 0:
            out.append(((h, True, "end"), probs[i] * pe))
        if pe < 1:
            out.append(((h, False, "end"), probs[i] * (1 - pe)))
    return out


def _g(prm, lp, potential, state, prev):
    r = lp(prm.prefix_score(state[0]))
    if potential == "step":
        return math.exp(r)
    before = lp(prm.prefix_score(prev[0])) if prev[0] else 0.0  # logit(0.5) = 0 before the first step
    return math.exp(r - before)


def filter_law(proc, prm, lp, *, potential="step", resampling="every", threshold=0.5, tokens=False):
    """``(target, sigma2)``: the limit law of the weighted final particles over complete answers, and
    ``sigma2(cell)`` the asymptotic variance (times N) of the weighted estimate of each cell's probability."""
    # forward: predictive laws eta_t over states, each state's parent, potentials, resampling decisions
    etas, parents, gs, starts, blocks, margins = [], [], [], [1], [], []
    layer = {((), False, "end"): 1.0}
    block_nu, block_w = None, None
    T = proc.max_len * (2 if tokens else 1)

    def _trans(x, y):
        return dict(_kernel(proc, x, tokens)).get(y, 0.0)

    for t in range(1, T + 1):
        nxt, par = defaultdict(float), {}
        for x, m in layer.items():
            for y, p in _kernel(proc, x, tokens):
                nxt[y] += m * p
                par[y] = x
        z = sum(nxt.values())
        eta = {y: v / z for y, v in nxt.items()}
        g = {y: _g(prm, lp, potential, y, par[y]) for y in eta}
        etas.append(eta), parents.append(par), gs.append(g)
        if block_nu is None or starts[-1] == t:
            block_nu, block_w = dict(eta), {y: g[y] for y in eta}
        else:
            block_nu = {y: block_nu[par[y]] * _trans(par[y], y) for y in eta}
            block_w = {y: block_w[par[y]] * g[y] for y in eta}
        active = any(not y[1] for y in eta)
        s1 = sum(block_nu[y] * block_w[y] for y in eta)
        s2 = sum(block_nu[y] * block_w[y] ** 2 for y in eta)
        ess_ratio = s1 * s1 / s2
        margins.append(abs(ess_ratio - threshold))
        fire = {"every": True, "ess": ess_ratio < threshold, "never": False}[resampling]
        if fire and active and t < T:
            starts.append(t + 1)
        blocks.append((block_nu, block_w))
        # the particles at step t+1 come from the weighted law eta_t * G_t
        zg = sum(eta[y] * g[y] for y in eta)
        layer = {y: eta[y] * g[y] / zg for y in eta}
    final = {y: etas[-1][y] * gs[-1][y] for y in etas[-1]}
    zf = sum(final.values())
    target = defaultdict(float)
    for y, v in final.items():
        target[y[0]] += v / zf

    def sigma2(cell):
        phi = {y: (1.0 if y[0] == cell else 0.0) - target[cell] for y in etas[-1]}
        f, f1 = phi, {y: 1.0 for y in phi}
        fs = {T: (f, f1)}
        for t in range(T - 1, 0, -1):  # backward: F_t f(x_t) = sum_y M(x_t, y) G_{t+1}(y) F_{t+1} f(y)
            acc, acc1 = defaultdict(float), defaultdict(float)
            for y, x in parents[t].items():
                p = _trans(x, y) * gs[t][y]
                acc[x] += p * f[y]
                acc1[x] += p * f1[y]
            f = {x: acc[x] for x in etas[t - 1]}
            f1 = {x: acc1[x] for x in etas[t - 1]}
            fs[t] = (f, f1)
        total = 0.0
        ends = [s - 1 for s in starts[1:]] + [T]
        for e in ends:
            nu, w = blocks[e - 1]
            fe, f1e = fs[e]
            total += sum(nu[x] * (w[x] * fe[x]) ** 2 for x in nu) / sum(nu[x] * w[x] * f1e[x] for x in nu) ** 2
        return total

    filter_law.margins = margins  # |limit ESS/N - threshold| at each step (ESS trigger robustness)
    return dict(target), sigma2, starts
