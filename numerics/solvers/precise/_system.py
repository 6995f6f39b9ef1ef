"""The time-changed mirror-flow ODE as heyoka expressions.

Mirror flow ``d/dt grad phi(theta) = -grad L(theta)`` for a separable potential
``phi(theta) = sum_k f_k(theta_k)`` (THEORY.md §1), rewritten with the time change ``ds = L dt``
(THEORY.md §7)::

    dz/ds        = -grad log L = sum_i w_i grad q_i,     w_i = -l'(q_i) / L
    dtheta/ds    = (-grad log L) / f''(theta)             (primal form, no Hessian inversion)
    d(log t)/ds  = exp(-log t - log L)

with ``z = f'(theta)`` the dual variable and ``q_i = y_i Phi(theta; x_i)`` the margins.
``log L`` is a log-sum-exp, so a loss of ``exp(-1e6)`` is an ordinary number, and the weights
``w_i = exp(log(-l'(q_i)) - log L)`` never overflow.  With the logarithmic clock ``u = log s``
every right-hand side is multiplied by ``s = exp(u)``.

This module only builds expressions (the flow's pieces in ``_system_flow``, sympy conversion and
the stable loss in ``_system_exprs``); :mod:`numerics.solvers.precise._taylor` compiles and
integrates them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import heyoka as hy
import numpy as np
import sympy as sp

from ._system_crossing import CrossingSystem, D, V, branch_power, crossing_rate
from ._system_exprs import NONSMOOTH, ParTable, force_jumps, sympy_to_heyoka
from ._system_flow import flow_pieces, make_vars, time_changed_rhs

__all__ = [
    "MarginFn",
    "MirrorFlowSystem",
    "ScalarPotential",
    "build_mirror_flow_system",
    "sympy_to_heyoka",
]

StateKind = Literal["dual", "primal"]
ClockKind = Literal["s", "log_s"]
LossKind = Literal["exp", "logistic"]

#: ``margin_fn(theta) -> (q, G)`` or ``(q, G, kinks)``; ``theta`` is an object array of heyoka
#: expressions (length P), ``q`` has shape (n,), ``G = dq/dtheta`` shape (n, P); ``kinks`` is
#: an optional sequence of expressions whose sign changes mark non-smooth points (ReLU
#: pre-activations).  ``G`` may instead be a callable ``vjp(w) -> force`` that returns the P
#: expressions ``sum_i w_i dq_i/dtheta_k`` for a list of n weight expressions ``w``: a
#: hand-written vector-Jacobian product that reuses the forward pass (for a two-layer net
#: ``sum_i w_i y_i relu(w_j.x_i) x_i`` needs n*m products where ``G^T w`` needs n*P).
#: Numeric constants inside these expressions are taken at their binary (float) value at every
#: precision, so data should be floats; note that heyoka folds a product of two numeric constants
#: in double precision (``0.1 * (0.3 * x)`` becomes ``0.03 * x`` rounded), so precompute such
#: products in Python only when they are exact (powers of 2, signs).
MarginFn = Callable[[np.ndarray], tuple[Any, ...]]


@dataclass(frozen=True)
class ScalarPotential:
    """A scalar potential ``f`` given by its mirror-map data as sympy expressions in ``x``.

    Parameters
    ----------
    x : sympy.Symbol
        The real symbol the expressions are written in.
    fprime : sympy.Expr
        ``f'(x)``, the mirror map.
    fsecond : sympy.Expr
        ``f''(x) > 0``.
    inverse : sympy.Expr or None
        ``(f')^{-1}`` written as an expression in ``x`` (that is, ``(f')^{-1}(x)``); needed for
        ``state="dual"`` only.
    name : str
        A label for tables.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> b = sp.Rational(1, 10)
    >>> fp, fpp, inv = sp.asinh(x / b), 1 / sp.sqrt(x**2 + b**2), b * sp.sinh(x)
    >>> hyp = ScalarPotential(x, fp, fpp, inv, "hypent")
    >>> hyp.name
    'hypent'
    """

    x: sp.Symbol
    fprime: sp.Expr
    fsecond: sp.Expr
    inverse: sp.Expr | None = None
    name: str = "f"

    def __post_init__(self) -> None:
        if not isinstance(self.x, sp.Symbol):
            raise ValueError(f"x must be a sympy Symbol, got {self.x!r}")
        for label in ("fprime", "fsecond", "inverse"):
            expr = getattr(self, label)
            if expr is None:
                continue
            extra = sp.sympify(expr).free_symbols - {self.x}
            if extra:
                raise ValueError(
                    f"{label} may only depend on {self.x}, found free symbols "
                    f"{sorted(map(str, extra))}; substitute numeric values for the potential's "
                    "parameters first"
                )


@dataclass(frozen=True)
class MirrorFlowSystem:
    """The time-changed mirror-flow ODE, ready for ``heyoka.taylor_adaptive``.

    Attributes
    ----------
    equations : list of (variable, rhs)
        Right-hand sides in the chosen clock; the state is ``params + [log t / Lambda]``.
    variables : tuple
        State variables: P parameters (``z`` if dual, ``theta`` if primal), then ``log t / Lambda``.
    quadrature_equations : list of (variable, rhs)
        The same flow without ``log t`` (which never feeds back): ``params + [-log L / Lambda]``.
        ``log t = log int exp(-log L) ds`` is then computed by quadrature (see
        :func:`numerics.solvers.precise.integrate_taylor`, ``logt_mode="quadrature"``); this removes
        the stiff mode of the ``log t`` equation (relaxation rate ``d log t/ds``).
    par_values : tuple
        Values of the runtime parameters ``hy.par[j]``: ``par[0]`` is the scale ``Lambda`` of the
        large scalar states (``None`` here, set by the integrator, e.g. to the ``log t`` target, so
        that heyoka's error control, which is relative to the largest state component, is not
        loosened for the parameters); the others are exact non-dyadic constants of the potential.
    theta, z : tuple of expressions
        ``theta_k`` and ``z_k = f'(theta_k)`` as expressions of the state variables.
    log_loss : expression
        ``log L`` as an expression of the state variables.
    dlog_loss : expression
        ``d log L / ds = -sum_k (d_k log L)**2 / f''(theta_k)`` as an expression of the state.
    margins : tuple of expressions
        ``q_i`` as expressions of the state variables.
    kinks : tuple of expressions
        Expressions of the state whose sign changes are non-smooth points of the right-hand side:
        the model's (ReLU pre-activations) first, then the last ``n_potential_kinks`` ones, from
        ``|u|``, ``sign``, ``max``/``min`` in the potential (e.g. ``z_k = 0`` for ``|x|^3/3``,
        where the inverse mirror map has a square-root branch point).
    n_potential_kinks, kink_coordinates, mask_pars : int, tuple, dict
        How many kinks come from the potential, the coordinate of each, and the index of the
        freeze mask parameter of every coordinate whose potential has non-smooth nodes.
    lipschitz_kink_coordinates : frozenset
        The coordinates among those whose ``f''`` has finite positive limits at 0
        (:func:`curvature_is_finite_at_zero`): no branch point there.
    force : tuple of expressions
        ``-grad log L`` as expressions of the state (for the kink bridge and freeze test).
    crossing : callable or None
        Builds the :class:`~numerics.solvers.precise._system_crossing.CrossingSystem` (the flow
        in ``w = theta_k``) on first call; ``None`` unless the state is dual and some
        coordinate has a branch point with a polynomial one-sided ``f''``.
    jumps : bool or None
        Whether the force jumps across the model's kinks, when the model says so
        (:attr:`numerics.problem.Activation.derivative_jumps`); ``None``: read from the
        equations (:attr:`force_jumps`).
    theta_in : tuple
        Input variables ``th0..`` of ``init_exprs``.
    init_exprs : tuple of expressions in ``theta_in``
        ``[p(0) (P), dp/ds(0) (P), log L(theta0), d log L/ds(0)]``: the start-up data at ``s = 0``.
    n_params, state, clock, loss : as built.
    """

    equations: list[tuple[Any, Any]]
    quadrature_equations: list[tuple[Any, Any]]
    variables: tuple[Any, ...]
    par_values: tuple[sp.Expr | None, ...]
    theta: tuple[Any, ...]
    z: tuple[Any, ...]
    log_loss: Any
    dlog_loss: Any
    margins: tuple[Any, ...]
    kinks: tuple[Any, ...]
    theta_in: tuple[Any, ...]
    init_exprs: tuple[Any, ...]
    n_params: int
    state: StateKind
    clock: ClockKind
    loss: LossKind
    potential_names: tuple[str, ...] = field(default=())
    n_potential_kinks: int = 0
    kink_coordinates: tuple[int, ...] = ()
    lipschitz_kink_coordinates: frozenset[int] = frozenset()
    mask_pars: dict[int, int] = field(default_factory=dict)
    force: tuple[Any, ...] = ()
    crossing: Callable[[], CrossingSystem] | None = field(default=None, compare=False)
    crossing_coordinates: frozenset[int] = frozenset()
    jumps: bool | None = None

    @property
    def force_jumps(self) -> bool:
        """Whether the force jumps across a ReLU kink (ReLU, leaky ReLU; not square ReLU):
        :attr:`jumps` if the model said so, else :func:`~._system_exprs.force_jumps` of the
        equations and the model's kinks (a ``subs`` with expression keys: 124 s on a 3/3/3
        ReLU MLP, whose kinks are deep expressions)."""
        if self.jumps is not None:
            return self.jumps
        model_kinks = self.kinks[: len(self.kinks) - self.n_potential_kinks]
        return force_jumps([r for _, r in self.equations], model_kinks)

    @property
    def logt_index(self) -> int:
        """Index of ``log t / Lambda`` (or ``-log L / Lambda``) in the state vector."""
        return self.n_params


def _as_potentials(potential: ScalarPotential | Sequence[ScalarPotential], n: int) -> list:
    if isinstance(potential, ScalarPotential):
        return [potential] * n
    pots = list(potential)
    if len(pots) != n:
        raise ValueError(
            f"got {len(pots)} potentials for n_params={n}; pass one or exactly n_params"
        )
    return pots


def _check_options(state: str, clock: str, loss: str, gradient: str) -> None:
    if state not in ("dual", "primal"):
        raise ValueError(f"state must be 'dual' or 'primal', got {state!r}")
    if clock not in ("s", "log_s"):
        raise ValueError(f"clock must be 's' or 'log_s', got {clock!r}")
    if loss not in ("exp", "logistic"):
        raise ValueError(f"loss must be 'exp' or 'logistic', got {loss!r}")
    if gradient not in ("given", "reverse"):
        raise ValueError(f"gradient must be 'given' or 'reverse', got {gradient!r}")


def _checked_potentials(
    n_params: int, potential: ScalarPotential | Sequence[ScalarPotential], state: StateKind
) -> list[ScalarPotential]:
    P = int(n_params)
    if P < 1:
        raise ValueError(f"n_params must be positive, got {n_params}")
    pots = _as_potentials(potential, P)
    if state == "dual" and any(p.inverse is None for p in pots):
        raise ValueError(
            "state='dual' needs the inverse mirror map (f')^{-1}; give ScalarPotential(inverse=...)"
            " or use state='primal'"
        )
    return pots


class _Potentials:
    """The scalar potentials as heyoka expressions, their constants collected in ``pars``.

    A coordinate whose potential has ``|u|``, ``sign``, ``max``/``min`` nodes gets a freeze
    mask: a runtime parameter, 1 while the coordinate moves, set to 0 by the Taylor driver when
    ``theta_k`` reaches 0 where its force vanishes (an absorbing zero, THEORY.md §7).  The
    switching functions of those nodes, evaluated on the state, are collected in ``kinks`` with
    their coordinates; a frozen coordinate's switching functions read 1 (never fire).
    """

    def __init__(self, pots: list[ScalarPotential], pars: ParTable) -> None:
        self.pots, self.pars = pots, pars
        self.kinks: list[Any] = []
        self.kink_coordinates: list[int] = []
        self.masks: dict[int, tuple[Any, int]] = {
            k: pars.fresh(sp.Integer(1)) for k, p in enumerate(pots) if _has_nonsmooth(p)}

    def apply(self, which: str, args: Sequence[Any], *, on_state: bool = True) -> list[Any]:
        """``fprime``, ``fsecond``, ``fsecond_reciprocal`` (``1 / f''``, exact in sympy) or
        ``inverse`` of every coordinate at ``args``."""
        out = []
        for k, (p, a) in enumerate(zip(self.pots, args, strict=True)):
            kinks: list[Any] | None = [] if on_state else None
            expr = 1 / p.fsecond if which == "fsecond_reciprocal" else getattr(p, which)
            out.append(sympy_to_heyoka(expr, {p.x: a}, self.pars, kinks))
            for kink in kinks or []:
                self.kinks.append(self.masked(k, kink, 1.0))
                self.kink_coordinates.append(k)
        return out

    def masked(self, k: int, expr: Any, frozen: float) -> Any:
        """``expr`` while coordinate ``k`` moves, the constant ``frozen`` once it is frozen."""
        if k not in self.masks:
            return expr
        return hy.select(hy.gt(self.masks[k][0], hy.expression(0.5)), expr,
                         hy.expression(frozen))

    def theta_and_z(self, pvars: list[Any], state: StateKind) -> tuple[list[Any], list[Any]]:
        """``theta`` and ``z = f'(theta)`` as expressions of the state variables."""
        if state == "dual":
            inv = self.apply("inverse", pvars)
            return [self.masked(k, t, 0.0) for k, t in enumerate(inv)], list(pvars)
        return list(pvars), self.apply("fprime", pvars)


