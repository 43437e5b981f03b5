"""Learned fields: a network gives the log-potential psi, the field is its gradient.

A learned field has unit charge and centre of charge mu. Its log-potential is written, for
every D, as

    psi(x, sigma) = log_potential_offset(sigma, N, D) + psi_rest(x, sigma),
    psi_rest      = log_kernel(||x - mu||^2, sigma, D, d - 2) + c(x, sigma),

the first two terms being exactly the unit monopole at mu (Gauss's law: far from the data
every unit-charge field looks like it), and c a correction that vanishes as sigma grows,

    c(x, sigma) = b(x, sigma) + (sigma_data / sigma) F_theta(c_in (x - mu), c_noise),
    b = log_kernel(||x - mu||^2, sqrt(sigma^2 + w^2), D, d - 2)
        - log_kernel(||x - mu||^2, sigma, D, d - 2),
    c_in = 1 / sqrt(sigma^2 + sigma_data^2),   c_noise = log(sigma) / 4   (EDM's),

with w = sigma_data by default. The base monopole + b is the charge smeared over a width w
(at D = inf exactly the field of Normal(mu, w^2 I), up to an x-independent constant), so an
untrained field already points at the bulk of the data; b = O(w^2 / sigma^2) as sigma grows.

Why sigma_data / sigma: this is EDM's preconditioning carried over to the potential. At
D = inf, d(psi_rest)/dx = (y_hat - x) / sigma^2, and EDM writes the denoiser as
y_hat = c_skip x + c_out F with c_skip = sigma_data^2 / (sigma^2 + sigma_data^2) and
c_out = sigma sigma_data c_in. Then d(psi_rest)/dx = -(x - mu) / (sigma^2 + sigma_data^2)
+ (sigma_data / sigma) c_in F: the first term is the smeared base's gradient and the second is
the gradient of (sigma_data / sigma) F_theta(c_in (x - mu)) when F is a gradient in its input.
So F_theta's gradient plays EDM's F: of order one for every sigma, and a network error moves the
velocity by at most about as much at small sigma (an x0-prediction, as a gate of
sigma_data^2 / sigma^2 would give, amplifies it by sigma_data / sigma there). The gate still
vanishes as sigma grows, so the additive constant of psi is pinned by the monopole, which is
what makes learned fields add with the right weights. The network's output layer starts at
zero, so an untrained field is the smeared base, and tends to the monopole as sigma grows.

From E = -grad phi and psi = log phi, the log-scaled field (`fields.ScaledField`) is

    log_scale = psi,   ex = -d(psi)/dx,
    esigma    = -potential_offset_slope(sigma, N, D) - inverse_D(D) * d(psi_rest)/d(sigma),

by autograd of c (the base's terms in closed form, `base_t`), so the field is curl-free
by construction. For the monopole (w = 0, F = 0) this gives ex = (d - 2)(x - mu) / rho^2 and
esigma = (d - 2) sigma / rho^2 (rho^2 = ||x - mu||^2 + sigma^2 D), the velocity (x - mu) / sigma
of `PointCharges(mu[None], D=D)`, for every D.

Two baselines share the network and the preconditioning. Both predict, as a residual on the
base's, the dimensionless vector t = sigma (E_x, E_sigma) / phi of the (x, sigma) space:

- "direction" (the original PFGM): w = sqrt(N) t / (||t|| + gamma), the field's direction
  alone. Its magnitude is not learned, so its log_scale is a placeholder (the base's psi)
  and composing it is refused by its arithmetic operators; a `Superposition` built directly
  composes it anyway, which is how the benchmark measures what goes wrong.
- "direction+logmag": a unit direction u = t / ||t|| plus a log-magnitude head for
  log ||E|| - log ||E_base||, gated like c. Its magnitude is learned, but nothing ties
  it to a potential, so it carries curl.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from . import geometry
from ._checks import check_D, check_points, check_positive, check_sigma
from .fields import Field, ScaledField

logger = logging.getLogger(__name__)

PARAMETERIZATIONS = ("potential", "direction", "direction+logmag")
# EDM's c_noise = log(sigma) / 4 (Karras et al. 2022, table 1).
C_NOISE_SCALE = 0.25
# Keeps the "direction" target finite where the field vanishes; ||t|| is of order sqrt(N),
# so this only matters at exact zeros of the field.
DIRECTION_GAMMA = 1e-3


def output_features(parameterization: str, N: int) -> int:
    """Numbers the network outputs per point: 1 (psi), N + 1 (direction), N + 2 (+logmag)."""
    return {"potential": 1, "direction": N + 1, "direction+logmag": N + 2}[
        check_parameterization(parameterization)
    ]


def check_parameterization(parameterization: object) -> str:
    """Return the parameterization's name, or raise naming the known ones."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {', '.join(map(repr, PARAMETERIZATIONS))}, "
            f"got {parameterization!r}"
        )
    return str(parameterization)


