"""Arbitrary-precision mirror flow for a :class:`~numerics.Problem`: one run, as planned.

:func:`solve_precise` takes the :class:`~numerics.solvers.IntegrationPlan` of the run
(:func:`~numerics.solvers.plan_run`: method, state, clock, log t mode, tolerance and the
:class:`~numerics.solvers.Precision`), builds the heyoka system once
(:func:`problem_system`), hands it to the Taylor driver (:class:`TaylorIntegrator`) or the
Radau driver (:class:`RadauIntegrator`) and turns the run record into a
:class:`MirrorFlowSolution` whose float64 arrays serve plots and diagnostics, and whose
``theta_mp`` / ``log_loss_mp`` / ``min_margin_mp`` keep the working precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import mpmath
import numpy as np
import sympy as sp

from ...problem import MPMATH, NeuronGroup, Problem
from .._plan import IntegrationPlan, plan_run
from .._precision import Precision
from .._solution import MirrorFlowSolution, check_theta_rows
from .._stuck import StuckMonitor
from ._compile import to_mpf
from ._problem_system import problem_system
from ._radau import RadauIntegrator
from ._record import RunRecord
from ._taylor_integrator import TaylorIntegrator

__all__ = ["PreciseRun", "mp_balance", "mp_mirror", "solve_precise", "to_solution"]

_X = sp.Symbol("x", real=True)


def _balance_values(problem: Problem, thetas: np.ndarray) -> list[list[tuple[Any, Any]]]:
    """(C_j(θ_k), S_j(θ_k)) for every point k and neuron j, in mpmath (THEORY.md §2): the
    conserved quantity and the size of the terms it is summed from."""
    groups = problem.model.neuron_groups(problem.d)
    layers = problem.layer_index
    g_fns = {}
    for k in sorted(set(layers.tolist())):
        pot = problem.potential_of_layer(int(k))
        xs = [s for s in pot.balance_function.expr.free_symbols if s.name == "x"]
        g_fns[int(k)] = sp.lambdify(xs or [_X], pot.bind(pot.balance_function.expr), "mpmath")
    out = []
    for th in thetas:
        g = [g_fns[int(layers[m])](th[m]) for m in range(len(th))]
        out.append([_neuron_balance(g, gr) for gr in groups])
    return out


def _neuron_balance(g: list[Any], group: NeuronGroup) -> tuple[Any, Any]:
    """C = Σ_I g − k Σ_O g and S = Σ_I |g| + k Σ_O |g| of one neuron (mpmath)."""
    inc, out = [g[i] for i in group.incoming], [g[o] for o in group.outgoing]
    return (mpmath.fsum(inc) - group.k * mpmath.fsum(out),
            mpmath.fsum(abs(v) for v in inc) + group.k * mpmath.fsum(abs(v) for v in out))


def mp_balance(problem: Problem, thetas: np.ndarray,
               reference: np.ndarray | None = None) -> np.ndarray:
    """Relative balance-law residual of each θ_k against θ_ref, at the working precision.

    The definition of :func:`numerics.solvers.balance_residuals` (THEORY.md §2), in mpmath::

        r_k = max_j |C_j(θ_k) − C_j(θ_ref)| / (1 + max(S_j(θ_k), S_j(θ_ref)))

    with S_j = Σ_{I_j} |g| + k Σ_{O_j} |g|; returned as float64 (0 if there are no neurons).
    ``reference`` is the θ the residuals are measured from (default: ``thetas[0]``); a
    continued run passes the first θ of the whole run, so its residuals extend the earlier
    ones without recomputing them.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import TwoLayer, two_d
    >>> prob = Problem.create(two_d(4, seed=0), TwoLayer(width=1, activation="power(2)"),
    ...                       Potential.quadratic())
    >>> th0 = [mpmath.mpf(1), mpmath.mpf(0), mpmath.mpf(1)]   # C = 1/2 − 2 · 1/2, S = 3/2
    >>> th1 = [mpmath.mpf(1), mpmath.mpf(1), mpmath.mpf(1)]   # C = 0, S = 2
    >>> mp_balance(prob, [th0, th1]).tolist(), mp_balance(prob, [th0], reference=th1).tolist()
    ([0.0, 0.16666666666666666], [0.16666666666666666])
    """
    check_theta_rows(problem, [*thetas, *([] if reference is None else [reference])])
    if not problem.model.neuron_groups(problem.d):
        return np.zeros(len(thetas))
    ref = thetas[0] if reference is None else reference
    (at_ref,) = _balance_values(problem, [ref])
    return np.array([float(max(abs(c - c0) / (1 + max(s, s0))
                               for (c, s), (c0, s0) in zip(row, at_ref, strict=True)))
                     for row in _balance_values(problem, thetas)])


def mp_mirror(problem: Problem, theta: list[Any]) -> list[Any]:
    """z = ∇φ(θ) coordinatewise, in mpmath (for continuing a run in the dual state)."""
    layers = problem.layer_index
    out = []
    cache: dict[int, Any] = {}
    for m, v in enumerate(theta):
        k = int(layers[m])
        if k not in cache:
            pot = problem.potential_of_layer(k)
            xs = [s for s in pot.mirror_map.expr.free_symbols if s.name == "x"]
            cache[k] = sp.lambdify(xs or [_X], pot.bind(pot.mirror_map.expr), "mpmath")
        out.append(cache[k](v))
    return out


def _start_arg(problem: Problem, plan: IntegrationPlan,
               start: MirrorFlowSolution) -> tuple[Any, list[Any], Any]:
    """(clock, state parameters, log t) of the run ``start`` ended at, in ``plan``'s clock."""
    if start.theta_mp is None:
        raise ValueError("the run to continue has no high-precision state (a float64 run); "
                         "continue it with dps=None, or start a new run with dps")
    assert plan.precision is not None
    with plan.precision.workprec():
        th = list(start.theta_mp[-1])
        params = th if plan.state == "primal" else list(mp_mirror(problem, th))
        clock = mpmath.mpf(start.meta["clock_mp"])
        was = start.meta.get("clock", plan.clock)
        if was != plan.clock:      # e.g. a Radau run continued with Taylor
            clock = mpmath.exp(clock) if was == "log_s" else mpmath.log(clock)
        return clock, params, mpmath.mpf(start.meta["log_t_mp"])


