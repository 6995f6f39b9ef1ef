"""One integration plan per run: method, state, clock, log t mode, tolerance, precision.

Every choice that used to be made in several places (is the model a network? dual or primal
state? which clock? Taylor or Radau?) is made here, once, by :func:`plan_run`, before any
work; float64, Taylor, Radau and ``verify`` all read the same :class:`IntegrationPlan`.
Invalid combinations are refused here with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import sympy as sp

from theory import max_margin

from ..problem import Diagonal, Linear, Model, Problem, TwoLayer
from ._precision import Precision

__all__ = [
    "HEYOKA_LACKS",
    "LINF_TAYLOR_BELOW",
    "LONG_HORIZON",
    "POTENTIAL_KINK_FUNCTIONS",
    "IntegrationPlan",
    "auto_method",
    "check_separable",
    "choose_state",
    "curvature_limits_at_zero",
    "curvature_limits_by_layer",
    "has_linf_horizon",
    "has_potential_kinks",
    "infinite_curvature_at_zero",
    "is_network",
    "linf_stiffness_reason",
    "plan_run",
    "radau_cannot_cross_zero",
    "zero_curvature_at_zero",
]

Method = Literal["float64", "taylor", "radau"]
#: Extra MPFR bits of Radau runs on ReLU / leaky-ReLU nets (see :func:`_plan_radau`).
_JUMP_GUARD_BITS = 60
State = Literal["dual", "primal"]


def is_network(model: Model) -> bool:
    """True for the models with hidden units (two-layer nets, MLPs), False for linear and
    diagonal models.

    Examples
    --------
    >>> from numerics import Linear, TwoLayer
    >>> is_network(Linear()), is_network(TwoLayer(width=2))
    (False, True)
    """
    return not isinstance(model, Linear | Diagonal)


def check_separable(problem: Problem) -> None:
    """Refuse, before any work, data that a linear or diagonal model cannot separate.

    Both predict with a linear function ``<x, beta>`` (``beta = u*u - v*v`` or a product of
    factors takes every value), so mirror flow has a limit direction only if some ``beta``
    has ``y_i <x_i, beta> > 0`` for every i: the LP feasibility check of
    :func:`theory.max_margin` (l_inf program, HiGHS). Networks are not checked here (their
    separability depends on the trajectory; a stuck run ends with a status instead).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics import Dataset, Linear, Problem
    >>> xor = Dataset.from_arrays(np.array([[1.0, 1], [-1, -1], [1, -1], [-1, 1]]),
    ...                           np.array([1.0, 1, -1, -1]))
    >>> check_separable(Problem.create(xor, Linear(), Potential.quadratic()))
    Traceback (most recent call last):
    ...
    ValueError: the dataset is not linearly separable through the origin ...
    """
    if is_network(problem.model):
        return
    max_margin(problem.data.X, problem.data.y, "linf")


def force_jumps(model: Model) -> bool:
    """True if the model's force jumps at its kinks (ReLU or leaky-ReLU activations).

    Examples
    --------
    >>> from numerics import TwoLayer
    >>> force_jumps(TwoLayer(2, "leaky_relu")), force_jumps(TwoLayer(2, "square_relu"))
    (True, False)
    """
    activation = getattr(model, "activation", None)
    return activation is not None and activation.derivative_jumps


#: sympy functions with no heyoka counterpart: a closed-form inverse mirror map that uses one
#: is evaluated by the float64 path (scipy), while the precise paths integrate the primal state.
HEYOKA_LACKS = (sp.LambertW,)


#: sympy functions whose zeros are kinks of a potential (compiled to heyoka's exact
#: piecewise forms; the precise paths stop at them, THEORY.md §7.1).
POTENTIAL_KINK_FUNCTIONS = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside)


def has_potential_kinks(problem: Problem) -> bool:
    """True if some layer's potential has a kink (``|x|``, ``sign``, ``max``, ...).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> has_potential_kinks(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(3)))
    True
    >>> has_potential_kinks(Problem.create(two_d(4, seed=0), Linear(), Potential.cosh()))
    False
    """
    layers = sorted(set(problem.layer_index.tolist()))
    return any(problem.potential_of_layer(int(k)).expr.has(*POTENTIAL_KINK_FUNCTIONS)
               for k in layers)


def curvature_limits_by_layer(problem: Problem) -> dict[int, set[Any]]:
    """``lim f''(x)`` as ``x -> 0±`` for each layer whose potential has kinks (sympy values:
    ``0``, ``oo`` or a positive number); layers without kinks of the potential are absent.

    Examples
    --------
    >>> from theory import PerLayer, Potential
    >>> from numerics import Problem, TwoLayer, two_d
    >>> pots = PerLayer((Potential.quadratic(), Potential("abs(x)**3/3")))
    >>> curvature_limits_by_layer(Problem.create(two_d(4, seed=0), TwoLayer(2), pots))
    {1: {0}}
    """
    x = sp.Symbol("x", real=True)
    out: dict[int, set[Any]] = {}
    for k in sorted(set(problem.layer_index.tolist())):
        pot = problem.potential_of_layer(int(k))
        if not pot.expr.has(*POTENTIAL_KINK_FUNCTIONS):
            continue
        f2 = pot.bind(pot.hessian.expr)
        f2 = f2.subs({s: x for s in f2.free_symbols if s.name == "x"})
        out[int(k)] = {sp.limit(f2, x, 0, d) for d in ("+", "-")}
    return out


def curvature_limits_at_zero(problem: Problem) -> set[Any]:
    """``lim f''(x)`` as ``x -> 0±`` over the layers' potentials that have kinks (sympy values:
    ``0``, ``oo`` or a positive number); empty without kinks of the potential."""
    return set().union(*curvature_limits_by_layer(problem).values())


def infinite_curvature_at_zero(problem: Problem) -> bool:
    """True if some layer's potential has ``f''(x) -> +inf`` as ``x -> 0`` (``|x|^q``, q < 2).

    The primal state's ``dθ/ds = F / f''(θ)`` is then not Lipschitz at ``θ_k = 0``, and a
    Taylor series of ``f''`` does not exist there.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> infinite_curvature_at_zero(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(1.5)))
    True
    >>> infinite_curvature_at_zero(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(3)))
    False
    """
    return sp.oo in curvature_limits_at_zero(problem)


def has_linf_horizon(problem: Problem) -> bool:
    """True if some layer's potential has an l_inf horizon (cosh-type: ``f''`` grows
    exponentially, so the time-changed flow is stiff, its stiffness ratio growing with the
    clock; THEORY.md §7).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> has_linf_horizon(Problem.create(two_d(4, seed=0), Linear(), Potential.cosh()))
    True
    >>> has_linf_horizon(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(3)))
    False
    """
    layers = sorted(set(problem.layer_index.tolist()))
    return any(problem.potential_of_layer(int(k)).horizon.p == sp.oo for k in layers)


def zero_curvature_at_zero(problem: Problem) -> bool:
    """True if some layer's potential has a kink with ``f''(0) = 0`` (``|x|^p``, p > 2): the
    inverse mirror map has a branch point there, which Taylor bridges and Radau cannot step
    (THEORY.md §7.1).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> zero_curvature_at_zero(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(3)))
    True
    >>> zero_curvature_at_zero(Problem.create(two_d(4, seed=0), Linear(),
    ...                        Potential("x**2/2 + abs(x)**3/3")))
    False
    """
    return sp.S.Zero in curvature_limits_at_zero(problem)


def radau_cannot_cross_zero(problem: Problem) -> str | None:
    """Why Radau IIA refuses ``problem`` (None if it does not): a potential with ``f''(0) = 0``,
    or ``f''(0) = inf`` where Taylor integrates the dual state, on a model whose coordinates
    reach 0 under a force (diagonal models, networks).

    Radau integrates the primal state, ``dθ_k/ds = F_k / f''(θ_k)``, which is singular at
    ``θ_k = 0`` for ``f''(0) = 0`` (THEORY.md §7.1): on a depth-2 diagonal model the zero is
    absorbing (reached in finite time) and on networks weights cross 0 under their full force,
    and Radau exhausted its budget on both (``tests/test_cross_path.py``), where Taylor bridges
    the crossing or freezes the zero.  For ``f''(0) = inf`` the primal ODE is not Lipschitz at
    0: the crossing (``θ_k ~ z_k^2``, a double root of the kink) is located only to
    ``sqrt`` of the working precision in the dual variable (measured: ``|x|^1.5/1.5``, 2-layer
    ReLU net, 1.5e-36 relative in ``θ_k``, and the step size collapsed after it), where
    Taylor's dual state crosses it regularly.  On linear models Radau gets through
    (``test_zero_curvature_linear``; ``test_radau_infinite_curvature_crossing``: 19.5 digits),
    so they are not refused.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Diagonal, Linear, Problem, two_d
    >>> radau_cannot_cross_zero(Problem.create(two_d(4, seed=0), Diagonal(2), Potential.lp(3)))
    "f''(0) = 0 makes the primal ODE singular where a coordinate reaches 0"
    >>> radau_cannot_cross_zero(Problem.create(two_d(4, seed=0), Linear(), Potential.lp(3)))
    """
    if isinstance(problem.model, Linear):
        return None
    if zero_curvature_at_zero(problem):
        return "f''(0) = 0 makes the primal ODE singular where a coordinate reaches 0"
    if infinite_curvature_at_zero(problem) and choose_state(problem, "auto", "taylor") == "dual":
        return ("f''(0) = inf makes the primal ODE non-Lipschitz where a coordinate crosses 0, "
                "which Radau locates only to half the working digits")
    return None


def choose_state(problem: Problem, requested: str = "auto", method: str = "taylor") -> State:
    """Dual (z = ∇φ(θ)) or primal state: the one rule every path uses.

    The dual state is used only when every layer's inverse mirror map is a verified closed form
    that keeps its digits (``Potential.stable_inverse``: at most 3 of 30 lost from z = 1e-30 to
    1e30): some closed forms cancel catastrophically (Cardano's formula for ``x**2/2 + x**4/4`` at
    large ``|z|``), and the primal state ``dθ/ds = -∇log ℒ / f''(θ)`` needs no inverse at all.
    (``x**2/2 + |x|^3/3`` gets the dual state since theory rationalizes its quadratic-formula
    inverse to ``2z / (sqrt(4|z| + 1) + 1)``.)  A typed ``abs(x)**3/3`` gets the dual state as
    ``Potential.lp(3)`` does (its odd f' is inverted on x > 0). Radau always works in the primal
    state; the precise paths also integrate the primal state when the closed form uses a function
    heyoka lacks (:data:`HEYOKA_LACKS`: Lambert W). The float64 path keeps the dual state, with a
    numeric inverse, for potentials with ``f''(0) = 0`` (the primal ODE is singular where a
    coordinate crosses 0; Taylor bridges such crossings by events instead).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(4, seed=0), Linear(), Potential("x**2/2 + x**4/4"))
    >>> choose_state(prob), choose_state(prob, "dual")
    ('primal', 'dual')
    >>> mix = Problem.create(two_d(4, seed=0), Linear(), Potential("x**2/2 + abs(x)**3/3"))
    >>> choose_state(mix), choose_state(Problem.create(two_d(4, seed=0), Linear(),
    ...                                                 Potential("x**2/2 + abs(x)**(3/2)")))
    ('dual', 'dual')
    """
    if requested not in ("auto", "dual", "primal"):
        raise ValueError(f"state must be 'auto', 'dual' or 'primal', got {requested!r}")
    if method == "radau":
        if requested == "dual":
            raise ValueError("method='radau' integrates the primal state; drop state='dual' "
                             "or use method='taylor'")
        return "primal"
    if requested != "auto":
        return requested  # type: ignore[return-value]
    layers = sorted(set(problem.layer_index.tolist()))
    pots = [problem.potential_of_layer(int(k)) for k in layers]
    dual = all(p.stable_inverse for p in pots)
    if dual and method != "float64" and any(
            p.inverse_mirror_map.expr.has(*HEYOKA_LACKS) for p in pots):
        return "primal"     # e.g. Potential.gaussian_exp(): its inverse is sqrt(W(z^2))
    if not dual and method == "float64" and zero_curvature_at_zero(problem):
        # the primal ODE dθ/ds = F / f''(θ) has a branch point where θ_k crosses 0 with
        # F != 0 (abs(x)**3/3 on two-layer nets: scipy's steps collapsed to 6e-17 at
        # θ_k = 2e-9); ż = F crosses it at a finite slope (numeric inverse, _inverse64)
        return "dual"
    return "dual" if dual else "primal"


#: Target log t from which ``auto`` integrates a network with Radau IIA: Taylor's steps grow
#: linearly in log t on networks (the flow's own stiffness), Radau's like log log t. Measured on
#: the two-layer square-ReLU net (m = 4, d = 3, n = 6, gradient flow, 30 digits): Taylor 1044
#: steps / 6.5 s to log t = 1e4, Radau 426 steps / 18 s, and 430 steps / 20 s to 1e8 (issue
#: 11); Taylor's cost reaches Radau's near log t = 3e4.
LONG_HORIZON = 3e4

#: Target log t below which ``auto`` keeps heyoka's Taylor method for l_inf-horizon potentials
#: (cosh-type), by model kind: ``"linear"`` (:class:`~numerics.Linear`) and ``"two_layer"``
#: (:class:`~numerics.TwoLayer` whose force is continuous: ReLU / leaky ReLU nets, diagonal models
#: and MLPs were not measured and keep Radau).  Taylor's stiffness grows with the clock, so it
#: stalls late (linear: cosh near log t = 45, exp(x**2/2) near 25), but its order follows the
#: digits: a short run is a few steps (one data point, cosh, to log t = 6: 23 steps at 30 and at 40
#: digits; Radau IIA 74 and 74, 56 of them in its start-up phase: log t < 1 in the clock log s, from
#: s0 ~ 1e-18).  Measured: total seconds with compilation, Taylor / Radau, on 2 cores at load 3-9
#: (so +-50%), ``separable_gaussian(n=6, d=3, seed=0)``,
#: ``scale=0.5, seed=0``:
#:
#: * linear, cosh, 30 digits: log t = 6: 3.5 / 6.2; 10: 3.7 / 6.6; 30: 5.1 / 7.8; 35: 7.7 / 7.8;
#:   40: 15 / 8.0.  40 digits: 10: 4.5 / 9.7; 30: 7.6 / 11.9; 35: 13.6 / 12.3.
#: * linear, exp(x**2/2), 30 digits: 10: 4.5 / 7.8; 15: 4.9 / 8.4; 20: 8.5 / 8.8; 25: 48 / 9.0.
#:   40 digits: 10: 6.8 / 9.4; 15: 9.0 / 10.2; 20: 19 / 10.9.
#: * ``TwoLayer(4, "square_relu")``, cosh, 30 digits: log t = 30: 8.4 / 27; 100: 9.0 / 35;
#:   1e3: 25 / 66.  40 digits: 30: 12 / 58; 100: 13 / 72; 1e3: 37 / 131.  exp(x**2/2), 30
#:   digits: 30: 12 / 57; 70: 16 / 70; 100: 53 / 77, Taylor stalls just after.
#: * the 8/8/4 square-ReLU net of ``benchmarks/bench_implicit.py`` (P = 40), 30 digits, cosh:
#:   log t = 30: 39 / over 150 (Radau at log t = 20 after 177 s); 100: 56; 300: 118.
#:   exp(x**2/2): 30: 27; 50: 88 / over 150 (Radau at log t = 7 after 150 s), then Taylor
#:   stalls before 70.
#:
#: The thresholds keep a margin below the earliest crossover (exp(x**2/2): ~16 on the linear
#: model at 40 digits; on the nets 60-100, where Taylor stalls): steeper potentials stall
#: Taylor earlier.
LINF_TAYLOR_BELOW = {"linear": 10.0, "two_layer": 40.0}


def auto_method(problem: Problem, log_t: float | None = None) -> Literal["taylor", "radau"]:
    """The precise method ``auto`` picks, by expected cost (README: step growth per method).

    * ``"radau"`` for l_inf-horizon potentials (cosh-type): the time-changed flow is stiff;
      heyoka's Taylor method stalls near log t = 40 (cosh, linear model) and reaches log t =
      385 in 100 s on the 8/8/4 square-ReLU net, where Radau IIA reaches log t = 1e4 in 4.5 s
      and 188 s (``benchmarks/bench_implicit.py``). ReLU and leaky ReLU make the force jump;
      Radau steps them one activation pattern at a time.  Except short runs: ``"taylor"`` on
      linear models and continuous-force two-layer nets for a target ``log_t`` below
      :data:`LINF_TAYLOR_BELOW` (measured crossovers there), unless Taylor would refuse.
    * ``"radau"`` on networks to ``log_t >= LONG_HORIZON`` (:data:`LONG_HORIZON`): Taylor's
      steps grow linearly in log t there, Radau's like log log t.
    * ``"radau"`` when Taylor would refuse (primal state with ``f''(0) = inf``).
    * ``"taylor"`` otherwise, and always where Radau refuses a potential's kinks
      (:func:`radau_cannot_cross_zero`: ``f''(0) = 0`` or ``inf`` on models whose coordinates
      reach 0, THEORY.md §7.1). Linear and diagonal models keep Taylor at every horizon: log t
      by quadrature reaches 1e16 in a few steps.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, TwoLayer, two_d
    >>> auto_method(Problem.create(two_d(6, seed=0), Linear(), Potential.cosh()))
    'radau'
    >>> cosh = Problem.create(two_d(6, seed=0), Linear(), Potential.cosh())
    >>> auto_method(cosh, log_t=6.0), auto_method(cosh, log_t=50.0)
    ('taylor', 'radau')
    >>> auto_method(Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic()))
    'taylor'
    >>> net = Problem.create(two_d(6, seed=0), TwoLayer(2, "square_relu"), Potential.quadratic())
    >>> auto_method(net, log_t=1e3), auto_method(net, log_t=1e8)
    ('taylor', 'radau')
    """
    if radau_cannot_cross_zero(problem):
        return "taylor"     # the plan would refuse Radau
    taylor_refuses = (choose_state(problem, "auto", "taylor") == "primal"
                      and infinite_curvature_at_zero(problem))    # (_plan_taylor)
    if has_linf_horizon(problem):
        short = log_t is not None and log_t < _linf_taylor_below(problem.model)
        return "taylor" if short and not taylor_refuses else "radau"
    if taylor_refuses:
        return "radau"
    if (log_t is not None and log_t >= LONG_HORIZON and is_network(problem.model)
            and not zero_curvature_at_zero(problem)):
        return "radau"
    return "taylor"


def linf_stiffness_reason(problem: Problem, method: str) -> str | None:
    """Why a ``method`` run of an l_inf-horizon potential stops short, or None (no l_inf
    horizon, or Radau IIA, which follows the stiffness).

    Measured on the coverage table's models at log t = 1e3: float64 (cosh, linear model, 60 s)
    reached log t = 46 with DOP853; scipy's Radau and BDF failed near 161 and 264 ("step size
    less than spacing": their Newton rows span ``f''(theta_k)`` beyond float64), LSODA at 132.
    Taylor (240 s) stopped at log t = 48 / 154 (cosh, linear / diagonal) and 26 / 25
    (exp(x**2/2)): its steps shrink as the stiffness ratio grows with the clock.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(4, seed=0), Linear(), Potential.cosh())
    >>> linf_stiffness_reason(prob, "taylor")[:41], linf_stiffness_reason(prob, "radau")
    ('the flow of this l_inf potential is stiff', None)
    """
    if method == "radau" or not has_linf_horizon(problem):
        return None
    which = "float64 steppers" if method == "float64" else "an explicit (Taylor) method"
    return (f"the flow of this l_inf potential is stiff (f'' grows exponentially, so the "
            f"stiffness ratio grows with the clock): {which} cannot follow it far; use "
            "dps=30 with method='radau'")


def _linf_taylor_below(model: Model) -> float:
    """:data:`LINF_TAYLOR_BELOW` of the model's kind (0 for kinds not measured: Radau)."""
    if isinstance(model, Linear):
        return LINF_TAYLOR_BELOW["linear"]
    if isinstance(model, TwoLayer) and not force_jumps(model):
        return LINF_TAYLOR_BELOW["two_layer"]
    return 0.0


