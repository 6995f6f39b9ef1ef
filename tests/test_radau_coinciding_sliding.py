"""Radau IIA slides on kinks whose surfaces coincide with one shared switch.

Two kinks with parallel gradients at 0 (an MLP's ``W_jc relu(h_ic)`` on two samples whose only
active input is unit ``c``: both vanish with ``W_jc``) are one surface: Filippov's solution holds
the state there with one slope ``alpha`` for both (the fields on the two sides of the surface
switch both kinks together), and leaves it with both when ``alpha`` reaches 0 or 1
(``numerics/solvers/precise/_radau_switches.py``).  Expected values: the closed form of a toy
system below.
"""

from __future__ import annotations

import heyoka as hy
import mpmath
import numpy as np
import sympy as sp

from numerics.solvers.precise import (
    RadauIntegrator,
    ScalarPotential,
    build_mirror_flow_system,
    to_mpf,
)


def _toy_system():
    # One sample, q = u v - v - relu(u) - relu(2u)/2 (kinks u and 2u: one surface u = 0), gradient
    # flow (x²/2), exp loss, clock s (ds = L dt): u' = v - H_0 - H_1, v' = u - 1.
    x = sp.Symbol("x", real=True)
    gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")

    def margins(th):
        u, v = th
        G = np.array([[v - hy.relup(u) - hy.relup(2.0 * u), u - 1.0]], dtype=object)
        q = u * v - v - hy.relu(u) - 0.5 * hy.relu(2.0 * u)
        return np.array([q], dtype=object), G, [u, 2.0 * u]

    return build_mirror_flow_system(margins, 2, gd, state="primal", clock="log_s")


def _closed_form():
    # From (u, v) = (-1/2, 8/5) below the kinks: w = u - 1 has w'' = w, w = -3/2 cosh s + 8/5 sinh s
    # and v = w', until u = 0 at s1 with v1 = v(s1) in (0, 2).  There the inactive field moves u
    # up (v > 0), the active one down (v - 2 < 0): Filippov's flow slides with alpha = v/2 for
    # both kinks, u = 0, v = v1 - (s - s1), until alpha = 0 at s2 = s1 + v1; then both are
    # inactive: u = 1 - cosh(s - s2), v = -sinh(s - s2).  log t = log int_0^s exp(q).
    def w(s):
        return -1.5 * mpmath.cosh(s) + 1.6 * mpmath.sinh(s)

    def dw(s):
        return -1.5 * mpmath.sinh(s) + 1.6 * mpmath.cosh(s)

    s1 = mpmath.findroot(lambda s: w(s) + 1, 0.5)
    v1 = dw(s1)
    t1 = mpmath.quad(lambda r: mpmath.exp((w(r) + 1) * dw(r) - dw(r)), [0, s1])
    t2 = t1 + mpmath.quad(lambda r: mpmath.exp(r - v1), [0, v1])

    def state(s):
        if s <= s1 + v1:
            return mpmath.mpf(0), v1 - (s - s1), mpmath.log(t1 + mpmath.quad(
                lambda r: mpmath.exp(r - v1), [0, s - s1]))
        r = s - s1 - v1
        t = t2 + mpmath.quad(lambda x: mpmath.exp(mpmath.sinh(x) * mpmath.cosh(x)), [0, r])
        return 1 - mpmath.cosh(r), -mpmath.sinh(r), mpmath.log(t)

    return mpmath.log(t1), mpmath.log(t2), state


def test_kinks_on_one_surface_slide_and_leave_together():
    integ = RadauIntegrator(_toy_system(), dps=30)
    with mpmath.workdps(40):
        logt1, logt2, state = _closed_form()
        assert logt1 < -1.5 < logt2 < 3.0
        runs = {}
        for target in (-1.5, 3.0):                     # inside the slide, then past its end
            run = runs[target] = integ.run([-0.5, 1.6], target)
            assert run.status == "reached", run.stats.get("reason")
            s = to_mpf(run.s[-1])
            u, v = (to_mpf(c) for c in run.theta[-1])
            ue, ve, logt = state(s)
            assert abs(u - ue) <= 1e-28 and abs(v - ve) <= 1e-28
            assert abs(logt - target) <= 1e-28 * max(1, abs(target))
    assert runs[-1.5].stats["kink_modes"] == [0, 0]    # both held (one switch)
    # both enter together, then leave together (either kink may be the one located first)
    crossings = run.stats["kink_crossings"]
    assert len(crossings) == 4
    for pair, logt_at, side in ((crossings[:2], logt1, 0.0), (crossings[2:], logt2, -1.0)):
        assert sorted(c[1] for c in pair) == [0.0, 1.0] and all(c[3] == side for c in pair)
        assert all(abs(c[0] - float(logt_at)) < 1e-12 for c in pair)
