"""Exceptions raised by the symbolic layer.

Bad input is a :class:`ValueError` (so ``except ValueError`` keeps working); a derivation
that sympy cannot do in closed form is a :class:`NotImplementedError` subclass, and the
object that raises it always offers a numeric fallback.
"""

from __future__ import annotations

__all__ = ["InvalidPotentialError", "NoClosedFormError"]


class InvalidPotentialError(ValueError):
    """A potential that the theory does not cover (not C², not strictly convex, ...).

    The message names the problem, a point where it shows, and the fix.
    """


class NoClosedFormError(NotImplementedError):
    """Sympy found no verified closed form; use the numeric method named in the message."""
