"""Throughput and peak memory of the exact field, for growing numbers of charges and queries.

Each configuration runs in a fresh process so that its peak resident memory is its own.
Usage: python benchmarks/field_engine.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = [
    # (N, D, charges, queries)
    (2, 1, 1_000, 1_000),
    (2, 1, 20_000, 20_000),
    (2, 1, 100_000, 20_000),
    (2, "inf", 20_000, 20_000),
    (784, 128, 2_000, 512),
    (784, 128, 10_000, 2_048),
]


def run_one(N: int, D: int | str, n: int, m: int, repeats: int) -> dict:
    import math

    import torch

    import fieldlab

    torch.manual_seed(0)
    D_value = math.inf if D == "inf" else int(D)
    field = fieldlab.PointCharges(torch.randn(n, N), D=D_value)
    x = torch.randn(m, N)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        v = field.velocity(x, 0.5)
        times.append(time.perf_counter() - start)
    assert torch.isfinite(v).all()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    median = statistics.median(times)
    return {
        "N": N,
        "D": D,
        "charges": n,
        "queries": m,
        "median_s": median,
        "pairs_per_s": n * m / median,
        "extra_rss_mb": (peak_rss - base_rss) / 1024,
        "dense_tensor_mb": n * m * N * 4 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        N, D, n, m = args.one
        print(json.dumps(run_one(int(N), D, int(n), int(m), args.repeats)))
        return

    import torch

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, ")
    print(f"threads {torch.get_num_threads()}; median of {args.repeats} calls of velocity()\n")
    print("| N | D | charges | queries | median s | pairs/s | extra RSS MB | dense n·m·N MB |")
    print("|---|---|---|---|---|---|---|---|")
    for N, D, n, m in CONFIGS:
        cmd = [sys.executable, __file__, "--repeats", str(args.repeats), "--one"]
        out = subprocess.run(
            cmd + [str(N), str(D), str(n), str(m)], capture_output=True, text=True, check=True
        )
        row = json.loads(out.stdout)
        print(
            f"| {N} | {D} | {n:,} | {m:,} | {row['median_s']:.3f} | {row['pairs_per_s']:.3g} "
            f"| {row['extra_rss_mb']:.0f} | {row['dense_tensor_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
