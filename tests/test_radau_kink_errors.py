"""How a Radau run ends when a ReLU kink cannot be located (``RadauDriver.handle_kink``).

Two endings, forced here by a locator that fails (no natural trigger is known on small nets:
the "past its root" guard fired only on kinks identically 0, now handled as flat): no root
along the step cut at the kink's float64 root, and a step that still ends past the root after
the refinements.  Either must end the run with status ``"error"`` and a reason naming the kink
and what failed -- never accept the step silently -- and keep every step taken before it.
The net is the width-2 ReLU net of ``tests/test_radau_relu.py`` (kinks from log t ~ -1).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_radau_relu import small_net_problem

from numerics.solvers import solve_mirror_flow
from numerics.solvers.precise._radau_kinks import KinkLocator


def _run():
    return solve_mirror_flow(small_net_problem(), log_t=0.0, dps=30, method="radau",
                             certify=False)


@pytest.fixture(scope="module")
def plain():
    sol = _run()
    assert sol.status == "reached", sol.message
    assert sol.meta["solver"]["kinks_cut"] >= 1  # kink 5 at log t = -1.02
    return sol


def _ends_at_a_kink(sol, plain, words: str) -> None:
    assert sol.status == "error", sol.message
    assert "could not be located" in sol.meta["reason"] and words in sol.meta["reason"]
    assert sol.message.startswith(sol.meta["reason"])
    # it ends at the first kink the plain run crossed, keeping the steps before it
    first = plain.meta["solver"]["kink_crossings"][0][0]
    assert "kink event 5" in sol.meta["reason"]
    assert len(sol.log_t) >= 2 and sol.log_t[-1] <= first + 1e-9
    np.testing.assert_array_equal(sol.theta[:-1], plain.theta[:len(sol.theta) - 1])


def test_no_root_along_the_step_ends_the_run(monkeypatch, plain):
    monkeypatch.setattr(KinkLocator, "refine", lambda self, *a, **k: None)
    monkeypatch.setattr(KinkLocator, "locate", lambda self, *a, **k: None)
    _ends_at_a_kink(_run(), plain, "no root along the step")


def test_a_step_still_past_its_root_ends_the_run(monkeypatch, plain):
    # refinements that never close the gap: 1e-3 of a step past the root each time
    monkeypatch.setattr(KinkLocator, "refine", lambda self, *a, **k: 1.0 - 1e-3)
    _ends_at_a_kink(_run(), plain, "0.001 of a step past its root")
