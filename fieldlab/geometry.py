"""The augmented space of PFGM++, alone: no fields live here.

A point of data space x has N coordinates; D augmented coordinates z join it, and by symmetry
only r = ||z|| matters. With d = N + D and r = sigma * sqrt(D), the distance to a charge at y is

    rho^2 = ||x - y||^2 + r^2 = r^2 * (1 + ||x - y||^2 / (sigma^2 D)).

Every kernel here is written as a shape factor and a sigma-dependent offset,

    log rho^(-p) = -p log r  +  log_kernel(||x - y||^2, sigma, D, p),
    log_kernel   = -(p / 2) * log1p(||x - y||^2 / (sigma^2 D)),

so that the D -> inf limit (p / D -> 1 for p = d or d - 2) is the Gaussian
log_kernel = -||x - y||^2 / (2 sigma^2): one formula serves every D. The offsets diverge with D;
at D = inf the potential's offset is set to zero and the field's follows from E = -grad phi
(see `log_field_offset`).

The perturbation kernel (and the prior, which is the kernel around the centre of charge at
sigma_max) is p(x | y) ∝ rho^(-d): x = y + R u, u uniform on the unit sphere of R^N and
R = r sqrt(B / (1 - B)), B ~ Beta(N/2, D/2). Writing B / (1 - B) = G_N / G_D with independent
G_N ~ Gamma(N/2), G_D ~ Gamma(D/2) gives R = sigma * sqrt(2 G_N) * sqrt((D/2) / G_D), whose
last factor tends to 1 as D -> inf: R is then sigma times a chi variable with N degrees of
freedom, and x ~ Normal(y, sigma^2 I), the kernel of diffusion.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_D, check_int, check_positive

# The EDM schedule (Karras et al. 2022, eq. 5) with its published defaults.
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0


def augmented_dim(N: int, D: int | float) -> int | float:
    """d = N + D, the dimension of the augmented space (inf at D = inf)."""
    return N + D


def sigma_to_r(sigma: torch.Tensor | float, D: int | float) -> torch.Tensor | float:
    """r = sigma * sqrt(D), the augmented radius for finite D."""
    if D == math.inf:
        raise ValueError("r = sigma * sqrt(D) is infinite at D = inf; work with sigma instead")
    return sigma * math.sqrt(D)


def r_to_sigma(r: torch.Tensor | float, D: int | float) -> torch.Tensor | float:
    """sigma = r / sqrt(D), the inverse of `sigma_to_r`."""
    if D == math.inf:
        raise ValueError("r is infinite at D = inf; work with sigma instead")
    return r / math.sqrt(D)


def edm_sigmas(
    steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO
) -> torch.Tensor:
    """The EDM noise schedule: steps + 1 levels from sigma_max down to sigma_min (float64).

    sigma_i = (sigma_max^(1/rho) + i / steps * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho.
    """
    steps = check_int(steps, "steps", 1)
    sigma_min = check_positive(sigma_min, "sigma_min")
    sigma_max = check_positive(sigma_max, "sigma_max")
    rho = check_positive(rho, "rho")
    if sigma_min >= sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} >= {sigma_max}")
    i = torch.arange(steps + 1, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + i / steps * (lo - hi)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min
    return sigmas


def log_kernel(
    sq_dist: torch.Tensor,
    sigma: torch.Tensor,
    D: int | float,
    power: int | float,
    *,
    inplace: bool = False,
) -> torch.Tensor:
    """Shape factor of rho^(-power): -(power/2) log1p(||x - y||^2 / (sigma^2 D)).

    Args:
        sq_dist: squared data-space distances ||x - y||^2, any shape.
        sigma: noise levels broadcastable against sq_dist.
        D: augmented dimension, an int >= 1 or math.inf.
        power: the exponent p of rho^(-p); at D = inf the limit p / D -> 1 is taken, which
            holds for p = d and p = d - 2.
        inplace: overwrite sq_dist with the result, which saves memory traffic in the
            field's inner loop; only where no gradient flows through sq_dist.
    """
    if D == math.inf:
        scale = -1 / (2 * sigma**2)
        return sq_dist.mul_(scale) if inplace else sq_dist * scale
    inverse_r2 = 1 / (sigma**2 * D)
    if inplace:
        return sq_dist.mul_(inverse_r2).log1p_().mul_(-power / 2)
    return torch.log1p(sq_dist * inverse_r2) * (-power / 2)


def log_potential_offset(sigma: torch.Tensor, N: int, D: int | float) -> torch.Tensor:
    """log of 1 / ((d - 2) r^(d - 2)), the potential's sigma-dependent factor (0 at D = inf).

    Undefined for d = 2, where the potential is logarithmic.
    """
    d = augmented_dim(N, D)
    if d == 2:
        raise ValueError("the potential of d = 2 (N = 1, D = 1) is logarithmic: it has no log")
    if D == math.inf:
        return torch.zeros_like(sigma, dtype=torch.float64)
    log_r = torch.log(sigma.double()) + 0.5 * math.log(D)
    return -math.log(d - 2) - (d - 2) * log_r


def log_field_offset(sigma: torch.Tensor, N: int, D: int | float) -> torch.Tensor:
    """log of r^(-d), the field's sigma-dependent factor, in float64.

    Equals log_potential_offset + log((d - 2) / D) - 2 log sigma for d > 2, the relation that
    E = -grad phi imposes; at D = inf, where the potential's offset is 0, it is -2 log sigma.
    """
    log_sigma = torch.log(sigma.double())
    if D == math.inf:
        return -2 * log_sigma
    d = augmented_dim(N, D)
    return -d * (log_sigma + 0.5 * math.log(D))


def potential_offset_slope(sigma: torch.Tensor, N: int, D: int | float) -> torch.Tensor:
    """(1/D) d/dsigma of log_potential_offset: -(d - 2) / (sigma D), and -1 / sigma at D = inf.

    A potential given as psi = log_potential_offset + psi_rest has the scaled field
    E_sigma / phi = -(1/D) d(psi)/d(sigma) = -potential_offset_slope - (1/D) d(psi_rest)/d(sigma),
    whose first term keeps its limit at D = inf while the second vanishes there.
    """
    if D == math.inf:
        return -1 / sigma
    d = augmented_dim(N, D)
    return -(d - 2) / (sigma * D)


def inverse_D(D: int | float) -> float:
    """1 / D, which is 0 at D = inf."""
    return 0.0 if D == math.inf else 1.0 / D


def log_kernel_normalizer(sigma: torch.Tensor, N: int, D: int | float) -> torch.Tensor:
    """log C with p(x | y) = C * exp(log_kernel(||x - y||^2, sigma, D, d)) a density on R^N.

    Finite D: C = Gamma(d/2) / (Gamma(D/2) (pi sigma^2 D)^(N/2)), from
    the integral of (1 + s^2 / r^2)^(-d/2) over R^N, pi^(N/2) r^N Gamma(D/2) / Gamma(d/2).
    D = inf: C = (2 pi sigma^2)^(-N/2), the Gaussian's.
    """
    log_sigma = torch.log(sigma.double())
    if D == math.inf:
        return -(N / 2) * (math.log(2 * math.pi) + 2 * log_sigma)
    d = augmented_dim(N, D)
    gamma_ratio = math.lgamma(d / 2) - math.lgamma(D / 2)
    return gamma_ratio - (N / 2) * (math.log(math.pi * D) + 2 * log_sigma)


def kernel_log_prob(
    x: torch.Tensor, y: torch.Tensor, sigma: torch.Tensor, D: int | float
) -> torch.Tensor:
    """log p(x | y) of the perturbation kernel, per point, in float64.

    Args:
        x, y: tensors of shape (m, ...) with the same shape; N is the per-point size.
        sigma: shape (m,) or a float.
    """
    D = check_D(D)
    N = x[0].numel()
    sigma = torch.as_tensor(sigma, dtype=torch.float64).expand(x.shape[0])
    sq = (x.double() - y.double()).flatten(1).pow(2).sum(1)
    d = augmented_dim(N, D)
    return log_kernel(sq, sigma, D, d) + log_kernel_normalizer(sigma, N, D)


def sample_radius(
    sigma: np.ndarray, N: int, D: int | float, rng: np.random.Generator
) -> np.ndarray:
    """Radii R = ||x - y|| of the perturbation kernel, one per sigma, in float64."""
    g_n = rng.standard_gamma(N / 2, size=sigma.shape)
    if D == math.inf:
        inverse_ratio = np.ones_like(sigma)
    else:
        inverse_ratio = (D / 2) / rng.standard_gamma(D / 2, size=sigma.shape)
    return sigma * np.sqrt(2 * g_n * inverse_ratio)


def perturb(
    y: torch.Tensor,
    sigma: torch.Tensor | float,
    D: int | float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Draw x ~ p(x | y) at noise level sigma, one draw per row of y.

    Args:
        y: tensor of shape (m, ...): the kernels' centres.
        sigma: a float or one level per row, shape (m,).
        D: augmented dimension.
        rng: numpy generator; draws are reproducible given its state.
    Returns:
        A tensor like y.
    """
    D = check_D(D)
    m, N = y.shape[0], y[0].numel()
    sigma = np.broadcast_to(np.asarray(torch.as_tensor(sigma).cpu(), dtype=np.float64), (m,))
    direction = rng.standard_normal((m, N))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    offset = direction * sample_radius(sigma, N, D, rng)[:, None]
    offset = torch.from_numpy(offset).to(dtype=y.dtype, device=y.device)
    return y + offset.reshape(y.shape)


def prior_sample(
    n: int,
    mu: torch.Tensor,
    D: int | float,
    sigma_max: float = SIGMA_MAX,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """n draws of the prior at sigma_max: the perturbation kernel around the centre mu."""
    n = check_int(n, "n", 1)
    sigma_max = check_positive(sigma_max, "sigma_max")
    rng = np.random.default_rng() if rng is None else rng
    centres = mu.unsqueeze(0).expand(n, *mu.shape)
    return perturb(centres, sigma_max, D, rng)
