"""Taylor integration of the time-changed mirror-flow ODE with heyoka.

:func:`integrate_taylor` compiles a :class:`~numerics.solvers.precise.MirrorFlowSystem` with
``heyoka.taylor_adaptive(..., compact_mode=True)`` in float64, real128 or MPFR ``real``, starts it
at a small clock value ``s0 > 0`` from the first-order expansion at ``s = 0``, integrates until
``log t`` reaches a target, records the state at log-spaced levels of ``log t`` and stops at a
wall-clock budget.

Two ways to carry ``log t`` (it never feeds back into the flow):

- ``logt_mode="ode"``: ``d(log t)/ds = exp(-log t - log L)`` is part of the ODE; targets and output
  levels are heyoka events.  This equation relaxes at rate ``d(log t)/ds``: one unit of ``log t``
  per relaxation time, so explicit steps grow at least linearly with ``log t``.
- ``logt_mode="quadrature"``: the ODE carries ``-log L`` instead, and after every step
  ``t = int exp(-log L) ds`` is advanced in the log domain by composite Gauss-Legendre quadrature of
  that step's Taylor polynomial.  No stiff ``log t`` mode: the step count then follows the flow
  alone (e.g. one-sample diagonal networks under gradient flow reach ``log t = 1e16`` in a few
  hundred steps).

Explicit Taylor steps remain limited by the fastest relaxation rate of the flow itself
(``-grad^2 log L / f''``), see ``benchmarks/bench_clock.py``.

Layout: :class:`TaylorIntegrator` (``_taylor_integrator``) compiles once and runs several times
(continued segments of one run reuse it); each run is a ``TaylorDriver`` (``_taylor_driver``)
with its events in ``_taylor_events`` and ``log t`` by quadrature in ``_logtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from .._precision import FpType, Precision
from ._record import RunRecord
from ._system import MirrorFlowSystem
from ._taylor_integrator import TaylorIntegrator

__all__ = ["TaylorIntegrator", "integrate_taylor"]


def integrate_taylor(
    system: MirrorFlowSystem,
    theta0: Sequence[Any],
    logt_target: float,
    *,
    fp_type: FpType = "float64",
    prec: int | None = None,
    precision: Precision | None = None,
    tol: float | None = None,
    logt_mode: Literal["ode", "quadrature"] = "ode",
    s0: float | None = None,
    per_decade: int = 4,
    budget_seconds: float = 60.0,
    max_clock: float | None = None,
    kink_events: bool = True,
    start: tuple[Any, Sequence[Any], Any] | None = None,
    progress: Callable[[float], None] | None = None,
    heyoka_options: dict[str, Any] | None = None,
) -> RunRecord:
    """Integrate mirror flow from ``theta0`` (at ``t = 0``) until ``log t = logt_target``.

    Parameters
    ----------
    system : MirrorFlowSystem
        From :func:`numerics.solvers.precise.build_mirror_flow_system`.
    theta0 : sequence
        Initial parameters: floats (their exact binary value), strings (decimal value) or mpmath
        numbers, rounded once to the fp type.
    logt_target : float
        Stop when ``log t`` reaches this value.
    fp_type : {"float64", "real128", "real"}
        Working type; ``"real"`` is MPFR with ``prec`` bits.
    prec : int, optional
        Bits of precision for ``fp_type="real"``.
    precision : Precision, optional
        Working type and bits; replaces ``fp_type`` and ``prec`` when given.
    tol : float, optional
        Taylor tolerance; default machine epsilon of the working type.
    logt_mode : {"ode", "quadrature"}
        Carry ``log t`` in the ODE (events for outputs and target), or ``-log L`` in the ODE and
        ``log t`` by per-step quadrature (no stiff ``log t`` mode; Python work per step).
    s0 : float, optional
        Start clock ``s0 > 0``; the state there is ``p0 + s0 p'(0)`` and
        ``log t = log s0 - log L0 - s0 (d log L/ds)(0) / 2``, exact to ``O(s0**2)``.  Default
        ``0.01 * sqrt(tol)``.
    per_decade : int
        Output levels of ``log t`` per decade (from ``log t = 1``).
    budget_seconds : float
        Wall-clock budget of the integration (compilation excluded).
    max_clock : float, optional
        Clock limit; default ``1e300`` (``s``) or, for ``u = log s``, 690 in float64 and
        11000 in real128 and MPFR (``LOG_CLOCK_LIMIT``: ``s = exp(u)`` stays finite).
    kink_events : bool
        Stop steps at sign changes of ``system.kinks`` and cross them with a tiny step, so no Taylor
        expansion is taken on the wrong side of a ReLU kink; kinks that are identically zero (dead
        units) are switched off, and kinks the flow slides on are followed (THEORY.md §7.2).
    start : (clock, state, log t), optional
        Continue a previous run instead of starting at ``t = 0``: the clock value, the P state
        variables (``z`` if the system is dual, ``theta`` if primal) and ``log t`` there, as
        mpmath numbers or decimal strings (``theta0`` is then ignored; pass the start's theta).
    progress : callable, optional
        Called with the current ``log t`` (a float) about five times a second.
    heyoka_options : dict, optional
        Extra keyword arguments of ``heyoka.taylor_adaptive`` (e.g. ``parallel_mode``,
        ``opt_level``, ``parjit``); ``compact_mode`` is always on.

    Returns
    -------
    RunRecord
        ``status``: ``"reached"``, ``"budget"``, ``"clock_limit"``, ``"error"``, or
        ``"interrupted"`` (Ctrl-C: the run stops after the current step and returns every point
        computed so far, the last one included); every status but ``"reached"`` comes with
        ``stats["reason"]``.  ``stats["prec"]`` is the working bits.

    See Also
    --------
    TaylorIntegrator : compile once, run several segments (``integrate_taylor`` is one run of a
        fresh one).

    Examples
    --------
    Gradient flow, linear model, one point ``x = (1, 1)``: ``q(s) = 2 s`` and
    ``log t = log(expm1(2 s) / 2)``, so ``s = log1p(2 exp(log t)) / 2``.

    >>> import mpmath, numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 1.0]])
    >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd)
    >>> exact = mpmath.log1p(2 * mpmath.exp(100)) / 2
    >>> run = integrate_taylor(sysm, [0.0, 0.0], 100.0, fp_type="real128")
    >>> run.status, bool(abs(run.s[-1] / exact - 1) < 1e-31)
    ('reached', True)
    >>> run = integrate_taylor(sysm, [0.0, 0.0], 100.0, fp_type="real128", logt_mode="quadrature")
    >>> run.status, bool(abs(run.s[-1] / exact - 1) < 1e-31), run.stats["steps"] < 20
    ('reached', True, True)
    """
    integ = TaylorIntegrator(
        system,
        precision=Precision.of_type(fp_type, prec) if precision is None else precision,
        tol=tol,
        logt_mode=logt_mode,
        kink_events=kink_events,
        heyoka_options=heyoka_options,
    )
    return integ.run(theta0, logt_target, start=start, s0=s0, per_decade=per_decade,
                     budget_seconds=budget_seconds, max_clock=max_clock, progress=progress)