def curvature_is_finite_at_zero(pot: ScalarPotential) -> bool:
    """True if ``f''(x)`` has finite positive limits as ``x -> 0±`` (a kink of ``f''`` only,
    e.g. ``x**2 + |x|^3``): the flow is Lipschitz where the coordinate crosses 0, and a Taylor
    step from the kink crosses it; ``f''(0) = 0`` or ``inf`` is a branch point (bridged).

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> cubic = ScalarPotential(x, x + x * sp.Abs(x), 1 + 2 * sp.Abs(x), None, "x²/2+|x|³/3")
    >>> l3 = ScalarPotential(x, x * sp.Abs(x), 2 * sp.Abs(x), None, "|x|³/3")
    >>> curvature_is_finite_at_zero(cubic), curvature_is_finite_at_zero(l3)
    (True, False)
    """
    limits = {sp.limit(pot.fsecond, pot.x, 0, d) for d in ("+", "-")}
    return all(v.is_finite and v.is_positive for v in limits)


def _has_nonsmooth(pot: ScalarPotential) -> bool:
    exprs = [e for e in (pot.fprime, pot.fsecond, pot.inverse) if e is not None]
    return any(sp.sympify(e).has(*NONSMOOTH) for e in exprs)


def _startup_exprs(margin_fn: MarginFn, fns: _Potentials, th_in: list[Any], state: StateKind,
                   loss: LossKind, gradient: Literal["given", "reverse"]) -> list[Any]:
    """``[p(0) (P), dp/ds(0) (P), log L(theta0), d log L/ds(0)]`` in terms of ``theta0``: for
    ``p(s0) = p0 + s0 p'(0)`` and the start of ``log t``."""
    inv_fsec_in = fns.apply("fsecond_reciprocal", th_in, on_state=False)
    flow0 = flow_pieces(margin_fn, th_in, inv_fsec_in, loss=loss, gradient=gradient)
    if state == "dual":
        p0, dp0 = fns.apply("fprime", th_in, on_state=False), flow0.force
    else:
        p0, dp0 = list(th_in), flow0.dtheta
    return [*p0, *dp0, flow0.log_loss, flow0.dlog_loss]


