"""Tests for the models (numerics.problem._activations, _base, _models, _networks) and
numerics.problem._backends.

Every expectation is independent of the code under test: gradients are compared with sympy
derivatives of a network rebuilt here from the documented parameter order, and with 6th-order
central differences at 50 digits; homogeneity, Euler's identity and the neuron-rescaling
identity behind the balance law (THEORY.md §1-2) are checked as identities; the MLP degree is
read off function values. Rounding tolerances scale with ``M = Phi(|theta|; |X|)``, which bounds
every intermediate sum of these networks (all activations satisfy ``|s(z)| <= s(|z|)``).
"""

from __future__ import annotations

import dataclasses
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.problem import (
    FLOAT64,
    HEYOKA,
    MLP,
    MPMATH,
    Activation,
    Diagonal,
    LeakyReLU,
    Linear,
    Model,
    NeuronGroup,
    Power,
    ReLU,
    SquareReLU,
    TwoLayer,
    get_activation,
    get_backend,
    make_model,
)
from numerics.testing import mlp_models, two_layer_models

DPS = 50

MODELS: list[Model] = [
    Linear(),
    Diagonal(depth=1),
    Diagonal(depth=2),
    Diagonal(depth=3),
    TwoLayer(width=3, activation=ReLU()),
    TwoLayer(width=3, activation=LeakyReLU(0.1)),
    TwoLayer(width=3, activation=SquareReLU()),
    TwoLayer(width=2, activation=Power(3)),
    MLP(widths=(3, 2), activation=ReLU()),
    MLP(widths=(2, 3), activation=LeakyReLU(0.25)),
    MLP(widths=(2, 2), activation=SquareReLU()),
    MLP(widths=(2, 2, 2), activation=Power(2)),
    MLP(widths=(2, 2, 2), activation=ReLU()),
]
IDS = [repr(m) for m in MODELS]


# ============================================================================ references


def sym_activation(act: Activation, z: sp.Expr) -> sp.Expr:
    """The activation written independently in sympy."""
    if isinstance(act, ReLU):
        return sp.Max(z, 0)
    if isinstance(act, LeakyReLU):
        return sp.Piecewise((z, z > 0), (sp.Rational(act.slope) * z, True))
    if isinstance(act, SquareReLU):
        return sp.Max(z, 0) ** 2
    if isinstance(act, Power):
        return z**act.k
    raise AssertionError(act)


