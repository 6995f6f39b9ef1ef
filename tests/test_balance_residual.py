"""The reported balance-law residual is relative to the size of its terms (THEORY.md §2).

``balance_residual_max[k] = max_j |C_j(θ_k) − C_j(θ_0)| / (1 + max(S_j(θ_k), S_j(θ_0)))`` with
C_j = Σ_in g − k Σ_out g and S_j = Σ_in |g| + k Σ_out |g|, in float64
(:func:`numerics.solvers.balance_residuals`) and in mpmath
(:func:`numerics.solvers.precise.mp_balance`). Every expectation is written out here by hand, in
mpmath at 60 digits, from g(x) = (x² − 1) e^{x²/2} (f = exp(x²/2)) or g(x) = x sinh x − cosh x
(f = cosh x) and the two-layer layout (W row by row, then a); θ paths are built by hand at large
|θ|, where the absolute and the relative residual differ by 9 to 17 orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np
import pytest

from numerics import Problem, TwoLayer, two_d
from numerics.solvers import balance_residuals
from theory import Potential

#: g = x f' − f for the two potentials, written out here (not taken from theory).
G_HAND: dict[str, Callable[[mpmath.mpf], mpmath.mpf]] = {
    "gaussian_exp": lambda x: (x**2 - 1) * mpmath.exp(x**2 / 2),
    "cosh": lambda x: x * mpmath.sinh(x) - mpmath.cosh(x),
}

#: Rows (W00, W01, W10, W11, a0, a1) of a width-2 square-ReLU net (k = 2), exact in binary.
#: Neuron 0 carries the big terms (W00 = 6), neuron 1 small ones; row 3 moves the big weight.
PATH_F64 = [
    [6.0, 0.5, 0.25, -0.5, 1.0, 0.75],
    [6.0, 0.5, 0.25, -0.5, 1.5, 0.75],        # ΔC_0 = −2 g(1.5): O(1) against S_0 ~ 2e9
    [6.0, -0.25, 0.25, -0.75, 1.25, 0.5],     # both neurons move a little
    [5.0, 0.5, 0.25, -0.5, 1.0, 0.75],        # ΔC_0 ~ S_0(θ_0): relative O(1)
]


def net(potential: Potential, width: int = 2) -> Problem:
    """Two-layer square-ReLU net (k = 2) on 2-D data: neuron j has incoming W[j, :] and
    outgoing a[j] (checked against the model's own groups)."""
    prob = Problem.create(two_d(4, seed=0), TwoLayer(width=width, activation="power(2)"),
                          potential)
    groups = [(gr.incoming, gr.outgoing, gr.k) for gr in prob.model.neuron_groups(prob.d)]
    assert groups == [((2 * j, 2 * j + 1), (2 * width + j,), 2) for j in range(width)]
    return prob


def hand_parts(g: Callable, theta: Sequence, width: int) -> list[tuple[mpmath.mpf, mpmath.mpf]]:
    """(C_j, S_j) per neuron, by hand: C = g(W_j0) + g(W_j1) − 2 g(a_j), S with |g|."""
    th = [mpmath.mpf(v) for v in theta]
    out = []
    for j in range(width):
        terms = [g(th[2 * j]), g(th[2 * j + 1]), g(th[2 * width + j])]
        out.append((terms[0] + terms[1] - 2 * terms[2],
                    abs(terms[0]) + abs(terms[1]) + 2 * abs(terms[2])))
    return out


def hand_residuals(g: Callable, path: Sequence, width: int, *, relative: bool = True,
                   reference: Sequence | None = None) -> list[float]:
    """max_j |ΔC_j| / (1 + max(S_j(θ_k), S_j(θ_ref))) per row (or max_j |ΔC_j| if not
    ``relative``), at 60 digits."""
    with mpmath.workdps(60):
        ref = hand_parts(g, path[0] if reference is None else reference, width)
        rows = []
        for theta in path:
            now = hand_parts(g, theta, width)
            rows.append(float(max(
                abs(c - c0) / ((1 + max(s, s0)) if relative else 1)
                for (c, s), (c0, s0) in zip(now, ref, strict=True))))
        return rows


def mp_balance_at(prob: Problem, path: Sequence, dps: int, **kw) -> np.ndarray:
    """``mp_balance`` at ``dps`` digits on a path of exact binary numbers."""
    mp_balance = pytest.importorskip("numerics.solvers.precise").mp_balance
    with mpmath.workdps(dps):
        thetas = np.array([[mpmath.mpf(v) for v in row] for row in path], dtype=object)
        if "reference" in kw:
            kw["reference"] = np.array([mpmath.mpf(v) for v in kw["reference"]], dtype=object)
        return mp_balance(prob, thetas, **kw)


# ------------------------------------------------------------------------------- float64


def test_float64_residual_is_relative_per_neuron() -> None:
    """float64, exp(x²/2), W00 = 6 (g ≈ 2.3e9): the expected relative residual, per row, is
    max over the two neurons of |ΔC_j| / (1 + S_j), S_j at the larger of the two points; the
    absolute one is 8 to 9 orders larger. Float64 rounds the terms to ~2e9 · 1e-16, so the
    O(1) changes of C are good to ~1e-7."""
    prob = net(Potential.gaussian_exp())
    expected = hand_residuals(G_HAND["gaussian_exp"], PATH_F64, 2)
    absolute = hand_residuals(G_HAND["gaussian_exp"], PATH_F64, 2, relative=False)
    got = balance_residuals(prob, np.array(PATH_F64))
    assert got[0] == 0.0
    np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-6)
    assert absolute[1] > 1e8 * expected[1]      # the definitions differ by orders here
    assert 0.5 < expected[3] < 1.0              # big weight moved: S at θ_0 sets the scale


