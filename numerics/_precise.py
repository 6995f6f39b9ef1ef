"""Arbitrary-precision mirror flow for a :class:`~numerics.Problem`: heyoka Taylor, certified.

This module is the adapter between the user-level objects (a :class:`Problem` built from
``theory`` potentials and a homogeneous model) and the Taylor core
(:func:`numerics._system.build_mirror_flow_system`, :func:`numerics._taylor.integrate_taylor`):

* every scalar potential is handed over as its *derived* sympy objects (``f'``, ``f''`` and the
  verified inverse mirror map of :class:`theory.Potential`) -- nothing is re-derived here;
* the model's forward pass and gradient are evaluated on heyoka expressions
  (:data:`numerics.HEYOKA` backend), its ReLU pre-activations become kink events;
* the working type follows the requested decimal digits ``dps``: ``real128`` (113 bits) while
  ``dps + 4 <= 34``, MPFR ``real`` with ``ceil((dps + 8) log2 10)`` bits above;
* the result is a :class:`MirrorFlowSolution` whose float64 arrays serve plots and diagnostics, and
  whose ``theta_mp`` / ``log_loss_mp`` / ``min_margin_mp`` keep the working precision.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, Literal

import mpmath
import numpy as np
import sympy as sp

from theory import Potential

from ._backends import HEYOKA, MPMATH
from ._models import Diagonal, LeakyReLU, Linear, ReLU, SquareReLU, TwoLayer
from ._problem import Problem, family_inverse
from ._solution import MirrorFlowSolution

__all__ = ["auto_method", "precision_plan", "problem_system", "scalar_potential",
           "solve_precise"]

_X = sp.Symbol("x", real=True)
_Z = sp.Symbol("z", real=True)
_LOG2_10 = math.log2(10)


def precision_plan(dps: int) -> tuple[str, int | None, int]:
    """Working type for ``dps`` requested digits: ``(fp_type, prec, bits)``.

    Four guard digits are kept for roundoff accumulated along the run.

    Examples
    --------
    >>> precision_plan(30)
    ('real128', None, 113)
    >>> precision_plan(50)
    ('real', 193, 193)
    """
    dps = int(dps)
    if dps < 16:
        raise ValueError(f"dps={dps}: arbitrary precision starts above float64; use dps=None for "
                         "float64 or dps >= 16")
    if dps + 4 <= 34:
        return "real128", None, 113
    bits = math.ceil((dps + 8) * _LOG2_10)
    return "real", bits, bits


def scalar_potential(pot: Potential) -> Any:
    """The Taylor core's :class:`~numerics._system.ScalarPotential` of a theory potential.

    Examples
    --------
    >>> sp_ = scalar_potential(Potential.hyperbolic_entropy(0.1))
    >>> sp_.fprime, sp_.inverse
    (asinh(10*x), sinh(x)/10)
    """
    from ._system import ScalarPotential

    x = [s for s in pot.mirror_map.expr.free_symbols if s.name == "x"]
    xsym = x[0] if x else _X

    def bound(expr: sp.Expr | None, var: sp.Symbol) -> sp.Expr | None:
        if expr is None:
            return None
        return sp.sympify(pot.bind(expr)).xreplace({var: _X})

    zsym = [s for s in (pot.inverse_mirror_map.expr or sp.S(0)).free_symbols if s.name == "z"]
    inverse = bound(pot.inverse_mirror_map.expr, zsym[0]) if zsym else None
    if inverse is not None and not family_inverse(pot):
        inverse = None
    return ScalarPotential(_X, bound(pot.mirror_map.expr, xsym),
                           bound(pot.hessian.expr, xsym), inverse, pot.name or str(pot.expr))


def problem_system(problem: Problem, *, state: Literal["auto", "dual", "primal"] = "auto",
                   clock: Literal["s", "log_s"] = "s", vjp: bool = True) -> Any:
    """Build the heyoka mirror-flow system of a problem (THEORY.md §1, §7).

    ``state="auto"`` integrates the dual variable when every potential has a well-conditioned
    closed-form inverse mirror map, the primal variable otherwise. With ``vjp=True`` two-layer
    nets use a hand-written vector-Jacobian product that shares the forward pass (measured
    18.1 -> 13.5 ms per Taylor step on m = n = 8, d = 4); other models build the full
    Jacobian of the margins.

    Examples
    --------
    >>> from numerics import Linear, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sysm = problem_system(prob)
    >>> sysm.state, sysm.n_params, len(sysm.margins)
    ('dual', 2, 6)
    """
    from ._system import build_mirror_flow_system

    X = np.asarray(problem.data.X, dtype=float)
    y = np.asarray(problem.data.y, dtype=float)
    model = problem.model
    layers = problem.layer_index
    by_layer = {int(k): scalar_potential(problem.potential_of_layer(int(k)))
                for k in sorted(set(layers.tolist()))}
    pots = [by_layer[int(k)] for k in layers]
    if state == "auto":
        state = "dual" if all(p.inverse is not None for p in pots) else "primal"

    if isinstance(model, TwoLayer) and vjp:
        margins_fn = _two_layer_margins(model, X, y)
        if not np.all(np.abs(y) == 1):
            raise ValueError("labels must be +1 or -1 for the arbitrary-precision path")
        return build_mirror_flow_system(margins_fn, problem.n_params, pots, state=state,
                                        clock=clock)

    def margins(theta: np.ndarray) -> tuple[Any, Any, Any]:
        out, grads = model.outputs_and_grads(theta, X, HEYOKA)
        q = np.array([yi * oi if yi == 1 else -oi for yi, oi in zip(y, out, strict=True)],
                     dtype=object)
        G = np.array([[g if yi == 1 else -g for g in row] for yi, row in
                      zip(y, np.asarray(grads), strict=True)], dtype=object)
        return q, G, list(model.kinks(theta, X, HEYOKA))

    if not np.all(np.abs(y) == 1):
        raise ValueError("labels must be +1 or -1 for the arbitrary-precision path")
    return build_mirror_flow_system(margins, problem.n_params, pots, state=state, clock=clock)


def _two_layer_margins(model: TwoLayer, X: np.ndarray, y: np.ndarray) -> Any:
    """Margins ``q_i = y_i sum_j a_j sigma(w_j . x_i)`` with a vector-Jacobian product.

    With ``S_jk = sum_i v_i sigma'(h_ij) X_ik`` (``v_i = y_i w_i``) the force is
    ``F_W_jk = a_j S_jk`` and, by Euler's identity ``h sigma'(h) = k sigma(h)`` for a
    k-homogeneous activation, ``F_a_j = sum_i v_i sigma(h_ij) = (1/k) sum_k W_jk S_jk``
    (used when 1/k is exact in binary; otherwise the direct sum).
    """
    import heyoka as hy

    n, d = X.shape
    m, act = model.width, model.activation
    k = int(act.degree)
    euler = k & (k - 1) == 0
    square = isinstance(act, SquareReLU)

    def margins(theta: np.ndarray) -> tuple[Any, Any, Any]:
        W, a = theta[: m * d].reshape(m, d), theta[m * d:]
        h = np.array([[hy.sum([float(X[i, c]) * W[j, c] for c in range(d)]) for j in range(m)]
                      for i in range(n)], dtype=object)
        if square:
            # relu(h)**2 and its derivative share r = relu(h): sigma' = 2 r, and the factor 2
            # moves to the W-force; heyoka's square costs half a product.
            r = np.array([[hy.relu(hij) for hij in row] for row in h], dtype=object)
            sig = np.array([[rij**2 for rij in row] for row in r], dtype=object)
            dsig, scale = r, 2.0
        else:
            sig = act.value(h, HEYOKA)
            dsig, scale = act.derivative(h, HEYOKA), 1.0
        sums = [hy.sum([a[j] * sig[i, j] for j in range(m)]) for i in range(n)]
        q = [sm if y[i] > 0 else -sm for i, sm in enumerate(sums)]

        def vjp(w: list[Any]) -> list[Any]:
            v = [wi if y[i] > 0 else -wi for i, wi in enumerate(w)]
            S = [[hy.sum([float(X[i, c]) * (v[i] * dsig[i, j]) for i in range(n)])
                  for c in range(d)] for j in range(m)]
            aw = [a[j] * scale for j in range(m)] if square else list(a)
            fw = [aw[j] * S[j][c] for j in range(m) for c in range(d)]
            if square:  # sum_c W_jc S_jc = sum_i v_i r_ij h_ij = sum_i v_i r_ij**2
                fa = [hy.sum([W[j, c] * S[j][c] for c in range(d)]) for j in range(m)]
            elif euler:
                fa = [hy.sum([W[j, c] * S[j][c] for c in range(d)]) * (1.0 / k)
                      for j in range(m)]
            else:
                fa = [hy.sum([v[i] * sig[i, j] for i in range(n)]) for j in range(m)]
            return fw + fa

        kinks = [] if act.smooth else [hij for row in h for hij in row]
        return np.array(q, dtype=object), vjp, kinks

    return margins


def _mp_balance(problem: Problem, thetas: np.ndarray) -> np.ndarray:
    """max_j |C_j(θ_k) - C_j(θ_0)| at the working precision (mpmath)."""
    groups = problem.model.neuron_groups(problem.d)
    if not groups:
        return np.zeros(len(thetas))
    layers = problem.layer_index
    g_fns = {}
    for k in sorted(set(layers.tolist())):
        pot = problem.potential_of_layer(int(k))
        xs = [s for s in pot.balance_function.expr.free_symbols if s.name == "x"]
        g_fns[int(k)] = sp.lambdify(xs or [_X], pot.bind(pot.balance_function.expr), "mpmath")
    g = [[g_fns[int(layers[m])](th[m]) for m in range(len(th))] for th in thetas]
    out = []
    C0 = None
    for row in g:
        C = [mpmath.fsum(row[i] for i in gr.incoming)
             - gr.k * mpmath.fsum(row[o] for o in gr.outgoing) for gr in groups]
        C0 = C if C0 is None else C0
        out.append(float(max(abs(c - c0) for c, c0 in zip(C, C0, strict=True))))
    return np.array(out)


def solve_precise(problem: Problem, *, log_t: float, dps: int, log_loss: float | None = None,
                  max_seconds: float = 600.0,
                  logt_mode: Literal["auto", "ode", "quadrature"] = "auto",
                  state: Literal["auto", "dual", "primal"] = "auto", per_decade: int = 8,
                  tol: float | None = None, progress: Callable[[float], None] | None = None,
                  start: MirrorFlowSolution | None = None,
                  method: Literal["auto", "taylor", "radau"] = "auto",
                  heyoka_options: dict[str, Any] | None = None) -> MirrorFlowSolution:
    """Integrate a problem with heyoka's Taylor method at ``dps`` digits (no certificate).

    Use :func:`numerics.solve_mirror_flow` with ``dps=`` for certified results; this is the
    single run it repeats.

    ``method``: ``"taylor"`` (heyoka's explicit Taylor method; the fast path), ``"radau"``
    (:func:`numerics._implicit.integrate_implicit`, Radau IIA in MPFR, primal state, clock
    ``log s`` then ``log log t``, square-ReLU kinks located to working precision: for stiff
    l_inf-type potentials such as cosh, where every explicit method stalls near log t = 40),
    or ``"auto"`` (:func:`auto_method`). ``heyoka_options`` go to
    ``heyoka.taylor_adaptive`` (default on networks in real128 with two or more cores:
    ``parallel_mode=True``).

    Examples
    --------
    >>> from numerics import Linear, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic())
    >>> sol = solve_precise(prob, log_t=50.0, dps=30)
    >>> sol.status, sol.method, float(sol.log_t[-1])
    ('reached', 'taylor-real128', 50.0)
    """
    from ._taylor import integrate_taylor

    if log_loss is not None:
        raise NotImplementedError("log_loss early stop is float64-only for now; use log_t")
    fp_type, prec, bits = precision_plan(dps)
    if method == "auto":
        method = auto_method(problem)
    if method == "radau":
        if heyoka_options:
            raise ValueError(f"heyoka_options {sorted(heyoka_options)} configure heyoka's Taylor "
                             "integrator; this run uses Radau IIA (an l_inf-type potential): "
                             "pass method='taylor' to use them")
        return _solve_radau(problem, log_t=log_t, dps=dps, bits=bits, max_seconds=max_seconds,
                            per_decade=per_decade, tol=tol, start=start, progress=progress)
    if method != "taylor":
        raise ValueError(f"method must be 'auto', 'taylor' or 'radau', got {method!r}")
    if logt_mode == "auto":
        # quadrature removes the stiff log t mode (linear / diagonal models reach log t = 1e16
        # in a few steps); on networks the flow's own stiffness dominates and the per-step
        # Python quadrature costs more (8/8/4 relu² net to log t = 1e4: 130 vs 78 CPU s)
        logt_mode = "quadrature" if isinstance(problem.model, Linear | Diagonal) else "ode"
    network = not isinstance(problem.model, Linear | Diagonal)
    if network and tol is None:
        # one digit below dps + 2: at tol 1e-32 the 32/16/8 net kept only 29.7 digits of
        # direction at log t = 1e4 (8071 steps; 31.0 at 1e3) against the 45-digit certificate
        # run (bench_precision); eps (2^-112) costs ~15% more than 1e-32 on the 8/8/4 net
        tol = max(2.0 ** (1 - bits), 10.0 ** -(dps + 3))
    # clock u = log s on networks: skips the early phase where s-steps are tiny (689 vs 918
    # steps to log t = 1e3 on the 8/8/4 net)
    sysm = problem_system(problem, state=state, clock="log_s" if network else "s")
    start_arg = None
    theta0: list[Any] = [float(v) for v in problem.theta0]
    if start is not None:
        if start.theta_mp is None:
            raise ValueError("the run to continue has no high-precision state (a float64 run); "
                             "continue it with dps=None, or start a new run with dps")
        with mpmath.workprec(bits + 24):
            th = list(start.theta_mp[-1])
            params = th if sysm.state == "primal" else list(_mp_mirror(problem, th))
            clock = mpmath.mpf(start.meta["clock_mp"])
            was = start.meta.get("clock", "log_s" if network else "s")
            if was != ("log_s" if network else "s"):      # e.g. a Radau run continued here
                clock = mpmath.exp(clock) if was == "log_s" else mpmath.log(clock)
            start_arg = (clock, params,
                         mpmath.mpf(start.meta["log_t_mp"]))
    options = dict(heyoka_options or {})
    if network and fp_type == "real128" and (os.cpu_count() or 1) >= 2:
        # heyoka's parallel mode splits each step over threads; it pays for real128 arithmetic
        # on networks (8/8/4 relu² net to log t = 1e4: 47 s wall / 93 CPU s vs 69 s serial),
        # not for small linear systems or MPFR (measured no gain at 45 digits)
        options.setdefault("parallel_mode", True)
    run = integrate_taylor(sysm, theta0, float(log_t), fp_type=fp_type, prec=prec, tol=tol,
                           logt_mode=logt_mode, per_decade=per_decade, budget_seconds=max_seconds,
                           start=start_arg, progress=progress, heyoka_options=options)
    return _to_solution(problem, run, bits=bits, dps=dps, method=f"taylor-{fp_type}",
                        state=sysm.state, clock="log_s" if network else "s")


def auto_method(problem: Problem) -> Literal["taylor", "radau"]:
    """``"radau"`` for l_inf-horizon potentials (cosh-type) on models without ReLU kinks,
    else ``"taylor"``.

    The time-changed flow of an l_inf-type potential is stiff: heyoka's Taylor method stalls
    near log t = 40 (cosh, linear model) and reaches log t = 385 in 100 s on the 8/8/4
    square-ReLU net, where Radau IIA reaches log t = 1e4 in 4.5 s and 188 s
    (``benchmarks/bench_implicit.py``). Every other potential measured runs faster with Taylor.
    ReLU and leaky ReLU make the force jump, which Radau does not handle.

    Examples
    --------
    >>> from numerics import Linear, two_d
    >>> auto_method(Problem.create(two_d(6, seed=0), Linear(), Potential.cosh()))
    'radau'
    >>> auto_method(Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic()))
    'taylor'
    """
    act = getattr(problem.model, "activation", None)
    if isinstance(act, ReLU | LeakyReLU):
        return "taylor"
    layers = sorted(set(problem.layer_index.tolist()))
    if any(problem.potential_of_layer(int(k)).horizon.p == sp.oo for k in layers):
        return "radau"
    return "taylor"


def _solve_radau(problem: Problem, *, log_t: float, dps: int, bits: int, max_seconds: float,
                 per_decade: int, tol: float | None,
                 start: MirrorFlowSolution | None = None,
                 progress: Callable[[float], None] | None = None) -> MirrorFlowSolution:
    from ._implicit import integrate_implicit

    act = getattr(problem.model, "activation", None)
    if isinstance(act, ReLU | LeakyReLU):
        raise NotImplementedError(
            f"method='radau' needs a continuous force, and {type(act).__name__} kinks make the "
            "gradient jump: use activation 'square_relu', or method='taylor' (kink events)")
    network = not isinstance(problem.model, Linear | Diagonal)
    sysm = problem_system(problem, state="primal", clock="log_s")
    start_arg = None
    if start is not None:
        if start.theta_mp is None:
            raise ValueError("the run to continue has no high-precision state (a float64 run); "
                             "start a new run with dps")
        with mpmath.workprec(bits + 24):
            clock = mpmath.mpf(start.meta["clock_mp"])
            if start.meta.get("clock", "log_s") == "s":
                clock = mpmath.log(clock)
            start_arg = (clock, list(start.theta_mp[-1]), mpmath.mpf(start.meta["log_t_mp"]))
    with _one_blas_thread():
        run = integrate_implicit(sysm, [float(v) for v in problem.theta0], float(log_t),
                                 dps=dps, tol=tol, budget_seconds=max_seconds,
                                 per_decade=per_decade, jacobian_points=3 if network else None,
                                 start=start_arg, progress=progress)
    return _to_solution(problem, run, bits=bits, dps=dps, method="radau-iia-mpfr",
                        state="primal", clock="log_s")


def _one_blas_thread() -> Any:
    """Radau's float64 LU of a 369 x 369 Newton matrix: 48 ms with two BLAS threads fighting
    for two cores, 1 ms with one (measured on the 8/8/4 net)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _to_solution(problem: Problem, run: Any, *, bits: int, dps: int, method: str,
                 state: str, clock: str) -> MirrorFlowSolution:
    """A :class:`MirrorFlowSolution` (float64 arrays plus mp arrays) from a TaylorRun."""
    from ._taylor import to_mpf

    with mpmath.workprec(bits + 24):
        theta_mp = np.array([[to_mpf(v) for v in row] for row in run.theta], dtype=object)
        ll_mp = np.array([to_mpf(v) for v in run.log_loss], dtype=object)
        X = MPMATH.asarray(problem.data.X)
        y = problem.data.y
        margins = [min(float(yi) * o for yi, o in zip(y, problem.model.outputs(th, X, MPMATH),
                                                     strict=True)) for th in theta_mp]
        mm_mp = np.array(margins, dtype=object)
        resid = _mp_balance(problem, theta_mp)
    status = "reached" if run.status == "reached" else run.status
    sol = MirrorFlowSolution.from_states(
        problem, s=np.array([float(v) for v in run.s]),
        log_t=np.array([float(v) for v in run.logt]),
        thetas=np.array([[float(v) for v in row] for row in theta_mp]), status=status,
        method=method, precision_bits=bits, rhs_evals=int(run.stats["steps"]),
        seconds=float(run.stats["seconds"] + run.stats["compile_seconds"]),
        extra={"solver": {k: v for k, v in run.stats.items()}, "dps": int(dps),
               "state": state, "clock": clock,
               "clock_mp": mpmath.nstr(run.clock[-1], int(bits / _LOG2_10) + 5),
               "log_t_mp": mpmath.nstr(run.logt[-1], int(bits / _LOG2_10) + 5)})
    return sol.with_precise(theta_mp, ll_mp, mm_mp, resid, dps=int(bits / _LOG2_10))


def _mp_mirror(problem: Problem, theta: list[Any]) -> list[Any]:
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
