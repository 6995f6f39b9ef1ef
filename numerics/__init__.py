"""mirrorflow's numeric layer: models, data, mirror-flow integration, diagnostics.

Consumes ``theory`` objects (compiled with ``sympy.lambdify``), never re-derives them.
"""
from ._backends import FLOAT64, HEYOKA, MPMATH, Backend, get_backend
from ._data import Dataset, make_dataset, separable_gaussian, sparse_teacher, two_d, xor
from ._float64 import solve_float64
from ._loss import log_loss_and_weights
from ._models import (
    MLP,
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
    make_model,
)
from ._problem import Problem
from ._solution import MirrorFlowSolution

__all__ = [
    "FLOAT64", "HEYOKA", "MLP", "MPMATH", "Backend", "Dataset", "Diagonal", "LeakyReLU",
    "Linear", "MirrorFlowSolution", "Model", "NeuronGroup", "Power", "Problem", "ReLU",
    "SquareReLU", "TwoLayer", "get_activation", "get_backend", "log_loss_and_weights",
    "make_dataset", "make_model", "separable_gaussian", "solve_float64", "sparse_teacher",
    "two_d", "xor",
]
