"""Radau IIA follows Filippov sliding on kinks that are not linear in the parameters.

An MLP's deeper pre-activation ``h_k(theta)`` has a gradient that varies with the state: the
Filippov ``alpha`` is solved at every evaluation point from the compiled ``grad h_k``, and the
state is put back onto the surface after each step (``numerics/solvers/precise/_radau_surfaces``).
Expected values: a closed form of the sliding flow on a toy system, heyoka's Taylor driver (its own
sliding flows, an independent integrator), a forward pass written out here in mpmath for the
pre-activation, and the balance law of THEORY.md §2 (kept by the Clarke slope ``alpha h = 0``).
"""

from __future__ import annotations

import heyoka as hy
import mpmath
import numpy as np
import sympy as sp

from numerics import MLP, Dataset, Problem, agreeing_digits, solve_mirror_flow
from numerics.solvers.precise import (
    RadauIntegrator,
    ScalarPotential,
    build_mirror_flow_system,
    integrate_implicit,
    problem_system,
    to_mpf,
)
from theory import Potential


def test_nonlinear_kink_slides_along_its_closed_form():
    # One sample, q = u + v - relu(u v), gradient flow (x²/2), exp loss, clock s (ds = L dt):
    # dtheta/ds = grad q.  Above the kink h = u v: u' = 1 - v, v' = 1 - u, so from (2, 1/2)
    # u = 1 + cosh s + sinh(s)/2, v = 1 - sinh s - cosh(s)/2, until v = 0 at s1 (u1 > 1).
    # There the active field moves h down (u (1 - u) < 0) and the inactive one up (u > 0):
    # Filippov's flow slides with alpha = 1/u, u' = 1, v' = 0, q = u, and
    # t = int_0^s exp(q) = int_0^s1 exp(q) + exp(u1) expm1(s - s1).
    x = sp.Symbol("x", real=True)
    gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")

    def margins(th):
        u, v = th
        h = u * v
        G = np.array([[1.0 - hy.relup(h) * v, 1.0 - hy.relup(h) * u]], dtype=object)
        return np.array([u + v - hy.relu(h)], dtype=object), G, [h]

    sysm = build_mirror_flow_system(margins, 2, gd, state="primal", clock="log_s")
    run = integrate_implicit(sysm, [2.0, 0.5], 5.0, dps=30)
    assert run.status == "reached", run.stats.get("reason")
    with mpmath.workdps(40):
        s1 = mpmath.findroot(lambda s: mpmath.sinh(s) + mpmath.cosh(s) / 2 - 1, 0.5)
        u1 = 1 + mpmath.cosh(s1) + mpmath.sinh(s1) / 2

        def q(s):
            u, v = 1 + mpmath.cosh(s) + mpmath.sinh(s) / 2, -mpmath.sinh(s) - mpmath.cosh(s) / 2 + 1
            return u + v - u * v

        s = to_mpf(run.s[-1])
        u, v = (to_mpf(c) for c in run.theta[-1])
        t = mpmath.quad(lambda r: mpmath.exp(q(r)), [0, s1]) + mpmath.exp(u1) * mpmath.expm1(s - s1)
        assert abs(v) <= 1e-30 * abs(u)                       # on the kink h = u v = 0
        assert abs(u - (u1 + s - s1)) <= 1e-28 * u
        assert abs(mpmath.log(t) - 5) <= 1e-28 * 5
    crossings = run.stats["kink_crossings"]
    assert [c[3] for c in crossings] == [0.0]                 # one switch: it slides
    assert abs(crossings[0][0] - float(mpmath.log(mpmath.quad(lambda r: mpmath.exp(q(r)),
                                                              [0, s1])))) < 1e-12
    assert run.stats["sliding_projections"] > 0


