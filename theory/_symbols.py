"""The two real variables every potential is written in: ``x`` (primal) and ``z`` (dual)."""

from __future__ import annotations

import sympy as sp

__all__ = ["X", "Z"]

#: The scalar variable of every potential (real).
X = sp.Symbol("x", real=True)
#: The dual variable z = f'(x) (real).
Z = sp.Symbol("z", real=True)
