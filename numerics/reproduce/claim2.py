"""Claim 2: convergence in direction can be exponentially slow (THEORY.md §5, §7) [paper].

The setting is the one of THEORY.md §5: a depth-2 diagonal network ``beta = u*u - v*v`` on one
sample ``x = (x1, x2)``, ``y = +1``, with nearly tied coordinates ``x2 / x1 = 0.9``, exponential
loss, started at ``u = (alpha, alpha)``, ``v = 0``.  ``v`` then stays 0 for every potential, so
the fast (stiff) relaxing components of ``v`` are absent (``benchmarks/bench_clock.py`` case (c)
starts at ``v = alpha / 2``, which stalls explicit steps for cosh); what is left is
one scalar ODE per coordinate, ``f''(theta_k) dtheta_k/ds = 2 x_k theta_k`` in the clock
``ds = L dt``.  Hence the exact invariant used below as an independent check of the integrator::

    Psi(theta_k(s)) = 2 x_k s,     Psi(theta) = int_alpha^theta f''(r) / r dr.

The limit direction comes from an independent source: the max-margin problem in predictor space,
``min ||beta||_{p/L}`` s.t. ``<x, beta> >= 1`` (THEORY.md §4, ``theory.max_margin`` with the
exponent ``Horizon.predictor_norm(2)``): ``e1`` for gradient flow (l1), ``(1, 1)`` for cosh (l_inf).
The deviation is ``|| beta / ||beta||_p - beta* ||_inf`` with ``beta*`` normalised the same way.

Predicted deviations:

- gradient flow [paper]: ``(x1 alpha**2 / log t) ** (1 - x2 / x1)``; with ``x2/x1 = 0.9`` the
  direction is still a few percent away at ``log t = 1e15``;
- cosh [derived here; heuristic]: ``theta_k ~ log z_k`` and ``z1 / z2 -> x1 / x2``, so
  ``1 - beta2 / beta1 ~ 2 log(x1 / x2) / rho`` with ``rho = Potential.rates(2, gamma).primal_norm``
  ``= (log t / gamma) ** (1/2)``: about 1 % when the loss is 1e-305 (float64's underflow).

The high-precision trajectory is ``numerics.solve_mirror_flow(problem, log_t=..., dps=...)``
(heyoka's Taylor method in MPFR, ``log t`` by quadrature); it is certified by the same run at
higher precision (192 bits; 160 in quick mode).  The float64 baseline
is the public ``numerics.solve_mirror_flow(problem, log_t=...)`` (scipy DOP853), whose step count
grows linearly with ``log t`` (the stiff ``log t`` mode), so it stalls.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from theory import Potential, X, max_margin

from ..problem import Dataset, Diagonal, Problem
from ..solvers import solve_mirror_flow

__all__ = [
    "SETTINGS",
    "HPRun",
    "Setting",
    "agreeing_digits_mp",
    "closed_form_digits",
    "deviation",
    "fit_exponent",
    "integrate_high_precision",
    "limit_direction",
    "make_problem",
    "plot",
    "plot_deviation",
    "plot_loss_norms",
    "predicted_deviation",
    "predicted_exponent",
    "predictor",
    "rate_curves",
    "run",
    "run_setting",
    "unit",
]

X_DATA = (1.0, 0.9)
ALPHA = 0.1
DEPTH = 2
#: Relative band for the fitted exponent of log t: the predictions are leading order, and the
#: next-order terms (log log t in log t, log f''(rho) ~ rho for cosh) are O(1/log log t), O(1/rho).
EXPONENT_BAND = 0.15
#: Band for the measured deviation over the predicted one at the last checkpoint.
DEVIATION_BAND = (0.9, 1.1)


@dataclass(frozen=True)
class Setting:
    """One potential of the claim-2 experiment and its targets.

    Attributes
    ----------
    key, label : str
        Short name (summary key) and plot label.
    potential : callable
        Returns the :class:`theory.Potential`.
    log_t : dict
        Target ``log t`` for ``"quick"`` and ``"full"`` mode.
    fit_range : tuple
        ``log t`` range of the exponent fit.
    """

    key: str
    label: str
    potential: Callable[[], Potential]
    log_t: dict[str, float]
    fit_range: tuple[float, float]


#: Gradient flow reaches log t = 1e16 in ~10 Taylor steps; cosh needs steps linear in log t
#: (Taylor radius ~ z / log z in the s clock), and the s clock ends at s = 1e300 (rho ~ 690).
SETTINGS: dict[str, Setting] = {
    "gradient_flow": Setting("gradient_flow", "gradient flow  f = x²/2", Potential.quadratic,
                             {"quick": 1e16, "full": 1e16}, (1e8, 1e16)),
    "cosh": Setting("cosh", "cosh  f = cosh x", Potential.cosh,
                    {"quick": 1e3, "full": 3e4}, (1e2, 3e4)),
}


def make_problem(potential: Potential, x: tuple[float, float] = X_DATA,
                 alpha: float = ALPHA) -> Problem:
    """The one-sample depth-2 diagonal network of claim 2, ``theta0 = (alpha, alpha, 0, 0)``.

    Examples
    --------
    >>> prob = make_problem(Potential.quadratic())
    >>> prob.theta0.tolist(), prob.data.X.tolist()
    ([0.1, 0.1, 0.0, 0.0], [[1.0, 0.9]])
    >>> make_problem(Potential.quadratic(), x=(0.9, 1.0))
    Traceback (most recent call last):
    ...
    ValueError: claim 2 needs x1 > x2 > 0 (nearly tied coordinates), got x = (0.9, 1.0); ...
    """
    if not (len(x) == 2 and x[0] > x[1] > 0):
        raise ValueError(f"claim 2 needs x1 > x2 > 0 (nearly tied coordinates), got x = {x}; "
                         "pass e.g. x=(1.0, 0.9)")
    if not alpha > 0:
        raise ValueError(f"alpha (the initial scale of u) must be positive, got {alpha}")
    data = Dataset.from_arrays([list(x)], [1])
    return Problem(data, Diagonal(DEPTH), potential, "exp",
                   np.array([alpha, alpha, 0.0, 0.0]), {"alpha": alpha})


def limit_direction(problem: Problem) -> tuple[np.ndarray, float, float]:
    """Predicted limit ``beta*`` (unit in its norm), the norm exponent ``p`` and the margin.

    From ``theory.max_margin`` in predictor space with ``p = Horizon.predictor_norm(L)``
    (THEORY.md §4), never from a run.

    Examples
    --------
    >>> beta, p, gamma = limit_direction(make_problem(Potential.quadratic()))
    >>> beta.round(12).tolist(), p, gamma
    ([1.0, 0.0], 1.0, 1.0)
    >>> beta, p, gamma = limit_direction(make_problem(Potential.cosh()))
    >>> beta.tolist(), p, round(gamma, 12)
    ([1.0, 1.0], inf, 1.9)
    """
    p = float(problem.potential.horizon.predictor_norm(problem.model.degree))
    res = max_margin(problem.data.X, problem.data.y, p)
    return np.asarray(res.direction, dtype=float), p, float(res.margin)


def deviation(beta: Any, beta_star: np.ndarray, p: float) -> Any:
    """``|| beta / ||beta||_p - beta* ||_inf`` (works on floats and on mpmath numbers).

    Examples
    --------
    >>> float(deviation([3.0, 1.0], np.array([1.0, 0.0]), 1.0))
    0.25
    """
    b = list(beta)
    n = _pnorm(b, p)
    return max(abs(v / n - float(w)) for v, w in zip(b, beta_star, strict=True))


def _pnorm(v: Any, p: float) -> Any:
    return max(abs(x) for x in v) if math.isinf(p) else sum(abs(x) ** p for x in v) ** (1 / p)


def predicted_exponent(key: str, x: tuple[float, float] = X_DATA) -> float:
    """Predicted power of ``log t`` in the deviation: ``-(1 - x2/x1)`` (GD), ``-1/2`` (cosh).

    Examples
    --------
    >>> round(predicted_exponent("gradient_flow"), 12), predicted_exponent("cosh")
    (-0.1, -0.5)
    """
    if key == "gradient_flow":
        return -(1 - x[1] / x[0])
    if key == "cosh":
        return -1.0 / DEPTH
    raise ValueError(f"no predicted exponent for {key!r}; use one of {sorted(SETTINGS)}")


@lru_cache(maxsize=8)
def _rho(potential_name: str, gamma: float) -> Callable[[Any], Any]:
    """``rho(log t)`` from the theory's primal-norm rate (THEORY.md §5)."""
    potential = {"cosh": Potential.cosh, "quadratic": Potential.quadratic}[potential_name]()
    rates = potential.rates(depth=DEPTH, margin=sp.nsimplify(gamma, rational=True))
    (t,) = rates.primal_norm.free_symbols
    lt = sp.Symbol("logt", positive=True)
    expr = rates.primal_norm.subs(sp.log(t), lt)
    return sp.lambdify(lt, expr, modules="mpmath")


