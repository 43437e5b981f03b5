"""Training one learned field on one distribution, from the exact field of reference batches.

Each step draws a reference batch Y of `reference_size` data points, takes `batch_size` clean
points y from it, draws noise levels sigma (`draw_sigma`: EDM's log-normal, log sigma ~
Normal(P_MEAN, P_STD), with a share LOG_UNIFORM_SHARE log-uniform on [SIGMA_MIN, SIGMA_MAX];
r = sigma sqrt(D) follows) and points x ~ p(x | y) from the PFGM++ perturbation kernel
(`geometry.perturb`). The targets are the exact field of Y (`PointCharges(Y, D=D)`) at (x, sigma),
in the dimensionless form t = sigma (E_x, E_sigma) / phi, and its log-potential psi. Both are
of order one for every sigma and D (|t_x| ~ sqrt(N); t_sigma is about 1 at points of the
kernel, at most (d - 2) / D at the centre of charge). With
lambda = sigma^2 / (sigma^2 + sigma_data^2) the losses are

- "potential": the field's t = sigma (ex, esigma) from autograd of psi, and psi itself,
    L = ||t_x - t_x*||^2 / N + (t_sigma - t_sigma*)^2 + lambda (psi - psi*)^2 / N.
  The correction is (sigma_data / sigma) F_theta (see `potential`), so an error in F_theta's
  gradient moves t by about as much at every sigma and the t terms need no weight. The
  velocity is t_x / t_sigma: a relative error e in t_sigma moves each of its coordinates by
  e, as a t_x error of e per coordinate does, so the two terms are weighed alike. (Dividing
  the t_sigma error by the bound (d - 2) / D, 7.1 for 28x28 images at D = 128, left the
  learned t_sigma 2 to 3 times too large at sigma = 0.06, samples too slow to lose their
  noise, and 92% of Animal-MNIST trajectories stopped by E_r <= 0.) The psi
  term pins psi's constant where the sigma-gradient cannot (at D = inf, t_sigma = 1 exactly);
  lambda cancels the (sigma_data / sigma)^2 by which a unit error in F_theta moves psi^2, and
  the 1 / N measures it per coordinate like t_x: psi differs by O(N) between points at one
  sigma (|t_x| ~ sqrt(N) across a noise of sqrt(N) widths). Without it the psi term of 28x28
  images was 18 to 1,200 times the field terms; with it, 600 steps on Animal-MNIST left a
  15% to 20% smaller field error (the t_x term) at sigma = 0.2 and 0.5.
- "direction": ||w - sqrt(N) t* / (||t*|| + gamma)||^2 / N, the original PFGM's target,
  bounded for every sigma.
- "direction+logmag": ||u - t* / ||t*||||^2 + lambda (log||E|| - log||E*||)^2.

The learning rate warms up linearly over WARMUP_STEPS and then decays along a half cosine to
LR_FLOOR of its peak at `decay_steps` (`learning_rate`). The weights are averaged with an EMA
whose decay warms up as min(ema, (1 + k) / (10 + k)) at step k, and the EMA weights make the
returned field. The random draws of step k come from a
numpy generator seeded with (seed, rank, k), so a step's data depend on nothing but its
number: resuming from a checkpoint replays the same draws, and the result equals an
uninterrupted run (bitwise on CPU).

Under torchrun (WORLD_SIZE > 1) the network is wrapped in DistributedDataParallel (gloo on
CPU, nccl on GPU); each process draws its own share batch_size / world_size of the batch,
gradients are averaged, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from . import geometry
from ._checks import as_tensor, check_D, check_int, check_positive
from .fields import ScaledField
from .networks import build, default_network
from .point_charges import PointCharges
from .potential import (
    DIRECTION_GAMMA,
    PotentialField,
    check_parameterization,
    output_features,
)

logger = logging.getLogger(__name__)

# Points drawn from a named toy when `data` is a name. The more points, the closer their exact
# field, which the targets sample, is to the distribution's: at sigma = 0.1 the exact fields
# of two independent draws of 20,000 moons points agree in direction only to a mean cosine
# of 0.94 (benchmarks/learned_fields.py). Drawing is cheap and a step's cost does not depend
# on it.
DEFAULT_DATA_SIZE = 200_000
# Linear learning-rate warm-up over the first steps (a common Adam stabiliser), and at most
# this share of a short run.
WARMUP_STEPS = 100
WARMUP_SHARE = 0.1
# The learning rate decays along a half cosine from lr to LR_FLOOR * lr: for runs of a few
# thousand steps this halved the final loss's noise against a constant rate.
LR_FLOOR = 0.02
# Training noise levels, EDM's log-normal (Karras et al. 2022, table 1: P_mean = -1.2,
# P_std = 1.2), with this share of each batch log-uniform on [SIGMA_MIN, SIGMA_MAX].
P_MEAN = -1.2
P_STD = 1.2
LOG_UNIFORM_SHARE = 0.2
# Gradient-norm clip: keeps a rare extreme target (a point far from every charge at tiny
# sigma) from throwing the weights off.
MAX_GRAD_NORM = 10.0
# EMA decay warm-up min(ema, (1 + k) / (EMA_WARMUP + k)).
EMA_WARMUP = 10
# Steps between loss reports on the progress bar and in the log.
LOG_EVERY = 50

# Named configurations: keyword arguments for `train`. The toy one is the benchmark's
# (benchmarks/learned_fields.py: 1,200 steps of 0.05-0.1 s on one CPU thread). The image CPU
# ones train in under 20 minutes on this project's 2-core test machine (README, "Learned
# fields"); the GPU ones are untested.
PRESETS: dict[str, dict[str, Any]] = {
    "toy-cpu": {"D": 128, "steps": 1200, "batch_size": 256, "reference_size": 4096},
    "digits-cpu": {
        "D": 128,
        "steps": 2500,
        "batch_size": 64,
        "reference_size": 1024,
        "network": {"kind": "unet", "channels": [32, 64], "width": 64},
    },
    "animals-cpu": {
        "D": 128,
        "steps": 2500,
        "batch_size": 32,
        "reference_size": 1024,
        "network": {"kind": "unet", "channels": [16, 32, 32], "width": 64},
    },
    "digits-gpu": {
        "D": 128,
        "steps": 50_000,
        "batch_size": 512,
        "reference_size": 1797,
        "network": {"kind": "unet", "channels": [64, 128, 128], "width": 256},
    },
    "animals-gpu": {
        "D": 128,
        "steps": 100_000,
        "batch_size": 256,
        "reference_size": 4096,
        "network": {"kind": "unet", "channels": [64, 128, 256], "width": 256},
    },
}


def _distributed() -> tuple[int, int]:
    """(rank, world size), starting the process group under torchrun if not yet started."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _resolve_device(device: str | torch.device | None, world: int) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else 0
        return torch.device("cuda", local)
    return torch.device("cpu")


