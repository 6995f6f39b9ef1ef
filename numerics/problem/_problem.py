"""A mirror-flow problem: data + model + potential(s) + loss + initialisation.

The numeric layer never re-derives a formula: the potential's f', f'', (f')^{-1} and
g = x f' - f come from :class:`theory.Potential` and are compiled here with
``sympy.lambdify`` (numpy for float64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from theory import PerLayer, Potential

from ._data import Dataset
from ._loss import log_loss_and_weights
from ._models import Model

__all__ = ["LOSSES", "CompiledPotential", "Problem"]

LOSSES = ("exp", "logistic")
_X = sp.Symbol("x", real=True)
_Z = sp.Symbol("z", real=True)


@dataclass(frozen=True)
class CompiledPotential:
    """Float64 callables for one scalar potential (compiled from the theory object)."""

    potential: Potential

    def _np(self, expr: sp.Expr | None, var: sp.Symbol = _X):
        if expr is None:
            return None
        bound = self.potential.bind(expr)
        fn = sp.lambdify(var, bound, modules="numpy")
        if bound.has(sp.LambertW):
            # numpy has no LambertW; scipy's returns complex numbers (real on our branch)
            complex_fn = sp.lambdify(var, bound, modules=["scipy", "numpy"])

            def fn(v, _f=complex_fn):
                return np.real(_f(v))
        with np.errstate(all="ignore"):
            at0 = fn(np.float64(0.0))
        if np.isfinite(at0):
            return fn
        # A removable singularity at 0 (sympy writes x|x| as x**3/Abs(x)): use the limit there.
        limit = sp.limit(bound, var, 0, "+")
        if limit != sp.limit(bound, var, 0, "-") or not limit.is_finite:
            return fn
        value = float(limit)

        def patched(v):
            with np.errstate(invalid="ignore", divide="ignore"):
                out = fn(v)
            return np.where(np.asarray(v) == 0, value, out)
        return patched

    @cached_property
    def f(self):
        """f (numpy)."""
        return self._np(self.potential.expr)

    @cached_property
    def mirror(self):
        """f' (numpy)."""
        return self._np(self.potential.mirror_map.expr)

    @cached_property
    def hessian(self):
        """f'' (numpy)."""
        return self._np(self.potential.hessian.expr)

    @cached_property
    def inverse(self):
        """(f')^{-1} (numpy), or None when there is no verified closed form that keeps its
        digits (``Potential.stable_inverse``: a cancelling formula is not one to compute with)."""
        if not self.potential.stable_inverse:
            return None
        return self._np(self.potential.inverse_mirror_map.expr, _Z)

    @cached_property
    def balance(self):
        """g = x f' - f (numpy)."""
        return self._np(self.potential.balance_function.expr)


def _vectorise(fn, n):
    def call(v):
        out = fn(v)
        return np.broadcast_to(np.asarray(out, dtype=float), (n,)).copy() if np.ndim(out) == 0 \
            else np.asarray(out, dtype=float)
    return call


