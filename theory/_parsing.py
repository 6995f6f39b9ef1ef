"""Parsing user text (potentials, parameter values) into sympy, safely.

:func:`parse_text` is ``sympy.sympify`` for strings with three guards:

* exact numbers too large to compute (``9**9**9``, ``factorial(10**8)``, ``1e99999999``)
  are refused *before* sympy evaluates them (exact big-integer arithmetic cannot be
  interrupted and would run for hours);
* the text is evaluated without Python's builtins (``input()``, ``exit()``, ``open(...)``
  are unknown names, not calls) and without sympy's printing/plotting helpers;
* every parse failure (including tokenizer errors and deeply nested input) is a
  :class:`ValueError` with the text shortened.
"""

from __future__ import annotations

import math
import re
import warnings

import sympy as sp
from sympy.parsing.sympy_parser import (
    TokenError,
    convert_xor,
    parse_expr,
    standard_transformations,
)

from ._errors import short

__all__ = ["MAX_DIGITS", "check_number_sizes", "parse_text"]

#: Largest exact number (in decimal digits) a potential or parameter may spell out (Python
#: refuses to print integers of more than 4300 digits, so error messages could not quote it).
MAX_DIGITS = 4_000
#: Largest argument of an exactly evaluated combinatorial function (factorial, gamma, ...).
MAX_COMBINATORIAL_ARG = 10_000

# a decimal literal with an exponent: sympy converts 1e99999999 to an exact rational first
_EXPONENT = re.compile(r"(?<![A-Za-z_])(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)[eE]([+-]?\d[\d_]*)")
_TRANSFORMATIONS = (*standard_transformations, convert_xor)
# names of sympy's top-level namespace that print, plot, open viewers or re-enter the parser
_UNSAFE = {
    "preview", "plot", "plot_implicit", "plot_parametric", "plot3d",
    "plot3d_parametric_line", "plot3d_parametric_surface", "plot_backends", "textplot",
    "init_printing", "init_session", "pprint", "pprint_use_unicode", "pprint_try_use_unicode",
    "pager_print", "print_gtk", "print_tree", "print_ccode", "print_fcode", "print_glsl",
    "print_jscode", "print_latex", "print_maple_code", "print_mathml", "print_python",
    "print_rcode", "var", "interactive_traversal", "test", "doctest", "source", "lambdify",
    "sympify", "parse_expr",
}
_GLOBALS: dict | None = None


def _globals() -> dict:
    """sympy's namespace (as sympify sees it) minus :data:`_UNSAFE`, and no builtins except
    ``abs``, ``pow``, ``round``, ``sum``, ``divmod`` and ``max``/``min`` (as Max/Min)."""
    global _GLOBALS
    if _GLOBALS is None:
        namespace: dict = {}
        exec("from sympy import *", namespace)   # a fixed import, not user text
        for name in _UNSAFE:
            namespace.pop(name, None)
        namespace.update({"abs": abs, "pow": pow, "round": round, "sum": sum,
                          "divmod": divmod, "max": sp.Max, "min": sp.Min, "__builtins__": {}})
        _GLOBALS = namespace
    return dict(_GLOBALS)


def parse_text(text: str, local: dict | None = None, what: str = "expression") -> sp.Basic:
    """Parse ``text`` as sympy does (``^`` is a power), refusing huge exact numbers first.

    Raises
    ------
    ValueError
        If the text does not parse (the message quotes it, shortened), or spells out a
        number with more than :data:`MAX_DIGITS` digits.

    Examples
    --------
    >>> parse_text("x^2 + 1")
    x**2 + 1
    >>> parse_text("x + 9**9**9")
    Traceback (most recent call last):
    ...
    ValueError: 9**(9**9) in the expression 'x + 9**9**9' is a number with about 3.7e+08 digits ...
    >>> type(parse_text("input()")).__name__        # a sympy function, not Python's input
    'input'
    """
    text = text.replace("\n", "")
    for match in _EXPONENT.finditer(text):
        if abs(int(match.group(1).replace("_", ""))) > MAX_DIGITS:
            raise ValueError(f"{short(match.group(0), 40)} in the {what} {short(text)!r} is out "
                             f"of range (exponent beyond +-{MAX_DIGITS}): write a smaller number")
    with warnings.catch_warnings():      # Python's SyntaxWarnings about the user's text
        warnings.simplefilter("ignore")
        return _parse(text, local or {}, what)


