"""One status table for every solver (diffrax's ``RESULTS`` is the model).

A run ends in one :class:`Status`; its :func:`status_message` says what happened and what to
do next. Solvers add the specific reason (which step, which quantity) as ``reason``, kept in
``MirrorFlowSolution.meta["reason"]``; :attr:`MirrorFlowSolution.message` joins both.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MEETING_ADVICE", "Status", "status_message"]


class Status(StrEnum):
    """How a run ended. Members compare equal to their string values (``"reached"``, ...).

    Examples
    --------
    >>> Status.REACHED == "reached", Status("budget").ok
    (True, False)
    >>> status_message("budget")
    'stopped by the wall-clock budget before the target: raise max_seconds ...'
    """

    REACHED = "reached"
    LOG_LOSS_TARGET = "log_loss_target"
    BUDGET = "budget"
    INTERRUPTED = "interrupted"
    CLOCK_LIMIT = "clock_limit"
    STALLED = "stalled"
    STUCK = "stuck"
    SLIDING = "sliding"
    FAILED = "failed"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        """True if the run reached what was asked (the target log t or log loss)."""
        return self in (Status.REACHED, Status.LOG_LOSS_TARGET)

    @property
    def resumable(self) -> bool:
        """True if continuing the run (``resume`` / ``--resume``) is the remedy."""
        return self in (Status.BUDGET, Status.INTERRUPTED)


_MESSAGES = {
    Status.REACHED: "reached the target log t",
    Status.LOG_LOSS_TARGET: "reached the target log loss",
    Status.BUDGET: ("stopped by the wall-clock budget before the target: raise max_seconds "
                    "(--max-seconds) or continue the saved run with resume() / --resume"),
    Status.INTERRUPTED: ("interrupted (Ctrl-C) after the last completed step: continue the "
                         "saved run with resume() / --resume"),
    Status.CLOCK_LIMIT: ("the integration clock hit its upper limit before the target: the "
                         "flow has left the range the time change covers; ask for a smaller "
                         "log_t or use method='radau'"),
    Status.STALLED: ("the step size collapsed (the flow is too stiff for this method, or it "
                     "slides along ReLU kinks in a way the Taylor driver does not follow): use "
                     "method='radau' for l_inf-type potentials, a smaller eta for mirror "
                     "descent, or another init seed for a ReLU net"),
    Status.STUCK: ("stopped early: the network cannot separate some samples from this start "
                   "(they have margin <= 0 and no active unit), so no target would be reached"),
    Status.SLIDING: ("the flow slides on a surface it is pushed onto from both sides (a "
                     "Filippov sliding mode: a ReLU pre-activation at 0, or a coordinate at 0 "
                     "of a potential with f''(0) = 0), which this solver does not follow "
                     "(float64 chatters across any such surface; Radau IIA does not follow "
                     "kinks of one sample in two layers sliding together, nor several kinks on "
                     "one surface): "
                     "use dps=30 with method='taylor' (it slides along kinks and freezes such "
                     "coordinates), or a smooth activation such as square_relu"),
    Status.FAILED: ("the solver failed (non-finite values or a singular Newton matrix): "
                    "try a higher precision (dps) or another method"),
    Status.ERROR: ("the integrator reported an error: try method='radau' or a higher "
                   "precision; please report it if it persists"),
}


#: What changes for a run that already used Radau IIA (advice to switch to it would be void).
_RADAU_MESSAGES = {
    Status.CLOCK_LIMIT: ("the integration clock hit its upper limit before the target: the "
                         "flow has left the range the time change covers; ask for a smaller "
                         "log_t"),
    Status.STALLED: ("the step size collapsed (Newton's iterations kept failing as the steps "
                     "shrank): raise the precision (dps), or try method='taylor' where the "
                     "potential is not of l_inf type"),
    Status.ERROR: ("the integrator reported an error: try a higher precision (dps) or "
                   "method='taylor'; please report it if it persists"),
}


#: What to do at a meeting of a unit's kinks (:mod:`.precise._meeting`): its reason says it, and
#: the status's own advice (for ``"sliding"``: try Taylor, which stops there as well) is left off
MEETING_ADVICE = "end the run before this log t, or start from another init (seed or scale)"


def status_message(status: str, reason: str | None = None, method: str | None = None) -> str:
    """The message of ``status``, followed by the solver's ``reason`` when it gave one.

    ``method`` is the run's method (``"float64"``, ``"taylor-real128"``, ``"radau"``, or a
    solution's ``method`` such as ``"radau-iia-mpfr"``): a Radau run is not told to try
    Radau.  Unknown strings (results files from older versions) are returned as they are.

    Examples
    --------
    >>> status_message("reached")
    'reached the target log t'
    >>> status_message("failed", "non-finite theta at step 3")
    'non-finite theta at step 3; the solver failed (non-finite values or a singular ...'
    >>> "method='radau'" in status_message("error"), "method='radau'" in status_message(
    ...     "error", method="radau")
    (True, False)
    >>> "method='radau'" in status_message("error", method="radau-iia-mpfr")
    False
    >>> met = f"kinks meet: {MEETING_ADVICE}"
    >>> status_message("sliding", met) == met
    True
    """
    try:
        code = Status(status)
    except ValueError:
        return str(status) if not reason else f"{status}: {reason}"
    if reason and MEETING_ADVICE in reason:
        return reason
    text = _MESSAGES[code]
    if method is not None and method.startswith("radau"):
        text = _RADAU_MESSAGES.get(code, text)
    return text if not reason else f"{reason}; {text}"
