r"""Empirical privacy audit of DP-SGD: canaries, a loss-threshold attack, and the epsilon posterior.

Pipeline (Jagielski et al. 2020; Nasr et al. 2021; Zanella-Beguelin et al. 2023):

1. Data: scikit-learn's bundled ``digits`` (1,797 8x8 images, 10 classes; no download),
   standardised.  A fixed *base* training set; the rest is a pool of potential canaries.
2. For each of ``n_models`` training runs, draw ``canaries_per_model`` canaries from the pool and
   give each a wrong label (mislabelled points are the hardest to learn without memorising,
   hence the most exposed).  Each canary's challenge bit is an independent fair coin: included
   in the training set (member) or not.
3. Train a small MLP with DP-SGD (opacus ``PrivacyEngine``: per-example clipping to
   ``max_grad_norm``, Gaussian noise ``noise_multiplier * max_grad_norm``, Poisson sampling).
4. Loss-threshold attack: guess "member" when the canary's loss is below a threshold.  The
   threshold is chosen on *calibration* canaries (a random half of each run's canaries,
   maximising the Clopper-Pearson lower bound) and applied to the other half, whose outcomes
   are the counts.
5. Posterior of epsilon from the counts (:func:`privacy.epsilon_posterior`), Clopper-Pearson
   baseline, and the accountant's epsilon for the same training (opacus RDP and PRV).
6. Check: the empirical lower bound must not exceed the accountant's epsilon.  A violation
   means a broken pipeline (accounting, clipping, or attack bookkeeping) and raises
   :class:`privacy.AuditViolationError` (or is flagged in the result with ``strict=False``).

Several canaries per model (the paper's heuristic, adapted from label-only auditing):
counting every canary of a run as a separate Bernoulli trial assumes the trials are
independent given the rates.  They are not exactly (they share one noisy training run), so
the resulting interval is a heuristic; what is guaranteed is only that *each* trial's
(FPR, FNR) satisfies the run's (eps, delta) guarantee, because every canary's inclusion is
an add/remove-one neighbour given the others.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from privacy._numbers import real_number
from privacy.baselines import EpsilonInterval, clopper_pearson_interval, clopper_pearson_lower_bound
from privacy.counts import AttackCounts, _check_delta
from privacy.epsilon import EpsilonPosterior, check_level, epsilon_posterior, renamed_level
from privacy.exceptions import AuditViolationError, PrivacyDeprecationWarning, PrivacyParameterError, PrivacyWarning
from probinf.deprecation import renamed_attribute

__all__ = ["AuditResult", "run_audit", "check_audit", "load_digits_split", "accountant_epsilon"]


def check_audit(lower_bound: float, theoretical_epsilon: float, *, strict: bool = True, what: str = "") -> bool:
    """Check that an empirical lower bound does not exceed the theoretical epsilon.

    Returns ``True`` when consistent.  On a violation raises :class:`AuditViolationError`
    (``strict=True``) or warns with :class:`PrivacyWarning` and returns ``False``.
    """
    lb, th = real_number(lower_bound, "lower_bound"), real_number(theoretical_epsilon, "theoretical_epsilon")
    if math.isnan(lb) or math.isnan(th):
        raise ValueError(f"lower_bound and theoretical_epsilon must be numbers, got {lower_bound!r}, "
                         f"{theoretical_epsilon!r}")
    if lb <= th:
        return True
    msg = (f"audit violation{(' (' + what + ')') if what else ''}: the empirical lower bound {lb:.4g} exceeds the "
           f"theoretical epsilon {th:.4g}. The training does not satisfy the privacy it claims (check the "
           "accountant's inputs, clipping and noise) or the attack's bookkeeping is wrong (e.g. members "
           "and non-members swapped, a threshold tuned on the evaluation trials).")
    if strict:
        raise AuditViolationError(msg)
    warnings.warn(msg, PrivacyWarning, stacklevel=2)
    return False


def load_digits_split(n_base: int = 1000, random_state: int = 0):
    """Standardised scikit-learn digits split into a base training set and a canary pool.

    Returns ``(X_base, y_base, X_pool, y_pool)`` as float32 / int64 NumPy arrays.
    """
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    if not (10 <= n_base < len(X) - 10):
        raise ValueError(f"n_base must be in [10, {len(X) - 10}), got {n_base}")
    perm = np.random.default_rng(random_state).permutation(len(X))
    X = StandardScaler().fit(X[perm[:n_base]]).transform(X).astype(np.float32)
    b, p = perm[:n_base], perm[n_base:]
    return X[b], y[b].astype(np.int64), X[p], y[p].astype(np.int64)


def _check_accountant_args(noise_multiplier, sample_rate, steps, delta):
    """Validate DP-SGD accounting inputs (before any opacus call); returns them as float, float, int, float."""
    vals = {}
    for name, v in (("noise_multiplier", noise_multiplier), ("sample_rate", sample_rate), ("delta", delta)):
        vals[name] = real_number(v, name, error=PrivacyParameterError)
        if math.isnan(vals[name]):
            raise PrivacyParameterError(f"{name} must be a number, got NaN")
    if not (0.0 <= vals["noise_multiplier"] < math.inf):
        raise PrivacyParameterError(f"noise_multiplier must be finite and >= 0 (0: no noise, epsilon = inf), "
                                    f"got {noise_multiplier!r}")
    if not (0.0 < vals["sample_rate"] <= 1.0):
        raise PrivacyParameterError(f"sample_rate (Poisson sampling probability q = batch size / dataset size) must "
                                    f"lie in (0, 1], got {sample_rate!r}")
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        raise PrivacyParameterError(f"steps must be a positive integer (number of noisy SGD steps), got {steps!r}")
    if steps < 1:
        raise PrivacyParameterError(f"steps must be >= 1, got {steps!r} (no training step releases nothing: "
                                    "epsilon is 0 and needs no accountant)")
    if not (0.0 < vals["delta"] < 1.0):
        raise PrivacyParameterError(f"delta must lie in (0, 1), got {delta!r}: the Gaussian mechanism of DP-SGD "
                                    "has no finite epsilon at delta = 0; use e.g. delta = 1/n_train or smaller")
    return vals["noise_multiplier"], vals["sample_rate"], int(steps), vals["delta"]


def accountant_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> dict:
    """Theoretical epsilon of DP-SGD from opacus's RDP and PRV accountants (``inf`` without noise).

    Raises
    ------
    PrivacyParameterError
        ``noise_multiplier`` negative or not finite, ``sample_rate`` outside (0, 1], ``steps`` not a
        positive integer, or ``delta`` outside (0, 1) (checked before opacus is called).
    """
    noise_multiplier, sample_rate, steps, delta = _check_accountant_args(noise_multiplier, sample_rate, steps, delta)
    if noise_multiplier <= 0:
        return {"rdp": math.inf, "prv": math.inf}
    from opacus.accountants import PRVAccountant, RDPAccountant

    out = {}
    for name, cls in (("rdp", RDPAccountant), ("prv", PRVAccountant)):
        acc = cls()
        acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = float(acc.get_epsilon(delta=delta))
    return out


@dataclass
class AuditResult:
    """Outcome of :func:`run_audit`.

    Attributes
    ----------
    counts : AttackCounts
        Outcomes on the evaluation canaries.
    posterior : EpsilonPosterior
    lower_bound : float
        One-sided Bayesian lower bound at ``confidence_level``.
    interval : tuple of float
        Equal-tailed credible interval at ``confidence_level``.
    clopper_pearson : EpsilonInterval
        Frequentist baseline at ``confidence_level``; ``cp_lower_bound`` its one-sided lower bound.
    accountant : dict
        Theoretical epsilon per opacus accountant (``"rdp"``, ``"prv"``).
    theoretical_epsilon : float
        The epsilon the check compares with (the tighter accountant, or ``claimed_epsilon``).
    consistent : bool
        ``lower_bound <= theoretical_epsilon`` (and the same for Clopper-Pearson).
    threshold : float
        Loss threshold chosen on the calibration canaries.
    trials : pandas.DataFrame
        One row per canary: model, canary, bit, loss, split ("calibration"/"evaluation"), guess.
    test_accuracy : float
        Mean accuracy of the trained models on held-out non-canary pool points.
    """

    counts: AttackCounts
    posterior: EpsilonPosterior
    lower_bound: float
    interval: tuple
    clopper_pearson: EpsilonInterval
    cp_lower_bound: float
    accountant: dict
    theoretical_epsilon: float
    consistent: bool
    threshold: float
    delta: float
    confidence_level: float
    config: dict = field(default_factory=dict)
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    test_accuracy: float = float("nan")
    level = renamed_attribute("level", "confidence_level", PrivacyDeprecationWarning)

    def summary(self) -> dict:
        c = self.counts
        return {**self.config, "tp": c.tp, "fn": c.fn, "tn": c.tn, "fp": c.fp, "delta": self.delta,
                "confidence_level": self.confidence_level, "bayes_lower_bound": self.lower_bound,
                "bayes_interval_lower": self.interval[0],
                "bayes_interval_upper": self.interval[1], "cp_lower_bound": self.cp_lower_bound,
                "cp_interval_lower": self.clopper_pearson.lower, "cp_interval_upper": self.clopper_pearson.upper,
                "eps_rdp": self.accountant.get("rdp"), "eps_prv": self.accountant.get("prv"),
                "theoretical_epsilon": self.theoretical_epsilon, "consistent": self.consistent,
                "threshold": self.threshold, "test_accuracy": self.test_accuracy}


def _train_one(X, y, *, hidden, epochs, batch_size, lr, noise_multiplier, max_grad_norm, seed):
    """Train one MLP with DP-SGD (opacus); returns (model, sample_rate, steps)."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    with torch.random.fork_rng(), warnings.catch_warnings():
        # opacus / torch emit informational warnings (secure RNG off, hooks); pytest turns them into errors
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.Tanh(), nn.Linear(hidden, 10))
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
        ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
        loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
        sample_rate = 1.0 / len(loader)
        if noise_multiplier is not None:
            from opacus import PrivacyEngine

            engine = PrivacyEngine(accountant="rdp")
            gen = torch.Generator().manual_seed(seed + 1)
            model, opt, loader = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                                                     noise_multiplier=float(noise_multiplier),
                                                     max_grad_norm=float(max_grad_norm), poisson_sampling=True,
                                                     noise_generator=gen)
        loss_fn = nn.CrossEntropyLoss()
        steps = 0
        for _ in range(epochs):
            for xb, yb in loader:
                if len(xb) == 0:
                    continue
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()
                steps += 1
        model.eval()
        if noise_multiplier is not None:
            # the accountant counts every Poisson batch, including empty ones
            steps = epochs * len(loader)
    return model, sample_rate, steps


