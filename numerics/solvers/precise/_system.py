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

This module only builds expressions; :mod:`numerics.solvers.precise._taylor` compiles and
integrates them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import heyoka as hy
import numpy as np
import sympy as sp

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

# Above this margin, log(log1p(exp(-q))) = -q - exp(-q)/2 + O(exp(-2q)) with a relative error below
# exp(-1400) ~ 2**-2000, while exp(-q) still does not underflow in float64 below it.
_LOGISTIC_SWITCH = 700.0


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
        Expressions of the state whose sign changes are non-smooth points of the right-hand side.
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

    @property
    def logt_index(self) -> int:
        """Index of ``log t / Lambda`` (or ``-log L / Lambda``) in the state vector."""
        return self.n_params


class _ParTable:
    """Collects non-dyadic constants as heyoka runtime parameters (exact at any precision)."""

    def __init__(self) -> None:
        # Index 0 is reserved for the log-time scale Lambda (set by the integrator).
        self.values: list[sp.Expr | None] = [None]
        self._index: dict[sp.Expr, int] = {}

    def par(self, value: sp.Expr) -> Any:
        # A sympy Float stands for its printed decimal (0.1 -> 1/10), never a guessed closed form.
        value = sp.nsimplify(value, rational=True) if isinstance(value, sp.Float) else value
        if value not in self._index:
            self._index[value] = len(self.values)
            self.values.append(value)
        return hy.par[self._index[value]]


def _is_dyadic(num: sp.Number) -> bool:
    if isinstance(num, sp.Integer):
        return True
    if isinstance(num, sp.Rational):
        q = int(num.q)
        return q & (q - 1) == 0
    return False


def sympy_to_heyoka(
    expr: sp.Expr, subs: dict[sp.Symbol, Any], pars: _ParTable | None = None
) -> Any:
    """Convert a sympy expression with ``heyoka.from_sympy``, keeping every constant exact.

    ``heyoka.from_sympy`` rejects rationals such as ``1/10`` and would round ``pi`` or a float to
    double precision.  Such constants become runtime parameters ``hy.par[j]`` whose exact values are
    collected in ``pars`` and set at the working precision when the integrator is compiled.

    Parameters
    ----------
    expr : sympy.Expr
    subs : dict
        Maps the free sympy symbols to heyoka expressions.
    pars : _ParTable or None
        Where constants are collected; with ``None`` a non-dyadic constant raises ``ValueError``.

    Examples
    --------
    >>> import sympy as sp, heyoka as hy
    >>> x = sp.Symbol("x")
    >>> print(sympy_to_heyoka(2 * x + x**2 / 4, {x: hy.make_vars("a")}))
    ((2.0000000000000000 * a) + (0.25000000000000000 * a**2.0000000000000000))
    """
    expr = sp.sympify(expr)
    replace: dict[sp.Expr, sp.Symbol] = {}
    s_dict = dict(subs)
    atoms = [a for a in expr.atoms(sp.Number, sp.NumberSymbol) if not _is_dyadic(a)]
    # Negative non-dyadic numbers appear as atoms too; map each to its own parameter.
    for k, atom in enumerate(sorted(atoms, key=sp.default_sort_key)):
        if pars is None:
            raise ValueError(
                f"constant {atom} cannot be represented exactly; pass a parameter table (pars=...)"
            )
        sym = sp.Dummy(f"c{k}")
        replace[atom] = sym
        s_dict[sym] = pars.par(atom)
    if replace:
        expr = expr.xreplace(replace)
    return hy.from_sympy(expr, s_dict)