def reference(model: Model, theta: list, x: list) -> tuple[sp.Expr, list[sp.Expr]]:
    """``Phi(theta; x)`` and the list of pre-activations, from the documented theta order."""
    d = len(x)
    if isinstance(model, Linear):
        return sum(theta[i] * x[i] for i in range(d)), []
    if isinstance(model, Diagonal):
        L = model.depth
        return sum((theta[i] ** L - theta[d + i] ** L) * x[i] for i in range(d)), []
    assert isinstance(model, MLP | TwoLayer)
    act = model.activation
    sizes = [d, *model.widths, 1]
    h, pos, pre = list(x), 0, []
    for layer in range(len(sizes) - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        W = [[theta[pos + r * n_in + c] for c in range(n_in)] for r in range(n_out)]
        pos += n_in * n_out
        z = [sum(W[r][c] * h[c] for c in range(n_in)) for r in range(n_out)]
        if layer == len(sizes) - 2:
            assert pos == len(theta)
            return z[0], pre
        pre += z
        h = [sym_activation(act, zi) for zi in z]
    raise AssertionError


def rational(v: float) -> sp.Rational:
    return sp.Rational(float(v))


def draw_away_from_kinks(model: Model, d: int, n: int, seed: int, gap: float = 0.05):
    """theta ~ N(0, 1), X ~ N(0, 1) with every pre-activation |z| >= gap (independent check)."""
    rng = np.random.default_rng(seed)
    P = model.n_params(d)
    for _ in range(200):
        theta, X = rng.standard_normal(P), rng.standard_normal((n, d))
        ts = [rational(t) for t in theta]
        pre = [z for x in X for z in reference(model, ts, [rational(v) for v in x])[1]]
        if all(abs(z) >= gap for z in pre):
            return theta, X
    raise AssertionError("could not draw a point away from the kinks")


def magnitude(model: Model, theta, X) -> float:
    """A bound on all intermediate sums (the scale for rounding tolerances).

    ``Phi(|theta|; |X|)`` for the networks (every activation has ``|s(z)| <= s(|z|)``), and
    ``sum_i (|u_i|**L + |v_i|**L) |x_i|`` for diagonal networks.
    """
    theta, X = np.abs(theta), np.abs(X)
    if isinstance(model, Diagonal):
        d = X.shape[1]
        return float(np.max(X @ (theta[:d] ** model.depth + theta[d:] ** model.depth))) + 1e-300
    return float(np.max(model.outputs(theta, X))) + 1e-300


def mp_array(a) -> np.ndarray:
    return MPMATH.asarray(a)


# ============================================================================ gradients


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_gradients_match_sympy_at_50_digits(model: Model) -> None:
    d, n = 3, 2
    theta, X = draw_away_from_kinks(model, d, n, seed=11)
    syms = sp.symbols(f"t0:{model.n_params(d)}")
    values = {s: rational(t) for s, t in zip(syms, theta, strict=True)}
    with mpmath.workdps(DPS):
        out, grads = model.outputs_and_grads(theta, X, MPMATH)
        for i, x in enumerate(X):
            phi, _ = reference(model, list(syms), [rational(v) for v in x])
            exact_phi = sp.Rational(phi.xreplace(values))
            exact_grad = [sp.Rational(sp.diff(phi, s).xreplace(values)) for s in syms]
            scale = max([1.0] + [abs(float(g)) for g in exact_grad])
            assert abs(out[i] - mpmath.mpf(sp.Float(exact_phi, DPS + 10))) < 1e-46 * scale
            for j, g in enumerate(exact_grad):
                assert abs(grads[i, j] - mpmath.mpf(sp.Float(g, DPS + 10))) < 1e-46 * scale


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_gradients_match_central_differences_at_50_digits(model: Model) -> None:
    d, n = 3, 3
    theta, X = draw_away_from_kinks(model, d, n, seed=5)
    # 6th-order stencil: truncation ~ h**6 |f^(7)| ~ 1e-42, rounding ~ 1e-50 / h = 1e-43.
    coef = {1: 45, 2: -9, 3: 1}
    with mpmath.workdps(DPS):
        h = mpmath.mpf("1e-7")
        th = mp_array(theta)
        grads = model.output_grads(th, X, MPMATH)
        for j in range(len(theta)):
            fd = np.zeros(n, dtype=object)
            for s, c in coef.items():
                plus, minus = th.copy(), th.copy()
                plus[j] += s * h
                minus[j] -= s * h
                fd = fd + (model.outputs(plus, X, MPMATH) - model.outputs(minus, X, MPMATH)) * c
            fd = fd / (60 * h)
            for i in range(n):
                assert abs(fd[i] - grads[i, j]) < 1e-40 * max(1, abs(grads[i, j]))


# ============================================================================ homogeneity


def model_strategy() -> st.SearchStrategy[Model]:
    acts = st.sampled_from([ReLU(), LeakyReLU(0.2), SquareReLU(), Power(1), Power(2), Power(3)])
    widths = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.just(Linear()),
        st.integers(1, 4).map(lambda L: Diagonal(depth=L)),
        st.builds(TwoLayer, width=st.integers(1, 4), activation=acts),
        st.builds(MLP, widths=widths, activation=acts),
    )


def expected_degree(model: Model) -> int:
    """Degree from the formula in the brief's derivation, computed here independently."""
    if isinstance(model, Linear):
        return 1
    if isinstance(model, Diagonal):
        return model.depth
    k, D = model.activation.degree, len(model.widths) + 1
    return D if k == 1 else (k**D - 1) // (k - 1)


