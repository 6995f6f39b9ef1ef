"""The battery behind ``mirrorflow verify``: runs, checks, budget and the run cache.

:func:`verify` integrates the runs of :func:`numerics.checks.battery_specs` in float64 and
applies the checks of THEORY.md §2-5 to each, within a wall-clock budget. Bad input raises
``ValueError`` (the command line, :mod:`numerics.cli`, turns it into exit status 2).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp

from theory import Potential, Rates, max_margin

from ..problem import Diagonal, Linear, Problem, TwoLayer
from ..solvers import MirrorFlowSolution, choose_state
from ._conservation import (
    check_balance,
    check_global_identity,
    check_inverse_roundtrip,
    check_smoothed_margin,
)
from ._directions import check_direction, check_horizon_claim, check_predictor_direction
from ._integrate import RTOL, Deadline, deadline, integrate
from ._kkt_trend import check_kkt_trend
from ._norms import norm_name, parse_norm
from ._planted import RunSpec, battery_specs
from ._rates import check_rates
from ._results import Check, Report

__all__ = ["verify"]

_MODELS = ("linear", "diagonal", "two_layer")


def verify(potential: Potential, *, model: str = "linear", claim_horizon: str | None = None,
           budget: float = 60.0, seeds: Sequence[int] = (0, 1),
           progress: Callable[[str], None] | None = None) -> Report:
    """Run the battery on ``potential`` (THEORY.md §2-5) and return a :class:`Report`.

    Runs (float64, exponential loss, ``rtol = 1e-10``): :func:`battery_specs` lists them:
    planted data with closed-form l_q directions and Gaussian data (``linear``), planted data
    on a depth-2 diagonal network (``diagonal``), xor data on a width-4 network with
    activation z² (``two_layer``).

    Every run is integrated in the state :func:`numerics.solvers.choose_state` picks (as by
    every other path); if the closed-form inverse mirror map cancels in float64 (round-trip
    check), every run is integrated in the primal state (a note says so). Completed runs are
    cached, so repeating ``verify`` on the same potential (another claim) reuses the
    trajectories.

    Checks: float64 inverse round-trip; global identity and smoothed margin (if a radius is
    known) on every run; balance law (two_layer); direction vs the max-margin direction of
    the derived horizon (p, or p/L in predictor space) and the horizon claim (planted data);
    loss / primal / dual slopes on the planted 2-D run (linear, diagonal) and on every
    two_layer run; KKT trend of the derived horizon and of the claimed one on every
    two_layer run and on the diagonal Gaussian runs (:func:`numerics.checks.check_kkt_trend`,
    THEORY.md §4.1: parameter-space margin problem, judged by the fall of its stationarity
    residual over the last factor 30 of log t).

    Parameters
    ----------
    potential : theory.Potential
    model : {"linear", "diagonal", "two_layer"}
    claim_horizon : str, optional
        A horizon to check against trajectories (``"l1"``, ``"l2"``, ``"l3"``, ``"linf"``, ...).
    budget : float
        Wall-clock seconds for everything: 60% split evenly among the integrations (a run
        that stops early is reported, and its checks fail as inconclusive), the rest among
        the runs' checks (at least 10 s each; a check that runs out is reported as failed).
        Symbolic derivations (horizon, rates) come on top.
    seeds : sequence of int
        Seeds of the Gaussian datasets and their initialisations.
    progress : callable, optional
        Called with a one-line message before each run.

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        For an unknown ``model``, a bad ``claim_horizon`` (:func:`parse_norm`) or a budget
        that is not positive (the command line turns it into exit status 2).

    Examples
    --------
    >>> rep = verify(Potential.quadratic(), budget=20, seeds=(0,))
    >>> rep.passed, len(rep.checks) >= 10
    (True, True)
    >>> verify(Potential.quadratic(), claim_horizon="l1", budget=20, seeds=(0,)).passed
    False
    """
    claimed = _validated_claim(model, claim_horizon, budget)
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    battery = _Battery(potential, model, _derived_exponent(potential), claimed, Report())
    if battery.derived is None:
        h = potential.horizon
        battery.report.skipped.append(
            f"directions and horizon claim: horizon {h.norm} ({h.reason})")
    specs = _float64_specs(battery, seeds)
    per_run = 0.6 * budget / len(specs)        # the rest is for the checks
    for n_spec, spec in enumerate(specs):
        say(f"integrating {spec.label} to log t = {spec.log_t:g} ...")
        sol = _integrated(battery, spec, per_run)
        if sol is None:
            continue
        # the checks of this run get their share of what is left of the budget (at least 10 s)
        left = budget - (time.perf_counter() - start)
        _check_run(battery, spec, sol, share=max(10.0, left / (len(specs) - n_spec)))
    if claimed is not None and battery.derived is None:
        battery.report.checks.append(Check(
            f"horizon claim {norm_name(claimed)}", f"nearest: {norm_name(claimed)}", "n/a",
            False, "the derived horizon is not a symmetric l_p norm, so there is no "
            "max-margin oracle to compare the claim with"))
    battery.report.seconds = time.perf_counter() - start
    return battery.report


@dataclass
class _Battery:
    """What the runs of one :func:`verify` call share."""

    potential: Potential
    model: str
    derived: float | None        # the derived horizon exponent p (None: no symmetric l_p)
    claimed: float | None        # the claimed one
    report: Report
    rates: dict[int, Rates] = field(default_factory=dict)

    def rates_for(self, depth: int) -> Rates:
        """``potential.rates(depth)``, derived once per depth (symbolic: slow)."""
        if depth not in self.rates:
            self.rates[depth] = self.potential.rates(depth=depth)
        return self.rates[depth]


def _validated_claim(model: str, claim_horizon: str | None, budget: float) -> float | None:
    """Check :func:`verify`'s arguments (``ValueError`` naming the option); the claimed p."""
    if model not in _MODELS:
        raise ValueError(f"--model must be linear, diagonal or two_layer, got {model!r}")
    claimed = None if claim_horizon is None else parse_norm(claim_horizon)
    if not budget > 0:
        raise ValueError(f"--budget must be positive seconds, got {budget}")
    return claimed


