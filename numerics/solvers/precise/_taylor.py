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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import heyoka as hy
import mpmath
import numpy as np

from .._precision import FpType, Precision
from ._compile import compile_functions, converter, n_pars, par_array, to_mpf
from ._record import (
    TaylorRun,
    initial_state,
    output_levels,
    start_state,
    stop_on_sigint,
)
from ._system import MirrorFlowSystem

__all__ = ["integrate_taylor"]

def _div(a: float, b: float, bits: int) -> Any:
    with mpmath.workprec(bits):
        return mpmath.mpf(a) / b


class _LogTime:
    """Advance ``log t = log int exp(E(c)) dc`` over Taylor steps, in the log domain.

    ``E`` on a step is a polynomial in the step offset ``sigma`` (from the step's Taylor
    coefficients of ``-log L``, plus ``c`` itself in the ``u = log s`` clock).  The integral is
    composite Gauss-Legendre from the right end leftwards, on pieces over which ``E`` drops by at
    most ``_DROP``, stopping once the drop exceeds the working precision (older contributions are
    carried by ``log t`` of the previous step).
    """

    _DROP = 8

    def __init__(self, bits: int, logt0: Any) -> None:
        self.bits = bits
        self.wp = bits + 24
        with mpmath.workprec(self.wp):
            self.logt = mpmath.mpf(logt0)
            self.cut = mpmath.mpf(bits + 24) * mpmath.ln2
            half = self._DROP / 2
            n = 4
            while (2 * n) * math.log(half) - math.lgamma(2 * n + 1) > -(bits + 12) * math.log(2):
                n += 1
            xs, ws = mpmath.mp.gauss_quadrature(n, "legendre")
            self.nodes = [((mpmath.mpf(1) + xs[i]) / 2, ws[i] / 2) for i in range(n)]

    @staticmethod
    def _horner(coef: list[Any], x: Any) -> Any:
        acc = coef[-1]
        for c in reversed(coef[:-1]):
            acc = acc * x + c
        return acc

    def log_integral(self, E: list[Any], dE: list[Any], a: Any, b: Any) -> Any:
        """``log int_a^b exp(E(sigma)) d sigma`` for polynomials ``E`` (coefficients) and ``dE``."""
        ev = self._horner
        Eb = ev(E, b)
        total = mpmath.mpf(0)
        right = b
        for _ in range(100_000):
            if right <= a:
                break
            Er = ev(E, right)
            if Eb - Er > self.cut:
                break
            slope = ev(dE, right)
            w = right - a
            if slope * w > self._DROP:
                w = self._DROP / slope
            while Er - ev(E, right - w) > 1.5 * self._DROP:
                w /= 2
            left = right - w
            total += w * mpmath.fsum(
                wt * mpmath.exp(ev(E, left + x * w) - Eb) for x, wt in self.nodes
            )
            right = left
        else:
            raise RuntimeError("log-time quadrature did not converge (exponent not resolvable)")
        return Eb + mpmath.log(total) if total > 0 else mpmath.mpf("-inf")

    def at(self, E: list[Any], dE: list[Any], sigma: Any) -> Any:
        """``log t`` at offset ``sigma`` into the current step."""
        if sigma <= 0:
            return self.logt
        li = self.log_integral(E, dE, mpmath.mpf(0), sigma)
        hi, lo = (li, self.logt) if li > self.logt else (self.logt, li)
        return hi + mpmath.log1p(mpmath.exp(lo - hi))

    def solve(self, E: list[Any], dE: list[Any], h: Any, level: Any) -> Any:
        """Offset ``sigma`` in ``[0, h]`` with ``log t(sigma) = level`` (safeguarded Newton)."""
        lo, hi = mpmath.mpf(0), h
        sig = h
        for _ in range(200):
            lt = self.at(E, dE, sig)
            f = lt - level
            if abs(f) <= mpmath.mpf(2) ** (-self.bits) * max(1, abs(level)):
                break
            if f > 0:
                hi = sig
            else:
                lo = sig
            step = f * mpmath.exp(lt - self._horner(E, sig))  # f / (d log t / d sigma)
            new = sig - step
            sig = new if lo < new < hi else (lo + hi) / 2
            if hi - lo <= mpmath.mpf(2) ** (-self.bits) * max(1, abs(hi)):
                break
        return sig


