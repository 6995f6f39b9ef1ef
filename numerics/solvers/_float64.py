"""Float64 mirror flow with scipy ``solve_ivp`` (the baseline path; THEORY.md §7).

Time change ds = ℒ dt, so dz/ds = -∇ log ℒ = Σ_i w_i ∇q_i with w_i = -ℓ'(q_i)/ℒ, and
d(log t)/ds = exp(-log t - log ℒ). log ℒ is a log-sum-exp, so exp(-1e6) losses are ordinary
numbers. The state is the dual z when every potential has a closed-form inverse mirror map,
else the primal θ with dθ/ds = (-∇ log ℒ) / f''(θ) (diagonal Hessian: no inversion).
Float64 loses the late phase (THEORY.md §7); the arbitrary-precision path is the remedy.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau
from scipy.optimize import brentq

from ..problem import Problem, log_loss_and_weights
from ._plan import choose_state, is_network
from ._solution import MirrorFlowSolution
from ._status import Status
from ._stuck import StuckMonitor

__all__ = ["solve_float64"]

#: scipy steppers by ``solve_ivp`` name.
METHODS = {"DOP853": DOP853, "RK45": RK45, "RK23": RK23, "Radau": Radau, "BDF": BDF,
           "LSODA": LSODA}


#: Accepted steps between two checks of :func:`stuck_reason` on networks.
_STUCK_EVERY = 64


class _OutOfTimeError(Exception):
    """Raised inside the right-hand side once the wall-clock budget is spent."""


def _stop_in_step(solver, log_t: float, log_loss_of, log_loss_target: float | None):
    """``(status, s, state)`` if the step just taken crossed log t = ``log_t`` or the loss
    target (located on the step's dense output, as ``solve_ivp``'s terminal events are)."""
    if solver.y[-1] >= log_t:
        status, event = Status.REACHED, lambda v: v[-1] - log_t
    elif log_loss_target is not None and log_loss_of(solver.y) <= log_loss_target:
        status, event = Status.LOG_LOSS_TARGET, lambda v: log_loss_of(v) - log_loss_target
    else:
        return None
    dense = solver.dense_output()
    s_stop = brentq(lambda s: event(dense(s)), solver.t_old, solver.t,
                    xtol=4 * np.finfo(float).eps * max(1.0, abs(solver.t)))
    return status, s_stop, dense(s_stop)


def solve_float64(problem: Problem, log_t: float, *, rtol: float = 1e-10, atol: float = 1e-12,
                  method: str = "DOP853", max_seconds: float = 60.0, progress: bool = False,
                  theta_start=None, log_t0: float = 0.0, s0: float = 0.0,
                  log_loss_target: float | None = None) -> MirrorFlowSolution:
    """Integrate to ``log t = log_t`` (or until ``max_seconds``) in float64.

    ``theta_start``, ``log_t0`` and ``s0`` continue a run (the default starts at θ0, t = 1,
    s = 0). ``log_loss_target`` stops early once log ℒ falls below it. Ctrl-C returns what
    was computed, with status ``"interrupted"``.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic(), seed=0)
    >>> sol = solve_float64(prob, log_t=50.0)
    >>> sol.status, round(float(sol.log_t[-1]), 6)
    ('reached', 50.0)
    """
    if not np.isfinite(log_t) or log_t <= log_t0:
        raise ValueError(f"log_t must be a finite target above the start log t = {log_t0}, "
                         f"got {log_t}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    X, y, model = problem.data.X, problem.data.y, problem.model
    dual = choose_state(problem) == "dual"
    network, stuck = is_network(model), StuckMonitor(problem)
    theta_of = problem.inverse_mirror if dual else (lambda v: v)
    n_rhs = 0

    def rhs(_s, state):
        nonlocal n_rhs
        n_rhs += 1
        if n_rhs % 64 == 0 and time.perf_counter() > deadline:
            raise _OutOfTimeError
        v, lt = state[:-1], state[-1]
        theta = theta_of(v)
        ll, g = problem.log_loss_and_force(theta)  # log ℒ, -∇ log ℒ
        dv = g if dual else g / problem.hessian_diag(theta)
        return np.append(dv, np.exp(min(-lt - ll, 700.0)))

    def log_loss_of(state):
        q = y * model.outputs(theta_of(state[:-1]), X)
        return log_loss_and_weights(q, problem.loss)[0]

    theta0 = problem.theta0 if theta_start is None else np.asarray(theta_start, dtype=float)
    v0 = problem.mirror(theta0) if dual else theta0.copy()
    start = time.perf_counter()
    deadline = start + max_seconds
    s_span, states, status, bar = [float(s0)], [np.append(v0, log_t0)], None, None
    reason = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=float(log_t), unit="log t", desc="mirror flow (float64)")
    # scipy's stepper, one accepted step at a time: a budget stop or Ctrl-C keeps every step
    # taken (inside solve_ivp they would lose the whole call). The budget is also checked in
    # the right-hand side: one stiff step can take minutes.
    solver = METHODS[method](rhs, float(s0), states[-1], np.inf, rtol=rtol, atol=atol)
    try:
        while status is None:
            message = solver.step()
            if solver.status == "failed":
                status, reason = Status.FAILED, f"scipy {method}: {message}"
                break
            stop = _stop_in_step(solver, log_t, log_loss_of, log_loss_target)
            if stop is not None:
                status, s_stop, state = stop
                s_span.append(s_stop)
                states.append(state)
                break
            s_span.append(float(solver.t))
            states.append(solver.y.copy())
            if network and len(s_span) % _STUCK_EVERY == 0:
                reason = stuck.update(float(solver.y[-1]), theta_of(solver.y[:-1]))
                status = Status.STUCK if reason else None
            if status is None and time.perf_counter() > deadline:
                status = Status.BUDGET
            if bar is not None and len(s_span) % 32 == 0:
                bar.update(min(float(states[-1][-1]), log_t) - bar.n)
    except KeyboardInterrupt:
        status = Status.INTERRUPTED
    except _OutOfTimeError:
        status = Status.BUDGET
    if bar is not None:
        bar.update(min(float(states[-1][-1]), log_t) - bar.n)
        bar.close()
    states_arr = np.array(states)
    thetas = np.array([theta_of(v) for v in states_arr[:, :-1]])
    return MirrorFlowSolution.from_states(
        problem, s=np.array(s_span), log_t=states_arr[:, -1], thetas=thetas,
        status=status, method=f"scipy {method} (float64, {'dual' if dual else 'primal'})",
        precision_bits=53, rhs_evals=n_rhs, seconds=time.perf_counter() - start,
        extra={"rtol": rtol, "atol": atol, **({"reason": reason} if reason else {})})
