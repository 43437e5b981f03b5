"""Sampling benchmark: mixture proportions, landing accuracy against NFE, and round trips.

Fields: three 2D toys of `fieldlab.datasets` (moons, rings, 8gaussians), each shrunk by half and
moved apart so that every sample can be assigned to the component of its nearest charge.

1. Proportions: the exact field of one charge set of 3,000 points (1,500 / 1,000 / 500 per
   toy, so the charge shares are 1/2, 1/3, 1/6), and the mixture 0.5 A + 0.3 B + 0.2 C of
   three unit-charge exact fields of 1,000 points each; 4,000 samples with the default Heun
   sampler (17 intervals, 34 NFE); target: every component's share within 0.02 of its charge.
2. Landing: the share of 1,000 samples within 0.01 of a charge (target 0.99) for the 3,000-charge
   field, per D and solver, with NFE. The floor column is the share an exact solver must reach
   at least: the samples follow sum_i q_i K(x - y_i) with K the kernel at sigma_min, so at least
   the kernel's mass within 0.01 of its centre lands there, P(R < 0.01) with
   R = sigma sqrt(D) sqrt(B / (1 - B)), B ~ Beta(N/2, D/2) (chi with N degrees at D = inf).
3. Round trip: decode(encode(x)) against x for 100 samples and 100 charges moved by 0.002,
   relative error ||x' - x|| / ||x||, at three tolerances of the default dopri5.

Run: python benchmarks/sampling.py [--out benchmarks/RESULTS-sampling.md] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from fieldlab import PointCharges, datasets, geometry, superpose
from fieldlab.sampling import decode, encode, sample

DS = [1, 8, 128, math.inf]
TOYS = ("moons", "rings", "8gaussians")
# Half-size toys, centred apart: the components are far more than 0.01 apart.
TOY_SCALE = 0.5
TOY_OFFSETS = ((-5.0, -3.0), (5.0, -3.0), (0.0, 5.0))
SINGLE_COUNTS = (1500, 1000, 500)
MIXTURE_COUNT = 1000
MIXTURE_WEIGHTS = (0.5, 0.3, 0.2)
PROPORTION_SAMPLES = 4000
PROPORTION_TOLERANCE = 0.02
LANDING_SAMPLES = 1000
LANDING_RADIUS = 0.01
LANDING_TARGET = 0.99
SOLVERS = (
    ("euler", 18, None),
    ("euler", 100, None),
    ("heun", 9, None),
    ("heun", 17, None),
    ("heun", 35, None),
    ("heun", 64, None),
    ("multistep", 34, None),
    ("multistep", 64, None),
    ("rk4", 18, None),
    ("dopri5", 18, 1e-3),
    ("dopri5", 18, 1e-5),
)
ROUND_TRIP_POINTS = 100
ROUND_TRIP_NOISE = 0.002
ROUND_TRIP_TOLERANCES = (1e-4, 1e-5, 1e-6)


def components(counts: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    """The three toys with the given numbers of points, shrunk and moved apart."""
    return [
        datasets.toy(name, k, seed=seed + j) * TOY_SCALE + torch.tensor(offset)
        for j, (name, k, offset) in enumerate(zip(TOYS, counts, TOY_OFFSETS))
    ]


def shares(x: torch.Tensor, parts: list[torch.Tensor]) -> list[float]:
    """The share of samples whose nearest charge belongs to each part."""
    nearest = torch.stack([torch.cdist(x, p).min(1).values for p in parts]).argmin(0)
    return [float((nearest == k).float().mean()) for k in range(len(parts))]


def kernel_floor(D: int | float, N: int = 2) -> float:
    """The kernel's mass within LANDING_RADIUS of its centre at sigma_min."""
    ratio = LANDING_RADIUS / geometry.SIGMA_MIN
    if D == math.inf:
        return float(stats.chi2.cdf(ratio**2, N))
    t = ratio**2 / D
    return float(stats.beta.cdf(t / (1 + t), N / 2, D / 2))


def label(D: int | float) -> str:
    return "inf" if D == math.inf else str(D)