@settings(database=None, max_examples=40, deadline=None)
@given(
    model=model_strategy(),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(0.1, 10.0),
)
def test_homogeneity_and_euler_float64(model: Model, d: int, seed: int, c: float) -> None:
    rng = np.random.default_rng(seed)
    theta, X = rng.standard_normal(model.n_params(d)), rng.standard_normal((4, d))
    L = expected_degree(model)
    assert model.degree == L == sum(model.layer_degrees)
    M = magnitude(model, theta, X)
    out, grads = model.outputs_and_grads(theta, X)
    np.testing.assert_allclose(
        model.outputs(c * theta, X), c**L * out, rtol=0, atol=1e-12 * M * c**L
    )
    np.testing.assert_allclose(grads @ theta, L * out, rtol=0, atol=1e-12 * L * M)
    # per layer: Phi is homogeneous of degree layer_degrees[l] in the weights of layer l
    layers = model.layer_index(d)
    for layer, deg in enumerate(model.layer_degrees):
        mask = layers == layer
        np.testing.assert_allclose(grads[:, mask] @ theta[mask], deg * out, atol=1e-12 * L * M)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_homogeneity_and_euler_at_50_digits(model: Model) -> None:
    rng = np.random.default_rng(3)
    d = 3
    while True:  # a draw where some output is not tiny (ReLU nets can be dead)
        theta, X = rng.standard_normal(model.n_params(d)), rng.standard_normal((4, d))
        M = magnitude(model, theta, X)
        if np.max(np.abs(model.outputs(theta, X))) > 1e-3 * M:
            break
    with mpmath.workdps(DPS):
        th = mp_array(theta)
        c = mpmath.mpf(2) / 3
        out, grads = model.outputs_and_grads(th, X, MPMATH)
        scaled = model.outputs(th * c, X, MPMATH)
        # the degree read off function values: log(Phi(c theta) / Phi(theta)) / log c
        i = int(np.argmax([abs(o) for o in out]))
        assert abs(mpmath.log(scaled[i] / out[i]) / mpmath.log(c) - expected_degree(model)) < 1e-40
        L = model.degree
        for i in range(len(out)):
            assert abs(scaled[i] - c**L * out[i]) < 1e-47 * M
            assert abs(mpmath.fsum(grads[i] * th) - L * out[i]) < 1e-47 * L * M


# ============================================================================ balance law


@settings(database=None, max_examples=30, deadline=None)
@given(model=model_strategy(), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_neuron_rescaling_identity(model: Model, d: int, seed: int) -> None:
    """<theta_I, grad_I Phi> = k <theta_O, grad_O Phi> for every neuron and input (THEORY §2)."""
    rng = np.random.default_rng(seed)
    theta, X = rng.standard_normal(model.n_params(d)), rng.standard_normal((5, d))
    M = magnitude(model, theta, X)
    grads = model.output_grads(theta, X)
    groups = model.neuron_groups(d)
    for g in groups:
        inc, out = list(g.incoming), list(g.outgoing)
        lhs, rhs = grads[:, inc] @ theta[inc], g.k * (grads[:, out] @ theta[out])
        np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * model.degree * M)
        # the symmetry itself, on function values: theta_I -> c theta_I, theta_O -> c^-k theta_O
        moved = theta.copy()
        moved[inc] *= 1.7
        moved[out] *= 1.7 ** (-g.k)
        np.testing.assert_allclose(
            model.outputs(moved, X), model.outputs(theta, X), rtol=0, atol=1e-12 * 3 * M
        )
    # one group per hidden neuron, with the activation's degree; none for linear models
    hidden = sum(model.widths) if isinstance(model, MLP | TwoLayer) else 0
    assert len(groups) == hidden
    k = model.activation.degree if hidden else None
    assert all(g.k == k for g in groups)
    assert len({g.incoming for g in groups}) == hidden


def test_two_layer_groups_are_rows_of_w_and_entries_of_a() -> None:
    m, d = 3, 4
    groups = TwoLayer(width=m, activation="square_relu").neuron_groups(d)
    assert groups == [
        NeuronGroup(tuple(range(j * d, (j + 1) * d)), (m * d + j,), 2) for j in range(m)
    ]


def test_mlp_groups_are_rows_in_and_columns_out() -> None:
    d, (h1, h2) = 2, (3, 2)
    groups = MLP(widths=(h1, h2)).neuron_groups(d)
    o2, o3 = h1 * d, h1 * d + h2 * h1
    expected = [
        NeuronGroup(tuple(range(j * d, j * d + d)), (o2 + j, o2 + h1 + j), 1) for j in range(h1)
    ]
    expected += [
        NeuronGroup(tuple(range(o2 + j * h1, o2 + (j + 1) * h1)), (o3 + j,), 1) for j in range(h2)
    ]
    assert groups == expected


# ============================================================================ backends


