"""mirrorflow's symbolic layer (sympy): potentials, derivations, horizons, rates, margins.

``theory`` never imports ``numerics``. Everything is exact where sympy can derive and verify
a closed form, and numerically certified (mpmath, any precision) where it cannot.
"""
from ._balance import BalanceLaw, BalanceQuantity, balance_law
from ._derivation import Derivation, Step
from ._errors import InvalidPotentialError, NoClosedFormError
from ._horizon import Horizon, HorizonCheck, horizon_of_expr
from ._inverse import PrecisionError, invert_increasing
from ._max_margin import MarginCertificate, MaxMarginResult, max_margin
from ._numeric import mp_function, symbolic_timeout, wall_clock_limit
from ._plotting import horizon_boundary, plot_sublevel_sets, sublevel_boundary
from ._potential import PerLayer, Potential, X, Z, tidy
from ._rates import REGIMES, Rates, predicted_rates
from ._tidy import asinh_form, collapse_abs_sign, rationalized_form
from ._version import __version__, package_version

__all__ = [
    "REGIMES",
    "BalanceLaw",
    "BalanceQuantity",
    "Derivation",
    "Horizon",
    "HorizonCheck",
    "InvalidPotentialError",
    "MarginCertificate",
    "MaxMarginResult",
    "NoClosedFormError",
    "PerLayer",
    "Potential",
    "PrecisionError",
    "Rates",
    "Step",
    "X",
    "Z",
    "__version__",
    "asinh_form",
    "balance_law",
    "collapse_abs_sign",
    "horizon_boundary",
    "horizon_of_expr",
    "invert_increasing",
    "max_margin",
    "mp_function",
    "package_version",
    "plot_sublevel_sets",
    "predicted_rates",
    "rationalized_form",
    "sublevel_boundary",
    "symbolic_timeout",
    "tidy",
    "wall_clock_limit",
]