def base_t(
    xc: torch.Tensor, sigma: torch.Tensor, D: int | float, width: float = 0.0
) -> torch.Tensor:
    """t = sigma (E_x, E_sigma) / phi of the base field around the origin, for flat points xc.

    The base has psi_rest = log_kernel(||xc||^2, sqrt(sigma^2 + width^2), D, d - 2); width 0 is
    the unit monopole. With s = ||xc||^2 / D (0 at D = inf), w^2 = sigma^2 + width^2 and
    kappa = (d - 2) / D (1 at D = inf),

        t_x     = kappa sigma xc / (s + w^2),
        t_sigma = kappa (w^4 + width^2 s) / (w^2 (w^2 + s)),

    from E_sigma / phi = -potential_offset_slope - (1/D) d(psi_rest)/d(sigma), written so that
    nothing cancels. Width 0 gives t = kappa sigma (xc, sigma) / (s + sigma^2), which tends to
    (xc / sigma, 1) as D -> inf. Returns shape (m, N + 1).
    """
    N = xc.shape[1]
    inv_D = geometry.inverse_D(D)
    kappa = 1 + (N - 2) * inv_D
    s = xc.square().sum(1) * inv_D
    w2 = sigma**2 + width**2
    t_x = (kappa * sigma / (s + w2))[:, None] * xc
    t_sigma = kappa * (w2**2 + width**2 * s) / (w2 * (w2 + s))
    return torch.cat([t_x, t_sigma[:, None]], dim=1)