@settings(database=None, max_examples=15, deadline=None)
@given(model=model_strategy(), seed=st.integers(0, 2**32 - 1))
def test_float64_and_mpmath_agree(model: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = 3
    theta, X = rng.standard_normal(model.n_params(d)), rng.standard_normal((4, d))
    M = magnitude(model, theta, X)
    out, grads = model.outputs_and_grads(theta, X, "float64")
    assert out.dtype == np.float64 and grads.dtype == np.float64
    with mpmath.workdps(30):
        out_mp, grads_mp = model.outputs_and_grads(theta, X, MPMATH)
        assert all(isinstance(v, mpmath.mpf) for v in grads_mp.ravel())
        assert mpmath.mp.dps == 30
    np.testing.assert_allclose(out_mp.astype(float), out, rtol=0, atol=1e-13 * M)
    np.testing.assert_allclose(grads_mp.astype(float), grads, rtol=0, atol=1e-13 * M * model.degree)


HEYOKA_MODELS = [
    Linear(),
    Diagonal(depth=3),
    TwoLayer(width=3, activation=ReLU()),
    TwoLayer(width=2, activation=LeakyReLU(0.1)),
    MLP(widths=(2, 2), activation=SquareReLU()),
    MLP(widths=(2, 3), activation=Power(3)),
]


@pytest.mark.parametrize("model", HEYOKA_MODELS, ids=[repr(m) for m in HEYOKA_MODELS])
def test_heyoka_expressions_agree_with_float64(model: Model) -> None:
    hy = pytest.importorskip("heyoka")
    d, n = 3, 4
    rng = np.random.default_rng(7)
    theta, X = rng.standard_normal(model.n_params(d)), rng.standard_normal((n, d))
    P = model.n_params(d)
    variables = np.empty(P, dtype=object)
    variables[:] = [hy.expression(f"t{i}") for i in range(P)]
    out_e, grads_e = model.outputs_and_grads(variables, X, HEYOKA)
    kinks_e = model.kinks(variables, X, HEYOKA)
    assert all(isinstance(e, hy.expression) for e in grads_e.ravel())
    cf = hy.cfunc([*out_e, *grads_e.ravel(), *kinks_e], list(variables))
    values = cf(theta)
    out, grads = model.outputs_and_grads(theta, X)
    M = magnitude(model, theta, X)
    np.testing.assert_allclose(values[:n], out, rtol=0, atol=1e-13 * M)
    np.testing.assert_allclose(values[n : n + n * P], grads.ravel(), rtol=0, atol=1e-13 * M * 3)
    # kinks: the hidden pre-activations of non-smooth activations, computed here directly
    if isinstance(model, MLP | TwoLayer) and not model.activation.smooth:
        W1 = theta[: model.widths[0] * d].reshape(model.widths[0], d)
        np.testing.assert_allclose(values[n + n * P :][: n * model.widths[0]], (X @ W1.T).ravel())
    else:
        assert kinks_e.size == 0


def test_heyoka_is_imported_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, numerics.problem._activations, numerics.problem._base, "
            "numerics.problem._models, numerics.problem._networks, numerics.problem._data; "
            "print('heyoka' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_backend_ops() -> None:
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(FLOAT64.relu(x), [0, 0, 3])
    np.testing.assert_array_equal(FLOAT64.heaviside(x), [0, 0, 1])  # relu'(0) := 0
    np.testing.assert_array_equal(FLOAT64.power(x, 0), [1, 1, 1])
    with mpmath.workdps(40):
        xm = MPMATH.asarray(x)
        assert list(MPMATH.heaviside(xm)) == [0, 0, 1]
        assert list(MPMATH.power(xm, 3)) == [-8, 0, 27]
        assert MPMATH.zeros((2, 2)).shape == (2, 2)
        third = MPMATH.asarray([1])[0] / 3
        assert abs(third - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -39
    assert get_backend("heyoka") is HEYOKA
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("float128")
    with pytest.raises(ValueError, match="integer >= 0"):
        FLOAT64.power(x, -1)


# ============================================================================ structure, init


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_layout_and_layer_index_are_consistent(model: Model) -> None:
    d = 4
    P = model.n_params(d)
    assert sum(math.prod(s) for _, s in model.layout(d)) == P
    idx = model.layer_index(d)
    assert idx.shape == (P,) and np.all(np.diff(idx) >= 0)
    assert set(idx.tolist()) == set(range(len(model.layer_degrees)))
    theta = np.arange(P, dtype=float)
    blocks = model.unpack(theta, d)
    np.testing.assert_array_equal(np.concatenate([b.ravel() for b in blocks.values()]), theta)


def test_two_layer_equals_mlp_with_one_hidden_layer() -> None:
    d, m = 3, 4
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, d))
    for act in ["relu", "square_relu", "power(3)"]:
        two, mlp = TwoLayer(width=m, activation=act), MLP(widths=(m,), activation=act)
        theta = two.init(d, scale=1.0, rng=1)
        np.testing.assert_array_equal(theta, mlp.init(d, scale=1.0, rng=1))
        np.testing.assert_array_equal(two.output_grads(theta, X), mlp.output_grads(theta, X))
        W, a = theta[: m * d].reshape(m, d), theta[m * d :]
        direct = get_activation(act).value(X @ W.T) @ a
        np.testing.assert_allclose(two.outputs(theta, X), direct, rtol=1e-14)


