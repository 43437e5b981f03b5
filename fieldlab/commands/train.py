"""`fieldlab train`: train one learned field on one data set and save it as a checkpoint.

Runs on one process, or on several under torchrun (each process a share of the batch):

    fieldlab train moons --D 128 --steps 4000 --out moons.safetensors
    torchrun --nproc_per_node=2 -m fieldlab.commands.train moons --out moons.safetensors
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import parse_D


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="a toy (moons, rings, 8gaussians, ...), digits or animals")
    parser.add_argument(
        "--preset",
        choices=["toy-cpu", "digits-cpu", "animals-cpu", "digits-gpu", "animals-gpu"],
        help="a named configuration (fieldlab.training.PRESETS); explicit options override it",
    )
    parser.add_argument("--D", type=parse_D, help="augmented dimension, or inf (default 128)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parameterization",
        default="potential",
        choices=["potential", "direction", "direction+logmag"],
    )
    parser.add_argument("--network", choices=["auto", "mlp", "unet"])
    parser.add_argument("--reference-size", type=int)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--data-size", type=int, help="points drawn of a toy (default 200,000)")
    parser.add_argument("--out", type=Path, default=Path("field.safetensors"))
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--resume", action="store_true", help="continue from --out")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: GPU if any)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `fieldlab train` on the main command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train a learned potential field on a data set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _configure(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Train as the arguments say; the field (EMA weights) and training state go to --out."""
    from ..training import PRESETS, train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = {"D": 128, **PRESETS.get(args.preset, {})}
    explicit = {
        "D": args.D,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "network": args.network,
        "reference_size": args.reference_size,
        "data_size": args.data_size,
    }
    options.update({k: v for k, v in explicit.items() if v is not None})
    try:
        field = train(
            args.data,
            lr=args.lr,
            seed=args.seed,
            parameterization=args.parameterization,
            ema=args.ema,
            **options,
            checkpoint=args.out,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            progress=not args.quiet,
            device=args.device,
        )
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"fieldlab train: error: {err}", file=sys.stderr)
        return 2
    print(f"saved {field} to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m fieldlab.commands.train` (e.g. under torchrun)."""
    parser = argparse.ArgumentParser(prog="fieldlab train", description=__doc__)
    _configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