def _tiny_mlp() -> Problem:
    # depth 3 (widths 2, 2), 2 samples in 2-d, gradient flow: the second-layer pre-activation
    # of sample 1 on unit 1 (kink 4 + 2 * 1 + 1 = 7) is pushed onto 0 from both sides at
    # log t = -2.76 (rates -0.57 active, +0.57 inactive) and slides until its alpha reaches 1
    # at log t = -1.24 (by the Taylor driver's sliding episodes)
    rng = np.random.default_rng(8)
    X = np.round(rng.standard_normal((2, 2)), 2)
    th0 = [float(v) for v in np.round(rng.standard_normal(10) * 0.8, 2)]
    return Problem.create(Dataset(X, np.array([1.0, -1.0])), MLP((2, 2), "relu"),
                          Potential.quadratic(), theta0=th0)


def _h7(prob: Problem, theta) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The second-layer pre-activation of sample 1 on unit 1, and the size of its terms, from
    a forward pass in mpmath (W1 = theta[0:4] by rows, W2 = theta[4:8], a = theta[8:10])."""
    th = [to_mpf(v) for v in theta]
    x = [mpmath.mpf(float(c)) for c in np.asarray(prob.data.X)[1]]
    h1 = [th[2 * c] * x[0] + th[2 * c + 1] * x[1] for c in range(2)]
    terms = [th[4 + 2 + c] * max(h1[c], 0) for c in range(2)]
    return mpmath.fsum(terms), mpmath.fsum(abs(t) for t in terms)


def _balance(theta) -> list[mpmath.mpf]:
    """``|incoming|² - |outgoing|²`` of the four hidden units (THEORY.md §2, gradient flow)."""
    th = [to_mpf(v) for v in theta]
    W1, W2, a = th[0:4], th[4:8], th[8:10]
    first = [W1[2 * c] ** 2 + W1[2 * c + 1] ** 2 - W2[c] ** 2 - W2[2 + c] ** 2 for c in range(2)]
    second = [W2[2 * j] ** 2 + W2[2 * j + 1] ** 2 - a[j] ** 2 for j in range(2)]
    return first + second


def test_deeper_layer_kink_slides_as_in_the_taylor_driver():
    prob = _tiny_mlp()
    sysm = problem_system(prob, state="primal", clock="log_s")
    integ = RadauIntegrator(sysm, dps=30)
    inside = integ.run(prob.theta0, -2.0)          # the unit slides here
    assert inside.status == "reached", inside.stats.get("reason")
    assert inside.stats["kink_modes"][7] == 0 and not integ.functions.linear_kinks[7]
    with mpmath.workdps(50):
        h, size = _h7(prob, inside.theta[-1])
        assert abs(h) <= 1e-29 * size                  # on its surface, to working precision
    out = integ.run((inside.clock[-1], list(inside.theta[-1]), inside.logt[-1]), -1.0,
                    modes=inside.stats["kink_modes"])
    assert out.status == "reached", out.stats.get("reason")
    assert out.stats["kink_modes"][7] == 1             # left the surface upwards (alpha = 1)
    for run, log_t in ((inside, -2.0), (out, -1.0)):
        ref = solve_mirror_flow(prob, log_t=log_t, dps=30, certify=False, method="taylor")
        assert ref.status == "reached", ref.message
        episodes = ref.meta["solver"]["sliding_episodes"]
        assert [e[0] for e in episodes] == [7]
        assert agreeing_digits([to_mpf(v) for v in run.theta[-1]], list(ref.theta_mp[-1]),
                               40) >= 25
    entered = [c for c in inside.stats["kink_crossings"] if c[1] == 7]
    left = [c for c in out.stats["kink_crossings"] if c[1] == 7]
    assert entered[0][3] == 0 and abs(entered[0][0] - episodes[0][1]) < 1e-12
    assert left[0][3] == 1 and abs(left[0][0] - episodes[0][2]) < 1e-12
    # balance (x²/2): |incoming|² - |outgoing|² of each hidden unit is that of theta0
    with mpmath.workdps(50):
        for run in (inside, out):
            for unit, now in enumerate(_balance(run.theta[-1])):
                assert abs(now - _balance(prob.theta0)[unit]) <= 1e-25
