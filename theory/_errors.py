"""Exceptions raised by the symbolic layer, and :func:`short` for the expressions they quote.

Bad input is a :class:`ValueError` (so ``except ValueError`` keeps working); a derivation
that sympy cannot do in closed form is a :class:`NotImplementedError` subclass, and the
object that raises it always offers a numeric fallback.
"""

from __future__ import annotations

__all__ = ["InvalidPotentialError", "NoClosedFormError", "short"]


class InvalidPotentialError(ValueError):
    """A potential that the theory does not cover (not C², not strictly convex, ...).

    The message names the problem, a point where it shows, and the fix. When f is not real
    and finite at a point, the attribute ``x0`` holds that point (else it is ``None``).
    """

    x0: float | None = None


class NoClosedFormError(NotImplementedError):
    """Sympy found no verified closed form; use the numeric method named in the message."""


def short(expr: object, limit: int = 200) -> str:
    """``str(expr)`` on one line, cut to at most ``limit`` characters (start and end kept).

    Error messages quote the expression they refuse; a 10 kB expression must not turn the
    message into 10 kB.

    Examples
    --------
    >>> short("x**2/2")
    'x**2/2'
    >>> s = short(" + ".join(f"x**{k}" for k in range(2000)), limit=60)
    >>> len(s) <= 60, s[:12], s[-10:]
    (True, 'x**0 + x**1 ', ' + x**1999')
    """
    text = " ".join(str(expr).split())
    if len(text) <= limit:
        return text
    keep = max(limit - 5, 2)
    head = keep * 2 // 3
    return f"{text[:head]} ... {text[len(text) - (keep - head):]}"
