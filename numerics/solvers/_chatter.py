"""Chattering at a sliding surface: float64's named stop for a Filippov sliding mode.

Where the flow pushes a quantity onto 0 from both sides, the exact solution slides along the
surface where it is 0 (a Filippov sliding mode). Two such surfaces occur:

* a ReLU pre-activation z = w_j·x_i (the force jumps across the kink; the Taylor path slides
  along it, THEORY.md §7.2);
* a coordinate θ_k = 0 of a layer whose potential has f''(0) = 0 (``abs(x)**3/3``): on a
  diagonal net the force on u_k is proportional to u_k, so u̇_k = F / f''(u_k) ~ sign(u_k)
  pushes u_k onto 0 at a finite speed from both sides, an absorbing zero (the Taylor path
  freezes the coordinate there, THEORY.md §7.1).

scipy's explicit steppers follow neither: a step across the surface meets the jump (or the
square-root branch) of the right-hand side, its error estimate rejects it, and the accepted
steps shrink to ~rtol while the quantity stays within ~1e-11 of 0 (on either side, or changing
sign from step to step), so the run would spend its whole budget near one point.
:class:`ChatterMonitor` recognises that state from the accepted steps: one such quantity (a
pre-activation, or the dual z_k = f'(θ_k) of a coordinate) within ``CHATTER_BAND · rtol`` of 0,
relative to the largest of its kind in its layer, for :data:`CHATTER_STEPS` steps in a row,
all of them shorter than ``CHATTER_BAND · rtol · max(1, s)`` or a quarter of them changing its
sign (measured on a diagonal net: ds ~ 6e-7 at s = 0.29, z_k ~ 1e-13 changing sign at most
steps). A transversal crossing passes such a band in a few steps; the decision depends on the
trajectory only, never on the wall clock.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem

__all__ = ["CHATTER_BAND", "CHATTER_STEPS", "ChatterMonitor", "name_kink"]

#: Consecutive steps with one watched quantity near 0 (all collapsed, or a quarter of them
#: changing its sign) that make a sliding mode (measured: hundreds of steps of ds ~ 1e-10 at
#: the issue's kinks; a transversal crossing passes the band in < 10).
CHATTER_STEPS = 64
#: Width of "near 0" and of a collapsed step, in units of rtol: |z| <= CHATTER_BAND · rtol ·
#: max |z of the layer| and ds <= CHATTER_BAND · rtol · max(1, s). Measured at rtol = 1e-11:
#: |z| ~ 1e-12..5e-11 against O(0.3..1) pre-activations, ds = 5e-11..1e-8 at s ~ 0.04..0.5
#: (ordinary steps there are ~1e-2).
CHATTER_BAND = 1e4

_FIX_KINK = ("float64 cannot follow a sliding mode; use dps=30 (method='taylor'), which slides "
             "(THEORY.md §7.2)")
_FIX_ZERO = ("float64 cannot follow it; use dps=30 (method='taylor'), which freezes the "
             "coordinate at 0 (THEORY.md §7.1)")


def name_kink(problem: Problem, index: int) -> str:
    """``"unit j of hidden layer l on sample i"`` for entry ``index`` of ``model.kinks``.

    ``model.kinks`` concatenates each hidden layer's pre-activations, an (n, width) array
    flattened row by row.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Problem, TwoLayer, make_dataset
    >>> data = make_dataset("separable_gaussian", n=6, d=3, seed=0)
    >>> prob = Problem.create(data, TwoLayer(width=4, activation="relu"), Potential.quadratic())
    >>> name_kink(prob, 9)
    'unit 1 of hidden layer 1 on sample 2'
    """
    n = problem.data.X.shape[0]
    rest = int(index)
    for layer, width in enumerate(getattr(problem.model, "widths", ()), start=1):
        if rest < n * width:
            return f"unit {rest % width} of hidden layer {layer} on sample {rest // width}"
        rest -= n * width
    return f"kink {index}"


class ChatterMonitor:
    """Watches the accepted steps of a float64 run for chattering at a sliding surface.

    :meth:`update` is called with every accepted step; it returns a one-line reason once one
    ReLU pre-activation, or one coordinate of the layers in ``zero_curvature_layers``, has
    stayed near 0 for :data:`CHATTER_STEPS` collapsed steps in a row (module docstring), else
    ``None``. Inactive (always ``None``) without such surfaces.

    Examples
    --------
    One unit, two samples; the second sits on the kink surface w·x = 0, and the steps are
    collapsed (as a chattering stepper's are):

    >>> from theory import Potential
    >>> from numerics import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]))
    >>> prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
    ...                       theta0=np.array([1.0, 0.0, 1.0]))
    >>> mon, reason = ChatterMonitor(prob, rtol=1e-11), None
    >>> for k in range(70):
    ...     theta = np.array([1.0, (-1) ** k * 1e-12, 1.0])
    ...     reason = reason or mon.update(1e-10 * k, 1e-10 * (k + 1), theta, -3.0)
    >>> reason.split(" at log t")[0]
    'chattering across the ReLU kink of unit 0 of hidden layer 1 on sample 1'
    """

    def __init__(self, problem: Problem, rtol: float,
                 zero_curvature_layers: tuple[int, ...] = ()) -> None:
        self.problem = problem
        self.band = CHATTER_BAND * float(rtol)
        self.coords = np.flatnonzero(np.isin(problem.layer_index, zero_curvature_layers))
        self.n_kinks = np.size(problem.model.kinks(problem.theta0, problem.data.X))
        size = self.n_kinks + self.coords.size
        self.active = size > 0
        self.steps = np.zeros(size, dtype=np.int64)     # steps near 0 in a row
        self.collapsed = np.zeros(size, dtype=np.int64)  # ... of which all collapsed
        self.flips = np.zeros(size, dtype=np.int64)     # sign changes meanwhile
        self.sign = np.zeros(size)

    def _surfaces(self, theta: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                              NDArray[np.bool_]]:
        """The watched quantities (pre-activations, then coordinates) and which are near 0,
        each relative to the largest of its block (a hidden layer, a potential's layer)."""
        problem, n = self.problem, self.problem.data.X.shape[0]
        kinks = np.asarray(problem.model.kinks(theta, problem.data.X), dtype=float)
        blocks = []
        start = 0
        for width in getattr(problem.model, "widths", ()):
            blocks.append(np.abs(kinks[start:start + n * width]))
            start += n * width
        # coordinates in the dual variable z = f'(θ), the state float64 integrates: z_k
        # crosses 0 at a finite slope, θ_k ~ |z_k|^{1/(p-1)} at a vertical one
        with np.errstate(over="ignore"):
            z = np.asarray(problem.mirror(theta), dtype=float)[self.coords]
        layers = problem.layer_index[self.coords]
        blocks += [np.abs(z[layers == k]) for k in np.unique(layers)]
        near = [b <= self.band * max(float(b.max(initial=0.0)), np.finfo(float).tiny)
                for b in blocks]
        values = np.concatenate([kinks, z])
        return values, (np.concatenate(near) if near else np.zeros(0, dtype=bool))

    def update(self, s_old: float, s_new: float, theta: NDArray[np.float64],
               log_t: float) -> str | None:
        """The reason if the step from ``s_old`` to ``s_new`` (ending at θ, ``log_t``)
        completes a chatter, else ``None``."""
        if not self.active:
            return None
        z, near = self._surfaces(np.asarray(theta, dtype=float))
        sign = np.sign(z)
        h = s_new - s_old
        collapsed = h <= self.band * max(1.0, abs(s_new))
        self.flips = np.where(near, self.flips + ((sign != self.sign) & (sign != 0)), 0)
        self.steps = np.where(near, self.steps + 1, 0)
        self.collapsed = np.where(near & collapsed, self.collapsed + 1, 0)
        self.sign = np.where(sign != 0, sign, self.sign)
        # near 0 for CHATTER_STEPS steps, all collapsed or a quarter of them changing sign
        chatter = (self.collapsed >= CHATTER_STEPS) | (
            (self.steps >= CHATTER_STEPS) & (4 * self.flips >= CHATTER_STEPS))
        if not chatter.any():
            return None
        k = int(np.flatnonzero(chatter)[0])
        stay = (f"stayed within {abs(z[k]):.1e} of 0 for {int(self.steps[k])} steps of ds ~ "
                f"{h:.1e} ({int(self.flips[k])} sign changes)")
        if k < self.n_kinks:
            return (f"chattering across the ReLU kink of {name_kink(self.problem, k)} at log t "
                    f"= {log_t:.6g}: its pre-activation {stay}, a Filippov sliding mode; "
                    f"{_FIX_KINK}")
        m = int(self.coords[k - self.n_kinks])
        return (f"chattering at theta[{m}] = 0 (layer {int(self.problem.layer_index[m])}, "
                f"f''(0) = 0) at log t = {log_t:.6g}: its dual z = f'(theta) {stay}; the flow "
                f"pushes it onto 0 from both sides (an absorbing zero: a sliding mode on "
                f"theta[{m}] = 0); {_FIX_ZERO}")
