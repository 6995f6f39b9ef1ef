"""Number-type backends for the homogeneous models.

The same model code (:mod:`numerics.problem._models`) is evaluated in three element types:

* ``FLOAT64`` -- ordinary float64 numpy arrays (fast, vectorised);
* ``MPMATH`` -- numpy object arrays of :class:`mpmath.mpf` (arbitrary precision; the precision
  is whatever ``mpmath.mp`` is set to by the *caller*, e.g. inside ``mpmath.workprec(200)``;
  a backend never changes it);
* ``HEYOKA`` -- numpy object arrays of :class:`heyoka.expression` (symbolic; used to build the
  right-hand side of a Taylor integrator). heyoka is imported lazily, on first use.

Models only use ``+ - * /``, ``@`` and sums on numpy arrays, plus the few non-arithmetic
operations collected in :class:`Backend`. Conventions shared by all backends: ``relu(x) =
max(x, 0)`` and ``heaviside(x) = 1 if x > 0 else 0`` (so ``heaviside(0) = 0``, heyoka's
``relup`` convention; the Euler identity ``x * heaviside(x) = relu(x)`` then holds everywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import mpmath
import numpy as np
from numpy.typing import NDArray

__all__ = ["FLOAT64", "HEYOKA", "MPMATH", "Backend", "get_backend"]

Array = NDArray[Any]


@dataclass(frozen=True)
class Backend:
    """The non-arithmetic operations a model needs, for one element type.

    Every field is a plain function acting on numpy arrays of the backend's element type
    (``asarray`` and ``zeros`` build such arrays).

    Parameters
    ----------
    name : str
        ``"float64"``, ``"mpmath"`` or ``"heyoka"``.
    scalar : callable
        Converts one Python / numpy number (or an element already of the right type) to the
        element type.
    asarray : callable
        ``asarray(a)`` -> array of the element type with the shape of ``a``.
    zeros : callable
        ``zeros(shape)`` -> array of zeros of the element type.
    relu : callable
        Elementwise ``max(x, 0)``.
    heaviside : callable
        Elementwise derivative of ``relu``: 1 where ``x > 0``, else 0.
    power : callable
        ``power(x, k)``: elementwise ``x**k`` for an integer ``k >= 0`` (``k = 0`` gives ones).

    Examples
    --------
    >>> import numpy as np
    >>> FLOAT64.relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> import mpmath
    >>> with mpmath.workdps(30):
    ...     x = MPMATH.asarray([1, -3])
    ...     print(MPMATH.power(x, 3), MPMATH.heaviside(x))
    [mpf('1.0') mpf('-27.0')] [mpf('1.0') mpf('0.0')]
    """

    name: str
    scalar: Callable[[Any], Any]
    asarray: Callable[[Any], Array]
    zeros: Callable[[tuple[int, ...] | int], Array]
    relu: Callable[[Array], Array]
    heaviside: Callable[[Array], Array]
    power: Callable[[Array, int], Array]

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


# ----------------------------------------------------------------------------- helpers


def _map(func: Callable[[Any], Any], a: Any) -> Array:
    """Apply ``func`` to every element of ``a``; return an object array of the same shape.

    Filled element by element so that numpy never tries to treat an element (a heyoka
    expression, say) as a sequence.
    """
    src = a if isinstance(a, np.ndarray) else np.asarray(a, dtype=object)
    out = np.empty(src.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, v in enumerate(src.reshape(-1)):
        flat_out[i] = func(v)
    return out


def _python_number(v: Any) -> Any:
    """numpy scalars -> Python int / float (mpmath refuses e.g. ``np.int64``)."""
    if isinstance(v, np.integer | np.bool_):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _check_power(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"power: exponent k must be an integer >= 0, got {k!r}")
    return int(k)


def _object_power(ones: Callable[[tuple[int, ...]], Array]) -> Callable[[Array, int], Array]:
    """``x**k`` for object arrays as a product of ``k`` factors (exact graph, no float pow)."""

    def power(x: Array, k: int) -> Array:
        k = _check_power(k)
        if k == 0:
            return ones(np.shape(x))
        result = x
        for _ in range(k - 1):
            result = result * x
        return result

    return power


# ----------------------------------------------------------------------------- float64


def _f64_asarray(a: Any) -> Array:
    return np.asarray(a, dtype=np.float64)


def _f64_zeros(shape: tuple[int, ...] | int) -> Array:
    return np.zeros(shape, dtype=np.float64)


def _f64_relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _f64_heaviside(x: Array) -> Array:
    return (np.asarray(x) > 0).astype(np.float64)


def _f64_power(x: Array, k: int) -> Array:
    k = _check_power(k)
    return np.ones(np.shape(x)) if k == 0 else np.asarray(x, dtype=np.float64) ** k


FLOAT64 = Backend(
    name="float64",
    scalar=float,
    asarray=_f64_asarray,
    zeros=_f64_zeros,
    relu=_f64_relu,
    heaviside=_f64_heaviside,
    power=_f64_power,
)

# ----------------------------------------------------------------------------- mpmath


def _mp_scalar(v: Any) -> Any:
    return mpmath.mpf(_python_number(v))


def _mp_asarray(a: Any) -> Array:
    return _map(_mp_scalar, a)


def _mp_zeros(shape: tuple[int, ...] | int) -> Array:
    return _map(_mp_scalar, np.zeros(shape))


def _mp_ones(shape: tuple[int, ...]) -> Array:
    return _map(_mp_scalar, np.ones(shape))


def _mp_relu(x: Array) -> Array:
    zero = mpmath.mpf(0)
    return _map(lambda v: v if v > 0 else zero, x)


def _mp_heaviside(x: Array) -> Array:
    one, zero = mpmath.mpf(1), mpmath.mpf(0)
    return _map(lambda v: one if v > 0 else zero, x)


MPMATH = Backend(
    name="mpmath",
    scalar=_mp_scalar,
    asarray=_mp_asarray,
    zeros=_mp_zeros,
    relu=_mp_relu,
    heaviside=_mp_heaviside,
    power=_object_power(_mp_ones),
)

# ----------------------------------------------------------------------------- heyoka


@cache
def _heyoka() -> Any:
    """Import heyoka on first use (keeps ``import numerics`` fast)."""
    import heyoka

    return heyoka


def _hy_scalar(v: Any) -> Any:
    """A number as a heyoka expression holding a quadruple-precision (real128) number.

    heyoka folds an operation between two numbers in their own type: with doubles, a leaky
    ReLU's ``1 - slope`` and the product ``slope * x_c`` that ``heyoka.diff`` of
    ``slope * (x . w)`` makes were rounded to 1e-17, and a 30-digit flow on a depth-3 leaky MLP
    slid off its kink at that rate.  In real128 (113 bits) both are exact for a double
    ``slope >= 2**-60`` and a double ``x_c``; a flow at more than 113 bits converts the
    numbers exactly.
    """
    hy = _heyoka()
    if isinstance(v, hy.expression):
        return v
    return hy.expression(hy.real128(float(_python_number(v))))


def _hy_asarray(a: Any) -> Array:
    return _map(_hy_scalar, a)


def _hy_zeros(shape: tuple[int, ...] | int) -> Array:
    return _map(_hy_scalar, np.zeros(shape))


def _hy_ones(shape: tuple[int, ...]) -> Array:
    return _map(_hy_scalar, np.ones(shape))


def _hy_relu(x: Array) -> Array:
    return _map(_heyoka().relu, x)


def _hy_heaviside(x: Array) -> Array:
    return _map(_heyoka().relup, x)


HEYOKA = Backend(
    name="heyoka",
    scalar=_hy_scalar,
    asarray=_hy_asarray,
    zeros=_hy_zeros,
    relu=_hy_relu,
    heaviside=_hy_heaviside,
    power=_object_power(_hy_ones),
)

_BACKENDS = {b.name: b for b in (FLOAT64, MPMATH, HEYOKA)}


def get_backend(backend: Backend | str) -> Backend:
    """Return a :class:`Backend` given itself or its name.

    Examples
    --------
    >>> get_backend("mpmath") is MPMATH
    True
    >>> get_backend("float32")
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'float32'; use one of ['float64', 'mpmath', 'heyoka'] ...
    """
    if isinstance(backend, Backend):
        return backend
    try:
        return _BACKENDS[backend]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown backend {backend!r}; use one of {list(_BACKENDS)} "
            "or the instances FLOAT64, MPMATH, HEYOKA"
        ) from None
