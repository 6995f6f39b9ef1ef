"""Claim 2's runs: the MPFR trajectory, its certificate at higher precision, the float64
baseline, and the summary entry of one potential (:func:`run_setting`).
See :mod:`numerics.reproduce.claim2`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

from theory import Potential, X, mp_function

from ..problem import Problem
from ..solvers import MirrorFlowSolution, solve_mirror_flow
from ._claim2_predictions import (
    Setting,
    deviation,
    fit_exponent,
    limit_direction,
    make_problem,
    pnorm,
    predicted_deviation,
    predicted_exponent,
    predictor,
    unit,
)

__all__ = [
    "HPRun",
    "agreeing_digits_mp",
    "closed_form_digits",
    "float64_baseline",
    "integrate_high_precision",
    "run_setting",
    "trajectory_curves",
]


@dataclass(frozen=True)
class HPRun:
    """A high-precision trajectory (values are mpmath numbers; ``log_t`` also as floats).

    Attributes
    ----------
    log_t : ndarray of float
    log_t_mp, s, theta, log_loss : object arrays of mpmath numbers, ``theta`` of shape (N, P)
    status : str
    bits : int
    steps : int
    seconds : float
    """

    log_t: np.ndarray
    log_t_mp: np.ndarray
    s: np.ndarray
    theta: np.ndarray
    log_loss: np.ndarray
    status: str
    bits: int
    steps: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def integrate_high_precision(problem: Problem, log_t: float, *, bits: int = 128,
                             per_decade: int = 1, budget_seconds: float = 60.0) -> HPRun:
    """Integrate claim 2's problem with about ``bits`` bits up to ``log t = log_t``.

    ``numerics.solve_mirror_flow(problem, log_t=..., dps=...)`` (heyoka's Taylor method, MPFR or
    real128, ``log t`` by quadrature), uncertified: :func:`run_setting` certifies it by a run at
    higher precision itself.  ``per_decade`` checkpoints per decade of ``log t``.

    Examples
    --------
    >>> r = integrate_high_precision(make_problem(Potential.quadratic()), 1e3, bits=96,
    ...                              per_decade=0)
    >>> r.status, float(r.log_t[-1]), r.bits >= 96
    ('reached', 1000.0, True)
    """
    dps = max(16, math.ceil(bits * math.log10(2)))
    t0 = time.perf_counter()
    # Taylor with log t by quadrature in the clock s (the closed forms are identities in s)
    sol = solve_mirror_flow(problem, log_t=float(log_t), dps=dps, certify=False,
                            max_seconds=budget_seconds, per_decade=per_decade, method="taylor")
    bits_used = int(sol.precision_bits)
    with mpmath.workprec(bits_used + 24):
        # Checkpoints sit at exact levels of log t (floats); the last point's log t and clock
        # are kept at the working precision in meta.
        log_t_mp = [mpmath.mpf(float(v)) for v in sol.log_t]
        s_mp = [mpmath.mpf(float(v)) for v in sol.s]
        log_t_mp[-1] = mpmath.mpf(sol.meta["log_t_mp"])
        s_mp[-1] = mpmath.mpf(sol.meta["clock_mp"])
    return HPRun(np.asarray(sol.log_t, dtype=float), np.array(log_t_mp, dtype=object),
                 np.array(s_mp, dtype=object), np.asarray(sol.theta_mp, dtype=object),
                 np.asarray(sol.log_loss_mp, dtype=object), sol.status, bits_used,
                 int(sol.meta["solver"]["steps"]), time.perf_counter() - t0,
                 {"method": sol.method, "dps": dps})


def agreeing_digits_mp(a: Any, b: Any) -> float:
    """Significant digits on which two mpmath vectors agree (max-norm, relative to ``b``).

    Examples
    --------
    >>> round(agreeing_digits_mp([mpmath.mpf(1)], [mpmath.mpf("1.0000000001")]), 6)
    10.0
    """
    with mpmath.workprec(1000):
        scale = max(abs(v) for v in b)
        err = max(abs(u - v) for u, v in zip(a, b, strict=True))
        return 300.0 if err == 0 else float(-mpmath.log10(err / scale))


def closed_form_digits(problem: Problem, run: HPRun, index: int = -1) -> float:
    """Digits to which ``Psi(theta_k(s)) = 2 x_k s`` holds on the run (module docstring).

    ``Psi(theta) = int_alpha^theta f''(r)/r dr`` by mpmath quadrature of the theory's ``f''``:
    a check of the Taylor integration that shares nothing with it but the potential.

    Examples
    --------
    >>> prob = make_problem(Potential.quadratic())
    >>> closed_form_digits(prob, integrate_high_precision(prob, 1e3, bits=96, per_decade=0)) > 25
    True
    """
    f2 = mp_function(problem.potential.f2_bound, X)
    alpha = mpmath.mpf(float(problem.theta0[0]))
    x = problem.data.X[0]
    s = run.s[index]
    worst = mpmath.mpf(0)
    with mpmath.workprec(run.bits + 40):
        for k in range(problem.d):
            th = run.theta[index][k]
            pts = [alpha * mpmath.mpf(2) ** j for j in range(int(mpmath.log(th / alpha, 2)) + 1)]
            psi = mpmath.quad(lambda r: f2(r) / r, [*pts, th])
            target = 2 * mpmath.mpf(float(x[k])) * s
            worst = max(worst, abs(psi - target) / abs(target))
    return 300.0 if worst == 0 else float(-mpmath.log10(worst))


def _norm(theta: Any, p: float) -> float:
    with mpmath.workprec(200):
        return float(pnorm(theta, p))


def _dual_log_norm(potential: Potential, theta: Any, p: float) -> float:
    f1 = mp_function(potential.f1_bound, X)
    with mpmath.workprec(200):
        return float(mpmath.log(pnorm([f1(v) for v in theta], p)))


def _at(log_t: np.ndarray, values: np.ndarray, target: float) -> float:
    """Value at ``target`` (log-log interpolation between recorded checkpoints)."""
    lt, v = np.log(np.asarray(log_t, float)), np.log(np.asarray(values, float))
    return float(np.exp(np.interp(math.log(target), lt, v)))


def run_setting(setting: Setting, *, log_t: float, per_decade: int = 1, budget: float = 60.0,
                bits: int = 128, ref_bits: int = 192, f64_log_t: float = 1e4,
                f64_budget: float = 4.0, progress: bool = False) -> dict[str, Any]:
    """Run one potential of claim 2: MPFR trajectory, 192-bit certificate, float64 baseline.

    Parameters
    ----------
    setting
        One of :data:`SETTINGS`.
    log_t
        Target ``log t`` of the high-precision run.
    per_decade
        Recorded checkpoints per decade of ``log t`` (each costs a root solve in MPFR).
    budget
        Wall-clock budget of the high-precision run [s].
    bits, ref_bits
        Precision of the run and of its certificate (the same run at higher precision).
    f64_log_t, f64_budget
        Target and budget of the float64 baseline ``solve_mirror_flow(problem, log_t=...)``.
    progress
        Print one line per run.

    Returns
    -------
    dict
        The summary entry (see :func:`numerics.reproduce.claim2.run`) plus ``"_curves"`` (arrays
        for the figures).
    """
    pot = setting.potential()
    prob = make_problem(pot)
    beta_star, p, gamma = limit_direction(prob)
    target = float(log_t)
    hp = integrate_high_precision(prob, target, bits=bits, per_decade=per_decade,
                                  budget_seconds=budget)
    # The reference ends at the same log t as the run (its target, or where the budget ended it).
    ref = integrate_high_precision(prob, float(hp.log_t[-1]), bits=ref_bits, per_decade=0,
                                   budget_seconds=4 * budget)
    curves = trajectory_curves(setting.key, pot, hp, beta_star, p)
    if progress:
        print(f"  claim2 {setting.key}: high precision {hp.status} at log t = "
              f"{curves['log_t'][-1]:.3g} ({hp.steps} steps, {hp.seconds:.1f} s)", flush=True)
    f64, f64_curves = float64_baseline(prob, min(target, f64_log_t), beta_star, p,
                                       budget=f64_budget, bits=bits, hp_budget=budget)
    if progress:
        print(f"  claim2 {setting.key}: float64 {f64['status']} at log t = "
              f"{f64['log_t_reached']:.3g} ({f64['rhs_evals']} rhs, {f64['seconds']:.1f} s)",
              flush=True)
    res: dict[str, Any] = {
        "label": setting.label,
        "potential": pot.name,
        "horizon_predictor_norm": p,
        "limit_direction": beta_star.tolist(),
        "margin": gamma,
        "log_t_target": target,
        **_measured(setting, prob, hp, ref, curves),
        "float64": f64,
        "_curves": {**curves, **f64_curves},
    }
    res.update(_slow_regime(setting.key, curves))
    return res


def trajectory_curves(key: str, potential: Potential, hp: HPRun, beta_star: np.ndarray,
                      p: float) -> dict[str, np.ndarray]:
    """The figures' arrays of a high-precision run at its checkpoints with ``log t >= 1``.

    ``log_t``, ``deviation`` (measured) and ``predicted``, ``neg_log_loss``, ``neg_log_tl``
    (``-log(t L)``), ``primal`` (``rho``, the horizon-gauge size of theta, THEORY.md §5) and
    ``log_dual`` (``log ||f'(theta)||``).
    """
    keep = hp.log_t >= 1.0
    lt = hp.log_t[keep]
    dev = np.array([float(deviation(predictor(th), beta_star, p)) for th in hp.theta[keep]])
    pred = np.array([predicted_deviation(key, v) for v in lt])
    nll = np.array([-float(v) for v in hp.log_loss[keep]])
    with mpmath.workprec(hp.bits + 40):  # a difference of two numbers of size log t
        ntl = np.array([-float(a + b) for a, b in zip(hp.log_loss[keep], hp.log_t_mp[keep],
                                                      strict=True)])
    ph = float(potential.horizon.p)
    primal = np.array([_norm(th, ph) for th in hp.theta[keep]])
    log_dual = np.array([_dual_log_norm(potential, th, ph) for th in hp.theta[keep]])
    return {"log_t": lt, "deviation": dev, "predicted": pred, "neg_log_loss": nll,
            "neg_log_tl": ntl, "primal": primal, "log_dual": log_dual}


def float64_baseline(problem: Problem, log_t: float, beta_star: np.ndarray, p: float, *,
                     budget: float, bits: int, hp_budget: float
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The float64 run ``solve_mirror_flow(problem, log_t=...)`` against MPFR where it ended.

    Returns the summary's ``"float64"`` section and the figures' ``f64_*`` arrays; the MPFR
    state at the ``log t`` where float64 ended is integrated with ``bits`` bits within
    ``hp_budget`` seconds.
    """
    t0 = time.perf_counter()
    f64 = solve_mirror_flow(problem, log_t=log_t, max_seconds=budget, certify=False)
    seconds = time.perf_counter() - t0
    f_lt = np.asarray(f64.log_t)
    fk = f_lt >= 1.0
    f_dev = np.array([float(deviation(predictor(th), beta_star, p)) for th in f64.theta[fk]])
    f_end = float(f_lt[-1])
    # The high-precision state at exactly the log t where float64 ended, for its digits.
    at_f64 = integrate_high_precision(problem, f_end, bits=bits, per_decade=0,
                                      budget_seconds=hp_budget)
    section = {
        "method": f64.method,
        "status": f64.status,
        "log_t_target": log_t,
        "log_t_reached": f_end,
        "seconds": seconds,
        "rhs_evals": int(f64.rhs_evals),
        "deviation": float(f_dev[-1]) if len(f_dev) else float("nan"),
        "high_precision_deviation_there": float(
            deviation(predictor(at_f64.theta[-1]), beta_star, p)),
        "digits_vs_high_precision": _float64_digits(f64, at_f64),
    }
    ph = float(problem.potential.horizon.p)
    curves = {"f64_log_t": f_lt[fk], "f64_deviation": f_dev,
              "f64_neg_log_tl": -(np.asarray(f64.log_loss)[fk] + f_lt[fk]),
              "f64_primal": np.array([_norm(th, ph) for th in f64.theta[fk]])}
    return section, curves


def _float64_digits(f64: MirrorFlowSolution, at_f64: HPRun) -> dict[str, float]:
    """Digits on which the float64 end state agrees with MPFR at the same log t."""
    return {
        "direction": agreeing_digits_mp(
            [mpmath.mpf(float(v)) for v in f64.theta[-1] / np.linalg.norm(f64.theta[-1])],
            unit(at_f64.theta[-1])),
        "log_loss": agreeing_digits_mp([mpmath.mpf(float(f64.log_loss[-1]))],
                                       [at_f64.log_loss[-1]]),
    }


def _measured(setting: Setting, problem: Problem, hp: HPRun, ref: HPRun,
              curves: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the high-precision run measured, against the predictions and its certificate."""
    lt, dev, pred = curves["log_t"], curves["deviation"], curves["predicted"]
    digits = {
        "direction": agreeing_digits_mp(unit(hp.theta[-1]), unit(ref.theta[-1])),
        "log_loss": agreeing_digits_mp([hp.log_loss[-1]], [ref.log_loss[-1]]),
        "reference_bits": ref.bits,
    }
    lo, hi = setting.fit_range
    hi = min(hi, float(lt[-1]))
    if hi / lo < 10:  # a short run: fit its last two decades
        lo = hi / 100
    checkpoints = sorted({10.0 ** k for k in range(1, 17)} & set(lt.round(6).tolist()))
    return {
        "log_t_reached": float(lt[-1]),
        "status": hp.status,
        "deviation": float(dev[-1]),
        "predicted_deviation": float(pred[-1]),
        "deviation_over_predicted": float(dev[-1] / pred[-1]),
        "fitted_exponent": fit_exponent(lt, dev, lo, hi),
        "predicted_exponent": predicted_exponent(setting.key),
        "fit_range": [lo, hi],
        "log_loss": -float(curves["neg_log_loss"][-1]),
        "digits": digits,
        "closed_form_digits": closed_form_digits(problem, hp),
        "bits": hp.bits,
        "taylor_steps": hp.steps,
        "seconds": hp.seconds + ref.seconds,
        "checkpoints": {f"{c:.0e}": float(dev[np.argmin(abs(lt - c))]) for c in checkpoints},
    }


def _slow_regime(key: str, curves: dict[str, np.ndarray]) -> dict[str, float]:
    """The claim's headline numbers, when the run got far enough to measure them."""
    lt, dev, nll = curves["log_t"], curves["deviation"], curves["neg_log_loss"]
    if key == "cosh":
        # THEORY.md §5: still ~1 % away when the loss is 1e-305 (log L = -702.3).
        ll305 = 305 * math.log(10)
        if nll[-1] >= ll305:
            return {"deviation_at_loss_1e-305": _at(nll, dev, ll305),
                    "log_t_at_loss_1e-305": _at(nll, lt, ll305)}
    elif lt[-1] >= 1e15:
        return {"deviation_at_log_t_1e15": _at(lt, dev, 1e15)}
    return {}
