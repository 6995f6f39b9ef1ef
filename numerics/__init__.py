"""mirrorflow's numeric layer: models, data, mirror-flow integration, diagnostics.

Consumes ``theory`` objects (compiled with ``sympy.lambdify``), never re-derives them.
"""
from ._backends import FLOAT64, HEYOKA, MPMATH, Backend, get_backend
from ._config import ConfigError, RunConfig, load_config, parse_config
from ._data import Dataset, make_dataset, separable_gaussian, sparse_teacher, two_d, xor
from ._diagnostics import (
    IdentityResidual,
    diagnose,
    global_identity_residual,
    horizon_gauge,
    max_margin_gap,
    mirror_alignment,
    norms,
    q_margin,
    smoothed_margin,
    sparsity,
)
from ._float64 import solve_float64
from ._loss import log_loss_and_weights
from ._mirror_descent import mirror_descent
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
from ._solve import agreeing_digits, resume, solve_mirror_flow
from ._verify import Check, Report, verify

__all__ = [
    "FLOAT64",
    "HEYOKA",
    "MLP",
    "MPMATH",
    "Backend",
    "Check",
    "ConfigError",
    "Dataset",
    "Diagonal",
    "IdentityResidual",
    "LeakyReLU",
    "Linear",
    "MirrorFlowSolution",
    "Model",
    "NeuronGroup",
    "Power",
    "Problem",
    "ReLU",
    "Report",
    "RunConfig",
    "SquareReLU",
    "TwoLayer",
    "agreeing_digits",
    "diagnose",
    "get_activation",
    "get_backend",
    "global_identity_residual",
    "horizon_gauge",
    "load_config",
    "log_loss_and_weights",
    "make_dataset",
    "make_model",
    "max_margin_gap",
    "mirror_alignment",
    "mirror_descent",
    "norms",
    "parse_config",
    "q_margin",
    "resume",
    "separable_gaussian",
    "smoothed_margin",
    "solve_float64",
    "solve_mirror_flow",
    "sparse_teacher",
    "sparsity",
    "two_d",
    "verify",
    "xor",
]
