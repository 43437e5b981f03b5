"""Print the W2 floor of every toy: the exact W2 between two independent draws of n points.

A sampler of a toy cannot be expected to come closer than this to n reference points, so
the floor is the scale against which a sampler's W2 is read.

    python benchmarks/w2_floor.py [--n 2000] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from fieldlab import datasets, metrics

DEFAULT_N = 2000
DEFAULT_REPEATS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="points per draw")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="pairs of draws")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    print(f"W2 floor, n = {options.n}, mean and std over {options.repeats} pairs of draws")
    print(f"{'toy':<14} {'dim':>3} {'W2 floor':>9} {'std':>7} {'seconds':>8}")
    for name in datasets.TOY_NAMES:
        dim = datasets.toy(name, 1, seed=0).shape[1]

        def draw(n: int, seed: int, name: str = name):
            return datasets.toy(name, n, seed=seed)

        start = time.perf_counter()
        floor = metrics.w2_floor(draw, options.n, seed=options.seed, repeats=options.repeats)
        seconds = time.perf_counter() - start
        print(f"{name:<14} {dim:>3} {floor.mean:>9.4f} {floor.std:>7.4f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
