"""fieldlab: a playground for electrostatic generative fields (PFGM, PFGM++, diffusion).

A data distribution is a charge density on the hyperplane r = 0 of an augmented space with
D extra dimensions; fields add like physics says, and samples come from following field lines
back from far away. See the README for a tour.
"""

from . import geometry
from .fields import Field, ScaledField, Superposition, superpose
from .point_charges import PointCharges

__version__ = "0.1.0"

__all__ = [
    "Field",
    "PointCharges",
    "ScaledField",
    "Superposition",
    "geometry",
    "superpose",
]
