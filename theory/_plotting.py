"""Pictures of horizon shapes: rescaled 2-D sublevel sets against the predicted S_∞.

THEORY.md §3: the sublevel sets {f(θ_1) + f(θ_2) <= c}, rescaled to unit size, converge
(Hausdorff) to the horizon shape S_∞ as c -> ∞. The points drawn here are computed exactly
as in :meth:`theory.Horizon.check` (same directions, same root finder, same normalisation to
maximal radius 1), so a picture and a reported distance describe the same point sets.

matplotlib is imported lazily, inside the plotting function: ``import theory`` does not
need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy as sp

from ._horizon import sample_directions, sublevel_radius
from ._numeric import mp_function

if TYPE_CHECKING:
    from ._horizon import Horizon
    from ._potential import Potential

__all__ = ["horizon_boundary", "plot_sublevel_sets", "sublevel_boundary"]


def sublevel_boundary(potential: Potential, level: float | str, n_dirs: int = 360,
                      dps: int = 30) -> np.ndarray:
    """Boundary of {f(θ_1) + f(θ_2) <= level}, rescaled to maximal radius 1.

    Parameters
    ----------
    potential
        A :class:`theory.Potential` (its bound scalar f is used).
    level
        The level c (a number or a decimal string such as ``"1e1000"``); it must exceed
        2 min f (otherwise the set is empty or a point).
    n_dirs
        Number of equally spaced directions (angle 0 first, counter-clockwise).
    dps
        Working precision (decimal digits) of the radius search; levels up to 1e300 and
        beyond are fine.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_dirs, 2)``: the boundary point in each direction, divided by the
        largest radius.

    Examples
    --------
    >>> from theory import Potential
    >>> pts = sublevel_boundary(Potential.lp(2), 1e6, n_dirs=8)
    >>> bool(np.allclose(np.linalg.norm(pts, axis=1), 1))
    True
    """
    dirs = sample_directions(n_dirs)
    f = mp_function(potential.f, sp.Symbol("x", real=True))
    with mpmath.workdps(dps):
        c = mpmath.mpf(level)
        radii: list = []
        for w in dirs:
            radii.append(sublevel_radius(f, w, c, radii[-1] if radii else None))
        rmax = max(radii)
        return np.array([float(r / rmax) * w for r, w in zip(radii, dirs, strict=True)])


def horizon_boundary(horizon: Horizon, n_dirs: int = 360) -> np.ndarray:
    """Boundary of the predicted horizon shape S_∞ = {φ_∞ <= 1}, rescaled to radius 1.

    The point in direction w is w / φ_∞(w); directions where the gauge is infinite (the
    collapsed side of a one-sided horizon) give the origin.

    Notes
    -----
    As in :meth:`theory.Horizon.check`, directions are floating-point: with an even
    ``n_dirs`` the direction at angle π is (-1, 1.2e-16), which a one-sided horizon whose
    positive side collapses sends to the origin although (-1, 0) lies on S_∞. Use an odd
    ``n_dirs`` for one-sided horizons.

    Examples
    --------
    >>> from theory import Potential
    >>> pts = horizon_boundary(Potential.cosh().horizon, n_dirs=8)
    >>> size = np.abs(pts).max(axis=1)          # l_inf size: constant on a square
    >>> bool(np.allclose(size, size[0]))
    True
    """
    dirs = sample_directions(n_dirs)
    gauge = sp.lambdify(sp.symbols("theta_1:3", real=True), horizon.gauge(2), "math")
    out = []
    for w in dirs:
        val = gauge(*w)
        out.append(w / val if np.isfinite(val) and val > 0 else 0 * w)
    pts = np.array(out)
    return pts / np.max(np.linalg.norm(pts, axis=1))


def plot_sublevel_sets(potential: Potential, levels: Sequence[float | str], *, n_dirs: int = 360,
                       dps: int = 30, ax: Any = None, cmap: str = "viridis",
                       title: str | None = None) -> Any:
    """Draw rescaled sublevel sets {f(θ_1)+f(θ_2) <= c} and the predicted horizon shape.

    One closed curve per level (coloured from the smallest to the largest level) and the
    predicted S_∞ of ``potential.horizon`` as a dashed black curve, all normalised to
    maximal radius 1 as in :meth:`theory.Horizon.check`.

    Parameters
    ----------
    potential
        A :class:`theory.Potential` with a determined horizon.
    levels
        The levels c (each larger than 2 min f), e.g. ``(1e2, 1e8, 1e100)``.
    n_dirs, dps
        Directions per curve and working precision (see :func:`sublevel_boundary`).
    ax
        A matplotlib Axes to draw on (default: a new figure).
    cmap
        Name of a matplotlib colormap for the levels.
    title
        Axes title (default: the potential's name and the horizon's norm).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from theory import Potential
    >>> ax = plot_sublevel_sets(Potential.lp(3), (1e2, 1e6), n_dirs=24)
    >>> len(ax.lines)      # two levels and the predicted shape
    3
    """
    import matplotlib.pyplot as plt

    if not levels:
        raise ValueError("levels must hold at least one level c, e.g. (1e2, 1e8, 1e100)")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    colours = plt.get_cmap(cmap)(np.linspace(0.1, 0.9, len(levels)))
    for c, colour in zip(sorted(levels, key=mpmath.mpf), colours, strict=True):
        pts = sublevel_boundary(potential, c, n_dirs=n_dirs, dps=dps)
        closed = np.vstack([pts, pts[:1]])
        exponent = float(mpmath.log10(mpmath.mpf(c)))
        ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=1.2,
                label=rf"$c = 10^{{{exponent:.3g}}}$")
    pred = horizon_boundary(potential.horizon, n_dirs=n_dirs)
    closed = np.vstack([pred, pred[:1]])
    ax.plot(closed[:, 0], closed[:, 1], "k--", lw=1.5, label=r"predicted $S_\infty$")
    ax.set_aspect("equal")
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel(r"$\theta_1$ (rescaled)")
    ax.set_ylabel(r"$\theta_2$ (rescaled)")
    ax.set_title(title if title is not None else f"{potential.name}: {potential.horizon.norm}")
    return ax
