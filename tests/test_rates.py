"""Predicted rates (THEORY.md §5) against Lyu-Li and an independent 1-D integration."""
import mpmath
import pytest
import sympy as sp

from theory import Potential

T = sp.Symbol("t", positive=True)
G = sp.Symbol("gamma", positive=True)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_gradient_flow_matches_lyu_li(L):
    # [lit] Lyu & Li 2020: loss = Theta(1/(t (log t)^(2-2/L))), norm = Theta((log t)^(1/L))
    r = Potential.quadratic().rates(depth=L)
    assert r.regime == "polylog-corrected 1/t"
    c = sp.limit(r.loss * T * sp.log(T) ** (2 - sp.Rational(2, L)), T, sp.oo)
    assert c.is_positive and c.is_finite
    c = sp.limit(r.primal_norm / sp.log(T) ** sp.Rational(1, L), T, sp.oo)
    assert c.is_positive and c.is_finite


def _loss_slope_from_heuristic_ode(f2, L, gamma, rho_a, rho_b):
    """Independent computation: t(rho) = ∫ r^(1-L) f''(r) e^(gamma r^L) dr, loss = e^(-gamma rho^L);
    return d log(loss) / d log(t) between rho_a and rho_b."""
    with mpmath.workdps(40):
        def t_of(rho):
            return mpmath.quad(lambda r: r ** (1 - L) * f2(r) * mpmath.exp(gamma * r ** L),
                               [1, rho / 2, rho])
        la, lb = -gamma * rho_a ** L, -gamma * rho_b ** L
        return float((lb - la) / (mpmath.log(t_of(rho_b)) - mpmath.log(t_of(rho_a))))


def test_cosh_linear_power_regime_exponent():
    gamma = sp.Rational(1, 2)
    r = Potential.cosh().rates(depth=1, margin=gamma)
    assert r.regime == "power t^-a with a < 1"
    a = float(r.loss_exponent)
    assert a == pytest.approx(1 / 3)            # gamma/(gamma+1), derived by hand
    slope = _loss_slope_from_heuristic_ode(mpmath.cosh, 1, 0.5, 200, 400)
    assert slope == pytest.approx(-a, rel=2e-2)


def test_gradient_flow_slope_is_minus_one():
    slope = _loss_slope_from_heuristic_ode(lambda r: 1, 2, 1.0, 60, 120)
    rate = Potential.quadratic().rates(depth=2, margin=1).loss
    # the predicted loss' own log-log slope at the same times
    t_a, t_b = (mpmath.e ** (60**2), mpmath.e ** (120**2))
    f = sp.lambdify(T, sp.log(rate), "mpmath")
    pred = float((f(t_b) - f(t_a)) / (mpmath.log(t_b) - mpmath.log(t_a)))
    assert slope == pytest.approx(pred, abs=5e-3)


def test_gaussian_exp_linear_slower_than_any_power():
    r = Potential.gaussian_exp().rates(depth=1, margin=1)
    assert r.regime == "slower than any power"
    log_loss = sp.lambdify(T, sp.log(r.loss), "mpmath")
    with mpmath.workdps(30):
        for a in (0.01, 0.0001):   # log(loss * t^a) grows without bound in log t
            vals = [log_loss(mpmath.exp(mpmath.mpf(lt))) + a * lt for lt in (1e10, 1e12, 1e14)]
            assert vals[0] < vals[1] < vals[2] and vals[2] > 0


def test_rates_reject_bad_input():
    with pytest.raises(ValueError, match="depth"):
        Potential.cosh().rates(depth=0)
    with pytest.raises(ValueError, match="margin must be positive"):
        Potential.cosh().rates(depth=1, margin=-1)
