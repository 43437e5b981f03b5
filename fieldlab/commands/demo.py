"""`fieldlab demo`: exact fields of 2D toys sampled at D = 1 (PFGM), D = 128 (PFGM++) and
D = inf (diffusion), a superposition of two fields, and a field with negative charges; prints
what it measured and saves a picture of each."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

D_VALUES = (1, 128, math.inf)
# A sample "lands" on the data when it is this close to a charge.
LANDING_RADIUS = 0.01
# Composition weights of the two-field superposition.
MIXTURE_WEIGHTS = (0.7, 0.3)
# The negative examples: the ring points within this distance of a chosen point on the ring.
NEGATIVE_RADIUS = 1.0
NEGATIVE_WEIGHT = 1.2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="sample exact fields at D = 1, 128 and inf; compose them; repel negatives",
        description=__doc__,
    )
    parser.add_argument("--out", type=Path, default=Path("fieldlab-demo"), help="output folder")
    parser.add_argument("--n", type=int, default=1000, help="charges per field and samples")
    parser.add_argument("--steps", type=int, default=17, help="Heun steps (NFE = 2 steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.set_defaults(run=run)


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import PointCharges, datasets, metrics, plot, sample

    n = 200 if args.quick else args.n
    steps = 8 if args.quick else args.steps
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"n": n, "steps": steps, "seed": args.seed}

    moons = datasets.toy("moons", 2 * n, seed=args.seed)
    train, held_out = moons[:n], moons[n:]
    floor = metrics.w2(train, held_out)
    rows = []
    figure, axes = plt.subplots(1, len(D_VALUES), figsize=(5 * len(D_VALUES), 4.5))
    for ax, D in zip(axes, D_VALUES):
        field = PointCharges(train, D=D)
        start = time.perf_counter()
        x, info = sample(field, n, steps=steps, solver="heun", seed=args.seed, return_info=True)
        seconds = time.perf_counter() - start
        landed = metrics.nearest_distance(x, train) <= LANDING_RADIUS
        rows.append(
            {
                "D": "inf" if D == math.inf else D,
                "NFE": info.nfe,
                "seconds": f"{seconds:.2f}",
                "landed": f"{float(landed.double().mean()):.3f}",
                "W2/floor": f"{metrics.w2(x, held_out) / floor:.2f}",
            }
        )
        plot.flow_2d(field, 0.3, ax=ax, potential=True, title=f"moons, D = {rows[-1]['D']}")
        ax.scatter(*x.T.numpy(), s=3, c="tab:red", label="samples")
    figure.tight_layout()
    figure.savefig(args.out / "sampling.png", dpi=100)
    plt.close(figure)
    report["sampling"] = rows
    print(f"Exact field of {n} moons charges, Heun with {steps} steps, {n} samples")
    print(f"(landed: within {LANDING_RADIUS} of a charge; W2 floor = {floor:.3f})\n")
    print(_table(rows, ["D", "NFE", "seconds", "landed", "W2/floor"]))

    report["superposition"] = _superposition(args, n, steps, plt)
    report["negative"] = _negative(args, n, steps, plt)
    (args.out / "demo.json").write_text(json.dumps(report, indent=2))
    print(f"\nPictures and numbers in {args.out}/")
    return 0


def _superposition(args: argparse.Namespace, n: int, steps: int, plt) -> dict:
    from .. import PointCharges, metrics, plot, sample
    from ..datasets import toy

    a = toy("moons", n, seed=args.seed + 1)
    b = toy("8gaussians", n, seed=args.seed + 2) * 0.5 + torch.tensor([6.0, 0.0])
    fields = [PointCharges(p, D=128) for p in (a, b)]
    mixture = MIXTURE_WEIGHTS[0] * fields[0] + MIXTURE_WEIGHTS[1] * fields[1]
    x = sample(mixture, n, steps=steps, seed=args.seed)
    on_a = metrics.nearest_distance(x, a) < metrics.nearest_distance(x, b)
    share = float(on_a.double().mean())
    binomial_sd = math.sqrt(MIXTURE_WEIGHTS[0] * MIXTURE_WEIGHTS[1] / n)
    print(
        f"\nSuperposition {MIXTURE_WEIGHTS[0]} * moons + {MIXTURE_WEIGHTS[1]} * 8 gaussians "
        f"(D = 128): {share:.3f} of {n} samples on moons "
        f"(expected {MIXTURE_WEIGHTS[0]}, binomial sd {binomial_sd:.3f})"
    )
    ax = plot.flow_2d(mixture, 0.5, potential=False)
    ax.scatter(*x.T.numpy(), s=3, c="tab:red")
    ax.figure.savefig(Path(args.out) / "superposition.png", dpi=100)
    plt.close(ax.figure)
    return {"weights": list(MIXTURE_WEIGHTS), "share_first": share, "binomial_sd": binomial_sd}


def _negative(args: argparse.Namespace, n: int, steps: int, plt) -> dict:
    from .. import PointCharges, metrics, plot, sample
    from ..datasets import toy

    rings = toy("rings", n, seed=args.seed + 3)
    anchor = rings[rings[:, 0].argmax()]
    near = (rings - anchor).norm(dim=1) < NEGATIVE_RADIUS
    positives, negatives = rings, rings[near]
    base = PointCharges(positives, D=128)
    repelled = base - NEGATIVE_WEIGHT * float(near.double().mean()) * PointCharges(
        negatives, D=128
    )

    results = {}
    for name, field in (("without", base), ("with", repelled)):
        x, info = sample(field, n, steps=steps, seed=args.seed, return_info=True)
        close = metrics.nearest_distance(x, negatives) < NEGATIVE_RADIUS / 4
        results[name] = {
            "samples": int(x.shape[0]),
            "failed": info.n_failed,
            "near_negatives": float(close.double().mean()) if len(x) else math.nan,
        }
        if name == "with":
            ax = plot.flow_2d(field, 0.3, potential=False)
            ax.scatter(*x.T.numpy(), s=3, c="tab:red")
            ax.figure.savefig(Path(args.out) / "negative.png", dpi=100)
            plt.close(ax.figure)
    print(
        f"\nNegative charges on {int(near.sum())} of {n} ring points "
        f"(weight {NEGATIVE_WEIGHT} x their share): samples near them "
        f"{results['without']['near_negatives']:.3f} -> {results['with']['near_negatives']:.3f}; "
        f"{results['with']['failed']} of {n} trajectories met E_r <= 0 and were not returned"
    )
    return {"negative_points": int(near.sum()), "weight": NEGATIVE_WEIGHT, **results}
