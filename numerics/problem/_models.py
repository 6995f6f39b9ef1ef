"""Small homogeneous networks with analytic gradients, generic over the number type.

Every model maps a flat parameter vector ``theta`` (length ``P``) and inputs ``X`` (``n x d``) to
outputs ``Phi(theta; x_i)``. ``Phi`` is **L-homogeneous** in ``theta``
(``Phi(c theta) = c**L Phi(theta)`` for ``c > 0``, THEORY.md §1), and the gradient
``grad_theta Phi`` is derived by hand (backpropagation written with :class:`Backend` operations),
so the same code runs in float64, in arbitrary precision (mpmath) and symbolically (heyoka).

**Parameter order (public contract, also used in JSON output).** ``theta`` is the concatenation
of the blocks of :meth:`Model.layout`, each flattened row by row (C order):

* ``Linear()``: ``theta = beta`` (d).
* ``Diagonal(depth=L)``: ``theta = (u, v)``, each (d), ``beta = u**L - v**L`` elementwise.
* ``TwoLayer(width=m)``: ``theta = (W (m x d) row by row, a (m))``.
* ``MLP(widths=(h1, ..., h_{D-1}))``:
  ``theta = (W1 (h1 x d), W2 (h2 x h1), ..., WD (1 x h_{D-1}))``, each weight matrix
  (out x in) row by row. ``TwoLayer(m)`` has the same theta as
  ``MLP((m,))`` (``a`` is the single row of ``W2``).

**Degree of an MLP.** With ``D`` weight matrices and a k-homogeneous activation, scaling all of
theta by ``c`` scales the pre-activations of hidden layer ``l`` by ``c**a_l`` with ``a_1 = 1`` and
``a_{l+1} = 1 + k a_l``, so ``Phi`` (= the pre-activation of layer ``D``) has degree

    L = a_D = sum_{l=1}^{D} k**(D-l) = 1 + k + ... + k**(D-1) = (k**D - 1) / (k - 1)  (k > 1),

and ``L = D`` for ``k = 1``. ``Phi`` is separately homogeneous of degree ``k**(D-l)`` in the
weights ``W_l`` of layer ``l`` (:attr:`Model.layer_degrees`); the layer degrees sum to ``L``.

**Neuron groups (balance law, THEORY.md §2).** A hidden neuron with k-homogeneous activation is
invariant under ``theta_I -> c theta_I``, ``theta_O -> c**(-k) theta_O`` (incoming weights I,
outgoing weights O), hence ``<theta_I, grad_I Phi> = k <theta_O, grad_O Phi>`` for every input, and
``C_j = sum_I g(theta) - k sum_O g(theta)`` is conserved by mirror flow with a separable
potential. :meth:`Model.neuron_groups` lists these groups.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._backends import FLOAT64, Backend, get_backend

__all__ = [
    "MLP",
    "Activation",
    "Diagonal",
    "LeakyReLU",
    "Linear",
    "Model",
    "NeuronGroup",
    "Power",
    "ReLU",
    "SquareReLU",
    "TwoLayer",
    "get_activation",
    "make_model",
]

Array = NDArray[Any]
RngLike = np.random.Generator | int | None


# ============================================================================ activations


class Activation(ABC):
    """A positively k-homogeneous activation ``sigma(c z) = c**k sigma(z)`` for ``c > 0``.

    Concrete activations give their degree ``k``, their value and their derivative through a
    :class:`Backend`; ``str(activation)`` is a spec accepted by :func:`get_activation`.
    """

    @property
    @abstractmethod
    def degree(self) -> int:
        """The homogeneity degree ``k``."""

    @property
    def smooth(self) -> bool:
        """True if ``sigma`` is analytic (no kink at 0), so Taylor methods keep their order."""
        return False

    @abstractmethod
    def value(self, z: Array, backend: Backend = FLOAT64) -> Array:
        """Elementwise ``sigma(z)``."""

    @abstractmethod
    def derivative(self, z: Array, backend: Backend = FLOAT64) -> Array:
        """Elementwise ``sigma'(z)`` (at a ReLU kink: the one-sided value from the left, 0)."""