@dataclass(frozen=True)
class Problem:
    """Everything that defines one mirror-flow trajectory.

    Parameters
    ----------
    data
        A :class:`numerics.Dataset` (explicit arrays or a named generator).
    model
        A homogeneous model (:class:`Linear`, :class:`Diagonal`, :class:`TwoLayer`, :class:`MLP`).
    potential
        One :class:`theory.Potential` for all parameters, or :class:`theory.PerLayer`.
    loss
        ``"exp"`` or ``"logistic"``.
    theta0
        Initial parameters (float64, flat, in the model's documented order).

    Examples
    --------
    >>> from numerics.problem import two_d
    >>> from numerics.problem import Linear
    >>> prob = Problem.create(two_d(8, seed=0), Linear(), Potential.cosh(), scale=0.1, seed=0)
    >>> prob.n_params
    2
    """

    data: Dataset
    model: Model
    potential: Potential | PerLayer
    loss: str = "exp"
    theta0: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not isinstance(self.potential, Potential | PerLayer):
            raise ValueError("potential must be a theory.Potential or theory.PerLayer")
        theta0 = np.asarray(self.theta0, dtype=float)
        if theta0.shape != (self.n_params,):
            raise ValueError(f"theta0 has shape {theta0.shape}, but the model has "
                             f"{self.n_params} parameters for d = {self.d}")
        if not np.all(np.isfinite(theta0)):
            raise ValueError("theta0 must be finite")
        if isinstance(self.potential, PerLayer):
            n_layers = int(self.layer_index.max()) + 1
            if len(self.potential.potentials) != n_layers:
                raise ValueError(f"PerLayer has {len(self.potential.potentials)} potentials "
                                 f"but the model has {n_layers} layers")

    @classmethod
    def create(cls, data: Dataset, model: Model, potential: Potential | PerLayer,
               loss: str = "exp", scale: float = 0.1, seed: int = 0,
               theta0: Any = None) -> Problem:
        """Build a problem, drawing θ0 with ``model.init`` unless ``theta0`` is given."""
        d = data.X.shape[1]
        if theta0 is None:
            theta0 = model.init(d, scale=scale, rng=seed)
            init = {"scale": scale, "seed": seed}
        else:
            init = {"theta": "explicit"}
        return cls(data, model, potential, loss, np.asarray(theta0, dtype=float), init)

    def log_loss_and_force(self, theta: NDArray[np.float64]
                           ) -> tuple[float, NDArray[np.float64]]:
        """``(log ℒ(θ), -∇ log ℒ(θ))`` in float64: the force of the time-changed flow
        ``dz/ds = -∇ log ℒ = Σ_i w_i y_i ∇f(x_i; θ)`` (THEORY.md §1, §7), with the weights
        ``w_i = -ℓ'(q_i)/ℒ`` of :func:`log_loss_and_weights` (log domain: no underflow).

        Examples
        --------
        >>> from numerics.problem import Linear, two_d
        >>> prob = Problem.create(two_d(4, seed=0), Linear(), Potential.quadratic(), seed=0)
        >>> ll, force = prob.log_loss_and_force(np.zeros(2))
        >>> round(ll, 12) == round(float(np.log(4)), 12), force.shape
        (True, (2,))
        """
        X, y = self.data.X, self.data.y
        out, grads = self.model.outputs_and_grads(np.asarray(theta, dtype=float), X)
        ll, w = log_loss_and_weights(y * out, self.loss)
        return float(ll), (w * y) @ grads

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.data.X.shape[1])

    @property
    def n_params(self) -> int:
        """Number of parameters P."""
        return self.model.n_params(self.d)

    @cached_property
    def layer_index(self) -> NDArray[np.intp]:
        """Layer of each parameter (selects the potential in a PerLayer)."""
        return np.asarray(self.model.layer_index(self.d))

    def potential_of_layer(self, layer: int) -> Potential:
        """The scalar potential acting on the parameters of ``layer``."""
        pot = self.potential
        return pot.for_layer(layer) if isinstance(pot, PerLayer) else pot

    @cached_property
    def compiled(self) -> list[tuple[NDArray[np.bool_], CompiledPotential]]:
        """(mask, compiled potential) per layer."""
        layers = sorted(set(self.layer_index.tolist()))
        return [(self.layer_index == k, CompiledPotential(self.potential_of_layer(k)))
                for k in layers]

    def _apply(self, name: str, v: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(v)
        for mask, cp in self.compiled:
            fn = getattr(cp, name)
            if fn is None:
                raise NotImplementedError(name)
            out[mask] = _vectorise(fn, int(mask.sum()))(v[mask])
        return out

    def mirror(self, theta):
        """z = ∇φ(θ) (coordinatewise f')."""
        return self._apply("mirror", np.asarray(theta, dtype=float))

    def hessian_diag(self, theta):
        """Diagonal of ∇²φ(θ) (coordinatewise f'')."""
        return self._apply("hessian", np.asarray(theta, dtype=float))

    def balance_terms(self, theta):
        """g(θ_m) coordinatewise (the summands of the balance law)."""
        return self._apply("balance", np.asarray(theta, dtype=float))

    @property
    def has_closed_form_inverse(self) -> bool:
        """Whether every layer's potential has a verified, stable closed-form inverse mirror map
        (``Potential.stable_inverse``)."""
        return all(cp.inverse is not None for _, cp in self.compiled)

    def inverse_mirror(self, z):
        """θ = ∇φ*(z) (coordinatewise (f')^{-1}); closed forms only."""
        return self._apply("inverse", np.asarray(z, dtype=float))
