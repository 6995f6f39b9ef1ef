"""Checks: diagnostics along a trajectory (margins, identities, gauges, sparsity) and
the ``verify`` battery of THEORY.md statements with its planted data.

Modules: ``_diagnostics`` (margins, gauges, sparsity), ``_kkt`` (KKT residuals of the
horizon's margin problem, THEORY.md §4), ``_results`` (:class:`Check`, :class:`Report`),
``_planted`` (planted data, the battery's runs), ``_norms`` (norm names), ``_integrate``
(float64 runs, working precision, :data:`BANDS`), ``_conservation`` (balance law, global
identity, smoothed margin, inverse round-trip), ``_directions`` (limit directions, horizon
claims), ``_kkt_trend`` (KKT residual trends, THEORY.md §4.1), ``_rates`` (loss and norm
slopes) and ``_battery`` (:func:`verify`). The command
line ``mirrorflow verify`` is in :mod:`numerics.cli`.
"""

from ._battery import verify
from ._conservation import (
    check_balance,
    check_global_identity,
    check_inverse_roundtrip,
    check_smoothed_margin,
)
from ._diagnostics import (
    IdentityResidual,
    diagnose,
    global_identity_residual,
    horizon_gauge,
    loss_inverse,
    max_margin_gap,
    mirror_alignment,
    norms,
    q_margin,
    q_margin_mp,
    smoothed_margin,
    sparsity,
)
from ._directions import check_direction, check_horizon_claim, check_predictor_direction
from ._integrate import BANDS, integrate, working_epsilon
from ._kkt import (
    ZERO_TOL,
    KKTHorizon,
    KKTResult,
    KKTTrajectory,
    fit_decay,
    kkt,
    kkt_along,
    kkt_horizon,
)
from ._kkt_trend import KKT_TREND, KKTTrend, check_kkt_trend, kkt_trend
from ._norms import parse_norm
from ._planted import battery_specs, planted_dataset, planted_direction
from ._rates import check_rates, slopes
from ._results import Check, Report

__all__ = [
    "BANDS",
    "KKT_TREND",
    "ZERO_TOL",
    "Check",
    "IdentityResidual",
    "KKTHorizon",
    "KKTResult",
    "KKTTrajectory",
    "KKTTrend",
    "Report",
    "battery_specs",
    "check_balance",
    "check_direction",
    "check_global_identity",
    "check_horizon_claim",
    "check_inverse_roundtrip",
    "check_kkt_trend",
    "check_predictor_direction",
    "check_rates",
    "check_smoothed_margin",
    "diagnose",
    "fit_decay",
    "global_identity_residual",
    "horizon_gauge",
    "integrate",
    "kkt",
    "kkt_along",
    "kkt_horizon",
    "kkt_trend",
    "loss_inverse",
    "max_margin_gap",
    "mirror_alignment",
    "norms",
    "parse_norm",
    "planted_dataset",
    "planted_direction",
    "q_margin",
    "q_margin_mp",
    "slopes",
    "smoothed_margin",
    "sparsity",
    "verify",
    "working_epsilon",
]