def _parse(text: str, local: dict, what: str) -> sp.Basic:
    try:
        raw = parse_expr(text, local_dict=dict(local), global_dict=_globals(),
                         transformations=_TRANSFORMATIONS, evaluate=False)
    except Exception:    # only a pre-check: the evaluating parse reports it
        raw = None
    if isinstance(raw, sp.Basic):
        check_number_sizes(raw, text, what)
    try:
        return parse_expr(text, local_dict=dict(local), global_dict=_globals(),
                          transformations=_TRANSFORMATIONS)
    except (TokenError, SyntaxError, TypeError, ValueError, AttributeError, NameError,
            RecursionError, sp.SympifyError, IndexError, KeyError, ZeroDivisionError,
            OverflowError, NotImplementedError, MemoryError) as exc:
        reason = short(exc, 120) or type(exc).__name__
        raise ValueError(f"could not parse the {what} {short(text)!r}: {reason}") from None


def _digits(expr: sp.Basic) -> float:
    """An upper bound on the decimal digits needed to write the exact number ``expr``."""
    size = 0.0
    for atom in expr.atoms(sp.Rational):
        if atom.p:
            size += math.log10(abs(atom.p)) + math.log10(atom.q)
    try:
        value = abs(complex(sp.N(expr, 15)))
        if value and math.isfinite(value):
            size = max(size, abs(math.log10(value)))
    except (TypeError, ValueError, OverflowError, AttributeError):
        pass
    return max(size, math.log10(2))


def check_number_sizes(expr: sp.Basic, text: str = "", what: str = "expression") -> None:
    """Refuse an *unevaluated* expression whose exact evaluation would be astronomically
    large: a power of exact numbers, a float literal, or a factorial-like function.

    Sub-expressions are checked innermost first, so ``9**9**9`` is refused at the outer power
    after ``9**9`` passed.

    Examples
    --------
    >>> check_number_sizes(sp.Pow(10, 3000, evaluate=False))
    >>> check_number_sizes(sp.Tuple())
    Traceback (most recent call last):
    ...
    ValueError: () in the expression is a tuple, not a number: write a scalar expression
    >>> check_number_sizes(sp.factorial(sp.Integer(10) ** 8, evaluate=False))
    Traceback (most recent call last):
    ...
    ValueError: factorial(100000000) in the expression is too large to evaluate exactly ...
    """
    where = f" in the {what} {short(text)!r}" if text else f" in the {what}"
    for node in sp.postorder_traversal(expr):
        if isinstance(node, sp.Tuple):
            raise ValueError(f"{short(node, 40)}{where} is a tuple, not a number: write a "
                             "scalar expression")
        if not isinstance(node, sp.Basic) or node.free_symbols:
            continue
        if isinstance(node, sp.Float) and node.is_finite and node != 0:
            _, mantissa, exp2, _ = node._mpf_
            digits = abs(exp2 + mantissa.bit_length()) * math.log10(2)
            if digits > MAX_DIGITS:
                raise ValueError(f"{short(node, 40)}{where} is out of range (about "
                                 f"{digits:.2g} digits, more than {MAX_DIGITS})")
        elif isinstance(node, sp.Pow) and not node.has(sp.Float):
            _check_power(node, where)
        elif isinstance(node, sp.Function) and _combinatorial(node):
            for arg in node.args:
                try:
                    big = abs(complex(sp.N(arg, 15))) > MAX_COMBINATORIAL_ARG
                except (TypeError, ValueError, OverflowError):
                    big = False
                if big:
                    raise ValueError(
                        f"{short(node, 60)}{where} is too large to evaluate exactly (argument "
                        f"above {MAX_COMBINATORIAL_ARG}): write a smaller number")


def _combinatorial(node: sp.Basic) -> bool:
    module = getattr(type(node), "__module__", None) or ""
    return (module.startswith("sympy.functions.combinatorial")
            or isinstance(node, sp.gamma | sp.uppergamma | sp.lowergamma))


def _check_power(node: sp.Pow, where: str) -> None:
    base, exponent = node.args
    try:
        e = abs(complex(sp.N(exponent, 15)))
    except (TypeError, ValueError, OverflowError):
        return
    if not math.isfinite(e):
        return
    digits = e * _digits(base)
    if digits > MAX_DIGITS and base not in (sp.S.Zero, sp.S.One, sp.S.NegativeOne):
        raise ValueError(f"{short(node, 60)}{where} is a number with about {digits:.2g} "
                         f"digits (more than {MAX_DIGITS}): write a smaller number")