@dataclass(frozen=True)
class IntegrationPlan:
    """Everything decided about a run before it starts.

    Attributes
    ----------
    method
        ``"float64"`` (scipy), ``"taylor"`` (heyoka) or ``"radau"`` (Radau IIA in MPFR).
    state
        ``"dual"`` or ``"primal"`` (:func:`choose_state`).
    clock
        Independent variable of the ODE: ``"s"`` (ds = ℒ dt) or ``"log_s"``.
    logt_mode
        ``"ode"`` (log t carried as a state) or ``"quadrature"`` (Taylor on linear / diagonal
        models: removes the stiff log t mode).
    network
        True for models with hidden units (:func:`is_network`).
    precision
        The :class:`Precision` (``None`` for float64).
    tol
        Solver tolerance; ``None`` lets the driver choose from the precision.
    heyoka_options
        Extra options for ``heyoka.taylor_adaptive`` (Taylor only).
    jacobian_points
        Radau: stages at which Jacobians are evaluated on networks (``None``: all).
    """

    method: Method
    state: State
    clock: Literal["s", "log_s"]
    logt_mode: Literal["ode", "quadrature"]
    network: bool
    precision: Precision | None
    tol: float | None = None
    heyoka_options: dict[str, Any] = field(default_factory=dict)
    jacobian_points: int | None = None

    def describe(self) -> str:
        """One line for logs and ``meta``: ``taylor real128 (113 bits), dual, clock s``."""
        prec = ("float64" if self.precision is None else
                f"{self.precision.fp_type} ({self.precision.bits} bits)")
        return f"{self.method} {prec}, {self.state} state, clock {self.clock}"


