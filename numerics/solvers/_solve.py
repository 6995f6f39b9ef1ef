"""The one entry point: :func:`solve_mirror_flow` (and :func:`resume`).

Each result carries a certificate: the same run repeated at a tighter tolerance (float64)
or higher precision (arbitrary precision), and the number of agreeing significant digits of
the final direction θ/‖θ‖ and of the final minimal margin (``meta["digits"]``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from typing import Any

import mpmath
import numpy as np

from ..problem import Problem
from ._float64 import solve_float64
from ._plan import (
    IntegrationPlan,
    auto_method,
    check_separable,
    has_linf_horizon,
    is_network,
    linf_stiffness_reason,
    plan_run,
)
from ._precision import Precision
from ._solution import MirrorFlowSolution, balance_residuals
from ._status import Status
from ._stuck import at_rest_reason

__all__ = ["agreeing_digits", "margin_scale", "resume", "solve_mirror_flow",
           "unit_direction_mp"]

_PLAN_KEYS = ("method", "state", "logt_mode", "tol", "heyoka_options")


def agreeing_digits(a, b, cap: float = 60.0, scale: float = 0.0) -> float:
    """Significant digits on which ``a`` and ``b`` agree (max-norm, relative to ``b``, or to
    ``scale`` where that is larger).

    mpmath numbers are compared in mpmath (no rounding to float64 first). ``scale`` gives a
    quantity that may be exactly 0 its size (:func:`margin_scale` for the minimum margin): its
    digits then count at that scale, as absolute error.

    Examples
    --------
    >>> agreeing_digits([1.0, 2.0], [1.0, 2.000001])
    6.3...
    >>> agreeing_digits([1.0], [1.0])
    60.0
    >>> agreeing_digits([-0.0], [-5e-56]), round(agreeing_digits([-0.0], [-5e-56], scale=10.0), 3)
    (0.0, 56.301)
    >>> import mpmath
    >>> with mpmath.workdps(50):
    ...     round(agreeing_digits([mpmath.mpf(1)], [1 + mpmath.mpf(10) ** -40]), 6)
    40.0
    """
    if any(isinstance(v, mpmath.mpf) for v in np.ravel(np.asarray(a, dtype=object))):
        with mpmath.workdps(int(cap) + 20):
            av = [mpmath.mpf(v) for v in np.ravel(np.asarray(a, dtype=object))]
            bv = [mpmath.mpf(v) for v in np.ravel(np.asarray(b, dtype=object))]
            size = max(max(abs(v) for v in bv), mpmath.mpf(scale), mpmath.mpf(10) ** -300)
            err = max(abs(x - y) for x, y in zip(av, bv, strict=True))
            return cap if err == 0 else float(min(cap, max(0, -mpmath.log10(err / size))))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    size = max(float(np.max(np.abs(b))), float(scale), 1e-300)
    err = float(np.max(np.abs(a - b)))
    return cap if err == 0 else float(min(cap, max(0.0, -math.log10(err / size))))


def margin_scale(problem: Problem, theta) -> float:
    """The size the minimum margin's digits are counted at: the largest ``|q_i(θ)|`` (float64).

    The minimum margin is a sum of terms of about that size, so its error at any precision is
    relative to it; and it is exactly 0 on a network that holds a sample at its units' kinks
    (a stuck sample), where relative digits mean nothing: a float64 run with -0.0 counted 0
    digits against a 30-digit run's -5e-56, and a Radau run's certificate 0 against its own
    reference (issue 10's battery, exp(x²/2) on a width-2 ReLU net).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(4, seed=0), Linear(), Potential.quadratic())
    >>> theta = np.array([1.0, 0.0])
    >>> margin_scale(prob, theta) == float(np.max(np.abs(prob.data.X[:, 0])))
    True
    """
    th = np.array([float(v) for v in np.ravel(theta)])
    if not np.all(np.isfinite(th)):
        raise ValueError("margin_scale: theta has non-finite entries (NaN or inf); pass the "
                         "parameters of a finished run")
    return float(np.max(np.abs(problem.data.y * problem.model.outputs(th, problem.data.X))))


def unit_direction_mp(theta) -> list:
    """``θ / ‖θ‖`` (Euclidean) in mpmath at the working precision; entries may be mpf, float
    or decimal strings.

    Examples
    --------
    >>> [float(v) for v in unit_direction_mp(["3", 4.0])]
    [0.6, 0.8]
    """
    v = [mpmath.mpf(x) for x in theta]
    n = mpmath.sqrt(mpmath.fsum(x * x for x in v))
    if not (n > 0 and mpmath.isfinite(n)):
        raise ValueError(f"θ = {[mpmath.nstr(x, 5) for x in v][:6]} has no direction: its norm "
                         f"is {mpmath.nstr(n, 5)} (need a finite, nonzero θ)")
    return [x / n for x in v]


def _certify(problem: Problem, sol: MirrorFlowSolution, ref: MirrorFlowSolution
             ) -> dict[str, float]:
    """Digits of ``sol`` against ``ref``: direction, minimum margin (at
    :func:`margin_scale`), log loss."""
    scale = margin_scale(problem, ref.theta[-1])
    if sol.theta_mp is not None and ref.theta_mp is not None:
        with mpmath.workdps(int(ref.meta.get("dps_stored", 40)) + 10):
            return {"direction": agreeing_digits(unit_direction_mp(sol.theta_mp[-1]),
                                                 unit_direction_mp(ref.theta_mp[-1]), 100),
                    "margin": agreeing_digits([sol.min_margin_mp[-1]], [ref.min_margin_mp[-1]],
                                              100, scale),
                    "log_loss": agreeing_digits([sol.log_loss_mp[-1]], [ref.log_loss_mp[-1]],
                                                100)}

    def direction(s):
        th = s.theta[-1]
        return th / np.linalg.norm(th)
    return {"direction": agreeing_digits(direction(sol), direction(ref)),
            "margin": agreeing_digits([sol.min_margin[-1]], [ref.min_margin[-1]], scale=scale),
            "log_loss": agreeing_digits([sol.log_loss[-1]], [ref.log_loss[-1]])}


class _LogProgress:
    """A tqdm bar in log10(1 + log t): runs to log t = 1e16 show steady progress."""

    def __init__(self, target: float, desc: str) -> None:
        from tqdm import tqdm
        self.desc = desc
        self.scale = math.log10(1.0 + max(target, 1e-300))
        self.bar = tqdm(total=1000, desc=desc, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                        "[{elapsed}<{remaining}]")

    def __call__(self, logt: float) -> None:
        done = int(1000 * math.log10(1.0 + max(logt, 0.0)) / self.scale)
        self.bar.update(max(0, min(1000, done) - self.bar.n))
        self.bar.set_description_str(f"{self.desc}, log t = {logt:.4g}", refresh=False)

    def close(self) -> None:
        self.bar.close()


#: The integrators' counters (``meta["solver"]``) that add up over a run's segments; the other
#: entries describe the last segment (its precision, tolerance, activation pattern, reason).
ADDITIVE_STATS = frozenset({
    "steps", "rejected", "seconds", "cpu_seconds", "compile_seconds", "sliding_compile_seconds",
    "newton_iterations", "newton_failures", "jacobian_evaluations", "jacobian_refreshes",
    "rhs_evaluations", "lu_factorizations", "extended_solves", "fast_eliminations",
    "kinks_cut", "kinks_refined", "kinks_crossed", "kink_bridges", "sliding_bridges",
    "sliding_projections", "kinks_switched_off", "kinks_nudged"})


def merge_solver_stats(head: dict[str, Any], tail: dict[str, Any]) -> dict[str, Any]:
    """The solver statistics of a run made of two segments: :data:`ADDITIVE_STATS` summed,
    the kink crossings listed, the largest sliding drift and heyoka's log lines of both;
    the rest the tail's.

    >>> merge_solver_stats({"steps": 3, "prec": 199, "kink_crossings": [[1.0, 2.0, 0.0, 1.0]]},
    ...                    {"steps": 4, "prec": 512, "kink_crossings": []})
    {'steps': 7, 'prec': 512, 'kink_crossings': [[1.0, 2.0, 0.0, 1.0]]}
    """
    out = dict(tail)
    for key in ADDITIVE_STATS & head.keys() & tail.keys():
        out[key] = head[key] + tail[key]
    if isinstance(head.get("kink_crossings"), list) and "kink_crossings" in tail:
        out["kink_crossings"] = [*head["kink_crossings"], *tail["kink_crossings"]]
    for key in ("sliding_drift_max", "newton_rows_max"):   # the largest of the whole run
        if key in head and key in tail:
            out[key] = max(head[key], tail[key])
    messages = [head.get("heyoka_messages"), tail.get("heyoka_messages")]
    if all(messages):     # heyoka's log lines of the whole run, not of the last segment
        first = [m["first"] for m in messages if "first" in m]
        out["heyoka_messages"] = {"count": sum(m["count"] for m in messages),
                                  **({"first": first[0]} if first else {})}
    return out


def _concat_precise(head: MirrorFlowSolution, tail: MirrorFlowSolution) -> MirrorFlowSolution:
    """``head`` followed by ``tail`` (which starts where ``head`` ended and measures its
    balance residuals from ``head``'s first point: nothing is recomputed)."""
    cat = {k: np.concatenate([getattr(head, k), getattr(tail, k)[1:]])
           for k in ("log_t", "s", "theta", "z", "log_loss", "min_margin", "theta_mp",
                     "log_loss_mp", "min_margin_mp", "balance_residual_max")}
    meta = {**tail.meta, "segments": head.meta.get("segments", 1) + 1}
    if "bits_raised" in head.meta:     # the working precisions the run was continued at
        meta["bits_raised"] = head.meta["bits_raised"]
    meta["solver"] = merge_solver_stats(head.meta.get("solver", {}), tail.meta.get("solver", {}))
    return replace(tail, **cat, rhs_evals=head.rhs_evals + tail.rhs_evals,
                   seconds=head.seconds + tail.seconds, meta=meta)


def _run_precise(problem: Problem, *, log_t: float, dps: int, max_seconds: float,
                 label: str, progress: bool, start: MirrorFlowSolution | None = None,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: float = 60.0,
                 **kw) -> MirrorFlowSolution:
    """One precise run, in segments of ``checkpoint_every`` seconds saved to ``checkpoint``.

    The run is planned once (:func:`plan_run`); every segment follows that plan."""
    from .precise import PreciseRun  # heyoka (0.6 s to import) is loaded for dps runs only

    if kw.pop("log_loss", None) is not None:
        raise NotImplementedError("log_loss early stop is float64-only for now; use log_t")
    plan = plan_run(problem, dps=dps, log_t=log_t,
                    **{k: kw.pop(k) for k in _PLAN_KEYS if k in kw})
    per_decade = kw.pop("per_decade", 8)
    if kw:
        raise TypeError(f"unknown options {sorted(kw)} for a dps=... run; see solve_mirror_flow")
    runner = PreciseRun(problem, plan)     # compiled once, reused by every segment
    bar = _LogProgress(log_t, f"mirror flow ({label})") if progress else None
    deadline = time.monotonic() + max_seconds
    sol = start
    try:
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            seg_budget = min(remaining, checkpoint_every) if checkpoint else remaining
            try:
                seg = runner.segment(log_t=log_t, max_seconds=seg_budget,
                                     per_decade=per_decade, start=sol, progress=bar)
                sol = seg if sol is None else _concat_precise(sol, seg)
                if checkpoint is not None:
                    sol.save(checkpoint)
            except KeyboardInterrupt:
                # Ctrl-C between two steps' handlers (start-up, read-out, saving): keep what
                # the earlier segments computed, as a Ctrl-C inside a segment does
                if sol is None:
                    raise
                return _interrupted(sol, checkpoint)
            raised = _raised_plan(plan, seg)
            if raised is not None and time.monotonic() < deadline:
                plan, runner = raised, PreciseRun(problem, raised)
                sol = replace(sol, meta={**sol.meta, "bits_raised": [
                    *sol.meta.get("bits_raised", []), raised.precision.bits]})
                continue
            if seg.status != "budget" or time.monotonic() >= deadline:
                break
        if bar is not None:
            bar(float(sol.log_t[-1]))
        return mark_at_rest(problem, _with_stiffness_reason(problem, sol, plan.method))
    finally:
        if bar is not None:
            bar.close()


#: The most bits a Radau run raises its working precision to (:func:`_raised_plan`).
MAX_RAISED_BITS = 4096


def _raised_plan(plan: IntegrationPlan, seg: MirrorFlowSolution) -> IntegrationPlan | None:
    """The plan to continue a Radau segment at more bits, if it stopped because its Jacobians'
    digits (not the step size) were short (``meta["solver"]["raise_bits"]``,
    :func:`numerics.solvers.precise.raised_bits`), else None.  The tolerance stays the run's:
    only the working precision rises."""
    bits = seg.meta.get("solver", {}).get("raise_bits")
    if seg.status != Status.STALLED or not bits or bits > MAX_RAISED_BITS:
        return None
    assert plan.precision is not None
    tol = plan.tol if plan.tol is not None else seg.meta["solver"]["tol"]
    return replace(plan, tol=tol, precision=replace(plan.precision, bits=int(bits)))


def _with_stiffness_reason(problem: Problem, sol: MirrorFlowSolution,
                           method: str) -> MirrorFlowSolution:
    """A Taylor run of an l_inf potential that stopped short says why first
    (:func:`~numerics.solvers._plan.linf_stiffness_reason`)."""
    why = linf_stiffness_reason(problem, method)
    if why is None or sol.status not in (Status.BUDGET, Status.STALLED, Status.CLOCK_LIMIT):
        return sol
    reason = "; ".join(filter(None, [why, sol.meta.get("reason")]))
    return replace(sol, meta={**sol.meta, "reason": reason})


def mark_at_rest(problem: Problem, sol: MirrorFlowSolution) -> MirrorFlowSolution:
    """``sol`` with status ``"stuck"`` if it reached its target on a network at rest
    (:func:`~numerics.solvers._stuck.at_rest_reason` at its last point), else ``sol``."""
    if sol.status != "reached" or not is_network(problem.model):
        return sol
    reason = at_rest_reason(problem, sol.theta[-1])
    if reason is None:
        return sol
    return replace(sol, status=Status.STUCK,
                   meta={**sol.meta, "reason": f"{reason} (at log t = {sol.log_t[-1]:g})"})


def _interrupted(sol: MirrorFlowSolution,
                 checkpoint: str | os.PathLike | None) -> MirrorFlowSolution:
    """``sol`` marked as interrupted by Ctrl-C (and saved to ``checkpoint``)."""
    sol = replace(sol, status=Status.INTERRUPTED,
                  meta={**sol.meta, "reason": "interrupted (Ctrl-C) between checkpoint "
                                              f"segments at log t = {sol.log_t[-1]:g}"})
    if checkpoint is not None:
        sol.save(checkpoint)
    return sol


#: Most digits a repeat may add above ``dps`` (a larger shortfall points at the problem, e.g.
#: an ill-conditioned read-out, rather than at the guard digits).
MAX_RAISE_DIGITS = 8


def _solve_precise_certified(problem: Problem, *, log_t: float, dps: int, max_seconds: float,
                             certify: bool, progress: bool, ensure_digits: bool = True,
                             **kw) -> MirrorFlowSolution:
    checkpoint = kw.pop("checkpoint", None)
    sol = _run_precise(problem, log_t=log_t, dps=dps, max_seconds=max_seconds,
                       label=f"{dps} digits", progress=progress, checkpoint=checkpoint, **kw)
    if certify and sol.status == "reached":
        method = "radau" if sol.method.startswith("radau") else "taylor"
        ref_dps = Precision.for_method(method, dps).certificate(method).dps
        try:
            ref = _run_precise(problem, log_t=log_t, dps=ref_dps, max_seconds=max_seconds,
                               label=f"certificate, {ref_dps} digits", progress=progress,
                               **kw)
        except KeyboardInterrupt:
            sol.meta["certificate"] = (f"none: the certificate run at {ref_dps} digits was "
                                       "interrupted (Ctrl-C); the run itself is complete")
            ref = None
        if ref is not None and ref.status == "reached":
            sol.meta["digits"] = _certify(problem, sol, ref)
            sol.meta["certificate"] = (f"same run at {ref_dps} digits "
                                       f"({ref.method}, {ref.precision_bits} bits)")
            if ensure_digits:
                sol = _raise_if_short(problem, sol, ref, log_t=log_t, dps=dps,
                                      max_seconds=max_seconds, progress=progress,
                                      **{**kw, "method": method})
        elif ref is not None:
            sol.meta["certificate"] = f"reference run at {ref_dps} digits ended: {ref.status}"
        if checkpoint is not None:
            sol.save(checkpoint)                 # the saved run carries its certificate
    return sol


def _raise_if_short(problem: Problem, sol: MirrorFlowSolution, ref: MirrorFlowSolution, *,
                    log_t: float, dps: int, **kw) -> MirrorFlowSolution:
    """``sol``, or the same run at ``dps + ceil(shortfall) + 1`` digits if ``sol`` certified
    fewer than ``dps`` digits (its error exceeded the guard digits), certified against the same
    reference ``ref``; either way ``meta["digits_asked"]`` and, when short, a sentence in
    ``meta["precision_raised"]`` or ``meta["digits_short"]`` say what happened."""
    least = min(sol.meta["digits"].values())
    sol.meta["digits_asked"] = dps
    if least >= dps:
        return sol
    raised = dps + math.ceil(dps - least) + 1
    head = f"the {dps}-digit run certified {least:.1f} digits"
    ref_dps = int(ref.meta.get("dps", 0))
    if raised - dps > MAX_RAISE_DIGITS:
        sol.meta["digits_short"] = (f"{head}; not repeated: a shortfall above "
                                    f"{MAX_RAISE_DIGITS - 1} digits is not the guard digits' "
                                    "(an ill-conditioned quantity?)")
        return sol
    if raised > ref_dps - 6:
        sol.meta["digits_short"] = (f"{head}; not repeated: {raised} digits need a reference "
                                    f"above {ref_dps} digits (run with dps={raised} for {dps} "
                                    "certified digits)")
        return sol
    kw = {**kw, "state": sol.meta.get("state", kw.get("state", "auto"))}
    try:
        more = _run_precise(problem, log_t=log_t, dps=raised, label=f"raised to {raised} "
                            "digits", **kw)
    except KeyboardInterrupt:
        more = None
    if more is None or more.status != "reached":
        why = "interrupted (Ctrl-C)" if more is None else f"it ended: {more.status}"
        sol.meta["digits_short"] = f"{head}; the repeat at {raised} digits failed ({why})"
        return sol
    more.meta["digits"] = _certify(problem, more, ref)
    more.meta["digits_asked"] = dps
    more.meta["certificate"] = sol.meta["certificate"]
    better = min(more.meta["digits"].values())
    if better <= least:
        sol.meta["digits_short"] = (f"{head}; the repeat at {raised} digits certified "
                                    f"{better:.1f}: kept the first")
        return sol
    more.meta["precision_raised"] = f"{head}: repeated at {raised} digits"
    if better < dps:
        more.meta["digits_short"] = f"{head}; the repeat at {raised} digits certified {better:.1f}"
    return more


def solve_mirror_flow(problem: Problem, *, log_t: float, dps: int | None = None,
                      log_loss: float | None = None, max_seconds: float = 120.0,
                      certify: bool = True, ensure_digits: bool = True,
                      progress: bool = False, rtol: float = 1e-11,
                      checkpoint: str | os.PathLike | None = None, checkpoint_every: float = 60.0,
                      **precise_options) -> MirrorFlowSolution:
    """Integrate d/dt ∇φ(θ) = -∇ℒ(θ) until ``log t = log_t`` (THEORY.md §1, §7).

    Parameters
    ----------
    problem
        Data, model, potential(s), loss and θ0.
    log_t
        Target log t (the time change ds = ℒ dt makes t = exp(1e4) reachable). Every path
        measures t from the start (t = 0 at θ0; the first recorded point has log t = -inf on
        float64, the log t of its start-up step s0 on the precise paths), so the same
        ``log_t`` is the same point of the flow with and without ``dps``.
    dps
        ``None``: float64 (scipy DOP853). An integer ``>= 16``: arbitrary precision with that
        many decimal digits (heyoka's Taylor method in ``real128`` up to 30 digits, MPFR above;
        the stored values keep the working precision in ``theta_mp``, ``log_loss_mp``,
        ``min_margin_mp``).
    log_loss
        Optional early stop once log ℒ falls below this value.
    max_seconds
        Wall-clock budget; the result then has status ``"budget"``.
    certify
        Repeat the run at a tighter tolerance (float64: 1000x, floor 3e-14) or at higher
        precision (``dps + max(10, dps // 2)`` digits; Radau ``dps + max(8, dps // 4)``) and
        record the agreeing digits in ``meta["digits"]`` (direction, margin, log loss).
    ensure_digits
        With ``dps`` and ``certify``: if the run certified fewer than ``dps`` digits (its error
        exceeded the guard digits: measured on a square-ReLU net, 29.4), repeat it once at
        ``dps + ceil(shortfall) + 1`` digits (up to 8 more), certify that run against the same
        reference and return it if it certified more; ``meta["precision_raised"]`` says so,
        ``meta["digits_short"]`` says why a result still falls short of ``dps``.
        A Radau run whose stiffness outgrows its Jacobians' digits (twin units of an l_inf
        potential on a ReLU net, THEORY.md §7.3) continues at 2.5 times the working bits (up
        to :data:`MAX_RAISED_BITS`), at the same tolerance: ``meta["bits_raised"]`` lists them.
    checkpoint, checkpoint_every
        A results file: arbitrary-precision runs save the trajectory so far to it every
        ``checkpoint_every`` seconds (atomically), so an interrupted run loses at most that much;
        continue it with ``resume(MirrorFlowSolution.load(checkpoint), problem, log_t=...)``.
        Float64 runs save once at the end.
    **precise_options
        Passed to :func:`numerics.solvers.precise.solve_precise` when ``dps`` is given:
        ``logt_mode`` (``"auto"``: quadrature of log t for linear and diagonal models, log t in
        the ODE for networks; or ``"quadrature"``, ``"ode"``), ``method`` (``"taylor"``,
        ``"radau"``), ``state`` (``"auto"``, ``"dual"``, ``"primal"``), ``per_decade``
        (output points per decade of log t), ``tol``.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sol = solve_mirror_flow(prob, log_t=30.0)
    >>> sol.status, sol.meta["digits"]["direction"] > 6
    ('reached', True)

    At 30 digits (heyoka Taylor, real128), certified against a 45-digit run:

    >>> sol = solve_mirror_flow(prob, log_t=200.0, dps=30)
    >>> sol.method, sol.meta["digits"]["direction"] > 29
    ('taylor-real128', True)
    """
    check_separable(problem)
    if dps is not None:
        return _solve_precise_certified(problem, log_t=log_t, dps=dps, log_loss=log_loss,
                                        max_seconds=max_seconds, certify=certify,
                                        ensure_digits=ensure_digits,
                                        progress=progress, checkpoint=checkpoint,
                                        checkpoint_every=checkpoint_every, **precise_options)
    if precise_options:
        raise TypeError(f"options {sorted(precise_options)} apply to dps=... runs only")
    kw = dict(log_t=log_t, max_seconds=max_seconds, log_loss_target=log_loss)
    sol = mark_at_rest(problem, solve_float64(problem, rtol=rtol, atol=rtol * 1e-2,
                                              progress=progress, **kw))
    if certify and sol.status in ("reached", "log_loss_target"):
        ref_rtol = max(rtol * 1e-3, 3e-14)      # scipy's floor is 2.2e-14
        ref = solve_float64(problem, rtol=ref_rtol, atol=ref_rtol * 1e-2, **kw)
        # Both runs share float64's roundoff floor, so their agreement can exceed the truth
        # (measured: 16.2 digits claimed, 13.2 true against a 30-digit run). The reference is
        # trusted to 10x its own tolerance, and that error is added to the measured
        # difference (|run - true| <= |run - ref| + |ref - true|): a cap alone claimed 12.52
        # digits where 12.41 were true (exp(x^2/2) on a diagonal net, issue 10's battery).
        floor = -math.log10(ref_rtol) - 1.0
        if ref.status == sol.status:
            sol.meta["digits"] = {k: -math.log10(10.0 ** -v + 10.0 ** -floor)
                                  for k, v in _certify(problem, sol, ref).items()}
            sol.meta["certificate"] = (f"float64 run at rtol={ref_rtol:g} (the reference's own "
                                       f"error, 10^-{floor:.1f}, added)")
        else:
            sol.meta["certificate"] = f"reference run at rtol={ref_rtol:g} ended: {ref.status}"
    if checkpoint is not None:
        sol.save(checkpoint)
    return sol


def resume(solution: MirrorFlowSolution, problem: Problem, *, log_t: float,
           max_seconds: float = 120.0, progress: bool = False,
           checkpoint: str | os.PathLike | None = None,
           checkpoint_every: float = 60.0) -> MirrorFlowSolution:
    """Continue a saved run to a later ``log_t``; returns the concatenated trajectory.

    High-precision runs continue at their own precision from their stored state (every stored
    digit) and may checkpoint as in :func:`solve_mirror_flow`, with their own method, except a
    Taylor run of an l_inf-horizon potential continued to a ``log_t`` where ``auto`` picks
    Radau IIA (past :data:`~numerics.solvers.LINF_TAYLOR_BELOW`, where Taylor would stall):
    it continues with Radau IIA. The continuation is not
    re-certified: the earlier ``meta["digits"]`` are dropped and ``meta["certificate"]`` says
    why (repeat the whole run with ``certify=True`` for a certificate). A results file without
    a content digest (format 1) is refused.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic())
    >>> first = solve_mirror_flow(prob, log_t=10.0, certify=False)
    >>> more = resume(first, prob, log_t=20.0)
    >>> float(more.log_t[0]), round(float(more.log_t[-1]), 6)     # from t = 0 (log t = -inf)
    (-inf, 20.0)
    """
    solution.require_verified()
    if solution.theta_mp is None and solution.s[0] == 0.0 and solution.log_t[0] == 0.0:
        raise ValueError("the saved float64 run starts at log t = 0: it was written before "
                         "float64 measured t from the start (t = 0, log t = -inf; its log t "
                         "is log(1 + t)), so continuing it would mix two clocks: re-run it")
    last = float(solution.log_t[-1])
    if log_t <= last:
        raise ValueError(f"the run already reached log t = {last}; ask for a later log_t")
    if solution.theta_mp is not None:
        out = _resume_precise(solution, problem, log_t=log_t, max_seconds=max_seconds,
                              progress=progress, checkpoint=checkpoint,
                              checkpoint_every=checkpoint_every)
        out = _uncertified(out, last)
        if checkpoint is not None:
            out.save(checkpoint)
        return out
    tail = solve_float64(problem, log_t=log_t, theta_start=solution.theta[-1], log_t0=last,
                         s0=float(solution.s[-1]), max_seconds=max_seconds,
                         progress=progress)
    cat = {k: np.concatenate([getattr(solution, k), getattr(tail, k)[1:]])
           for k in ("log_t", "s", "theta", "z", "log_loss", "min_margin")}
    resid = balance_residuals(problem, cat["theta"])   # measured from the run's first point
    out = MirrorFlowSolution(
        cat["log_t"], cat["s"], cat["theta"], cat["z"], cat["log_loss"], cat["min_margin"],
        resid, tail.status, tail.method, tail.precision_bits,
        solution.rhs_evals + tail.rhs_evals, solution.seconds + tail.seconds,
        {**solution.meta, "resumed_at_log_t": last})
    out = _uncertified(out, last)
    if checkpoint is not None:
        out.save(checkpoint)
    return out


def _uncertified(sol: MirrorFlowSolution, resumed_at: float) -> MirrorFlowSolution:
    """The earlier run's digits do not certify the continuation: drop them (and what was said
    of them, ``digits_short``) and say why."""
    meta = {k: v for k, v in sol.meta.items() if k not in ("digits", "digits_short")}
    meta["resumed_at_log_t"] = resumed_at
    meta["certificate"] = (f"none: resumed at log t = {resumed_at:g}, and the earlier "
                           "certificate covers only the run before that; repeat the whole "
                           "run with solve_mirror_flow(certify=True) for a certificate")
    return replace(sol, meta=meta)


def _resume_precise(solution: MirrorFlowSolution, problem: Problem, *, log_t: float,
                    max_seconds: float, progress: bool, **kw) -> MirrorFlowSolution:
    solver = solution.meta.get("solver", {})
    method = "radau" if solution.method.startswith("radau") else "taylor"
    state = solution.meta.get("state", "auto")
    if method == "taylor" and has_linf_horizon(problem) and auto_method(problem, log_t) == "radau":
        # a short l_inf run that "auto" gave to Taylor (LINF_TAYLOR_BELOW), continued past
        # where Taylor stalls: on with Radau IIA (primal state, from the saved parameters)
        method, state = "radau", "auto"
    return _run_precise(problem, log_t=log_t, dps=int(solution.meta.get("dps", 30)),
                        max_seconds=max_seconds, label="resumed", progress=progress,
                        start=solution, logt_mode=solver.get("logt_mode", "auto"),
                        state=state, method=method, **kw)