def _losses(model, X, y):
    import torch

    with torch.no_grad():
        logits = model(torch.from_numpy(X))
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="none").numpy().astype(float)


def run_audit(*, n_models: int = 8, canaries_per_model: int = 64, noise_multiplier: float | None = 1.0,
              max_grad_norm: float = 1.0, epochs: int = 15, batch_size: int = 256, lr: float = 0.5, hidden: int = 32,
              n_base: int = 1000, delta: float = 1e-5, confidence_level: float = 0.95,
              claimed_epsilon: float | None = None, strict: bool = True, random_state: int = 0,
              show_progress: bool = True, level=None) -> AuditResult:
    r"""Audit DP-SGD on scikit-learn digits with mislabelled canaries and a loss-threshold attack.

    Parameters
    ----------
    n_models : int
        Independent training runs (each a fresh model and fresh canaries).
    canaries_per_model : int
        Canaries per run (even, >= 4); half calibrate the threshold, half are counted.
        ``n_models * canaries_per_model / 2`` trials enter the counts.
    noise_multiplier : float or None
        DP-SGD noise multiplier sigma; ``None`` trains without DP (accountant epsilon ``inf``).
    max_grad_norm, epochs, batch_size, lr, hidden, n_base
        Training hyperparameters (clipping norm C, passes, expected batch size, SGD step size,
        MLP width, base training-set size).
    delta : float in [0, 1)
    confidence_level : float in (0, 1)
        Level of the one-sided lower bounds and of the intervals.
    claimed_epsilon : float, optional
        Compare with this epsilon instead of the accountants' (to audit a claim).
    strict : bool
        Raise :class:`AuditViolationError` on a violation (else warn and flag).
    random_state : int
    show_progress : bool
    level : float, optional
        Former name of ``confidence_level`` (deprecated; it warns).

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> from privacy.audit import run_audit
    >>> res = run_audit(n_models=2, canaries_per_model=16, epochs=2, show_progress=False)
    >>> res.lower_bound <= res.theoretical_epsilon
    True
    """
    from probinf.progress import progress

    d = _check_delta(delta)
    lv = check_level(renamed_level(level, confidence_level))
    for name, v, lo in (("n_models", n_models, 1), ("canaries_per_model", canaries_per_model, 4), ("epochs", epochs, 1),
                        ("batch_size", batch_size, 1), ("hidden", hidden, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if canaries_per_model % 2:
        raise ValueError(f"canaries_per_model must be even (half calibrate, half count), got {canaries_per_model}")
    if noise_multiplier is not None and not (float(noise_multiplier) >= 0):
        raise ValueError(f"noise_multiplier must be >= 0 or None, got {noise_multiplier!r}")
    if not (max_grad_norm > 0 and lr > 0):
        raise ValueError(f"max_grad_norm and lr must be positive, got {max_grad_norm!r}, {lr!r}")

    Xb, yb, Xp, yp = load_digits_split(n_base, random_state)
    n_test = min(200, len(Xp) // 4)
    Xt, yt = Xp[:n_test], yp[:n_test]  # held-out accuracy check, never canaries
    Xp, yp = Xp[n_test:], yp[n_test:]
    if canaries_per_model > len(Xp):
        raise ValueError(f"canaries_per_model must be at most the pool size {len(Xp)}, got {canaries_per_model}")
    rng = np.random.default_rng(random_state)
    rows, accs, acct = [], [], None
    runs = progress(range(n_models), desc="audit: training", total=n_models) if show_progress else range(n_models)
    for m in runs:
        idx = rng.choice(len(Xp), size=canaries_per_model, replace=False)
        wrong = (yp[idx] + rng.integers(1, 10, size=canaries_per_model)) % 10
        bits = rng.integers(0, 2, size=canaries_per_model)
        split = np.where(rng.permutation(canaries_per_model) < canaries_per_model // 2, "calibration", "evaluation")
        Xc, yc = Xp[idx], wrong.astype(np.int64)
        Xtr = np.concatenate([Xb, Xc[bits == 1]])
        ytr = np.concatenate([yb, yc[bits == 1]])
        model, q, steps = _train_one(Xtr, ytr, hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                                     noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                                     seed=int(rng.integers(2**31)))
        loss = _losses(model, Xc, yc)
        if not np.all(np.isfinite(loss)):
            raise FloatingPointError(f"non-finite canary loss in run {m}: lower lr ({lr}) or raise max_grad_norm")
        accs.append(float(np.mean(_predict(model, Xt) == yt)))
        rows.append(pd.DataFrame({"model": m, "canary": idx, "bit": bits, "loss": loss, "split": split}))
        # the accountant's epsilon is the same for every run up to the +-1 dataset size; use the largest q
        run = accountant_epsilon(noise_multiplier or 0.0, q, steps, d)
        acct = run if acct is None else {k: max(acct[k], run[k]) for k in run}
    accountant = cast("dict[str, float]", acct)  # set by the first run (with no run, pd.concat below raises)
    trials = pd.concat(rows, ignore_index=True)
    cal, ev = trials[trials.split == "calibration"], trials[trials.split == "evaluation"]
    threshold = _choose_threshold(-cal.loss.to_numpy(), cal.bit.to_numpy(), d, lv)
    trials["guess"] = (-trials.loss >= threshold).astype(int)
    ev = trials[trials.split == "evaluation"]
    counts = AttackCounts.from_scores(-ev.loss.to_numpy(), threshold, ev.bit.to_numpy())
    post = epsilon_posterior(counts, d)
    lb, iv = post.lower_bound(lv), post.interval(lv)
    cp, cp_lb = clopper_pearson_interval(counts, d, lv), clopper_pearson_lower_bound(counts, d, lv)
    theo = float(claimed_epsilon) if claimed_epsilon is not None else min(accountant.values())
    ok = check_audit(max(lb, cp_lb), theo, strict=strict,
                     what=f"sigma={noise_multiplier}, {len(ev)} evaluation trials")
    config = dict(n_models=n_models, canaries_per_model=canaries_per_model, noise_multiplier=noise_multiplier,
                  max_grad_norm=max_grad_norm, epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden)
    return AuditResult(counts=counts, posterior=post, lower_bound=lb, interval=iv, clopper_pearson=cp,
                       cp_lower_bound=cp_lb, accountant=accountant, theoretical_epsilon=theo, consistent=ok,
                       threshold=float(threshold), delta=d, confidence_level=lv, config=config, trials=trials,
                       test_accuracy=float(np.mean(accs)))


def _predict(model, X):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(X)).argmax(dim=1).numpy()


def _choose_threshold(scores: np.ndarray, bits: np.ndarray, delta: float, confidence_level: float) -> float:
    """Threshold on calibration scores maximising the Clopper-Pearson lower bound.

    Candidates are the 10%, 15%, ..., 90% quantiles of the calibration scores; when no candidate
    gives a positive bound (no detectable leakage) the median is used, a neutral choice that
    avoids extreme thresholds whose few counts make any estimate fragile.
    """
    cands = np.unique(np.quantile(scores, np.linspace(0.1, 0.9, 17)))
    best, best_t = 0.0, float(np.median(scores))
    if bits.min() == bits.max():  # a one-class calibration set cannot rank thresholds
        warnings.warn("calibration canaries are all of one class; using the median score as threshold",
                      PrivacyWarning, stacklevel=3)
        return best_t
    for t in cands:
        c = AttackCounts.from_scores(scores, t, bits)
        v = clopper_pearson_lower_bound(c, delta, confidence_level)
        if v > best:
            best, best_t = v, float(t)
    return best_t