def test_float64_model_without_neurons_reports_zero() -> None:
    """A linear model has no balance law: zeros, one per row."""
    from numerics import Linear
    prob = Problem.create(two_d(4, seed=0), Linear(), Potential.cosh())
    assert balance_residuals(prob, np.ones((3, 2))).tolist() == [0.0, 0.0, 0.0]


def test_float64_overflowing_terms_stay_non_finite() -> None:
    """cosh at θ = 800 overflows float64 (g = inf): the residual says so (inf), not 0."""
    prob = net(Potential.cosh(), width=1)
    with np.errstate(over="ignore", invalid="ignore"):
        got = balance_residuals(prob, np.array([[1.0, 0.5, 1.0], [800.0, 0.5, 1.0]]))
    assert got[0] == 0.0 and not np.isfinite(got[1])


# -------------------------------------------------------------------------------- mpmath


def test_mp_residual_equals_absolute_over_one_plus_terms() -> None:
    """One neuron, exp(x²/2) at W00 = 8 (g = 63 e^32 ≈ 5e15) at 30 digits: the residual is
    |ΔC| / (1 + max(S(θ_k), S(θ_0))) with |ΔC| and S written out by hand, ~2e-16 of the
    absolute residual."""
    path = [[8.0, 0.5, 1.0], [8.0, 0.5, 1.5], [8.0, -0.75, 0.5], [8.0, 0.5, 1.0]]
    prob = net(Potential.gaussian_exp(), width=1)
    g = G_HAND["gaussian_exp"]
    with mpmath.workdps(60):
        C0, S0 = hand_parts(g, path[0], 1)[0]
        expected = []
        for theta in path:
            C, S = hand_parts(g, theta, 1)[0]
            expected.append(float(abs(C - C0) / (1 + max(S, S0))))
        absolute_1 = float(abs(hand_parts(g, path[1], 1)[0][0] - C0))
    got = mp_balance_at(prob, path, 30)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-45)
    assert got[0] == 0.0 and got[3] < 1e-25    # the same θ: zero up to rounding of 5e15
    assert 1e15 < absolute_1 / got[1] < 1e16


def test_mp_residual_cosh_two_neurons() -> None:
    """cosh at W00 = 40 (g ≈ 4.6e18), 40 digits, two neurons: max over neurons of the relative
    residual, which here comes from the neuron with the small terms; against a hand
    computation at 60 digits."""
    path = [[40.0, 0.5, 0.25, -0.5, 1.0, 0.75],
            [40.0, 0.5, 0.25, -0.5, 2.0, 0.75],     # neuron 0: ΔC ~ 5, S ~ 5e18
            [40.0, 0.5, 0.5, -0.5, 1.0, 0.75]]      # neuron 1 only: ΔC ~ 0.1, S ~ 1
    prob = net(Potential.cosh())
    expected = hand_residuals(G_HAND["cosh"], path, 2)
    absolute = hand_residuals(G_HAND["cosh"], path, 2, relative=False)
    got = mp_balance_at(prob, path, 40)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-50)
    assert absolute[1] > 1e17 * expected[1]
    with mpmath.workdps(60):                        # row 2: neuron 1 alone moved
        S1 = max(hand_parts(G_HAND["cosh"], path[i], 2)[1][1] for i in (0, 2))
    assert expected[2] == pytest.approx(absolute[2] / float(1 + S1), rel=1e-12)
    assert expected[2] > 1e-3                       # small terms: relative ~ absolute


def test_mp_residual_with_reference_measures_from_it() -> None:
    """A continued run passes the run's first θ as ``reference``: the residuals of the later
    rows are those of the whole path, S taken at the reference and the row."""
    prob = net(Potential.gaussian_exp())
    whole = mp_balance_at(prob, PATH_F64, 30)
    tail = mp_balance_at(prob, PATH_F64[2:], 30, reference=PATH_F64[0])
    np.testing.assert_allclose(tail, whole[2:], rtol=1e-20)
    np.testing.assert_allclose(tail, hand_residuals(G_HAND["gaussian_exp"], PATH_F64[2:], 2,
                                                    reference=PATH_F64[0]), rtol=1e-12)


def test_float64_and_mp_paths_share_the_definition() -> None:
    """The same θ path through both layers: equal to float64's rounding of the terms."""
    prob = net(Potential.gaussian_exp())
    np.testing.assert_allclose(balance_residuals(prob, np.array(PATH_F64))[1:],
                               mp_balance_at(prob, PATH_F64, 30)[1:], rtol=1e-6)


def test_a_theta_of_the_wrong_length_is_refused_by_name():
    prob = Problem.create(two_d(4, seed=0), TwoLayer(width=1, activation="power(2)"),
                          Potential.quadratic())
    mp_balance = pytest.importorskip("numerics.solvers.precise").mp_balance
    for compute in (balance_residuals, mp_balance):
        with pytest.raises(ValueError, match="each θ must have 3 parameters"):
            compute(prob, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="got rows of 3, 4"):
        mp_balance(prob, [[1.0, 2.0, 3.0]], reference=[1.0, 2.0, 3.0, 4.0])