def _tree_max(items: Sequence[Any]) -> Any:
    """max of expressions as a balanced tree of ``a + relu(b - a)``.

    Only used as the shift of a log-sum-exp, which does not depend on the shift mathematically,
    so its kinks never reach the Taylor coefficients of the result.
    """
    items = list(items)
    while len(items) > 1:
        nxt = [a + hy.relu(b - a) for a, b in zip(items[0::2], items[1::2], strict=False)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _logsumexp(terms: Sequence[Any]) -> Any:
    if len(terms) == 1:
        return terms[0]
    m = _tree_max(terms)
    return m + hy.log(hy.sum([hy.exp(t - m) for t in terms]))


def _abs(x: Any) -> Any:
    return hy.relu(x) + hy.relu(-x)


def _log_loss_terms(q: Sequence[Any], loss: LossKind) -> tuple[list[Any], list[Any]]:
    """Per-sample ``log l(q_i)`` and ``log(-l'(q_i))``, stable for margins of any size."""
    if loss == "exp":
        return [-qi for qi in q], [-qi for qi in q]
    log_l, log_dl = [], []
    for qi in q:
        # log softplus(-q): direct where exp(-q) cannot underflow, asymptotic series above.
        direct = hy.log(hy.relu(-qi) + hy.log1p(hy.exp(-_abs(qi))))
        series = -qi - hy.exp(-qi) / 2.0
        log_l.append(hy.select(hy.gt(qi, hy.expression(_LOGISTIC_SWITCH)), series, direct))
        # log sigmoid(-q) = -softplus(q)
        log_dl.append(-(hy.relu(qi) + hy.log1p(hy.exp(-_abs(qi)))))
    return log_l, log_dl


def _as_potentials(potential: ScalarPotential | Sequence[ScalarPotential], n: int) -> list:
    if isinstance(potential, ScalarPotential):
        return [potential] * n
    pots = list(potential)
    if len(pots) != n:
        raise ValueError(
            f"got {len(pots)} potentials for n_params={n}; pass one or exactly n_params"
        )
    return pots


def _unpack_margin(
    out: tuple[Any, ...], P: int, need_g: bool
) -> tuple[list[Any], Any, list[Any]]:
    if len(out) not in (2, 3):
        raise ValueError("margin_fn must return (q, G) or (q, G, kinks)")
    q = list(np.asarray(out[0], dtype=object).ravel())
    if not need_g:
        return q, None, list(out[2]) if len(out) == 3 else []
    if out[1] is None:
        raise ValueError("margin_fn returned G=None; pass gradient='reverse' to differentiate q")
    kinks = list(out[2]) if len(out) == 3 else []
    if callable(out[1]):
        return q, out[1], kinks
    G = np.asarray(out[1], dtype=object)
    if G.shape != (len(q), P):
        raise ValueError(f"margin_fn returned G of shape {G.shape}, expected {(len(q), P)}")
    return q, G, kinks


def build_mirror_flow_system(
    margin_fn: MarginFn,
    n_params: int,
    potential: ScalarPotential | Sequence[ScalarPotential],
    *,
    state: StateKind = "dual",
    clock: ClockKind = "s",
    loss: LossKind = "exp",
    gradient: Literal["given", "reverse"] = "given",
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
    if state not in ("dual", "primal"):
        raise ValueError(f"state must be 'dual' or 'primal', got {state!r}")
    if clock not in ("s", "log_s"):
        raise ValueError(f"clock must be 's' or 'log_s', got {clock!r}")
    if loss not in ("exp", "logistic"):
        raise ValueError(f"loss must be 'exp' or 'logistic', got {loss!r}")
    if gradient not in ("given", "reverse"):
        raise ValueError(f"gradient must be 'given' or 'reverse', got {gradient!r}")
    P = int(n_params)
    if P < 1:
        raise ValueError(f"n_params must be positive, got {n_params}")
    pots = _as_potentials(potential, P)
    if state == "dual" and any(p.inverse is None for p in pots):
        raise ValueError(
            "state='dual' needs the inverse mirror map (f')^{-1}; give ScalarPotential(inverse=...)"
            " or use state='primal'"
        )

    pars = _ParTable()
    pvars = list(hy.make_vars(*[f"p{k}" for k in range(P)])) if P > 1 else [hy.make_vars("p0")]
    th_in = list(hy.make_vars(*[f"th{k}" for k in range(P)])) if P > 1 else [hy.make_vars("th0")]

    def conv(expr: sp.Expr, pot: ScalarPotential, arg: Any) -> Any:
        return sympy_to_heyoka(expr, {pot.x: arg}, pars)

    if state == "dual":
        theta = [conv(p.inverse, p, v) for p, v in zip(pots, pvars, strict=True)]
        z = list(pvars)
    else:
        theta = list(pvars)
        z = [conv(p.fprime, p, v) for p, v in zip(pots, pvars, strict=True)]
    fsec = [conv(p.fsecond, p, th) for p, th in zip(pots, theta, strict=True)]

    def flow_pieces(th: list[Any], f2: list[Any]) -> tuple[Any, list[Any], list[Any], list[Any]]:
        if gradient == "reverse":
            # Differentiate with respect to fresh variables, then substitute theta(state).
            tv = (
                list(hy.make_vars(*[f"dq_arg{k}" for k in range(P)]))
                if P > 1
                else [hy.make_vars("dq_arg0")]
            )
            q_raw, _, kinks_raw = _unpack_margin(margin_fn(np.array(tv, dtype=object)), P, False)
            back = {f"dq_arg{k}": th[k] for k in range(P)}
            q = [hy.subs(qi, back) for qi in q_raw]
            kinks = [hy.subs(ki, back) for ki in kinks_raw]
        else:
            q, G, kinks = _unpack_margin(margin_fn(np.array(th, dtype=object)), P, True)
        log_l, log_dl = _log_loss_terms(q, loss)
        log_loss = _logsumexp(log_l)
        if len(q) == 1 and loss == "exp":
            w = [hy.expression(1.0)]
        else:
            w = [hy.exp(ld - log_loss) for ld in log_dl]
        if gradient == "reverse":
            cv = (
                list(hy.make_vars(*[f"dq_w{i}" for i in range(len(q))]))
                if len(q) > 1
                else [hy.make_vars("dq_w0")]
            )
            grad = hy.diff_tensors(
                [hy.sum([c * qi for c, qi in zip(cv, q_raw, strict=True)])], tv
            ).gradient
            back.update({f"dq_w{i}": w[i] for i in range(len(q))})
            force = [hy.subs(g, back) for g in grad]
        elif callable(G):
            force = list(G(list(w)))
            if len(force) != P:
                raise ValueError(
                    f"the vjp returned by margin_fn gave {len(force)} components, expected {P}"
                )
        else:
            zero = hy.expression(0.0)
            force = [hy.sum([w[i] * G[i, k] for i in range(len(q))]) or zero for k in range(P)]
        dtheta = [force[k] / f2[k] for k in range(P)]
        dll = -hy.sum([force[k] * dtheta[k] for k in range(P)])  # d log L / ds <= 0
        return log_loss, force, dtheta, [q, kinks, dll]

    log_loss, force, dtheta, (q, kinks, dll) = flow_pieces(theta, fsec)
    dparam = force if state == "dual" else dtheta
    scale = hy.par[0]
    logt = hy.make_vars("logt")
    nll = hy.make_vars("nll")
    # d(log t)/ds = exp(-log t - log L) with log t = Lambda * logt.
    if clock == "s":
        rhs = [*dparam, hy.exp(-scale * logt - log_loss) / scale]
        rhs_q = [*dparam, -dll / scale]
    else:
        s = hy.exp(hy.time)
        rhs = [s * r for r in dparam] + [hy.exp(hy.time - scale * logt - log_loss) / scale]
        rhs_q = [s * r for r in dparam] + [-s * dll / scale]
    equations = list(zip([*pvars, logt], rhs, strict=True))
    quadrature_equations = list(zip([*pvars, nll], rhs_q, strict=True))

    # Start-up data at s = 0 in terms of theta0 (for p(s0) = p0 + s0 p'(0) and the log t start).
    fsec_in = [conv(p.fsecond, p, v) for p, v in zip(pots, th_in, strict=True)]
    ll0, force0, dth0, (_, _, dll0) = flow_pieces(th_in, fsec_in)
    if state == "dual":
        p0 = [conv(p.fprime, p, v) for p, v in zip(pots, th_in, strict=True)]
        dp0 = force0
    else:
        p0, dp0 = list(th_in), dth0
    init = [*p0, *dp0, ll0, dll0]

    return MirrorFlowSystem(
        equations=equations,
        quadrature_equations=quadrature_equations,
        variables=(*pvars, logt),
        par_values=tuple(pars.values),
        theta=tuple(theta),
        z=tuple(z),
        log_loss=log_loss,
        dlog_loss=dll,
        margins=tuple(q),
        kinks=tuple(kinks),
        theta_in=tuple(th_in),
        init_exprs=tuple(init),
        n_params=P,
        state=state,
        clock=clock,
        loss=loss,
        potential_names=tuple(p.name for p in pots),
    )
