"""Mirror descent with a backtracking step size: :func:`safeguarded_descent`.

Plain steps z ← z - η∇ℒ (:func:`numerics.mirror_descent`) in chunks; a chunk that diverges or
increases the loss is recomputed from the last accepted state with η/2, and η grows after an
accepted chunk. Used by claim 3 on MNIST and by the ``mirror_descent`` task kind of
:mod:`numerics.sweeps`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..problem import Problem, log_loss_and_weights
from ._mirror_descent import mirror_descent

__all__ = ["Descent", "compared_state", "safeguarded_descent"]


def compared_state(log_loss: Any, target: float = 0.0) -> int:
    """Index of the first recorded state with log ℒ ≤ ``target``, else of the last one.

    Examples
    --------
    >>> compared_state([3.0, 0.5, -0.1, -2.0]), compared_state([3.0, 2.0])
    (2, 1)
    >>> compared_state([3.0, 0.5, -0.1, -2.0], target=-1.0)
    3
    """
    below = np.flatnonzero(np.asarray(log_loss, dtype=float) <= target)
    return int(below[0]) if below.size else len(log_loss) - 1


@dataclass
class Descent:
    """A mirror-descent run in chunks: the states at chunk ends and the step sizes used."""

    steps: list[int]
    thetas: list[np.ndarray]
    log_loss: list[float]
    min_margin: list[float]
    eta: float
    halvings: int = 0                       # rejected chunks
    status: str = "reached"
    seconds: float = 0.0

    def record(self, target_log_loss: float | None = None) -> dict[str, Any]:
        """The run as plain JSON data: its recorded curves, the final θ and the θ compared.

        The compared state is :func:`compared_state` of ``log_loss`` with
        ``target_log_loss`` (the last state without a target).

        Examples
        --------
        >>> run = Descent([0, 50], [np.zeros(2), np.ones(2)], [0.5, -1.0], [0.0, 0.2], 0.1)
        >>> rec = run.record(target_log_loss=0.0)
        >>> rec["compared_index"], rec["theta_compared"], rec["status"]
        (1, [1.0, 1.0], 'reached')
        """
        k = len(self.log_loss) - 1 if target_log_loss is None else \
            compared_state(self.log_loss, target_log_loss)
        return {"status": self.status, "eta_final": float(self.eta), "halvings": self.halvings,
                "seconds": float(self.seconds), "steps": [int(s) for s in self.steps],
                "log_loss": [float(v) for v in self.log_loss],
                "min_margin": [float(v) for v in self.min_margin], "compared_index": k,
                "theta_compared": np.asarray(self.thetas[k], dtype=float).tolist(),
                "theta_final": np.asarray(self.thetas[-1], dtype=float).tolist()}


def safeguarded_descent(problem: Problem, eta: float, steps: int, chunk: int, *,
                        target_log_loss: float | None = None, grow: float = 1.25,
                        max_halvings: int = 30, max_seconds: float = 120.0) -> Descent:
    """:func:`numerics.mirror_descent` in chunks of ``chunk`` plain steps with a backtracking
    step size: a chunk that fails (non-finite θ, overflow) or ends with a larger loss than it
    started with is rejected and recomputed from the last accepted state with η/2; after an
    accepted chunk η grows by ``grow``.

    Plain steps z ← z - η∇ℒ are stable while η·|∇ℒ| stays small in the dual variable; the
    hyperbolic entropy multiplies a weight by about exp(Δz) per step, so a fixed step size that
    is stable early can blow up once a few weights and ℒ are both large, and one that is safe
    throughout is very slow. Ends after ``steps`` accepted steps, at the first accepted state
    with log ℒ ≤ ``target_log_loss``, with ``status`` ``"failed"`` after ``max_halvings``
    rejected chunks in a row (η cut by 2^max_halvings without progress), or ``"budget"``
    after ``max_seconds``. ``halvings`` counts every rejected chunk: with ``grow`` > 1 a long
    run rejects one now and then by design (η grows until a chunk fails), which is not a
    failure.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> run = safeguarded_descent(prob, eta=0.1, steps=200, chunk=50, grow=1.0)
    >>> run.steps, run.status, run.halvings, bool(np.all(np.diff(run.log_loss) < 0))
    ([0, 50, 100, 150, 200], 'reached', 0, True)
    """
    start = time.perf_counter()
    q0 = problem.data.y * problem.model.outputs(problem.theta0, problem.data.X)
    run = Descent([0], [problem.theta0], [float(log_loss_and_weights(q0, problem.loss)[0])],
                  [float(q0.min())], float(eta))
    in_a_row = 0                                       # rejected chunks since the last accepted
    while run.steps[-1] < steps:
        if target_log_loss is not None and run.log_loss[-1] <= target_log_loss:
            break
        if time.perf_counter() - start > max_seconds:
            run.status = "budget"
            break
        n = min(chunk, steps - run.steps[-1])
        with np.errstate(over="ignore", invalid="ignore"):   # a diverging chunk: rejected
            sol = mirror_descent(replace(problem, theta0=run.thetas[-1]), eta=run.eta,
                                 steps=n, record_every=n)
        ok = sol.status == "reached" and bool(np.all(np.isfinite(sol.theta[-1])))
        if not ok or sol.log_loss[-1] > run.log_loss[-1]:
            if in_a_row == max_halvings:
                run.status = "failed"
                break
            run.eta, run.halvings, in_a_row = run.eta / 2, run.halvings + 1, in_a_row + 1
            continue
        in_a_row = 0
        run.steps.append(run.steps[-1] + n)
        run.thetas.append(sol.theta[-1])
        run.log_loss.append(float(sol.log_loss[-1]))
        run.min_margin.append(float(sol.min_margin[-1]))
        run.eta *= grow
    run.seconds = time.perf_counter() - start
    return run
