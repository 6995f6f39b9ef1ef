"""Hypothesis strategies for mirror-flow property tests (importable by users).

Every strategy draws from a documented domain and carries, where it can, an *independent*
expectation fixed by construction (not derived by ``theory``): the horizon exponent of a drawn
potential, and closed-form max-margin directions of a planted dataset. Property tests compare
what the numerics measure with those expectations (see ``tests/test_properties.py``).

Strategies
----------
* :func:`potential_cases` / :func:`potentials` -- built-in families with random parameters and
  random positive sums of convex terms of different growth (:data:`FAMILIES`), and, by name,
  what users type beyond them (:data:`EXTRA_FAMILIES`: ``abs(x)**q/q``, fractional
  ``Potential.lp``, fractional-power, exp/cosh, log/asinh and Lambert-W sums, positive scalings);
* :func:`per_layer_cases` / :func:`per_layer_potentials` -- one drawn potential per layer
  (:class:`theory.PerLayer`);
* :func:`separable_datasets` -- :func:`numerics.separable_gaussian` with a drawn size, dimension,
  margin and seed;
* :func:`planted_datasets` -- data with a single planted support vector (closed-form l_q
  max-margin direction for every q, see :func:`planted_direction`);
* :func:`widths`, :func:`two_layer_models`, :func:`init_scales`.

Not random: :func:`save_and_resume` (a run saved at one log t, loaded and continued, beside
one uninterrupted run: the property that an interrupted run resumes exactly).

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
import re
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

from theory import PerLayer, Potential

from .checks import planted_dataset, planted_direction
from .problem import MLP, Dataset, TwoLayer, separable_gaussian

__all__ = [
    "ABS_EXPONENTS",
    "ALL_FAMILIES",
    "CURVATURES",
    "EXTRA_FAMILIES",
    "FAMILIES",
    "LP_EXPONENTS",
    "LP_FRACTIONAL_EXPONENTS",
    "SUM_TERMS",
    "TYPED_FAMILIES",
    "PotentialCase",
    "example",
    "init_scales",
    "mlp_models",
    "per_layer_cases",
    "per_layer_potentials",
    "planted_dataset",
    "planted_datasets",
    "planted_direction",
    "potential_cases",
    "potentials",
    "save_and_resume",
    "separable_datasets",
    "two_layer_models",
    "widths",
]

#: Families drawn by :func:`potential_cases` by default (their draws are what the property tests
#: of ``tests/test_properties.py`` were tuned on; do not change them). ``gaussian_exp`` and the
#: :data:`EXTRA_FAMILIES` are opt-in, selected by name.
FAMILIES = ("quadratic", "lp", "hyperbolic_entropy", "cosh", "sum")

#: Opt-in families: what users type beyond the built-ins (issue 10). Each is a table of
#: expressions ``theory.Potential`` accepts (:data:`TYPED_FAMILIES`), except ``lp_fractional``
#: (``Potential.lp(p)``, p in :data:`LP_FRACTIONAL_EXPONENTS`) and ``scaled``
#: (``Potential.scaled(c)`` of a quadratic, ``lp``, hyperbolic-entropy or cosh draw).
EXTRA_FAMILIES = ("abs_power", "lp_fractional", "power_sum", "exp_sum", "log_asinh",
                  "lambert_w", "scaled")
ALL_FAMILIES = (*FAMILIES, "gaussian_exp", *EXTRA_FAMILIES)

#: f''(0) of a drawn potential, fixed by construction: ``"positive"`` (finite and > 0),
#: ``"zero"`` (|x|^p, p > 2: (f')^{-1} has a square-root-type branch point at 0, so coordinates
#: that cross 0 are hard to integrate) or ``"infinite"`` (|x|^q, q < 2: f' is not Lipschitz at 0).
CURVATURES = ("positive", "zero", "infinite")

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

#: Exponents of the ``lp`` family (p >= 3: the fractional p < 3 are in ``lp_fractional``).
LP_EXPONENTS = (3.0, 3.25, 3.5, 3.75, 4.0)
_COEFFS = ("1/2", "1", "2")

#: Exponents q of ``abs(x)**q/q`` typed as a string (family ``abs_power``). theory refuses
#: 1 < q < 3/2 ("not differentiable at x = 0": its grid test reads the steep but continuous
#: f' = sign(x)|x|^(q-1) as a jump), so the domain starts at q = 3/2.
ABS_EXPONENTS = ("3/2", "7/4", "2", "5/2", "3", "7/2", "4")

#: Exponents of ``Potential.lp(p)`` in the ``lp_fractional`` family (as users pass them).
LP_FRACTIONAL_EXPONENTS = ("1.5", "1.75", "2.5", "3")

_INF, _ONE_SIDED = math.inf, math.nan

#: Table families: name -> ((f as typed, horizon exponent by construction, f''(0)), ...).
#: A horizon exponent of ``nan`` marks a one-sided horizon (f grows differently as x -> +inf
#: and x -> -inf). Entries with ``b`` draw it from the entropy grid.
TYPED_FAMILIES: dict[str, tuple[tuple[str, float, str], ...]] = {
    # sums with a fractional power: the horizon is the larger exponent (THEORY.md §3)
    "power_sum": (
        ("x**2/2 + abs(x)**(5/2)", 2.5, "positive"),   # theory: ~15 s in sympy.solve, once
        ("x**2/2 + abs(x)**(3/2)", 2.0, "infinite"),
        ("x**2/2 + abs(x)**(7/2)", 3.5, "positive"),
        ("x**2 + abs(x)**3", 3.0, "positive"),
    ),
    # exp and cosh terms: exponential growth on both sides, horizon l_inf
    "exp_sum": (
        ("x**2/2 + cosh(x)", _INF, "positive"),
        ("cosh(x) + exp(x)", _INF, "positive"),
        ("exp(x) + exp(-x)", _INF, "positive"),
        ("x**2/2 + exp(x) + exp(-x)", _INF, "positive"),
        ("x**4/4 + cosh(x)", _INF, "positive"),
    ),
    # log / asinh forms: the hyperbolic entropy in log form (l1 for every b), and quadratics
    # plus slower terms (horizon l2)
    "log_asinh": (
        ("x*log(x/b + sqrt(x**2/b**2 + 1)) - sqrt(x**2 + b**2)", 1.0, "positive"),
        ("x*asinh(x) - sqrt(x**2 + 1)", 1.0, "positive"),
        ("x**2/2 + log(cosh(x))", 2.0, "positive"),
        ("x**2/2 + log(1 + x**2)", 2.0, "positive"),
        ("x**2/2 + x*asinh(x) - sqrt(x**2 + 1)", 2.0, "positive"),
    ),
    # inverse mirror maps through LambertW (found by sympy.solve, or the built-in's hint)
    "lambert_w": (
        ("exp(x**2/2)", _INF, "positive"),
        ("x**2/2 + exp(x)", _ONE_SIDED, "positive"),
        ("x**2 + exp(-x)", _ONE_SIDED, "positive"),
    ),
}
_SCALES = ("1/10", "1/3", "3", "10")
#: Families whose draws ``scaled`` multiplies (not the random sums: each distinct sum costs
#: ~1 s of sympy validation, and their scalings multiply that by the number of scales).
_SCALED_BASES = ("quadratic", "lp", "hyperbolic_entropy", "cosh")


@dataclass(frozen=True)
class PotentialCase:
    """A drawn potential with its horizon exponent known by construction.

    Attributes
    ----------
    potential : theory.Potential
    family : str
        One of :data:`ALL_FAMILIES`.
    horizon_p : float
        Exponent of the horizon norm fixed by the construction, independently of
        ``theory``: 2 (quadratic), p (l_p), 1 (hyperbolic entropy, any b), ``inf`` (cosh,
        gaussian_exp), the largest term exponent for a sum (THEORY.md §3, "by the dominant
        growth"); ``nan`` for a one-sided horizon (x²/2 + exp(x)).
    description : str
        A short human-readable label (shown in shrunk counterexamples).
    curvature_at_0 : str
        f''(0) by construction, one of :data:`CURVATURES`.
    smooth_at_0 : bool
        False if f has an ``abs(x)**q`` term with q not an even integer (f'' or a higher
        derivative is not analytic at 0: Taylor series do not converge across 0).
    """

    potential: Potential
    family: str
    horizon_p: float
    description: str
    curvature_at_0: str = "positive"
    smooth_at_0: bool = True

    @property
    def horizon_kind(self) -> str:
        """``"l1"``, ``"lp"`` (1 < p < inf), ``"linf"`` or ``"one-sided"``, from ``horizon_p``."""
        if math.isnan(self.horizon_p):
            return "one-sided"
        return "l1" if self.horizon_p == 1 else "linf" if math.isinf(self.horizon_p) else "lp"

    def __repr__(self) -> str:
        return f"PotentialCase({self.description!r}, horizon p = {self.horizon_p})"


@functools.lru_cache(maxsize=512)
def _potential(expr: str, b: str | None) -> Potential:
    """Build (and cache: sympy validation costs ~0.1-1 s) one potential."""
    return Potential(expr) if b is None else Potential(expr, b=b)


def _exponent(text: str) -> float:
    """``"7/4"`` or ``"1.75"`` as a float (the exponents of the tables)."""
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def _power_curvature(p: str) -> str:
    """f''(0) of abs(x)**p/p: infinite for p < 2, 1 for p = 2, 0 for p > 2."""
    value = _exponent(p)
    return "infinite" if value < 2 else "positive" if value == 2 else "zero"


def _family_case(family: str, draw: Any, max_terms: int) -> PotentialCase:
    if family == "quadratic":
        return PotentialCase(Potential.quadratic(), family, 2.0, "x**2/2")
    if family == "lp":
        p = draw(st.sampled_from(LP_EXPONENTS))
        return PotentialCase(_builtin("lp", str(p)), family, p, f"|x|^{p}/{p}", "zero",
                             p == 4.0)
    if family == "hyperbolic_entropy":
        b = draw(st.sampled_from(_B_GRID))
        return PotentialCase(_builtin("hyperbolic_entropy", b), family, 1.0,
                             f"hyperbolic entropy b={b}")
    if family == "cosh":
        return PotentialCase(Potential.cosh(), family, math.inf, "cosh(x)")
    if family == "gaussian_exp":
        return PotentialCase(Potential.gaussian_exp(), family, math.inf,
                             "Potential.gaussian_exp()")
    if family == "sum":
        return _sum_case(draw, max_terms)
    return _extra_case(family, draw, max_terms)


def _sum_case(draw: Any, max_terms: int) -> PotentialCase:
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
    return PotentialCase(_potential(expr, b), "sum", max(SUM_TERMS[n][1] for n in names), desc,
                         smooth_at_0="cubic" not in names)


def _extra_case(family: str, draw: Any, max_terms: int) -> PotentialCase:
    """A case of one of the :data:`EXTRA_FAMILIES`."""
    if family == "abs_power":
        q = draw(st.sampled_from(ABS_EXPONENTS))
        return PotentialCase(_potential(f"abs(x)**({q})/({q})", None), family, _exponent(q),
                             f"abs(x)**({q})/({q})", _power_curvature(q), q in ("2", "4"))
    if family == "lp_fractional":
        p = draw(st.sampled_from(LP_FRACTIONAL_EXPONENTS))
        return PotentialCase(_builtin("lp", p), family, _exponent(p), f"Potential.lp({p})",
                             _power_curvature(p), smooth_at_0=False)
    if family == "scaled":
        base = _family_case(draw(st.sampled_from(_SCALED_BASES)), draw, max_terms)
        c = draw(st.sampled_from(_SCALES))
        return PotentialCase(_scaled(base.potential, c), family, base.horizon_p,
                             f"{c} * ({base.description})", base.curvature_at_0,
                             base.smooth_at_0)
    expr, p, curvature = draw(st.sampled_from(TYPED_FAMILIES[family]))
    b = draw(st.sampled_from(_B_GRID)) if re.search(r"\bb\b", expr) else None
    return PotentialCase(_potential(expr, b), family, p,
                         expr + (f" (b={b})" if b else ""), curvature, "abs(" not in expr)


@functools.lru_cache(maxsize=64)
def _builtin(name: str, arg: str) -> Potential:
    return getattr(Potential, name)(arg)


@functools.lru_cache(maxsize=64)
def _scaled(base: Potential, c: str) -> Potential:
    return base.scaled(c)


def _check_families(families: tuple[str, ...]) -> None:
    bad = set(families) - set(ALL_FAMILIES)
    if bad or not families:
        raise ValueError(f"families must be a non-empty subset of {ALL_FAMILIES}, got "
                         f"{families!r}")


@st.composite
def potential_cases(draw: Any, families: tuple[str, ...] = FAMILIES, max_terms: int = 3,
                    horizons: tuple[str, ...] | None = None,
                    curvatures: tuple[str, ...] | None = None,
                    smooth: bool | None = None) -> PotentialCase:
    """Draw a :class:`PotentialCase` from the documented domain.

    Domain (every expression is one ``theory.Potential`` accepts)
        * ``quadratic``: x²/2 (gradient flow; horizon l2);
        * ``lp``: abs(x)^p/p with p in :data:`LP_EXPONENTS` = {3, 3.25, 3.5, 3.75, 4} (horizon
          l_p; f''(0) = 0, so (f')^{-1} is not Lipschitz at 0: use these on linear models);
        * ``hyperbolic_entropy``: b in {1/20, 1/10, 1/5, 1/2, 1, 2} (horizon l1 for every b);
        * ``cosh``: cosh(x) (horizon l_inf);
        * ``sum``: c_1 f_1 + ... + c_m f_m, 2 <= m <= ``max_terms`` distinct terms of
          :data:`SUM_TERMS` (x²/2, abs(x)³/3, x⁴/4, hyperbolic entropy, cosh) with coefficients
          c in {1/2, 1, 2}; at least one term has f''(0) > 0, abs(x)³ and x⁴ never occur
          together, and x²/2 + x⁴/4 never alone (float64-unstable closed-form inverse).
          Horizon: the fastest-growing term (THEORY.md §3).

        Opt-in (not in :data:`FAMILIES`):

        * ``gaussian_exp``: exp(x²/2) (horizon l_inf, LambertW inverse);
        * ``abs_power``: ``abs(x)**q/q`` typed as a string, q in :data:`ABS_EXPONENTS`
          (3/2 .. 4; horizon l_q);
        * ``lp_fractional``: ``Potential.lp(p)``, p in :data:`LP_FRACTIONAL_EXPONENTS`
          (1.5, 1.75, 2.5, 3; with the family's closed-form inverse);
        * ``power_sum``, ``exp_sum``, ``log_asinh``, ``lambert_w``: the tables of
          :data:`TYPED_FAMILIES` (x²/2 + abs(x)**(5/2), x²/2 + cosh(x), cosh(x) + exp(x), the
          entropy in log form, x²/2 + log(cosh(x)), x²/2 + exp(x), ...);
        * ``scaled``: ``Potential.scaled(c)`` of a quadratic, ``lp``, hyperbolic-entropy or
          cosh draw, c in {1/10, 1/3, 3, 10} (same horizon).

    Parameters
    ----------
    families : tuple of str
        Subset of :data:`ALL_FAMILIES` to draw from.
    max_terms : int
        Largest number of terms of a sum (>= 2).
    horizons : tuple of str, optional
        Keep only cases whose constructed horizon is one of ``"l1"``, ``"lp"`` (1 < p < inf),
        ``"linf"``, ``"one-sided"``.
    curvatures : tuple of str, optional
        Keep only cases whose f''(0) is one of :data:`CURVATURES`.
    smooth : bool, optional
        Keep only cases with ``smooth_at_0 == smooth`` (no ``abs(x)**q`` kink at 0, q not an
        even integer).

    Returns
    -------
    hypothesis.strategies.SearchStrategy[PotentialCase]

    Examples
    --------
    >>> case = example(potential_cases(families=("hyperbolic_entropy",)))
    >>> case.horizon_p, case.potential.horizon.norm
    (1.0, 'l1')
    >>> case = example(potential_cases(families=("exp_sum",)))
    >>> case.horizon_kind, case.potential.horizon.norm
    ('linf', 'linf')
    """
    _check_families(families)
    if max_terms < 2:
        raise ValueError(f"max_terms must be >= 2, got {max_terms}")
    if curvatures is not None and not set(curvatures) <= set(CURVATURES):
        raise ValueError(f"curvatures must be a subset of {CURVATURES}, got {curvatures!r}")
    family = draw(st.sampled_from(tuple(families)))
    case = _family_case(family, draw, max_terms)
    if horizons is not None and case.horizon_kind not in horizons:
        reject()
    if curvatures is not None and case.curvature_at_0 not in curvatures:
        reject()
    if smooth is not None and case.smooth_at_0 != smooth:
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


def per_layer_cases(n_layers: int = 2, **kwargs: Any
                    ) -> st.SearchStrategy[tuple[PotentialCase, ...]]:
    """One :class:`PotentialCase` per layer (layer 0 first), each drawn independently.

    Domain: ``n_layers`` draws of :func:`potential_cases` with ``kwargs``.

    Examples
    --------
    >>> cases = example(per_layer_cases(2, families=("quadratic", "cosh")))
    >>> len(cases), all(c.family in ("quadratic", "cosh") for c in cases)
    (2, True)
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    return st.tuples(*(potential_cases(**kwargs) for _ in range(n_layers)))


def per_layer_potentials(n_layers: int = 2, **kwargs: Any) -> st.SearchStrategy[PerLayer]:
    """A :class:`theory.PerLayer` of :func:`per_layer_cases` (for networks: ``Problem`` takes
    one potential per layer of ``model.layer_index``).

    Examples
    --------
    >>> pl = example(per_layer_potentials(2, families=("quadratic",)))
    >>> [p.name for p in pl.potentials]
    ['quadratic', 'quadratic']
    """
    return per_layer_cases(n_layers, **kwargs).map(
        lambda cases: PerLayer(tuple(c.potential for c in cases)))


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


def mlp_models(depth: tuple[int, int] = (3, 3), width: tuple[int, int] = (2, 3),
               activations: tuple[str, ...] = ("relu", "leaky_relu(0.2)", "square_relu")
               ) -> st.SearchStrategy[MLP]:
    """Bias-free MLPs of depth D >= 3 (``D - 1`` hidden layers) with a k-homogeneous activation.

    Domain: depth in the range ``depth``, each hidden width in ``width`` (drawn per layer),
    activation from ``activations`` (specs of :func:`numerics.get_activation`).

    Examples
    --------
    >>> m = example(mlp_models(activations=("relu",)))
    >>> len(m.widths), m.degree
    (2, 3)
    """
    if depth[0] < 3:
        raise ValueError(f"an MLP has depth >= 3 (two-layer nets: two_layer_models), got {depth}")

    @st.composite
    def draw_mlp(draw: Any) -> MLP:
        layers = draw(st.integers(*depth)) - 1
        hidden = tuple(draw(widths(*width)) for _ in range(layers))
        return MLP(widths=hidden, activation=draw(st.sampled_from(activations)))

    return draw_mlp()


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


def save_and_resume(run: Any, saved_at: float, target: float, directory: Any,
                    max_seconds: float = 120.0) -> tuple[Any, Any, Any]:
    """``(saved, resumed, whole)`` for one compiled run (a
    :class:`numerics.solvers.precise.PreciseRun`): integrated to ``log t = saved_at``, saved to
    ``directory/run.json`` and loaded back (``saved``), continued from that file to ``target``
    (``resumed``), and integrated to ``target`` in one go (``whole``). The same compiled
    integrator makes the last two comparable to working precision.

    Examples
    --------
    >>> import tempfile
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, agreeing_digits, make_dataset
    >>> from numerics.solvers import plan_run
    >>> from numerics.solvers.precise import PreciseRun
    >>> prob = Problem.create(make_dataset("two_d", n=4, seed=0), Linear(),
    ...                       Potential.quadratic(), theta0=[0.0, 0.0])
    >>> run = PreciseRun(prob, plan_run(prob, dps=30, method="taylor", log_t=5.0))
    >>> saved, resumed, whole = save_and_resume(run, 2.0, 5.0, tempfile.mkdtemp())
    >>> agreeing_digits(resumed.theta_mp[-1], whole.theta_mp[-1], 40) > 28
    True
    """
    from pathlib import Path

    from .solvers import MirrorFlowSolution

    path = Path(directory) / "run.json"
    run.segment(log_t=saved_at, max_seconds=max_seconds).save(path)
    saved = MirrorFlowSolution.load(path)
    resumed = run.segment(log_t=target, max_seconds=max_seconds, start=saved)
    whole = run.segment(log_t=target, max_seconds=max_seconds)
    return saved, resumed, whole
