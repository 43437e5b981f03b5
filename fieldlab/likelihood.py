"""Log-likelihoods by the instantaneous change of variables along the forward ODE.

The flow dx/dsigma = v(x, sigma) carries the density p_sigma of the backward ODE's samples, so
p obeys the continuity equation d(p)/d(sigma) + div_x(p v) = 0. Along a trajectory x(sigma),

    d/dsigma log p(x(sigma), sigma) = (d(p)/d(sigma) + v . grad p) / p = -div_x v,

and integrating from sigma_min (the data point x) up to sigma_max (its latent x(sigma_max)),

    log p_sigma_min(x) = log p_prior(x(sigma_max)) + integral_sigma_min^sigma_max div_x v dsigma,

with the prior's density the perturbation kernel around the centre of charge mu at sigma_max
(`geometry.kernel_log_prob`: rho^(-d) normalised for finite D, Normal(mu, sigma_max^2) at
D = inf). The pair (x, integral) is integrated as one state, in t = log sigma like the other
torchdiffeq solvers: d/dt = sigma * d/dsigma.

The divergence is exact for small N, sum_j d v_j / d x_j by one backward pass per
dimension, and otherwise Hutchinson's estimate div v = E[eps^T (dv/dx) eps] for probes with
E[eps eps^T] = I (Rademacher or Gaussian), one backward pass per probe; the probes are drawn
once from the seed and kept along the whole trajectory, so the estimate of the integral is
unbiased and the integrand smooth in sigma.

Bits per dimension for images (`bits_per_dim`). Pixels k in {0, ..., 255} are mapped onto
[-1, 1] by x_k = k / 127.5 - 1 (the data sets' convention, EDM's), so every pixel owns a bin
of width Delta = 2 / 255 around x_k. The probability of an image is the model's mass on its
bin, P(k) = integral_bin p(x) dx = Delta^N E_u[p(x_k + u)] with u uniform on the bin, and
Jensen's inequality gives the variational dequantisation bound (Theis et al. 2016)

    -log2 P(k) <= -(E_u[log p(x_k + u)] + N log Delta) / ln 2,

so per dimension

    bpd = -log p(x_k + u) / (N ln 2) - log2 Delta,

with u drawn once per image. Every term is named: the model's density in [-1, 1] space, and
-log2 Delta, the change of variables from density to probability per dimension. With
256 levels spread over a range of 2 with bins of 2 / 256, -log2 Delta = log2(256) - log2(2) =
7, the "+ 7" that other codebases leave unexplained; with the bins 2 / 255 of x_k = k / 127.5 - 1
it is log2(127.5) = 6.994.

Limitation: the divergence assumes that a field's velocity at one point does not depend on the
other points of the batch (true of every field here; a network with batch statistics would
break it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import geometry, solvers
from ._checks import check_int, check_points, check_positive
from .fields import Field
from .sampling import (
    DEFAULT_ATOL,
    DEFAULT_ODE_SOLVER,
    DEFAULT_RTOL,
    DEFAULT_STEPS,
    check_field,
    check_levels,
    check_options,
)

logger = logging.getLogger(__name__)

# Up to this many dimensions the divergence is exact ("auto"): it costs N backward passes per
# evaluation, a Hutchinson estimate one per probe.
EXACT_DIVERGENCE_MAX_N = 16
DIVERGENCES = ("auto", "exact", "hutchinson")
PROBES = ("rademacher", "gaussian")

# 8-bit images on [-1, 1]: x_k = k / 127.5 - 1 for k = 0, ..., 255 (fieldlab.datasets).
PIXEL_LEVELS = 256
DATA_RANGE = 2.0
PIXEL_BIN_WIDTH = DATA_RANGE / (PIXEL_LEVELS - 1)


@dataclass(frozen=True)
class LikelihoodInfo:
    """The parts of a log-likelihood and what it cost.

    Attributes:
        solver: the canonical solver name.
        nfe: number of (batched) field evaluations, each with its backward passes.
        completed: bool (m,), points whose forward trajectory reached sigma_max; the others met
            E_r <= 0, so no backward trajectory from the prior lands there and log p = -inf.
        latents: x(sigma_max), shape (m, *shape), meaningful where completed.
        log_prior: float64 (m,), log p_prior(x(sigma_max)), meaningful where completed.
        divergence_integral: float64 (m,), the integral of div v over [sigma_min, sigma_max].
    """

    solver: str
    nfe: int
    completed: torch.Tensor
    latents: torch.Tensor
    log_prior: torch.Tensor
    divergence_integral: torch.Tensor

    @property
    def n_failed(self) -> int:
        """How many points' trajectories met E_r <= 0."""
        return int((~self.completed).sum())


