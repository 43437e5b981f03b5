"""Learned fields on 2D toys: training time, sample quality, calibration under composition.

For each toy and parameterization: train one field (`fieldlab.training.PRESETS["toy-cpu"]`),
draw 2,000 samples with Heun on 17 EDM steps and with the multistep solver on 34 (34 field
evaluations each), and report

- train_s: wall-clock training time, and step_s: the median time of one training step,
  measured over a few steps before the run (the machine may be shared: both are noisy);
- w2 / floor: the mean W2 of W2_PAIRS independent 2,000-sample sets, each to its own set of
  2,000 held-out points, over the W2 floor, the mean W2 between FLOOR_REPEATS pairs of
  independent 2,000-point draws of the toy (`fieldlab.metrics.w2_floor`). Both are averages
  because one W2 of 2,000 points is too noisy to compare: on toys with separated modes it
  follows how many points each mode got (the floor's standard deviation, reported, is 15% to
  30% of its mean);
- cos: mean cosine of the learned velocity against the exact field of the training data, at
  perturbed training points, averaged over sigma log-spaced on [0.1, 10] (and at 0.1), with
  its ceiling: the same cosines for the exact field of 800,000 fresh points of the toy;
- curl: median ||A|| / ||S|| of the Jacobian of E_x at sigma = 0.5 (`potential.curl_ratio`).

Composition: two fields trained on two toys placed apart (moons shifted left, 8 gaussians
shrunk and shifted right) are added with weights w and 1 - w; each of 4,000 samples is
assigned to the component whose exact field has the larger log-potential at sigma = 0.05 (a
kernel density ratio), and the proportion is compared with w.

Usage: python benchmarks/learned_fields.py --toys moons 8gaussians --compose --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import numpy as np
import torch

from fieldlab import PointCharges, geometry
from fieldlab.datasets import toy
from fieldlab.fields import Superposition
from fieldlab.metrics import w2, w2_floor
from fieldlab.potential import curl_ratio
from fieldlab.sampling import sample
from fieldlab.training import PRESETS, _step_draws, loss_terms, train

TRAIN_POINTS = 200_000
EVAL_POINTS = 2_000
COMPOSE_POINTS = 4_000
FLOOR_REPEATS = 16
W2_PAIRS = 16
HELD_OUT_SEED = 1000
SAMPLE_STEPS = 17  # Heun: 2 * 17 = 34 field evaluations
# Samplers of the W2 measure, each at 34 field evaluations.
SAMPLERS = (("heun", SAMPLE_STEPS), ("multistep", 2 * SAMPLE_STEPS))
COSINE_SIGMAS = np.geomspace(0.1, 10.0, 7)
COSINE_POINTS = 1000
CURL_SIGMA = 0.5
CLASSIFY_SIGMA = 0.05
SHIFT = 5.0
PROBE_STEPS = 12
CEILING_POINTS = 800_000
CEILING_SEED = 6


def toy_points(name: str, n: int, seed: int, placement: str | None = None) -> torch.Tensor:
    points = toy(name, n, seed=seed)
    if placement == "left":
        return points - torch.tensor([SHIFT, 0.0])
    if placement == "right":
        return 0.5 * points + torch.tensor([SHIFT, 0.0])
    return points


def velocity_cosines(field, data: torch.Tensor, D) -> list[float]:
    """Mean cosine of field's velocity against the exact field of data, per COSINE_SIGMAS.

    A baseline's learned E_sigma can vanish, and its velocity be infinite, at a point: such
    points are left out of the mean and counted in a log line.
    """
    exact = PointCharges(data, D=D)
    rng = np.random.default_rng(7)
    out = []
    for sigma in COSINE_SIGMAS:
        x = geometry.perturb(data[:COSINE_POINTS], float(sigma), D, rng)
        a, b = field.velocity(x, float(sigma)), exact.velocity(x, float(sigma))
        cosines = torch.nn.functional.cosine_similarity(a, b, dim=1)
        finite = torch.isfinite(cosines)
        if not finite.all():
            print(f"sigma {sigma:.3g}: {int((~finite).sum())} non-finite velocities left out")
        out.append(cosines[finite].mean().item())
    return out


def cosine_ceiling(name: str, data: torch.Tensor, D, placement=None) -> list[float]:
    """The cosines that the exact field of CEILING_POINTS fresh points of the toy reaches.

    A field that models the distribution rather than the training points themselves can
    only agree with the training points' exact field about as well as this: at small sigma
    the exact field of n points follows their sampling noise (in a region of uniform density,
    such as a checkerboard square, it is all noise).
    """
    fresh = PointCharges(toy_points(name, CEILING_POINTS, CEILING_SEED, placement), D=D)
    return velocity_cosines(fresh, data, D)


def step_time(data: torch.Tensor, D, parameterization: str, config: dict) -> float:
    """Median seconds of one training step (targets, loss, backward, Adam) over PROBE_STEPS."""
    field = train(data, D=D, parameterization=parameterization, progress=False, steps=1)
    network = field.network.requires_grad_(True).train()
    optimizer = torch.optim.Adam(network.parameters())
    rng = np.random.default_rng(0)
    times = []
    for _ in range(PROBE_STEPS):
        start = time.perf_counter()
        x, sigma, reference = _step_draws(
            data, rng, config["batch_size"], config["reference_size"], D, data.device
        )
        loss = loss_terms(field, x, sigma, reference).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def evaluate(name: str, D, parameterization: str, config: dict, placement=None) -> dict:
    data = toy_points(name, TRAIN_POINTS, 0, placement)
    floor = w2_floor(
        lambda n, seed: toy_points(name, n, seed, placement),
        EVAL_POINTS,
        repeats=FLOOR_REPEATS,
    )
    step_s = step_time(data, D, parameterization, config)
    start = time.perf_counter()
    field = train(data, D=D, parameterization=parameterization, progress=False, **config)
    train_s = time.perf_counter() - start
    held_out = [
        toy_points(name, EVAL_POINTS, HELD_OUT_SEED + k, placement) for k in range(W2_PAIRS)
    ]
    distances = {
        solver: [
            w2(sample(field, EVAL_POINTS, steps=steps, solver=solver, seed=k), held_out[k])
            for k in range(W2_PAIRS)
        ]
        for solver, steps in SAMPLERS
    }
    cosines = velocity_cosines(field, data, D)
    ceiling = cosine_ceiling(name, data, D, placement)
    curl = curl_ratio(
        field, geometry.perturb(data[:200], CURL_SIGMA, D, np.random.default_rng(3)), CURL_SIGMA
    )
    row = {
        "toy": name + (f"-{placement}" if placement else ""),
        "D": str(D),
        "parameterization": parameterization,
        "train_s": round(train_s, 1),
        "step_s": round(step_s, 4),
        "load": os.getloadavg()[0],
        "floor": floor.mean,
        "floor_std": floor.std,
        "cos": float(np.mean(cosines)),
        "cos_0.1": cosines[0],
        "cos_by_sigma": dict(zip([f"{s:.3g}" for s in COSINE_SIGMAS], cosines)),
        "cos_ceiling": float(np.mean(ceiling)),
        "cos_ceiling_0.1": ceiling[0],
        "curl": float(curl.median()),
    }
    for solver, values in distances.items():
        row[f"w2_{solver}"] = float(np.mean(values))
        row[f"w2_std_{solver}"] = float(np.std(values))
        row[f"w2_ratio_{solver}"] = float(np.mean(values)) / floor.mean
    return {"row": row, "field": field, "data": data}


def composition(left: dict, right: dict, D, weights=(0.7, 0.5)) -> list[dict]:
    exact = [PointCharges(r["data"], D=D) for r in (left, right)]
    rows = []
    for w in weights:
        mix = Superposition([left["field"], right["field"]], [w, 1 - w])
        samples = sample(mix, COMPOSE_POINTS, steps=SAMPLE_STEPS, solver="heun", seed=1)
        psi = [e.log_potential(samples, CLASSIFY_SIGMA) for e in exact]
        share = (psi[0] > psi[1]).double().mean().item()
        rows.append({"weight": w, "share": share, "error": abs(share - w)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--toys",
        nargs="*",
        default=["moons", "rings", "8gaussians", "checkerboard", "swissroll", "pinwheel"],
    )
    parser.add_argument("--parameterizations", nargs="*", default=["potential"])
    parser.add_argument("--D", default=str(PRESETS["toy-cpu"]["D"]))
    parser.add_argument("--compose", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="override config: key=value")
    parser.add_argument("--out", default=None, help="append the results as JSON lines here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    D = math.inf if args.D == "inf" else int(args.D)
    config = {k: v for k, v in PRESETS["toy-cpu"].items() if k != "D"}
    for item in args.set:
        key, value = item.split("=")
        config[key] = json.loads(value)

    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, config {config}, "
        f"load {os.getloadavg()}",
        flush=True,
    )

    def report(record: dict) -> None:
        print(json.dumps(record), flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    for parameterization in args.parameterizations:
        for name in args.toys:
            report(evaluate(name, D, parameterization, config)["row"])
        if args.compose:
            left = evaluate("moons", D, parameterization, config, "left")
            report(left["row"])
            right = evaluate("8gaussians", D, parameterization, config, "right")
            report(right["row"])
            rows = composition(left, right, D)
            report({"parameterization": parameterization, "composition": rows})


if __name__ == "__main__":
    main()