def _propagate(ta: Any, chunk_end: Callable[[], Any], propagate_kw: dict[str, Any],
               n_events: int, n_target: int, tol_f: float, max_clock: float,
               conv: Callable[[Any], Any]) -> tuple[int, int, Any]:
    """Propagate until the target, the clock limit or a callback stop, crossing kinks.

    Returns ``(steps, kinks crossed, last heyoka outcome)``.
    """
    steps, n_kinks = 0, 0
    while True:
        res = ta.propagate_until(chunk_end(), **propagate_kw)
        outcome, nst = res[0], int(res[3])
        steps += nst
        if -n_events <= int(outcome) < -n_target:
            # Stopped on a kink: the state sits on the switching surface, where a new Taylor
            # expansion may pick the wrong branch.  Cross it with a tiny step (error O(delta**2)).
            n_kinks += 1
            delta = 0.1 * math.sqrt(tol_f) * max(1.0, abs(float(to_mpf(ta.time))))
            res = ta.propagate_for(conv(delta), **propagate_kw)
            steps += int(res[3])
            outcome = res[0]
            if (
                -n_events <= int(outcome) < -n_target
                or outcome == hy.taylor_outcome.time_limit
            ):
                continue
        if outcome == hy.taylor_outcome.time_limit and float(to_mpf(ta.time)) < max_clock:
            continue
        break
    return steps, n_kinks, outcome