@dataclass(frozen=True)
class ReLU(Activation):
    """``relu(z) = max(z, 0)``, k = 1.

    Examples
    --------
    >>> import numpy as np
    >>> ReLU().value(np.array([-2.0, 3.0])), ReLU().derivative(np.array([-2.0, 3.0]))
    (array([0., 3.]), array([0., 1.]))
    """

    @property
    def degree(self) -> int:
        return 1

    def value(self, z: Array, backend: Backend = FLOAT64) -> Array:
        return backend.relu(z)

    def derivative(self, z: Array, backend: Backend = FLOAT64) -> Array:
        return backend.heaviside(z)

    def __str__(self) -> str:
        return "relu"


@dataclass(frozen=True)
class LeakyReLU(Activation):
    """``leaky_relu(z) = slope z + (1 - slope) relu(z)``, k = 1.

    Parameters
    ----------
    slope : float
        Slope for ``z < 0``, in ``[0, 1)``. It enters the computation as the float given
        (so in high precision ``0.1`` means the binary double nearest to 1/10).

    Examples
    --------
    >>> import numpy as np
    >>> LeakyReLU(0.25).value(np.array([-2.0, 3.0]))
    array([-0.5,  3. ])
    >>> LeakyReLU(1.5)
    Traceback (most recent call last):
    ...
    ValueError: LeakyReLU: slope must be a finite float in [0, 1), got 1.5; ...
    """

    slope: float = 0.1

    def __post_init__(self) -> None:
        s = self.slope
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s < 1:
            raise ValueError(
                f"LeakyReLU: slope must be a finite float in [0, 1), got {s!r}; "
                "use e.g. LeakyReLU(0.1) (slope 0 is ReLU())"
            )
        object.__setattr__(self, "slope", float(s))

    @property
    def degree(self) -> int:
        return 1

    def value(self, z: Array, backend: Backend = FLOAT64) -> Array:
        s = backend.scalar(self.slope)
        return z * s + backend.relu(z) * (1 - s)

    def derivative(self, z: Array, backend: Backend = FLOAT64) -> Array:
        s = backend.scalar(self.slope)
        return backend.heaviside(z) * (1 - s) + s

    def __str__(self) -> str:
        return f"leaky_relu({self.slope!r})"


@dataclass(frozen=True)
class SquareReLU(Activation):
    """``square_relu(z) = relu(z)**2``, k = 2 (C^1: derivative ``2 relu(z)``).

    Examples
    --------
    >>> import numpy as np
    >>> SquareReLU().value(np.array([-2.0, 3.0])), SquareReLU().derivative(np.array([-2.0, 3.0]))
    (array([0., 9.]), array([0., 6.]))
    """

    @property
    def degree(self) -> int:
        return 2

    def value(self, z: Array, backend: Backend = FLOAT64) -> Array:
        r = backend.relu(z)
        return r * r

    def derivative(self, z: Array, backend: Backend = FLOAT64) -> Array:
        return backend.relu(z) * 2

    def __str__(self) -> str:
        return "square_relu"


@dataclass(frozen=True)
class Power(Activation):
    """``power(z) = z**k`` for an integer ``k >= 1`` (k-homogeneous, smooth).

    Examples
    --------
    >>> import numpy as np
    >>> Power(3).value(np.array([-2.0, 3.0])), Power(3).derivative(np.array([-2.0, 3.0]))
    (array([-8., 27.]), array([12., 27.]))
    """

    k: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise ValueError(f"Power: k must be an integer >= 1, got {self.k!r}; use e.g. Power(2)")
        object.__setattr__(self, "k", int(self.k))

    @property
    def degree(self) -> int:
        return self.k

    @property
    def smooth(self) -> bool:
        return True

    def value(self, z: Array, backend: Backend = FLOAT64) -> Array:
        return backend.power(z, self.k)

    def derivative(self, z: Array, backend: Backend = FLOAT64) -> Array:
        return backend.power(z, self.k - 1) * self.k

    def __str__(self) -> str:
        return f"power({self.k})"


_ACTIVATION_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^)]*?)\s*\))?\s*$")


