"""The Radau IIA run loop: step-size control, output levels, kinks and the clock switch.

:class:`RadauDriver` holds the state of one run (the current point, step size, counters,
records) and moves it with :meth:`~RadauDriver.step_once` until the target, the budget, an
error or Ctrl-C; :meth:`~RadauDriver.finish` turns it into a :class:`RunRecord`.
:class:`RadauSettings` are the validated options of :class:`~._radau.RadauIntegrator`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import mpmath
import numpy as np

from .._precision import LOG10_2, RADAU_GUARD_BITS, Precision
from .._status import Status
from .._stuck import check_stuck_levels
from ._compile import converter, to_mpf
from ._kink_roots import AT_POINT_ULPS
from ._radau_control import predictive_factor, stiffness_reason
from ._radau_errors import SlidingModeError
from ._radau_kinks import KinkLocator
from ._radau_newton_mp import raised_bits
from ._radau_step import DoubleStep, Poly, RadauStep
from ._radau_switches import KinkPattern
from ._record import RunRecord

#: Refinements of a step cut at a kink at most: six, and more while each still halves the gap
#: (the coverage MLP under cosh: the gap was still 1e-6 of a step after six, converging)
_MAX_REFINEMENTS = 30
#: Newton failures beyond the Jacobian's digits (``RadauStep.precision_short``) that end a run
#: for more bits (a few might be steps too long for the nonlinearity).  Counted over the run,
#: not in a row: between them the driver crawls on with steps 4x shorter, accepted (measured:
#: exp(x**2/2) on the 4-unit ReLU net at 199 bits, log t = 418 in 400 s, never 3 in a row).
_SHORT_FAILURES = 5

__all__ = ["default_stages"]

_FACMAX, _FACMIN, _SAFETY = 2.0, 0.2, 0.8
#: Default stages: 9 (order 17) at tolerances down to 1e-32 (30 digits), more below, up to 12.
_BASE_STAGES, _BASE_TOL_DIGITS, _MAX_STAGES = 9, 32.0, 12
_CLOCK_NAMES = {"s": "s", "log_s": "log s"}
#: Digits per bit of the default tolerance: log10(2) to the five digits it always had (exactly
#: 0.30103), so that runs at the default tolerance keep their steps to the last digit.
_TOL_DIGITS_PER_BIT = round(LOG10_2, 5)


@dataclass(frozen=True)
class RadauSettings:
    """Validated options of a Radau IIA integrator (see :func:`integrate_implicit`).

    ``jacobian_stages`` are the stages whose predicted values get Jacobians for the Newton
    matrix (``None``: the Jacobian at the step start, ``newton_jacobian="start"``); ``h0`` is
    ``None`` for the default of the system's clock.
    """

    stages: int
    tol: float
    s0: float
    h0: float | None
    newton_tol: float
    max_newton: int
    max_steps: int
    loglogt_after: float | None
    jacobian_stages: tuple[int, ...] | None
    reuse_jacobians: bool
    kink_events: bool
    eliminate_fast: bool = True

    @classmethod
    def create(
        cls, bits: int, *, tol: float | None, stages: int | None, s0: float | None,
        h0: float | None, newton_tol: float, max_newton: int, max_steps: int,
        loglogt_after: float | None,
        newton_jacobian: str, jacobian_points: int | None, reuse_jacobians: bool,
        kink_events: bool, eliminate_fast: bool = True,
    ) -> RadauSettings:
        """Check the options (errors name the option) and fill in the defaults at ``bits``."""
        digits_avail = (bits - RADAU_GUARD_BITS) * _TOL_DIGITS_PER_BIT
        tol_f = 10.0 ** -(digits_avail + 2) if tol is None else float(tol)
        if not 0 < tol_f < 1:
            raise ValueError(f"tol must lie in (0, 1), got {tol}")
        if stages is None:
            stages = default_stages(tol_f)
        if not (isinstance(stages, int) and 1 <= stages <= _MAX_STAGES):
            raise ValueError(f"stages must be an integer in 1..{_MAX_STAGES}, got {stages!r}")
        s0_f = 0.01 * math.sqrt(tol_f) if s0 is None else float(s0)
        if not s0_f > 0:
            raise ValueError(f"s0 must be positive, got {s0}")
        if newton_jacobian not in ("stages", "start"):
            raise ValueError(f"newton_jacobian must be 'stages' or 'start', got "
                             f"{newton_jacobian!r}")
        sel = tuple(range(stages))
        if jacobian_points is not None:
            if not (isinstance(jacobian_points, int) and 1 <= jacobian_points <= stages):
                raise ValueError(f"jacobian_points must be an integer in 1..stages, got "
                                 f"{jacobian_points!r}")
            spread = np.round(np.linspace(0, stages - 1, jacobian_points)).astype(int)
            sel = tuple(int(k) for k in np.unique(spread))
        if not isinstance(eliminate_fast, bool):
            raise ValueError(f"eliminate_fast must be True or False, got {eliminate_fast!r}")
        switch = None if loglogt_after is None else float(loglogt_after)
        if switch is not None and not switch > 0:
            raise ValueError(f"loglogt_after must be positive or None, got {loglogt_after}")
        return cls(stages, tol_f, s0_f, None if h0 is None else float(h0), newton_tol,
                   max_newton, max_steps, switch, sel if newton_jacobian == "stages" else None,
                   reuse_jacobians, kink_events, eliminate_fast)


def default_stages(tol: float) -> int:
    """Radau IIA stages for a local error tolerance ``tol``: the order follows the digits.

    With ``s`` stages (order ``2s - 1``) the local error of a step ``h`` on a flow analytic in
    a strip of half-width ``rho`` is about ``(h / rho)^(2s)``, so the steps are
    ``h ~ rho tol^(1 / 2s)`` and their number grows like ``10^(digits / 2s)``: 3.6x per 10
    digits at 9 stages (one data point, cosh, linear model, to ``log t = 6``: 74 / 245 / 897 /
    3197 steps at 30 / 40 / 50 / 60 digits).  Keeping ``tol^(1 / 2s)`` at its value for 9
    stages at ``tol = 1e-32`` (30 digits, where the defaults were measured) gives
    ``s = 9 log10(1/tol) / 32``, rounded, at least 9 and at most 12.  Measured against 9
    stages (steps; seconds on 2 loaded cores): the one-point run 74 instead of 245 steps at
    40 digits (12 stages), 177 instead of 897 at 50, 450 instead of 3197 at 60; cosh on the
    two-layer square-ReLU net (``TwoLayer(4)``, ``separable_gaussian(6, 3)``) to
    ``log t = 30`` at 40 digits: 239 instead of 721 steps, 78 against 107 s (a step costs
    about 2x: more stages and Newton iterations), and its 38-digit certificate run (11
    stages) 272 instead of 574 steps, with the same certified digits (32.3).  At 30 digits
    on that net 12 stages were no faster (127 steps / 37 s against 223 / 32 s), hence the
    floor of 9.

    Examples
    --------
    >>> default_stages(1e-32), default_stages(1e-36), default_stages(1e-42), default_stages(1e-60)
    (9, 10, 12, 12)
    >>> default_stages(1e-16)
    9
    """
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    digits = -math.log10(tol)
    wanted = round(_BASE_STAGES * digits / _BASE_TOL_DIGITS)
    return int(min(_MAX_STAGES, max(_BASE_STAGES, wanted)))


@dataclass(frozen=True)
class Cursor:
    """A point of the run in the working clock and working state."""

    clock: Any
    y: np.ndarray


class RadauDriver:
    """One run of Radau IIA with step doubling, from ``origin`` to ``log t = levels[-1]``.

    Parameters
    ----------
    step
        A fresh :class:`RadauStep` (its counters become the run's).
    kinks
        Kink location, or None to step across kinks.
    pattern
        The activation pattern of a force that jumps at its kinks (ReLU, leaky ReLU; needs
        ``kinks``), or None.
    settings, precision
        The integrator's options and working precision.
    origin
        The start: system clock and state (parameters, then ``log t``), working precision.
    levels
        Sorted ``log t`` values to record, the target last.
    budget_seconds, progress
        Wall-clock budget; called with ``log t`` at most every 0.2 s (``log log t`` phase).
    resumed
        ``origin`` continues an earlier run: the pattern starts from ``modes``, the modes of
        the kinks that run ended with (``stats["kink_modes"]``; None: from the kinks' signs),
        :meth:`~._radau_switches.KinkPattern.resume`.
    modes
        Per kink +1 active, -1 inactive, 0 sliding, or None.
    monitor
        ``monitor(log_t, theta)`` (θ in float64) at the log t levels of
        :func:`~numerics.solvers.next_stuck_check`, as on the other paths; a string it returns
        ends the run with status ``"stuck"`` and that reason.
    """

    def __init__(
        self, step: RadauStep, kinks: KinkLocator | None, settings: RadauSettings,
        precision: Precision, origin: Cursor, levels: list[float], *, budget_seconds: float,
        progress: Callable[[float], None] | None, pattern: KinkPattern | None = None,
        resumed: bool = False, modes: list[int] | None = None,
        monitor: Callable[[float, np.ndarray], str | None] | None = None,
    ) -> None:
        self._step, self._kinks, self._set = step, kinks, settings
        self._pattern, self._resumed, self._modes = pattern, resumed, modes
        self._bits, self._wp = precision.bits, precision.mp_bits
        self._conv = converter("real", self._bits)
        self._levels, self._target = list(levels), float(levels[-1])
        self.cur = origin
        self.records: list[tuple[Any, np.ndarray]] = [(origin.clock, origin.y)]
        self.record_seconds = [0.0]
        log_clock = step.fns.system.clock == "log_s"
        h0 = settings.h0 if settings.h0 is not None else (1e-3 if log_clock else settings.s0)
        self.h = self._conv(h0)
        self.steps = self.rejected = self.kinks_cut = self.kinks_refined = self.kinks_loose = 0
        self.status: Status | None = None
        self.raise_bits: int | None = None  # bits to continue at (Jacobian digits short)
        self._short_failures = 0  # Newton failures beyond the Jacobian's digits
        self.reason = self.error_message = self._last_failure = ""
        self._polys: list[Poly] = []  # collocation data of the last accepted step (predictions)
        self._latest: DoubleStep | None = None  # the last successful double step
        self._unlocated = ""  # why the kink the step is cut at is not located (a meeting's)
        self._budget, self._progress = budget_seconds, progress
        self._t_start = time.perf_counter()
        self._deadline = self._t_start + budget_seconds
        self._next_report = self._t_start
        self._started = False
        self._settled_here: set[int] = set()  # kink events switched at the current point
        self._monitor, self._next_check = monitor, -math.inf
        self._last_accepted: tuple[Any, float] | None = None   # (h, err) of the last step

    # ---------------------------------------------------------------- the loop
    def run(self) -> None:
        """Step until the run ends; errors and Ctrl-C end it after the last completed step.

        A run that ended on its budget and was :meth:`extend`-ed steps on from where it
        stopped (no second :meth:`start`)."""
        try:
            if not self._started:
                self.start()
            while self.status is None:
                self.step_once()
        except SlidingModeError as exc:  # a sliding mode Radau does not follow
            self._end(Status.SLIDING, f"{exc} {self._where()}")
        except (FloatingPointError, ZeroDivisionError, ValueError) as exc:  # non-finite state
            self._end(Status.ERROR, f"{exc} {self._where()}", message=str(exc))
        except KeyboardInterrupt:  # Ctrl-C: keep every completed step (cur is one)
            self._end(Status.INTERRUPTED, f"interrupted (Ctrl-C) {self._where()}")

    def start(self) -> None:
        """Switch clocks if the start is past ``loglogt_after``; the activation pattern; the
        first Jacobian."""
        if self._pattern is not None and self._resumed:  # first: the clock switch evaluates
            self._pattern.resume(self.cur.clock, self.cur.y, self._logt(), self._modes)
        elif self._pattern is not None:                  # the field
            self._pattern.start(self.cur.clock, self.cur.y, self._logt())
        self._switch_clock()
        self._step.jacobian(self.cur.clock, self.cur.y)
        self._next_report = time.perf_counter()
        self._started = True

    def extend(self, budget_seconds: float,
               progress: Callable[[float], None] | None = None) -> None:
        """Give a run that ended on its budget (status ``"budget"``) ``budget_seconds`` more.

        The next :meth:`run` steps on from the point where the budget ran out, with
        everything a step depends on as it was: step size, the last step's collocation
        polynomial (predictions), the Jacobian and its LU cache, the activation pattern and
        its sliding modes, the clock (``log log t`` or not) and the output levels to come; so
        the steps are those of a run that was never stopped, to the last bit, wherever the
        wall clock cut it.  (Restarting from the stopped point instead resets the step size,
        the predictions and the pattern's state at a point the wall clock chose: the rest of
        the run then differed from one invocation to the next; measured: the two-layer
        ReLU net of ``tests/test_radau_relu.py`` to log t = 10 in 0.3 s checkpoint segments
        ended 2e-33 from the uninterrupted run; another such run stopped on an output level
        and ended in an error at the next start, :func:`~._record.output_levels`.)

        What is new is the segment's: its record (starting at the stopped point), wall
        time, budget, progress callback and counters (steps, Newton statistics, kink
        crossings and sliding statistics count from 0, as for a restarted segment).
        """
        if self.status != Status.BUDGET:
            raise ValueError(f"only a run that ended on its budget can be extended, not one "
                             f"that ended {self.status}")
        self.status, self.reason, self.error_message = None, "", ""
        self.records = [self._step.to_system(self.cur.clock, self.cur.y)]
        self.record_seconds = [0.0]
        self.steps = self.rejected = self.kinks_cut = self.kinks_refined = self.kinks_loose = 0
        self._step.stats = dict.fromkeys(self._step.stats, 0)
        if self._pattern is not None:
            self._pattern.new_segment()
        self._budget, self._progress = budget_seconds, progress
        self._t_start = time.perf_counter()
        self._deadline = self._t_start + budget_seconds
        self._next_report = self._t_start

    def step_once(self) -> None:
        """Attempt one double step: accept it (recording levels it reaches), or shrink ``h``."""
        if self._stopped():
            return
        self._unlocated = ""
        h_try, level = self._aim()
        res = self._double_step(h_try)
        cut = None
        if res is not None and self._kinks is not None:
            try:
                cut = self._kinks.first_crossing(*res.halves, self._pattern)
            except SlidingModeError as exc:  # a kink switched here was pushed back onto 0
                self._slide_pushed_back(exc)
                return
        if cut is not None and cut[0] == 0.0 and self._pattern is not None:
            # a kink at 0 here crosses at once (tangent): settle it again here, no step
            self._pattern.pushed_back(self.cur.clock, self.cur.y, cut[1], self._logt())
            self._step.jacobian(self.cur.clock, self.cur.y)
            return
        if cut is not None:
            # A ReLU kink inside the step: end the step on it (the flow is smooth on each
            # side), then move the end onto the root of the new step's interpolant
            level = None
            moved = self.handle_kink(h_try, cut)
            if moved is None:  # its root is the current point: switched here, no step
                return
            h_try, res = moved
        if res is None:
            self._newton_failed(h_try)
            return
        if not math.isfinite(res.err):
            self._reject(self.h / 4)
            return
        exponent = -1.0 / (self._step.tab.order + 1)
        fac = min(_FACMAX, max(_FACMIN, _SAFETY * (res.err + 1e-300) ** exponent))
        if res.err > 1.0:
            self._reject(h_try * self._conv(min(fac, 0.9)))
            return
        fac = predictive_factor(fac, h_try, res.err, self._last_accepted, exponent, _SAFETY,
                                _FACMIN)
        self._last_accepted = (h_try, max(res.err, 1e-2))
        self.steps += 1
        if self._stuck_in_step(h_try, res):
            return
        if level is not None:
            self._accept_on_level(h_try, res.y1, level, fac)
        else:
            self._accept(h_try, res.y1, fac, cut=cut)

    def _slide_pushed_back(self, exc: SlidingModeError) -> None:
        """A kink switched at the current point came back onto its surface at once: settle it
        again here, expecting it to slide (:meth:`~._radau_switches.KinkPattern.pushed_back`),
        and retry the step; else the run ends with ``exc``.

        At an exit where ``alpha`` touches 0 (or 1) and turns back, the side the kink left to
        is tangent to the surface there and only the next order pushes it back (measured:
        exp(x²/2), the coverage MLP 3/3, kink 34 at log t = 1.056, whose inactive rate was
        proportional to ``relu`` of kink 10, crossing there)."""
        pattern = self._pattern
        if pattern is None or not pattern.pushed_back(self.cur.clock, self.cur.y, exc.kink,
                                                      self._logt()):
            raise exc
        self._step.jacobian(self.cur.clock, self.cur.y)

    def handle_kink(self, h_try: Any,
                    cut: tuple[float, int]) -> tuple[Any, DoubleStep | None] | None:
        """Redo the step to end on the kink ``cut = (fraction, index)``, then move its end (up to
        six times, more while the gap still halves) onto the root of the redone step's
        collocation polynomial, until it moves by less than ``2^(16 - bits)`` of the step.

        A root that :meth:`~._radau_kinks.KinkLocator.refine` does not reach from the step end
        is located along the whole step (:meth:`~._radau_kinks.KinkLocator.locate`) and the
        step cut there: e.g. one at ``1e-25`` of a step, where the float64 root is 0 and the
        first cut (the floor fraction ``1e-12`` of :meth:`~._radau_kinks.KinkLocator.
        first_crossing`) lands past it (the step was accepted there: measured, kink 5 of the
        width-2 ReLU net of ``tests/test_radau_relu.py`` switched at ``|h| = 6e-18`` instead
        of rounding, 17 digits instead of 40 against Taylor).  A root within rounding of the
        current point is switched there (:meth:`_settle_at_start`; None is returned: no step),
        except a sliding exit's, whose step is taken as cut (the field is continuous there).

        Raises
        ------
        FloatingPointError
            The kink is not located (no root along the redone step, or the step still ends
            past its root): the run ends with status ``"error"`` and this reason.
        """
        assert self._kinks is not None
        sig: Any = cut[0]
        self.kinks_cut += 1
        res, gaps = None, []
        for it in range(_MAX_REFINEMENTS):
            h_try = h_try * (self._conv(sig) if isinstance(sig, float) else sig)
            res = self._double_step(h_try)
            if res is None:
                return h_try, None
            sig = self._kinks.refine(*res.halves, cut[1], self._pattern)
            if sig is None:  # the root is not near the end: along the step, or at its start
                sig = self._kinks.locate(*res.halves, cut[1], self._pattern)
                if sig is None:
                    raise FloatingPointError(f"kink event {cut[1]} could not be located: no "
                                             "root along the step cut at its float64 root")
                if float(sig * abs(h_try)) <= self._rounding():
                    if self._pattern is not None and cut[1] >= self._pattern.n_kinks:
                        # a sliding exit (alpha at 0 or 1) is tangent there: the field is
                        # continuous across it, so the step cut just past it costs O(cut^2);
                        # settled at the start instead, the exit was undecided (alpha 1 - tiny)
                        # and fired at once again (8/8/4 ReLU net, cosh: sliding kink 54 at
                        # log t = -0.356, an error since the root-at-start rule)
                        return h_try, res
                    self._settle_at_start(cut[1])
                    return None
                continue
            # measured on the 8/8/4 net: stopping at 1e-18 instead kept 29 digits
            gaps.append(abs(float(sig - 1)))
            if gaps[-1] < 2.0 ** (16 - self._bits):
                break
            if it >= 5 and gaps[-1] > 0.5 * gaps[-2]:
                break  # six refinements, and no longer converging
            self.kinks_refined += 1
        if float(1 - sig) > 2.0 ** (-self._bits / 2):
            unlocated = (f"kink event {cut[1]} could not be located: the step cut at it ends "
                         f"{float(1 - sig):.3g} of a step past its root")
            if self._pattern is not None and self._pattern.is_potential_kink(cut[1]):
                # f'' is continuous there (f''(0) > 0 plus abs(x)**q, q > 2, on networks), so
                # the field is too, and the cut past it costs O(cut^(q - 1)); the refinements
                # stall as the flow is not analytic there (x²/2 + abs(x)**(5/2): 6.7e-20 of a
                # step, width-2 ReLU net, separable_gaussian(4, 2, seed 0), init seed 2); the
                # certificate run measures what it costs
                self.kinks_loose += 1
                return h_try, res
            if not self._at_meeting(res, cut[1]):
                raise FloatingPointError(unlocated)
            # a unit's origin, where the potential's kinks (abs(x) terms) are at 0 as well:
            # the flow is not analytic there and the refinements stall (measured: x²/2 +
            # abs(x)**(5/2), 1.6e-19 of a step); the step ends here if the switch names the
            # meeting (the run ends there), else the run ends with this error (:meth:`_accept`)
            self._unlocated = unlocated
        return h_try, res

    def _at_meeting(self, res: DoubleStep | None, row: int) -> bool:
        """Whether the step ``res`` ends where the ReLU kink ``row`` and others are at 0."""
        if res is None or self._pattern is None or row >= self._pattern.n_kinks:
            return False
        near = self._pattern.relu_kinks_at_zero(res.y1)
        return row in near and len(near) >= 2

    def _rounding(self) -> float:
        """Steps this short (in the clock) are within rounding of the current point."""
        return AT_POINT_ULPS * 2.0 ** -self._bits * max(1.0, abs(float(self.cur.clock)))

    def _settle_at_start(self, row: int) -> None:
        """Switch the kink event ``row``, whose root is within rounding of the current point,
        here (as kinks at 0 there switch with a crossing); once per point, for a kink pushed
        across at once again raises :class:`FloatingPointError` (the run ends)."""
        if self._pattern is None or row in self._settled_here:
            raise FloatingPointError(f"kink event {row} crosses at once at the point where it "
                                     "was switched: its root is not located")
        self._settled_here.add(row)
        self._pattern.cross(self.cur.clock, self.cur.y, row, self._logt())
        self._step.jacobian(self.cur.clock, self.cur.y)

    def record_level(self, clock: Any, y: np.ndarray) -> None:
        """Record the point ``(clock, y)`` (working clock and state) and the wall time."""
        self.records.append(self._step.to_system(clock, y))
        self.record_seconds.append(time.perf_counter() - self._t_start)

    # ---------------------------------------------------------------- moves
    def _stopped(self) -> bool:
        """End the run on the budget or ``max_steps``; report progress."""
        if time.perf_counter() >= self._deadline:
            self._end(Status.BUDGET, f"{stiffness_reason(self._step.stats)}wall-clock budget of "
                      f"{self._budget:g} s spent {self._where()}")
            return True
        if self._progress is not None and time.perf_counter() >= self._next_report:
            self._next_report = time.perf_counter() + 0.2
            self._progress(self._logt())
        if self.steps >= self._set.max_steps:
            self._end(Status.ERROR, f"{stiffness_reason(self._step.stats)}max_steps = "
                      f"{self._set.max_steps} accepted steps {self._where()}")
            return True
        return False

    def _stuck_in_step(self, H: Any, res: DoubleStep) -> bool:
        """Ask the monitor at the check levels the accepted step ``[clock, clock + H]``
        crosses below the target (:func:`~numerics.solvers.check_stuck_levels`, as float64
        and Taylor do; Radau had no stuck monitor and "reached" log t = 9 on a net whose
        sample 2 had been held at margin 0 since log t ~ 0), θ from the step's collocation
        polynomials where log t equals the level; if it is stuck, end the run (at the step's
        start) and return True."""
        if self._monitor is None:
            return False
        end = self.cur.clock + H
        lt1 = float(np.exp(float(end))) if self._step.mapped else float(res.y1[-1])

        def theta_at(level: float) -> np.ndarray:
            return self._step.theta_at(res, self._step.clock_at_logt(res, level))

        self._next_check, reason = check_stuck_levels(
            self._monitor, self._next_check, self._logt(), min(lt1, self._target), theta_at)
        if reason:
            self._end(Status.STUCK, f"{reason} {self._where()}")
        return bool(reason)

    def _aim(self) -> tuple[Any, float | None]:
        """The step to try, and the level it ends on (in the ``log log t`` clock levels are
        step ends)."""
        if self._step.mapped and self._levels:
            v_level = np.log(np.array([self._conv(self._levels[0])], dtype=hy.real))[0]
            if float(v_level - self.cur.clock) <= float(self.h) * (1 + 1e-9):
                return v_level - self.cur.clock, self._levels[0]
        return self.h, None

    def _double_step(self, hh: Any) -> DoubleStep | None:
        res = self._step.double_step(self.cur.clock, self.cur.y, hh, self._polys,
                                     self._set.reuse_jacobians)
        if res is not None:
            self._latest = res
        return res

    def _newton_failed(self, h_try: Any) -> None:
        self._last_failure = f"{self._step.last_failure} {self._where(h_try)}"
        short, self._step.precision_short = self._step.precision_short, None
        self._short_failures += short is not None
        if short is not None and self._short_failures >= _SHORT_FAILURES:
            # the Jacobian's digits, not the step, are short: shrinking h would crawl (measured:
            # exp(x**2/2) / 4-unit ReLU net, steps 1e-5 in log log t at 199 bits from log t 400)
            self.raise_bits = raised_bits(self._bits)
            self._last_failure = ""
            self._end(Status.STALLED, f"the Newton matrix's rows reach e^{short:.0f} times their "
                      f"identity, beyond what {self._bits}-bit Jacobians resolve (forward "
                      f"differences keep half the bits) {self._where(h_try)}: continue at "
                      f"{self.raise_bits} bits")
            return
        self._reject(self.h / 4)

    def _reject(self, h: Any) -> None:
        self.h = h
        self.rejected += 1

    def _accept_on_level(self, h_try: Any, y1: np.ndarray, level: float, fac: float) -> None:
        """The step ended exactly on ``log t = level`` (``v = log level`` is the clock)."""
        self._levels.pop(0)
        self._advance(h_try, y1)
        self.record_level(self.cur.clock, self.cur.y)
        if level >= self._target:
            self._end(Status.REACHED)
            return
        if float(h_try) > 0.5 * float(self.h):  # a short step to a level keeps h
            self.h = h_try * self._conv(fac)
        self._step.jacobian(self.cur.clock, self.cur.y)

    def _accept(self, h_try: Any, y1: np.ndarray, fac: float, *,
                cut: tuple[Any, int] | None) -> None:
        """Record the levels inside the step (system clock), then move to its end (a step cut
        at kink ``cut[1]`` keeps ``h`` and, on a pattern, switches the kink there)."""
        lt0, lt1 = self.cur.y[-1], y1[-1]
        while not self._step.mapped and self._levels and float(lt1) >= self._levels[0]:
            level = self._levels.pop(0)
            self.record_level(*self._state_at_level(h_try, lt0, lt1, level))
            if level >= self._target:
                self._end(Status.REACHED)
                return
        self._advance(h_try, y1, project=cut is None)
        if cut is None:
            self.h = self.h * self._conv(fac)
        elif self._pattern is not None:
            self._pattern.cross(self.cur.clock, self.cur.y, cut[1], self._logt())
        if self._unlocated:  # the cut was kept for a meeting, and the switch names none
            raise FloatingPointError(self._unlocated)
        self._switch_clock()
        self._step.jacobian(self.cur.clock, self.cur.y)

    def _advance(self, h_try: Any, y1: np.ndarray, *, project: bool = True) -> None:
        """Move to the end of the accepted step (with ``project``, put back onto the sliding
        surfaces whose gradients vary, :meth:`~._radau_switches.KinkPattern.onto_surfaces`);
        its collocation data predicts the next.

        A step that ends on a kink event is not projected: its end is that kink's root to
        ``2^(16 - bits)``, and other kinks within rounding of 0 there switch with it, which a
        projection (a move of the size of a step's drift off the surfaces, ~1e-45 of the
        state at 199 bits) would hide (measured: kink 10 of the coverage MLP 3/3 then started
        the next step on its wrong side)."""
        assert self._latest is not None
        clock = self.cur.clock + h_try
        if self._pattern is not None and project:
            y1 = self._pattern.onto_surfaces(clock, y1)
        self.cur = Cursor(clock, y1)
        self._settled_here = set()
        self._polys = [self._step.keep(self._latest.second)]
        if self._pattern is not None:
            self._pattern.advanced()

    def _state_at_level(self, H: Any, lt0: Any, lt1: Any, level: float) -> tuple[Any, np.ndarray]:
        """State at ``log t = level`` inside the accepted step ``[clock, clock + H]`` (Newton on
        the step fraction, safeguarded by bisection)."""
        clock, conv = self.cur.clock, self._conv
        lv, lo, hi = conv(level), conv(0.0), conv(1.0)
        sig = (lv - lt0) / (lt1 - lt0)
        best = None
        for _ in range(12):
            yl = self._retried_double_step(sig * H).y1
            f = yl[-1] - lv
            best = (clock + sig * H, yl)
            if abs(float(f)) <= 2.0 ** (-self._bits + 8) * max(1.0, abs(level)):
                break
            if f > 0:
                hi = sig
            else:
                lo = sig
            slope = H * self._step.logt_rate(clock + sig * H, yl)
            new = sig - f / slope if float(slope) > 0 else (lo + hi) / 2
            sig = new if lo < new < hi else (lo + hi) / 2
        assert best is not None
        return best

    def _retried_double_step(self, hh: Any) -> DoubleStep:
        """A double step from the current point, with a new Jacobian after each failure."""
        for _retry in range(3):
            res = self._double_step(hh)
            if res is not None:
                return res
            self._step.jacobian(self.cur.clock, self.cur.y)
        raise FloatingPointError("Newton failed while locating an output level")

    def _switch_clock(self) -> None:
        """Past ``log t = loglogt_after``: continue with ``v = log log t`` as the clock.

        The system's clock becomes a state: states grow like powers of log t (THEORY.md §5),
        exponentials in v, resolved with steps of about constant size; and log t is no longer a
        stiff mode.
        """
        switch = self._set.loglogt_after
        if switch is None or self._step.mapped or float(self.cur.y[-1]) < switch:
            return
        lt = self.cur.y[-1]
        rate = self._step.logt_rate(self.cur.clock, self.cur.y)
        self.cur = Cursor(
            np.log(np.array([lt], dtype=hy.real))[0],
            np.concatenate([self.cur.y[:-1], np.array([self.cur.clock], dtype=hy.real)]),
        )
        self._step.use_loglogt_clock()
        self._polys = []
        self.h = self.h * rate / lt

    # ---------------------------------------------------------------- the end
    def _logt(self) -> float:
        return float(np.exp(float(self.cur.clock))) if self._step.mapped else float(self.cur.y[-1])

    def _where(self, h: Any = None) -> str:
        """Where the run is, for reasons: log t, accepted steps, step size (``h``, default the
        current one) and its clock."""
        clock = "log log t" if self._step.mapped else _CLOCK_NAMES[self._step.fns.system.clock]
        h = self.h if h is None else h
        return (f"at log t = {self._logt():.6g} after {self.steps} steps "
                f"(step size {float(h):.3g} in {clock})")

    def _end(self, status: Status, reason: str = "", *, message: str = "") -> None:
        if status is not Status.REACHED and self._last_failure:
            reason = f"{reason}; last Newton failure: {self._last_failure}"
        self.status, self.reason, self.error_message = status, reason, message

    def _crossing_stats(self) -> dict[str, Any]:
        """``kinks_crossed`` (switches of the activation pattern), ``kink_crossings``
        (``[log t, kink, |h_k| / max_j |h_j|, new side]`` each), ``kink_modes`` (the
        pattern at the last point, for a continued run), ``kinks_dead`` (the kinks
        identically 0 there, set aside: :mod:`._radau_aside`) and, with a sliding field,
        ``sliding_projections`` and ``sliding_drift_max``
        (:meth:`~._radau_switches.KinkPattern.surface_stats`), on a pattern only."""
        if self._pattern is None:
            return {}
        rows = [list(r) for r in self._pattern.crossings]
        return {"kinks_crossed": len(rows), "kink_crossings": rows,
                "kink_modes": self._pattern.modes, "kinks_dead": sorted(self._pattern.dead),
                **self._pattern.surface_stats()}

    def finish(self, compile_seconds: float, *, compiled: bool) -> RunRecord:
        """The run record: every recorded point (and the last one unless the target was hit),
        read out at the working precision, and the run's statistics."""
        seconds = time.perf_counter() - self._t_start
        status = self.status or Status.ERROR
        records = list(self.records)
        if status != Status.REACHED:
            records.append(self._step.to_system(self.cur.clock, self.cur.y))
        out = _read_out(self._step, records, self._wp)
        st = self._set
        stats = {
            "steps": self.steps, "rejected": self.rejected, "seconds": seconds,
            "compile_seconds": compile_seconds, "order": self._step.tab.order,
            "stages": st.stages, "tol": st.tol, "prec": self._bits, "fp_type": "real",
            "s0": st.s0, "method": "radau_iia", "kinks_cut": self.kinks_cut,
            "kinks_refined": self.kinks_refined, "kinks_loose": self.kinks_loose,
            "record_seconds": self.record_seconds,
            **self._crossing_stats(),
            "error_message": self.error_message, "compiled": compiled, **self._step.stats,
        }
        if self.raise_bits is not None:
            stats["raise_bits"] = self.raise_bits
        if status != Status.REACHED:
            stats["reason"] = self.reason
        return RunRecord(**out, status=status, stats=stats)


def _read_out(step: RadauStep, records: list[tuple[Any, np.ndarray]], wp: int) -> dict[str, Any]:
    """Clock, ``s``, ``log t``, states, ``theta`` and ``log L`` (mpmath) at the records."""
    fns = step.fns
    P, log_clock = fns.system.n_params, fns.system.clock == "log_s"
    states_r = np.array([r[1] for r in records], dtype=hy.real)
    post = np.asarray(fns.post(np.ascontiguousarray(states_r.T)))
    with mpmath.workprec(wp):
        clocks = np.array([to_mpf(r[0]) for r in records], dtype=object)
        s_vals = np.array([mpmath.exp(c) if log_clock else c for c in clocks], dtype=object)
        states = to_mpf(states_r)
        return {"clock": clocks, "s": s_vals, "logt": np.array(states[:, -1], dtype=object),
                "states": states, "theta": to_mpf(post[:P].T), "log_loss": to_mpf(post[P])}
