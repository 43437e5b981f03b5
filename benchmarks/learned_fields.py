"""Learned fields on 2D toys: training time, sample quality, calibration under composition.

For each toy and parameterization: train one field (the default toy configuration below),
draw 2,000 samples with Heun on 18 EDM steps (35 field evaluations), and report

- train_s: wall-clock training time;
- w2 / floor: W2 of the samples to 2,000 held-out points, over the W2 between two independent
  2,000-point draws of the toy (the floor);
- cos: mean cosine of the learned velocity against the exact field of the training data, at
  perturbed training points, averaged over sigma log-spaced on [0.1, 10] (and per sigma);
- curl: median ||A|| / ||S|| of the Jacobian of E_x at sigma = 0.5 (`potential.curl_ratio`).

Composition: two fields trained on two toys placed apart (moons shifted left, 8 gaussians
shrunk and shifted right) are added with weights w and 1 - w; each sample is assigned to the
component whose exact field has the larger log-potential at sigma = 0.05 (a kernel density
ratio), and the proportion is compared with w.

Usage: python benchmarks/learned_fields.py --toys moons 8gaussians --compose --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch

from fieldlab import PointCharges, geometry
from fieldlab.datasets import toy
from fieldlab.fields import Superposition
from fieldlab.metrics import w2
from fieldlab.potential import curl_ratio
from fieldlab.sampling import sample
from fieldlab.training import train

# The default configuration for 2D toys (about 2-3 minutes on a 2-core CPU).
TOY_CONFIG = {"steps": 3000, "batch_size": 256, "reference_size": 2048, "lr": 2e-3}
TRAIN_POINTS = 20_000
EVAL_POINTS = 2_000
SAMPLE_STEPS = 18  # Heun: 2 * 18 - 1 = 35 field evaluations
COSINE_SIGMAS = np.geomspace(0.1, 10.0, 7)
CURL_SIGMA = 0.5
CLASSIFY_SIGMA = 0.05
SHIFT = 5.0


def toy_points(name: str, n: int, seed: int, placement: str | None = None) -> torch.Tensor:
    points = toy(name, n, seed=seed)
    if placement == "left":
        return points - torch.tensor([SHIFT, 0.0])
    if placement == "right":
        return 0.5 * points + torch.tensor([SHIFT, 0.0])
    return points


def velocity_cosines(field, data: torch.Tensor, D) -> list[float]:
    exact = PointCharges(data, D=D)
    rng = np.random.default_rng(7)
    out = []
    for sigma in COSINE_SIGMAS:
        x = geometry.perturb(data[:1000], float(sigma), D, rng)
        a, b = field.velocity(x, float(sigma)), exact.velocity(x, float(sigma))
        out.append(torch.nn.functional.cosine_similarity(a, b, dim=1).mean().item())
    return out


def evaluate(name: str, D, parameterization: str, placement: str | None = None) -> dict:
    data = toy_points(name, TRAIN_POINTS, 0, placement)
    held_out = toy_points(name, EVAL_POINTS, 1, placement)
    floor = w2(
        toy_points(name, EVAL_POINTS, 2, placement), toy_points(name, EVAL_POINTS, 3, placement)
    )
    start = time.perf_counter()
    field = train(data, D=D, parameterization=parameterization, progress=False, **TOY_CONFIG)
    train_s = time.perf_counter() - start
    samples = sample(field, EVAL_POINTS, steps=SAMPLE_STEPS, solver="heun", seed=0)
    cosines = velocity_cosines(field, data, D)
    curl = curl_ratio(
        field, geometry.perturb(data[:200], CURL_SIGMA, D, np.random.default_rng(3)), CURL_SIGMA
    )
    row = {
        "toy": name + (f"-{placement}" if placement else ""),
        "D": str(D),
        "parameterization": parameterization,
        "train_s": round(train_s, 1),
        "w2": w2(samples, held_out),
        "floor": floor,
        "cos": float(np.mean(cosines)),
        "cos_by_sigma": dict(zip([f"{s:.3g}" for s in COSINE_SIGMAS], cosines)),
        "curl": float(curl.median()),
    }
    row["w2_ratio"] = row["w2"] / row["floor"]
    return {"row": row, "field": field, "data": data}


def composition(left: dict, right: dict, D, weights=(0.7, 0.5)) -> list[dict]:
    exact = [PointCharges(r["data"], D=D) for r in (left, right)]
    rows = []
    for w in weights:
        mix = Superposition([left["field"], right["field"]], [w, 1 - w])
        samples = sample(mix, EVAL_POINTS, steps=SAMPLE_STEPS, solver="heun", seed=1)
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
    parser.add_argument("--D", default="128")
    parser.add_argument("--compose", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=TOY_CONFIG["steps"])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    D = math.inf if args.D == "inf" else int(args.D)
    TOY_CONFIG["steps"] = args.steps

    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    results = {"config": TOY_CONFIG, "rows": [], "composition": {}}
    for parameterization in args.parameterizations:
        for name in args.toys:
            row = evaluate(name, D, parameterization)["row"]
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
        if args.compose:
            left = evaluate("moons", D, parameterization, "left")
            right = evaluate("8gaussians", D, parameterization, "right")
            rows = composition(left, right, D)
            results["composition"][parameterization] = rows
            print(
                json.dumps({"parameterization": parameterization, "composition": rows}), flush=True
            )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