def get_activation(spec: Activation | str) -> Activation:
    """Return an :class:`Activation` from itself or a spec string.

    Specs: ``"relu"``, ``"leaky_relu"`` (slope 0.1) or ``"leaky_relu(0.05)"``,
    ``"square_relu"``, ``"power(k)"``; ``str(activation)`` round-trips.

    Examples
    --------
    >>> get_activation("leaky_relu(0.05)")
    LeakyReLU(slope=0.05)
    >>> get_activation("power(3)").degree
    3
    >>> get_activation("tanh")
    Traceback (most recent call last):
    ...
    ValueError: unknown activation 'tanh'; ...
    """
    if isinstance(spec, Activation):
        return spec
    known = "use 'relu', 'leaky_relu(slope)', 'square_relu' or 'power(k)' (k-homogeneous only)"
    m = _ACTIVATION_SPEC.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise ValueError(f"unknown activation {spec!r}; {known}")
    name, arg = m.group(1), m.group(2)
    try:
        if name == "relu" and not arg:
            return ReLU()
        if name == "square_relu" and not arg:
            return SquareReLU()
        if name == "leaky_relu":
            return LeakyReLU(float(arg)) if arg else LeakyReLU()
        if name == "power" and arg:
            return Power(int(arg))
    except ValueError as exc:
        raise ValueError(f"bad activation spec {spec!r}: {exc}") from None
    raise ValueError(f"unknown activation {spec!r}; {known}")


# ============================================================================ neuron groups


@dataclass(frozen=True)
class NeuronGroup:
    """Incoming / outgoing parameter indices of one hidden neuron with a k-homogeneous activation.

    The balance law (THEORY.md §2) for this neuron is
    ``C_j = sum_{m in incoming} g(theta_m) - k sum_{m in outgoing} g(theta_m) = const``.

    Examples
    --------
    >>> NeuronGroup(incoming=(0, 1), outgoing=(2,), k=1)
    NeuronGroup(incoming=(0, 1), outgoing=(2,), k=1)
    >>> NeuronGroup(incoming=(0, 1), outgoing=(1,), k=1)
    Traceback (most recent call last):
    ...
    ValueError: NeuronGroup: incoming and outgoing share indices [1]; ...
    """

    incoming: tuple[int, ...]
    outgoing: tuple[int, ...]
    k: int

    def __post_init__(self) -> None:
        inc = tuple(int(i) for i in self.incoming)
        out = tuple(int(i) for i in self.outgoing)
        if not inc or not out or min(inc + out) < 0:
            raise ValueError(
                "NeuronGroup: incoming and outgoing must be non-empty tuples of indices >= 0"
            )
        shared = sorted(set(inc) & set(out))
        if shared:
            raise ValueError(
                f"NeuronGroup: incoming and outgoing share indices {shared}; "
                "a parameter is either incoming or outgoing to a neuron"
            )
        if isinstance(self.k, bool) or int(self.k) != self.k or self.k < 1:
            raise ValueError(f"NeuronGroup: k must be an integer >= 1, got {self.k!r}")
        object.__setattr__(self, "incoming", inc)
        object.__setattr__(self, "outgoing", out)
        object.__setattr__(self, "k", int(self.k))


# ============================================================================ base class


def _check_d(d: int) -> int:
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"input dimension d must be an integer >= 1, got {d!r}")
    return int(d)


