"""Predicted loss decay and norm growth (THEORY.md §5, [derived] heuristics).

With θ ≈ ρu (ρ the horizon-gauge size of θ, u a unit direction), horizon-normalised margin γ
and L-homogeneous model, ℒ ≈ C exp(-γ ρ^L) and ρ' ≈ Lγ ρ^{L+1} ℒ / H with
H(θ) = Σ θ_m² f''(θ_m) ≈ ρ² f''(ρ). Integrating, t(ρ) ≈ ∫ r^{1-L} f''(r) e^{γ r^L} dr / (LγC);
the regime is set by κ = lim log f''(ρ) / ρ^L:

* κ = 0: log t ≈ γ ρ^L, ℒ ≈ ρ² f''(ρ) / (L² (log t)² t)  -- "polylog-corrected 1/t"
  (or "1/t with a slowly varying (super-polylog) factor" when f'' grows faster than any
  power of ρ, e.g. cosh with L >= 2);
  (gradient flow: ℒ = Θ(1/(t (log t)^{2-2/L})), ‖θ‖ = Θ((log t)^{1/L}), Lyu & Li 2020);
* 0 < κ < ∞: ρ^L ≈ log t / (γ + κ), ℒ ≍ t^{-γ/(γ+κ)}     -- "power t^-a with a < 1";
* κ = ∞: log t ≈ log f''(ρ), ℒ ≈ exp(-γ ρ^L)               -- "slower than any power".

The dual variable carries f: ‖z‖ ≈ f'(ρ).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from ._derivation import Step
from ._numeric import mp_function, symbolic_timeout

__all__ = ["REGIMES", "Rates", "predicted_rates"]

T = sp.Symbol("t", positive=True)
RHO = sp.Symbol("rho", positive=True)
REGIMES = ("polylog-corrected 1/t", "power t^-a with a < 1", "slower than any power",
           "1/t with a slowly varying (super-polylog) factor")


@dataclass(frozen=True)
class Rates:
    """Predicted asymptotics in t (leading order; constants and slowly varying factors
    are not predicted in the power regime).

    Examples
    --------
    >>> from theory import Potential
    >>> r = Potential.quadratic().rates(depth=2, margin=1)
    >>> r.regime
    'polylog-corrected 1/t'
    >>> r.loss
    1/(4*t*log(t))
    >>> r.primal_norm
    sqrt(log(t))
    """

    regime: str
    loss: sp.Expr
    primal_norm: sp.Expr
    dual_norm: sp.Expr
    loss_exponent: sp.Expr | None
    kappa: sp.Expr
    depth: int
    margin: sp.Expr
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        lines = [f"regime: {self.regime}", f"loss ~ {self.loss}",
                 f"primal norm ~ {self.primal_norm}", f"dual norm ~ {self.dual_norm}"]
        return "\n".join(lines + [f"  {i}. {s}" for i, s in enumerate(self.steps, 1)])


def _kappa(f2: sp.Expr, L: int) -> sp.Expr:
    ratio = sp.log(f2) / RHO ** L
    try:
        with symbolic_timeout(10):
            lim = sp.limit(ratio, RHO, sp.oo)
        if lim == sp.oo or (lim.is_number and lim.is_real and lim.is_finite):
            return lim
    except (TimeoutError, NotImplementedError, ValueError, TypeError):
        pass
    fn = mp_function(ratio, RHO)
    with mpmath.workdps(50):
        vals = [fn(mpmath.mpf(10) ** k) for k in (5, 10, 20)]
    if vals[-1] > 10 * vals[-2] > 0:
        return sp.oo
    return sp.nsimplify(float(vals[-1]), rational=True, tolerance=1e-6)


def predicted_rates(potential, depth: int = 1, margin: object = sp.Symbol("gamma", positive=True)
                    ) -> Rates:
    """Predicted rates for mirror flow with ``potential`` on a ``depth``-homogeneous model.

    Parameters
    ----------
    potential
        A :class:`theory.Potential`; its slower side (the horizon's scale side) is used.
    depth
        Homogeneity degree L >= 1 of the model.
    margin
        The horizon-normalised margin γ > 0 (a number or a positive symbol).
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth (homogeneity degree L) must be an integer >= 1, got {depth!r}")
    gamma = sp.sympify(margin)
    if gamma.is_positive is not True:
        raise ValueError(
            f"margin must be positive (data separable with margin γ > 0), got {margin}")
    L = depth
    h = potential.horizon
    x = sp.Symbol("x", real=True)
    sign = -1 if (h.side_ratio == sp.oo) else 1
    f1 = potential.f1_bound.subs(x, sign * RHO) * sign
    f2 = potential.f2_bound.subs(x, sign * RHO)
    kappa = _kappa(f2, L)
    logt = sp.log(T)
    steps = [Step(f"scale side: x -> {'-' if sign < 0 else '+'}inf; f''(rho)", f2),
             Step(f"kappa = lim log f''(rho) / rho^{L}", kappa)]
    if kappa == 0:
        rho = (logt / gamma) ** sp.Rational(1, L)
        loss = sp.powsimp(sp.simplify(rho ** 2 * f2.subs(RHO, rho) / (L ** 2 * logt ** 2 * T)))
        regime, a = (REGIMES[0] if _polylog(f2) else REGIMES[3]), sp.S.One
        steps.append(Step("kappa = 0: log t ~ gamma rho^L, loss ~ H/(L^2 (log t)^2 t)", loss))
    elif kappa != sp.oo:
        rho = (logt / (gamma + kappa)) ** sp.Rational(1, L)
        a = sp.simplify(gamma / (gamma + kappa))
        loss = T ** (-a)
        regime = REGIMES[1]
        steps.append(Step("0 < kappa < oo: rho^L ~ log t/(gamma+kappa), loss ~ t^-a", a))
    else:
        rho = _solve_log_f2(f2)
        a = None
        loss = sp.exp(-gamma * rho ** L)
        regime = REGIMES[2]
        steps.append(Step("kappa = oo: log t ~ log f''(rho), loss ~ exp(-gamma rho^L)", rho))
    dual = sp.simplify(f1.subs(RHO, rho))
    return Rates(regime, loss, sp.simplify(rho), dual, a, kappa, L, gamma, tuple(steps))


def _polylog(f2: sp.Expr) -> bool:
    """Whether f''(rho) grows at most polynomially (log f''/log rho bounded)."""
    try:
        with symbolic_timeout(10):
            lim = sp.limit(sp.log(f2) / sp.log(RHO), RHO, sp.oo)
        return bool(lim.is_finite)
    except (TimeoutError, NotImplementedError, ValueError, TypeError):
        return False


def _solve_log_f2(f2: sp.Expr) -> sp.Expr:
    """rho(t) with f''(rho) = t (largest real branch), or an implicit function."""
    try:
        with symbolic_timeout(10):
            sols = sp.solve(sp.Eq(f2, T), RHO)
        real = [s for s in sols if s.subs(T, sp.Integer(10) ** 6).evalf().is_real
                and s.subs(T, sp.Integer(10) ** 6).evalf() > 0]
        if real:
            return max(real, key=lambda s: s.subs(T, sp.Integer(10) ** 6).evalf())
    except (TimeoutError, NotImplementedError, ValueError, TypeError):
        pass
    return sp.Function("rho")(T)
