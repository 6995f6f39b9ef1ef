"""The linear-predictor models :class:`Linear` and :class:`Diagonal`, and :func:`make_model`.

The parameter-order contract and the neuron groups are documented in
:mod:`numerics.problem._base`; the networks :class:`~numerics.problem.TwoLayer` and
:class:`~numerics.problem.MLP` are in :mod:`numerics.problem._networks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._backends import FLOAT64, Backend, get_backend
from ._base import Array, Model, NeuronGroup, RngLike, check_d, check_positive_int, check_scale
from ._networks import MLP, TwoLayer

__all__ = ["Diagonal", "Linear", "Model", "NeuronGroup", "make_model"]


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
        return [("beta", (check_d(d),))]

    def layer_index(self, d: int) -> NDArray[np.intp]:
        return np.zeros(check_d(d), dtype=np.intp)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        check_d(d)
        return []

    def init(self, d: int, scale: float = 0.1, rng: RngLike = 0) -> NDArray[np.float64]:
        """``beta = scale * N(0, I_d) / sqrt(d)``; ``scale = 0`` gives ``beta = 0``."""
        d = check_d(d)
        scale = check_scale(scale, "Linear", allow_zero=True)
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
            check_positive_int("depth", self.depth, "Diagonal", "use e.g. Diagonal(depth=2)"),
        )

    @property
    def degree(self) -> int:
        return self.depth

    @property
    def layer_degrees(self) -> tuple[int, ...]:
        return (self.depth,)

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        d = check_d(d)
        return [("u", (d,)), ("v", (d,))]

    def layer_index(self, d: int) -> NDArray[np.intp]:
        return np.zeros(2 * check_d(d), dtype=np.intp)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        check_d(d)
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
        d = check_d(d)
        scale = check_scale(scale, "Diagonal", allow_zero=False)
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


# ============================================================================ registry

_MODELS: dict[str, type[Model]] = {c.kind: c for c in (Linear, Diagonal, TwoLayer, MLP)}


def make_model(kind: str, **kwargs: Any) -> Model:
    """Build a model by kind: ``"linear"``, ``"diagonal"``, ``"two_layer"`` or ``"mlp"``.

    ``make_model(**model.to_dict())`` rebuilds ``model``.

    Examples
    --------
    >>> from numerics.problem import LeakyReLU
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
