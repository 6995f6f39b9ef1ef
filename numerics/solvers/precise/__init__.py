"""The arbitrary-precision path: the heyoka system builder, compilation, the Taylor
driver and Radau IIA (step and driver), and the adapter from a :class:`Problem`.

Modules: ``_problem_system`` (Problem -> heyoka expressions), ``_system*`` (the time-changed
ODE), ``_compile`` / ``_record`` (shared by both drivers), ``_taylor*`` and ``_logtime``
(heyoka's Taylor method; ReLU kinks in ``_taylor_switches``, ``_taylor_sliding``,
``_taylor_slide``), ``_native_output`` (heyoka's log lines kept off stdout), ``_radau*`` (Radau
IIA in MPFR), ``_run`` (one planned run -> :class:`MirrorFlowSolution`).
"""

from ._compile import compile_functions, to_mpf
from ._problem_system import problem_system, scalar_potential
from ._radau import RadauIntegrator, integrate_implicit
from ._radau_compile import ImplicitFunctions, compile_implicit
from ._radau_tableau import radau_tableau
from ._record import RunRecord, TaylorRun
from ._run import PreciseRun, mp_balance, mp_mirror, solve_precise, to_solution
from ._system import MarginFn, MirrorFlowSystem, ScalarPotential, build_mirror_flow_system
from ._system_exprs import ParTable, sympy_to_heyoka
from ._taylor import integrate_taylor
from ._taylor_integrator import TaylorIntegrator

__all__ = [
    "ImplicitFunctions",
    "MarginFn",
    "MirrorFlowSystem",
    "ParTable",
    "PreciseRun",
    "RadauIntegrator",
    "RunRecord",
    "ScalarPotential",
    "TaylorIntegrator",
    "TaylorRun",
    "build_mirror_flow_system",
    "compile_functions",
    "compile_implicit",
    "integrate_implicit",
    "integrate_taylor",
    "mp_balance",
    "mp_mirror",
    "problem_system",
    "radau_tableau",
    "scalar_potential",
    "solve_precise",
    "sympy_to_heyoka",
    "to_mpf",
    "to_solution",
]
