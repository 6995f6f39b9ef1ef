"""What the Taylor and Radau drivers share: the run record, output levels of log t, the
start-up expansion at ``s = 0`` (or the state of a continued run) and Ctrl-C handling.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

from .._precision import FpType, Precision
from ._compile import compile_functions, converter, to_mpf
from ._system import MirrorFlowSystem

__all__ = ["RunRecord", "TaylorRun", "check_target_after", "initial_state", "output_levels",
           "start_before", "start_state",
           "stop_on_sigint"]


@dataclass(frozen=True)
class RunRecord:
    """Result of a Taylor or Radau run (:func:`integrate_taylor`, :func:`integrate_implicit`).

    Attributes
    ----------
    clock, s, logt : ndarray of mpmath numbers
        Clock (``s`` or ``u = log s``), ``s`` and ``log t`` at the recorded points: the start, every
        output level of ``log t`` that was crossed, and the final point.
    states : ndarray, shape (N, P + 1)
        Integrator state (parameters, then the scaled ``log t`` or ``-log L``), working fp type.
    theta : ndarray, shape (N, P)
        ``theta`` evaluated from ``states`` at the working precision.
    log_loss : ndarray, shape (N,)
        ``log L`` evaluated from ``states`` at the working precision.
    status : str
        A :class:`~numerics.solvers.Status` value, stored as its plain string: ``"reached"`` (log
        t target hit), ``"budget"`` (wall-clock budget spent), ``"interrupted"`` (Ctrl-C),
        ``"clock_limit"`` or ``"error"`` (non-finite state or failed step).
    stats : dict
        ``steps``, ``seconds`` (integration, wall clock), ``cpu_seconds`` (integration, CPU time of
        this process: less sensitive to a loaded machine), ``compile_seconds`` (compilation done
        for this run: 0 when a compiled integrator was reused), ``order``, ``tol``, ``fp_type``,
        ``prec`` (the working bits: 53, 113 or the MPFR bits), ``s0``, ``scale``, ``logt_mode``,
        ``kinks_crossed``; the Taylor driver adds ``compiled`` (whether this run compiled the
        integrator), ``heyoka_messages`` (``{"count": N, "first": line}``: heyoka's log lines,
        kept off stdout), the ReLU-kink counts ``kinks_switched_off`` (identically zero kinks),
        ``kinks_nudged``, ``kinks_touching`` (kink stops at a double root, not nudged),
        ``slides``, ``sliding_kinks``, ``sliding_at_end``,
        ``sliding_episodes``, ``sliding_left_at_kinks`` and ``sliding_compile_seconds``
        (THEORY.md §7.2), ``kink_bridges`` and ``sliding_bridges`` (Euler steps off a kink of
        the potential; those stepped with a sliding flow's slope); the Radau driver adds
        ``kink_crossings`` and ``kink_modes`` (per ReLU kink +1 active, -1 inactive, 0 sliding
        at the last point: what a resumed run starts from); and, for every status but
        ``"reached"``, ``reason`` (what happened, where).  The counts of a continued segment
        (``proceed`` of either driver) are that segment's own.
    """

    clock: np.ndarray
    s: np.ndarray
    logt: np.ndarray
    states: np.ndarray
    theta: np.ndarray
    log_loss: np.ndarray
    status: str
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A Status member is stored as its plain string (as MirrorFlowSolution does): reprs and
        # results files read "reached", comparisons with Status members still hold (StrEnum).
        object.__setattr__(self, "status", str(self.status))

    @property
    def final_logt(self) -> float:
        """``log t`` at the last recorded point, as a float."""
        return float(self.logt[-1])


def output_levels(logt0: float, target: float, per_decade: int) -> list[float]:
    """The ``log t`` values ``10^(k / per_decade)`` to record strictly between ``max(1, logt0)``
    and ``target``.

    Strictly: a run continued from a point saved on a level (a budget that ran out just after
    it) must not aim at that level again, a step of length 0 (measured: Radau's clock
    ``log log t`` then took the logarithm of 0, "math domain error", at once).

    Examples
    --------
    >>> output_levels(-3.0, 10.0, 2)
    [3.1622776601683795]
    >>> output_levels(10.0 ** 0.125, 2.0, 8)      # started on a level: not again
    [1.7782794100389228]
    """
    lo = max(1.0, logt0)
    if target <= lo or per_decade <= 0:
        return []
    k0 = math.floor(math.log10(lo) * per_decade) + 1
    k1 = math.ceil(math.log10(target) * per_decade) - 1
    return [v for v in (10.0 ** (k / per_decade) for k in range(k0, k1 + 1)) if v > logt0]


def start_before(s0: float, logt0: Any, target: float) -> float:
    """The start ``s0`` to use for a run from ``t = 0`` to ``log t = target``: ``s0`` itself if
    its start ``logt0`` lies at least 1 below the target, else the ``s0`` whose start does (log t
    moves with ``log s0`` there: ``log t = log s - log L(0) + O(s)``); ValueError if that ``s0``
    underflows float64.  A target below the default start (e.g. a rerun to a point before an
    early stop) had no levels to reach: Radau took a step of negative length ("math domain
    error"), Taylor ran to its clock limit.

    Examples
    --------
    >>> start_before(1e-19, -42.2, 3.0)
    1e-19
    >>> round(math.log(start_before(1e-19, -42.2, -50.0) / 1e-19), 6)
    -8.8
    """
    if float(logt0) <= target - 1.0:
        return s0
    s = s0 * math.exp(target - 1.0 - float(logt0))
    if not s > 1e-300:
        raise ValueError(f"the target log t = {target:.6g} lies before the earliest start of "
                         f"the precise paths (s0 >= 1e-300, log t about "
                         f"{float(logt0) + math.log(1e-300 / s0):.6g}): ask for a later log t")
    return s


def check_target_after(logt0: Any, target: float) -> None:
    """Raise ValueError if a continued run, which starts at ``logt0``, has a ``target`` that is
    not after it."""
    if not float(logt0) < target:
        raise ValueError(f"the target log t = {target:.6g} is not after the start of the "
                         f"continued run (log t = {float(logt0):.6g}): continue to a later "
                         "log t")


def initial_state(
    system: MirrorFlowSystem, theta0: Sequence[Any], s0_f: float, quad: bool, log_clock: bool,
    fp_type: FpType, prec: int | None, scale: float, wp: int, *,
    init_f: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[Any, np.ndarray, Any]:
    """Clock, state and log t at ``s0`` from the first-order expansion at ``s = 0``.

    ``init_f``: ``system.init_exprs`` compiled over ``system.theta_in`` (compiled here if not
    given).
    """
    P = system.n_params
    precision = Precision.of_type(fp_type, prec)
    conv, dtype = converter(fp_type, precision.bits), precision.dtype
    if init_f is None:
        init_f = compile_functions(
            system, system.init_exprs, system.theta_in, fp_type=fp_type, prec=prec, scale=scale
        )
    vals = to_mpf(np.asarray(init_f(np.array([conv(v) for v in theta0], dtype=dtype))))
    with mpmath.workprec(wp):
        s0_m = mpmath.mpf(s0_f)
        p = [vals[k] + s0_m * vals[P + k] for k in range(P)]
        ll0, dll0 = vals[2 * P], vals[2 * P + 1]
        logt0 = mpmath.log(s0_m) - ll0 - s0_m * dll0 / 2
        last0 = -(ll0 + s0_m * dll0) if quad else logt0
        clock0 = mpmath.log(s0_m) if log_clock else s0_m
        state0 = np.array([conv(v) for v in [*p, last0 / scale]], dtype=dtype)
    return clock0, state0, logt0


def start_state(
    system: MirrorFlowSystem, start: tuple[Any, Sequence[Any], Any], quad: bool,
    fp_type: FpType, prec: int | None, scale: float, wp: int, *,
    log_loss_f: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[Any, np.ndarray, Any]:
    """Clock, state and log t of a continued run (see ``start`` in :func:`integrate_taylor`).

    ``log_loss_f``: ``[system.log_loss]`` compiled over the state (quadrature mode only;
    compiled here if not given).
    """
    P = system.n_params
    clock, params, logt = start
    if len(params) != P:
        raise ValueError(f"start state has {len(params)} variables, the system has {P}")
    precision = Precision.of_type(fp_type, prec)
    conv, dtype = converter(fp_type, precision.bits), precision.dtype
    with mpmath.workprec(wp):
        clock0, logt0 = mpmath.mpf(clock), mpmath.mpf(logt)
        p = [conv(mpmath.mpf(v)) for v in params]
        if quad:
            ll = log_loss_f or compile_functions(system, [system.log_loss], fp_type=fp_type,
                                                 prec=prec, scale=scale)
            last0 = -to_mpf(np.asarray(ll(np.array([*p, conv(0)], dtype=dtype))))[0]
        else:
            last0 = logt0
        state0 = np.array([*p, conv(last0 / scale)], dtype=dtype)
    return clock0, state0, logt0


@contextlib.contextmanager
def stop_on_sigint(flags: dict[str, bool]) -> Iterator[None]:
    """Turn Ctrl-C into ``flags["interrupted"] = True`` while heyoka propagates.

    The step callback sees the flag after the current step and stops the integration, so
    the state is a completed step. Outside the main thread (no signal handlers) a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        flags["interrupted"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: The record's former name (kept for callers of :func:`integrate_taylor`).
TaylorRun = RunRecord
