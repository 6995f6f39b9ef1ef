"""Loss decay and norm growth (THEORY.md §5) as fitted log-log slopes."""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import NDArray

from theory import Potential, Rates

from ..problem import Problem
from ..solvers import MirrorFlowSolution
from ._diagnostics import horizon_gauge, q_margin
from ._integrate import BANDS, status_note
from ._results import Check

__all__ = ["check_rates", "problem_bound", "slopes"]

Array = NDArray[np.float64]


def slopes(x: Array, y: Array) -> float:
    """Least-squares slope of y against x.

    Examples
    --------
    >>> slopes(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    2.0
    """
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


_T = sp.Symbol("t", positive=True)
_U = sp.Symbol("u", positive=True)


def _log_of(expr: sp.Expr, gamma: float) -> Callable[[float], float]:
    """u -> log(expr(t = e^u)) at margin gamma, in mpmath (t = e^1000 is fine)."""
    free = {s for s in expr.free_symbols if s.name == "gamma"}
    e = expr.subs({s: sp.Float(gamma, 30) for s in free}).subs(_T, sp.exp(_U))
    fn = sp.lambdify(_U, sp.log(e), modules="mpmath")

    def call(u: float) -> float:
        with mpmath.workdps(30):
            return float(mpmath.re(fn(mpmath.mpf(u))))
    return call


def check_rates(problem: Problem, solution: MirrorFlowSolution, rates: Rates, *,
                gamma: float | None = None, window: float = 0.25, points: int = 12,
                bands: dict[str, float] | None = None, label: str = "") -> list[Check]:
    """Loss decay and norm growth (THEORY.md §5, [derived]) as fitted log-log slopes.

    On ``points`` log-spaced values of u = log t in ``[window · u_end, u_end]`` (diffrax-style
    order test):

    * loss: d log ℒ / d log t, measured vs the same fit of ``rates.loss``;
    * primal norm: d log ρ / d log log t with ρ = Q_∞(θ) (horizon gauge), vs ``primal_norm``;
    * dual norm: d log ‖z‖_∞ / d log log t, vs ``dual_norm`` (z ≈ f'(ρ)).

    Bands: absolute for the loss slope, relative for the norm slopes (:data:`BANDS`).
    ``gamma`` (horizon-normalised margin) defaults to the final Q-margin of the run.
    """
    bands = {**BANDS, **(bands or {})}
    lt = solution.log_t
    end = float(lt[-1])
    us = np.geomspace(max(window * end, 1e-3), end, points)
    if gamma is None:
        gamma = q_margin(problem, solution.theta[-1])
    if not (math.isfinite(gamma) and gamma > 0):
        return [Check(f"rates{label}", "margin gamma > 0", f"gamma = {gamma:.3g}", False,
                      "THEORY.md §5 needs separated data (positive normalised margin) at the "
                      "end of the run; integrate longer" + status_note(solution))]
    theta_at = [solution.theta[min(int(np.searchsorted(lt, u)), len(lt) - 1)] for u in us]
    u_at = np.array([lt[min(int(np.searchsorted(lt, u)), len(lt) - 1)] for u in us])
    note = status_note(solution)
    out = []
    meas_loss = np.interp(us, lt, solution.log_loss)
    loss_fn = _log_of(rates.loss, gamma)
    pred_loss = np.array([loss_fn(u) for u in us])
    m, p = slopes(us, meas_loss), slopes(us, pred_loss)
    out.append(Check(
        f"loss slope d log L/d log t{label}", f"{p:.4f} ± {bands['loss']}", f"{m:.4f}",
        bool(abs(m - p) <= bands["loss"]),
        f"THEORY.md §5 ({rates.regime}, loss ~ {rates.loss}, gamma = {gamma:.4g}): fit on "
        f"log t in [{us[0]:.3g}, {us[-1]:.3g}]" + note))
    for key, expr, fn in (
            ("primal", rates.primal_norm, lambda th: horizon_gauge(problem, th)),
            ("dual", rates.dual_norm, lambda th: float(np.max(np.abs(problem.mirror(th)))))):
        meas = np.log([fn(th) for th in theta_at])
        pred_fn = _log_of(problem_bound(problem, expr), gamma)
        pred = np.array([pred_fn(u) for u in u_at])
        x = np.log(u_at)
        m, p = slopes(x, meas), slopes(x, pred)
        band = bands[key] * max(abs(p), 0.1)
        out.append(Check(
            f"{key} norm slope d log|.|/d log log t{label}", f"{p:.3f} ± {band:.2g}",
            f"{m:.3f}", bool(abs(m - p) <= band),
            f"THEORY.md §5: {key} norm ~ {expr} ({'horizon gauge' if key == 'primal' else 'max|z|'}"
            f"), gamma = {gamma:.4g}, log t in [{u_at[0]:.3g}, {u_at[-1]:.3g}]" + note))
    return out


def problem_bound(problem: Problem, expr: sp.Expr) -> sp.Expr:
    """Substitute the potential's parameter values into a rates expression."""
    pot = problem.potential
    return pot.bind(expr) if isinstance(pot, Potential) else expr