def _network_tol(precision: Precision) -> float:
    # one digit below dps + 2: at tol 1e-32 the 32/16/8 net kept only 29.7 digits of
    # direction at log t = 1e4 (8071 steps; 31.0 at 1e3) against the 45-digit certificate
    # run (bench_precision); eps (2^-112) costs ~15% more than 1e-32 on the 8/8/4 net
    return max(2.0 ** (1 - precision.bits), 10.0 ** -(precision.dps + 3))


def _plan_taylor(problem: Problem, precision: Precision, *, state: str, logt_mode: str,
                 tol: float | None, heyoka_options: dict[str, Any] | None) -> IntegrationPlan:
    network = is_network(problem.model)
    chosen = choose_state(problem, state, "taylor")
    if chosen == "primal" and infinite_curvature_at_zero(problem):
        raise ValueError(
            f"method='taylor' in the primal state cannot step through theta_k = 0 of "
            f"{problem.potential!r}: f''(x) -> inf at 0 has no Taylor series there; use "
            "method='radau' (or 'auto'), or a potential whose inverse mirror map has a closed "
            "form (dual state, e.g. Potential.lp(1.5))")
    if logt_mode == "auto":
        # quadrature removes the stiff log t mode (linear / diagonal models reach log t = 1e16
        # in a few steps); on networks the flow's own stiffness dominates and the per-step
        # Python quadrature costs more (8/8/4 relu² net to log t = 1e4: 130 vs 78 CPU s)
        # kinks of the potential (|x|, sign, ...) are bridged by an Euler step, across which
        # the quadrature's log t is only first-order: lp(1.5) on a linear model ended 2e-2 off
        # at log t = 1 in real128 (ode mode and Radau agree with scipy to 1e-9)
        logt_mode = "quadrature" if not (network or has_potential_kinks(problem)) else "ode"
    if logt_mode not in ("ode", "quadrature"):
        raise ValueError(f"logt_mode must be 'auto', 'ode' or 'quadrature', got {logt_mode!r}")
    if network and tol is None:
        tol = _network_tol(precision)
    options = dict(heyoka_options or {})
    if network and precision.fp_type == "real128" and (os.cpu_count() or 1) >= 2:
        # heyoka's parallel mode splits each step over threads; it pays for real128 arithmetic
        # on networks (8/8/4 relu² net to log t = 1e4: 47 s wall / 93 CPU s vs 69 s serial),
        # not for small linear systems or MPFR (measured no gain at 45 digits)
        options.setdefault("parallel_mode", True)
    # clock u = log s on networks: skips the early phase where s-steps are tiny (689 vs 918
    # steps to log t = 1e3 on the 8/8/4 net)
    return IntegrationPlan("taylor", chosen, "log_s" if network else "s", logt_mode, network,
                           precision, tol, options)


