"""Float64 runs of the battery and what every check needs to read them.

:func:`integrate` runs :func:`numerics.solve_float64` under a hard wall-clock limit;
:func:`working_epsilon` is the working precision that tolerances scale with; :data:`BANDS`
states the tolerance factors and slope bands; :func:`checkpoint_indices`, :func:`status_note`
and :func:`fmt` pick points of a run and format what the checks report.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from numpy.typing import NDArray

from theory import wall_clock_limit

from ..problem import Problem
from ..solvers import MirrorFlowSolution, choose_state, solve_float64

__all__ = ["BANDS", "RTOL", "Deadline", "checkpoint_indices", "deadline", "fmt", "integrate",
           "status_note", "working_epsilon"]

#: Tolerance factors and slope bands (measured on the built-in families and random sums; see
#: ``tests/test_properties.py``). ``balance``, ``identity`` and ``smoothed`` multiply the working
#: epsilon; ``loss`` is an absolute band on d log ℒ / d log t; ``primal`` and ``dual`` are relative
#: bands on d log ‖·‖ / d log log t, relative to max(|predicted slope|, 0.1) (so dual slopes
#: below 0.1, from log-type mirror maps such as asinh, are checked to ±0.015 absolute: ‖z‖_∞ =
#: f'(‖θ‖_∞) differs from f'(ρ) by a factor inside the log that fades only like 1/log ρ).
BANDS: dict[str, float] = {
    "balance": 100.0,
    "identity": 10.0,
    "smoothed": 1000.0,
    "loss": 0.02,
    "primal": 0.1,
    "dual": 0.15,
}

#: Default integration tolerance of the battery.
RTOL = 1e-10


class Deadline(KeyboardInterrupt):
    """Raised by the wall-clock alarm; solve_float64 turns it into status 'interrupted'."""


def deadline(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Hard wall-clock limit raising :class:`Deadline` (nests with theory's symbolic limits).

    ``solve_float64`` checks its budget only every 64 right-hand sides, and checks may call
    slow symbolic code; the alarm bounds both.

    Examples
    --------
    >>> with deadline(5.0):
    ...     pass
    """
    return wall_clock_limit(seconds, Deadline)


def integrate(problem: Problem, log_t: float, *, rtol: float = RTOL,
              max_seconds: float = 30.0) -> MirrorFlowSolution:
    """Float64 mirror flow to ``log t = log_t`` with a hard wall-clock limit.

    :func:`numerics.solve_float64` with ``atol = rtol / 100``; the run is interrupted after
    ``1.5 max_seconds + 1`` seconds even inside one scipy call (status ``"interrupted"``).
    ``meta["rtol"]`` records the tolerance.

    Raises
    ------
    TimeoutError
        If the run does not return within ``1.5 max_seconds + 1`` seconds.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear
    >>> from numerics.checks import planted_dataset
    >>> prob = Problem.create(planted_dataset([1.0, 0.3]), Linear(), Potential.quadratic())
    >>> sol = integrate(prob, 20.0)
    >>> sol.status, sol.meta["rtol"]
    ('reached', 1e-10)
    """
    # compile f', f'', g and, for the dual state, (f')^{-1} first: their sympy derivations
    # run under theory's own SIGALRM timeout, which would cancel the deadline below
    th0 = problem.theta0
    problem.mirror(th0), problem.hessian_diag(th0), problem.balance_terms(th0)
    if choose_state(problem) == "dual":
        problem.inverse_mirror(problem.mirror(th0))
    limit = 1.5 * max_seconds + 1.0
    try:
        with deadline(limit):
            sol = solve_float64(problem, log_t=log_t, rtol=rtol, atol=rtol * 1e-2,
                                max_seconds=max_seconds)
    except Deadline:
        raise TimeoutError(f"mirror flow did not return within {limit:.0f} s "
                           f"(log t target {log_t})") from None
    sol.meta["rtol"] = rtol
    return sol


def working_epsilon(solution: MirrorFlowSolution, rtol: float | None = None) -> float:
    """The working precision of a run: ``max(rtol, 2**(1 - precision_bits))``.

    Examples
    --------
    >>> sol = MirrorFlowSolution(*[np.zeros(1)] * 7, "", "", 53, 0, 0.0, {"rtol": 1e-10})
    >>> working_epsilon(sol), working_epsilon(sol, rtol=0.0)
    (1e-10, 2.220446049250313e-16)
    """
    if rtol is None:
        rtol = float(solution.meta.get("rtol", 0.0))
    return max(float(rtol), 2.0 ** (1 - solution.precision_bits))


def checkpoint_indices(solution: MirrorFlowSolution, n: int, low: float | None = None
                ) -> NDArray[np.intp]:
    """Indices of recorded points nearest to n log-spaced values of log t in [low, end].

    ``low`` defaults to a sixteenth of the final log t.

    Examples
    --------
    >>> lt = np.linspace(0.0, 16.0, 17)
    >>> sol = MirrorFlowSolution(lt, lt, *[np.zeros(17)] * 5, "", "", 53, 0, 0.0, {})
    >>> checkpoint_indices(sol, 3).tolist()
    [1, 4, 16]
    """
    lt = solution.log_t
    end = float(lt[-1])
    low = max(min(low if low is not None else end / 16, end), 1e-3)
    targets = np.geomspace(low, end, n)
    idx = np.searchsorted(lt, targets)
    return np.unique(np.clip(idx, 0, len(lt) - 1))


def status_note(solution: MirrorFlowSolution) -> str:
    """``""`` for a run that reached its target, else a note naming the status.

    Examples
    --------
    >>> sol = MirrorFlowSolution(*[np.ones(1)] * 7, "budget", "", 53, 0, 0.0, {})
    >>> status_note(sol)
    " [run stopped early: status 'budget' at log t = 1]"
    """
    if solution.status in ("reached", "log_loss_target"):
        return ""
    return f" [run stopped early: status {solution.status!r} at log t = {solution.log_t[-1]:.3g}]"


def fmt(v: float) -> str:
    """Three significant digits, or ``inf`` / ``nan``.

    Examples
    --------
    >>> fmt(1234.5), fmt(float("nan"))
    ('1.23e+03', 'nan')
    """
    return f"{v:.3g}" if math.isfinite(v) else str(v)
