"""Horizon norm names: ``"l1"``, ``"l2.5"``, ``"linf"`` <-> the exponent p."""

from __future__ import annotations

import math

__all__ = ["CANDIDATES", "norm_name", "parse_norm"]

#: The l_q norms a direction is compared with (nearest-candidate tests, horizon claims).
CANDIDATES = (1.0, 1.5, 2.0, 3.0, 4.0, math.inf)


def parse_norm(text: str) -> float:
    """Read a norm name: ``"l1"``, ``"l2"``, ``"l3"``, ``"l1.5"``, ``"linf"`` (or a number).

    Parameters
    ----------
    text : str

    Returns
    -------
    float
        The exponent p >= 1 (``math.inf`` for l_inf).

    Raises
    ------
    ValueError
        For an unknown name or p < 1.

    Examples
    --------
    >>> parse_norm("l1"), parse_norm("linf"), parse_norm("l2.5"), parse_norm("4")
    (1.0, inf, 2.5, 4.0)
    >>> parse_norm("l0.5")
    Traceback (most recent call last):
    ...
    ValueError: horizon norm 'l0.5' must be l_p with p >= 1 (e.g. l1, l2, l3, linf)
    """
    s = str(text).strip().lower().replace("_", "")
    s = s.removeprefix("l")
    try:
        p = math.inf if s in ("inf", "∞") else float(s)
    except ValueError:
        raise ValueError(f"unknown horizon norm {text!r}; use l1, l2, l3, ..., linf") from None
    if not p >= 1:
        raise ValueError(f"horizon norm {text!r} must be l_p with p >= 1 (e.g. l1, l2, l3, linf)")
    return p


def norm_name(p: float) -> str:
    """The name of the l_p "norm" (any p > 0): the inverse of :func:`parse_norm`.

    Examples
    --------
    >>> norm_name(1.0), norm_name(1.5), norm_name(math.inf)
    ('l1', 'l1.5', 'linf')
    """
    return "linf" if math.isinf(p) else f"l{p:g}"