def test_init() -> None:
    d = 5
    for model in MODELS:
        theta = model.init(d, scale=0.5, rng=3)
        assert theta.shape == (model.n_params(d),) and theta.dtype == np.float64
        np.testing.assert_array_equal(theta, model.init(d, scale=0.5, rng=3))
        np.testing.assert_array_equal(theta, model.init(d, 0.5, np.random.default_rng(3)))
    np.testing.assert_array_equal(Diagonal().init(d, scale=0.1), np.full(2 * d, 0.1))
    jittered = Diagonal().init(d, scale=0.1, rng=0, jitter=0.01)
    assert np.all(np.abs(jittered - 0.1) < 0.01) and len(set(jittered)) == 2 * d
    np.testing.assert_array_equal(Linear().init(d, scale=0.0), np.zeros(d))
    big = MLP(widths=(200,)).init(400, scale=2.0, rng=0)
    assert abs(np.std(big[: 200 * 400]) - 2.0 / math.sqrt(400)) < 0.01
    with pytest.raises(ValueError, match="scale must be"):
        TwoLayer(width=2).init(d, scale=0.0)
    with pytest.raises(ValueError, match="scale must be"):
        Diagonal().init(d, scale=-1.0)


def test_validation_errors() -> None:
    model = TwoLayer(width=2)
    with pytest.raises(ValueError, match=r"n_params\(d=3\) = 8"):
        model.outputs(np.zeros(7), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2-D array"):
        model.outputs(np.zeros(8), np.zeros(3))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        TwoLayer(width=0)
    with pytest.raises(ValueError, match="use Linear"):
        MLP(widths=())
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        Diagonal(depth=0)
    with pytest.raises(ValueError, match="unknown activation"):
        TwoLayer(width=2, activation="tanh")
    with pytest.raises(ValueError, match="slope"):
        LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        Power(0)
    with pytest.raises(ValueError, match="share indices"):
        NeuronGroup((0, 1), (1,), 1)
    with pytest.raises(ValueError, match="input dimension d"):
        Linear().n_params(0)
    with pytest.raises(ValueError, match="known kinds"):
        make_model("resnet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.width = 3  # type: ignore[misc]


@settings(database=None, max_examples=25, deadline=None)
@given(model=model_strategy())
def test_to_dict_round_trip(model: Model) -> None:
    import json

    spec = json.loads(json.dumps(model.to_dict()))
    assert make_model(**spec) == model
    if isinstance(model, MLP | TwoLayer):
        assert get_activation(str(model.activation)) == model.activation


def test_high_precision_inputs_are_not_rounded_to_float() -> None:
    with mpmath.workdps(DPS):
        third = mpmath.mpf(1) / 3
        for X in ([[third, third]], np.array([[third, third]], dtype=object)):
            out = Diagonal(depth=2).outputs([mpmath.sqrt(3), 0, 0, 0], X, MPMATH)
            assert abs(out[0] - 1) < mpmath.mpf(10) ** -48  # (sqrt 3)^2 / 3


ONE_PASS_ACTIVATIONS = ("relu", "leaky_relu(0.2)", "square_relu", "power(3)")


@settings(max_examples=20, deadline=None)
@given(model=st.one_of(
    mlp_models(depth=(3, 4), width=(1, 3), activations=ONE_PASS_ACTIVATIONS),
    two_layer_models(width=(1, 3), activations=ONE_PASS_ACTIVATIONS),
    st.sampled_from([Linear(), Diagonal(depth=2), Diagonal(depth=3)])),
    seed=st.integers(0, 100), backend=st.sampled_from([FLOAT64, MPMATH]))
def test_one_pass_gives_what_the_separate_calls_give(model, seed, backend):
    # outputs_grads_and_kinks shares the forward pass (in HEYOKA the kinks are then the
    # outputs' own nodes, which heyoka's subs matches at once); its values are those of
    # outputs_and_grads and kinks, computed separately
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, 2))
    theta = model.init(2, scale=0.7, rng=seed)
    out, grads, kinks = model.outputs_grads_and_kinks(theta, X, backend)
    ref_out, ref_grads = model.outputs_and_grads(theta, X, backend)
    ref_kinks = model.kinks(theta, X, backend)
    for got, ref in ((out, ref_out), (grads, ref_grads), (kinks, ref_kinks)):
        assert np.shape(got) == np.shape(ref)
        assert all(a == b for a, b in zip(np.ravel(got), np.ravel(ref), strict=True))
