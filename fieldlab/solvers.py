"""ODE solvers for the flow of a field, dx/dsigma = v(x, sigma), between two noise levels.

The velocity v = ex / esigma is the field's (DESIGN: dx/dsigma = sqrt(D) E_x / E_r, and the
probability-flow ODE at D = inf). Integrating from sigma_max down to sigma_min is sampling
(the backward ODE), from sigma_min up to sigma_max encoding (the forward ODE).

Two families of solvers:

- Own fixed-step solvers on the EDM schedule (Karras et al. 2022, eq. 5, rho = 7) with levels
  sigma_0 > ... > sigma_steps, h_i = sigma_(i+1) - sigma_i:

      euler:  x_(i+1) = x_i + h_i v(x_i, sigma_i),                      NFE = steps,
      heun:   x'      = x_i + h_i v(x_i, sigma_i),
              x_(i+1) = x_i + h_i (v(x_i, sigma_i) + v(x', sigma_(i+1))) / 2,

  on every interval, so heun costs NFE = 2 steps; and edm, the same with an Euler step on
  the interval that touches sigma_min, as in Karras et al. 2022, Alg. 1 (NFE = 2 steps - 1).
  EDM takes that Euler step because its schedule ends at sigma = 0, where v is undefined;
  this one ends at sigma_min > 0. Which is better depends on the step count. On the exact
  field of 3,000 moons charges, the share of 1,000 samples landing within 0.01 of a charge
  (D = 128; D = 8 in brackets) was, heun against edm: 0.730 (0.766) against 0.840 (0.840) at
  12 steps, 1.000 (0.996) against 0.984 (0.965) at 17, and 1.000 (0.995) against 0.998 (0.986)
  at 25. On coarse schedules the last, long interval is better taken by Euler, which is exact
  there once the weighted mean y_hat stops moving; from about 17 steps on, Heun's correction
  wins.

      multistep: DPM-Solver++(2M) (Lu et al. 2022), one evaluation per step, NFE = steps.
              With the denoised point y_hat_i = x_i - sigma_i v(x_i, sigma_i), so that
              v = (x - y_hat) / sigma, and a = sigma_(i+1) / sigma_i,
              x_(i+1) = a x_i + (1 - a) (y_hat_i + (y_hat_i - y_hat_(i-1)) / (2 r_i)),
              r_i = log(sigma_(i-1) / sigma_i) / log(sigma_i / sigma_(i+1)),
              and the first step without the difference (which is Euler's step). The
              linear part is integrated exactly, so the step is exact while y_hat stays
              put, and the difference makes it second order. At an equal budget of 34
              evaluations it takes 34 intervals where heun takes 17. Measured at 34
              evaluations each: on the exact field of 20,000 moons charges (D = 128), the
              mean W2 of eight 2,000-sample sets to held-out points was 0.179 against heun's
              0.197 (heun needs 60 steps, 120 evaluations, for 0.179), because the samples'
              spread along the curve is closer to the data's; but on the 3,000-charge
              field of benchmarks/sampling.py its share landing within 0.01 of a charge
              is lower, 0.772, 0.978, 0.995 and 0.995 against 0.795, 0.996, 1.000 and
              1.000 (D = 1, 8, 128, inf). So heun stays the default, and multistep is the
              better choice where the distribution matters more than the last 0.01.
- torchdiffeq's solvers (adaptive: dopri5, dopri8, bosh3, fehlberg2, adaptive_heun; fixed
  grid: euler, midpoint, rk4, explicit_adams, implicit_adams) in the variable t = log sigma,

      dx/dt = sigma v(x, sigma),

  which spreads the six decades between sigma_min = 0.002 and sigma_max = 80 evenly, so that
  an adaptive step size does not have to shrink by a factor of 10^4 on the way. Fixed-grid
  methods step on the EDM levels in t. The adaptive error is measured per trajectory (the
  root mean square over one row) and the step is set by the worst row, so every trajectory
  meets rtol and atol on its own rather than on average over the batch.

Every solver integrates a state of rows (one per trajectory) in float64 and counts its number
of function evaluations (NFE: one per batched evaluation of the field). A row where the field
has E_r <= 0 (`ScaledField.landing` False) or a non-finite velocity cannot go on along a field
line: it is marked failed, its state at that point is kept, and it is frozen (its rate is
zero and the field is no longer evaluated there), so it never brings NaN into other rows.

Limitation: the state is float64, which some accelerators (Apple's MPS) do not support.
Limitation: torchdiffeq's fixed-grid explicit_adams is unstable on these levels: on the
exact field of 20,000 moons charges (D = 128), 28 steps sent all 2,000 trajectories off to
E_r <= 0. Use multistep for a one-evaluation-per-step method.
Limitation: an adaptive solver's trial stages count: a row whose trial point meets E_r <= 0
fails even if a smaller step would have kept it on a field line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchdiffeq
from tqdm.auto import tqdm

from . import geometry
from .fields import Field

# Integration state precision, independent of the field's own dtype.
STATE_DTYPE = torch.float64

# Own fixed-step solvers on the EDM schedule.
OWN_SOLVERS = ("euler", "heun", "edm", "multistep")
# torchdiffeq methods offered, by kind: adaptive ones take rtol/atol, fixed-grid ones step on
# the EDM levels.
TORCHDIFFEQ_ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
TORCHDIFFEQ_FIXED = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
TORCHDIFFEQ_PREFIX = "torchdiffeq:"
# First step of the adaptive solvers, as a fraction of |log(sigma_to / sigma_from)|; the step
# controller grows it by up to 10x per accepted step.
FIRST_STEP_FRACTION = 0.01


def known_solvers() -> tuple[str, ...]:
    """Every accepted solver name: own ones, plain torchdiffeq names, and prefixed ones."""
    plain = tuple(m for m in TORCHDIFFEQ_ADAPTIVE + TORCHDIFFEQ_FIXED if m not in OWN_SOLVERS)
    prefixed = tuple(TORCHDIFFEQ_PREFIX + m for m in TORCHDIFFEQ_ADAPTIVE + TORCHDIFFEQ_FIXED)
    return OWN_SOLVERS + plain + prefixed


def resolve_solver(solver: object) -> str:
    """A canonical solver name ("euler", "heun", "edm" or "torchdiffeq:<method>"), or raise.

    Plain "euler", "heun" and "edm" are the own solvers on the EDM schedule in sigma; other plain
    names are torchdiffeq's methods, which also answer to "torchdiffeq:<method>".
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string naming a solver, got {solver!r}")
    if solver in OWN_SOLVERS:
        return solver
    method = solver.removeprefix(TORCHDIFFEQ_PREFIX)
    if method in TORCHDIFFEQ_ADAPTIVE + TORCHDIFFEQ_FIXED:
        return TORCHDIFFEQ_PREFIX + method
    raise ValueError(f"unknown solver {solver!r}; known solvers: {', '.join(known_solvers())}")


