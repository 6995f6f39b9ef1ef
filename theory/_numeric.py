"""Arbitrary-precision evaluation of scalar sympy expressions (mpmath), shared by the layer.

Precision is always an argument (never global): every function here sets ``mp.dps``
only inside :func:`mpmath.workdps` and returns values computed at that precision.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.pycode import MpmathPrinter

from ._errors import short

__all__ = ["GUARD_DIGITS", "mp_function", "symbolic_timeout", "to_mpf", "wall_clock_limit"]

#: Extra decimal digits carried internally on top of the precision a caller asks for.
GUARD_DIGITS = 15


def _clean_special(expr: sp.Basic) -> sp.Basic:
    """Drop measure-zero artefacts of differentiating ``Abs``/``sign`` (``DiracDelta``)."""
    return expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)


_IMAG = sp.Symbol("imaginary_unit_")

#: Arguments of exp/cosh/sinh (and exponents times log base) beyond 2**_MAG_LIMIT overflow to
#: inf (or 0): mpmath would compute ln 2 to that many bits first, i.e. never finish.
_MAG_LIMIT = 1 << 16


def _huge(v: object) -> bool:
    return isinstance(v, mpmath.mpf) and mpmath.isfinite(v) and mpmath.mag(v) > _MAG_LIMIT


def _exp(v):
    if _huge(v):
        return mpmath.inf if v > 0 else mpmath.mpf(0)
    return mpmath.exp(v)


def _cosh(v):
    return mpmath.inf if _huge(v) else mpmath.cosh(v)


def _sinh(v):
    if _huge(v):
        return mpmath.inf if v > 0 else -mpmath.inf
    return mpmath.sinh(v)


def _pow(base, exponent):
    """``base ** exponent`` for a non-constant exponent, overflowing like :func:`_exp`."""
    b = mpmath.mpmathify(base)
    if isinstance(b, mpmath.mpf) and b > 0 and mpmath.isfinite(b) and b != 1:
        e = mpmath.mpmathify(exponent)
        if isinstance(e, mpmath.mpf) and mpmath.isfinite(e):
            t = e * mpmath.log(b)
            if _huge(t):
                return mpmath.inf if t > 0 else mpmath.mpf(0)
    return base ** exponent


_GUARDED = {"exp": _exp, "cosh": _cosh, "sinh": _sinh, "_guarded_pow": _pow}


class _GuardedPrinter(MpmathPrinter):
    """mpmath code in which a power with a non-constant exponent cannot hang on overflow,
    and ``zoo`` (e.g. a bound parameter 1/0) evaluates to NaN instead of failing to print."""

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp.is_number:
            return super()._print_Pow(expr, rational=rational)
        return f"_guarded_pow({self._print(expr.base)}, {self._print(expr.exp)})"

    def _print_ComplexInfinity(self, expr: sp.Basic) -> str:
        return self._module_format("mpmath.nan")


@lru_cache(maxsize=512)
def _compiled(expr: sp.Basic, var: sp.Symbol) -> Callable:
    # sympy prints I as the float literal 1j: pass it as an argument to keep full precision
    try:
        return sp.lambdify((var, _IMAG), _clean_special(expr).subs(sp.I, _IMAG),
                           modules=[_GUARDED, "mpmath"], printer=_GuardedPrinter({
                               "fully_qualified_modules": False, "inline": True,
                               "allow_unknown_functions": True,
                               "user_functions": {k: k for k in _GUARDED}}))
    except (NotImplementedError, ValueError, TypeError, KeyError) as exc:
        stuck = [node for node in sp.preorder_traversal(expr)
                 if isinstance(node, sp.Derivative | sp.Integral | AppliedUndef)]
        reason = (f"{short(stuck[0], 60)} has no numeric form" if stuck else
                  " ".join(str(exc).split()[:12]) or type(exc).__name__)
        raise ValueError(f"{short(expr)} cannot be evaluated numerically ({reason}); write it "
                         "with elementary functions (exp, log, sqrt, cosh, asinh, abs, ...)"
                         ) from None


def mp_function(expr: sp.Basic, var: sp.Symbol) -> Callable[[mpmath.mpf], mpmath.mpf]:
    """Compile a scalar expression in ``var`` to an mpmath callable returning a real mpf.

    Complex results with a negligible imaginary part (e.g. from ``LambertW``) are made real;
    a genuinely complex result raises :class:`ValueError`, and so does an expression that
    cannot be compiled (e.g. an unevaluated ``Derivative(floor(x), x)``). ``exp``, ``cosh``,
    ``sinh`` and non-constant powers overflow to ``inf`` (or 0) beyond 2**65536 instead of
    running for ever (``exp(exp(exp(x)))`` at x = 11).

    Examples
    --------
    >>> import sympy as sp, mpmath
    >>> x = sp.Symbol("x", real=True)
    >>> f = mp_function(sp.cosh(x), x)
    >>> with mpmath.workdps(30):
    ...     print(f(mpmath.mpf(1)))
    1.54308063481524377847790562075
    """
    fn = _compiled(expr, var)

    def raw(value):
        try:
            out = fn(value, mpmath.mpc(0, 1))
        except ZeroDivisionError:
            out = mpmath.nan
        if out == out:          # not NaN
            return out
        # a removable singularity at an isolated point (x/|x|^(1/2) at 0): the two-sided
        # mean at distance 10^-dps (our expressions are continuous wherever they are finite)
        eps = mpmath.mpf(10) ** (-mpmath.mp.dps) * max(1, abs(value))
        return (fn(value - eps, mpmath.mpc(0, 1)) + fn(value + eps, mpmath.mpc(0, 1))) / 2

    def call(value: mpmath.mpf) -> mpmath.mpf:
        out = raw(value)
        if isinstance(out, mpmath.mpc):
            if abs(out.imag) > mpmath.mpf(10) ** (-mpmath.mp.dps + 5) * (1 + abs(out.real)):
                raise ValueError(f"{short(expr)} is not real at {var} = {value}")
            out = out.real
        return mpmath.mpf(out)

    return call


def to_mpf(value: object) -> mpmath.mpf:
    """Convert a number, decimal string or sympy number to an mpf at the current precision."""
    if isinstance(value, sp.Basic):
        value = sp.Float(value, mpmath.mp.dps + 5)
        return mpmath.mpf(str(value))
    if isinstance(value, str):
        return mpmath.mpf(value)
    return mpmath.mpf(value)


#: Seconds after which an expired :func:`wall_clock_limit` fires again until its block ends.
_REFIRE = 0.05


@contextmanager
def wall_clock_limit(seconds: float,
                     error: Callable[[], BaseException] = lambda: TimeoutError("time limit")
                     ) -> Iterator[None]:
    """Raise ``error()`` if the block runs longer than ``seconds`` (SIGALRM, main thread).

    Nests: an enclosing limit keeps running inside the block and is re-armed with its own
    remaining time afterwards (firing at once if it expired meanwhile). An expired limit fires
    again every 0.05 s until the block ends, so code that swallows the error cannot outlive it.
    Outside the main thread, or without ``setitimer``, it does not interrupt.

    Examples
    --------
    >>> import time
    >>> try:
    ...     with wall_clock_limit(0.05):
    ...         with wall_clock_limit(5.0):
    ...             time.sleep(0.5)
    ... except TimeoutError:
    ...     print("outer limit fired inside the inner block")
    outer limit fired inside the inner block
    >>> with wall_clock_limit(5.0):
    ...     try:
    ...         with wall_clock_limit(0.05):
    ...             time.sleep(0.5)
    ...     except TimeoutError:
    ...         print("inner limit fired; the outer one keeps running")
    inner limit fired; the outer one keeps running
    """
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "setitimer") or seconds <= 0):
        yield
        return
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()

    def _raise(signum: int, frame: object) -> None:
        # fire again soon if the error is swallowed (raised inside an ``except Exception``,
        # a gc callback or a __del__, which only print it): a limit must end the block
        signal.setitimer(signal.ITIMER_REAL, _REFIRE)
        raise error()

    inner_first = not outer_left or seconds < outer_left
    # if the enclosing limit fires first, its own handler (and error) stays installed
    old = signal.signal(signal.SIGALRM, _raise) if inner_first else None
    signal.setitimer(signal.ITIMER_REAL, seconds if inner_first else outer_left)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if old is not None:
            signal.signal(signal.SIGALRM, old)
        if outer_left:
            left = outer_left - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


def symbolic_timeout(seconds: float) -> Any:
    """Raise :class:`TimeoutError` if the block runs longer than ``seconds``.

    Sympy's ``limit``/``solve``/``simplify`` can run for minutes on unusual input; every
    symbolic attempt that has a numeric fallback runs under this guard. Outside the main
    thread (where signals are unavailable) it does not interrupt.
    """
    return wall_clock_limit(seconds, lambda: TimeoutError(f"symbolic step exceeded {seconds} s"))
