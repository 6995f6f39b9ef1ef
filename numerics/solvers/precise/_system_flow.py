"""The flow's pieces as heyoka expressions: margins, loss, force, time-changed right-hand sides.

From the margins ``q_i`` of ``margin_fn`` (and their Jacobian ``G``, a vector-Jacobian product,
or heyoka's reverse-mode derivative) to ``log L``, the force ``-grad log L = sum_i w_i grad q_i``,
``dtheta/ds`` and ``d log L/ds``, then the equations in the clock ``s`` or ``u = log s``.  Used
by :func:`numerics.solvers.precise.build_mirror_flow_system`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import heyoka as hy
import numpy as np

from ._system_exprs import log_loss_terms, logsumexp

__all__ = ["FlowPieces", "flow_pieces", "make_vars", "time_changed_rhs", "unpack_margin"]

LossKind = Literal["exp", "logistic"]
GradientKind = Literal["given", "reverse"]
ClockKind = Literal["s", "log_s"]


def make_vars(prefix: str, n: int) -> list[Any]:
    """``n`` heyoka variables ``prefix0, prefix1, ...`` (a list, also for ``n = 1``)."""
    if n > 1:
        return list(hy.make_vars(*[f"{prefix}{k}" for k in range(n)]))
    return [hy.make_vars(f"{prefix}0")]


def unpack_margin(
    out: tuple[Any, ...], P: int, need_g: bool
) -> tuple[list[Any], Any, list[Any]]:
    """``(q, G or vjp, kinks)`` from what ``margin_fn`` returned, checked."""
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


@dataclass(frozen=True)
class FlowPieces:
    """``log L``, the force ``-grad log L``, ``dtheta/ds``, the margins, kinks and ``d log L/ds``
    as expressions of the given ``theta``."""

    log_loss: Any
    force: list[Any]
    dtheta: list[Any]
    margins: list[Any]
    kinks: list[Any]
    dlog_loss: Any


@dataclass(frozen=True)
class _ReverseMargins:
    """Margins of fresh variables ``tv`` (to differentiate), and ``back``: ``tv -> theta``."""

    q_raw: list[Any]
    tv: list[Any]
    back: dict[str, Any]


def _margins_reverse(margin_fn: Callable[[np.ndarray], tuple[Any, ...]], th: list[Any],
                     P: int) -> tuple[list[Any], list[Any], _ReverseMargins]:
    """Margins for ``gradient="reverse"``: differentiate with respect to fresh variables, then
    substitute ``theta(state)``."""
    tv = make_vars("dq_arg", P)
    q_raw, _, kinks_raw = unpack_margin(margin_fn(np.array(tv, dtype=object)), P, False)
    back = {f"dq_arg{k}": th[k] for k in range(P)}
    # one subs call per list keeps the subexpressions the margins (and their gradient, below)
    # share shared: later substitutions of the ReLU switches work on the shared graph
    out = hy.subs([*q_raw, *kinks_raw], back)
    q, kinks = list(out[: len(q_raw)]), list(out[len(q_raw):])
    return q, kinks, _ReverseMargins(q_raw, tv, back)


def _force_reverse(rev: _ReverseMargins, w: list[Any]) -> list[Any]:
    """``sum_i w_i grad q_i`` by heyoka's reverse mode: the gradient of ``sum_i c_i q_i`` with
    ``c_i -> w_i`` substituted after differentiation (a vector-Jacobian product)."""
    n = len(rev.q_raw)
    cv = make_vars("dq_w", n)
    grad = hy.diff_tensors(
        [hy.sum([c * qi for c, qi in zip(cv, rev.q_raw, strict=True)])], rev.tv
    ).gradient
    back = {**rev.back, **{f"dq_w{i}": w[i] for i in range(n)}}
    return list(hy.subs(list(grad), back))


def _force_given(G: Any, w: list[Any], P: int) -> list[Any]:
    """``sum_i w_i G_i`` from ``G`` (an (n, P) array) or a vector-Jacobian product ``G(w)``."""
    if callable(G):
        force = list(G(list(w)))
        if len(force) != P:
            raise ValueError(
                f"the vjp returned by margin_fn gave {len(force)} components, expected {P}"
            )
        return force
    zero = hy.expression(0.0)
    return [hy.sum([w[i] * G[i, k] for i in range(len(w))]) or zero for k in range(P)]


def flow_pieces(margin_fn: Callable[[np.ndarray], tuple[Any, ...]], th: list[Any],
                inv_f2: list[Any], *, loss: LossKind, gradient: GradientKind) -> FlowPieces:
    """The flow at ``theta = th`` with ``1 / f''(theta) = inv_f2`` (expressions).

    The reciprocal comes from sympy (exact): heyoka folds ``x / c`` for a number ``c`` into
    ``x * (1/c)`` computed in double precision, so ``f'' = 3`` (``3 x^2 / 2``) divided in heyoka
    put a 1e-16 error into every primal run at any precision.
    """
    P = len(th)
    rev, G = None, None
    if gradient == "reverse":
        q, kinks, rev = _margins_reverse(margin_fn, th, P)
    else:
        q, G, kinks = unpack_margin(margin_fn(np.array(th, dtype=object)), P, True)
    log_l, log_dl = log_loss_terms(q, loss)
    log_loss = logsumexp(log_l)
    if len(q) == 1 and loss == "exp":
        w = [hy.expression(1.0)]
    else:
        w = [hy.exp(ld - log_loss) for ld in log_dl]
    force = _force_reverse(rev, w) if rev is not None else _force_given(G, w, P)
    dtheta = [force[k] * inv_f2[k] for k in range(P)]
    dll = -hy.sum([force[k] * dtheta[k] for k in range(P)])  # d log L / ds <= 0
    return FlowPieces(log_loss, force, dtheta, q, kinks, dll)


def time_changed_rhs(
    pvars: list[Any], dparam: list[Any], flow: FlowPieces, clock: ClockKind
) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]], Any]:
    """``(equations, quadrature_equations, logt)``: ``params + [log t / Lambda]`` and
    ``params + [-log L / Lambda]`` in the clock ``s`` or ``u = log s`` (``Lambda = par[0]``)."""
    scale = hy.par[0]
    logt = hy.make_vars("logt")
    nll = hy.make_vars("nll")
    log_loss, dll = flow.log_loss, flow.dlog_loss
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
    return equations, quadrature_equations, logt
