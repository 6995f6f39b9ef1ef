"""The model contract: :class:`Model` (flat ``theta``, outputs, hand-written gradients) and
:class:`NeuronGroup`.

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

**Neuron groups (balance law, THEORY.md §2).** A hidden neuron with k-homogeneous activation is
invariant under ``theta_I -> c theta_I``, ``theta_O -> c**(-k) theta_O`` (incoming weights I,
outgoing weights O), hence ``<theta_I, grad_I Phi> = k <theta_O, grad_O Phi>`` for every input, and
``C_j = sum_I g(theta) - k sum_O g(theta)`` is conserved by mirror flow with a separable
potential. :meth:`Model.neuron_groups` lists these groups.

The concrete models are in :mod:`numerics.problem._models` (``Linear``, ``Diagonal``,
``make_model``) and :mod:`numerics.problem._networks` (``TwoLayer``, ``MLP``, and the degree
of an MLP).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._backends import FLOAT64, Backend, get_backend

__all__ = [
    "Array",
    "Model",
    "NeuronGroup",
    "RngLike",
    "as_array",
    "check_d",
    "check_positive_int",
    "check_scale",
]

Array = NDArray[Any]
RngLike = np.random.Generator | int | None


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


def check_d(d: int) -> int:
    """The input dimension ``d`` as an int, or ValueError if it is not an integer >= 1."""
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"input dimension d must be an integer >= 1, got {d!r}")
    return int(d)


def check_positive_int(name: str, value: Any, owner: str, hint: str) -> int:
    """``value`` as an int, or a ValueError naming ``owner``'s ``name`` and a ``hint``.

    Examples
    --------
    >>> check_positive_int("width", 0, "TwoLayer", "use e.g. TwoLayer(width=8)")
    Traceback (most recent call last):
    ...
    ValueError: TwoLayer: width must be an integer >= 1, got 0; use e.g. TwoLayer(width=8)
    """
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
        >>> from numerics.problem import TwoLayer
        >>> TwoLayer(width=2).unpack(np.arange(8.0), d=3)["a"]
        array([6., 7.])
        """
        d = check_d(d)
        if not isinstance(theta, np.ndarray):
            theta = as_array(theta)
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

    def outputs_grads_and_kinks(
        self, theta: Any, X: Any, backend: Backend | str = FLOAT64
    ) -> tuple[Array, Array, Array]:
        """:meth:`outputs_and_grads` and :meth:`kinks` from one forward pass.

        In the HEYOKA backend the kinks are then the very expressions inside the outputs'
        ``relu`` nodes, not equal copies: heyoka's ``subs`` with expression keys
        (``relu(z_k) -> ...``) matches a shared node at once, an equal copy at a cost that
        grows faster than exponentially with the nesting of ``relu`` (measured: 0.04 s at
        two levels, 14 s at three), which made the sliding flows of depth-4 MLPs take minutes.
        """
        backend, blocks, X = self._prepare(theta, X, backend)
        return self._outputs_grads_and_kinks(blocks, X, backend)

    def _outputs_grads_and_kinks(self, blocks: list[Array], X: Array,
                                 backend: Backend) -> tuple[Array, Array, Array]:
        out, grads = self._forward(blocks, X, backend, True)
        assert grads is not None
        return out, grads, self._kinks(blocks, X, backend)

    def _prepare(
        self, theta: Any, X: Any, backend: Backend | str
    ) -> tuple[Backend, list[Array], Array]:
        backend = get_backend(backend)
        X = backend.asarray(X if isinstance(X, np.ndarray) else as_array(X))
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


def as_array(a: Any) -> Array:
    """``np.asarray`` that keeps mpf / heyoka elements as objects (never rounds them to float)."""
    try:
        return np.asarray(a)
    except (TypeError, ValueError):
        return np.asarray(a, dtype=object)


def check_scale(scale: float, owner: str, allow_zero: bool) -> float:
    """The ``scale`` of ``owner.init`` as a float: finite and > 0 (>= 0 if ``allow_zero``)."""
    ok = isinstance(scale, int | float) and math.isfinite(scale)
    ok = ok and (scale >= 0 if allow_zero else scale > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0 (theta = 0 is a stationary point)"
        raise ValueError(f"{owner}.init: scale must be a finite float {bound}, got {scale!r}")
    return float(scale)