def _plan_radau(problem: Problem, precision: Precision, *, state: str, tol: float | None,
                heyoka_options: dict[str, Any] | None) -> IntegrationPlan:
    if heyoka_options:
        raise ValueError(f"heyoka_options {sorted(heyoka_options)} configure heyoka's Taylor "
                         "integrator; this run uses Radau IIA (an l_inf-type potential): "
                         "pass method='taylor' to use them")
    why = radau_cannot_cross_zero(problem)
    if why:
        raise ValueError(
            f"method='radau' cannot step {problem.potential!r} on a "
            f"{type(problem.model).__name__} model: {why} (THEORY.md §7.1); use "
            "method='taylor' (it bridges the crossing in the dual state, or freezes an "
            "absorbing zero)")
    network = is_network(problem.model)
    if force_jumps(problem.model):
        # late on, the force on unsaturated coordinates is a difference of terms ~1e12 times
        # larger (leaky 8/8/4 net, cosh, log t = 880: S = -3.2e-13 from terms 0.26), so with
        # 40 guard bits the evaluation noise exceeds tol, Newton stalls and the steps shrink
        # to 6e-5 in log log t; with 60 more bits 27 steps reach log t = 1e3 from there
        tol = 10.0 ** -(precision.dps + 2) if tol is None else tol
        precision = dataclasses.replace(precision, bits=precision.bits + _JUMP_GUARD_BITS)
    return IntegrationPlan("radau", choose_state(problem, state, "radau"), "log_s", "ode",
                           network, precision, tol, {}, 3 if network else None)