def build_mirror_flow_system(
    margin_fn: MarginFn,
    n_params: int,
    potential: ScalarPotential | Sequence[ScalarPotential],
    *,
    state: StateKind = "dual",
    clock: ClockKind = "s",
    loss: LossKind = "exp",
    gradient: Literal["given", "reverse"] = "given",
    jumps: bool | None = None,
) -> MirrorFlowSystem:
    """Build the time-changed mirror-flow ODE (THEORY.md §1, §7) as heyoka expressions.

    Parameters
    ----------
    margin_fn : callable
        ``margin_fn(theta) -> (q, G[, kinks])`` on an object array of heyoka expressions, see
        :data:`MarginFn`.
    n_params : int
        Number of parameters P.
    potential : ScalarPotential or sequence of P of them
        One scalar potential for every coordinate, or one per coordinate.
    state : {"dual", "primal"}
        Integrate ``z = f'(theta)`` (needs ``potential.inverse``) or ``theta`` itself with
        ``dtheta/ds = -grad log L / f''(theta)``.
    clock : {"s", "log_s"}
        Independent variable ``s`` (``ds = L dt``) or ``u = log s`` (right-hand sides times ``s``).
    loss : {"exp", "logistic"}
        ``l(q) = exp(-q)`` or ``log(1 + exp(-q))``.
    gradient : {"given", "reverse"}
        ``"given"``: the force ``sum_i w_i G_i`` from the ``G`` of ``margin_fn`` (or its
        ``vjp(w)`` if ``G`` is callable, the cheapest form, see :data:`MarginFn`); ``"reverse"``:
        heyoka's reverse-mode derivative of ``sum_i c_i q_i`` with ``c_i -> w_i`` substituted after
        differentiation (a vector-Jacobian product: for networks it is several times smaller than
        ``G^T w`` and the Taylor step is correspondingly cheaper; ``G`` may then be ``None``).
    jumps : bool, optional
        Whether the force jumps across the kinks, if the caller knows (from the model's
        activation); else :attr:`MirrorFlowSystem.force_jumps` reads it from the equations.

    Returns
    -------
    MirrorFlowSystem

    Examples
    --------
    Gradient flow of a linear model on one point ``x = (1, 2)``, ``y = 1``:

    >>> import numpy as np, sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 2.0]])
    >>> margins = lambda th: (X @ th, X.astype(object))
    >>> sysm = build_mirror_flow_system(margins, 2, gd)
    >>> [str(v) for v in sysm.variables]
    ['p0', 'p1', 'logt']
    >>> [str(v) for v, _ in sysm.quadrature_equations]
    ['p0', 'p1', 'nll']
    """
    _check_options(state, clock, loss, gradient)
    pots = _checked_potentials(n_params, potential, state)
    P = len(pots)
    fns = _Potentials(pots, ParTable())
    pvars, th_in = make_vars("p", P), make_vars("th", P)
    theta, z = fns.theta_and_z(pvars, state)
    inv_fsec = [fns.masked(k, f, 1.0)
                for k, f in enumerate(fns.apply("fsecond_reciprocal", theta))]
    flow = flow_pieces(margin_fn, theta, inv_fsec, loss=loss, gradient=gradient)
    dparam = [fns.masked(k, d, 0.0)
              for k, d in enumerate(flow.force if state == "dual" else flow.dtheta)]
    equations, quadrature_equations, logt = time_changed_rhs(pvars, dparam, flow, clock)
    init = _startup_exprs(margin_fn, fns, th_in, state, loss, gradient)
    crossing = _crossing_coordinates(fns, state)
    return MirrorFlowSystem(
        equations=equations,
        quadrature_equations=quadrature_equations,
        variables=(*pvars, logt),
        par_values=tuple(fns.pars.values),
        theta=tuple(theta),
        z=tuple(z),
        log_loss=flow.log_loss,
        dlog_loss=flow.dlog_loss,
        margins=tuple(flow.margins),
        kinks=(*flow.kinks, *fns.kinks),
        theta_in=tuple(th_in),
        init_exprs=tuple(init),
        n_params=P,
        state=state,
        clock=clock,
        loss=loss,
        potential_names=tuple(p.name for p in pots),
        n_potential_kinks=len(fns.kinks),
        kink_coordinates=tuple(fns.kink_coordinates),
        lipschitz_kink_coordinates=frozenset(
            k for k in set(fns.kink_coordinates) if curvature_is_finite_at_zero(pots[k])),
        mask_pars={k: idx for k, (_, idx) in fns.masks.items()},
        force=tuple(flow.force),
        crossing=_crossing_builder(margin_fn, fns, crossing, clock, (loss, gradient), theta),
        crossing_coordinates=crossing,
        jumps=jumps,
    )


