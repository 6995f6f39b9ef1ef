"""Kinks that meet at a switch: a unit whose incoming weights reach 0 (both integrators).

A unit's pre-activations on the samples are ``h_ij = w_j . x_i`` (two-layer net; an MLP's first
layer): their surfaces ``h_ij = 0`` are hyperplanes through ``w_j = 0``, which the flow can reach
in finite time (e.g. while ``h_0j`` slides, ``w_j`` moves along ``x_0^perp`` at a rate that does
not vanish with ``w_j``).  There every pre-activation of the unit is 0 at once, and the
continuation is not unique: with every one of them off the unit receives no force and may stay
at 0 (a dead unit, the Clarke slopes ``alpha = 0``: THEORY.md §7.2), or it may leave along a
sector whose field points into it (e.g. sliding on one of its kinks).  Neither integrator
chooses: :func:`meeting_kinks` finds such a meeting, and the run ends with status ``"sliding"``
and the reason :func:`meeting_reason`.

**Radau IIA** (:mod:`._radau_switches`) ends a step on the first of these kinks to cross (its
root, to working precision); the others are then at 0 only to the accuracy of that location
(measured: x²/2 on a width-2 ReLU net, ``separable_gaussian(4, 2)``, at log t = -1.7884: kink 2
at 8e-53, kinks 4 and 6 at -9e-52 and +1e-51, beyond the rounding test ``2^(24 - bits)`` = 2e-53
of simultaneous crossings), and the pattern just switched moves some of them across at once.
One at a time the run then passed through ``w_j = 0`` (kinks 4 and 6 both crossed 1e-50 of a
step later, were cut at the floor fraction 1e-12 and overshot by 1e-14; only kink 4 switched,
and kink 6 started the next step on its wrong side).

**Taylor** (:mod:`._taylor_meeting`) stops on whichever kink event heyoka locates first among
roots that coincide to rounding, on either side of ``w_j = 0``: in the case above kink 2 in a
run to log t = 3, kink 6 in one to log t = 2 (the state carries ``log t / scale`` with
``scale = max(1, target)``, and the steps, hence the roundings, differ).  Handled one at a time,
crossing kink 2 first left the unit dead, stopping on kink 6 first slid on it: the run's
outcome depended on its target.  So the Taylor test switches *every* kink that meets there
(each to the side opposite the one it had at the step before), which does not depend on which
event fired first; its ``across`` may name more kinks than Radau's (``[2, 4, 6]`` against
``[4, 6]`` above).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._status import MEETING_ADVICE

__all__ = ["MAX_SECTOR_SEARCH", "leaving_sector", "meeting_kinks", "meeting_reason",
           "near_zero"]


def near_zero(values: np.ndarray, bits: int, power: float = 0.5) -> np.ndarray:
    """Which kink values are at 0 to within ``sqrt`` of rounding, ``2^((24 - bits) / 2)``
    (``power`` 1: to rounding, ``2^(24 - bits)``), relative to the largest kink or to 1 if
    every kink is smaller (kinks at 0 together, e.g. ``u`` and ``2 u`` at ``u = 1e-60``, are
    both at 0, not half and all of the largest).

    Examples
    --------
    >>> near_zero(np.array([1e-40, 2e-40, 0.5, -1e-20]), 113).tolist()
    [True, True, False, True]
    >>> near_zero(np.array([1e-40, 2e-40, 0.5, -1e-20]), 113, power=1).tolist()
    [True, True, False, False]
    """
    mags = np.abs(np.asarray(values, dtype=float))
    return mags / max(float(np.max(mags)), 1.0) <= 2.0 ** ((24 - bits) * power)


#: at most this many kinks at 0 are searched for a sector the flow leaves into (2^n - 1 rate
#: evaluations); beyond it only the switched pattern's crossings are examined
MAX_SECTOR_SEARCH = 10


def leaving_sector(at_zero: Sequence[int],
                   rates_with_on: Callable[[Sequence[int]], np.ndarray], bits: int,
                   scale: float = 0.0) -> list[int] | None:
    """The first nonempty set ``S`` of the kinks ``at_zero`` whose pattern (``S`` on, the
    rest of ``at_zero`` off, nothing sliding) the flow leaves consistently: every kink of
    ``S`` rises and none of the others does (to ``2^(-bits / 2)`` of the largest rate, or of
    ``scale`` if larger: the rates of the flow around).  None
    if there is none, or more than :data:`MAX_SECTOR_SEARCH` kinks.  ``rates_with_on(S)``:
    the kinks' rates under that pattern.

    Examples
    --------
    A unit at its origin over two samples: turned on, sample 0's pre-activation rises (the
    force pushes the weights along ``x_0``), sample 1's falls; so ``{0}`` is left into.

    >>> leaving_sector([0, 1], lambda on: np.array([1.0, -0.5]) * (0 in on), 64)
    [0]
    >>> leaving_sector([0, 1], lambda on: -np.ones(2) * len(on), 64) is None
    True
    """
    at_zero = list(at_zero)
    if len(at_zero) > MAX_SECTOR_SEARCH:
        return None
    for mask in range(1, 2 ** len(at_zero)):
        on = [k for b, k in enumerate(at_zero) if mask >> b & 1]
        r = rates_with_on(on)
        tol = 2.0 ** (-bits / 2) * max(float(np.max(np.abs(r))), scale, 1e-300)
        if all(r[k] > tol for k in on) and all(r[k] < tol for k in at_zero if k not in on):
            return on
    return None


def meeting_kinks(
    near: Sequence[int], held: Sequence[int], modes: np.ndarray,
    rates: Callable[[], np.ndarray], rates_with_on: Callable[[Sequence[int]], np.ndarray],
    bits: int,
) -> tuple[list[int], list[int], list[int]] | None:
    """``(kinks at 0, those moved across, a sector left into)`` if ReLU kinks at 0 together
    meet as at a unit's ``w_j = 0`` (see the module docstring), else None.

    ``near`` are the ReLU kinks within ``sqrt`` of rounding of 0 that do not slide
    (:func:`near_zero`), ``held`` the sliding ones, ``modes`` the pattern's sides (+1 on, -1
    off), ``rates()`` the kinks' rates with the pattern as switched and ``rates_with_on(S)``
    with the kinks at 0 (``near`` and ``held``) off except ``S`` and nothing sliding.  They
    meet if with every kink at 0 off none of the near ones moves (to ``2^(-bits / 2)`` of the
    largest rate): their unit receives no force, so staying dead is a solution; and if
    besides the switched pattern moves one of them across its side at once (``across``: the
    integrator's own continuation is not consistent), or some other pattern of the kinks at 0
    is left consistently (:func:`leaving_sector`: leaving is a solution too).  Two or more
    near kinks cost two rate evaluations; a meeting that no crossing names costs the search.

    Examples
    --------
    Two kinks at 0, the first pushed across (off, rising), and no force with both off:

    >>> meeting_kinks([0, 1], [], np.array([-1, 1]), lambda: np.array([2.0, 1.0]),
    ...               lambda on: np.zeros(2), 64)
    ([0, 1], [0], [])
    >>> meeting_kinks([0, 1], [], np.array([-1, 1]), lambda: np.array([2.0, 1.0]),
    ...               lambda on: np.array([1.0, 0.0]), 64) is None
    True

    Nothing moved across, but the pattern with kink 1 on is left (kink 1 rises, kink 0 does
    not): staying dead and leaving both solve the flow.

    >>> meeting_kinks([0, 1], [], np.array([-1, -1]), lambda: np.zeros(2),
    ...               lambda on: np.array([-1.0, 1.0]) * (1 in on), 64)
    ([0, 1], [], [1])
    """
    if len(near) < 2:
        return None
    at_zero = sorted({*near, *held})
    r, off = rates(), rates_with_on([])
    scale = max(float(np.max(np.abs(r))), float(np.max(np.abs(off))), 1e-300)
    tol = 2.0 ** (-bits / 2) * scale
    if not np.all(np.abs(off[list(near)]) <= tol):
        return None
    across = [j for j in near if r[j] * modes[j] < -tol]
    if across:
        return at_zero, across, []
    leaving = leaving_sector(at_zero, rates_with_on, bits, scale)
    return None if leaving is None else (at_zero, [], leaving)


def meeting_reason(kinks: Sequence[int], across: Sequence[int], leaving: Sequence[int],
                   logt: float, integrator: str) -> str:
    """Why a run ends at a meeting of ``kinks`` (:func:`meeting_kinks`) at ``logt``, which
    ``integrator`` (e.g. ``"Radau IIA"``) does not follow.

    Examples
    --------
    >>> meeting_reason([0, 2], [2], [], -1.5, "Radau IIA")[:65]
    'ReLU pre-activations [0, 2] (of system.kinks) reach 0 together (a'
    >>> "[2] on is left consistently" in meeting_reason([0, 2], [], [2], -1.5, "Radau IIA")
    True
    """
    how = (f"{sorted(across)} cross at once there" if across else
           f"the pattern with {sorted(leaving)} on is left consistently there")
    return (f"ReLU pre-activations {sorted(kinks)} (of system.kinks) reach 0 together (a "
            f"unit's incoming weights reach 0 at log t = {logt:.10g}, where all its "
            f"pre-activations meet), and {how}: the flow's "
            "continuation is not unique (the unit receives no force with all of them off and "
            f"may stay at 0, or leave along one of them), which {integrator} does not choose; "
            + MEETING_ADVICE)
