"""Subcommands of the `fieldlab` command line, one module each with `add_parser` and `run`."""

import argparse
import math


def parse_D(text: str) -> int | float:
    """An augmented dimension from the command line: an int or 'inf' (an argparse type)."""
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--D must be an int >= 1 or 'inf', got {text!r}"
        ) from err
