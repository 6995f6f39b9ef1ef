"""Discrete mirror descent (float64): for comparison with the flow and for larger networks.

Mirror descent with step η is the explicit Euler discretisation of the mirror flow in the dual
variable (THEORY.md §1-2):

    z_{k+1} = z_k - η ∇ℒ(θ_k),     θ_k = ∇φ*(z_k) = (f')^{-1}(z_k) coordinatewise,

with ∇ℒ = -ℒ Σ_i w_i ∇q_i, ℒ = exp(log ℒ) and w_i = -ℓ'(q_i)/ℒ from the log-domain loss
(:func:`numerics.problem.log_loss_and_weights`). Per step it conserves the balance law only up to
½η²[Σ_I (∂ℒ)²/f'' - k Σ_O (∂ℒ)²/f''] + O(η³) (THEORY.md §2).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..problem import Problem, log_loss_and_weights
from ._solution import MirrorFlowSolution

__all__ = ["mirror_descent"]


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
        up later (status ``"failed: non-finite ..."``); plain steps shrink with ℒ and do not.
    max_seconds : float, optional
        Wall-clock budget; on expiry the run stops with status ``"budget"``. Default: none.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    MirrorFlowSolution
        Built with :meth:`MirrorFlowSolution.from_states`. **Clocks** (the flow's convention of
        :func:`numerics.solve_float64`: the run starts at t = 1, s = 0):

        * plain: t_k = 1 + η k, so ``log_t = log1p(η k)``; s_k = Σ_{j<k} η ℒ_j (explicit
          Euler of ds = ℒ dt);
        * normalized: s_k = η k; t_{k+1} = t_k + η / ℒ_k (kept as log t by log-add-exp).

        ``status``: ``"reached"`` (all steps), ``"budget"``, ``"stalled: ..."`` (plain steps
        no longer change z in float64 because ℒ underflowed or the update ηℒ∇ is below
        rounding; use ``normalized=True``), ``"failed: ..."`` (non-finite θ, e.g. η too
        large), ``"interrupted"`` (Ctrl-C; what was computed is returned).
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
    >>> from numerics.problem import two_d
    >>> from numerics.problem import Linear
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sol = mirror_descent(prob, eta=0.1, steps=200, record_every=50)
    >>> sol.status, len(sol.log_t), round(float(sol.log_t[-1]), 6)   # t = 1 + 0.1 * 200
    ('reached', 5, 3.044522)
    >>> bool(np.all(np.diff(sol.log_loss) < 0))
    True
    """
    eta, steps, record_every = _check(eta, steps, record_every, max_seconds)
    if not problem.has_closed_form_inverse:
        raise NotImplementedError(
            "mirror_descent needs a closed-form inverse mirror map (f')^{-1} for every layer's "
            "potential, and this problem's potential has none: use a potential with a "
            "closed-form inverse (quadratic, l_p, hyperbolic entropy, cosh, ...), or integrate "
            "the flow with solve_float64 (which falls back to the primal form)")
    X, y, model = problem.data.X, problem.data.y, problem.model
    log_eta = math.log(eta)
    theta = problem.theta0.copy()
    z = problem.mirror(theta)
    k, s, log_t = 0, 0.0, 0.0
    rec_s, rec_logt, rec_theta = [s], [log_t], [theta.copy()]
    status, evals, last_recorded = "reached", 0, 0
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, unit="step", desc=f"mirror descent (eta={eta:g})")
    try:
        while k < steps:
            out, grads = model.outputs_and_grads(theta, X)
            evals += 1
            ll, w = log_loss_and_weights(y * out, problem.loss)
            force = (w * y) @ grads                          # -∇ log ℒ = Σ_i w_i ∇q_i
            if normalized:
                z_new = z + eta * force
                s_new, log_t_new = s + eta, float(np.logaddexp(log_t, log_eta - ll))
            else:
                try:
                    loss = math.exp(ll)
                except OverflowError:
                    status = (f"failed: ℒ = exp({ll:.6g}) overflows float64 at step {k}; "
                              "use normalized=True (steps η/ℒ)")
                    break
                z_new = z + (eta * loss) * force             # z - η ∇ℒ
                s_new, log_t_new = s + eta * loss, math.log1p(eta * (k + 1))
                if np.array_equal(z_new, z) and np.any(force != 0):
                    status = (f"stalled at step {k}: ℒ = exp({ll:.6g}) makes η ℒ ∇ log ℒ "
                              "vanish against z in float64, so plain steps no longer move; "
                              "use normalized=True (steps η/ℒ)")
                    break
            with np.errstate(over="ignore", invalid="ignore"):   # reported in status
                theta_new = problem.inverse_mirror(z_new)
            if not (np.all(np.isfinite(theta_new)) and np.all(np.isfinite(z_new))):
                status = (f"failed: non-finite θ at step {k + 1} (log ℒ = {ll:.6g}); "
                          "reduce eta" + (" (fixed steps in s meet the stiffening of the "
                                          "time-changed flow)" if normalized else ""))
                break
            z, theta, s, log_t, k = z_new, theta_new, s_new, log_t_new, k + 1
            if k % record_every == 0 or k == steps:
                rec_s.append(s)
                rec_logt.append(log_t)
                rec_theta.append(theta.copy())
                last_recorded = k
                if bar is not None:
                    bar.update(k - bar.n)
                if max_seconds is not None and time.perf_counter() - start > max_seconds \
                        and k < steps:
                    status = "budget"
                    break
    except KeyboardInterrupt:
        status = "interrupted"
    if bar is not None:
        bar.close()
    if last_recorded != k:                               # the last state is always recorded
        rec_s.append(s)
        rec_logt.append(log_t)
        rec_theta.append(theta.copy())
    kind = "normalized (explicit Euler in s)" if normalized else "plain"
    return MirrorFlowSolution.from_states(
        problem, s=np.array(rec_s), log_t=np.array(rec_logt), thetas=np.array(rec_theta),
        status=status, method=f"mirror descent, {kind}, eta={eta!r} (float64)",
        precision_bits=53, rhs_evals=evals, seconds=time.perf_counter() - start,
        extra={"eta": eta, "steps_requested": steps, "steps_done": k, "normalized": normalized,
               "record_every": record_every,
               "clock": "s_k = eta k, t_(k+1) = t_k + eta/L_k" if normalized
               else "t_k = 1 + eta k, s_(k+1) = s_k + eta L_k"})
