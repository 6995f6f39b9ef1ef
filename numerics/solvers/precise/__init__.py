"""The arbitrary-precision path: the heyoka system builder, compilation, the Taylor
driver and Radau IIA (step and driver), and the adapter from a :class:`Problem`.
"""

from ._compile import (
    compile_functions,
    converter,
    n_pars,
    par_array,
    to_mpf,
)
from ._problem_system import (
    problem_system,
    scalar_potential,
)
from ._radau import (
    ImplicitFunctions,
    compile_implicit,
    integrate_implicit,
    radau_tableau,
)
from ._record import (
    RunRecord,
    TaylorRun,
    initial_state,
    output_levels,
    start_state,
    stop_on_sigint,
)
from ._run import (
    mp_balance,
    mp_mirror,
    solve_precise,
    to_solution,
)
from ._system import (
    MarginFn,
    MirrorFlowSystem,
    ScalarPotential,
    build_mirror_flow_system,
    sympy_to_heyoka,
)
from ._taylor import (
    integrate_taylor,
)

__all__ = [
    "ImplicitFunctions",
    "MarginFn",
    "MirrorFlowSystem",
    "RunRecord",
    "ScalarPotential",
    "TaylorRun",
    "build_mirror_flow_system",
    "compile_functions",
    "compile_implicit",
    "converter",
    "initial_state",
    "integrate_implicit",
    "integrate_taylor",
    "mp_balance",
    "mp_mirror",
    "n_pars",
    "output_levels",
    "par_array",
    "problem_system",
    "radau_tableau",
    "scalar_potential",
    "solve_precise",
    "start_state",
    "stop_on_sigint",
    "sympy_to_heyoka",
    "to_mpf",
    "to_solution",
]