def integrate_taylor(
    system: MirrorFlowSystem,
    theta0: Sequence[Any],
    logt_target: float,
    *,
    fp_type: FpType = "float64",
    prec: int | None = None,
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
) -> TaylorRun:
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
        Clock limit; default ``1e300`` (``s``) or ``690`` (``u = log s``).
    kink_events : bool
        Stop steps at sign changes of ``system.kinks`` and cross them with a tiny step, so no Taylor
        expansion is taken on the wrong side of a ReLU kink.
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
    TaylorRun
        ``status``: ``"reached"``, ``"budget"``, ``"clock_limit"``, ``"error"``, or
        ``"interrupted"`` (Ctrl-C: the run stops after the current step and returns every point
        computed so far, the last one included).

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
    bits = Precision.of_type(fp_type, prec).bits
    P = system.n_params
    if len(theta0) != P:
        raise ValueError(f"theta0 has length {len(theta0)}, the system has n_params={P}")
    if logt_mode not in ("ode", "quadrature"):
        raise ValueError(f"logt_mode must be 'ode' or 'quadrature', got {logt_mode!r}")
    quad = logt_mode == "quadrature"
    log_clock = system.clock == "log_s"
    conv = converter(fp_type, bits)
    fp = Precision.of_type(fp_type, prec).hy_type
    tol_f = 2.0 ** (1 - bits) if tol is None else float(tol)
    s0_f = 0.01 * math.sqrt(tol_f) if s0 is None else float(s0)
    if not s0_f > 0:
        raise ValueError(f"s0 must be positive, got {s0}")
    # Scale of the large scalar state (log t or -log L): heyoka's error control is relative to the
    # largest state component, so an unscaled log t of 1e4 would loosen the parameters' tolerance
    # 1e4-fold; scaling by the target instead costs absolute accuracy tol * scale in log t early
    # on, hence the cap.
    scale = min(max(1.0, float(logt_target)), tol_f**-0.5)
    wp = bits + 24

    t_c = time.perf_counter()
    if start is not None:
        clock0, state0, logt0 = start_state(system, start, quad, fp_type, prec, scale, wp)
    else:
        clock0, state0, logt0 = initial_state(
            system, theta0, s0_f, quad, log_clock, fp_type, prec, scale, wp
        )

    equations = system.quadrature_equations if quad else system.equations
    kw: dict[str, Any] = {"fp_type": fp, "compact_mode": True, "time": conv(clock0)}
    if fp_type == "real":
        kw["prec"] = bits
    if tol is not None:
        kw["tol"] = conv(tol)
    npar = n_pars([rhs for _, rhs in equations] + list(system.kinks))
    if npar:
        kw["pars"] = par_array(system, npar, scale, fp_type, bits)

    records: list[tuple[Any, np.ndarray, Any]] = [(clock0, state0, logt0)]
    levels = output_levels(float(logt0), float(logt_target), per_decade)
    last_var = equations[-1][0]

    def on_level(ta: Any, t: Any, d_sgn: int) -> None:
        ta.update_d_output(t)
        out = np.array(ta.d_output, copy=True)
        with mpmath.workprec(wp):
            records.append((to_mpf(t), out, to_mpf(out[-1]) * scale))

    t_events = []
    nt_events = []
    if not quad:
        nt_events = [
            hy.nt_event(last_var - conv(_div(lv, scale, wp)), on_level, fp_type=fp) for lv in levels
        ]
        t_events.append(
            hy.t_event(
                last_var - conv(_div(logt_target, scale, wp)),
                fp_type=fp,
                direction=hy.event_direction.positive,
            )
        )
    n_target = len(t_events)
    if kink_events:
        t_events += [hy.t_event(k, callback=lambda ta, d: False, fp_type=fp) for k in system.kinks]
    kw["t_events"], kw["nt_events"] = t_events, nt_events
    extra = dict(heyoka_options or {})
    clash = sorted(set(extra) & {*kw, "compact_mode", "tol", "prec", "pars"})
    if clash:
        raise ValueError(
            f"heyoka_options may not set {clash}: they are set by integrate_taylor's own arguments"
        )
    ta = hy.taylor_adaptive(equations, state0, **kw, **extra)
    compile_seconds = time.perf_counter() - t_c

    deadline = time.perf_counter() + budget_seconds
    flags = {"reached": False, "budget": False, "interrupted": False}
    logtime = _LogTime(bits, logt0) if quad else None
    pending = list(levels)

    def quad_step(ta: Any) -> bool:
        """Advance log t over the step just taken; record crossed levels; stop at the target."""
        assert logtime is not None
        with mpmath.workprec(wp):
            h = to_mpf(ta.last_h)
            c1 = to_mpf(ta.time)
            c0 = c1 - h
            g = [to_mpf(v) * scale for v in np.asarray(ta.tc)[P]]
            if log_clock:
                g[0] += c0
                g[1] += 1
            dg = [k * g[k] for k in range(1, len(g))] or [mpmath.mpf(0)]
            lt1 = logtime.at(g, dg, h)
            while pending and pending[0] <= lt1:
                level = mpmath.mpf(pending.pop(0))
                sig = logtime.solve(g, dg, h, level)
                ta.update_d_output(conv(c0 + sig))
                records.append((c0 + sig, np.array(ta.d_output, copy=True), level))
            if lt1 >= logt_target:
                level = mpmath.mpf(logt_target)
                sig = logtime.solve(g, dg, h, level)
                ta.update_d_output(conv(c0 + sig))
                records.append((c0 + sig, np.array(ta.d_output, copy=True), level))
                flags["reached"] = True
                return False
            logtime.logt = lt1
        return True

    next_report = [time.perf_counter()]

    def step_cb(ta: Any) -> bool:
        if flags["interrupted"]:
            return False
        if quad and not quad_step(ta):
            return False
        if progress is not None and time.perf_counter() >= next_report[0]:
            next_report[0] = time.perf_counter() + 0.2
            assert logtime is not None or not quad
            progress(float(logtime.logt) if quad else float(to_mpf(ta.state[-1])) * scale)
        if time.perf_counter() >= deadline:
            flags["budget"] = True
            return False
        return True

    if max_clock is None:
        max_clock = 690.0 if log_clock else 1e300
    t_i, cpu_i = time.perf_counter(), time.process_time()
    propagate_kw = {"callback": step_cb, "write_tc": quad}

    def chunk_end() -> Any:
        # In quadrature mode no event bounds the step: a flow that is polynomial in the clock
        # (gradient flow, linear model) would be taken in one infinite step.  Propagate in chunks.
        if not quad:
            return conv(max_clock)
        c = float(to_mpf(ta.time))
        nxt = c + 2.0 if log_clock else c + max(1.0, c)
        return conv(min(nxt, max_clock))

    with stop_on_sigint(flags):
        steps, n_kinks, outcome = _propagate(ta, chunk_end, propagate_kw, len(t_events),
                                             n_target, tol_f, max_clock, conv)
    seconds = time.perf_counter() - t_i
    cpu_seconds = time.process_time() - cpu_i

    if flags["reached"] or (n_target and int(outcome) == -1):
        status = "reached"
    elif flags["interrupted"]:
        status = "interrupted"
    elif flags["budget"]:
        status = "budget"
    elif outcome == hy.taylor_outcome.time_limit:
        status = "clock_limit"
    else:
        status = "error"
    if not quad or status != "reached":
        final_state = np.array(ta.state, copy=True)
        with mpmath.workprec(wp):
            lt_final = logtime.logt if quad else to_mpf(final_state[-1]) * scale
        records.append((to_mpf(ta.time), final_state, lt_final))
    if not all(mpmath.isfinite(v) for v in to_mpf(records[-1][1])):
        status = "error"

    states = np.array([r[1] for r in records], dtype=Precision.of_type(fp_type, prec).dtype)
    with mpmath.workprec(wp):
        clocks = np.array([to_mpf(r[0]) for r in records], dtype=object)
        s_vals = np.array([mpmath.exp(c) if log_clock else c for c in clocks], dtype=object)
        logts = np.array([mpmath.mpf(r[2]) for r in records], dtype=object)
    post = compile_functions(
        system, [*system.theta, system.log_loss], fp_type=fp_type, prec=prec, scale=scale
    )
    out = np.asarray(post(np.ascontiguousarray(states.T)))
    stats = {
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "compile_seconds": compile_seconds,
        "order": int(ta.order),
        "tol": float(to_mpf(ta.tol)),
        "fp_type": fp_type,
        "prec": bits,
        "s0": s0_f,
        "scale": scale,
        "logt_mode": logt_mode,
        "kinks_crossed": n_kinks,
    }
    return TaylorRun(
        clock=clocks,
        s=s_vals,
        logt=logts,
        states=states,
        theta=out[:P].T,
        log_loss=out[P],
        status=status,
        stats=stats,
    )
