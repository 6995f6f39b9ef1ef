"""Float64 mirror flow with scipy ``solve_ivp`` (the baseline path; THEORY.md §7).

Time change ds = ℒ dt, so dz/ds = -∇ log ℒ = Σ_i w_i ∇q_i with w_i = -ℓ'(q_i)/ℒ. The run
starts at t = 0, s = 0, as the arbitrary-precision paths do; the clock carried in the ODE is
τ = log(1 + t), with dτ/ds = exp(-τ - log ℒ) (finite at t = 0, where log t = -inf), and the
recorded log t is log(expm1(τ)) (:func:`log_t_of_tau`; targets map back by :func:`tau_of_log_t`).
log ℒ is a log-sum-exp, so exp(-1e6) losses are ordinary numbers. The state is the dual z
when every potential has a closed-form inverse mirror map, else the primal θ with
dθ/ds = (-∇ log ℒ) / f''(θ) (diagonal Hessian: no inversion), except for potentials with
f''(0) = 0: their primal ODE has a branch point wherever a coordinate crosses 0, so they keep
the dual state with a numeric inverse (:func:`float64_inverse`, :func:`choose_state`).
Float64 loses the late phase (THEORY.md §7); the arbitrary-precision path is the remedy.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau
from scipy.optimize import brentq

from ..problem import Problem, log_loss_and_weights
from ._chatter import ChatterMonitor
from ._inverse64 import float64_inverse
from ._plan import choose_state, curvature_limits_by_layer, is_network, linf_stiffness_reason
from ._solution import MirrorFlowSolution
from ._status import Status
from ._stuck import StuckMonitor, check_stuck_levels

__all__ = ["log_t_of_tau", "solve_float64", "tau_of_log_t"]

#: scipy steppers by ``solve_ivp`` name.
METHODS = {"DOP853": DOP853, "RK45": RK45, "RK23": RK23, "Radau": Radau, "BDF": BDF,
           "LSODA": LSODA}


def log_t_of_tau(tau):
    """log t from the ODE's clock τ = log(1 + t): log(expm1(τ)), without cancellation.

    ``τ + log(-expm1(-τ))`` above τ = 1 (``expm1`` would overflow past 709), ``log(expm1(τ))``
    below (exact to rounding for small τ); τ = 0 (the start, t = 0) gives -inf.

    Examples
    --------
    >>> float(log_t_of_tau(0.0)), float(log_t_of_tau(np.log1p(1e-300)))
    (-inf, -690.7755278982137)
    >>> float(log_t_of_tau(1000.0)), bool(log_t_of_tau(np.log(2.0)) == 0.0)
    (1000.0, True)
    """
    tau = np.asarray(tau, dtype=float)
    big = tau > 1.0
    with np.errstate(divide="ignore"):
        return np.where(big, tau + np.log(-np.expm1(-np.where(big, tau, 1.0))),
                        np.log(np.expm1(np.where(big, 1.0, tau))))


def tau_of_log_t(log_t):
    """τ = log(1 + t) = log(1 + exp(log t)), the inverse of :func:`log_t_of_tau`.

    Examples
    --------
    >>> float(tau_of_log_t(-np.inf)), float(tau_of_log_t(0.0)) == float(np.log(2.0))
    (0.0, True)
    """
    return np.logaddexp(0.0, log_t)


class _OutOfTimeError(Exception):
    """Raised inside the right-hand side once the wall-clock budget is spent."""


def _stop_in_step(solver, tau: float, log_loss_of, log_loss_target: float | None):
    """``(status, s, state)`` if the step just taken crossed the clock τ = ``tau`` (the
    target log t) or the loss target (located on the step's dense output, as ``solve_ivp``'s
    terminal events are)."""
    if solver.y[-1] >= tau:
        status, event = Status.REACHED, lambda v: v[-1] - tau
    elif log_loss_target is not None and log_loss_of(solver.y) <= log_loss_target:
        status, event = Status.LOG_LOSS_TARGET, lambda v: log_loss_of(v) - log_loss_target
    else:
        return None
    dense = solver.dense_output()
    s_stop = _root_in_step(solver, lambda s: event(dense(s)))
    return status, s_stop, dense(s_stop)


def _root_in_step(solver, gap) -> float:
    """The root of ``gap(s)`` (negative at the step's start, >= 0 at its end) in the step
    ``solver`` just took."""
    return brentq(gap, solver.t_old, solver.t,
                  xtol=4 * np.finfo(float).eps * max(1.0, abs(solver.t)))


def _check_args(log_t: float, log_t0: float, method: str) -> None:
    if not np.isfinite(log_t) or not log_t > log_t0:
        raise ValueError(f"log_t must be a finite target above the start log t = {log_t0}, "
                         f"got {log_t}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")


class _Watch:
    """The per-step stops that are properties of the trajectory: a stuck network
    (:class:`StuckMonitor`, at the log t levels of :func:`next_stuck_check`) and chattering at
    a sliding surface (:class:`ChatterMonitor`, every step: ReLU kinks, and θ_k = 0 on layers
    whose potential has f''(0) = 0)."""

    def __init__(self, problem: Problem, rtol: float, zero_curvature_layers: tuple[int, ...],
                 target: float) -> None:
        self.network = is_network(problem.model)
        self.stuck = StuckMonitor(problem, target) if self.network else None
        self.chatter = ChatterMonitor(problem, rtol, zero_curvature_layers)
        self.active = self.chatter.active or self.network
        self.next_check = -np.inf

    def after_step(self, s_old: float, s_new: float, theta, log_t: float
                   ) -> tuple[Status | None, str | None]:
        """``(status, reason)`` to stop with after the step from ``s_old`` to ``s_new``
        (chattering; the stuck monitor is :meth:`stuck_in_step`'s)."""
        reason = self.chatter.update(s_old, s_new, theta, log_t)
        if reason is not None:
            return Status.SLIDING, reason
        return None, None

    def stuck_in_step(self, solver, theta_of, tau_old: float, target: float) -> str | None:
        """The stuck monitor's reason at the check levels the step just taken (from the clock
        ``tau_old``) crossed below ``target`` (:func:`check_stuck_levels`: θ on the step's
        dense output where log t equals the level), else None."""
        if self.stuck is None:
            return None
        lt0, lt1 = float(log_t_of_tau(tau_old)), float(log_t_of_tau(solver.y[-1]))
        dense = None

        def theta_at(level: float):
            nonlocal dense
            dense = solver.dense_output() if dense is None else dense
            tau = float(tau_of_log_t(level))
            s = solver.t
            if dense(solver.t)[-1] > tau:
                s = _root_in_step(solver, lambda v: dense(v)[-1] - tau)
            return theta_of(dense(s)[:-1])

        self.next_check, reason = check_stuck_levels(self.stuck.update, self.next_check, lt0,
                                                     min(lt1, target), theta_at)
        return reason


def solve_float64(problem: Problem, log_t: float, *, rtol: float = 1e-10, atol: float = 1e-12,
                  method: str = "DOP853", max_seconds: float = 60.0, progress: bool = False,
                  theta_start=None, log_t0: float = -np.inf, s0: float = 0.0,
                  log_loss_target: float | None = None) -> MirrorFlowSolution:
    """Integrate to ``log t = log_t`` (or until ``max_seconds``) in float64.

    ``theta_start``, ``log_t0`` and ``s0`` continue a run (the default starts at θ0, t = 0,
    s = 0: log t = -inf at the first recorded point; the arbitrary-precision paths share this
    time origin). ``log_loss_target`` stops early once log ℒ falls below it. Ctrl-C returns
    what was computed, with status ``"interrupted"``. The run stops early, with a reason, when
    a network is stuck (``"stuck"``, :class:`StuckMonitor`) or the flow slides along a surface
    scipy cannot follow (``"sliding"``, :class:`ChatterMonitor`: a ReLU kink, or θ_k = 0 for
    f''(0) = 0).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic(), seed=0)
    >>> sol = solve_float64(prob, log_t=50.0)
    >>> sol.status, round(float(sol.log_t[-1]), 6), float(sol.log_t[0])
    ('reached', 50.0, -inf)
    """
    _check_args(log_t, log_t0, method)
    X, y, model = problem.data.X, problem.data.y, problem.model
    # choose_state's "taylor" rule (Lambert W inverses stay primal here too), plus float64's
    # own: f''(0) = 0 potentials in the dual state (the primal ODE is singular at θ_k = 0)
    zero_layers = tuple(k for k, lim in curvature_limits_by_layer(problem).items() if 0 in lim)
    dual = choose_state(problem) == "dual" or bool(zero_layers)
    watch = _Watch(problem, rtol, zero_layers, float(log_t))
    theta_of = ((problem.inverse_mirror if problem.has_closed_form_inverse
                 else float64_inverse(problem)) if dual else (lambda v: v))
    n_rhs = 0

    def rhs(_s, state):
        nonlocal n_rhs
        n_rhs += 1
        if n_rhs % 64 == 0 and time.perf_counter() > deadline:
            raise _OutOfTimeError
        v, tau = state[:-1], state[-1]
        theta = theta_of(v)
        ll, g = problem.log_loss_and_force(theta)  # log ℒ, -∇ log ℒ
        dv = g if dual else g / problem.hessian_diag(theta)
        return np.append(dv, np.exp(min(-tau - ll, 700.0)))    # dτ/ds = 1/((1 + t) ℒ)

    def log_loss_of(state):
        q = y * model.outputs(theta_of(state[:-1]), X)
        return log_loss_and_weights(q, problem.loss)[0]

    theta0 = problem.theta0 if theta_start is None else np.asarray(theta_start, dtype=float)
    v0 = problem.mirror(theta0) if dual else theta0.copy()
    tau_target = float(tau_of_log_t(log_t))
    start = time.perf_counter()
    deadline = start + max_seconds
    s_span, states = [float(s0)], [np.append(v0, float(tau_of_log_t(log_t0)))]
    status, reason, bar = None, None, None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=float(log_t), unit="log t", desc="mirror flow (float64)")

    def show() -> None:
        lt = float(log_t_of_tau(states[-1][-1]))
        bar.update(min(max(lt, 0.0), log_t) - bar.n)
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
            reason = watch.stuck_in_step(solver, theta_of, states[-1][-1], float(log_t))
            if reason is not None:
                status = Status.STUCK
                s_span.append(float(solver.t))
                states.append(solver.y.copy())
                break
            stop = _stop_in_step(solver, tau_target, log_loss_of, log_loss_target)
            if stop is not None:
                status, s_stop, state = stop
                s_span.append(s_stop)
                states.append(state)
                break
            s_span.append(float(solver.t))
            states.append(solver.y.copy())
            if watch.active:
                status, reason = watch.after_step(
                    s_span[-2], s_span[-1], theta_of(solver.y[:-1]),
                    float(log_t_of_tau(solver.y[-1])))
            if status is None and time.perf_counter() > deadline:
                status = Status.BUDGET
            if bar is not None and len(s_span) % 32 == 0:
                show()
    except KeyboardInterrupt:
        status = Status.INTERRUPTED
    except _OutOfTimeError:
        status = Status.BUDGET
    if bar is not None:
        show()
        bar.close()
    if status in (Status.BUDGET, Status.FAILED):
        reason = "; ".join(filter(None, [reason, linf_stiffness_reason(problem, "float64")]))
    states_arr = np.array(states)
    thetas = np.array([theta_of(v) for v in states_arr[:, :-1]])
    return MirrorFlowSolution.from_states(
        problem, s=np.array(s_span), log_t=log_t_of_tau(states_arr[:, -1]), thetas=thetas,
        status=status, method=f"scipy {method} (float64, {'dual' if dual else 'primal'})",
        precision_bits=53, rhs_evals=n_rhs, seconds=time.perf_counter() - start,
        extra={"rtol": rtol, "atol": atol, **({"reason": reason} if reason else {})})