def predicted_deviation(key: str, log_t: Any, x: tuple[float, float] = X_DATA,
                        alpha: float = ALPHA) -> float:
    """Predicted deviation at ``log t`` (module docstring: [paper] for GD, [derived] for cosh).

    Examples
    --------
    >>> round(predicted_deviation("gradient_flow", 1e15), 4)
    0.02
    >>> round(predicted_deviation("cosh", 702.0), 3)   # loss ~ 1e-305
    0.011
    """
    x1, x2 = x
    if key == "gradient_flow":
        return float((x1 * alpha**2 / mpmath.mpf(log_t)) ** (1 - x2 / x1))
    if key == "cosh":
        gamma = x1 + x2  # l_inf predictor margin; limit_direction() computes it independently
        rho = _rho("cosh", gamma)(mpmath.mpf(log_t))
        return float(2 * mpmath.log(mpmath.mpf(x1) / x2) / rho)
    raise ValueError(f"no predicted deviation for {key!r}; use one of {sorted(SETTINGS)}")


def fit_exponent(log_t: np.ndarray, dev: np.ndarray, lo: float, hi: float) -> float:
    """Least-squares slope of ``log dev`` against ``log log t`` on ``lo <= log t <= hi``.

    Examples
    --------
    >>> lt = np.logspace(2, 8, 7)
    >>> round(fit_exponent(lt, 3 * lt ** -0.1, 1e2, 1e8), 12)
    -0.1
    """
    lt, dv = np.asarray(log_t, float), np.asarray(dev, float)
    sel = (lt >= lo * (1 - 1e-9)) & (lt <= hi * (1 + 1e-9)) & (dv > 0)
    if sel.sum() < 2:
        raise ValueError(f"need two checkpoints with {lo:g} <= log t <= {hi:g} to fit a slope")
    return float(np.polyfit(np.log(lt[sel]), np.log(dv[sel]), 1)[0])