def _load_data(data: object, data_size: int, seed: int) -> torch.Tensor:
    if isinstance(data, str):
        from . import datasets

        if data in ("digits", "animals"):
            images = getattr(datasets, data)(None)
            return images
        return datasets.toy(data, data_size, seed=seed)
    tensor = as_tensor(data, "data")
    if tensor.dim() < 2 or tensor.shape[0] < 2:
        raise ValueError(
            f"data must hold at least two points, shape (n >= 2, *shape), "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor.float()


def data_digest(data: torch.Tensor) -> str:
    """sha256 of the data's bytes: a resumed run must train on the same data."""
    return hashlib.sha256(data.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def exact_targets(
    reference: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, D: int | float
) -> tuple[ScaledField, torch.Tensor, torch.Tensor]:
    """The exact field of the reference batch at (x, sigma): (value, t, psi).

    t = sigma (E_x, E_sigma) / phi has shape (m, N + 1); psi is float64, shape (m,).
    """
    exact = PointCharges(reference, D=D)
    value = exact.field(x, sigma)
    psi = exact.log_potential(x, sigma)
    ratio = torch.exp(value.log_scale - psi).to(x.dtype)
    t = (sigma * ratio)[:, None] * torch.cat(
        [value.ex.reshape(x.shape[0], -1), value.esigma[:, None]], dim=1
    )
    return value, t, psi


def field_t(value: ScaledField, sigma: torch.Tensor) -> torch.Tensor:
    """sigma (ex, esigma) of a scaled field, shape (m, N + 1)."""
    flat = value.ex.reshape(value.ex.shape[0], -1)
    return sigma[:, None] * torch.cat([flat, value.esigma[:, None]], dim=1)


def loss_terms(
    field: PotentialField, x: torch.Tensor, sigma: torch.Tensor, reference: torch.Tensor
) -> torch.Tensor:
    """The per-point loss of `field` at (x, sigma) against the exact field of `reference`."""
    N, D = field.N, field.D
    exact, t_star, psi_star = exact_targets(reference, x, sigma, D)
    value = field.evaluate(x, sigma, create_graph=True)
    t = field_t(value, sigma)
    balance = sigma**2 / (sigma**2 + field.sigma_data**2)

    if field.parameterization == "potential":
        along_x = (t[:, :N] - t_star[:, :N]).square().sum(1) / N
        along_sigma = (t[:, N] - t_star[:, N]).square()
        psi_gap = (value.log_scale - psi_star).to(x.dtype)
        return along_x + along_sigma + balance * psi_gap.square() / N
    if field.parameterization == "direction":
        target = math.sqrt(N) * t_star / (t_star.norm(dim=1, keepdim=True) + DIRECTION_GAMMA)
        return (t - target).square().sum(1) / N
    u_star = t_star / t_star.norm(dim=1, keepdim=True)
    u = t / sigma[:, None]
    log_norm = exact.log_scale + torch.log(
        torch.cat([exact.ex.reshape(x.shape[0], -1), exact.esigma[:, None]], 1)
        .double()
        .norm(dim=1)
    )
    log_gap = (value.log_scale - log_norm).to(x.dtype)
    return (u - u_star).square().sum(1) + balance * log_gap.square()


def draw_sigma(rng: np.random.Generator, n: int) -> np.ndarray:
    """n training noise levels: EDM's log-normal, a LOG_UNIFORM_SHARE of them log-uniform.

    log sigma ~ Normal(P_MEAN, P_STD) puts the steps where the field has structure; the
    log-uniform share on [SIGMA_MIN, SIGMA_MAX] keeps the whole range the sampler travels
    (from sigma_max = 80 down) in the training set.
    """
    log_lo, log_hi = math.log(geometry.SIGMA_MIN), math.log(geometry.SIGMA_MAX)
    log_sigma = rng.normal(P_MEAN, P_STD, size=n)
    uniform = rng.random(n) < LOG_UNIFORM_SHARE
    log_sigma[uniform] = rng.uniform(log_lo, log_hi, size=int(uniform.sum()))
    return np.exp(np.clip(log_sigma, log_lo, log_hi))


def learning_rate(lr: float, step: int, decay_steps: int) -> float:
    """Linear warm-up, then a cosine decay to LR_FLOOR lr at decay_steps.

    The warm-up lasts WARMUP_STEPS, or WARMUP_SHARE of decay_steps if that is shorter.
    """
    warmup = min(1.0, (step + 1) / min(WARMUP_STEPS, max(1.0, WARMUP_SHARE * decay_steps)))
    progress = min(1.0, step / decay_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return lr * warmup * (LR_FLOOR + (1 - LR_FLOOR) * cosine)


def _step_draws(
    data: torch.Tensor,
    rng: np.random.Generator,
    batch: int,
    reference_size: int,
    D: int | float,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step's (x, sigma, reference batch), drawn from rng."""
    n = data.shape[0]
    index = torch.from_numpy(rng.choice(n, size=min(reference_size, n), replace=False))
    reference = data[index].to(device)
    clean = reference[torch.from_numpy(rng.integers(0, reference.shape[0], size=batch))]
    sigma_np = draw_sigma(rng, batch)
    x = geometry.perturb(clean, torch.from_numpy(sigma_np), D, rng)
    return x, torch.from_numpy(sigma_np).to(device=device, dtype=x.dtype), reference


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)


def train(
    data: object,
    *,
    D: int | float,
    steps: int = 1200,
    batch_size: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    parameterization: str = "potential",
    network: str | dict[str, Any] = "auto",
    reference_size: int = 4096,
    ema: float = 0.999,
    decay_steps: int | None = None,
    data_size: int = DEFAULT_DATA_SIZE,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> PotentialField:
    """Train one learned field on one distribution and return it with its EMA weights.

    Args:
        data: points of shape (n >= 2, *shape), or a data set name: a toy of
            `fieldlab.datasets` ("moons", "8gaussians", ...; `data_size` points drawn with
            `seed`), "digits" or "animals".
        D: augmented dimension, an int >= 1 or math.inf.
        steps: optimizer steps in all (a resumed run continues up to this number). The
            defaults of steps, batch_size and reference_size are the "toy-cpu" preset's, a
            1-2 minute run for a 2D toy on one CPU thread.
        batch_size: perturbed points per step, over all processes.
        lr: Adam's peak learning rate (`learning_rate`: warm-up, then cosine decay).
        seed: seeds the initial weights and every random draw.
        parameterization: "potential" (default), "direction" or "direction+logmag".
        network: "auto" (MLP for vectors, U-Net for images), "mlp", "unet", or a network
            config dict as `fieldlab.networks.build` takes (its out_features is filled in).
        reference_size: points whose exact field gives each step's targets.
        ema: the EMA decay of the returned weights.
        decay_steps: steps over which the learning rate decays (`learning_rate`); default
            `steps`. Give it explicitly to stop a run early and resume it to the same result.
        data_size: points drawn when `data` names a toy.
        checkpoint: a file to write the training state to every `checkpoint_every` steps and
            at the end (atomically; only rank 0 writes).
        resume: continue from `checkpoint` if it exists, to the same result as an
            uninterrupted run.
        progress: show a tqdm bar with the loss.
        device: "cpu", "cuda", ...; default the GPU of this process if there is one.
    Returns:
        The trained `PotentialField` (EMA weights, eval mode, weights without gradients).
    """
    D = check_D(D)
    steps = check_int(steps, "steps", 1)
    seed = check_int(seed, "seed", 0)
    reference_size = check_int(reference_size, "reference_size", 2)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    lr = check_positive(lr, "lr")
    decay_steps = steps if decay_steps is None else check_int(decay_steps, "decay_steps", 1)
    parameterization = check_parameterization(parameterization)
    if not 0 <= ema < 1:
        raise ValueError(f"ema must be a decay in [0, 1), got {ema}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path to resume from")
    rank, world = _distributed()
    batch_size = check_int(batch_size, "batch_size", world)
    if batch_size % world:
        raise ValueError(f"batch_size = {batch_size} must divide among {world} processes")
    device = _resolve_device(device, world)

    data = _load_data(data, check_int(data_size, "data_size", 2), seed)
    shape = tuple(data.shape[1:])
    N = math.prod(shape)
    if N == 1 and D == 1:
        raise ValueError("1D data with D = 1 has a logarithmic potential: use D >= 2")
    digest = data_digest(data)
    centre = data.double().mean(0)
    sigma_data = float((data.double() - centre).square().mean().sqrt())
    config = {
        "D": "inf" if D == math.inf else D,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "parameterization": parameterization,
        "reference_size": reference_size,
        "ema": ema,
        "decay_steps": decay_steps,
    }

    torch.manual_seed(seed)
    features = output_features(parameterization, N)
    if isinstance(network, dict):
        model = build({**network, "shape": list(shape), "out_features": features})
    else:
        model = default_network(shape, features, network)
    model.to(device)
    ema_model = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = 0

    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint.exists():
        from .checkpoint import load_training

        stored, state = load_training(checkpoint, device=device)
        if state["data_sha256"] != digest:
            raise ValueError(f"{checkpoint} was trained on other data: it cannot be resumed")
        changed = {
            k: (state["config"].get(k), v)
            for k, v in config.items()
            if k != "steps" and state["config"].get(k) != v
        }
        if changed:
            raise ValueError(f"{checkpoint} was trained with other settings: {changed}")
        model.load_state_dict(state["model_state"])
        ema_model.load_state_dict(stored.network.state_dict())
        optimizer.load_state_dict(state["optimizer_state"])
        start = state["step"]
        logger.info("resuming %s from step %d", checkpoint, start)

    trained = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    data = data.to(device)

    def field_of(net: nn.Module) -> PotentialField:
        return PotentialField(
            net,
            D=D,
            shape=shape,
            centre=centre.float(),
            sigma_data=sigma_data,
            parameterization=parameterization,
        )

    learner, result = field_of(trained), field_of(ema_model)

    def save_state(step: int) -> None:
        if checkpoint is None or rank != 0:
            return
        from .checkpoint import save

        state = {
            "model": model,
            "optimizer": optimizer,
            "step": step,
            "config": config,
            "data_sha256": digest,
        }
        save(result, checkpoint, training=state)

    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress or rank != 0)
    for step in bar:
        rng = np.random.default_rng([seed, rank, step])
        x, sigma, reference = _step_draws(
            data, rng, batch_size // world, reference_size, D, device
        )
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(lr, step, decay_steps)
        loss = loss_terms(learner, x, sigma, reference).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        _ema_update(ema_model, model, min(ema, (1 + step) / (EMA_WARMUP + step)))

        if step % LOG_EVERY == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            logger.debug("step %d loss %.5f", step, loss.item())
        if (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            save_state(step + 1)
    save_state(steps)
    if world > 1:
        dist.barrier()

    ema_model.eval()
    logger.info("trained %s for %d steps", result, steps)
    return result
