"""Synthetic monthly deliveries with a record of the simulated persons (for demo and tests).

`generate_deliveries` writes every configured municipality's monthly snapshot files into an
inbox, in the varied formats real municipalities send, and returns a `Simulation`: the truth
about every person and enrolment, computed without the pipeline's own code. When every project
is generated (the demo), the projects with a mapping instrument also get their mapping files
(kartläggning, `mapping.py`), recorded in `Simulation.mapping`.
"""

from orchestration.generator.model import (
    InvalidRow,
    MappingFile,
    MappingRow,
    MappingSimulation,
    SimulatedEnrolment,
    SimulatedPerson,
    Simulation,
    WrittenFile,
)
from orchestration.generator.simulate import generate_deliveries

__all__ = [
    "InvalidRow",
    "MappingFile",
    "MappingRow",
    "MappingSimulation",
    "SimulatedEnrolment",
    "SimulatedPerson",
    "Simulation",
    "WrittenFile",
    "generate_deliveries",
]