def is_adaptive(solver: str) -> bool:
    """Whether a canonical solver name is an adaptive torchdiffeq method."""
    return solver.removeprefix(TORCHDIFFEQ_PREFIX) in TORCHDIFFEQ_ADAPTIVE


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A row mask (m,) shaped to broadcast against a state like (m, ...)."""
    return mask.reshape(-1, *([1] * (like.dim() - 1)))


class Flow:
    """dy/dsigma for a state of rows, freezing each row where the field fails.

    The plain flow's state is x itself, shape (m, *field.shape), and its rate is the velocity.
    Subclasses extend the state (the log-likelihood carries the divergence's integral) by
    overriding `_rate`.

    Attributes:
        nfe: batched field evaluations so far.
        failed: bool (m,), rows that met E_r <= 0 or a non-finite rate.
        failed_state: the state of each row where it failed (rows that did not fail hold 0).
        failed_sigma: float64 (m,), the sigma where each row failed (0 where it did not).
    """

    def __init__(self, field: Field, y0: torch.Tensor):
        self.field = field
        self.nfe = 0
        self.failed = torch.zeros(y0.shape[0], dtype=torch.bool, device=y0.device)
        self.failed_state = torch.zeros_like(y0)
        self.failed_sigma = torch.zeros(y0.shape[0], dtype=torch.float64, device=y0.device)

    def _rate(
        self, y: torch.Tensor, sigma: float, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(dy/dsigma, ok) at the rows `rows` of the state, whose values are y."""
        value = self.field.field(y.to(self.field.dtype), sigma)
        v = value.velocity.detach().to(y.dtype)
        ok = value.landing & torch.isfinite(v).flatten(1).all(1)
        return v, ok

    def __call__(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        rate = torch.zeros_like(y)
        active = (~self.failed).nonzero().squeeze(1)
        if active.numel() == 0:
            return rate
        self.nfe += 1
        value, ok = self._rate(y[active], sigma, active)
        rate[active[ok]] = value[ok]
        newly_failed = active[~ok]
        self.failed[newly_failed] = True
        self.failed_state[newly_failed] = y[newly_failed]
        self.failed_sigma[newly_failed] = sigma
        return rate


@dataclass(frozen=True)
class Solution:
    """Where an integration ended.

    Attributes:
        y: the final state, shape (m, ...); rows that failed are frozen where they stopped.
        sigmas: float64 (levels,), the levels of the trajectory, or None if none was recorded.
        trajectory: shape (levels, m, ...), the state at each level, or None.
    """

    y: torch.Tensor
    sigmas: torch.Tensor | None
    trajectory: torch.Tensor | None


def levels(steps: int, sigma_from: float, sigma_to: float) -> torch.Tensor:
    """The EDM schedule's steps + 1 levels from sigma_from to sigma_to, either direction."""
    sigmas = geometry.edm_sigmas(steps, min(sigma_from, sigma_to), max(sigma_from, sigma_to))
    return sigmas if sigma_from > sigma_to else sigmas.flip(0)


def integrate(
    flow: Flow,
    y0: torch.Tensor,
    sigma_from: float,
    sigma_to: float,
    *,
    solver: str,
    steps: int,
    rtol: float,
    atol: float,
    record: bool = False,
    progress: bool = False,
) -> Solution:
    """Integrate dy/dsigma = flow(y, sigma) from sigma_from to sigma_to (either direction).

    Args:
        flow: the rate, which counts NFE and freezes failed rows.
        y0: the state at sigma_from, float64, shape (m, ...).
        solver: a canonical name from `resolve_solver`.
        steps: intervals of the EDM schedule for the fixed-step solvers; for adaptive ones, the
            number of intervals at whose levels a recorded trajectory is reported.
        rtol, atol: tolerances of the adaptive solvers (ignored by fixed-step ones).
        record: keep the state at every level.
        progress: show a tqdm bar.
    """
    sigmas = levels(steps, sigma_from, sigma_to)
    if solver in OWN_SOLVERS:
        return _fixed_step(flow, y0, sigmas, solver, record, progress)
    return _torchdiffeq(flow, y0, sigmas, solver, rtol, atol, record, progress)


def _fixed_step(
    flow: Flow,
    y: torch.Tensor,
    sigmas: torch.Tensor,
    method: str,
    record: bool,
    progress: bool,
) -> Solution:
    """Euler, Heun, EDM's Heun or multistep steps on the given levels (module docstring)."""
    if method == "multistep":
        return _multistep(flow, y, sigmas, record, progress)
    steps = len(sigmas) - 1
    touches_sigma_min = steps - 1 if sigmas[0] > sigmas[-1] else 0
    states = [y] if record else None
    for i in tqdm(range(steps), desc="sampling", disable=not progress):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        h = sigma_next - sigma
        rate = flow(y, sigma)
        y_next = y + h * rate
        if method == "heun" or (method == "edm" and i != touches_sigma_min):
            y_next = y + h * 0.5 * (rate + flow(y_next, sigma_next))
        # A row that failed during this step stays where it was at the step's start.
        y = torch.where(_rows(flow.failed, y), y, y_next)
        if record:
            states.append(y)
    trajectory = torch.stack(states) if record else None
    return Solution(y, sigmas if record else None, trajectory)


def _multistep(
    flow: Flow, y: torch.Tensor, sigmas: torch.Tensor, record: bool, progress: bool
) -> Solution:
    """DPM-Solver++(2M) steps on the given levels (see the module docstring)."""
    states = [y] if record else None
    denoised_before, log_step_before = None, None
    for i in tqdm(range(len(sigmas) - 1), desc="sampling", disable=not progress):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = y - sigma * flow(y, sigma)
        log_step = math.log(sigma / sigma_next)
        target = denoised
        if denoised_before is not None:
            r = log_step_before / log_step
            target = denoised + (denoised - denoised_before) / (2 * r)
        ratio = sigma_next / sigma
        y_next = ratio * y + (1 - ratio) * target
        # A failed row stays where it failed; its denoised point is itself from then on.
        frozen = _rows(flow.failed, y)
        y = torch.where(frozen, y, y_next)
        denoised_before = torch.where(frozen, y, denoised)
        log_step_before = log_step
        if record:
            states.append(y)
    trajectory = torch.stack(states) if record else None
    return Solution(y, sigmas if record else None, trajectory)


def _max_row_rms(tensor: torch.Tensor) -> torch.Tensor:
    """The error norm of the adaptive solvers: the largest per-row root mean square."""
    return tensor.flatten(1).pow(2).mean(1).sqrt().max()


def _torchdiffeq(
    flow: Flow,
    y0: torch.Tensor,
    sigmas: torch.Tensor,
    solver: str,
    rtol: float,
    atol: float,
    record: bool,
    progress: bool,
) -> Solution:
    """torchdiffeq.odeint in t = log sigma, with dy/dt = sigma * dy/dsigma."""
    adaptive = is_adaptive(solver)
    t_levels = torch.log(sigmas).to(device=y0.device)
    # Fixed-grid methods step on every level; adaptive ones need the levels only as outputs.
    t = t_levels if record or not adaptive else t_levels[[0, -1]]
    t_start, t_span = float(t[0]), abs(float(t[-1] - t[0]))
    bar = tqdm(total=t_span, desc="integrating (log sigma)", disable=not progress)

    def rate(t_now: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma = math.exp(float(t_now))
        done = min(abs(float(t_now) - t_start), t_span)
        if done > bar.n:
            bar.update(done - bar.n)
        return sigma * flow(y, sigma)

    method = solver.removeprefix(TORCHDIFFEQ_PREFIX)
    options: dict = {"norm": _max_row_rms}
    if adaptive:
        # torchdiffeq's own guess of the first step can land far outside [t_from, t_to] when
        # the rate is small at the start (sigma^2 / s^2 for data of scale s near sigma_min).
        options["first_step"] = t_span * FIRST_STEP_FRACTION
    ys = torchdiffeq.odeint(rate, y0, t, method=method, rtol=rtol, atol=atol, options=options)
    bar.close()
    if record:
        return Solution(ys[-1], sigmas, ys)
    return Solution(ys[-1], None, None)