class DensityFlow(solvers.Flow):
    """The flow of the augmented state (x flattened, integral of div v): rows of N + 1."""

    def __init__(self, field: Field, y0: torch.Tensor, probes: torch.Tensor | None):
        super().__init__(field, y0)
        self.probes = probes

    def _rate(
        self, y: torch.Tensor, sigma: float, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        field = self.field
        x = y[:, :-1].reshape(-1, *field.shape).to(field.dtype).detach().requires_grad_(True)
        with torch.enable_grad():
            value = field.field(x, sigma)
            v = value.velocity
            div = self._divergence(v, x, rows)
        v, div = v.detach().flatten(1).to(y.dtype), div.detach().to(y.dtype)
        ok = value.landing & torch.isfinite(v).all(1) & torch.isfinite(div)
        return torch.cat([v, div[:, None]], 1), ok

    def _divergence(self, v: torch.Tensor, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """div_x v per row: exact if no probes were drawn, else Hutchinson's estimate."""
        total = torch.zeros(len(v), dtype=v.dtype, device=v.device)
        if self.probes is None:
            v_flat = v.flatten(1)
            for j in range(v_flat.shape[1]):
                (grad,) = torch.autograd.grad(v_flat[:, j].sum(), x, retain_graph=True)
                total = total + grad.flatten(1)[:, j]
            return total
        probes = self.probes[:, rows]
        for eps in probes:
            (grad,) = torch.autograd.grad((v * eps).sum(), x, retain_graph=True)
            total = total + (grad * eps).flatten(1).sum(1)
        return total / len(probes)


def _draw_probes(
    kind: str, count: int, like: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """count probes per point, shape (count, *like.shape), with E[eps eps^T] = I."""
    size = (count, *like.shape)
    if kind == "rademacher":
        values = 2.0 * rng.integers(0, 2, size=size) - 1.0
    else:
        values = rng.standard_normal(size)
    return torch.from_numpy(values).to(dtype=like.dtype, device=like.device)


def log_likelihood(
    field: Field,
    x: torch.Tensor,
    *,
    solver: str = DEFAULT_ODE_SOLVER,
    steps: int = DEFAULT_STEPS,
    sigma_min: float = geometry.SIGMA_MIN,
    sigma_max: float = geometry.SIGMA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    divergence: str = "auto",
    probes: int = 1,
    probe: str = "rademacher",
    seed: int | np.random.Generator | None = None,
    return_info: bool = False,
    progress: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, LikelihoodInfo]:
    """log p_sigma_min(x): the log-density of the field's samples at sigma_min, per point.

    Args:
        field: any Field with a positive total charge whose velocity is differentiable in x.
        x: points of shape (m, *field.shape).
        solver, steps, sigma_min, sigma_max, rtol, atol, progress: as in `fieldlab.encode`.
        divergence: "exact" (N backward passes per evaluation), "hutchinson", or "auto"
            (exact up to N = EXACT_DIVERGENCE_MAX_N).
        probes: Hutchinson probes per point, >= 1.
        probe: "rademacher" or "gaussian".
        seed: seeds the numpy Generator of the probes.
        return_info: also return a `LikelihoodInfo`.

    Returns:
        float64 (m,), in nats; -inf where the forward trajectory met E_r <= 0. With
        return_info, `(log_p, info)`.

    Limitation: near a charge div v grows like N / sigma, which the fixed-step solvers in
    sigma integrate poorly on the intervals near sigma_min: use an adaptive solver, the
    default, for likelihoods.
    """
    field = check_field(field)
    x = check_points(x, field.shape, "x")
    solver = check_options(solver, steps, rtol, atol)
    sigma_min, sigma_max = check_levels(sigma_min, sigma_max)
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    probes = check_int(probes, "probes", 1)

    exact = divergence == "exact" or (divergence == "auto" and field.N <= EXACT_DIVERGENCE_MAX_N)
    x = x.to(device=field.device, dtype=field.dtype)
    noise = None if exact else _draw_probes(probe, probes, x, np.random.default_rng(seed))
    m = x.shape[0]
    y0 = torch.cat([x.flatten(1), torch.zeros(m, 1, dtype=x.dtype, device=x.device)], 1)
    y0 = y0.to(solvers.STATE_DTYPE)
    rate = DensityFlow(field, y0, noise)
    end = solvers.integrate(
        rate,
        y0,
        sigma_min,
        sigma_max,
        solver=solver,
        steps=steps,
        rtol=rtol,
        atol=atol,
        progress=progress,
    )

    latents = end.y[:, :-1].reshape(x.shape)
    integral = end.y[:, -1]
    centre = field.centre.to(latents).expand_as(latents)
    log_prior = geometry.kernel_log_prob(latents, centre, sigma_max, field.D)
    completed = ~rate.failed
    log_p = torch.where(completed, log_prior + integral, torch.full_like(integral, -math.inf))
    logger.debug("log_likelihood: %s, %d field evaluations", solver, rate.nfe)
    if not completed.all():
        logger.warning(
            "log_likelihood: %d of %d forward trajectories met E_r <= 0; their log p is -inf",
            int(rate.failed.sum()),
            m,
        )
    if not return_info:
        return log_p
    info = LikelihoodInfo(
        solver, rate.nfe, completed, latents.to(field.dtype), log_prior, integral
    )
    return log_p, info


def bits_per_dim(
    field: Field,
    images: torch.Tensor,
    *,
    bin_width: float = PIXEL_BIN_WIDTH,
    dequantize: bool = True,
    seed: int | np.random.Generator | None = None,
    **options: object,
) -> torch.Tensor:
    """Bits per dimension of quantised data: -log p(x + u) / (N ln 2) - log2(bin_width).

    Args:
        field: any Field with a positive total charge.
        images: quantised points of shape (m, *field.shape), on the grid of bin centres (by
            default x_k = k / 127.5 - 1).
        bin_width: the width Delta of a quantisation bin in data space.
        dequantize: add u ~ Uniform(-Delta/2, Delta/2) per entry first, which makes the result
            an upper bound on -log2 P(k) / N (see the module docstring); without it the
            density is read at the bin centres.
        seed: seeds the dequantisation noise and the Hutchinson probes.
        options: passed on to `log_likelihood`.

    Returns:
        float64 (m,), bits per dimension of each image.
    """
    bin_width = check_positive(bin_width, "bin_width")
    images = check_points(images, check_field(field).shape, "images")
    rng = np.random.default_rng(seed)
    if dequantize:
        noise = rng.uniform(-bin_width / 2, bin_width / 2, size=tuple(images.shape))
        images = images + torch.from_numpy(noise).to(images)
    log_p = log_likelihood(field, images, seed=rng, **options)
    return -log_p / (field.N * math.log(2)) - math.log2(bin_width)
