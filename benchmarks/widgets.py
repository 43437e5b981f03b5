"""How long the widgets of fieldlab.interactive block the kernel per redraw.

Target: under one second per redraw on the toy defaults (a few hundred charges, 200 samples,
10 Heun intervals). Run: python benchmarks/widgets.py [--threads 1] [--repeats 5]
Prints a markdown table of the median and the worst redraw time of each widget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import fieldlab
from fieldlab import datasets, interactive

CHARGES = 300
IMAGES_PER_CLASS = 1000


def _timed(action, repeats: int) -> list[float]:
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        action(k)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    moons = fieldlab.PointCharges(datasets.toy("moons", CHARGES, seed=0), D=128)
    gaussians = fieldlab.PointCharges(datasets.toy("8gaussians", CHARGES, seed=1), D=128)
    composer = interactive.Composer([moons, gaussians], ["moons", "gaussians"])
    weights = [0.2, 0.9, -0.3, 0.5, 0.7, 0.1, 1.0, 0.4]

    def move(k: int) -> None:
        composer.sliders[1].value = weights[k % len(weights)]

    painter = interactive.ChargePainter(D=128)
    painter.add_charge(-2.0, 0.0, 1.0)

    def click(k: int) -> None:
        painter.add_charge(2.0 - 0.3 * k, 1.0, 1.0)

    images, labels, _ = datasets.animals(["cat", "dog"], return_labels=True)
    cats = fieldlab.PointCharges(images[labels == 0][:IMAGES_PER_CLASS], D=128)
    dogs = fieldlab.PointCharges(images[labels == 1][:IMAGES_PER_CLASS], D=128)
    mixer = interactive.ImageMixer(cats, dogs)

    def slide(k: int) -> None:
        mixer.slider.value = 0.1 + 0.8 * (k % 5) / 4

    rows = [
        (f"Composer, 2 x {CHARGES} charges, 200 samples", _timed(move, args.repeats)),
        ("ChargePainter, a click, 200 samples", _timed(click, args.repeats)),
        (f"ImageMixer, 2 x {IMAGES_PER_CLASS} images, 16 samples", _timed(slide, args.repeats)),
    ]
    sys.stdout.write(f"torch threads: {args.threads}, repeats: {args.repeats}\n\n")
    sys.stdout.write("| widget | median redraw (s) | worst (s) |\n| --- | ---: | ---: |\n")
    for name, times in rows:
        sys.stdout.write(f"| {name} | {statistics.median(times):.3f} | {max(times):.3f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
