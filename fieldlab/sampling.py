"""Sampling, encoding and decoding: the backward and forward ODE of a field.

A field becomes a generative model through its flow dx/dsigma = v(x, sigma) (DESIGN: sqrt(D)
E_x / E_r for finite D, the probability-flow ODE of diffusion at D = inf):

- `sample` draws x(sigma_max) from the prior (the perturbation kernel around the centre of
  charge mu) and integrates the backward ODE down to sigma_min;
- `encode` integrates the forward ODE from data at sigma_min up to latents at sigma_max;
- `decode` integrates the backward ODE from given latents, the inverse of `encode`.

The solvers (own Euler and Heun steps on the EDM schedule, and torchdiffeq's in t = log sigma)
live in `fieldlab.solvers`. Only the Field interface is used, so exact, learned and composed
fields of every D, on vectors or images, are integrated the same way.

Return values. Each function returns the end points as a tensor in the field's dtype; with
`return_trajectory=True` a `Trajectory` follows it and with `return_info=True` a `FlowInfo`
comes last, so the call returns `x`, `(x, trajectory)`, `(x, info)` or
`(x, trajectory, info)`.

Failed trajectories. Where a field has negative charges, a trajectory can meet E_r <= 0, where
no field line leads on (DESIGN: counted and reported, never returned as a sample). Such a
trajectory is frozen there and left out of the result: the returned tensor holds only the
trajectories that completed, in their input order, so it can have fewer than n rows. A
warning gives the count; `info.completed` is the mask over the n inputs (so
`x[info.completed]` pairs with `encode(field, x)`), and `info.failed_x` and
`info.failed_sigma` say where each failed trajectory met E_r <= 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from . import geometry, solvers
from ._checks import check_int, check_points, check_positive
from .fields import Field

logger = logging.getLogger(__name__)

# Default sampler: Heun on 17 EDM intervals, 34 evaluations, within the 35 of EDM's 18-step
# sampler (Karras et al. 2022, Table 1), which spends its last step on an Euler step to 0.
DEFAULT_STEPS = 17
DEFAULT_SOLVER = "heun"
# Default for encode/decode (and the likelihood): dopri5 in t = log sigma; at this tolerance
# an encode-decode round trip of a 2D toy's exact field has a median relative error under 2e-6
# at every D (benchmarks/RESULTS-sampling.md).
DEFAULT_ODE_SOLVER = "dopri5"
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-5


@dataclass(frozen=True)
class Trajectory:
    """The states of every trajectory at the levels of the EDM schedule.

    Attributes:
        sigmas: float64 (levels,), from the start level to the end level.
        x: shape (levels, n, *shape), in the field's dtype: all n trajectories, including
            failed ones, which stay frozen where they met E_r <= 0.
        completed: bool (n,), the trajectories that reached the end level.
    """

    sigmas: torch.Tensor
    x: torch.Tensor
    completed: torch.Tensor


@dataclass(frozen=True)
class FlowInfo:
    """What an integration cost and which trajectories did not complete.

    Attributes:
        solver: the canonical solver name.
        nfe: number of (batched) field evaluations.
        completed: bool (n,), the trajectories that reached the end level; the returned
            tensor holds exactly these rows, in order.
        failed_x: shape (n_failed, *shape), where each failed trajectory met E_r <= 0 (or a
            non-finite velocity), in the field's dtype.
        failed_sigma: float64 (n_failed,), the level where each one failed.
    """

    solver: str
    nfe: int
    completed: torch.Tensor
    failed_x: torch.Tensor
    failed_sigma: torch.Tensor

    @property
    def n_failed(self) -> int:
        """How many trajectories failed."""
        return int((~self.completed).sum())

    @property
    def failed(self) -> torch.Tensor:
        """Indices (into the n inputs) of the failed trajectories."""
        return (~self.completed).nonzero().squeeze(1)


def check_field(field: object) -> Field:
    """The field itself if it is a Field that can be sampled (total charge > 0), or raise."""
    if not isinstance(field, Field):
        raise TypeError(f"field must be a fieldlab Field, got {type(field).__name__}")
    field.check_samplable()
    return field


def check_levels(sigma_min: object, sigma_max: object) -> tuple[float, float]:
    """(sigma_min, sigma_max) as floats with 0 < sigma_min < sigma_max, or raise."""
    sigma_min = check_positive(sigma_min, "sigma_min")
    sigma_max = check_positive(sigma_max, "sigma_max")
    if sigma_min >= sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} >= {sigma_max}")
    return sigma_min, sigma_max


def check_options(solver: object, steps: object, rtol: object, atol: object) -> str:
    """The canonical solver name, after checking steps and the tolerances."""
    check_int(steps, "steps", 1)
    check_positive(rtol, "rtol")
    check_positive(atol, "atol")
    return solvers.resolve_solver(solver)


def _integrate(
    field: Field,
    x0: torch.Tensor,
    sigma_from: float,
    sigma_to: float,
    *,
    solver: str,
    steps: int,
    rtol: float,
    atol: float,
    return_trajectory: bool,
    return_info: bool,
    progress: bool,
    what: str,
) -> torch.Tensor | tuple:
    """Integrate checked points x0 from sigma_from to sigma_to and package the result."""
    y0 = x0.to(device=field.device, dtype=solvers.STATE_DTYPE)
    rate = solvers.Flow(field, y0)
    end = solvers.integrate(
        rate,
        y0,
        sigma_from,
        sigma_to,
        solver=solver,
        steps=steps,
        rtol=rtol,
        atol=atol,
        record=return_trajectory,
        progress=progress,
    )
    completed = ~rate.failed
    logger.debug("%s: %s, %d field evaluations", what, solver, rate.nfe)
    n_failed = int(rate.failed.sum())
    if n_failed:
        logger.warning(
            "%s: %d of %d trajectories met E_r <= 0, where no field line leads on; they are "
            "left out of the result (see info.completed)",
            what,
            n_failed,
            len(completed),
        )

    result: list = [end.y[completed].to(field.dtype)]
    if return_trajectory:
        result.append(Trajectory(end.sigmas, end.trajectory.to(field.dtype), completed))
    if return_info:
        failed_x = rate.failed_state[rate.failed].to(field.dtype)
        result.append(
            FlowInfo(solver, rate.nfe, completed, failed_x, rate.failed_sigma[rate.failed])
        )
    return result[0] if len(result) == 1 else tuple(result)


def sample(
    field: Field,
    n: int,
    *,
    steps: int = DEFAULT_STEPS,
    solver: str = DEFAULT_SOLVER,
    sigma_min: float = geometry.SIGMA_MIN,
    sigma_max: float = geometry.SIGMA_MAX,
    seed: int | np.random.Generator | None = None,
    return_trajectory: bool = False,
    return_info: bool = False,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    progress: bool = False,
) -> torch.Tensor | tuple:
    """Samples of a field: the prior at sigma_max carried down the backward ODE to sigma_min.

    Args:
        field: any Field with a positive total charge.
        n: number of trajectories, >= 1.
        steps: intervals of the EDM schedule (fixed-step solvers; heun costs 2 steps
            evaluations, euler steps); for adaptive solvers, the levels of a trajectory.
        solver: "heun", "euler", "edm", "multistep" (own, on the EDM schedule in sigma;
            multistep costs one evaluation per step), a torchdiffeq method
            ("dopri5", "rk4", ... or "torchdiffeq:<method>", in t = log sigma); see
            `fieldlab.solvers.known_solvers()`.
        sigma_min, sigma_max: end and start levels, 0 < sigma_min < sigma_max.
        seed: seeds the numpy Generator of the prior draws; the same seed gives the same
            samples, bit for bit on CPU.
        return_trajectory: also return a `Trajectory` over the steps + 1 levels.
        return_info: also return a `FlowInfo` (NFE, failed trajectories).
        rtol, atol: tolerances of the adaptive solvers.
        progress: show a tqdm progress bar.

    Returns:
        The samples, shape (n_completed, *field.shape) in the field's dtype, with
        n_completed = n unless some trajectories met E_r <= 0 (logged as a warning); then
        `(samples, trajectory)`, `(samples, info)` or `(samples, trajectory, info)` as asked.
    """
    field = check_field(field)
    n = check_int(n, "n", 1)
    solver = check_options(solver, steps, rtol, atol)
    sigma_min, sigma_max = check_levels(sigma_min, sigma_max)

    rng = np.random.default_rng(seed)
    x0 = field.prior_sample(n, sigma_max, rng)
    return _integrate(
        field,
        x0,
        sigma_max,
        sigma_min,
        solver=solver,
        steps=steps,
        rtol=rtol,
        atol=atol,
        return_trajectory=return_trajectory,
        return_info=return_info,
        progress=progress,
        what="sample",
    )


def encode(
    field: Field,
    x: torch.Tensor,
    *,
    solver: str = DEFAULT_ODE_SOLVER,
    steps: int = DEFAULT_STEPS,
    sigma_min: float = geometry.SIGMA_MIN,
    sigma_max: float = geometry.SIGMA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    return_trajectory: bool = False,
    return_info: bool = False,
    progress: bool = False,
) -> torch.Tensor | tuple:
    """Latents of data: x at sigma_min carried up the forward ODE to sigma_max.

    Args:
        field: any Field with a positive total charge.
        x: points of shape (m, *field.shape), read as samples at sigma_min.
        Others as in `sample`; the default solver is dopri5 at rtol = atol = 1e-5.

    Returns:
        The latents, shape (m_completed, *field.shape), then the trajectory and info as asked.
    """
    field = check_field(field)
    x = check_points(x, field.shape, "x")
    solver = check_options(solver, steps, rtol, atol)
    sigma_min, sigma_max = check_levels(sigma_min, sigma_max)
    return _integrate(
        field,
        x,
        sigma_min,
        sigma_max,
        solver=solver,
        steps=steps,
        rtol=rtol,
        atol=atol,
        return_trajectory=return_trajectory,
        return_info=return_info,
        progress=progress,
        what="encode",
    )


def decode(
    field: Field,
    latents: torch.Tensor,
    *,
    solver: str = DEFAULT_ODE_SOLVER,
    steps: int = DEFAULT_STEPS,
    sigma_min: float = geometry.SIGMA_MIN,
    sigma_max: float = geometry.SIGMA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    return_trajectory: bool = False,
    return_info: bool = False,
    progress: bool = False,
) -> torch.Tensor | tuple:
    """Data from latents: the backward ODE from given points at sigma_max down to sigma_min.

    The inverse of `encode`: decode(field, encode(field, x)) is x up to the solver's error.

    Limitation: where the density at sigma_min is low (in the kernel's tail, several sigma_min
    from every charge of an exact field) decoding expands latent errors by the inverse
    Jacobian, so a round trip there is accurate to about 1e-3 to 5e-3 rather than 1e-6, and a
    tighter tolerance helps little.

    Args:
        field: any Field with a positive total charge.
        latents: points of shape (m, *field.shape) at sigma_max.
        Others as in `sample`; the default solver is dopri5 at rtol = atol = 1e-5.

    Returns:
        The decoded points, shape (m_completed, *field.shape), then the trajectory and info as
        asked.
    """
    field = check_field(field)
    latents = check_points(latents, field.shape, "latents")
    solver = check_options(solver, steps, rtol, atol)
    sigma_min, sigma_max = check_levels(sigma_min, sigma_max)
    return _integrate(
        field,
        latents,
        sigma_max,
        sigma_min,
        solver=solver,
        steps=steps,
        rtol=rtol,
        atol=atol,
        return_trajectory=return_trajectory,
        return_info=return_info,
        progress=progress,
        what="decode",
    )
