"""fieldlab: a playground for electrostatic generative fields (PFGM, PFGM++, diffusion).

A data distribution is a charge density on the hyperplane r = 0 of an augmented space with
D extra dimensions; fields add like physics says, and samples come from following field lines
back from far away. See the README for a tour.

The data sets, measures and pictures (`fieldlab.datasets`, `fieldlab.metrics`,
`fieldlab.plot`, `fieldlab.interactive`) load on first use, so importing fieldlab stays quick.
"""

import importlib

from . import geometry
from .checkpoint import load, save
from .fields import Field, ScaledField, Superposition, superpose
from .likelihood import bits_per_dim, log_likelihood
from .point_charges import PointCharges
from .potential import PotentialField
from .sampling import decode, encode, sample
from .training import train

__version__ = "0.1.0"

_LAZY_MODULES = ("datasets", "metrics", "plot", "interactive")

__all__ = [
    "Field",
    "PointCharges",
    "PotentialField",
    "ScaledField",
    "Superposition",
    "bits_per_dim",
    "decode",
    "encode",
    "geometry",
    "load",
    "log_likelihood",
    "sample",
    "save",
    "superpose",
    "train",
    *_LAZY_MODULES,
]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fieldlab' has no attribute {name!r}")