def _crossing_builder(margin_fn: MarginFn, fns: _Potentials, coords: frozenset[int],
                      clock: ClockKind, flow_kw: tuple[LossKind, Literal["given", "reverse"]],
                      theta: list[Any]) -> Callable[[], CrossingSystem] | None:
    """A thunk building the flow in ``w = theta_k`` (:mod:`._system_crossing`) for the
    coordinates ``coords`` (:func:`_crossing_coordinates`), or ``None`` without any."""
    if not coords:
        return None
    built: list[CrossingSystem] = []

    def build() -> CrossingSystem:
        if not built:
            built.append(_crossing_system(margin_fn, fns, clock, flow_kw, coords, theta))
        return built[0]

    return build


def _crossing_coordinates(fns: _Potentials, state: StateKind) -> frozenset[int]:
    """The coordinates crossed in ``w``: dual state, ``f''(0) = 0`` and a crossing rate that
    is a polynomial in ``|theta_k|^(1/b)``
    (:func:`~numerics.solvers.precise._system_crossing.branch_power`)."""
    if state != "dual":
        return frozenset()
    return frozenset(k for k in set(fns.kink_coordinates)
                     if branch_power(fns.pots[k].fsecond, fns.pots[k].x) is not None)


def _crossing_system(margin_fn: MarginFn, fns0: _Potentials, clock: ClockKind,
                     flow_kw: tuple[LossKind, Literal["given", "reverse"]],
                     coords: frozenset[int], system_theta: list[Any]) -> CrossingSystem:
    """The dual flow with ``theta_k`` (one-hot ``k``) as independent variable [derived].

    Built on a copy of the parameter table: the system's parameters (masks, constants, the
    log t scale) keep their indices, the new ones follow.
    """
    fns = copy.copy(fns0)
    fns.pars, fns.kinks, fns.kink_coordinates = copy.deepcopy(fns0.pars), [], []
    P, pars, one = len(fns.pots), fns.pars, hy.expression(1.0)
    fresh = [pars.fresh(sp.Integer(v)) for v in (0,) * P + (1, 1, 0, 0, 0)]
    e = [f[0] for f in fresh[:P]]
    side, shift, level, exit_ = (f[0] for f in fresh[P:P + 4])
    pvars = make_vars("p", P)
    inv = fns.apply("inverse", [(one - e[j]) * pvars[j] + e[j] for j in range(P)],
                    on_state=False)
    powers = {k: branch_power(fns.pots[k].fsecond, fns.pots[k].x) or 1 for k in coords}
    along = [_theta_of_w(powers.get(j, 1), side) for j in range(P)]
    theta = [e[j] * along[j] + (one - e[j]) * fns.masked(j, inv[j], 0.0) for j in range(P)]
    recip = fns.apply("fsecond_reciprocal", [e[j] + (one - e[j]) * theta[j] for j in range(P)],
                      on_state=False)
    inv_f2 = [(one - e[j]) * fns.masked(j, r, 1.0) for j, r in enumerate(recip)]
    flow = flow_pieces(margin_fn, theta, inv_f2, loss=flow_kw[0], gradient=flow_kw[1])
    force_k = hy.sum([e[j] * flow.force[j] for j in range(P)])
    f2 = _crossing_rate(fns, powers, e, side)
    rate = f2 / force_k                                            # ds/dw
    scale = hy.par[0]
    logt, dclock = hy.make_vars("logt", "dclock")
    dclk = rate if clock == "s" else shift * hy.exp(-dclock) * rate   # du/dw = ds/dw / s
    equations = [(pvars[j], fns.masked(j, flow.force[j], 0.0) * rate) for j in range(P)]
    equations += [(logt, hy.exp(-scale * logt - flow.log_loss) / scale * rate), (dclock, dclk)]
    idx = [f[1] for f in fresh]
    # The kinks as the system's (the model's, then the potential's), each with its switch; a
    # potential kink of coordinate j is a zero of z_j (never of the one-hot k's masked z~_k).
    kinks = [*flow.kinks, *(fns.masked(j, (one - e[j]) * pvars[j] + e[j], 1.0)
                            for j in fns0.kink_coordinates)]
    switches = [pars.fresh(sp.Integer(0)) for _ in kinks]
    events = (force_k, logt - level, dclock - exit_,
              *(kink + sw for kink, (sw, _) in zip(kinks, switches, strict=True)))
    return CrossingSystem(
        equations=equations, events=events,
        par_values=tuple(pars.values), onehot=idx[0], side=idx[P], clock_shift=idx[P + 1],
        level=idx[P + 2], exit=idx[P + 3], coordinates=coords,
        switch=switches[0][1] if switches else len(pars.values), clock0=idx[P + 4],
        theta_map=dict(zip(system_theta, theta, strict=True)), f2=f2, powers=powers)


