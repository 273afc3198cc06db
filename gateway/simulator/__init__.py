"""A strict stand-in for the national portal's (DVCQG) adapter, for the demo, vendors and tests.

It imports nothing from the rest of the gateway: see ``docs/simulator.md``.
"""

from .catalogue import Agency, Catalogue, Procedure, load_catalogue
from .portal import (
    STATE_KEY,
    DossierRecord,
    PortalRejection,
    PortalState,
    SimulatorSettings,
    create_app,
    run_simulator,
)
from .rules import Problem, check_dossier, check_is_updating, check_progress

__all__ = [
    "STATE_KEY",
    "Agency",
    "Catalogue",
    "DossierRecord",
    "PortalRejection",
    "PortalState",
    "Problem",
    "Procedure",
    "SimulatorSettings",
    "check_dossier",
    "check_is_updating",
    "check_progress",
    "create_app",
    "load_catalogue",
    "run_simulator",
]