# --------------------------------------------------------------------- high precision
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
    from theory import mp_function

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


def rate_curves(potential: Potential, gamma: float, log_t: np.ndarray) -> dict[str, np.ndarray]:
    """The theory's rates at ``log t``: ``-log L``, ``-log(t L)``, ``rho`` and ``log f'(rho)``.

    From ``Potential.rates(depth=2, margin=gamma)`` (THEORY.md §5), evaluated with mpmath, so
    ``t = exp(1e16)`` is an ordinary number.

    Examples
    --------
    >>> c = rate_curves(Potential.quadratic(), 1.0, np.array([1e4]))  # L = 1/(4 t log t)
    >>> round(float(c["neg_log_loss"][0]), 3), round(float(c["neg_log_tl"][0]), 3)
    (10010.597, 10.597)
    >>> float(c["primal"][0])
    100.0
    """
    rates = potential.rates(depth=DEPTH, margin=sp.nsimplify(gamma, rational=True))
    t = sp.Symbol("t", positive=True)
    tt = next(iter(rates.loss.free_symbols))
    fns = {k: sp.lambdify(t, getattr(rates, k).subs(tt, t), modules="mpmath")
           for k in ("loss", "primal_norm", "dual_norm")}
    out: dict[str, list[float]] = {"neg_log_loss": [], "neg_log_tl": [], "primal": [],
                                   "log_dual": []}
    with mpmath.workdps(60):
        for lt in log_t:
            tv = mpmath.exp(mpmath.mpf(float(lt)))
            nll = -mpmath.log(fns["loss"](tv))
            out["neg_log_loss"].append(float(nll))
            out["neg_log_tl"].append(float(nll - mpmath.mpf(float(lt))))
            out["primal"].append(float(fns["primal_norm"](tv)))
            out["log_dual"].append(float(mpmath.log(fns["dual_norm"](tv))))
    return {k: np.array(v) for k, v in out.items()}


