"""Bias-free scalar-output networks: :class:`TwoLayer` and :class:`MLP`, with their forward
pass and hand-written backpropagation.

**Degree of an MLP.** With ``D`` weight matrices and a k-homogeneous activation, scaling all of
theta by ``c`` scales the pre-activations of hidden layer ``l`` by ``c**a_l`` with ``a_1 = 1`` and
``a_{l+1} = 1 + k a_l``, so ``Phi`` (= the pre-activation of layer ``D``) has degree

    L = a_D = sum_{l=1}^{D} k**(D-l) = 1 + k + ... + k**(D-1) = (k**D - 1) / (k - 1)  (k > 1),

and ``L = D`` for ``k = 1``. ``Phi`` is separately homogeneous of degree ``k**(D-l)`` in the
weights ``W_l`` of layer ``l`` (:attr:`Model.layer_degrees`); the layer degrees sum to ``L``.

The parameter order and the neuron groups (balance law) are documented in
:mod:`numerics.problem._base`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._activations import Activation, ReLU, get_activation
from ._backends import Backend
from ._base import Array, Model, NeuronGroup, RngLike, check_d, check_positive_int, check_scale

__all__ = ["MLP", "TwoLayer"]


def _mlp_shapes(d: int, widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(out, in) shapes of the weight matrices of a bias-free scalar-output MLP."""
    sizes = (d, *widths, 1)
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def _mlp_forward(
    Ws: list[Array], X: Array, act: Activation, backend: Backend, grads: bool,
    pre: list[Array] | None = None,
) -> tuple[Array, Array | None]:
    """Forward pass and hand-written backprop of ``Phi = W_D s(W_{D-1} ... s(W_1 x))``.

    With ``Z_l = H_{l-1} W_l^T``, ``H_l = s(Z_l)``, ``H_0 = X`` and ``Phi = Z_D``:
    ``dPhi/dW_l[i, j] = G_l[i] H_{l-1}[j]`` with ``G_D = 1``,
    ``G_l = (G_{l+1} W_{l+1}) * s'(Z_l)``. All arrays carry a leading sample axis.  The
    pre-activations ``Z_l`` (hidden layers) are appended to ``pre`` if given.
    """
    Hs = [X]
    Zs: list[Array] = []
    for W in Ws[:-1]:
        Zs.append(Hs[-1] @ W.T)
        Hs.append(act.value(Zs[-1], backend))
    if pre is not None:
        pre.extend(Zs)
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
        sizes = [o * i for o, i in _mlp_shapes(check_d(d), self.widths)]
        return np.repeat(np.arange(len(sizes), dtype=np.intp), sizes)

    def neuron_groups(self, d: int) -> list[NeuronGroup]:
        shapes = _mlp_shapes(check_d(d), self.widths)
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
        shapes = _mlp_shapes(check_d(d), self.widths)
        scale = check_scale(scale, type(self).__name__, allow_zero=False)
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

    def _outputs_grads_and_kinks(self, blocks: list[Array], X: Array,
                                 backend: Backend) -> tuple[Array, Array, Array]:
        shapes = _mlp_shapes(X.shape[1], self.widths)
        Ws = [b.reshape(s) for b, s in zip(blocks, shapes, strict=True)]
        Zs: list[Array] = []
        out, grads = _mlp_forward(Ws, X, self._act, backend, True, pre=Zs)
        assert grads is not None
        kinks = (backend.zeros(0) if self._act.smooth
                 else np.concatenate([Z.reshape(-1) for Z in Zs]))
        return out, grads, kinks

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
            check_positive_int("each width", w, "MLP", "use e.g. MLP(widths=(8, 8))")
            for w in widths
        )
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "activation", get_activation(self.activation))

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"W{i + 1}", s) for i, s in enumerate(_mlp_shapes(check_d(d), self.widths))]

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
        width = check_positive_int("width", self.width, "TwoLayer", "use e.g. TwoLayer(width=8)")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def widths(self) -> tuple[int, ...]:  # type: ignore[override]
        """``(width,)``: the hidden widths, as for :class:`MLP`."""
        return (self.width,)

    def layout(self, d: int) -> list[tuple[str, tuple[int, ...]]]:
        d = check_d(d)
        return [("W", (self.width, d)), ("a", (self.width,))]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "activation": str(self._act)}

