"""Runs that cannot reach a separating direction: detected from the state, named by sample.

A network can lose samples for good: when every unit is inactive on x_i (or the only active
unit dies), ``q_i(θ) = 0`` and ``∇q_i(θ) = 0``, so the sample's own force vanishes. Once the
samples the network does separate have decayed, ℒ → Σ_dead ℓ(q_i) and the time-changed flow
crawls (``ds = ℒ dt`` with ℒ → a constant): log t grows like log s, and a run would spend its
whole budget without news. :func:`stuck_reason` recognises that state at any point θ.

A unit held at its ReLU kink by a sliding mode (Filippov, THEORY.md §7.2) on x_i counts as off
for x_i: along the slide its pre-activation stays 0, so it adds nothing to q_i nor to dq_i/dt,
whatever force the slide puts on its weights.  A sample whose last hidden layer is all off or
held is as stuck as a dead one (then ℒ >= ℓ(0), s grows like t, and only the monitor ends the
run: ``u = log s`` would otherwise run into the clock limit).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..problem import Activation, Problem, log_loss_and_weights

__all__ = ["HELD_RTOL", "STUCK_CHECKS_PER_DOUBLING", "STUCK_DOMINANCE",
           "STUCK_GRADIENT_RATIO", "StuckMonitor", "at_rest_reason", "check_stuck_levels",
           "held_samples", "next_stuck_check", "stuck_check_level", "stuck_reason",
           "stuck_samples"]

#: The stuck samples carry all but this fraction of the loss (log ℒ within it of their loss).
STUCK_DOMINANCE = 1e-2
#: ... and the stuck samples' gradients are this small against the largest sample gradient
#: (a dead unit gives exactly 0; a dying one decays like its pre-activation: 1e-6 of the others
#: at log t = 8.5 in the issue's example, where a sample the flow is still correcting has O(1)).
STUCK_GRADIENT_RATIO = 1e-3
#: A last-hidden-layer pre-activation at most this fraction of the layer's largest (over units
#: and samples) is at its kink: a 30-digit state rounded to float64 puts a sliding one at
#: ~1e-16 of it, on either side.
HELD_RTOL = 1e-9


#: Checks of :class:`StuckMonitor` per doubling of log t (above log t = 1; one per unit of
#: log t below it): a grid of log t, so a run and its certificate's rerun at a tighter
#: tolerance, or a float64 and a Taylor run, check at the same points of the trajectory.
STUCK_CHECKS_PER_DOUBLING = 8
#: The lowest level of that grid (the runs start at log t = -inf).
_FIRST_CHECK = -64.0


def next_stuck_check(log_t: float) -> float:
    """The first level of the check grid above ``log_t``: the integers from -64 up to 1, then
    2^(k / :data:`STUCK_CHECKS_PER_DOUBLING`).

    Runs call :meth:`StuckMonitor.update` once log t has reached the level this returned at the
    previous check: a decision that depends on the trajectory, not on the step count or the
    wall clock (each changes with the tolerance, the path and the machine).

    Examples
    --------
    >>> next_stuck_check(float("-inf")), next_stuck_check(-2.5), next_stuck_check(0.0)
    (-64.0, -2.0, 1.0)
    >>> round(next_stuck_check(1.0), 6), next_stuck_check(15.9), next_stuck_check(16.0) > 16
    (1.090508, 16.0, True)
    """
    if log_t < _FIRST_CHECK:
        return _FIRST_CHECK
    if log_t < 1.0:
        return math.floor(log_t) + 1.0
    return _grid_level(_grid_index(log_t) + 1)


def _grid_index(log_t: float) -> int:
    """``k`` of the highest grid level ``2^(k / STUCK_CHECKS_PER_DOUBLING) <= log_t`` (for
    ``log_t >= 1``): the logarithm's rounding corrected both ways (it put some levels, e.g.
    2^(2/8), one level below themselves)."""
    k = math.floor(STUCK_CHECKS_PER_DOUBLING * math.log2(log_t))
    while _grid_level(k + 1) <= log_t:
        k += 1
    while k > 0 and _grid_level(k) > log_t:
        k -= 1
    return k


def _grid_level(k: int) -> float:
    return 2.0 ** (k / STUCK_CHECKS_PER_DOUBLING)


def stuck_check_level(log_t: float) -> float:
    """The highest level of the check grid (:func:`next_stuck_check`) at or below ``log_t``
    (``log_t`` itself below the grid): a check made at the first step past a level counts as
    made at the level, so the decision does not depend on where the steps fell.

    Examples
    --------
    >>> stuck_check_level(-0.5), stuck_check_level(16.0), round(stuck_check_level(3.766), 4)
    (-1.0, 16.0, 3.668)
    """
    if log_t < _FIRST_CHECK:
        return log_t
    if log_t < 1.0:
        return float(math.floor(log_t))
    return _grid_level(_grid_index(log_t))


def check_stuck_levels(monitor: Callable[[float, NDArray[np.float64]], str | None],
                       next_level: float, log_t0: float, log_t1: float,
                       theta_at: Callable[[float], NDArray[np.float64]]
                       ) -> tuple[float, str | None]:
    """Call ``monitor(level, θ(level))`` at every level of the check grid
    (:func:`next_stuck_check`) from ``next_level`` up to ``log_t1``, the end of a step that
    began at ``log_t0``; ``(the next level to check, the first reason returned or None)``.

    θ comes from ``theta_at``, the step's dense output where log t equals the level (levels
    below ``log_t0``, left by steps the caller did not see, are asked at ``log_t0``), so the
    verdict is one of the trajectory, not of where the steps fell: judged at the first step
    past a level, a depth-4 ReLU MLP ended 'stuck' at 30 digits and reached its target at 45
    (its sample 1 lost its last unit between the steps' ends and the level). ``next_level =
    -inf`` starts at the first level above ``log_t0`` (a run's first step).

    Examples
    --------
    >>> seen = []
    >>> def monitor(level, theta):
    ...     seen.append((level, float(theta[0])))
    ...     return None
    >>> nxt, why = check_stuck_levels(monitor, -math.inf, -2.5, 1.1,
    ...                               lambda lt: np.array([lt]))
    >>> seen[:3], nxt > 1.1, why
    ([(-2.0, -2.0), (-1.0, -1.0), (0.0, 0.0)], True, None)
    """
    if next_level == -math.inf:
        next_level = next_stuck_check(log_t0)
    while next_level <= log_t1:
        level, next_level = next_level, next_stuck_check(next_level)
        reason = monitor(level, theta_at(max(level, log_t0)))
        if reason:
            return next_level, f"{reason} (judged at log t = {level:.6g})"
    return next_level, None


def held_samples(problem: Problem, theta: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Per sample: every unit of the network's last hidden layer is off on x_i or at its kink
    (pre-activation at most :data:`HELD_RTOL` of the layer's largest), for an activation that
    is flat on its negative side (ReLU, square ReLU); all False for other models.

    Such a sample has output ~0, and a unit on its kink contributes nothing to it while a
    sliding mode holds it there (the module docstring).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0]))
    >>> theta = np.array([0.5, -0.5 + 1e-17, 1.0])     # w.x_2 = 1e-17 (a sliding unit)
    >>> prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
    ...                       theta0=theta)
    >>> held_samples(prob, theta).tolist()
    [False, True]
    """
    model, X = problem.model, problem.data.X
    none = np.zeros(len(X), dtype=bool)
    act, widths = getattr(model, "activation", None), getattr(model, "widths", None)
    if not isinstance(act, Activation) or not widths:
        return none
    neg = np.array([-1.0])
    if act.value(neg)[0] != 0 or act.derivative(neg)[0] != 0:   # leaky ReLU: never off
        return none
    Z = np.asarray(model.kinks(np.asarray(theta, dtype=float), X), dtype=float)
    h = int(widths[-1])
    if Z.size < len(X) * h:                                     # smooth activation: no kinks
        return none
    last = Z[Z.size - len(X) * h:].reshape(len(X), h)
    return np.all(last <= HELD_RTOL * float(np.max(np.abs(last))), axis=1)


def stuck_samples(problem: Problem, theta: NDArray[np.float64]) -> list[int]:
    """Samples that no force can separate: margin ``q_i <= 0`` and a gradient ``∇q_i(θ)`` that
    is (nearly) zero, at most :data:`STUCK_GRADIENT_RATIO` of the largest sample gradient; or
    every unit of the last hidden layer off or held at its kink (:func:`held_samples`).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0]))
    >>> theta = np.array([1.0, 0.0, 1.0])          # one ReLU unit w = (1, 0), a = 1
    >>> prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
    ...                       theta0=theta)
    >>> stuck_samples(prob, theta)                 # the unit is off on x_1 = (-1, 0)
    [1]
    """
    out, grads = problem.model.outputs_and_grads(np.asarray(theta, dtype=float),
                                                 problem.data.X)
    q = problem.data.y * out
    norms = np.linalg.norm(np.asarray(grads, dtype=float), axis=1)
    dead = ((q <= 0) & (norms <= STUCK_GRADIENT_RATIO * float(norms.max()))
            | held_samples(problem, theta))
    return [int(i) for i in np.flatnonzero(dead)]


def stuck_reason(problem: Problem, theta: NDArray[np.float64]) -> str | None:
    """A one-line reason if the run at θ is stuck (else ``None``).

    Stuck: some samples have ``q_i <= 0`` and a vanishing gradient (:func:`stuck_samples`), and
    log ℒ is within :data:`STUCK_DOMINANCE` of their loss alone, so little left in the flow can
    move them (:class:`StuckMonitor` also asks that this persists while log t doubles).
    Linear and diagonal models never get here (non-separable data is refused before
    the run).
    """
    dead = stuck_samples(problem, theta)
    if not dead:
        return None
    q = problem.data.y * problem.model.outputs(np.asarray(theta, dtype=float), problem.data.X)
    total, _ = log_loss_and_weights(q, problem.loss)
    stuck_only, _ = log_loss_and_weights(q[dead], problem.loss)
    if total - stuck_only > STUCK_DOMINANCE:
        return None
    shown = ", ".join(str(i) for i in dead[:10]) + (", ..." if len(dead) > 10 else "")
    return (f"samples [{shown}] have margin <= 0 and no active unit left (vanishing gradient, "
            "or units held at their kinks by a sliding mode), and the loss is theirs alone: "
            "this network cannot separate them from this initialization; try another init "
            "seed or scale, or a wider net")


def at_rest_reason(problem: Problem, theta: NDArray[np.float64]) -> str | None:
    """A one-line reason if every sample's output and gradient are exactly 0 at θ, else None.

    Then ∇ℒ(θ) = 0: θ is a rest point of the flow and stays there for all time, so a run that
    "reaches" its target log t from θ has not moved and its direction means nothing.  This is a
    property of the state, unlike :class:`StuckMonitor`'s (which waits for log t to double and
    so depends on how often a solver asks: a dead net crosses log t = 100 in a few long steps).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]))
    >>> theta = np.array([-1.0, -1.0, 1.0])        # one ReLU unit, off on both samples
    >>> prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
    ...                       theta0=theta)
    >>> at_rest_reason(prob, theta)[:40]
    'every sample has output 0 and no active '
    """
    out, grads = problem.model.outputs_and_grads(np.asarray(theta, dtype=float),
                                                 problem.data.X)
    if np.any(np.asarray(out) != 0) or np.any(np.asarray(grads, dtype=float) != 0):
        return None
    return ("every sample has output 0 and no active unit (the gradient of the loss is exactly "
            "0): the flow is at rest and reaches no direction; try another init seed or scale, "
            "or a wider net")


class StuckMonitor:
    """Calls a run stuck when :func:`stuck_reason` holds at log t = a and still holds at
    log t >= max(2a, a + 1): a state, not a moment, so a sample the flow is about to rescue
    is not reported. Callers check at the levels of :func:`next_stuck_check`.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0]))
    >>> theta = np.array([1.0, 0.0, 30.0])         # x_0 separated by far, x_1 dead
    >>> prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
    ...                       theta0=theta)
    >>> mon = StuckMonitor(prob)
    >>> mon.update(3.0, theta) is None, mon.update(6.5, theta)[:12]
    (True, 'samples [1] ')

    Below log t = 1 the levels are the integers: stuck at -3, due at max(-6, -2) = -2.

    >>> mon = StuckMonitor(prob)
    >>> mon.update(-3.0, theta) is None, mon.update(-2.0, theta)[:12]
    (True, 'samples [1] ')

    A run to log t = ``target`` makes no check at a level at or above its target: the run has
    reached it (float64 stops there before it checks; a Taylor step may end a hair past it).

    >>> mon = StuckMonitor(prob, target=-2.0)
    >>> mon.update(-3.0, theta) is None, mon.update(-2.0, theta) is None
    (True, True)
    """

    def __init__(self, problem: Problem, target: float = math.inf) -> None:
        self.problem = problem
        self.target = float(target)
        self.since: float | None = None

    def update(self, log_t: float, theta: NDArray[np.float64]) -> str | None:
        """The reason if the run has been stuck since log t doubled, else ``None``.

        ``log_t`` counts as its level of the check grid (:func:`stuck_check_level`): with the
        log t of the step, a run whose check fell at 3.766 (level 3.668) reached log t = 8
        while its certificate's rerun, checking at 3.674, stopped stuck at 7.40 (measured:
        x²/2 scaled by 3 on a width-2 ReLU net, 2 samples).
        """
        level = stuck_check_level(float(log_t))
        # the target is no check level: every path stops "reached" there (the level of a check
        # at a due level equal to the target, log t = 8 from 4, used to be made by Taylor only:
        # Taylor 'stuck', float64 'reached' on one net)
        if level >= self.target - 1e-12 * max(1.0, abs(self.target)):
            return None
        reason = stuck_reason(self.problem, theta)
        if reason is None:
            self.since = None
            return None
        if self.since is None:
            self.since = level
            return None
        # the grid doubles every STUCK_CHECKS_PER_DOUBLING levels: 2 * since is a level, up to
        # rounding (an absolute margin: below log t = 1 the levels are integers, some negative)
        due = max(2 * self.since, self.since + 1)
        if level < due - 1e-12 * max(1.0, abs(due)):
            return None
        return at_rest_reason(self.problem, theta) or reason   # the more precise one