def _derived_exponent(potential: Potential) -> float | None:
    """The derived horizon's exponent p (inf for l_inf), None if it is no symmetric l_p."""
    h = potential.horizon
    if h.p is None or h.norm == "one-sided":
        return None
    return math.inf if h.p == sp.oo else float(h.p)


def _float64_specs(battery: _Battery, seeds: Sequence[int]) -> list[RunSpec]:
    """The runs, each in a state whose float64 integration is trustworthy.

    The float64 inverse mirror map is checked first (:func:`check_inverse_roundtrip`); if it
    loses digits, every run is integrated in the primal state θ (a note says so).
    """
    derived = battery.derived
    specs = battery_specs(battery.potential, battery.model, seeds,
                          rapid=derived is not None and math.isinf(derived))
    pot = battery.potential
    if pot.inverse_mirror_map.expr is not None and not pot.stable_inverse:
        battery.report.notes.append(
            f"the closed-form inverse mirror map loses {pot.inverse_digits_lost:.0f} of 30 digits "
            "to cancellation (theory: Potential.stable_inverse): trajectories integrated in the "
            "primal state θ")
        return specs                 # choose_state already integrates θ
    roundtrip = check_inverse_roundtrip(specs[0].problem)
    if roundtrip.passed:
        battery.report.checks.append(roundtrip)
        return specs
    battery.report.notes.append(
        f"the closed-form inverse mirror map loses digits in float64 (round-trip error "
        f"{roundtrip.measured}): trajectories integrated in the primal state θ instead")
    return [dataclasses.replace(s, problem=_primal_state(s.problem)) for s in specs]


def _primal_state(problem: Problem) -> Problem:
    """``problem``, or a copy of it, that the float64 path integrates in the primal state θ.

    Used when the closed-form inverse mirror map cancels in float64
    (:func:`check_inverse_roundtrip` fails): θ̇ = −∇ℒ / f''(θ) needs no inverse. The state
    is :func:`numerics.solvers.choose_state`'s: already primal unless the potential's family
    supplies the inverse (``inverse_hint``), in which case the potential is rebuilt without
    the hint.
    """
    if choose_state(problem) == "primal":
        return problem
    pot = problem.potential
    if not isinstance(pot, Potential):
        raise ValueError("the float64 inverse mirror map of a per-layer potential loses digits; "
                         "verify takes a single theory.Potential")
    plain = Potential(pot.expr, name=pot.name,
                      allow_bounded_mirror_map=pot.allow_bounded_mirror_map, **pot.params)
    new = dataclasses.replace(problem, potential=plain)
    if choose_state(new) != "primal":
        raise RuntimeError("could not switch the float64 path to the primal state")
    return new


def _integrated(battery: _Battery, spec: RunSpec, max_seconds: float
                ) -> MirrorFlowSolution | None:
    """Integrate one run (cached); report it, and fail it if it stopped early.

    Returns None if there is nothing to check (an error, or fewer than 4 recorded points).
    """
    lab, report = f" [{spec.label}]", battery.report
    try:
        sol = _cached_run(battery.potential, battery.model, spec, max_seconds)
    except (TimeoutError, ArithmeticError, ValueError, NameError, TypeError) as exc:
        report.checks.append(Check(f"integration{lab}", f"log t = {spec.log_t:g}", "error",
                                   False, f"{type(exc).__name__}: {exc}"))
        return None
    report.runs.append({"label": spec.label, "status": sol.status,
                        "log_t": float(sol.log_t[-1]), "steps": len(sol.s) - 1,
                        "seconds": round(sol.seconds, 3)})
    if len(sol.s) < 4 or sol.status not in ("reached", "log_loss_target"):
        report.checks.append(Check(
            f"integration{lab}", f"log t = {spec.log_t:g}",
            f"log t = {sol.log_t[-1]:.3g}", False,
            f"the float64 run stopped early (status {sol.status!r}, {len(sol.s)} points); "
            "the properties cannot be checked on it: raise --budget, or the potential is "
            "too stiff for float64"))
    return None if len(sol.s) < 4 else sol