def proportions_table() -> tuple[list[str], bool]:
    single_parts = components(SINGLE_COUNTS, seed=0)
    single_target = [k / sum(SINGLE_COUNTS) for k in SINGLE_COUNTS]
    mixture_parts = components((MIXTURE_COUNT,) * 3, seed=10)
    lines = [
        "| field | D | target shares | measured shares | max abs. deviation | NFE | time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    met = True
    for D in DS:
        single = PointCharges(torch.cat(single_parts), D=D)
        mixture = superpose([PointCharges(p, D=D) for p in mixture_parts], MIXTURE_WEIGHTS)
        for name, field, parts, target in (
            ("one charge set (3,000)", single, single_parts, single_target),
            ("0.5 A + 0.3 B + 0.2 C", mixture, mixture_parts, list(MIXTURE_WEIGHTS)),
        ):
            start = time.perf_counter()
            x, info = sample(field, PROPORTION_SAMPLES, seed=1, return_info=True)
            elapsed = time.perf_counter() - start
            measured = shares(x, parts)
            deviation = max(abs(m - t) for m, t in zip(measured, target))
            met &= deviation <= PROPORTION_TOLERANCE
            lines.append(
                f"| {name} | {label(D)} | {', '.join(f'{t:.3f}' for t in target)} | "
                f"{', '.join(f'{m:.3f}' for m in measured)} | {deviation:.4f} | {info.nfe} | "
                f"{elapsed:.1f} |"
            )
    return lines, met


def landing_table() -> list[str]:
    points = torch.cat(components(SINGLE_COUNTS, seed=0))
    lines = [
        "| D | solver | steps / tol | NFE | NFE / 34 | share within 0.01 | floor (exact flow) "
        "| meets 0.99 | time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for D in DS:
        field = PointCharges(points, D=D)
        floor = kernel_floor(D)
        for solver, steps, tol in SOLVERS:
            options = {} if tol is None else {"rtol": tol, "atol": tol}
            start = time.perf_counter()
            x, info = sample(
                field,
                LANDING_SAMPLES,
                steps=steps,
                solver=solver,
                seed=2,
                return_info=True,
                **options,
            )
            elapsed = time.perf_counter() - start
            share = float((torch.cdist(x, points).min(1).values < LANDING_RADIUS).float().mean())
            setting = f"{steps}" if tol is None else f"tol {tol:g}"
            lines.append(
                f"| {label(D)} | {solver} | {setting} | {info.nfe} | {info.nfe / 34:.2f} | "
                f"{share:.3f} | {floor:.3f} | {'yes' if share >= LANDING_TARGET else 'no'} | "
                f"{elapsed:.1f} |"
            )
    return lines


def round_trip_table() -> list[str]:
    points = torch.cat(components(SINGLE_COUNTS, seed=0))
    rng = np.random.default_rng(3)
    chosen = points[rng.choice(len(points), ROUND_TRIP_POINTS, replace=False)]
    moved = chosen + torch.from_numpy(rng.normal(0, ROUND_TRIP_NOISE, chosen.shape)).float()
    lines = [
        "| D | rtol = atol | NFE encode + decode | median rel. error | share < 1e-3 | "
        "max rel. error | time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for D in DS:
        field = PointCharges(points, D=D)
        x = torch.cat([moved, sample(field, ROUND_TRIP_POINTS, seed=4)])
        for tol in ROUND_TRIP_TOLERANCES:
            start = time.perf_counter()
            z, forward = encode(field, x, rtol=tol, atol=tol, return_info=True)
            back, backward = decode(field, z, rtol=tol, atol=tol, return_info=True)
            elapsed = time.perf_counter() - start
            error = (back - x).norm(dim=1) / x.norm(dim=1)
            lines.append(
                f"| {label(D)} | {tol:g} | {forward.nfe} + {backward.nfe} | "
                f"{float(error.median()):.2e} | {float((error < 1e-3).float().mean()):.3f} | "
                f"{float(error.max()):.2e} | {elapsed:.1f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("RESULTS-sampling.md")
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({args.threads} thread), Python {platform.python_version()}"
    )
    start = time.perf_counter()
    proportions, met = proportions_table()
    landing = landing_table()
    round_trip = round_trip_table()
    total = time.perf_counter() - start

    text = "\n".join(
        [
            "# Sampling benchmark",
            "",
            f"Machine: {machine}. Produced by `python benchmarks/sampling.py` in {total:.0f} s. "
            "Times are single runs on a shared machine: read them as orders of magnitude; NFE "
            "and the shares are exact for the given seeds.",
            "",
            "## Mixture proportions (Heun, 17 intervals, 4,000 samples)",
            "",
            f"Target: every share within {PROPORTION_TOLERANCE} of its charge; "
            f"{'met for every row' if met else 'NOT met for every row'}. One binomial "
            "standard deviation at 4,000 samples is 0.0079 for a share of 1/2.",
            "",
            *proportions,
            "",
            "## Landing within 0.01 of a charge (1,000 samples, 3,000 charges)",
            "",
            "The floor is the least share an exact solver reaches (the kernel's own mass within "
            "0.01 at sigma_min): at D = 1 the PFGM kernel's heavy tail keeps about a fifth of "
            "every charge's samples farther out, so 0.99 is out of reach for any solver.",
            "",
            *landing,
            "",
            "## Encode-decode round trip (dopri5 in log sigma)",
            "",
            f"{ROUND_TRIP_POINTS} charges moved by Normal(0, {ROUND_TRIP_NOISE}^2) and "
            f"{ROUND_TRIP_POINTS} samples; relative error ||decode(encode(x)) - x|| / ||x||. "
            "The largest errors belong to samples in the kernel's tail, about 5 sigma_min from "
            "every charge, where the density is low and decoding expands latent errors by the "
            "inverse Jacobian: they barely shrink with the tolerance (for one such sample at "
            "D = 128, 3.6e-3 at rtol = atol = 1e-9, while re-encoding agrees to 2e-8).",
            "",
            *round_trip,
            "",
        ]
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