def _check_positive_int(name: str, value: Any, owner: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{owner}: {name} must be an integer >= 1, got {value!r}; {hint}")
    return int(value)


class Model(ABC):
    """A homogeneous model ``Phi(theta; x)`` with a flat parameter vector ``theta``.

    Concrete models are small frozen dataclasses. The input dimension ``d`` is not part of the
    model: it is passed to the shape methods and read from ``X`` by the evaluation methods.
    ``backend`` is a :class:`Backend` or its name (``"float64"``, ``"mpmath"``, ``"heyoka"``).
    """

    kind: ClassVar[str]

    # ----------------------------------------------------------------- to implement
    @property
    @abstractmethod
    def degree(self) -> int:
        """Homogeneity degree ``L``: ``Phi(c theta) = c**L Phi(theta)`` for ``c > 0``."""

    @property
    @abstractmethod
    def layer_degrees(self) -> tuple[int, ...]:
        """Degree of ``Phi`` in the parameters of each layer (they sum to :attr:`degree`)."""

    @abstractmethod
    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        """The ``(name, shape)`` blocks of ``theta``, in order (each flattened row by row)."""

    @abstractmethod
    def layer_index(self, d: int) -> NDArray[np.intp]:
        """Layer (0-based, see :attr:`layer_degrees`) of each of the ``P`` parameters."""

    @abstractmethod
    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        """One :class:`NeuronGroup` per hidden neuron (balance law, THEORY.md §2)."""

    @abstractmethod
    def init(self, d: int, scale: float = 0.1, rng: RngLike = 0) -> NDArray[np.float64]:
        """A small random float64 ``theta`` (documented per model)."""

    @abstractmethod
    def _forward(
        self, blocks: list[Array], X: Array, backend: Backend, grads: bool
    ) -> tuple[Array, Array | None]:
        """Outputs (n,) and, if ``grads``, the (n, P) gradient, from unpacked blocks."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; ``make_model(**model.to_dict())`` rebuilds the model."""

    # ----------------------------------------------------------------- shared
    def n_params(self, d: int) -> int:
        """Number ``P`` of parameters for input dimension ``d``."""
        return sum(math.prod(shape) for _, shape in self.layout(d))

    def unpack(self, theta: Any, d: int) -> dict[str, Array]:
        """Split a flat ``theta`` into its named blocks (reshaped views, no conversion).

        Examples
        --------
        >>> import numpy as np
        >>> TwoLayer(width=2).unpack(np.arange(8.0), d=3)["a"]
        array([6., 7.])
        """
        d = _check_d(d)
        if not isinstance(theta, np.ndarray):
            theta = _as_array(theta)
        P = self.n_params(d)
        if theta.shape != (P,):
            raise ValueError(
                f"theta must be a flat vector of length n_params(d={d}) = {P} for {self!r}, "
                f"got shape {theta.shape}; use model.init(d) or model.layout(d) to build it"
            )
        out: dict[str, Array] = {}
        start = 0
        for name, shape in self.layout(d):
            size = math.prod(shape)
            out[name] = theta[start : start + size].reshape(shape)
            start += size
        return out

    def outputs_and_grads(
        self, theta: Any, X: Any, backend: Backend | str = FLOAT64
    ) -> tuple[Array, Array]:
        """``Phi(theta; x_i)`` (n,) and ``grad_theta Phi(theta; x_i)`` (n, P) in one pass."""
        out, g = self._evaluate(theta, X, backend, grads=True)
        assert g is not None
        return out, g

    def outputs(self, theta: Any, X: Any, backend: Backend | str = FLOAT64) -> Array:
        """``Phi(theta; x_i)`` for every row ``x_i`` of ``X``, shape (n,)."""
        return self._evaluate(theta, X, backend, grads=False)[0]

    def output_grads(self, theta: Any, X: Any, backend: Backend | str = FLOAT64) -> Array:
        """Analytic ``grad_theta Phi(theta; x_i)``, shape (n, P), row i for input i."""
        return self.outputs_and_grads(theta, X, backend)[1]

    def kinks(self, theta: Any, X: Any, backend: Backend | str = FLOAT64) -> Array:
        """Flat array of the pre-activations at which ``Phi`` is not smooth (ReLU-type kinks).

        A sign change of one of them marks a non-smooth point of the flow (event detection in
        a Taylor integrator). Empty for linear/diagonal models and smooth activations.
        """
        backend, blocks, X = self._prepare(theta, X, backend)
        return self._kinks(blocks, X, backend)

    def _kinks(self, blocks: list[Array], X: Array, backend: Backend) -> Array:
        return backend.zeros(0)

    def _prepare(
        self, theta: Any, X: Any, backend: Backend | str
    ) -> tuple[Backend, list[Array], Array]:
        backend = get_backend(backend)
        X = backend.asarray(X if isinstance(X, np.ndarray) else _as_array(X))
        if X.ndim != 2:
            raise ValueError(
                f"X must be a 2-D array (n inputs x d features), got shape {X.shape}; "
                "reshape a single input x to X = x[None, :]"
            )
        blocks = self.unpack(backend.asarray(theta), X.shape[1])
        return backend, list(blocks.values()), X

    def _evaluate(
        self, theta: Any, X: Any, backend: Backend | str, grads: bool
    ) -> tuple[Array, Array | None]:
        backend, blocks, X = self._prepare(theta, X, backend)
        return self._forward(blocks, X, backend, grads)

    def _rng(self, rng: RngLike) -> np.random.Generator:
        return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _as_array(a: Any) -> Array:
    """``np.asarray`` that keeps mpf / heyoka elements as objects (never rounds them to float)."""
    try:
        return np.asarray(a)
    except (TypeError, ValueError):
        return np.asarray(a, dtype=object)


def _check_scale(scale: float, owner: str, allow_zero: bool) -> float:
    ok = isinstance(scale, int | float) and math.isfinite(scale)
    ok = ok and (scale >= 0 if allow_zero else scale > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0 (theta = 0 is a stationary point)"
        raise ValueError(f"{owner}.init: scale must be a finite float {bound}, got {scale!r}")
    return float(scale)


# ============================================================================ linear models


@dataclass(frozen=True)
class Linear(Model):
    """Linear model ``Phi(theta; x) = <beta, x>`` with ``theta = beta`` (d); degree ``L = 1``.

    No hidden neurons, so no neuron balance law.

    Examples
    --------
    >>> import numpy as np
    >>> m = Linear()
    >>> m.degree, m.n_params(3), m.layout(3)
    (1, 3, [('beta', (3,))])
    >>> m.outputs(np.array([1.0, 2.0, 3.0]), np.eye(3))
    array([1., 2., 3.])
    """

    kind: ClassVar[str] = "linear"

    @property
    def degree(self) -> int:
        return 1

    @property
    def layer_degrees(self) -> tuple[int, ...]:
        return (1,)

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        return [("beta", (_check_d(d),))]

    def layer_index(self, d: int) -> NDArray[np.intp]:
        return np.zeros(_check_d(d), dtype=np.intp)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        _check_d(d)
        return []

    def init(self, d: int, scale: float = 0.1, rng: RngLike = 0) -> NDArray[np.float64]:
        """``beta = scale * N(0, I_d) / sqrt(d)``; ``scale = 0`` gives ``beta = 0``."""
        d = _check_d(d)
        scale = _check_scale(scale, "Linear", allow_zero=True)
        return scale * self._rng(rng).standard_normal(d) / math.sqrt(d)

    def beta(self, theta: Any, backend: Backend | str = FLOAT64) -> Array:
        """The linear predictor (here ``theta`` itself, converted to the backend)."""
        return get_backend(backend).asarray(theta)

    def _forward(
        self, blocks: list[Array], X: Array, backend: Backend, grads: bool
    ) -> tuple[Array, Array | None]:
        (beta,) = blocks
        return X @ beta, (X.copy() if grads else None)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class Diagonal(Model):
    """Diagonal network ``Phi = <beta, x>``, ``beta = u**L - v**L`` elementwise; degree ``L``.

    ``theta = (u, v)``, each of length d. For ``depth = 2`` this is ``beta = u*u - v*v``; for
    depth L, ``u**L`` is the elementwise product of L *equal* factors (a depth-L diagonal
    network with tied layers), so ``Phi`` is L-homogeneous.

    No neuron balance law: rescaling one factor against another is not a symmetry here because
    the L factors of ``u_k`` are tied (equal), and ``u`` and ``v`` enter additively. ``u`` and
    ``v`` are the positive and negative parts of one layer: :meth:`layer_index` puts both in
    layer 0, so a per-layer potential treats them alike.

    Parameters
    ----------
    depth : int
        L >= 1 (depth 1: ``beta = u - v``).

    Examples
    --------
    >>> import numpy as np
    >>> m = Diagonal(depth=2)
    >>> theta = np.array([2.0, 1.0, 1.0, 3.0])    # u = (2, 1), v = (1, 3)
    >>> m.beta(theta)
    array([ 3., -8.])
    >>> m.outputs(theta, np.array([[1.0, 1.0]])), m.output_grads(theta, np.array([[1.0, 1.0]]))
    (array([-5.]), array([[ 4.,  2., -2., -6.]]))
    """

    depth: int = 2
    kind: ClassVar[str] = "diagonal"

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "depth",
            _check_positive_int("depth", self.depth, "Diagonal", "use e.g. Diagonal(depth=2)"),
        )

    @property
    def degree(self) -> int:
        return self.depth

    @property
    def layer_degrees(self) -> tuple[int, ...]:
        return (self.depth,)

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        d = _check_d(d)
        return [("u", (d,)), ("v", (d,))]

    def layer_index(self, d: int) -> NDArray[np.intp]:
        return np.zeros(2 * _check_d(d), dtype=np.intp)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        _check_d(d)
        return []

    def init(
        self, d: int, scale: float = 0.1, rng: RngLike = 0, *, jitter: float = 0.0
    ) -> NDArray[np.float64]:
        """``u = scale (1 + jitter N(0, I))``, ``v = scale (1 + jitter N(0, I))``.

        The default ``jitter = 0`` is the standard alpha-initialisation ``u = v = alpha 1``
        (alpha = ``scale``) of the diagonal-network literature: ``beta(0) = 0`` and
        ``Phi = 0``, but the gradient ``L u**(L-1) x`` is non-zero, so the flow moves, and the
        scale ``alpha`` is the knob of the implicit bias. ``jitter > 0`` breaks the u/v symmetry.
        """
        d = _check_d(d)
        scale = _check_scale(scale, "Diagonal", allow_zero=False)
        if not (math.isfinite(jitter) and jitter >= 0):
            raise ValueError(f"Diagonal.init: jitter must be finite and >= 0, got {jitter!r}")
        noise = self._rng(rng).standard_normal(2 * d) if jitter else np.zeros(2 * d)
        return scale * (1.0 + jitter * noise)

    def beta(self, theta: Any, backend: Backend | str = FLOAT64) -> Array:
        """The linear predictor ``u**L - v**L`` (d,)."""
        backend = get_backend(backend)
        theta = backend.asarray(theta)
        blocks = self.unpack(theta, theta.shape[0] // 2)
        return backend.power(blocks["u"], self.depth) - backend.power(blocks["v"], self.depth)

    def _forward(
        self, blocks: list[Array], X: Array, backend: Backend, grads: bool
    ) -> tuple[Array, Array | None]:
        u, v = blocks
        L = self.depth
        beta = backend.power(u, L) - backend.power(v, L)
        out = X @ beta
        if not grads:
            return out, None
        du = backend.power(u, L - 1) * L
        dv = backend.power(v, L - 1) * (-L)
        return out, np.concatenate([X * du[None, :], X * dv[None, :]], axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "depth": self.depth}


# ============================================================================ networks


def _mlp_shapes(d: int, widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(out, in) shapes of the weight matrices of a bias-free scalar-output MLP."""
    sizes = (d, *widths, 1)
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def _mlp_forward(
    Ws: list[Array], X: Array, act: Activation, backend: Backend, grads: bool
) -> tuple[Array, Array | None]:
    """Forward pass and hand-written backprop of ``Phi = W_D s(W_{D-1} ... s(W_1 x))``.

    With ``Z_l = H_{l-1} W_l^T``, ``H_l = s(Z_l)``, ``H_0 = X`` and ``Phi = Z_D``:
    ``dPhi/dW_l[i, j] = G_l[i] H_{l-1}[j]`` with ``G_D = 1``,
    ``G_l = (G_{l+1} W_{l+1}) * s'(Z_l)``. All arrays carry a leading sample axis.
    """
    Hs = [X]
    Zs: list[Array] = []
    for W in Ws[:-1]:
        Zs.append(Hs[-1] @ W.T)
        Hs.append(act.value(Zs[-1], backend))
    out = (Hs[-1] @ Ws[-1].T)[:, 0]
    if not grads:
        return out, None
    n = X.shape[0]
    layer_grads = [Hs[-1]]  # G_D = 1: dPhi/dW_D[0, j] = H_{D-1}[j]
    G = Ws[-1] * act.derivative(Zs[-1], backend)  # G_{D-1}: (1, h) * (n, h) -> (n, h)
    for layer in range(len(Ws) - 2, -1, -1):  # 0-based layer index of W
        layer_grads.append((G[:, :, None] * Hs[layer][:, None, :]).reshape(n, -1))
        if layer > 0:
            G = (G @ Ws[layer]) * act.derivative(Zs[layer - 1], backend)
    return out, np.concatenate(layer_grads[::-1], axis=1)


class _Network(Model):
    """Shared code of the bias-free scalar-output networks (subclasses give widths, activation)."""

    widths: tuple[int, ...]
    activation: Activation | str

    @property
    def _act(self) -> Activation:
        assert isinstance(self.activation, Activation)
        return self.activation

    @property
    def n_layers(self) -> int:
        """Number ``D`` of weight matrices."""
        return len(self.widths) + 1

    @property
    def degree(self) -> int:
        return sum(self.layer_degrees)

    @property
    def layer_degrees(self) -> tuple[int, ...]:
        k, D = self._act.degree, self.n_layers
        return tuple(k ** (D - 1 - i) for i in range(D))

    def layer_index(self, d: int) -> NDArray[np.intp]:
        sizes = [o * i for o, i in _mlp_shapes(_check_d(d), self.widths)]
        return np.repeat(np.arange(len(sizes), dtype=np.intp), sizes)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        shapes = _mlp_shapes(_check_d(d), self.widths)
        offsets = np.cumsum([0] + [o * i for o, i in shapes])
        k = self._act.degree
        groups = []
        for layer in range(len(shapes) - 1):  # hidden layer `layer + 1`
            (h, fan_in), (n_next, _) = shapes[layer], shapes[layer + 1]
            o_in, o_out = int(offsets[layer]), int(offsets[layer + 1])
            for j in range(h):
                incoming = tuple(range(o_in + j * fan_in, o_in + (j + 1) * fan_in))
                outgoing = tuple(o_out + i * h + j for i in range(n_next))
                groups.append(NeuronGroup(incoming, outgoing, k))
        return groups

    def init(self, d: int, scale: float = 0.1, rng: RngLike = 0) -> NDArray[np.float64]:
        """Each weight matrix i.i.d. ``scale * N(0, 1) / sqrt(fan_in)``, layers in order."""
        shapes = _mlp_shapes(_check_d(d), self.widths)
        scale = _check_scale(scale, type(self).__name__, allow_zero=False)
        gen = self._rng(rng)
        return np.concatenate(
            [scale * gen.standard_normal(o * i) / math.sqrt(i) for o, i in shapes]
        )

    def _forward(
        self, blocks: list[Array], X: Array, backend: Backend, grads: bool
    ) -> tuple[Array, Array | None]:
        shapes = _mlp_shapes(X.shape[1], self.widths)
        Ws = [b.reshape(s) for b, s in zip(blocks, shapes, strict=True)]
        return _mlp_forward(Ws, X, self._act, backend, grads)

    def _kinks(self, blocks: list[Array], X: Array, backend: Backend) -> Array:
        if self._act.smooth:
            return backend.zeros(0)
        shapes = _mlp_shapes(X.shape[1], self.widths)
        H, Zs = X, []
        for b, s in zip(blocks[:-1], shapes[:-1], strict=True):
            Zs.append(H @ b.reshape(s).T)
            H = self._act.value(Zs[-1], backend)
        return np.concatenate([Z.reshape(-1) for Z in Zs])


@dataclass(frozen=True)
class MLP(_Network):
    """Bias-free scalar-output MLP ``Phi = W_D s(W_{D-1} ... s(W_1 x))``.

    ``theta = (W1, ..., WD)``, each weight matrix (out x in) row by row; ``D = len(widths) + 1``.
    Degree ``L = 1 + k + ... + k**(D-1)`` (``= D`` for k = 1) and layer degrees
    ``k**(D-1), ..., k, 1`` (see the module docstring). Neuron groups: every neuron j of every
    hidden layer l, incoming = row j of ``W_l``, outgoing = column j of ``W_{l+1}``.
    :meth:`init`: each ``W_l`` i.i.d. ``scale N(0, 1/fan_in)``.

    Parameters
    ----------
    widths : tuple of int
        Hidden widths ``(h1, ..., h_{D-1})``, at least one.
    activation : Activation or str
        A k-homogeneous activation or its spec (:func:`get_activation`).

    Examples
    --------
    >>> import numpy as np
    >>> m = MLP(widths=(3, 2), activation="square_relu")
    >>> m.degree, m.layer_degrees, m.n_params(4)
    (7, (4, 2, 1), 20)
    >>> [name for name, _ in m.layout(4)], len(m.neuron_groups(4))
    (['W1', 'W2', 'W3'], 5)
    >>> theta = m.init(4, scale=1.0, rng=1)
    >>> X = np.random.default_rng(2).standard_normal((5, 4))
    >>> bool(np.allclose(m.outputs(2 * theta, X), 2**7 * m.outputs(theta, X)))
    True
    """

    widths: tuple[int, ...] = (8,)
    activation: Activation | str = field(default_factory=ReLU)
    kind: ClassVar[str] = "mlp"

    def __post_init__(self) -> None:
        try:
            widths = tuple(self.widths)
        except TypeError:
            widths = ()
        if not widths:
            raise ValueError(
                f"MLP: widths must be a non-empty tuple of hidden widths, got {self.widths!r}; "
                "use Linear() for no hidden layer"
            )
        widths = tuple(
            _check_positive_int("each width", w, "MLP", "use e.g. MLP(widths=(8, 8))")
            for w in widths
        )
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "activation", get_activation(self.activation))

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"W{i + 1}", s) for i, s in enumerate(_mlp_shapes(_check_d(d), self.widths))]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "widths": list(self.widths), "activation": str(self._act)}


@dataclass(frozen=True)
class TwoLayer(_Network):
    """Two-layer network ``Phi = sum_j a_j s(<w_j, x>)``; degree ``L = 1 + k``.

    ``theta = (W (m x d) row by row, a (m))`` -- the same vector as ``MLP(widths=(m,))``.
    Neuron j: incoming = row j of W, outgoing = ``a_j``, k = activation degree.
    :meth:`init`: ``W`` i.i.d. ``scale N(0, 1/d)``, ``a`` i.i.d. ``scale N(0, 1/m)``.

    Parameters
    ----------
    width : int
        Number m of hidden neurons.
    activation : Activation or str
        A k-homogeneous activation or its spec.

    Examples
    --------
    >>> import numpy as np
    >>> m = TwoLayer(width=2, activation="relu")
    >>> m.layout(3), m.degree
    ([('W', (2, 3)), ('a', (2,))], 2)
    >>> m.neuron_groups(3)[1]
    NeuronGroup(incoming=(3, 4, 5), outgoing=(7,), k=1)
    >>> theta = np.array([1.0, 0, 0, 0, 1, 0, 2.0, -1.0])   # w_1 = e_1, w_2 = e_2, a = (2, -1)
    >>> m.outputs(theta, np.array([[3.0, 1.0, 5.0], [-1.0, 4.0, 0.0]]))
    array([ 5., -4.])
    """

    width: int = 8
    activation: Activation | str = field(default_factory=ReLU)
    kind: ClassVar[str] = "two_layer"

    def __post_init__(self) -> None:
        width = _check_positive_int("width", self.width, "TwoLayer", "use e.g. TwoLayer(width=8)")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def widths(self) -> tuple[int, ...]:  # type: ignore[override]
        """``(width,)``: the hidden widths, as for :class:`MLP`."""
        return (self.width,)

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        d = _check_d(d)
        return [("W", (self.width, d)), ("a", (self.width,))]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "activation": str(self._act)}


# ============================================================================ registry

_MODELS: dict[str, type[Model]] = {c.kind: c for c in (Linear, Diagonal, TwoLayer, MLP)}


def make_model(kind: str, **kwargs: Any) -> Model:
    """Build a model by kind: ``"linear"``, ``"diagonal"``, ``"two_layer"`` or ``"mlp"``.

    ``make_model(**model.to_dict())`` rebuilds ``model``.

    Examples
    --------
    >>> make_model("two_layer", width=4, activation="square_relu")
    TwoLayer(width=4, activation=SquareReLU())
    >>> m = MLP(widths=(3, 2), activation=LeakyReLU(0.2))
    >>> make_model(**m.to_dict()) == m
    True
    >>> make_model("cnn")
    Traceback (most recent call last):
    ...
    ValueError: unknown model kind 'cnn'; known kinds: ['linear', 'diagonal', 'two_layer', 'mlp']
    """
    try:
        cls = _MODELS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {list(_MODELS)}") from None
    if "widths" in kwargs:
        kwargs["widths"] = tuple(kwargs["widths"])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"make_model({kind!r}, ...): {exc}") from None