def _saved_modes(start: MirrorFlowSolution | None) -> list[int] | None:
    """The activation pattern a Radau run ended with (``meta["solver"]["kink_modes"]``: per
    kink +1 active, -1 inactive, 0 sliding), or None (a new run, a Taylor run, a file saved
    before Radau recorded it: the pattern is then read from the kinks' signs)."""
    if start is None or not start.method.startswith("radau"):
        return None
    modes = start.meta.get("solver", {}).get("kink_modes")
    return None if modes is None else [int(m) for m in modes]


def _one_blas_thread() -> Any:
    """Radau's float64 LU of a 369 x 369 Newton matrix: 48 ms with two BLAS threads fighting
    for two cores, 1 ms with one (measured on the 8/8/4 net)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _end_key(sol: MirrorFlowSolution | None, log_t: float,
             per_decade: int) -> tuple[Any, ...] | None:
    """Where ``sol`` ends (clock, log t and θ at the working precision) and where it was
    going, or None (no run, a float64 run)."""
    if sol is None or sol.theta_mp is None or "clock_mp" not in sol.meta:
        return None
    return (float(log_t), int(per_decade), sol.meta["clock_mp"], sol.meta.get("log_t_mp"),
            tuple(sol.theta_mp[-1]))


class PreciseRun:
    """One planned arbitrary-precision run: the heyoka system is built and compiled once,
    and every checkpoint segment (:meth:`segment`) reuses the compiled integrator.

    A segment that continues the one before (``start`` ends where that segment's budget
    stopped it, with the same target and ``per_decade``) continues its integration
    (:meth:`~numerics.solvers.precise.RadauIntegrator.proceed`,
    :meth:`~numerics.solvers.precise.TaylorIntegrator.proceed`) instead of restarting from
    the stopped point, so checkpoint segments, cut by the wall clock, do not change the
    trajectory: it is the uninterrupted run's to the last bit.  Any other ``start`` (a saved
    file, rounded to its stored digits) restarts the integrator there.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, two_d
    >>> from numerics.solvers import plan_run
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic())
    >>> run = PreciseRun(prob, plan_run(prob, dps=30))
    >>> first = run.segment(log_t=20.0, max_seconds=60)
    >>> later = run.segment(log_t=50.0, max_seconds=60, start=first)
    >>> later.status, float(later.log_t[-1]), later.meta["solver"]["compiled"]
    ('reached', 50.0, False)
    """

    def __init__(self, problem: Problem, plan: IntegrationPlan) -> None:
        if plan.precision is None:
            raise ValueError("a precise run needs a plan with a precision (plan_run(dps=...))")
        self.problem, self.plan = problem, plan
        system = problem_system(problem, state=plan.state, clock=plan.clock)
        if plan.method == "radau":
            # nonlinear elimination settles twin units' weight differences (THEORY.md §7.3):
            # models without hidden units have none, and exp(x**2/2) on diagonal(2) (the
            # coverage cell) went wrong with it (bits raised to 960, log t = 627 in 400 s;
            # 10 s to log t = 1e3 without)
            self.integrator: Any = RadauIntegrator(
                system, precision=plan.precision, tol=plan.tol,
                jacobian_points=plan.jacobian_points, eliminate_fast=plan.network)
        else:
            self.integrator = TaylorIntegrator(
                system, precision=plan.precision, tol=plan.tol, logt_mode=plan.logt_mode,
                heyoka_options=dict(plan.heyoka_options))
        self._paused_at: tuple[Any, ...] | None = None  # where the last segment stopped

    def segment(self, *, log_t: float, max_seconds: float, per_decade: int = 8,
                start: MirrorFlowSolution | None = None,
                progress: Callable[[float], None] | None = None) -> MirrorFlowSolution:
        """Integrate from θ0 (or from where ``start`` ended) to ``log_t`` or the budget.

        If ``start`` ends where the last segment's budget stopped it (same ``log_t`` and
        ``per_decade``), that integration is continued (``integrator.proceed``): the
        segment's counters (``meta["solver"]["steps"]``, kinks, sliding statistics) are then
        its own, as for a restarted segment.
        """
        go_on = (self._paused_at is not None
                 and _end_key(start, log_t, per_decade) == self._paused_at)
        if self.plan.method == "radau":
            with _one_blas_thread():
                run = self._radau(log_t, max_seconds, per_decade, start, progress, go_on)
        else:
            run = self._taylor(log_t, max_seconds, per_decade, start, progress, go_on)
        reference = None if start is None else start.theta_mp[0]
        sol = to_solution(self.problem, run, self.plan, balance_reference=reference)
        paused = self.integrator.can_proceed
        self._paused_at = _end_key(sol, log_t, per_decade) if paused else None
        return sol

    def _radau(self, log_t: float, max_seconds: float, per_decade: int,
               start: MirrorFlowSolution | None,
               progress: Callable[[float], None] | None, go_on: bool) -> RunRecord:
        """The Radau run of :meth:`segment`: the last segment continued (``go_on``: ``start``
        ends where its budget stopped it, same target), else a run from θ0 or ``start``."""
        if go_on:
            return self.integrator.proceed(budget_seconds=max_seconds, progress=progress)
        start_arg = None if start is None else _start_arg(self.problem, self.plan, start)
        theta0 = None if start is not None else [float(v) for v in self.problem.theta0]
        monitor = (StuckMonitor(self.problem, float(log_t)).update if self.plan.network
                   else None)
        return self.integrator.run(theta0, float(log_t), start=start_arg,
                                   budget_seconds=max_seconds, per_decade=per_decade,
                                   progress=progress, modes=_saved_modes(start),
                                   monitor=monitor)

    def _taylor(self, log_t: float, max_seconds: float, per_decade: int,
                start: MirrorFlowSolution | None,
                progress: Callable[[float], None] | None, go_on: bool) -> RunRecord:
        """The Taylor run of :meth:`segment`, as :meth:`_radau` (a continued run keeps its
        stuck monitor; a new run, on a network, gets a new one)."""
        if go_on:
            return self.integrator.proceed(budget_seconds=max_seconds, progress=progress)
        start_arg = None if start is None else _start_arg(self.problem, self.plan, start)
        theta0 = None if start is not None else [float(v) for v in self.problem.theta0]
        monitor = (StuckMonitor(self.problem, float(log_t)).update if self.plan.network
                   else None)
        return self.integrator.run(theta0, float(log_t), start=start_arg,
                                   budget_seconds=max_seconds, per_decade=per_decade,
                                   progress=progress, monitor=monitor)


def solve_precise(problem: Problem, *, log_t: float, dps: int, log_loss: float | None = None,
                  max_seconds: float = 600.0,
                  logt_mode: Literal["auto", "ode", "quadrature"] = "auto",
                  state: Literal["auto", "dual", "primal"] = "auto", per_decade: int = 8,
                  tol: float | None = None, progress: Callable[[float], None] | None = None,
                  start: MirrorFlowSolution | None = None,
                  method: Literal["auto", "taylor", "radau"] = "auto",
                  heyoka_options: dict[str, Any] | None = None,
                  plan: IntegrationPlan | None = None) -> MirrorFlowSolution:
    """Integrate a problem at ``dps`` digits with the planned method (no certificate).

    Use :func:`numerics.solve_mirror_flow` with ``dps=`` for certified results; this is the
    single run it repeats.

    ``method``: ``"taylor"`` (heyoka's explicit Taylor method; the fast path), ``"radau"``
    (:func:`integrate_implicit`, Radau IIA in MPFR, primal state, clock ``log s`` then
    ``log log t``, ReLU kinks located to working precision: for stiff l_inf-type
    potentials such as cosh, where every explicit method stalls near log t = 40), or
    ``"auto"`` (:func:`numerics.solvers.auto_method`). ``heyoka_options`` go to
    ``heyoka.taylor_adaptive`` (default on networks in real128 with two or more cores:
    ``parallel_mode=True``). Every choice is made by :func:`numerics.solvers.plan_run`
    (or pass its ``plan``).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic())
    >>> sol = solve_precise(prob, log_t=50.0, dps=30)
    >>> sol.status, sol.method, float(sol.log_t[-1])
    ('reached', 'taylor-real128', 50.0)
    """
    if log_loss is not None:
        raise NotImplementedError("log_loss early stop is float64-only for now; use log_t")
    if plan is None:
        plan = plan_run(problem, dps=dps, method=method, state=state, logt_mode=logt_mode,
                        tol=tol, heyoka_options=heyoka_options, log_t=log_t)
    return PreciseRun(problem, plan).segment(log_t=log_t, max_seconds=max_seconds,
                                             per_decade=per_decade, start=start,
                                             progress=progress)


def _method_name(plan: IntegrationPlan) -> str:
    assert plan.precision is not None
    return "radau-iia-mpfr" if plan.method == "radau" else f"taylor-{plan.precision.fp_type}"


def to_solution(problem: Problem, run: RunRecord, plan: IntegrationPlan, *,
                balance_reference: np.ndarray | None = None) -> MirrorFlowSolution:
    """A :class:`MirrorFlowSolution` (float64 arrays plus mp arrays) from a run record.

    ``precision_bits`` records the bits the driver worked at (``run.stats["prec"]`` when the
    driver reports it, else the plan's).
    """
    precision: Precision = plan.precision  # type: ignore[assignment]
    bits = int(run.stats.get("prec") or precision.bits)
    with mpmath.workprec(bits + precision.guard_bits):
        theta_mp = np.array([[to_mpf(v) for v in row] for row in run.theta], dtype=object)
        ll_mp = np.array([to_mpf(v) for v in run.log_loss], dtype=object)
        X = MPMATH.asarray(problem.data.X)
        y = problem.data.y
        margins = [min(float(yi) * o for yi, o in zip(y, problem.model.outputs(th, X, MPMATH),
                                                     strict=True)) for th in theta_mp]
        mm_mp = np.array(margins, dtype=object)
        resid = mp_balance(problem, theta_mp, balance_reference)
    digits = Precision(precision.dps, "real", bits).print_digits
    reason = run.stats.get("error_message") or run.stats.get("reason")
    sol = MirrorFlowSolution.from_states(
        problem, s=np.array([float(v) for v in run.s]),
        log_t=np.array([float(v) for v in run.logt]),
        thetas=np.array([[float(v) for v in row] for row in theta_mp]), status=run.status,
        method=_method_name(plan), precision_bits=bits, rhs_evals=int(run.stats["steps"]),
        seconds=float(run.stats["seconds"] + run.stats["compile_seconds"]),
        extra={"solver": dict(run.stats), "dps": int(precision.dps), "state": plan.state,
               "clock": plan.clock, "plan": plan.describe(),
               **({"reason": str(reason)} if reason else {}),
               "clock_mp": mpmath.nstr(run.clock[-1], digits),
               "log_t_mp": mpmath.nstr(run.logt[-1], digits)})
    return sol.with_precise(theta_mp, ll_mp, mm_mp, resid, dps=digits - 5)
