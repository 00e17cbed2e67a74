"""Real-data benchmark: every registered model on every offline UCR/UEA/TSER set, default settings only.

    .venv/bin/python benchmarks/bench_real.py [--jobs 2] [--seeds 3] [--models 'gru_*'] [--datasets gunpoint]
                                              [--out benchmarks/results/bench_real.json]

A thin script over :func:`rnnzoo.zoo.benchmark.run_benchmark`, the same
code as ``rnnzoo benchmark`` (one implementation; see that module for what
is trained, how chance level is judged per seed, and the targets). It keeps
this script's defaults: two jobs, results under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    from rnnzoo.zoo.benchmark import run_benchmark

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (worker processes, 1 torch thread each)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", help="comma-separated model name patterns [every registered model]")
    ap.add_argument("--datasets", help="comma-separated dataset name patterns [every offline set]")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_real.json"))
    args = ap.parse_args()
    summary = run_benchmark(args.models, args.datasets, args.seeds, args.jobs, args.out,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(summary["markdown"])
    print(f"\nfull results: {args.out.with_suffix('.json')} (Markdown: {args.out.with_suffix('.md')})")


if __name__ == "__main__":
    main()