# --------------------------------------------------------------------- the experiment
def predictor(theta: Any) -> list[Any]:
    """``beta = u*u - v*v`` of ``theta = (u1, u2, v1, v2)``, exact for mpmath inputs.

    Examples
    --------
    >>> predictor([2.0, 1.0, 1.0, 0.0])
    [3.0, 1.0]
    """
    with mpmath.workprec(400):
        return [theta[0] ** 2 - theta[2] ** 2, theta[1] ** 2 - theta[3] ** 2]


def unit(theta: Any) -> list[Any]:
    """``theta / ||theta||_2`` at 400 bits (mpmath).

    Examples
    --------
    >>> [float(v) for v in unit([mpmath.mpf(3), mpmath.mpf(4)])]
    [0.6, 0.8]
    """
    with mpmath.workprec(400):
        n = mpmath.sqrt(mpmath.fsum(v * v for v in theta))
        return [v / n for v in theta]


def _norm(theta: Any, p: float) -> float:
    with mpmath.workprec(200):
        return float(_pnorm(theta, p))


def _dual_log_norm(potential: Potential, theta: Any, p: float) -> float:
    from theory import mp_function

    f1 = mp_function(potential.f1_bound, X)
    with mpmath.workprec(200):
        return float(mpmath.log(_pnorm([f1(v) for v in theta], p)))


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
        The summary entry (see :func:`run`) plus ``"_curves"`` (arrays for the figures).
    """
    pot = setting.potential()
    prob = make_problem(pot)
    beta_star, p, gamma = limit_direction(prob)
    target = float(log_t)
    hp = integrate_high_precision(prob, target, bits=bits, per_decade=per_decade,
                                  budget_seconds=budget)
    ref = integrate_high_precision(prob, float(hp.log_t[-1]), bits=ref_bits, per_decade=0,
                                   budget_seconds=4 * budget)
    keep = hp.log_t >= 1.0
    lt = hp.log_t[keep]
    dev = np.array([float(deviation(predictor(th), beta_star, p)) for th in hp.theta[keep]])
    pred = np.array([predicted_deviation(setting.key, v) for v in lt])
    nll = np.array([-float(v) for v in hp.log_loss[keep]])
    with mpmath.workprec(hp.bits + 40):  # a difference of two numbers of size log t
        ntl = np.array([-float(a + b) for a, b in zip(hp.log_loss[keep], hp.log_t_mp[keep],
                                                      strict=True)])
    ph = float(pot.horizon.p)  # rho is the horizon-gauge size of theta (THEORY.md §5)
    primal = np.array([_norm(th, ph) for th in hp.theta[keep]])
    log_dual = np.array([_dual_log_norm(pot, th, ph) for th in hp.theta[keep]])
    if progress:
        print(f"  claim2 {setting.key}: high precision {hp.status} at log t = {lt[-1]:.3g} "
              f"({hp.steps} steps, {hp.seconds:.1f} s)", flush=True)

    f64_target = min(target, f64_log_t)
    t0 = time.perf_counter()
    f64 = solve_mirror_flow(prob, log_t=f64_target, max_seconds=f64_budget, certify=False)
    f64_seconds = time.perf_counter() - t0
    f_lt = np.asarray(f64.log_t)
    fk = f_lt >= 1.0
    f_dev = np.array([float(deviation(predictor(th), beta_star, p)) for th in f64.theta[fk]])
    f_end = float(f_lt[-1])
    # The high-precision state at exactly the log t where float64 ended, for its digits.
    at_f64 = integrate_high_precision(prob, f_end, bits=bits, per_decade=0,
                                      budget_seconds=budget)
    if progress:
        print(f"  claim2 {setting.key}: float64 {f64.status} at log t = {f_end:.3g} "
              f"({f64.rhs_evals} rhs, {f64_seconds:.1f} s)", flush=True)

    # The reference ends at the same log t as the run (its target, or where the budget ended it).
    digits = {
        "direction": agreeing_digits_mp(unit(hp.theta[-1]), unit(ref.theta[-1])),
        "log_loss": agreeing_digits_mp([hp.log_loss[-1]], [ref.log_loss[-1]]),
        "reference_bits": ref.bits,
    }
    lo, hi = setting.fit_range
    hi = min(hi, float(lt[-1]))
    if hi / lo < 10:  # a short run: fit its last two decades
        lo = hi / 100
    fitted = fit_exponent(lt, dev, lo, hi)
    checkpoints = sorted({10.0 ** k for k in range(1, 17)} & set(lt.round(6).tolist()))
    res: dict[str, Any] = {
        "label": setting.label,
        "potential": pot.name,
        "horizon_predictor_norm": p,
        "limit_direction": beta_star.tolist(),
        "margin": gamma,
        "log_t_target": target,
        "log_t_reached": float(lt[-1]),
        "status": hp.status,
        "deviation": float(dev[-1]),
        "predicted_deviation": float(pred[-1]),
        "deviation_over_predicted": float(dev[-1] / pred[-1]),
        "fitted_exponent": fitted,
        "predicted_exponent": predicted_exponent(setting.key),
        "fit_range": [lo, hi],
        "log_loss": -float(nll[-1]),
        "digits": digits,
        "closed_form_digits": closed_form_digits(prob, hp),
        "bits": hp.bits,
        "taylor_steps": hp.steps,
        "seconds": hp.seconds + ref.seconds,
        "checkpoints": {f"{c:.0e}": float(dev[np.argmin(abs(lt - c))]) for c in checkpoints},
        "float64": {
            "method": f64.method,
            "status": f64.status,
            "log_t_target": f64_target,
            "log_t_reached": f_end,
            "seconds": f64_seconds,
            "rhs_evals": int(f64.rhs_evals),
            "deviation": float(f_dev[-1]) if len(f_dev) else float("nan"),
            "high_precision_deviation_there": float(
                deviation(predictor(at_f64.theta[-1]), beta_star, p)),
            "digits_vs_high_precision": {
                "direction": agreeing_digits_mp(
                    [mpmath.mpf(float(v)) for v in f64.theta[-1] / np.linalg.norm(
                        f64.theta[-1])], unit(at_f64.theta[-1])),
                "log_loss": agreeing_digits_mp([mpmath.mpf(float(f64.log_loss[-1]))],
                                               [at_f64.log_loss[-1]]),
            },
        },
        "_curves": {"log_t": lt, "deviation": dev, "predicted": pred, "neg_log_loss": nll,
                    "neg_log_tl": ntl,
                    "primal": primal, "log_dual": log_dual, "f64_log_t": f_lt[fk],
                    "f64_deviation": f_dev,
                    "f64_neg_log_tl": -(np.asarray(f64.log_loss)[fk] + f_lt[fk]),
                    "f64_primal": np.array([_norm(th, ph) for th in f64.theta[fk]])},
    }
    if setting.key == "cosh":
        # THEORY.md §5: still ~1 % away when the loss is 1e-305 (log L = -702.3).
        ll305 = 305 * math.log(10)
        if nll[-1] >= ll305:
            res["deviation_at_loss_1e-305"] = _at(nll, dev, ll305)
            res["log_t_at_loss_1e-305"] = _at(nll, lt, ll305)
    else:
        if lt[-1] >= 1e15:
            res["deviation_at_log_t_1e15"] = _at(lt, dev, 1e15)
    return res


def _holds(key: str, r: dict[str, Any]) -> bool:
    """Slow regime reached and measured, in agreement with its prediction."""
    lo, hi = DEVIATION_BAND
    ok = (r["status"] == "reached" and lo <= r["deviation_over_predicted"] <= hi
          and abs(r["fitted_exponent"] / r["predicted_exponent"] - 1) <= EXPONENT_BAND
          and r["digits"]["direction"] >= 20 and r["closed_form_digits"] >= 20)
    if key == "gradient_flow":
        return ok and r.get("deviation_at_log_t_1e15", 0.0) >= 0.01
    return ok and r.get("deviation_at_loss_1e-305", 0.0) >= 0.005


COLORS = {"gradient_flow": "C0", "cosh": "C3"}


def plot_deviation(results: dict[str, dict[str, Any]], ax: Any) -> None:
    """Deviation against log t: MPFR (solid), prediction (dashed), float64 (dotted)."""
    for key, r in results.items():
        c = r["_curves"]
        col = COLORS.get(key, "k")
        ax.loglog(c["log_t"], c["deviation"], "-", color=col, lw=2,
                  label=f"{r['label']}: MPFR {r['bits']} bits")
        ax.loglog(c["log_t"], c["predicted"], "--", color="k", lw=1, alpha=0.8,
                  label=f"predicted (log t)^{r['predicted_exponent']:.2g}; "
                        f"fit {r['fitted_exponent']:.3f}")
        if len(c["f64_log_t"]):
            ax.loglog(c["f64_log_t"], c["f64_deviation"], ":", color=col, lw=3, alpha=0.6,
                      label=f"float64 (scipy): {r['float64']['status']} at log t = "
                            f"{r['float64']['log_t_reached']:.2g}")
    ax.axhline(0.01, color="0.6", lw=0.8)
    ax.set_xlabel("log t")
    ax.set_ylabel("deviation  ‖β/‖β‖ₚ − β*‖∞")
    ax.set_title("one-sample diagonal net, x = (1, 0.9): distance to the max-margin direction",
                 fontsize=10)
    ax.legend(fontsize=7.5)
    ax.grid(True, which="both", alpha=0.3)


def plot_loss_norms(results: dict[str, dict[str, Any]], axes: Any) -> None:
    """``-log(t L)``, ``rho`` and ``log ||z||`` against log t, the theory's rates dashed."""
    for key, r in results.items():
        c = r["_curves"]
        col = COLORS.get(key, "k")
        rc = rate_curves(SETTINGS[key].potential(), r["margin"], c["log_t"])
        for a, mine, rate in ((axes[0], "neg_log_tl", "neg_log_tl"),
                              (axes[1], "primal", "primal"), (axes[2], "log_dual", "log_dual")):
            draw = a.semilogx if a is axes[0] else a.loglog
            draw(c["log_t"], c[mine], "-", color=col, lw=2.5, alpha=0.7, label=r["label"])
            draw(c["log_t"], rc[rate], "--", color="k", lw=1, label="derived rate (theory)")
        if len(c["f64_log_t"]):
            axes[0].semilogx(c["f64_log_t"], c["f64_neg_log_tl"], ":", color=col, lw=3,
                             alpha=0.6, label="float64")
            axes[1].loglog(c["f64_log_t"], c["f64_primal"], ":", color=col, lw=3, alpha=0.6,
                           label="float64")
    axes[0].set_ylabel("−log(t·ℒ)   (ℒ ≈ 1/t up to this factor)")
    axes[1].set_ylabel("ρ = ‖θ‖ₚ  (horizon gauge: p = 2 GD, ∞ cosh)")
    axes[2].set_ylabel("log ‖z‖ₚ  (dual, z = f′(θ))")
    for a in axes:
        a.set_xlabel("log t")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)


