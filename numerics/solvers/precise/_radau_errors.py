"""The errors that end a Radau run at a kink it does not follow (status ``"sliding"``).

:class:`SlidingModeError`: a Filippov sliding mode Radau does not follow (its set is not a
point, or surfaces that part); :class:`MeetingKinksError`: a unit's pre-activations reaching 0
together where the continuation is not unique (:mod:`._meeting`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._meeting import meeting_reason

__all__: list[str] = []


class SlidingModeError(ArithmeticError):
    """A kink whose fields on both sides push the state onto it (a Filippov sliding mode)."""

    def __init__(self, kink: int, rates: tuple[float, float] | None = None,
                 coupled: Sequence[int] = (), coinciding: Sequence[int] = (),
                 separated: Sequence[int] = ()) -> None:
        self.kink, self.coupled, self.coinciding = kink, sorted(coupled), sorted(coinciding)
        self.separated = sorted(separated)
        how = ("" if rates is None else f" (d h / d clock = {rates[0]:.3g} with the unit active, "
               f"{rates[1]:.3g} inactive)")
        why = ""
        if coupled:
            why = (f", while pre-activations {self.coupled} of the same sample in another layer "
                   "slide: their rates couple bilinearly (a path through both units), a Filippov "
                   "sliding mode whose set is not a point, which Radau does not follow")
        elif coinciding:
            why = (f", on a surface that coincides with those of pre-activations "
                   f"{self.coinciding} (e.g. a weight at 0 that is the unit's only active input "
                   "on several samples), where they cannot share one sliding switch (their "
                   "gradients point opposite ways, or a kink of the same sample in another "
                   "layer switches there), which Radau does not follow")
        elif separated:
            why = (f", whose surface no longer coincides with those of pre-activations "
                   f"{self.separated} it slid with under one switch (they parted within a "
                   "step), which Radau does not follow")
        super().__init__(f"ReLU pre-activation {kink} (of system.kinks) slides on its kink: the "
                         f"flow pushes it back onto h = 0 from both sides{how}{why}")


class MeetingKinksError(SlidingModeError):
    """ReLU kinks at 0 together at a point where they all receive no force with all of them
    off, while the pattern of the switch moves some of them across: a unit's incoming weights
    at 0, where the flow may stay (a dead unit) or leave, and Radau does not choose.

    Parameters
    ----------
    kinks
        The kinks at 0 there (sliding ones included), sorted.
    across
        Those that the pattern of the switch moves across their side at once.
    leaving
        Or, if none is, a pattern of them that the flow leaves into consistently.
    logt
        Where.
    """

    def __init__(self, kinks: Sequence[int], across: Sequence[int], leaving: Sequence[int],
                 logt: float) -> None:
        self.kinks, self.across, self.leaving = sorted(kinks), sorted(across), sorted(leaving)
        self.kink, self.coupled, self.coinciding, self.separated = self.kinks[0], [], [], []
        ArithmeticError.__init__(self, meeting_reason(kinks, across, leaving, logt,
                                                      "Radau IIA"))
