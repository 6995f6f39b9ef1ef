"""Discrete mirror descent (float64): for comparison with the flow and for larger networks.

Mirror descent with step η is the explicit Euler discretisation of the mirror flow in the dual
variable (THEORY.md §1-2):

    z_{k+1} = z_k - η ∇ℒ(θ_k),     θ_k = ∇φ*(z_k) = (f')^{-1}(z_k) coordinatewise,

with ∇ℒ = -ℒ Σ_i w_i ∇q_i, ℒ = exp(log ℒ) and w_i = -ℓ'(q_i)/ℒ from the log-domain loss
(:func:`numerics.problem.log_loss_and_weights`). Per step it conserves the balance law only up to
½η²[Σ_I (∂ℒ)²/f'' - k Σ_O (∂ℒ)²/f''] + O(η³) (THEORY.md §2).

**Clocks** (the flow's convention, shared by :func:`numerics.solve_float64` and the
arbitrary-precision paths: the run starts at t = 0, s = 0, so ``log_t[0] = -inf``):

* plain steps: t_k = η k, so ``log_t = log(η k)``; s_k = Σ_{j<k} η ℒ_j (explicit Euler of
  ds = ℒ dt);
* normalized steps: s_k = η k; t_{k+1} = t_k + η / ℒ_k (kept as log t by log-add-exp).

**Statuses** (:class:`numerics.solvers.Status`; the specific reason, naming the step, is in
``meta["reason"]`` and :attr:`MirrorFlowSolution.message`):

* ``"reached"``: all steps taken;
* ``"budget"``: ``max_seconds`` ran out;
* ``"stalled"``: plain steps no longer change z in float64 because ℒ underflowed or the update
  ηℒ∇ is below rounding (reason ``"stalled at step k: ..."``; use ``normalized=True``);
* ``"failed"``: non-finite θ, e.g. η too large (reason ``"non-finite θ at step k ..."``), or ℒ
  overflows float64 in a plain step;
* ``"interrupted"``: Ctrl-C; what was computed is returned.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..problem import Problem, log_loss_and_weights
from ._solution import MirrorFlowSolution
from ._status import Status

__all__ = ["mirror_descent"]

_USE_NORMALIZED = "use normalized=True (steps η/ℒ)"


def _check(eta: float, steps: int, record_every: int | None,
           max_seconds: float | None) -> tuple[float, int, int]:
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not (
            math.isfinite(eta) and eta > 0):
        raise ValueError(f"mirror_descent: step size eta must be a finite float > 0, got {eta!r}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"mirror_descent: steps must be an integer >= 1, got {steps!r}")
    steps = int(steps)
    if record_every is None:
        record_every = max(1, steps // 1000)
    if isinstance(record_every, bool) or not isinstance(record_every, int | np.integer) \
            or record_every < 1:
        raise ValueError(f"mirror_descent: record_every must be an integer >= 1 (or None for "
                         f"about 1000 recorded points), got {record_every!r}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"mirror_descent: max_seconds must be > 0 or None, got {max_seconds!r}")
    return float(eta), steps, int(record_every)


def _require_closed_form_inverse(problem: Problem) -> None:
    if not problem.has_closed_form_inverse:
        raise NotImplementedError(
            "mirror_descent needs a closed-form inverse mirror map (f')^{-1} for every layer's "
            "potential, and this problem's potential has none: use a potential with a "
            "closed-form inverse (quadratic, l_p, hyperbolic entropy, cosh, ...), or integrate "
            "the flow with solve_float64 (which falls back to the primal form)")


class _StepError(Exception):
    """A step that cannot be taken: the run ends with ``status`` and the specific ``reason``."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class _Descent:
    """The state of a run (step ``k``, θ, z and both clocks) and the states recorded so far."""

    problem: Problem
    eta: float
    normalized: bool
    theta: np.ndarray
    z: np.ndarray
    k: int = 0
    s: float = 0.0
    log_t: float = -math.inf
    evals: int = 0
    last_recorded: int = 0
    records: list[tuple[float, float, np.ndarray]] = field(default_factory=list)

    @classmethod
    def start(cls, problem: Problem, eta: float, normalized: bool) -> _Descent:
        """The state at step 0 (t = 0, s = 0), recorded."""
        theta = problem.theta0.copy()
        run = cls(problem, eta, normalized, theta, problem.mirror(theta))
        run.record()
        return run

    def record(self) -> None:
        """Record the current state."""
        self.records.append((self.s, self.log_t, self.theta.copy()))
        self.last_recorded = self.k

    def step(self) -> None:
        """Take step ``k + 1`` in place, or raise :class:`_StepError` leaving the state as is."""
        X, y, model = self.problem.data.X, self.problem.data.y, self.problem.model
        out, grads = model.outputs_and_grads(self.theta, X)
        self.evals += 1
        ll, w = log_loss_and_weights(y * out, self.problem.loss)
        force = (w * y) @ grads                              # -∇ log ℒ = Σ_i w_i ∇q_i
        if self.normalized:
            z_new = self.z + self.eta * force
            s_new = self.s + self.eta
            log_t_new = float(np.logaddexp(self.log_t, math.log(self.eta) - ll))
        else:
            z_new, s_new, log_t_new = self._plain_update(ll, force)
        with np.errstate(over="ignore", invalid="ignore"):   # reported as a failure
            theta_new = self.problem.inverse_mirror(z_new)
        if not (np.all(np.isfinite(theta_new)) and np.all(np.isfinite(z_new))):
            stiff = (" (fixed steps in s meet the stiffening of the time-changed flow)"
                     if self.normalized else "")
            raise _StepError(Status.FAILED, f"non-finite θ at step {self.k + 1} "
                                            f"(log ℒ = {ll:.6g}); reduce eta{stiff}")
        self.z, self.theta, self.s, self.log_t, self.k = (z_new, theta_new, s_new, log_t_new,
                                                          self.k + 1)

    def _plain_update(self, ll: float, force: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``z - η ∇ℒ`` and the clocks after a plain step from a state with log ℒ = ``ll``."""
        try:
            loss = math.exp(ll)
        except OverflowError:
            raise _StepError(Status.FAILED, f"ℒ = exp({ll:.6g}) overflows float64 at step "
                                            f"{self.k}; {_USE_NORMALIZED}") from None
        z_new = self.z + (self.eta * loss) * force           # z - η ∇ℒ
        if np.array_equal(z_new, self.z) and np.any(force != 0):
            raise _StepError(Status.STALLED,
                             f"stalled at step {self.k}: ℒ = exp({ll:.6g}) makes η ℒ ∇ log ℒ "
                             "vanish against z in float64, so plain steps no longer move; "
                             f"{_USE_NORMALIZED}")
        return z_new, self.s + self.eta * loss, math.log(self.eta * (self.k + 1))


def _descend(run: _Descent, steps: int, record_every: int, max_seconds: float | None,
             start: float, bar: Any) -> tuple[Status, str | None]:
    """Step ``run`` until ``steps``, the budget (counted from ``start``), a stop or Ctrl-C;
    returns ``(status, reason)``."""
    try:
        while run.k < steps:
            run.step()
            if run.k % record_every == 0 or run.k == steps:
                run.record()
                if bar is not None:
                    bar.update(run.k - bar.n)
                if max_seconds is not None and time.perf_counter() - start > max_seconds \
                        and run.k < steps:
                    return Status.BUDGET, None
    except _StepError as stop:
        return stop.status, stop.reason
    except KeyboardInterrupt:
        return Status.INTERRUPTED, None
    return Status.REACHED, None


def _solution(run: _Descent, status: Status, reason: str | None, steps: int, record_every: int,
              seconds: float) -> MirrorFlowSolution:
    """The :class:`MirrorFlowSolution` of a finished run (its last state is always recorded)."""
    if run.last_recorded != run.k:
        run.record()
    s, log_t, thetas = zip(*run.records, strict=True)
    kind = "normalized (explicit Euler in s)" if run.normalized else "plain"
    clock = ("s_k = eta k, t_(k+1) = t_k + eta/L_k" if run.normalized
             else "t_k = eta k, s_(k+1) = s_k + eta L_k")
    return MirrorFlowSolution.from_states(
        run.problem, s=np.array(s), log_t=np.array(log_t), thetas=np.array(thetas),
        status=status, method=f"mirror descent, {kind}, eta={run.eta!r} (float64)",
        precision_bits=53, rhs_evals=run.evals, seconds=seconds,
        extra={"eta": run.eta, "steps_requested": steps, "steps_done": run.k,
               "normalized": run.normalized, "record_every": record_every, "clock": clock,
               **({"reason": reason} if reason else {})})


def mirror_descent(problem: Problem, eta: float, steps: int, *, record_every: int | None = None,
                   normalized: bool = False, max_seconds: float | None = None,
                   progress: bool = False) -> MirrorFlowSolution:
    """Run ``steps`` steps of mirror descent z_{k+1} = z_k - η ∇ℒ(θ_k) in float64.

    Parameters
    ----------
    problem : Problem
        Every layer's potential needs a closed-form inverse mirror map (f')^{-1}
        (``problem.has_closed_form_inverse``).
    eta : float
        Step size η > 0.
    steps : int
        Number of steps (≥ 1).
    record_every : int, optional
        Record θ every this many steps (the first and the last state are always recorded);
        default ``max(1, steps // 1000)``.
    normalized : bool
        If True, take steps η/ℒ_k in t, i.e. z_{k+1} = z_k + η Σ_i w_i ∇q_i: the explicit Euler
        method with step η for the time-changed flow dz/ds = -∇ log ℒ (ds = ℒ dt, THEORY.md §7),
        which keeps moving when ℒ is far below the float64 range. The time-changed system is
        stiff (THEORY.md §7): its fast components stiffen as θ grows (for the hyperbolic
        entropy dθ/dz = sqrt(θ² + b²)), so a fixed step in s that is stable early can blow
        up later (status ``"failed"``, reason ``"non-finite θ ..."``); plain steps shrink with
        ℒ and do not.
    max_seconds : float, optional
        Wall-clock budget; on expiry the run stops with status ``"budget"``. Default: none.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    MirrorFlowSolution
        Built with :meth:`MirrorFlowSolution.from_states`; the clocks and the statuses
        (``"reached"``, ``"budget"``, ``"stalled"``, ``"failed"``, ``"interrupted"``, with the
        specific reason in ``meta["reason"]``) are described in the module docstring.
        ``rhs_evals`` counts gradient evaluations.

    Raises
    ------
    ValueError
        For η ≤ 0, steps < 1 or a bad ``record_every`` / ``max_seconds``.
    NotImplementedError
        If a potential has no closed-form inverse mirror map.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sol = mirror_descent(prob, eta=0.1, steps=200, record_every=50)
    >>> sol.status, len(sol.log_t), round(float(sol.log_t[-1]), 6)   # t = 0.1 * 200
    ('reached', 5, 2.995732)
    >>> bool(np.all(np.diff(sol.log_loss) < 0))
    True
    """
    eta, steps, record_every = _check(eta, steps, record_every, max_seconds)
    _require_closed_form_inverse(problem)
    start = time.perf_counter()
    run = _Descent.start(problem, eta, normalized)
    bar = None
    if progress:
        from tqdm import tqdm  # deferred: ~50 ms at import, needed only for a progress bar

        bar = tqdm(total=steps, unit="step", desc=f"mirror descent (eta={eta:g})")
    try:
        status, reason = _descend(run, steps, record_every, max_seconds, start, bar)
    finally:
        if bar is not None:
            bar.close()
    return _solution(run, status, reason, steps, record_every, time.perf_counter() - start)