class PotentialField(Field):
    """A learned unit-charge field, psi = monopole at mu + a network's correction.

    Args:
        network: maps (c_in (x - mu), c_noise) to `output_features(parameterization, N)`
            numbers per point (see `fieldlab.networks`).
        D: augmented dimension, an int >= 1 or math.inf; N = 1 with D = 1 (d = 2, whose
            potential is logarithmic) is refused.
        shape: one data point's shape.
        centre: mu, the centre of charge, of shape `shape`.
        sigma_data: the data's standard deviation per coordinate (EDM's sigma_data).
        parameterization: "potential" (default), "direction" or "direction+logmag".
        base_width: w of the base log_kernel(||x - mu||^2, sqrt(sigma^2 + w^2), D, d - 2);
            default sigma_data, and 0 makes the base the bare monopole.

    Limitation: the field is evaluated by autograd through the network, so every evaluation
    costs a forward and a backward pass, and memory grows with the batch like training does.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        D: int | float,
        shape: tuple[int, ...],
        centre: object,
        sigma_data: float,
        parameterization: str = "potential",
        base_width: float | None = None,
    ):
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
        self.D = check_D(D)
        self.shape = tuple(int(s) for s in shape)
        if math.prod(self.shape) == 1 and self.D == 1:
            raise ValueError(
                "N = 1 with D = 1 gives d = 2, whose potential is logarithmic and has no log: "
                "use D >= 2 for 1D data"
            )
        self.parameterization = check_parameterization(parameterization)
        self.sigma_data = check_positive(sigma_data, "sigma_data")
        if base_width is None:
            base_width = self.sigma_data
        if not (isinstance(base_width, (int, float)) and math.isfinite(base_width)) or (
            base_width < 0
        ):
            raise ValueError(f"base_width must be a finite number >= 0, got {base_width!r}")
        self.base_width = float(base_width)
        self.network = network
        device = next(network.parameters()).device
        self._centre = check_points(torch.as_tensor(centre)[None], self.shape, "centre")[0]
        self._centre = self._centre.to(device=device, dtype=torch.float32)

    @property
    def device(self) -> torch.device:
        return self._centre.device

    @property
    def total_charge(self) -> float:
        return 1.0

    @property
    def centre(self) -> torch.Tensor:
        return self._centre

    @property
    def calibrated(self) -> bool:
        """Whether the field's magnitude is learned, so that it can be composed."""
        return self.parameterization != "direction"

    def to(self, device: torch.device | str) -> PotentialField:
        """This field with its network moved to another device."""
        self.network.to(device)
        self._centre = self._centre.to(device)
        return self

    def _network_output(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c_in = torch.rsqrt(sigma**2 + self.sigma_data**2)
        x_in = c_in.reshape(-1, *[1] * len(self.shape)) * (x - self._centre)
        return self.network(x_in, torch.log(sigma) * C_NOISE_SCALE)

    def _gate(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.sigma_data / sigma

    def _base(self, x: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The base field at mu: (psi_rest in float64, t = sigma E / phi of shape (m, N + 1)).

        Both are closed forms, so nothing cancels in float32 far from mu at small sigma.
        """
        d = geometry.augmented_dim(self.N, self.D)
        xc = (x - self._centre).reshape(x.shape[0], self.N)
        sq = xc.double().square().sum(1)
        widened = torch.sqrt(sigma.double() ** 2 + self.base_width**2)
        psi_rest = geometry.log_kernel(sq, widened, self.D, d - 2)
        return psi_rest, base_t(xc, sigma, self.D, self.base_width)

    def correction(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """(sigma_data / sigma) F_theta, the potential form's learned part."""
        return self._gate(sigma) * self._network_output(x, sigma)[:, 0]

    def evaluate(self, x: torch.Tensor, sigma: torch.Tensor, create_graph: bool) -> ScaledField:
        """The field at checked inputs; with create_graph, differentiable in x and the weights."""
        if self.parameterization == "potential":
            return self._potential_field(x, sigma, create_graph)
        return self._direction_field(x, sigma)

    def _potential_field(
        self, x: torch.Tensor, sigma: torch.Tensor, create_graph: bool
    ) -> ScaledField:
        with torch.enable_grad():
            x_ = x if x.requires_grad else x.detach().requires_grad_(True)
            sigma_ = sigma if sigma.requires_grad else sigma.detach().requires_grad_(True)
            c = self.correction(x_, sigma_)
            grad_x, grad_sigma = torch.autograd.grad(
                c.sum(), (x_, sigma_), create_graph=create_graph
            )
        psi_base, t = self._base(x_ if create_graph else x, sigma)
        if not create_graph:
            c = c.detach()
        offset = geometry.log_potential_offset(sigma, self.N, self.D)
        ex = (t[:, : self.N] / sigma[:, None]).reshape(x.shape) - grad_x
        esigma = t[:, self.N] / sigma - geometry.inverse_D(self.D) * grad_sigma
        return ScaledField(offset + psi_base + c.double(), ex, esigma, self.D)

    def _direction_field(self, x: torch.Tensor, sigma: torch.Tensor) -> ScaledField:
        N = self.N
        psi_base, t = self._base(x, sigma)
        psi_base = psi_base + geometry.log_potential_offset(sigma, N, self.D)
        t_norm = t.norm(dim=1, keepdim=True)
        out = self._network_output(x, sigma)
        if self.parameterization == "direction":
            w = math.sqrt(N) * t / (t_norm + DIRECTION_GAMMA) + out
            ex, esigma = w[:, :N] / sigma[:, None], w[:, N] / sigma
            return ScaledField(psi_base, ex.reshape(x.shape), esigma, self.D)
        w = t / t_norm + out[:, : N + 1]
        u = w / w.norm(dim=1, keepdim=True)
        log_magnitude = self._gate(sigma) * out[:, N + 1]
        log_scale = psi_base + (torch.log(t_norm[:, 0] / sigma) + log_magnitude).double()
        return ScaledField(log_scale, u[:, :N].reshape(x.shape), u[:, N], self.D)

    def _scaled_field(self, x: torch.Tensor, sigma: torch.Tensor) -> ScaledField:
        create_graph = torch.is_grad_enabled() and (x.requires_grad or sigma.requires_grad)
        return self.evaluate(x, sigma, create_graph)

    def _signed_log_potential(
        self, x: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.parameterization != "potential":
            raise ValueError(
                f"a {self.parameterization!r} field learns no potential: only the 'potential' "
                "parameterization has a log-potential"
            )
        with torch.no_grad():
            psi_base, _ = self._base(x, sigma)
            psi = geometry.log_potential_offset(sigma, self.N, self.D) + psi_base
            psi = psi + self.correction(x, sigma).double()
        return psi, torch.ones_like(psi)

    def check_composable(self) -> None:
        """Refuse weights for a 'direction' field, whose magnitude is not learned."""
        if not self.calibrated:
            raise ValueError(
                "a 'direction' field predicts only the field's direction, not its "
                "magnitude, so its weight in a sum is meaningless; train with "
                "parameterization='potential' to compose fields (build a Superposition "
                "directly to override)"
            )

    def __repr__(self) -> str:
        return (
            f"PotentialField({self.parameterization}, shape={self.shape}, D={self.D}, "
            f"network={type(self.network).__name__})"
        )


def curl_ratio(field: Field, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """||A|| / ||S|| per point, for J = S + A the Jacobian of E_x with respect to x.

    S and A are J's symmetric and antisymmetric parts (Frobenius norms). A gradient field
    has A = 0; the ratio measures how far a learned field is from one. E_x is taken as
    e^(log_scale - l0) ex with l0 the point's own log scale held fixed, which rescales each
    point's Jacobian by a positive constant and leaves the ratio unchanged.

    Limitation: builds the N x N Jacobian row by row, N backward passes: for vectors only.
    """
    x = check_points(x, field.shape, "x").to(device=field.device, dtype=field.dtype)
    sigma = check_sigma(sigma, x.shape[0], x, "sigma")
    m, N = x.shape[0], field.N
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = field._scaled_field(x, sigma)
        ex = torch.exp(value.log_scale - value.log_scale.detach()).to(x.dtype)
        ex = (ex.reshape(-1, *[1] * len(field.shape)) * value.ex).reshape(m, N)
        rows = [
            torch.autograd.grad(ex[:, i].sum(), x, retain_graph=True)[0].reshape(m, N)
            for i in range(N)
        ]
    J = torch.stack(rows, dim=1)
    S, A = (J + J.transpose(1, 2)) / 2, (J - J.transpose(1, 2)) / 2
    return (A.flatten(1).norm(dim=1) / S.flatten(1).norm(dim=1)).detach()
