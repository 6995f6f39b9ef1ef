"""Radau IIA at a ReLU kink whose root lies at the very start of a step.

The float64 root of :meth:`~numerics.solvers.precise._radau_kinks.KinkLocator.first_crossing`
is 0 for a root closer than about ``1e-16`` of the step to its start, and the step was cut at
the floor fraction ``1e-12``: :meth:`~numerics.solvers.precise._radau_kinks.KinkLocator.refine`
cannot move the end back onto a root at the start, and the driver accepted the step past it
(measured: the kink switched at ``|h| = 6e-18``, 17 digits against Taylor).  The root is now
located along the step and the step cut there (or, within rounding of the start, the kink
switched at the start).

Expected values come from heyoka's Taylor method at the same bits (its own kink events: an
independent integrator) from the same start.
"""

from __future__ import annotations

import mpmath
from test_radau_relu import small_net_problem

from numerics import Problem, agreeing_digits
from numerics.solvers._precision import Precision
from numerics.solvers.precise import RadauIntegrator, integrate_taylor, problem_system, to_mpf

M, N, D = 2, 4, 2  # the width-2 ReLU net of tests/test_radau_relu.py
DPS = 50  # 206 bits: a kink at 1e-26 is not within half the digits of 0 at a start


def _start_next_to_kink(prob: Problem, run, kink: int, delta: float) -> tuple:
    """The last point of ``run`` with unit ``j`` moved along sample ``i`` (``kink = i M + j``)
    so that the kink's value is ``delta``: a start from which it crosses at once."""
    X = prob.data.X
    i, j = divmod(kink, M)
    with mpmath.workdps(80):
        th = [to_mpf(v) for v in run.theta[-1]]
        x = [mpmath.mpf(float(X[i, c])) for c in range(D)]
        h = mpmath.fsum(x[c] * th[j * D + c] for c in range(D))
        shift = (mpmath.mpf(delta) - h) / mpmath.fsum(v * v for v in x)
        for c in range(D):
            th[j * D + c] += shift * x[c]
        return to_mpf(run.clock[-1]), th, to_mpf(run.logt[-1])


def test_kink_root_at_the_start_of_a_step_is_not_overshot():     # ~10 s
    # Kink 5 (sample 2, unit 1) falls through 0 at log t = -1.02 from th0.  From log t = -1.1
    # with it at 1e-26 (not within sqrt(2^(24 - bits)) = 4e-28 of 0: a plain start), it
    # crosses 1e-22 of the first double step (h0 = 1e-3 in log s) after the start: the float64
    # root is 0, the first cut 1e-12 of the step lands past it.
    prob = small_net_problem()
    sysm = problem_system(prob, state="primal", clock="log_s")
    integ = RadauIntegrator(sysm, dps=DPS)
    head = integ.run([float(v) for v in prob.theta0], -1.1)
    assert head.status == "reached" and not head.stats["kink_crossings"]
    start = _start_next_to_kink(prob, head, 5, 1e-26)
    run = integ.run(start, -0.5)
    bits = run.stats["prec"]
    assert run.status == "reached", run.stats.get("reason")
    # located by a cut (not switched at the start as a rounded resumed state is)
    assert run.stats["kinks_cut"] == 1
    (_logt, kink, rel, side), = run.stats["kink_crossings"]
    assert int(kink) == 5 and side == -1.0
    assert rel < 2.0 ** (-bits / 2)  # at rounding level: the step ended on its root
    ref = integrate_taylor(sysm, None, -0.5, fp_type="real",
                           prec=Precision.for_radau(DPS).bits, start=start)
    assert ref.status == "reached"
    digits = agreeing_digits([to_mpf(v) for v in run.theta[-1]],
                             [to_mpf(v) for v in ref.theta[-1]])
    assert digits >= 25, digits