def _theta_of_w(b: int, side: Any) -> Any:
    """``theta_k = d (d w)^b`` (``d`` the side, ``|w| = |theta_k|^(1/b)``), by products:
    heyoka's ``pow(w, n)`` recursion divides by ``w``, NaN at ``w = 0``."""
    if b == 1:
        return hy.time
    v = side * hy.time
    out = v
    for _ in range(b - 1):
        out = out * v
    return side * out


def _crossing_rate(fns: _Potentials, powers: dict[int, int], e: list[Any], side: Any) -> Any:
    """``sum_k e_k f_k''(theta_k(w)) dtheta_k/dw`` on the side ``sign(w) = side`` (the
    polynomials of :func:`~numerics.solvers.precise._system_crossing.crossing_rate` in
    ``v = side w``), one term per distinct potential."""
    groups: dict[tuple[str, str], list[int]] = {}
    for k in sorted(powers):
        groups.setdefault((str(fns.pots[k].x), str(fns.pots[k].fsecond)), []).append(k)
    terms = []
    for ks in groups.values():
        pot = fns.pots[ks[0]]
        poly = crossing_rate(pot.fsecond, pot.x, powers[ks[0]])
        assert poly is not None and poly.gens == (V,)
        # Horner in v with products only (pow(w, n) is NaN at w = 0, where a crossing starts
        # its second half)
        rate, v = hy.expression(0.0), side * hy.time
        for c in poly.all_coeffs():
            rate = rate * v + sympy_to_heyoka(sp.expand(c), {D: side}, fns.pars)
        terms.append(hy.sum([e[k] for k in ks]) * rate)
    return hy.sum(terms)