def plan_run(problem: Problem, *, dps: int | None = None, method: str = "auto",
             state: str = "auto", logt_mode: str = "auto", tol: float | None = None,
             heyoka_options: dict[str, Any] | None = None,
             log_t: float | None = None) -> IntegrationPlan:
    """The :class:`IntegrationPlan` of a run: every choice made once, before any work.

    Parameters
    ----------
    problem
        The problem to integrate.
    dps
        ``None`` for float64; decimal digits (``>= 16``) for the arbitrary-precision path.
    method
        ``"auto"`` (:func:`auto_method` at ``dps``; float64 otherwise), ``"taylor"`` or
        ``"radau"``.
    state, logt_mode, tol, heyoka_options
        As in :func:`numerics.solvers.precise.solve_precise`; ``"auto"`` values are decided
        here.
    log_t
        The target, if known: ``auto`` picks the method by expected cost to reach it.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, TwoLayer, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> plan_run(prob, dps=30).describe()
    'taylor real128 (113 bits), dual state, clock s'
    >>> plan_run(Problem.create(two_d(6, seed=0), Linear(), Potential.cosh()), dps=30).method
    'radau'
    >>> plan_run(prob).describe()
    'float64 float64, dual state, clock s'
    """
    check_separable(problem)
    if dps is None:
        if method not in ("auto", "float64"):
            raise ValueError(f"method={method!r} needs dps=...: the float64 path is scipy's")
        return IntegrationPlan("float64", choose_state(problem, state, "float64"), "s", "ode",
                               is_network(problem.model), None, tol)
    if method not in ("auto", "taylor", "radau"):
        raise ValueError(f"method must be 'auto', 'taylor' or 'radau', got {method!r}")
    if method == "auto":
        method = auto_method(problem, log_t)
    precision = Precision.for_method(method, Precision.check_dps(dps))
    if method == "radau":
        return _plan_radau(problem, precision, state=state, tol=tol,
                           heyoka_options=heyoka_options)
    return _plan_taylor(problem, precision, state=state, logt_mode=logt_mode, tol=tol,
                        heyoka_options=heyoka_options)
