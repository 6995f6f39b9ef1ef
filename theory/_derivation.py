"""A derived object together with the steps that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Derivation", "Step"]


@dataclass(frozen=True)
class Step:
    """One step of a derivation: what was done and the expression it produced."""

    text: str
    expr: sp.Basic | None = None

    def __str__(self) -> str:
        return self.text if self.expr is None else f"{self.text}: {self.expr}"


@dataclass(frozen=True)
class Derivation:
    """A sympy expression and the steps that produced it.

    ``expr`` is ``None`` when no verified closed form exists; ``method`` then names the
    numeric fallback (e.g. ``"numeric: bracketing + Newton"``).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> d = Derivation("mirror map f'", sp.sinh(x), (Step("f(x)", sp.cosh(x)),
    ...                Step("differentiate", sp.sinh(x))))
    >>> d.closed_form
    True
    >>> print(d)
    mirror map f' = sinh(x)
      1. f(x): cosh(x)
      2. differentiate: sinh(x)
    """

    name: str
    expr: sp.Basic | None
    steps: tuple[Step, ...] = field(default=())
    method: str = "symbolic"

    @property
    def closed_form(self) -> bool:
        """Whether a verified closed form exists."""
        return self.expr is not None

    def __str__(self) -> str:
        head = f"{self.name} = {self.expr}" if self.closed_form else (
            f"{self.name}: no closed form ({self.method})")
        lines = [head] + [f"  {i}. {s}" for i, s in enumerate(self.steps, 1)]
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX for the result (``\\text{numeric}`` when there is no closed form)."""
        return sp.latex(self.expr) if self.closed_form else r"\text{numeric}"

    def derivation(self) -> str:
        """The steps as text (same as ``str``)."""
        return str(self)
