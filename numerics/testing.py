"""Hypothesis strategies for mirror-flow property tests (importable by users).

Every strategy draws from a documented domain and carries, where it can, an *independent*
expectation fixed by construction (not derived by ``theory``): the horizon exponent of a drawn
potential, and closed-form max-margin directions of a planted dataset. Property tests compare
what the numerics measure with those expectations (see ``tests/test_properties.py``).

Strategies
----------
* :func:`potential_cases` / :func:`potentials` -- built-in families with random parameters and
  random positive sums of convex terms of different growth;
* :func:`separable_datasets` -- :func:`numerics.separable_gaussian` with a drawn size, dimension,
  margin and seed;
* :func:`planted_datasets` -- data with a single planted support vector (closed-form l_q
  max-margin direction for every q, see :func:`planted_direction`);
* :func:`widths`, :func:`two_layer_models`, :func:`init_scales`.

The non-random helpers :func:`planted_dataset` and :func:`planted_direction` (defined in
``numerics.checks._verify``) are re-exported here. The module needs ``hypothesis`` (the ``test``
extra). The properties that use these strategies are in ``tests/test_properties.py``; the
checks they call (``numerics.checks.check_*``) are those of ``mirrorflow verify`` and can be
used in a user's own ``@given`` tests.

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(max_examples=3, deadline=None, database=None)
... @given(potential_cases(families=("quadratic", "lp")))
... def check(case):
...     assert case.potential.horizon.norm in ("lp", "l1", "linf")
>>> check()
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from hypothesis import HealthCheck, Phase, given, reject, settings
    from hypothesis import seed as _seed
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("numerics.testing needs hypothesis; install it with "
                      "pip install 'mirrorflow[test]' (or pip install hypothesis)") from exc

from theory import Potential

from .checks import planted_dataset, planted_direction
from .problem import Dataset, TwoLayer, separable_gaussian

__all__ = [
    "FAMILIES",
    "LP_EXPONENTS",
    "SUM_TERMS",
    "PotentialCase",
    "example",
    "init_scales",
    "planted_dataset",
    "planted_datasets",
    "planted_direction",
    "potential_cases",
    "potentials",
    "separable_datasets",
    "two_layer_models",
    "widths",
]

#: Families drawn by :func:`potential_cases`. ``gaussian_exp`` is opt-in: its closed-form
#: inverse mirror map uses LambertW, which the float64 path cannot compile yet.
FAMILIES = ("quadratic", "lp", "hyperbolic_entropy", "cosh", "sum")
_ALL_FAMILIES = (*FAMILIES, "gaussian_exp")

#: Terms of the random sums: name -> (f as a string in x (b: entropy scale), horizon exponent
#: of the term alone, whether f''(0) > 0). The sum's horizon is the fastest-growing term's.
SUM_TERMS: dict[str, tuple[str, float, bool]] = {
    "quadratic": ("x**2/2", 2.0, True),
    "cubic": ("abs(x)**3/3", 3.0, False),
    "quartic": ("x**4/4", 4.0, False),
    "entropy": ("(x*asinh(x/b) - sqrt(x**2 + b**2))", 1.0, True),
    "cosh": ("cosh(x)", math.inf, True),
}
_B_GRID = ("1/20", "1/10", "1/5", "1/2", "1", "2")

#: Exponents of the ``lp`` family. Fractional p < 3 is left out: ``Potential.lp`` compiles
#: f' or f'' for them to NaN at x < 0 in float64 (e.g. x/Abs(sqrt(x)) for p = 3/2) and
#: rejects p < 3/2 as "not differentiable" (a theory-layer limitation, see the tests).
LP_EXPONENTS = (3.0, 3.25, 3.5, 3.75, 4.0)
_COEFFS = ("1/2", "1", "2")


@dataclass(frozen=True)
class PotentialCase:
    """A drawn potential with its horizon exponent known by construction.

    Attributes
    ----------
    potential : theory.Potential
    family : str
        One of :data:`FAMILIES` (or ``"gaussian_exp"``).
    horizon_p : float
        Exponent of the horizon norm fixed by the construction, independently of
        ``theory``: 2 (quadratic), p (l_p), 1 (hyperbolic entropy, any b), ``inf`` (cosh,
        gaussian_exp), the largest term exponent for a sum (THEORY.md §3, "by the dominant
        growth").
    description : str
        A short human-readable label (shown in shrunk counterexamples).
    """

    potential: Potential
    family: str
    horizon_p: float
    description: str

    def __repr__(self) -> str:
        return f"PotentialCase({self.description!r}, horizon p = {self.horizon_p})"


@functools.lru_cache(maxsize=512)
def _potential(expr: str, b: str | None) -> Potential:
    """Build (and cache: sympy validation costs ~0.1-1 s) one potential."""
    return Potential(expr) if b is None else Potential(expr, b=b)


def _family_case(family: str, draw: Any, max_terms: int) -> PotentialCase:
    if family == "quadratic":
        return PotentialCase(Potential.quadratic(), family, 2.0, "x**2/2")
    if family == "lp":
        p = draw(st.sampled_from(LP_EXPONENTS))
        return PotentialCase(_builtin("lp", str(p)), family, p, f"|x|^{p}/{p}")
    if family == "hyperbolic_entropy":
        b = draw(st.sampled_from(_B_GRID))
        return PotentialCase(_builtin("hyperbolic_entropy", b), family, 1.0,
                             f"hyperbolic entropy b={b}")
    if family == "cosh":
        return PotentialCase(Potential.cosh(), family, math.inf, "cosh(x)")
    if family == "gaussian_exp":
        return PotentialCase(Potential.gaussian_exp(), family, math.inf, "exp(x**2/2)")
    # random sum: 2..max_terms distinct terms, at least one with f''(0) > 0 (the float64
    # primal path divides by f''), not both pure powers (sympy's inverse search on
    # x + x|x| + x^3 costs ~15 s and finds nothing), and not x²/2 + x⁴/4 alone (its
    # closed-form Cardano inverse cancels in float64: relative error 0.15 at |x| = 300)
    names = draw(st.lists(st.sampled_from(sorted(SUM_TERMS)), min_size=2,
                          max_size=max(2, max_terms), unique=True)
                 .filter(lambda ns: any(SUM_TERMS[n][2] for n in ns)
                         and not {"cubic", "quartic"} <= set(ns)
                         and set(ns) != {"quadratic", "quartic"}))
    coeffs = [draw(st.sampled_from(_COEFFS)) for _ in names]
    expr = " + ".join(f"{c}*{SUM_TERMS[n][0]}" for c, n in zip(coeffs, names, strict=True))
    b = draw(st.sampled_from(_B_GRID)) if "entropy" in names else None
    desc = " + ".join(f"{c}*{n}" for c, n in zip(coeffs, names, strict=True)) + (
        f" (b={b})" if b else "")
    return PotentialCase(_potential(expr, b), "sum", max(SUM_TERMS[n][1] for n in names), desc)


@functools.lru_cache(maxsize=64)
def _builtin(name: str, arg: str) -> Potential:
    return getattr(Potential, name)(arg)


@st.composite
def potential_cases(draw: Any, families: tuple[str, ...] = FAMILIES, max_terms: int = 3,
                    horizons: tuple[str, ...] | None = None) -> PotentialCase:
    """Draw a :class:`PotentialCase` from the documented domain.

    Domain
        * ``quadratic``: x²/2 (gradient flow; horizon l2);
        * ``lp``: abs(x)^p/p with p in :data:`LP_EXPONENTS` = {3, 3.25, 3.5, 3.75, 4} (horizon
          l_p; f''(0) = 0, so (f')^{-1} is not Lipschitz at 0: use these on linear models);
        * ``hyperbolic_entropy``: b in {1/20, 1/10, 1/5, 1/2, 1, 2} (horizon l1 for every b);
        * ``cosh``: cosh(x) (horizon l_inf);
        * ``gaussian_exp``: exp(x²/2) (horizon l_inf; opt-in, not in :data:`FAMILIES`);
        * ``sum``: c_1 f_1 + ... + c_m f_m, 2 <= m <= ``max_terms`` distinct terms of
          :data:`SUM_TERMS` (x²/2, abs(x)³/3, x⁴/4, hyperbolic entropy, cosh) with coefficients
          c in {1/2, 1, 2}; at least one term has f''(0) > 0, abs(x)³ and x⁴ never occur
          together, and x²/2 + x⁴/4 never alone (float64-unstable closed-form inverse).
          Horizon: the fastest-growing term (THEORY.md §3).

    Parameters
    ----------
    families : tuple of str
        Subset of ``FAMILIES + ("gaussian_exp",)`` to draw from.
    max_terms : int
        Largest number of terms of a sum (>= 2).
    horizons : tuple of str, optional
        Keep only cases whose constructed horizon is one of ``"l1"``, ``"lp"`` (1 < p < inf),
        ``"linf"``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy[PotentialCase]

    Examples
    --------
    >>> case = example(potential_cases(families=("hyperbolic_entropy",)))
    >>> case.horizon_p, case.potential.horizon.norm
    (1.0, 'l1')
    """
    bad = set(families) - set(_ALL_FAMILIES)
    if bad or not families:
        raise ValueError(f"families must be a non-empty subset of {_ALL_FAMILIES}, got "
                         f"{families!r}")
    if max_terms < 2:
        raise ValueError(f"max_terms must be >= 2, got {max_terms}")
    family = draw(st.sampled_from(tuple(families)))
    case = _family_case(family, draw, max_terms)
    if horizons is not None:
        kind = "l1" if case.horizon_p == 1 else "linf" if math.isinf(case.horizon_p) else "lp"
        if kind not in horizons:
            reject()
    return case


def potentials(**kwargs: Any) -> st.SearchStrategy[Potential]:
    """Draw a :class:`theory.Potential`; the domain and arguments of :func:`potential_cases`.

    Examples
    --------
    >>> example(potentials(families=("cosh",))).name
    'cosh'
    """
    return potential_cases(**kwargs).map(lambda case: case.potential)


def example(strategy: st.SearchStrategy[Any], seed: int = 0) -> Any:
    """One reproducible draw from ``strategy`` (for scripts and docs; tests use ``@given``).

    Unlike ``strategy.example()`` it is deterministic in ``seed`` and emits no warning.

    Examples
    --------
    >>> case = example(potential_cases(families=("hyperbolic_entropy",)))
    >>> case.horizon_p, case.potential.horizon.norm
    (1.0, 'l1')
    """
    out: list[Any] = []

    @settings(max_examples=2, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def grab(value: Any) -> None:
        out.append(value)

    _seed(seed)(grab)()
    return out[-1]


# ============================================================================ datasets


@st.composite
def separable_datasets(draw: Any, n: tuple[int, int] = (4, 16), d: tuple[int, int] = (2, 4),
                       margin: tuple[float, float] = (0.1, 0.5)) -> Dataset:
    """Linearly separable data through the origin with a guaranteed l2 margin.

    Domain: :func:`numerics.separable_gaussian` with n, d integers and margin a float in the
    given closed ranges, seed in [0, 2**16). The unit teacher ``info["teacher"]`` attains
    margin >= ``margin``, so the l2 max-margin value is at least that.

    Examples
    --------
    >>> ds = example(separable_datasets(n=(5, 5), d=(3, 3)))
    >>> ds.X.shape
    (5, 3)
    """
    return separable_gaussian(n=draw(st.integers(*n)), d=draw(st.integers(*d)),
                              margin=draw(st.floats(*margin)),
                              seed=draw(st.integers(0, 2**16 - 1)))


@st.composite
def planted_datasets(draw: Any, d: int = 2, n: tuple[int, int] = (1, 6),
                     ratio: tuple[float, float] = (0.2, 0.6),
                     scale: tuple[float, float] = (0.5, 2.0)) -> Dataset:
    """Planted single-support data (:func:`planted_dataset`) with distinct l_q directions.

    Domain: ``x_star = c P (1, r_2, ..., r_d)`` with c in ``scale``, the r_k in ``ratio`` and
    strictly decreasing (so the l1 vertex is unique and the l_q directions of different q are
    distinct), P a random signed permutation; n points in the range ``n``.

    Examples
    --------
    >>> ds = example(planted_datasets(d=3))
    >>> ds.X.shape[1], len(ds.info["x_star"])
    (3, 3)
    """
    lo, hi = ratio
    if not 0 < lo < hi < 1:
        raise ValueError(f"ratio must satisfy 0 < low < high < 1, got {ratio}")
    rs = sorted(draw(st.lists(st.floats(lo, hi), min_size=d - 1, max_size=d - 1)), reverse=True)
    rs = [r for k, r in enumerate(rs) if k == 0 or rs[k - 1] - r > 0.05]
    if len(rs) != d - 1:
        reject()
    c = draw(st.floats(*scale))
    perm = draw(st.permutations(range(d)))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d))
    base = c * np.array([1.0, *rs])
    xs = np.empty(d)
    xs[list(perm)] = base
    xs *= np.array(signs)
    return planted_dataset(xs, n=draw(st.integers(*n)), seed=draw(st.integers(0, 2**16 - 1)))


# ============================================================================ models, init


def widths(low: int = 1, high: int = 8) -> st.SearchStrategy[int]:
    """Hidden widths m, integers in [low, high].

    Examples
    --------
    >>> 1 <= example(widths()) <= 8
    True
    """
    return st.integers(low, high)


def two_layer_models(width: tuple[int, int] = (1, 6),
                     activations: tuple[str, ...] = ("relu", "leaky_relu(0.2)", "square_relu",
                                                     "power(2)")
                     ) -> st.SearchStrategy[TwoLayer]:
    """Bias-free two-layer networks with a k-homogeneous activation (balance law applies).

    Domain: width in the range ``width``, activation from ``activations`` (specs of
    :func:`numerics.get_activation`).

    Examples
    --------
    >>> example(two_layer_models(activations=("square_relu",))).degree
    3
    """
    return st.builds(lambda m, a: TwoLayer(width=m, activation=a), widths(*width),
                     st.sampled_from(activations))


def init_scales(low: float = 0.01, high: float = 1.0) -> st.SearchStrategy[float]:
    """Initial scales, log-uniform in [low, high] (the knob of the implicit bias).

    Examples
    --------
    >>> 0.01 <= example(init_scales()) <= 1.0
    True
    """
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got {low}, {high}")
    return st.floats(math.log10(low), math.log10(high)).map(lambda u: float(10.0 ** u))
