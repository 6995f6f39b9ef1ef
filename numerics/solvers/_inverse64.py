"""A float64 inverse mirror map θ = (f')^{-1}(z) for potentials without a closed form.

The float64 path integrates the primal state dθ/ds = F / f''(θ) when an inverse has no closed
form. For a potential with f''(0) = 0 (``abs(x)**3/3``, ``x**4``, ...) that ODE is singular
where a coordinate crosses 0 with a force F != 0: θ² ~ 2F(s - s*)/f'''... goes through a
square-root branch point, the steps collapse and scipy gives up ("Required step size is less
than spacing between numbers"). The dual state has no such point: ż = F is bounded, and z
crosses 0 at a finite slope. :func:`float64_inverse` supplies the inverse the dual state needs:
the closed form where a layer has one, else safeguarded Newton on the increasing f' (bisection
whenever a Newton step leaves the bracket), to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem

__all__ = ["float64_inverse", "monotone_inverse"]

#: Iterations of :func:`monotone_inverse` (bisection alone needs ~60 per factor 2^60).
_MAX_ITER = 400
#: Plain Newton steps tried from a warm start before bracketing (the stages of one step move
#: θ by a few per cent: 5-6 steps to rounding).
_NEWTON_FIRST = 8


def _bracket(fp: Callable, z: NDArray[np.float64], x0: NDArray[np.float64]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``lo <= root <= hi`` around the guess ``x0``, by doubling the distance."""
    width = 1e-3 * (1.0 + np.abs(x0))
    lo, hi = x0 - width, x0 + width
    for _ in range(2200):
        low, high = fp(lo) > z, fp(hi) < z
        if not (low.any() or high.any()):
            return lo, hi
        width = np.where(low | high, 2.0 * width, width)
        lo = np.where(low, x0 - width, lo)
        hi = np.where(high, x0 + width, hi)
    raise FloatingPointError("float64 inverse mirror map: f'(x) = z has no bracket in float64")


def _newton_from(fp: Callable, fpp: Callable, z: NDArray[np.float64],
                 x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A few plain Newton steps from a close guess (the previous right-hand side's θ): the
    result, and where the last step was below 2 ulp (elsewhere the caller brackets)."""
    eps = np.finfo(float).eps
    ok = np.zeros(z.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_NEWTON_FIRST):
            step = (fp(x) - z) / fpp(x)
            x = x - step
            ok = np.isfinite(x) & (np.abs(step) <= 2 * eps * np.abs(x))
            if ok.all():
                break
    return x, ok


def monotone_inverse(fp: Callable, fpp: Callable, z, x0=None) -> NDArray[np.float64]:
    """x with ``fp(x) = z`` elementwise, for increasing ``fp`` with derivative ``fpp``.

    Newton steps from ``x0`` (default 0) inside a bracket that every iterate narrows;
    bisection whenever a Newton step leaves it (as at a zero of ``fpp``). Stops once a step
    or the bracket is below 2 ulp of x.

    Examples
    --------
    f(x) = |x|^3 / 3: f'(x) = x|x|, f''(x) = 2|x|, inverse sign(z) sqrt(|z|).

    >>> z = np.array([-4.0, -1e-20, 0.0, 2.0, 1e30])
    >>> x = monotone_inverse(lambda x: x * np.abs(x), lambda x: 2 * np.abs(x), z)
    >>> bool(np.all(np.abs(x - np.sign(z) * np.sqrt(np.abs(z))) <= 4e-16 * np.abs(x)))
    True
    """
    z = np.asarray(z, dtype=float)
    x = np.zeros_like(z) if x0 is None else np.array(x0, dtype=float)
    lo, hi = _bracket(fp, z, x)
    eps = np.finfo(float).eps
    done = np.zeros(z.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_MAX_ITER):
            r = fp(x) - z
            hi = np.where(r > 0, x, hi)
            lo = np.where(r < 0, x, lo)
            new = x - r / fpp(x)
            # a Newton step stays if it is inside the bracket, or is x itself (converged to
            # rounding, x may be an end); one back to the other end would cycle
            inside = ((new > lo) & (new < hi)) | (new == x)
            new = np.where(inside, new, 0.5 * (lo + hi))
            tiny = 2 * eps * np.maximum(np.abs(new), np.finfo(float).tiny)
            converged = (r == 0) | (np.abs(new - x) <= tiny) | (hi - lo <= tiny)
            x = np.where(done | (r == 0), x, new)       # converged entries stay put
            done |= converged
            if done.all():
                return x
    raise FloatingPointError("float64 inverse mirror map: Newton-bisection did not converge")


def float64_inverse(problem: Problem) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """θ = ∇φ*(z) coordinatewise in float64: closed forms where a layer has one, else
    Newton on its f' from the previous call's θ, bracketed (:func:`monotone_inverse`) where
    that does not converge at once.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Problem, TwoLayer, make_dataset
    >>> prob = Problem.create(make_dataset("separable_gaussian", n=3, d=2, seed=0),
    ...                       TwoLayer(2, "square_relu"), Potential("abs(x)**3/3"))
    >>> inv = float64_inverse(prob)
    >>> bool(np.allclose(inv(prob.mirror(prob.theta0)), prob.theta0, rtol=4e-16, atol=0))
    True
    """
    parts = problem.compiled
    last: dict[int, NDArray[np.float64]] = {}

    def inverse(z: NDArray[np.float64]) -> NDArray[np.float64]:
        z = np.asarray(z, dtype=float)
        out = np.empty_like(z)
        for k, (mask, cp) in enumerate(parts):
            if cp.inverse is not None:
                out[mask] = np.broadcast_to(cp.inverse(z[mask]), (int(mask.sum()),))
                continue
            zk, guess = z[mask], last.get(k)
            if guess is not None:
                x, ok = _newton_from(cp.mirror, cp.hessian, zk, guess)
                if not ok.all():
                    x[~ok] = monotone_inverse(cp.mirror, cp.hessian, zk[~ok], guess[~ok])
            else:
                x = monotone_inverse(cp.mirror, cp.hessian, zk)
            if np.all(np.isfinite(x)):
                last[k] = x
            out[mask] = x
        return out
    return inverse
