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

The code is in three modules, re-exported here: the setting and its predictions
(:mod:`._claim2_predictions`), the runs (:mod:`._claim2_runs`, :func:`run_setting`) and the
figures (:mod:`._claim2_figures`); this module scores them (:func:`run`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ._claim2_figures import plot, plot_deviation, plot_loss_norms
from ._claim2_predictions import (
    ALPHA,
    DEVIATION_BAND,
    EXPONENT_BAND,
    SETTINGS,
    X_DATA,
    Setting,
    deviation,
    fit_exponent,
    limit_direction,
    make_problem,
    predicted_deviation,
    predicted_exponent,
    predictor,
    rate_curves,
    unit,
)
from ._claim2_runs import (
    HPRun,
    agreeing_digits_mp,
    closed_form_digits,
    integrate_high_precision,
    run_setting,
)

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


def _holds(key: str, r: dict[str, Any]) -> bool:
    """Slow regime reached and measured, in agreement with its prediction."""
    lo, hi = DEVIATION_BAND
    ok = (r["status"] == "reached" and lo <= r["deviation_over_predicted"] <= hi
          and abs(r["fitted_exponent"] / r["predicted_exponent"] - 1) <= EXPONENT_BAND
          and r["digits"]["direction"] >= 20 and r["closed_form_digits"] >= 20)
    if key == "gradient_flow":
        return ok and r.get("deviation_at_log_t_1e15", 0.0) >= 0.01
    return ok and r.get("deviation_at_loss_1e-305", 0.0) >= 0.005


#: Fixed end of the float64 baselines (log t): float64 steps grow linearly with log t (the stiff
#: log t mode), so these show the stall at a known cost instead of wherever a budget ran out.
F64_LOG_T = {"quick": 200.0, "full": 2000.0}


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
    # Budgets are safety nets only: every curve ends at a fixed log t (the figures and the
    # summary must not depend on how loaded the machine is); a run that hits its budget says so.
    budget = 300.0 if quick else 1800.0
    t0 = time.perf_counter()
    results = {}
    for key, setting in SETTINGS.items():
        per_decade = 4 if not quick else (1 if key == "gradient_flow" else 2)
        results[key] = run_setting(setting, log_t=setting.log_t[mode], per_decade=per_decade,
                                   budget=budget, ref_bits=160 if quick else 192,
                                   f64_log_t=F64_LOG_T[mode],
                                   f64_budget=300.0 if quick else 1800.0, progress=progress)
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
