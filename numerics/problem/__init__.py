"""Problem definition: datasets, models and activations, number-type backends, the
loss, :class:`Problem` and run configs (JSON -> problem).
"""

from ._activations import (
    Activation,
    LeakyReLU,
    Power,
    ReLU,
    SquareReLU,
    get_activation,
)
from ._backends import (
    FLOAT64,
    HEYOKA,
    MPMATH,
    Backend,
    get_backend,
)
from ._base import (
    Model,
    NeuronGroup,
)
from ._config import (
    CONFIG_FIELDS,
    PROBLEM_FIELDS,
    ConfigError,
    RunConfig,
    check_keys,
    load_config,
    parse_config,
    parse_problem,
)
from ._data import (
    Dataset,
    make_dataset,
    separable_gaussian,
    sparse_teacher,
    two_d,
    xor,
)
from ._loss import (
    log_loss_and_weights,
)
from ._models import (
    Diagonal,
    Linear,
    make_model,
)
from ._networks import (
    MLP,
    TwoLayer,
)
from ._problem import (
    LOSSES,
    CompiledPotential,
    Problem,
)

__all__ = [
    "CONFIG_FIELDS",
    "FLOAT64",
    "HEYOKA",
    "LOSSES",
    "MLP",
    "MPMATH",
    "PROBLEM_FIELDS",
    "Activation",
    "Backend",
    "CompiledPotential",
    "ConfigError",
    "Dataset",
    "Diagonal",
    "LeakyReLU",
    "Linear",
    "Model",
    "NeuronGroup",
    "Power",
    "Problem",
    "ReLU",
    "RunConfig",
    "SquareReLU",
    "TwoLayer",
    "check_keys",
    "get_activation",
    "get_backend",
    "load_config",
    "log_loss_and_weights",
    "make_dataset",
    "make_model",
    "parse_config",
    "parse_problem",
    "separable_gaussian",
    "sparse_teacher",
    "two_d",
    "xor",
]
