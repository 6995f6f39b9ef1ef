"""Compilation of a :class:`MirrorFlowSystem` for the Radau IIA driver (MPFR ``real``).

The right-hand side takes the clock as an extra input and writes into preallocated output
arrays: heyoka's ``real`` numpy arrays leak the MPFR storage of every freshly allocated array
(about 50 bytes per element at 140 bits, heyoka 7.13 / numpy 2.4), while writes into existing
arrays (ufuncs with ``out=``, ``np.copyto``) reuse it, so the integrator works in preallocated
buffers.  A force that jumps at its kinks (ReLU, leaky ReLU) is compiled with one switch per kink
(:func:`~._radau_switched.switched_equations`): runtime parameters after the system's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import numpy as np

from ._compile import compile_functions, converter, n_pars, par_array
from ._radau_sliding import (
    GradientRows,
    SlopeRows,
    coupled_kinks,
    kink_gradients,
    linear_kinks,
    slope_derivatives,
)
from ._radau_surfaces import metric_weights
from ._radau_switched import switch_table, switched_equations
from ._system import MirrorFlowSystem

__all__ = ["ImplicitFunctions", "compile_implicit"]


@dataclass(frozen=True)
class ImplicitFunctions:
    """Compiled right-hand side, start-up data and read-out of a system at ``bits`` precision.

    Build with :func:`compile_implicit`; pass to :func:`integrate_implicit` (or
    :class:`RadauIntegrator`) instead of the system to reuse the compilation across runs at the
    same precision.
    """

    system: MirrorFlowSystem
    bits: int
    rhs: BatchedFunction
    init: Callable[[np.ndarray], np.ndarray]
    post: Callable[[np.ndarray], np.ndarray]
    compile_seconds: float
    kinks: Callable[..., np.ndarray] | None = None  # float64, for detection
    kinks_mp: Callable[..., np.ndarray] | None = None  # MPFR, for the roots
    switched: bool = False  # rhs has switches per kink (a force that jumps: ReLU, leaky ReLU)
    linear_kinks: tuple[bool, ...] = ()  # kinks linear in the parameters (constant gradients)
    # rhs, then its slope derivatives, the gradients of the other kinks and the metric weights
    sliding_rhs: BatchedFunction | None = None
    slope_rows: SlopeRows = ()  # per kink: (state row, output row) of its slope derivatives
    gradient_rows: GradientRows = ()  # per kink: (parameter, output row) of its gradient
    weight_rows: tuple[int, ...] = ()  # output rows of the metric weights (surface projection)
    coupled_kinks: tuple[frozenset[int], ...] = ()  # per kink: the kinks it couples with


def compile_implicit(system: MirrorFlowSystem, bits: int) -> ImplicitFunctions:
    """Compile ``system.equations`` (clock as an extra input), start-up and read-out expressions.

    Parameters
    ----------
    system : MirrorFlowSystem
        From :func:`numerics.solvers.precise.build_mirror_flow_system` (any state and clock).
    bits : int
        MPFR precision of every compiled function.

    Returns
    -------
    ImplicitFunctions
    """
    if not isinstance(system, MirrorFlowSystem):
        raise ValueError(
            f"expected a MirrorFlowSystem (build_mirror_flow_system(...)), got {type(system)}"
        )
    t0 = time.perf_counter()
    clock_var = hy.make_vars("implicit_clock")
    # one subs call per list keeps the subexpressions the equations share shared (the
    # switches' substitution took 47 s instead of 3 s on a 3/2 leaky MLP without it); the
    # switches go in first, while the equations' relu nodes are still the kinks' own objects
    # (after the clock's subs they are copies, which heyoka matches far more slowly: compile
    # of a 3/3/3 ReLU MLP 272 s)
    eqs = [r for _, r in system.equations]
    switched = None
    if system.kinks:
        switched = switched_equations(eqs, system.kinks, len(system.par_values),
                                      jumps=system.jumps)
    rhs_exprs = list(hy.subs(switched or eqs, {hy.time: clock_var}))
    kw: dict[str, Any] = {"fp_type": "real", "prec": int(bits), "scale": 1.0}
    inputs = [*system.variables, clock_var]
    rhs = BatchedFunction(system, rhs_exprs, inputs, int(bits))
    sliding: dict[str, Any] = {}
    if switched is not None:   # rhs_exprs are the switched equations
        sliding = _sliding_parts(system, rhs_exprs, inputs, int(bits))
    init = compile_functions(system, system.init_exprs, system.theta_in, **kw)
    post = compile_functions(system, [*system.theta, system.log_loss], **kw)
    kinks = kinks_mp = None
    if system.kinks:
        kinks = compile_functions(system, list(system.kinks), system.variables[: system.n_params])
        kinks_mp = BatchedFunction(system, list(system.kinks),
                                   system.variables[: system.n_params], int(bits))
    return ImplicitFunctions(system, int(bits), rhs, init, post, time.perf_counter() - t0, kinks,
                             kinks_mp, switched is not None, **sliding)


def _sliding_parts(system: MirrorFlowSystem, switched: list[Any], inputs: list[Any],
                   bits: int) -> dict[str, Any]:
    """The fields of :class:`ImplicitFunctions` for Filippov sliding on the ReLU kinks (the
    potential's never slide): the sliding right-hand side (switched ``F``, the slope
    derivatives of every ReLU kink, the gradients of the kinks that are not linear in the
    parameters, then the metric weights if there are such kinks), where each part goes, and
    which kinks couple (:mod:`._radau_sliding`)."""
    base, P, nk = len(system.par_values), system.n_params, len(system.kinks)
    relu = [k < nk - system.n_potential_kinks for k in range(nk)]
    params = system.variables[:P]
    linear = linear_kinks(system.kinks, params)
    table = switch_table(system.kinks, base)
    slopes, rows = slope_derivatives(switched, relu, base)
    varying = [r and not lin for r, lin in zip(relu, linear, strict=True)]
    grads, grad_rows = kink_gradients(system.kinks, params, varying, table,
                                      len(switched) + len(slopes))
    weights = metric_weights(system) if grads else []
    first = len(switched) + len(slopes) + len(grads)
    outputs = [*switched, *slopes, *grads, *weights]
    return {"linear_kinks": linear, "slope_rows": rows, "gradient_rows": grad_rows,
            "weight_rows": tuple(range(first, first + len(weights))),
            "coupled_kinks": coupled_kinks(system.kinks, table, base),
            "sliding_rhs": (BatchedFunction(system, outputs, inputs, bits)
                            if len(outputs) > len(switched) else None)}


class BatchedFunction:
    """``f(x, out=None)``: as :func:`numerics.solvers.precise.compile_functions` (MPFR ``real``),
    batched inputs only, optionally writing into a preallocated ``out``.

    The runtime parameters are repeated once per batch size and kept, so repeated calls
    allocate no MPFR arrays; parameters past the system's own (the switches of
    :func:`~._radau_switched.switched_equations`) start at 0 and are set by
    :meth:`set_switches`.
    """

    def __init__(
        self, system: MirrorFlowSystem, outputs: Sequence[Any], inputs: Sequence[Any], bits: int
    ) -> None:
        self._cf = hy.cfunc(list(outputs), list(inputs), fp_type=hy.real, prec=bits,
                            compact_mode=True)
        self.n_outputs = len(outputs)
        self._npar = n_pars(outputs)
        self._base = min(self._npar, len(system.par_values))
        own = par_array(system, self._base, 1.0, "real", bits)
        zero = converter("real", bits)(0.0)
        self._pars = np.array([*own, *[zero] * (self._npar - self._base)], dtype=hy.real)
        self._batched: dict[int, np.ndarray] = {}

    @property
    def switch_base(self) -> int:
        """Index of the first parameter after the system's own (switch 0)."""
        return self._base

    def set_switches(self, values: Sequence[Any]) -> None:
        """Write ``values`` into the parameters after the system's own (in every batch; values
        of switches the outputs do not use are dropped)."""
        base, n = self._base, self._npar - self._base
        for k, v in enumerate(list(values)[:n]):
            self._pars[base + k] = v
            for arr in self._batched.values():
                arr[base + k, :] = v

    def _pars_for(self, batch: int) -> np.ndarray:
        if batch not in self._batched:
            self._batched[batch] = np.repeat(self._pars[:, None], batch, axis=1)  # read-only
        return self._batched[batch]

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        kw: dict[str, Any] = {} if out is None else {"outputs": out}
        if self._npar:
            kw["pars"] = self._pars_for(x.shape[1])
        return self._cf(x, **kw)