def _wants_rates(spec: RunSpec) -> bool:
    """Rates are fitted on the planted 2-D run (linear, diagonal) and on two-layer runs."""
    return spec.label.endswith("2-D") or isinstance(spec.problem.model, TwoLayer)


def _check_run(battery: _Battery, spec: RunSpec, sol: MirrorFlowSolution, share: float
               ) -> None:
    """Apply the checks to one run within ``share`` seconds (a timeout is a failed check)."""
    if _wants_rates(spec):                   # symbolic: before the alarm
        battery.rates_for(spec.problem.model.degree)
    checks: list[Check] = []
    try:
        with deadline(share):
            _run_checks(checks, battery, spec, sol)
    except Deadline:
        checks.append(Check(f"checks [{spec.label}]", f"within {share:.0f} s", "timed out",
                            False, "the checks of this run did not finish in their share of "
                            "--budget (re-integration of a stiff trajectory); raise --budget"))
    battery.report.checks += checks


def _run_checks(out: list[Check], battery: _Battery, spec: RunSpec,
                sol: MirrorFlowSolution) -> None:
    """Append the checks of one battery run to ``out`` (skips go to the report)."""
    lab, prob, model = f" [{spec.label}]", spec.problem, spec.problem.model
    derived, claimed, report = battery.derived, battery.claimed, battery.report
    out.append(check_global_identity(prob, sol, label=lab))
    if model.neuron_groups(prob.d):
        out.append(check_balance(prob, sol, label=lab))
    try:
        out.append(check_smoothed_margin(prob, sol, label=lab))
    except NotImplementedError as exc:
        report.skip(f"smoothed margin: {exc}")
    if derived is not None and spec.planted:
        if isinstance(model, Linear):
            out.append(check_direction(prob, sol, derived, label=lab))
        else:
            out.append(check_predictor_direction(prob, sol, derived, label=lab))
        if claimed is not None:
            out.append(check_horizon_claim(prob, sol, claimed, derived, depth=model.degree,
                                           label=lab))
    if isinstance(model, TwoLayer) or (isinstance(model, Diagonal) and not spec.planted):
        _kkt_checks(out, battery, spec, sol)
    if _wants_rates(spec):
        gamma = None
        if isinstance(model, Linear) and derived is not None:
            gamma = float(max_margin(prob.data.X, prob.data.y, derived).margin)
        try:
            out.extend(check_rates(prob, sol, battery.rates_for(model.degree), gamma=gamma,
                                   label=lab))
        except (ValueError, TypeError, NotImplementedError, ZeroDivisionError) as exc:
            report.skip(f"rates{lab}: {type(exc).__name__}: {exc}")


def _kkt_checks(out: list[Check], battery: _Battery, spec: RunSpec,
                sol: MirrorFlowSolution) -> None:
    """KKT trend of the derived horizon and of a different claimed one (THEORY.md §4.1).

    A derived l_inf horizon is not judged (rapidly varying potentials approach it too slowly
    for float64, THEORY.md §5: the largest coordinates are not yet equal); a claimed l_inf
    is (it is wrong then, and its ε levels off).
    """
    lab, derived, claimed = f" [{spec.label}]", battery.derived, battery.claimed
    for p in dict.fromkeys(h for h in (derived, claimed) if h is not None):
        if math.isinf(p) and p == derived:
            battery.report.skip("KKT trend linf: the derived l_inf horizon is approached too "
                                "slowly for float64 runs (THEORY.md §4.1, §5)")
            continue
        out.append(check_kkt_trend(spec.problem, sol, p, derived=derived, label=lab))


# ============================================================================ run cache


#: Completed battery runs, keyed by potential, model, run and target: a repeated ``verify``
#: (e.g. the same potential with another ``--claim-horizon``) reuses the trajectories.
_RUNS: dict[tuple[str, ...], MirrorFlowSolution] = {}
_RUNS_MAX = 16


def _cached_run(potential: Potential, model: str, spec: RunSpec, max_seconds: float
                ) -> MirrorFlowSolution:
    """:func:`integrate` ``spec``, or the trajectory of an identical earlier run."""
    key = (repr(potential), str(potential.inverse_hint), model, spec.label, repr(spec.log_t),
           repr(RTOL), choose_state(spec.problem))
    if key in _RUNS:
        return _RUNS[key]
    sol = integrate(spec.problem, spec.log_t, max_seconds=max_seconds)
    if sol.status == "reached":          # an interrupted run depends on the budget: not kept
        if len(_RUNS) >= _RUNS_MAX:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = sol
    return sol

