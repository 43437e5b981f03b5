"""The `fieldlab` command line: `fieldlab demo`, `fieldlab train`, `fieldlab sample`,
`fieldlab bench`. Each subcommand lives in `fieldlab.commands` and formats output for people;
the physics is all in the library."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = ("demo", "train", "sample", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fieldlab",
        description="Electrostatic generative fields: PFGM, PFGM++ and their diffusion limit.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"fieldlab.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"fieldlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
