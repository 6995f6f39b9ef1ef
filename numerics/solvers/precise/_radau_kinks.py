"""ReLU kinks along Radau IIA steps: detection and location to working precision.

The square-ReLU force contains ``relu(h)``, so the right-hand side is continuous but its
Jacobian jumps at a kink (a sign change of one of ``system.kinks``), and a crossing at distance
``delta`` from a step end costs an error ``O(delta^2)``.  The driver therefore ends steps on
kinks: :meth:`KinkLocator.first_crossing` finds the first sign change along a double step on the
float64 interpolant of its collocation values, and :meth:`KinkLocator.refine` moves the end onto
the root of the redone step's own collocation polynomial, by secant iterations in MPFR.

Both are deterministic: the float64 interpolant has fixed barycentric weights (computed once
from the nodes), not scipy's ``BarycentricInterpolator``, whose weights are products over a
*random* permutation of the nodes (numpy's global random state unless it is given one): their
last bits, hence the float64 root, the first cut, the MPFR refinement started from it and the
whole trajectory after the first kink then differed from run to run (measured: the coverage MLP
3/3 under exp(x²/2) to log t = 2 at 30 digits, states apart by 1e-52 after the 63rd to 94th
double step, then 3197 to 3473 Newton iterations, 24 or 26 kink crossings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ._compile import converter
from ._radau_compile import ImplicitFunctions
from ._radau_errors import SlidingModeError
from ._radau_step import Poly
from ._radau_switches import KinkPattern
from ._radau_tableau import RadauTableau

__all__: list[str] = []

#: ``alpha`` (or ``1 - alpha``) of a sliding kink this close to 0 at a step start is on its bound.
_EXIT_ROUNDING = 1e-26


def _barycentric_weights(x: Sequence[Any], one: Any) -> list[Any]:
    """Weights ``1 / prod_{m != k} (x_k - x_m)`` of the barycentric interpolant on ``x``."""
    wts = []
    for k in range(len(x)):
        v = one
        for m in range(len(x)):
            if m != k:
                v = v * (x[k] - x[m])
        wts.append(one / v)
    return wts


def _barycentric(
    t: Any, x: Sequence[Any], wts: Sequence[Any], values: Sequence[Any], zero: Any
) -> Any:
    """The interpolant of ``values`` at the nodes ``x`` (weights ``wts``), at ``t``."""
    num = den = zero
    for k in range(len(x)):
        d = t - x[k]
        if d == 0:
            return values[k]
        num, den = num + wts[k] * values[k] / d, den + wts[k] / d
    return num / den


#: Float64 kink values this close to 0 (relative to their row's largest, or to 1) do not tell
#: the side: :meth:`KinkLocator.values` evaluates such rows in working precision.
_FLOAT64_NOISE = 1e-10


class KinkLocator:
    """Sign changes of ``system.kinks`` (ReLU pre-activations) along a double step.

    Parameters
    ----------
    fns
        Compiled functions with ``kinks`` (float64) and ``kinks_mp`` (MPFR).
    tab
        The tableau at ``fns.bits``: the nodes of the two half steps.
    """

    def __init__(self, fns: ImplicitFunctions, tab: RadauTableau) -> None:
        if fns.kinks is None or fns.kinks_mp is None:
            raise ValueError("the system has no kinks")
        self._fn, self._fn_mp = fns.kinks, fns.kinks_mp
        self._P = fns.system.n_params
        c = np.array([float(v) for v in tab.c])
        self._nodes = np.concatenate([[0.0], c / 2, 0.5 + c / 2])  # a: 0..s, b: s..2s
        s = len(c)
        self._halves = [slice(0, s + 1), slice(s, 2 * s + 1)]
        self._weights = [_barycentric_weights(list(self._nodes[h]), 1.0) for h in self._halves]
        conv = converter("real", fns.bits)
        self._conv, self._one, self._zero = conv, conv(1.0), conv(0.0)
        half = conv(0.5)
        self._nodes_mp = [half] + [half + half * cj for cj in tab.c]  # the second half step's
        self._weights_mp = _barycentric_weights(self._nodes_mp, self._one)
        self._eps_root = 2.0 ** (-fns.bits + 12)
        self._bits = fns.bits

    def values(self, a: Poly, b: Poly) -> np.ndarray:
        """Kink values (nk, 2s + 1) at the collocation nodes of the two half steps (float64).

        Rows that come within :data:`_FLOAT64_NOISE` of 0 (relative to the row, or to 1) are
        evaluated in working precision and rounded: float64 cannot tell the side of a kink
        there (measured: two kinks of one sample leaving a sliding mode together, at
        +3.7e-52 and +1.8e-51 in working precision, -9.5e-19 and -3.0e-18 in float64; the
        kink not switched at the step start was then "on its wrong side", an error)."""
        P = self._P
        pts = np.concatenate([a.values[:, :P].astype(float), b.values[1:, :P].astype(float)])
        out = self._fn(np.ascontiguousarray(pts.T))
        mags = np.abs(out)
        near = np.min(mags, axis=1) <= _FLOAT64_NOISE * np.maximum(1.0, np.max(mags, axis=1))
        if np.any(near):
            rows = np.flatnonzero(near)
            exact = np.concatenate([a.values[:, :P], b.values[1:, :P]])
            mp = np.asarray(self._fn_mp(np.ascontiguousarray(exact.T)))
            out = np.array(out, copy=True)
            out[rows] = mp[rows].astype(float)
        return out

    def first_crossing(
        self, a: Poly, b: Poly, pattern: KinkPattern | None = None
    ) -> tuple[float, int] | None:
        """Fraction of the double step where the first kink crosses and its index, or None.

        Kink values at the 2s + 1 collocation nodes of the two half steps.  Without a
        ``pattern`` (a continuous force) a crossing is a sign change from the step start, and a
        kink that starts within ``1e-9`` (relative) of zero is taken as just crossed; with one,
        a crossing is a value on the wrong side of the pattern (:meth:`_off_pattern`; its
        events are the kinks, then the exits of sliding modes, and the index returned is the
        event's).  Roots are found on the float64 interpolant of the half step, with fixed
        weights (:meth:`_first_root`; the earliest one when several kinks cross between the
        same nodes), a first location that :meth:`refine` improves.
        """
        k = self.values(a, b)
        if pattern is not None and pattern.sliding:
            exits = np.concatenate([pattern.exit_values(a), pattern.exit_values(b)[:, 1:]], axis=1)
            k = np.concatenate([k, exits.astype(float)])
        if pattern is None:
            scale = np.max(np.abs(k), axis=1)
            live = np.abs(k[:, 0]) > 1e-9 * (1.0 + scale)
            change = live[:, None] & (np.sign(k[:, 1:]) != np.sign(k[:, :1]))
        else:
            change = self._off_pattern(k, pattern)
            at_start = self._across_at_once(k, pattern)
            if at_start is not None:
                return 0.0, at_start
        if not np.any(change):
            return None
        first = np.where(change.any(axis=1), change.argmax(axis=1), k.shape[1])
        j = int(first.min())  # sign change between nodes j and j + 1
        if j == 0 and pattern is not None and np.any(change[:, 0] & (k[:, 0] * pattern.sides < 0)):
            # an exit row that starts on its wrong side and stays there: it exits here
            return 1e-12, int(np.flatnonzero(change[:, 0] & (k[:, 0] * pattern.sides < 0))[0])
        sig, i = self._first_root(k, first, j)
        if pattern is not None:  # every crossing is cut: the force jumps there
            return (sig, i) if sig > 0 else (1e-12, i)
        return (sig, i) if 1e-9 < sig < 1.0 - 1e-9 else None

    def _first_root(self, k: np.ndarray, first: np.ndarray, j: int) -> tuple[float, int]:
        """The earliest root ``(fraction, kink)`` between nodes ``j`` and ``j + 1`` of the kinks
        whose first sign change is there (``first == j``), on the float64 interpolant of their
        half step's values (fixed weights: the same values give the same root, bit for bit)."""
        second = int(j >= len(self._weights[0]) - 1)  # nodes s..2s: the second half step
        half, wts = self._halves[second], self._weights[second]
        nodes, lo, hi = list(self._nodes[half]), self._nodes[j], self._nodes[j + 1]
        roots = []
        for i in np.flatnonzero(first == j):
            vals = list(k[i, half])
            root = brentq(lambda x, v=vals: float(_barycentric(x, nodes, wts, v, 0.0)), lo, hi,
                          xtol=1e-16, rtol=1e-15)
            roots.append((float(root), int(i)))
        return min(roots)

    @staticmethod
    def _across_at_once(k: np.ndarray, pattern: KinkPattern) -> int | None:
        """A fresh ReLU kink on its side at the step start and across at the next node, or
        None: it crosses at the start (fraction 0, settled again there:
        :meth:`~._radau_switches.KinkPattern.pushed_back`), where its rates vanish
        (tangent).  A cut at its double root inside the step would land a second order off it
        (measured: the
        coverage MLP 3/3 under exp(x²/2) at log t = 1.649, kinks 31 and 34 are
        ``p13 relu(h)`` with ``p13 = -2e-67`` where kink 10 switches on and pushes ``p13`` up
        quadratically: cut with ``p13 = 6.8e-29``).  Once per point
        (:meth:`~._radau_switches.KinkPattern.may_settle_again`)."""
        n, sides = pattern.n_kinks, pattern.sides
        for j in sorted(pattern.fresh):
            if (j < n and k[j, 0] * sides[j] >= 0 > k[j, 1] * sides[j]
                    and pattern.may_settle_again(j)):
                return int(j)
        return None

    @staticmethod
    def _off_pattern(k: np.ndarray, pattern: KinkPattern) -> np.ndarray:
        """``(nk, 2s)``: True where a kink is on the wrong side of ``pattern`` at nodes 1..2s.

        A kink switched at the step start (``pattern.fresh``) may start at a rounding-level zero
        on either side; if it is on the wrong side at the next node too, the flow returned onto
        it (:class:`SlidingModeError`).  So may the exit rows of sliding kinks at a switch
        (their ``alpha`` jumps there, and can land on 0 or 1); one that is on the wrong side
        at the next node too is an exit at the step start (True at node 1: the step is cut at
        once).  Any other kink on its wrong side at the start is an error.
        """
        pattern.resting_potential_kinks(k[:, 0])   # on their sides now (see the method)
        wrong = k * pattern.sides[:, None] < 0
        # a kink identically 0 at the start changes only as an input turns on, whose own
        # event is the crossing (its interpolant, with relu inside, can cross before it)
        wrong[sorted(pattern.dead)] = False
        # a potential's kink within rounding of 0 all along the step only hovers there
        wrong[pattern.hovering_potential_kinks(k[: pattern.n_kinks])] = False
        fresh = np.zeros(len(k), dtype=bool)
        fresh[list(pattern.fresh)] = True
        # an exit row within rounding of its bound at the start is a fresh zero too: where the
        # inactive side is tangent to a surface its alpha stays at 0 to rounding, and the
        # projection of the last step moves it by that much (measured: the coverage MLP 3/3
        # under exp(x²/2), kink 34 held again at log t = 1.056 with alpha = 0 +- 1e-45)
        fresh[pattern.n_kinks:] = bool(pattern.fresh) | (np.abs(k[pattern.n_kinks:, 0])
                                                         <= _EXIT_ROUNDING)
        if np.any(wrong[:, 0] & ~fresh):
            bad = int(np.flatnonzero(wrong[:, 0] & ~fresh)[0])
            raise FloatingPointError(f"kink {bad} starts a step on the wrong side of the "
                                     "activation pattern")
        back = wrong[:, 0] & wrong[:, 1] & fresh
        if np.any(back[: pattern.n_kinks]):
            k = int(np.flatnonzero(back[: pattern.n_kinks])[0])
            coordinate = pattern.potential_coordinate(k)
            if coordinate is not None:
                # theta_k ~ z_k^2 at f''(0) = inf: a double root, located to half the digits
                raise FloatingPointError(
                    f"theta_{coordinate} returned to 0 after it crossed a kink of the "
                    "potential, where Radau's primal state is not Lipschitz (f''(0) = inf) or "
                    "singular (f''(0) = 0): use method='taylor' with a potential whose inverse "
                    "mirror map has a closed form (its dual state crosses 0 regularly; e.g. "
                    "Potential.lp(1.5) for abs(x)**(3/2)/(3/2))")
            raise SlidingModeError(k)
        return wrong[:, 1:]

    def refine(self, a: Poly, b: Poly, i: int, pattern: KinkPattern | None = None) -> Any:
        """Root of kink ``i`` near the end of a double step cut at it (an MPFR fraction, or None).

        The first cut is located on the interpolant of a step that crossed the kink, whose error
        is ``O(h^2)`` there: this root comes from the second half step of the step that (nearly)
        ends on it, by secant iterations on its collocation polynomial in MPFR (the square-ReLU
        flow is only Lipschitz at a kink: a crossing ``delta`` inside a step costs
        ``O(delta^2)``, so float64 roots would cost ~1e-26).
        """
        if pattern is not None and i >= pattern.n_kinks:  # the exit of a sliding mode
            kv = list(pattern.exit_values(b)[i - pattern.n_kinks])
        else:
            kv = list(np.asarray(self._fn_mp(np.ascontiguousarray(b.values[:, : self._P].T)))[i])

        def p(t: Any) -> Any:
            return _barycentric(t, self._nodes_mp, self._weights_mp, kv, self._zero)

        if max(abs(float(v)) for v in kv) <= 2.0 ** (-self._bits / 2):
            # 0 along the half step up to rounding: a pre-activation identically 0 there (an
            # MLP's deeper kink with every unit before it off: the coverage MLP, kink 30 at
            # log t = 1.12 under cosh, kink 36 at 1.09 under exp(x**2/2) at 38 digits) is not
            # crossed; the end is as good as any point (the secant went nowhere on its noise)
            return self._one
        t0, t1 = self._one, self._one - self._conv(1e-6)
        p0, p1 = p(t0), p(t1)
        if p1 == p0:
            return None  # flat and not 0: no root near the end
        for _ in range(30):
            if p1 == p0:
                break
            t0, t1 = t1, t1 - p1 * (t1 - t0) / (p1 - p0)
            p0, p1 = p1, p(t1)
            if abs(float(t1 - t0)) < self._eps_root:
                break
        return t1 if abs(float(t1 - 1)) < 1e-3 else None

    def locate(self, a: Poly, b: Poly, i: int, pattern: KinkPattern | None = None) -> Any:
        """The first root of event ``i`` along a double step (an MPFR fraction), or None.

        For a root :meth:`refine` does not reach from the step end: e.g. one at the very start
        of the step, where the float64 root of :meth:`first_crossing` lands on 0 (below about
        ``1e-16`` of the step) and the step is cut at the floor fraction ``1e-12``, past it.
        The event's values at the ``2s + 1`` nodes of the two half steps (MPFR) bracket its
        first change to the wrong side (the side of ``pattern``; without one, of the start);
        the root is found in that bracket on its half step's collocation polynomial by
        Illinois iterations (:func:`_illinois`), to ``2^(12 - bits)`` relative to the root
        itself, so that a root at ``1e-30`` of the step is located to working precision.

        Returns
        -------
        Any or None
            ``0`` if the event starts on its wrong side (or at 0, crossing at the next node):
            it crosses at the start; the fraction of its first root; None if it stays on its
            side along the step.
        """
        rows = []
        for poly in (a, b):
            if pattern is not None and i >= pattern.n_kinks:
                rows.append(list(pattern.exit_values(poly)[i - pattern.n_kinks]))
            else:
                pts = np.ascontiguousarray(poly.values[:, : self._P].T)
                rows.append(list(np.asarray(self._fn_mp(pts))[i]))
        values = rows[0] + rows[1][1:]
        side = (float(pattern.sides[i]) if pattern is not None
                else next((float(np.sign(float(v))) for v in values if v != 0), 1.0))
        wrong = [float(v) * side < 0 for v in values]
        # a kink switched here (fresh) starts at a rounding-level zero of either sign
        fresh = pattern is not None and i in pattern.fresh
        if (wrong[0] and not fresh) or (values[0] == 0 and wrong[1]):
            return self._zero
        if not any(wrong[1:]):
            return None
        j = wrong.index(True, 1)  # the root lies between nodes j - 1 and j
        s = len(rows[0]) - 1
        second = j > s
        shift = self._conv(0.5) if second else self._zero
        vals = rows[1] if second else rows[0]
        nodes = [x - self._conv(0.5) + shift for x in self._nodes_mp]  # the half step's nodes

        def p(t: Any) -> Any:
            return _barycentric(t, nodes, self._weights_mp, vals, self._zero)

        lo = j - 1 - (s if second else 0)
        return _illinois(p, nodes[lo], nodes[lo + 1], 2.0 ** (12 - self._bits))


def _illinois(p: Any, lo: Any, hi: Any, rel_tol: float) -> Any:
    """A root of ``p`` in ``[lo, hi]`` (``p(lo)``, ``p(hi)`` of opposite signs, or one 0) by the
    Illinois variant of regula falsi: it keeps the bracket and converges superlinearly, also
    onto a root close to an end (no absolute tolerance: a root at ``1e-30`` keeps its digits).
    Without a bracket (a fresh kink's rounding-level zero at ``lo``), ``lo``.

    Examples
    --------
    >>> root = _illinois(lambda t: 1e-30 - t * (1 + 10 * t), 0.0, 0.01, 2.0 ** -40)
    >>> bool(abs(root / 1e-30 - 1) < 1e-12)
    True
    """
    f_lo, f_hi = p(lo), p(hi)
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    if (f_lo > 0) == (f_hi > 0):
        return lo
    x, kept = hi, 0
    for _ in range(200):
        new = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo <= new <= hi:
            new = (lo + hi) / 2
        f_new, step = p(new), abs(float(new - x))
        x = new
        if f_new == 0:
            return x
        if (f_new > 0) == (f_hi > 0):
            hi, f_hi = x, f_new
            f_lo, kept = (f_lo / 2 if kept == -1 else f_lo), -1
        else:
            lo, f_lo = x, f_new
            f_hi, kept = (f_hi / 2 if kept == 1 else f_hi), 1
        if step <= rel_tol * abs(float(x)):
            return x
    return x
