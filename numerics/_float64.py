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
from scipy.integrate import solve_ivp

from ._loss import log_loss_and_weights
from ._problem import Problem
from ._solution import MirrorFlowSolution

__all__ = ["solve_float64"]


class _OutOfTimeError(Exception):
    """Raised inside the right-hand side once the wall-clock budget is spent."""


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
    >>> from numerics._data import two_d
    >>> from numerics._models import Linear
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic(), seed=0)
    >>> sol = solve_float64(prob, log_t=50.0)
    >>> sol.status, round(float(sol.log_t[-1]), 6)
    ('reached', 50.0)
    """
    if not np.isfinite(log_t) or log_t <= log_t0:
        raise ValueError(f"log_t must be a finite target above the start log t = {log_t0}, "
                         f"got {log_t}")
    X, y, model = problem.data.X, problem.data.y, problem.model
    dual = problem.prefers_dual
    theta_of = problem.inverse_mirror if dual else (lambda v: v)
    n_rhs = 0

    def rhs(_s, state):
        nonlocal n_rhs
        n_rhs += 1
        if n_rhs % 64 == 0 and time.perf_counter() > deadline:
            raise _OutOfTimeError
        v, lt = state[:-1], state[-1]
        theta = theta_of(v)
        out, grads = model.outputs_and_grads(theta, X)
        q = y * out
        ll, w = log_loss_and_weights(q, problem.loss)
        g = (w * y) @ grads                        # -∇ log ℒ
        dv = g if dual else g / problem.hessian_diag(theta)
        return np.append(dv, np.exp(min(-lt - ll, 700.0)))

    def reached(_s, state):
        return state[-1] - log_t
    reached.terminal, reached.direction = True, 1

    def loss_reached(_s, state):
        q = y * model.outputs(theta_of(state[:-1]), X)
        return log_loss_and_weights(q, problem.loss)[0] - log_loss_target
    loss_reached.terminal, loss_reached.direction = True, -1
    events = [reached] + ([loss_reached] if log_loss_target is not None else [])

    theta0 = problem.theta0 if theta_start is None else np.asarray(theta_start, dtype=float)
    v0 = problem.mirror(theta0) if dual else theta0.copy()
    start = time.perf_counter()
    # the budget is enforced inside a chunk too (chunks double in s, one can take minutes);
    # the interrupted chunk is dropped, the run keeps every point of the earlier chunks
    deadline = start + max_seconds
    s_span, states, status, bar = [float(s0)], [np.append(v0, log_t0)], "running", None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=float(log_t), unit="log t", desc="mirror flow (float64)")
    s_end = 1.0
    while status == "running":
        try:
            sol = solve_ivp(rhs, (s_span[-1], s_span[-1] + s_end), states[-1], method=method,
                            rtol=rtol, atol=atol, events=events, dense_output=False)
        except KeyboardInterrupt:
            status = "interrupted"
            break
        except _OutOfTimeError:
            status = "budget"
            break
        s_span += list(sol.t[1:])
        states += list(sol.y.T[1:])
        if bar is not None:
            bar.update(min(float(states[-1][-1]), log_t) - bar.n)
        if sol.status == 1:
            status = "reached" if len(sol.t_events[0]) else "log_loss_target"
        elif sol.status == -1:
            status = f"failed: {sol.message}"
        elif time.perf_counter() - start > max_seconds:
            status = "budget"
        s_end *= 2
    if bar is not None:
        bar.close()
    states_arr = np.array(states)
    thetas = np.array([theta_of(v) for v in states_arr[:, :-1]])
    return MirrorFlowSolution.from_states(
        problem, s=np.array(s_span), log_t=states_arr[:, -1], thetas=thetas,
        status=status, method=f"scipy {method} (float64, {'dual' if dual else 'primal'})",
        precision_bits=53, rhs_evals=n_rhs, seconds=time.perf_counter() - start,
        extra={"rtol": rtol, "atol": atol})
