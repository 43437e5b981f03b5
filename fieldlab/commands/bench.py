"""`fieldlab bench`: PFGM (D = 1) against PFGM++ and diffusion (D = inf) at equal numbers of
field evaluations, on the exact field of a 2D toy, side by side in one run.

For each D and each Heun step count it reports the share of samples that land within 0.01 of
a charge and the median distance to the nearest charge; the exact field is the ground truth,
so what differs between rows is the ODE alone (its stiffness at small sigma and the spread
of its prior), not a network.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

from . import parse_D

LANDING_RADIUS = 0.01


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="PFGM against PFGM++ and diffusion at equal NFE, on an exact toy field",
        description=__doc__,
    )
    parser.add_argument("--toy", default="moons")
    parser.add_argument("--charges", type=int, default=2000)
    parser.add_argument("--n", type=int, default=2000, help="samples per configuration")
    parser.add_argument("--D", nargs="+", type=parse_D, default=[1, 8, 128, math.inf])
    parser.add_argument("--steps", nargs="+", type=int, default=[2, 4, 8, 17])
    parser.add_argument("--solver", default="heun")
    parser.add_argument("--repeats", type=int, default=1, help="timing repeats (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import PointCharges, datasets, metrics, sample

    charges = datasets.toy(args.toy, args.charges, seed=args.seed)
    print(
        f"{args.toy}: exact field of {args.charges} charges, {args.n} samples, "
        f"solver {args.solver}; {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    print("| D | steps | NFE | landed within 0.01 | median distance | seconds (median) |")
    print("|---|---|---|---|---|---|")
    for D in args.D:
        field = PointCharges(charges, D=D)
        for steps in args.steps:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                x, info = sample(
                    field,
                    args.n,
                    steps=steps,
                    solver=args.solver,
                    seed=args.seed,
                    return_info=True,
                )
                times.append(time.perf_counter() - start)
            distance = metrics.nearest_distance(x, charges)
            landed = float((distance <= LANDING_RADIUS).double().mean())
            label = "inf" if D == math.inf else D
            print(
                f"| {label} | {steps} | {info.nfe} | {landed:.3f} | "
                f"{float(distance.median()):.2e} | {statistics.median(times):.2f} |"
            )
    return 0
