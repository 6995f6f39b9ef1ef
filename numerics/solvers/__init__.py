"""Solvers: the entry point :func:`solve_mirror_flow` (float64 or arbitrary precision,
with a certificate), discrete mirror descent and the :class:`MirrorFlowSolution`.
"""

from ._float64 import (
    solve_float64,
)
from ._mirror_descent import (
    mirror_descent,
)
from ._plan import (
    LINF_TAYLOR_BELOW,
    IntegrationPlan,
    auto_method,
    check_separable,
    choose_state,
    is_network,
    plan_run,
)
from ._precision import (
    LOG2_10,
    LOG10_2,
    FpType,
    Precision,
)
from ._safeguarded import (
    Descent,
    compared_state,
    safeguarded_descent,
)
from ._solution import (
    FORMAT,
    FORMAT_VERSION,
    MirrorFlowSolution,
    balance_residuals,
    content_digest,
    problem_to_dict,
)
from ._solve import (
    agreeing_digits,
    margin_scale,
    resume,
    solve_mirror_flow,
    unit_direction_mp,
)
from ._status import (
    Status,
    status_message,
)
from ._stuck import (
    HELD_RTOL,
    STUCK_CHECKS_PER_DOUBLING,
    STUCK_DOMINANCE,
    STUCK_GRADIENT_RATIO,
    StuckMonitor,
    check_stuck_levels,
    held_samples,
    next_stuck_check,
    stuck_check_level,
    stuck_reason,
    stuck_samples,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HELD_RTOL",
    "LINF_TAYLOR_BELOW",
    "LOG2_10",
    "LOG10_2",
    "STUCK_CHECKS_PER_DOUBLING",
    "STUCK_DOMINANCE",
    "STUCK_GRADIENT_RATIO",
    "Descent",
    "FpType",
    "IntegrationPlan",
    "MirrorFlowSolution",
    "Precision",
    "Status",
    "StuckMonitor",
    "agreeing_digits",
    "auto_method",
    "balance_residuals",
    "check_separable",
    "check_stuck_levels",
    "choose_state",
    "compared_state",
    "content_digest",
    "held_samples",
    "is_network",
    "margin_scale",
    "mirror_descent",
    "next_stuck_check",
    "plan_run",
    "problem_to_dict",
    "resume",
    "safeguarded_descent",
    "solve_float64",
    "solve_mirror_flow",
    "status_message",
    "stuck_check_level",
    "stuck_reason",
    "stuck_samples",
    "unit_direction_mp",
]
