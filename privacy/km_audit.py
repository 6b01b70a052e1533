r"""Empirical privacy audit of Kaplan-Meier releases, and the paper's "influential points" analysis.

**Membership game** (add-remove adjacency). :math:`D_1` is the data set, :math:`D_0 = D_1` minus
one target record (by default the *most exposed* one: the largest leave-one-out change of the
exact curve). Each trial draws a bit, releases the mechanism on :math:`D_{\text{bit}}` with fresh
noise, and an attacker scores the release:

* ``"curve"``: the likelihood-ratio-like score :math:`\lVert \tilde S - S_0\rVert_2^2 -
  \lVert \tilde S - S_1\rVert_2^2` against the two noiseless curves (on the public grid, or on the
  event times of :math:`D_1` for the paper's mechanism, as a step function);
* ``"counts"`` (histogram/tree): the released count of the target's cell (the optimal test
  for a Laplace count);
* ``"index"`` (paper): whether the target's event time appears in the release's time index.

The decision threshold is chosen on a calibration half of the trials (the one maximising the
plug-in epsilon), the other half gives the counts :class:`~privacy.AttackCounts` and the Bayesian
posterior of epsilon (:func:`~privacy.epsilon_posterior`, Zanella-Beguelin et al. 2023). The
posterior lower bound estimates a lower bound on the mechanism's true epsilon *for this attack*:
a provable mechanism must sit at or below its claimed epsilon; a higher one is a violation. For a
nearly tight attack (the Laplace count) the 95% bound still exceeds the true epsilon in about 5%
of audits by design (measured: 4 of 100 on a Laplace count and on the histogram's count attack),
so a single exceedance by a few percent is not evidence; repeated or large ones are.

**Influential points** (Veeraragavan et al. 2024, reconstructed): record ``i`` is influential at
threshold :math:`\tau` when the released curve on :math:`D` and on :math:`D \setminus \{i\}` differ
by more than :math:`\tau` in sup norm. With independent noise in the two releases (what the
paper's counts most likely measure) the count reflects the *noise level*; with common random
numbers it isolates the data's effect. Neither is a privacy certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from probinf.deprecation import renamed_argument, renamed_attribute
from probinf.randomness import check_random_state

from .counts import AttackCounts, empirical_epsilon
from .epsilon import epsilon_posterior, renamed_level
from .exceptions import PrivacyDeprecationWarning
from .survival.data import cell_counts
from .survival.mechanisms import product_limit, release_histogram, release_tree
from .survival.paper import km_event_times, release_paper

__all__ = [
    "AuditResult",
    "loo_influence",
    "most_exposed_record",
    "membership_scores",
    "audit_scores",
    "audit_km",
    "audit_laplace_count",
    "search_target",
    "influential_points",
]


def _step(index, curves, times):
    """Right-continuous step function with value 1 before ``index[0]``; ``curves`` (..., T) -> (..., len(times))."""
    pos = np.searchsorted(index, times, side="right") - 1
    padded = np.concatenate([np.ones(curves.shape[:-1] + (1,)), curves], axis=-1)
    return padded[..., pos + 1]


def loo_influence(durations, events, times=None):
    """Leave-one-out sup-norm change of the exact KM at ``times`` (default: all event times), shape (n,)."""
    t = np.asarray(durations, float)
    e = np.asarray(events).astype(int)
    u, s, _, _ = km_event_times(t, e)
    times = u if times is None else np.asarray(times, float)
    full = _step(u, s, times)
    out = np.empty(t.size)
    for i in range(t.size):
        ui, si, _, _ = km_event_times(np.delete(t, i), np.delete(e, i))
        out[i] = np.max(np.abs(_step(ui, si, times) - full)) if ui.size else np.max(np.abs(1 - full))
    return out


def most_exposed_record(durations, events, times=None) -> int:
    """Index of the record with the largest leave-one-out change of the exact curve."""
    return int(np.argmax(loo_influence(durations, events, times)))


@dataclass
class AuditResult:
    """Outcome of one audit: the counts on the evaluation half and the epsilon posterior summary."""

    mechanism: str
    attack: str
    claimed_epsilon: float
    counts: AttackCounts
    threshold: float
    empirical_epsilon: float
    lower_bound: float
    interval: tuple
    confidence_level: float
    delta: float
    extra: dict = field(default_factory=dict)
    level = renamed_attribute("level", "confidence_level", PrivacyDeprecationWarning)

    def to_dict(self) -> dict:
        return {
            "mechanism": self.mechanism, "attack": self.attack, "claimed_epsilon": self.claimed_epsilon,
            "tp": self.counts.tp, "fn": self.counts.fn, "tn": self.counts.tn, "fp": self.counts.fp,
            "threshold": self.threshold, "empirical_epsilon": self.empirical_epsilon,
            f"lower_bound_{self.confidence_level:g}": self.lower_bound,
            "interval_lo": self.interval[0], "interval_hi": self.interval[1], "delta": self.delta, **self.extra,
        }


def audit_scores(scores, bits, *, claimed_epsilon, mechanism, attack, delta=0.0, confidence_level=0.95,
                 random_state=None, level=None, rng=None):
    """Calibrate a threshold on half of the trials, count on the other half, estimate epsilon.

    The bounds are at ``confidence_level``; ``random_state`` (None, int or Generator) draws the calibration
    half.  ``level`` and ``rng`` are the former names of ``confidence_level`` and ``random_state`` (deprecated;
    they warn).
    """
    confidence_level = renamed_level(level, confidence_level)
    random_state = renamed_argument(rng, random_state, old="rng", new="random_state", default=None,
                                    category=PrivacyDeprecationWarning)
    scores = np.asarray(scores, float)
    bits = np.asarray(bits).astype(int)
    perm = check_random_state(random_state).permutation(scores.size)
    cal, ev = perm[: scores.size // 2], perm[scores.size // 2 :]
    cands = np.unique(np.quantile(scores[cal], np.linspace(0.0, 1.0, 201)))
    b = bits[cal] == 1
    g = scores[cal][None, :] >= cands[:, None]  # (candidates, trials)
    fp, tn = g[:, ~b].sum(axis=1), (~g[:, ~b]).sum(axis=1)
    fn, tp = (~g[:, b]).sum(axis=1), g[:, b].sum(axis=1)
    # pessimistic plug-in: upper 95% Jeffreys bounds of both error rates, so that thresholds
    # with a handful of hits in the calibration half are not favoured by chance
    a_hi = stats.beta.ppf(0.95, fp + 0.5, tn + 0.5)
    b_hi = stats.beta.ppf(0.95, fn + 0.5, tp + 0.5)
    # scores are oriented (larger = member), so only the region below the anti-diagonal counts
    crit = np.where(a_hi + b_hi < 1.0, empirical_epsilon(np.minimum(a_hi, 1.0), np.minimum(b_hi, 1.0), delta), 0.0)
    thr = float(cands[int(np.argmax(crit))])
    counts = AttackCounts.from_scores(scores[ev], thr, bits[ev])
    post = epsilon_posterior(counts, delta)
    return AuditResult(
        mechanism=mechanism, attack=attack, claimed_epsilon=float(claimed_epsilon), counts=counts, threshold=thr,
        empirical_epsilon=float(counts.empirical_epsilon(delta)), lower_bound=post.lower_bound(confidence_level),
        interval=post.interval(confidence_level), confidence_level=confidence_level, delta=delta,
    )


def audit_laplace_count(epsilon, *, n_trials=20000, noise_epsilon=None, delta=0.0, confidence_level=0.95,
                        random_state=0, level=None):
    """Audit of a Laplace count with known epsilon (0 vs 1 record, scale 1/noise_epsilon): the validation case.

    ``noise_epsilon`` (default ``epsilon``) lets a test build a broken mechanism that claims
    ``epsilon`` but adds less noise.  ``level`` is the former name of ``confidence_level`` (deprecated).

    Examples
    --------
    >>> from privacy.km_audit import audit_laplace_count
    >>> audit_laplace_count(1.0, n_trials=8000, random_state=0).lower_bound <= 1.0
    True
    >>> audit_laplace_count(1.0, noise_epsilon=3.0, n_trials=8000, random_state=0).lower_bound > 1.0
    True
    """
    confidence_level = renamed_level(level, confidence_level)
    rng = np.random.default_rng(random_state)
    ne = float(epsilon if noise_epsilon is None else noise_epsilon)
    bits = rng.integers(0, 2, n_trials)
    scores = bits + rng.laplace(0.0, 1.0 / ne, n_trials)
    return audit_scores(scores, bits, claimed_epsilon=epsilon, mechanism="laplace-count", attack="counts",
                        delta=delta, confidence_level=confidence_level, random_state=rng)


def membership_scores(durations, events, target, mechanism, epsilon, *, grid=None, attack="curve",
                      adjacency="add-remove", convention="actuarial", n_trials=10000, num_shadow=2000, random_state=0,
                      n_shadow=None):
    r"""Scores and bits of the membership game for ``target`` (an index into the data); see module docstring.

    The ``"curve"`` attacker knows both candidate data sets and the mechanism (the auditing threat
    model): it simulates ``num_shadow`` releases of each, and scores a release by the linear
    discriminant :math:`\sum_j (\mu_{1j} - \mu_{0j}) c_j / v_j` (per-point means and pooled
    variances of the shadow releases).  ``n_shadow`` is the former name of ``num_shadow`` (deprecated for one
    release; it warns).
    """
    num_shadow = renamed_argument(n_shadow, num_shadow, old="n_shadow", new="num_shadow", default=2000,
                                  category=PrivacyDeprecationWarning)
    t = np.asarray(durations, float)
    e = np.asarray(events).astype(int)
    rng = np.random.default_rng(random_state)
    bits = rng.integers(0, 2, n_trials)
    data = {1: (t, e), 0: (np.delete(t, target), np.delete(e, target))}
    if mechanism == "paper":
        u1 = km_event_times(*data[1])[0]
        u0 = km_event_times(*data[0])[0]

        def curves(b, size):
            u, c, _ = release_paper(*data[b], epsilon, rng, size=size)
            return _step(u, c, u1)
    elif mechanism in ("histogram", "tree"):
        g = np.asarray(grid, float)
        cells = {b: cell_counts(*data[b], g).astype(float) for b in (0, 1)}
        n_pub = {b: (float(data[b][0].size) if adjacency == "replace-one" else None) for b in (0, 1)}
        target_cell = int(np.nonzero(cells[1] - cells[0])[0][0])

        def noisy(b, size):
            if mechanism == "histogram":
                return release_histogram(cells[b], epsilon, adjacency, rng, size=size)
            return release_tree(cells[b], epsilon, adjacency, rng, size=size)[0]

        def curves(b, size):
            return product_limit(noisy(b, size), n_public=n_pub[b], convention=convention)[0]
    else:
        raise ValueError(f"mechanism must be 'histogram', 'tree' or 'paper', got {mechanism!r}")
    if attack not in ("curve", "counts", "index"):
        raise ValueError(f"attack must be 'curve', 'counts' or 'index', got {attack!r}")
    if attack == "counts" and mechanism == "paper" or attack == "index" and mechanism != "paper":
        raise ValueError(f"attack {attack!r} does not apply to mechanism {mechanism!r}")
    if attack == "curve":
        sh = {b: curves(b, num_shadow) for b in (0, 1)}
        var = 0.5 * (sh[0].var(axis=0) + sh[1].var(axis=0))
        w = (sh[1].mean(axis=0) - sh[0].mean(axis=0)) / np.maximum(var, 1e-12)
    scores = np.empty(n_trials)
    for b in (0, 1):
        m = bits == b
        k = int(m.sum())
        if attack == "index":
            u = km_event_times(*data[b])[0]
            present = np.isin(t[target], u) and not np.isin(t[target], u0)
            scores[m] = float(present) + 0.0 * rng.random(k)
        elif attack == "counts":
            scores[m] = noisy(b, k)[:, target_cell]
        else:
            scores[m] = curves(b, k) @ w
    return scores, bits


def audit_km(durations, events, mechanism, epsilon, *, grid=None, attack="curve", target=None, n_trials=10000,
             delta=0.0, confidence_level=0.95, random_state=0, level=None, **kwargs):
    """Run the membership game against a KM mechanism and return its :class:`AuditResult`.

    Parameters
    ----------
    durations, events : array, shape (n,)
        The data set :math:`D_1`; :math:`D_0` drops ``target``.
    mechanism : {"histogram", "tree", "paper"}
    epsilon : float
        Claimed epsilon (the mechanism's parameter).
    grid : array, shape (K,)
        Public grid (histogram, tree).
    attack : {"curve", "counts", "index"}
    target : int, None or "search"
        Record index; None: largest leave-one-out influence; "search": :func:`search_target`.
    n_trials : int
        Trials of the game (half calibrate the threshold, half are counted).
    delta, confidence_level : float
        DP delta of the posterior and the credibility level of the bounds.
    level : float, optional
        Former name of ``confidence_level`` (deprecated; it warns).

    Examples
    --------
    >>> import numpy as np
    >>> from privacy.km_audit import audit_km
    >>> from probinf_cli.reproductions.dp_km import lung_data, COARSE_GRID
    >>> t, e = lung_data()
    >>> res = audit_km(t, e, "histogram", 1.0, grid=COARSE_GRID, attack="counts", n_trials=8000, random_state=1)
    >>> round(res.lower_bound, 2)  # 95% lower bound for a 1-DP mechanism (this attack is nearly tight)
    0.85
    """
    confidence_level = renamed_level(level, confidence_level)
    if isinstance(target, str) and target == "search":
        target = search_target(durations, events, mechanism, epsilon, grid=grid, attack=attack, delta=delta,
                               random_state=random_state + 7919, **kwargs)
    if target is None:
        infl = loo_influence(durations, events, None if mechanism == "paper" else grid)
        if attack == "index":  # only a death at a time no one else died at can be seen in the index
            t = np.asarray(durations, float)
            e = np.asarray(events).astype(int)
            dt = t[e == 1]
            unique_death = (e == 1) & np.array([np.sum(dt == x) == 1 for x in t])
            infl = np.where(unique_death, infl, -np.inf)
        target = int(np.argmax(infl))
    scores, bits = membership_scores(durations, events, target, mechanism, epsilon, grid=grid, attack=attack,
                                     n_trials=n_trials, random_state=random_state, **kwargs)
    res = audit_scores(scores, bits, claimed_epsilon=epsilon, mechanism=mechanism, attack=attack, delta=delta,
                       confidence_level=confidence_level, random_state=random_state + 1)
    res.extra["target"] = int(target)
    return res


def search_target(durations, events, mechanism, epsilon, *, grid=None, attack="curve", n_candidates=8,
                  n_pilot=2000, delta=0.0, random_state=0, **kwargs) -> int:
    """Most vulnerable target found by a pilot game on independent trials.

    Candidates: the ``n_candidates`` records of largest leave-one-out influence, and the first and
    last four deaths at unique times (where the paper's noise is largest/smallest). The pilot's
    trials are not reused, so the final audit's estimate stays unbiased.
    """
    t = np.asarray(durations, float)
    e = np.asarray(events).astype(int)
    infl = loo_influence(t, e, None if mechanism == "paper" else grid)
    cand = list(np.argsort(-infl)[:n_candidates])
    dt = t[e == 1]
    unique_death = np.nonzero((e == 1) & np.array([np.sum(dt == x) == 1 for x in t]))[0]
    by_time = unique_death[np.argsort(t[unique_death])]
    cand += list(by_time[:4]) + list(by_time[-4:])
    if attack == "index":
        cand = [c for c in cand if c in set(unique_death)]
    best, best_val = int(cand[0]), -1.0
    for j, c in enumerate(dict.fromkeys(int(c) for c in cand)):
        sc, bits = membership_scores(t, e, c, mechanism, epsilon, grid=grid, attack=attack, n_trials=n_pilot,
                                     random_state=random_state + j, **kwargs)
        val = audit_scores(sc, bits, claimed_epsilon=epsilon, mechanism=mechanism, attack=attack, delta=delta,
                           random_state=random_state + 1000 + j).lower_bound
        if val > best_val:
            best, best_val = c, val
    return best


def influential_points(durations, events, mechanism, epsilon, *, thresholds=(0.01, 0.02, 0.05, 0.1, 0.2),
                       grid=None, common_noise=False, num_replicates=5, convention="actuarial", random_state=0,
                       n_rep=None):
    """Mean number of records whose removal moves the released curve by more than each threshold.

    Returns a Series indexed by threshold (averaged over ``num_replicates`` repetitions of the noise).
    ``n_rep`` is the former name of ``num_replicates`` (deprecated for one release; it warns).
    """
    num_replicates = renamed_argument(n_rep, num_replicates, old="n_rep", new="num_replicates", default=5,
                                      category=PrivacyDeprecationWarning)
    t = np.asarray(durations, float)
    e = np.asarray(events).astype(int)
    n = t.size
    rng = np.random.default_rng(random_state)
    thr = np.asarray(thresholds, float)
    counts = np.zeros((num_replicates, thr.size))
    if mechanism == "paper":
        u, _, _, _ = km_event_times(t, e)
        for r in range(num_replicates):
            z = rng.laplace(0.0, 1.0, u.size)
            _, full, _ = release_paper(t, e, epsilon, rng, standard_noise=z)
            infl = np.empty(n)
            for i in range(n):
                ti, ei = np.delete(t, i), np.delete(e, i)
                ui = km_event_times(ti, ei)[0]
                zi = z[np.searchsorted(u, ui)] if common_noise else None
                _, ci, _ = release_paper(ti, ei, epsilon, rng, standard_noise=zi)
                infl[i] = np.max(np.abs(_step(ui, ci, u) - full))
            counts[r] = (infl[:, None] > thr).sum(axis=0)
    else:
        g = np.asarray(grid, float)
        base = cell_counts(t, e, g).astype(float)
        loo = np.repeat(base[None, :], n, axis=0)
        for i in range(n):
            loo[i] -= cell_counts(t[i : i + 1], e[i : i + 1], g)
        for r in range(num_replicates):
            if mechanism == "histogram":
                full = release_histogram(base, epsilon, "add-remove", rng)
                rel = (loo + (full - base)) if common_noise else release_histogram(loo, epsilon, "add-remove", rng)
            elif mechanism == "tree":
                full, nodes = release_tree(base, epsilon, "add-remove", rng)
                if common_noise:
                    rel = loo + (full - base)  # OLS is linear: same node noise, same leaf noise
                else:
                    rel = release_tree(loo, epsilon, "add-remove", rng)[0]
            else:
                raise ValueError(f"mechanism must be 'histogram', 'tree' or 'paper', got {mechanism!r}")
            s_full = product_limit(full, convention=convention)[0]
            s_loo = product_limit(rel, convention=convention)[0]
            infl = np.max(np.abs(s_loo - s_full), axis=-1)
            counts[r] = (infl[:, None] > thr).sum(axis=0)
    return pd.Series(counts.mean(axis=0), index=pd.Index(thr, name="threshold"), name="influential_points")
