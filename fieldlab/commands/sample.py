"""`fieldlab sample`: samples of a saved field, or of the exact field of a named toy."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from . import parse_D


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample a saved field (or a toy's exact field) with the backward ODE",
        description=__doc__,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a field saved by `fieldlab train`")
    source.add_argument("--toy", help="the exact field of this toy data set (e.g. moons)")
    parser.add_argument(
        "--D", type=parse_D, default=128, help="augmented dimension for --toy (or inf)"
    )
    parser.add_argument("--charges", type=int, default=2000, help="toy charges for --toy")
    parser.add_argument("--n", type=int, default=1000, help="number of samples")
    parser.add_argument("--steps", type=int, default=17)
    parser.add_argument("--solver", default="heun")
    parser.add_argument("--sigma-min", type=float, default=0.002)
    parser.add_argument("--sigma-max", type=float, default=80.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("samples.npy"), help="a .npy file")
    parser.add_argument("--png", type=Path, help="also save a picture of the samples")
    parser.set_defaults(run=run)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write an .npy file atomically: a crash never leaves half a file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    from .. import PointCharges, datasets, load, sample

    if args.out.suffix != ".npy":
        raise ValueError(f"--out must name a .npy file, got {str(args.out)!r}")
    if args.checkpoint is not None:
        field = load(args.checkpoint)
    else:
        field = PointCharges(datasets.toy(args.toy, args.charges, seed=args.seed), D=args.D)
    x, info = sample(
        field,
        args.n,
        steps=args.steps,
        solver=args.solver,
        sigma_min=args.sigma_min,
        sigma_max=args.sigma_max,
        seed=args.seed,
        return_info=True,
        progress=True,
    )
    save_npy(args.out, x.detach().cpu().numpy())
    print(f"{x.shape[0]} samples of shape {tuple(x.shape[1:])} -> {args.out} (NFE {info.nfe})")
    if info.n_failed:
        print(f"{info.n_failed} trajectories met E_r <= 0 and are not among the samples")
    if args.png is not None:
        _picture(x, args.png)
        print(f"picture -> {args.png}")
    return 0


def _picture(x, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plot

    ax = plot.image_grid(x[:64]) if x.dim() == 4 else plot.samples_scatter(x)
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
