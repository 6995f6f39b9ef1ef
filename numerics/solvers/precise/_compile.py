"""Compile expressions of a :class:`MirrorFlowSystem` to callables at the working precision.

Shared by the Taylor and Radau drivers: heyoka ``cfunc`` compilation with the system's runtime
parameters bound, conversion of values to the working type and back to mpmath.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import heyoka as hy
import mpmath
import numpy as np

from .._precision import LOG2_10, LOG10_2, FpType, Precision
from ._system import MirrorFlowSystem
from ._system_crossing import CrossingSystem

__all__ = ["cfunc_options", "compile_functions", "converter", "n_pars", "par_array", "to_mpf"]


def converter(fp_type: FpType, bits: int) -> Callable[[Any], Any]:
    """``conv(value) -> scalar`` of the fp type (see :meth:`Precision.converter`)."""
    prec = Precision.of_type(fp_type, bits if fp_type == "real" else None)
    return prec.converter()


def to_mpf(values: Any) -> Any:
    """Convert a scalar or array of float64 / real128 / real values to mpmath numbers.

    The result carries all printed digits (exact for float64; for real128 / real the printed
    decimal, which round-trips), independently of the ambient ``mpmath.mp.prec``.
    """
    if isinstance(values, np.ndarray):
        return np.array([to_mpf(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    if isinstance(values, mpmath.mpf):
        return values
    if isinstance(values, float | int | np.floating):
        return mpmath.mpf(float(values))
    text = str(values)
    if text.lstrip("+-") in ("nan", "inf"):   # heyoka prints "-nan"; mpmath reads "nan"
        return mpmath.mpf(text.lstrip("+")) if text != "-nan" else mpmath.mpf("nan")
    # Enough bits to read every printed digit back, whatever the ambient mpmath precision.
    with mpmath.workprec(max(mpmath.mp.prec, int(LOG2_10 * len(text)) + 16)):
        return mpmath.mpf(text)


def n_pars(exprs: Sequence[Any]) -> int:
    """Number of runtime parameters heyoka expects for ``exprs`` (highest index + 1)."""
    idx = [int(str(p)[1:]) for p in hy.get_params(list(exprs))]
    return max(idx) + 1 if idx else 0


def par_array(
    system: MirrorFlowSystem | CrossingSystem, n: int, scale: float, fp_type: FpType, bits: int
) -> np.ndarray:
    """Values of the first ``n`` runtime parameters of ``system`` in the working type.

    ``par[0]`` (the log-time scale) is set to ``scale``; the others are the system's exact
    constants, evaluated with ten guard digits.
    """
    conv = converter(fp_type, bits)
    vals = []
    for v in system.par_values[:n]:
        if v is None:
            vals.append(conv(scale))
        else:
            with mpmath.workprec(bits + 20):
                vals.append(conv(mpmath.mpf(v.evalf(int(bits * LOG10_2) + 10))))
    dtype = Precision.of_type(fp_type, bits if fp_type == "real" else None).dtype
    return np.array(vals, dtype=dtype)


def cfunc_options(precision: Precision) -> dict[str, Any]:
    """``hy.cfunc`` keyword arguments for ``precision``: its fp type, compact mode, and the
    MPFR precision in bits for ``real``.

    Examples
    --------
    >>> sorted(cfunc_options(Precision.of_type("real", 128)))
    ['compact_mode', 'fp_type', 'prec']
    """
    kw: dict[str, Any] = {"fp_type": precision.hy_type, "compact_mode": True}
    if precision.fp_type == "real":
        kw["prec"] = precision.bits
    return kw


def compile_functions(
    system: MirrorFlowSystem,
    outputs: Sequence[Any],
    inputs: Sequence[Any] | None = None,
    *,
    fp_type: FpType = "float64",
    prec: int | None = None,
    scale: float = 1.0,
    opt_level: int | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """Compile expressions of the state (or of ``inputs``) to a callable at the working precision.

    Returns ``f(x) -> array`` with ``x`` of shape (n_inputs,) or (n_inputs, N); the runtime
    parameters of ``system`` are bound at the same precision (``par[0]`` to ``scale``);
    ``opt_level`` is LLVM's (heyoka's default 3).

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd)
    >>> f = compile_functions(sysm, [rhs for _, rhs in sysm.equations[:2]])
    >>> f(np.array([0.0, 0.0, 0.0]))  # -grad log L at theta = 0: weights 1/2 each
    array([0.5, 0.5])
    """
    precision = Precision.of_type(fp_type, prec)
    bits = precision.bits
    inputs = list(system.variables if inputs is None else inputs)
    kw = cfunc_options(precision)
    if opt_level is not None:
        kw["opt_level"] = opt_level
    cf = hy.cfunc(list(outputs), inputs, **kw)
    npar = n_pars(outputs)
    pars = par_array(system, npar, scale, fp_type, bits)

    def call(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=precision.dtype)
        if not npar:
            return cf(x)
        return cf(x, pars=pars if x.ndim == 1 else np.repeat(pars[:, None], x.shape[1], axis=1))

    return call