def plot(results: dict[str, dict[str, Any]], out: Path) -> list[str]:
    """Write ``claim2_deviation`` and ``claim2_loss_norms`` (PNG and PDF) to ``out``."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[str] = []
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    plot_deviation(results, ax)
    fig.suptitle("Claim 2: exponentially slow convergence in direction")
    fig.tight_layout()
    files += _save(fig, out / "claim2_deviation")
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    plot_loss_norms(results, axes)
    fig.suptitle("Claim 2: loss and norms against log t (solid: MPFR, dashed: theory rates)")
    fig.tight_layout()
    files += _save(fig, out / "claim2_loss_norms")
    plt.close(fig)
    return files


def _save(fig: Any, stem: Path) -> list[str]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    names = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=130)
        names.append(path.name)
    return names


def run(quick: bool, out: Path, progress: bool) -> dict[str, Any]:
    """Reproduce claim 2; write ``out/claim2_*.png|pdf``; return the summary for summary.json.

    Parameters
    ----------
    quick
        Gradient flow to ``log t = 1e16`` and cosh to ``1e3`` (about 30 s on 2 cores); the full
        mode takes cosh to ``3e4``, the float64 baseline to ``1e5`` and records 4 checkpoints
        per decade (about 10 min).
    out
        Output directory (created).
    progress
        Print one line per run.

    Returns
    -------
    dict
        ``holds`` (bool) and, per potential, the ``log t`` reached, the remaining ``deviation``
        and the ``predicted_deviation``, the fitted and predicted exponents, certified ``digits``
        (agreement with a run at higher precision: 160 bits quick, 192 full),
        ``closed_form_digits`` and the ``float64`` baseline.
    """
    out = Path(out)
    mode = "quick" if quick else "full"
    budget = 20.0 if quick else 300.0
    t0 = time.perf_counter()
    results = {}
    for key, setting in SETTINGS.items():
        per_decade = 4 if not quick else (1 if key == "gradient_flow" else 2)
        results[key] = run_setting(setting, log_t=setting.log_t[mode], per_decade=per_decade,
                                   budget=budget, ref_bits=160 if quick else 192,
                                   f64_log_t=1e4 if quick else 1e5,
                                   f64_budget=2.0 if quick else 60.0, progress=progress)
    files = plot(results, out)
    summary: dict[str, Any] = {
        "holds": all(_holds(k, r) for k, r in results.items()),
        "mode": mode,
        "setting": {"model": "Diagonal(depth=2), beta = u*u - v*v", "x": list(X_DATA),
                    "y": 1, "alpha": ALPHA, "theta0": [ALPHA, ALPHA, 0.0, 0.0],
                    "loss": "exp",
                    "deviation": "|| beta/||beta||_p - beta* ||_inf, beta* from theory.max_margin"},
        "potentials": {k: {kk: vv for kk, vv in r.items() if not kk.startswith("_")}
                       for k, r in results.items()},
        "figures": files,
        "seconds": time.perf_counter() - t0,
    }
    for k, r in results.items():
        summary["potentials"][k]["holds"] = _holds(k, r)
    summary["headline"] = "; ".join(
        f"{k}: log t {float(r['log_t_reached']):.0e}, deviation {float(r['deviation']):.3g} "
        f"(predicted {float(r['predicted_deviation']):.3g})" for k, r in results.items())
    json.dumps(summary)  # fail here, not in the caller, if something is not JSON-ready
    return summary
