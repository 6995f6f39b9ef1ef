"""The one entry point: :func:`solve_mirror_flow` (and :func:`resume`).

Each result carries a certificate: the same run repeated at a tighter tolerance (float64)
or higher precision (arbitrary precision), and the number of agreeing significant digits of
the final direction θ/‖θ‖ and of the final minimal margin (``meta["digits"]``).
"""

from __future__ import annotations

import math

import numpy as np

from ._float64 import solve_float64
from ._problem import Problem
from ._solution import MirrorFlowSolution, balance_residuals

__all__ = ["agreeing_digits", "resume", "solve_mirror_flow"]


def agreeing_digits(a, b, cap: float = 60.0) -> float:
    """Significant digits on which ``a`` and ``b`` agree (max-norm, relative to ``b``).

    Examples
    --------
    >>> agreeing_digits([1.0, 2.0], [1.0, 2.000001])
    6.3...
    >>> agreeing_digits([1.0], [1.0])
    60.0
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b)))
    return cap if err == 0 else float(min(cap, max(0.0, -math.log10(err / scale))))


def _certify(sol: MirrorFlowSolution, ref: MirrorFlowSolution) -> dict[str, float]:
    def direction(s):
        th = s.theta[-1]
        return th / np.linalg.norm(th)
    return {"direction": agreeing_digits(direction(sol), direction(ref)),
            "margin": agreeing_digits([sol.min_margin[-1]], [ref.min_margin[-1]]),
            "log_loss": agreeing_digits([sol.log_loss[-1]], [ref.log_loss[-1]])}


def solve_mirror_flow(problem: Problem, *, log_t: float, dps: int | None = None,
                      log_loss: float | None = None, max_seconds: float = 120.0,
                      certify: bool = True, progress: bool = False,
                      rtol: float = 1e-11) -> MirrorFlowSolution:
    """Integrate d/dt ∇φ(θ) = -∇ℒ(θ) until ``log t = log_t`` (THEORY.md §1, §7).

    Parameters
    ----------
    problem
        Data, model, potential(s), loss and θ0.
    log_t
        Target log t (the time change ds = ℒ dt makes t = exp(1e4) reachable).
    dps
        ``None``: float64 (scipy DOP853). An integer: arbitrary precision with that many
        decimal digits (not available yet in this version: raises NotImplementedError).
    log_loss
        Optional early stop once log ℒ falls below this value.
    max_seconds
        Wall-clock budget; the result then has status ``"budget"``.
    certify
        Repeat the run at a tighter tolerance (float64: 1000x, floor 3e-14) and record
        agreeing digits in
        ``meta["digits"]`` (direction, margin, log loss).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sol = solve_mirror_flow(prob, log_t=30.0)
    >>> sol.status, sol.meta["digits"]["direction"] > 6
    ('reached', True)
    """
    if dps is not None:
        raise NotImplementedError(
            "arbitrary-precision integration (dps=...) is not in this version yet; use "
            "dps=None (float64) for now")
    kw = dict(log_t=log_t, max_seconds=max_seconds, log_loss_target=log_loss)
    sol = solve_float64(problem, rtol=rtol, atol=rtol * 1e-2, progress=progress, **kw)
    if certify and sol.status in ("reached", "log_loss_target"):
        ref_rtol = max(rtol * 1e-3, 3e-14)      # scipy's floor is 2.2e-14
        ref = solve_float64(problem, rtol=ref_rtol, atol=ref_rtol * 1e-2, **kw)
        sol.meta["digits"] = _certify(sol, ref)
        sol.meta["certificate"] = f"float64 run at rtol={ref_rtol:g}"
    return sol


def resume(solution: MirrorFlowSolution, problem: Problem, *, log_t: float,
           max_seconds: float = 120.0, progress: bool = False) -> MirrorFlowSolution:
    """Continue a saved run to a later ``log_t``; returns the concatenated trajectory.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic())
    >>> first = solve_mirror_flow(prob, log_t=10.0, certify=False)
    >>> more = resume(first, prob, log_t=20.0)
    >>> float(more.log_t[0]), round(float(more.log_t[-1]), 6)
    (0.0, 20.0)
    """
    last = float(solution.log_t[-1])
    if log_t <= last:
        raise ValueError(f"the run already reached log t = {last}; ask for a later log_t")
    tail = solve_float64(problem, log_t=log_t, theta_start=solution.theta[-1], log_t0=last,
                         s0=float(solution.s[-1]), max_seconds=max_seconds,
                         progress=progress)
    cat = {k: np.concatenate([getattr(solution, k), getattr(tail, k)[1:]])
           for k in ("log_t", "s", "theta", "z", "log_loss", "min_margin")}
    resid = balance_residuals(problem, cat["theta"])   # relative to the start of the run
    return MirrorFlowSolution(
        cat["log_t"], cat["s"], cat["theta"], cat["z"], cat["log_loss"], cat["min_margin"],
        resid, tail.status, tail.method, tail.precision_bits,
        solution.rhs_evals + tail.rhs_evals, solution.seconds + tail.seconds,
        {**solution.meta, "resumed_at_log_t": last})
