"""The field interface, log-scaled field values, and superposition of weighted fields.

A field is a signed charge density on the hyperplane r = 0 of the augmented space. Its values
span thousands of orders of magnitude for large d = N + D, so nothing is held on a linear
scale: a field value at (x, sigma) is a log scale l per point and a scaled field,

    E_x     = e^l * ex,            the component along data space,
    E_sigma = e^l * esigma,        E_sigma = E_r / sqrt(D) = -(1/D) d(phi)/d(sigma),

and the backward ODE's velocity is their ratio, dx/dsigma = sqrt(D) E_x / E_r = ex / esigma.
Using E_sigma rather than E_r keeps one formula for every D: at D = inf, where r is infinite,
E_sigma stays finite once the diverging sigma-dependent factor is dropped (DESIGN's convention,
see `geometry.log_field_offset`).

Fields add like physics says: a superposition sum_k c_k F_k has the field sum_k c_k E_k, the
potential sum_k c_k phi_k and the total charge sum_k c_k Q_k. The sums are signed
log-sum-exps, so no term is ever taken to a linear scale on its own.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import geometry
from ._checks import check_points, check_sigma, check_weight


@dataclass(frozen=True)
class ScaledField:
    """A field value per point: E_x = e^log_scale * ex and E_sigma = e^log_scale * esigma.

    Attributes:
        log_scale: shape (m,), float64.
        ex: shape (m, *shape), the scaled component along data space.
        esigma: shape (m,), the scaled component along sigma, E_sigma = E_r / sqrt(D).
        D: the augmented dimension the value belongs to.
    """

    log_scale: torch.Tensor
    ex: torch.Tensor
    esigma: torch.Tensor
    D: int | float

    @property
    def velocity(self) -> torch.Tensor:
        """dx/dsigma = ex / esigma; NaN where E_r <= 0, where no field line leads down."""
        esigma = self.esigma.reshape(-1, *([1] * (self.ex.dim() - 1)))
        v = self.ex / esigma
        return torch.where(esigma > 0, v, torch.full_like(v, math.nan))

    @property
    def landing(self) -> torch.Tensor:
        """Boolean mask of points where E_r > 0 and the backward ODE is defined."""
        return self.esigma > 0

    def er(self) -> torch.Tensor:
        """The scaled radial component, er = sqrt(D) * esigma, for finite D."""
        if self.D == math.inf:
            raise ValueError("E_r is infinite at D = inf; use esigma = E_r / sqrt(D)")
        return self.esigma * math.sqrt(self.D)


class Field(ABC):
    """A signed charge density in the augmented space of PFGM++, evaluated at (x, sigma).

    Subclasses provide `_scaled_field` and `_signed_log_potential` on checked inputs; this
    class checks arguments and provides the arithmetic.
    """

    D: int | float
    shape: tuple[int, ...]

    @property
    @abstractmethod
    def total_charge(self) -> float:
        """Q, the sum of all charges."""

    @property
    @abstractmethod
    def centre(self) -> torch.Tensor:
        """mu = (sum_i q_i y_i) / Q, the centre of charge, of shape `shape`."""

    @abstractmethod
    def _scaled_field(self, x: torch.Tensor, sigma: torch.Tensor) -> ScaledField:
        """The field at checked points x (m, *shape) and noise levels sigma (m,)."""

    @abstractmethod
    def _signed_log_potential(
        self, x: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log |phi|, sign phi) at checked points, float64, offsets included."""

    @property
    def N(self) -> int:
        """Data dimension: the number of entries of one data point."""
        return math.prod(self.shape)

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the field's computations."""
        return torch.float32

    @property
    def device(self) -> torch.device:
        """The device of the field's tensors."""
        return torch.device("cpu")

    def _check(self, x: object, sigma: object) -> tuple[torch.Tensor, torch.Tensor]:
        x = check_points(x, self.shape, "x").to(device=self.device, dtype=self.dtype)
        return x, check_sigma(sigma, x.shape[0], x, "sigma")

    def field(self, x: torch.Tensor, sigma: torch.Tensor | float) -> ScaledField:
        """The log-scaled field at points x of shape (m, *shape) and noise levels sigma."""
        return self._scaled_field(*self._check(x, sigma))

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """dx/dsigma of the backward ODE, shape like x; NaN where E_r <= 0."""
        return self.field(x, sigma).velocity

    def log_potential(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """psi = log phi (float64, shape (m,)); -inf where phi = 0 and NaN where phi < 0.

        At D = inf, phi is defined up to a sigma-dependent factor that diverges with D; it is
        dropped, leaving psi = log sum_i q_i exp(-||x - y_i||^2 / (2 sigma^2)).
        """
        log_abs, sign = self._signed_log_potential(*self._check(x, sigma))
        log_abs = torch.where(sign == 0, torch.full_like(log_abs, -math.inf), log_abs)
        return torch.where(sign < 0, torch.full_like(log_abs, math.nan), log_abs)

    def prior_sample(
        self,
        n: int,
        sigma_max: float = geometry.SIGMA_MAX,
        rng: np.random.Generator | None = None,
    ) -> torch.Tensor:
        """n draws of the prior at sigma_max, centred on the centre of charge."""
        self.check_samplable()
        x = geometry.prior_sample(n, self.centre.double(), self.D, sigma_max, rng)
        return x.to(dtype=self.dtype, device=self.device)

    def check_composable(self) -> None:
        """Raise if this field's magnitude is meaningless, so that it cannot be weighted.

        The arithmetic operators call it on every operand; a field of charges always passes.
        """
        return None

    def check_samplable(self) -> None:
        """Raise unless the total charge is positive, so field lines come from infinity."""
        Q = self.total_charge
        if not Q > 0:
            raise ValueError(
                f"the field's total charge is {Q:.6g}: sampling needs a positive total charge, "
                "since a field with Q <= 0 has no field lines from infinity to follow"
            )

    def __add__(self, other: Field) -> Superposition:
        if not isinstance(other, Field):
            raise TypeError(f"can only add a Field to a Field, got {type(other).__name__}")
        self.check_composable()
        other.check_composable()
        return Superposition([self, other], [1.0, 1.0])

    def __sub__(self, other: Field) -> Superposition:
        if not isinstance(other, Field):
            raise TypeError(f"can only subtract a Field from a Field, got {type(other).__name__}")
        self.check_composable()
        other.check_composable()
        return Superposition([self, other], [1.0, -1.0])

    def __radd__(self, other: object) -> Superposition:
        raise TypeError(f"can only add a Field to a Field, got {type(other).__name__}")

    def __rsub__(self, other: object) -> Superposition:
        raise TypeError(f"can only subtract a Field from a Field, got {type(other).__name__}")

    def __mul__(self, weight: float) -> Superposition:
        weight = check_weight(weight, "weight")
        self.check_composable()
        return Superposition([self], [weight])

    __rmul__ = __mul__

    def __truediv__(self, weight: float) -> Superposition:
        weight = check_weight(weight, "weight")
        if weight == 0:
            raise ZeroDivisionError("cannot divide a field by a weight of 0")
        self.check_composable()
        return Superposition([self], [1.0 / weight])

    def __neg__(self) -> Superposition:
        self.check_composable()
        return Superposition([self], [-1.0])

    def __pos__(self) -> Field:
        return self


def _signed_logsumexp(
    log_abs: torch.Tensor, sign: torch.Tensor, dim: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """log |sum_k sign_k e^(log_abs_k)| and its sign, along dim."""
    top = log_abs.max(dim, keepdim=True).values
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    total = (sign * torch.exp(log_abs - top)).sum(dim)
    return torch.log(total.abs()) + top.squeeze(dim), torch.sign(total)


class Superposition(Field):
    """sum_k c_k F_k for fields F_k of one D and one shape, and real weights c_k.

    Nested superpositions are flattened, so (a + b) + c and a + (b + c) are the same sum.
    """

    def __init__(self, fields: Sequence[Field], weights: Sequence[float] | None = None):
        fields = list(fields)
        if not fields:
            raise ValueError("fields must hold at least one field")
        weights = [1.0] * len(fields) if weights is None else list(weights)
        if len(weights) != len(fields):
            raise ValueError(
                f"weights must have one entry per field ({len(fields)}), got {len(weights)}"
            )
        for k, field in enumerate(fields):
            if not isinstance(field, Field):
                raise TypeError(f"fields[{k}] must be a Field, got {type(field).__name__}")
            if field.D != fields[0].D:
                raise ValueError(
                    f"fields of different D cannot be added: fields[{k}] has D = {field.D}, "
                    f"expected D = {fields[0].D}"
                )
            if tuple(field.shape) != tuple(fields[0].shape):
                raise ValueError(
                    f"fields of different shape cannot be added: fields[{k}] has shape "
                    f"{tuple(field.shape)}, expected {tuple(fields[0].shape)}"
                )
        weights = [check_weight(w, f"weights[{k}]") for k, w in enumerate(weights)]

        self.terms: list[tuple[float, Field]] = []
        for weight, field in zip(weights, fields):
            if isinstance(field, Superposition):
                self.terms.extend((weight * c, f) for c, f in field.terms)
            else:
                self.terms.append((weight, field))
        self.D = fields[0].D
        self.shape = tuple(fields[0].shape)

    @property
    def weights(self) -> list[float]:
        return [c for c, _ in self.terms]

    @property
    def fields(self) -> list[Field]:
        return [f for _, f in self.terms]

    @property
    def dtype(self) -> torch.dtype:
        return self.terms[0][1].dtype

    @property
    def device(self) -> torch.device:
        return self.terms[0][1].device

    @property
    def total_charge(self) -> float:
        return float(sum(c * f.total_charge for c, f in self.terms))

    @property
    def centre(self) -> torch.Tensor:
        Q = self.total_charge
        if Q == 0:
            raise ValueError("a field of zero total charge has no centre of charge")
        moment = sum(c * f.total_charge * f.centre.double() for c, f in self.terms)
        return (moment / Q).to(self.dtype)

    def _term_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = torch.tensor(self.weights, dtype=torch.float64)
        return torch.log(c.abs())[:, None], torch.sign(c)[:, None]

    def _scaled_field(self, x: torch.Tensor, sigma: torch.Tensor) -> ScaledField:
        values = [f._scaled_field(x, sigma) for f in self.fields]
        log_c, sign_c = self._term_weights()
        log_scale = torch.stack([v.log_scale for v in values]).cpu() + log_c
        top = log_scale.max(0).values
        factors = (sign_c * torch.exp(log_scale - top)).to(dtype=x.dtype, device=x.device)
        ex = sum(a.reshape(-1, *[1] * (x.dim() - 1)) * v.ex for a, v in zip(factors, values))
        esigma = sum(a * v.esigma for a, v in zip(factors, values))
        return ScaledField(top.to(x.device), ex, esigma, self.D)

    def _signed_log_potential(
        self, x: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [f._signed_log_potential(x, sigma) for f in self.fields]
        log_c, sign_c = self._term_weights()
        log_abs = torch.stack([p[0].cpu() for p in parts]) + log_c
        sign = torch.stack([p[1].cpu() for p in parts]) * sign_c
        log_abs, sign = _signed_logsumexp(log_abs, sign)
        return log_abs.to(x.device), sign.to(x.device)

    def __repr__(self) -> str:
        inner = " + ".join(f"{c:g}*{type(f).__name__}" for c, f in self.terms)
        return f"Superposition({inner}, D={self.D}, Q={self.total_charge:g})"


def superpose(fields: Sequence[Field], weights: Sequence[float] | None = None) -> Superposition:
    """The weighted sum of fields, sum_k weights[k] * fields[k] (all weights 1 by default)."""
    return Superposition(fields, weights)
