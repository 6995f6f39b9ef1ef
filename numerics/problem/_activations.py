"""Positively homogeneous activations ``sigma(c z) = c**k sigma(z)`` (``c > 0``).

Each activation evaluates its value and derivative through a :class:`Backend`, so the models of
:mod:`numerics.problem` run in float64, mpmath and heyoka with the same code;
:func:`get_activation` reads the spec strings of configs and JSON output.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ._backends import FLOAT64, Backend
from ._base import Array

__all__ = ["Activation", "LeakyReLU", "Power", "ReLU", "SquareReLU", "get_activation"]


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

    @property
    def derivative_jumps(self) -> bool:
        """True if ``sigma'`` jumps at 0 (ReLU, leaky ReLU): a net's force then jumps across
        its kinks, where the flow can slide (Filippov, THEORY.md §7.2)."""
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
    def derivative_jumps(self) -> bool:
        return True

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
    def derivative_jumps(self) -> bool:
        return True

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
